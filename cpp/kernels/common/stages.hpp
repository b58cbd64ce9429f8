// The stage contracts. A G-P map stage and a measurement stage each bundle: the view they
// read from a Plan, the scratch and accumulator sizes (in lanes of R per row group), the
// row functions (forward, VJP / NLL) for any lane type R, and a host-side flush that maps
// the accumulator sums (summed over rows, in float64) onto theta's gradient. Any driver
// (the CPU chunked driver, a CUDA kernel) runs any pair of them. Adding a G-P map or a
// measurement process = its rows + one stage struct here + one case in stage_dispatch.hpp.
#pragma once
#include <cmath>

#include "kernels/common/kinetic_rows.hpp"
#include "kernels/common/measure_rows.hpp"
#include "kernels/common/network_rows.hpp"
#include "kernels/common/site_rows.hpp"
#include "src/plan.hpp"

namespace cisreg::stages {
inline namespace CISREG_ISA_NS {

// ------------------------------------------------------------------ G-P maps
template <class T>
struct NetStage {
    using View = NetView<T>;
    static const View& view(const Plan<T>& p) { return p.net; }
    // scratch: h [nn], w [nn], logZ [1]
    static int32_t scratch(const View& v) { return 2 * v.nn + 1; }
    static int32_t acc_size(const View& v) { return rows::net_acc_size(v); }
    template <class R>
    CISREG_HD static R forward(const View& v, const R* dG, R* scr, bool want_logZ) {
        return rows::net_forward(v, dG, scr, scr + v.nn, want_logZ ? scr + 2 * v.nn : nullptr);
    }
    template <class R>
    CISREG_HD static R logZ(const View& v, const R* scr) {
        return scr[2 * v.nn];
    }
    template <class R>
    CISREG_HD static void state_logp(const View& v, const R* scr, R* out) {
        rows::net_state_logp(v, scr, scr[2 * v.nn], out);
    }
    template <class R, class Acc>
    CISREG_HD static void vjp(const View& v, R* scr, R phi, R dphi, R* ddG, Acc& acc) {
        rows::net_vjp(v, scr + v.nn, phi, dphi, ddG, acc);
    }
    static void flush(const Model& m, const double* theta, const double* sums, double* grad) {
        const Network& nw = m.net;
        const int32_t nn = nw.n_nodes();
        const double tsat = nw.tsat_param >= 0 ? theta[nw.tsat_param] : nw.tsat_const;
        for (int32_t n = 0; n < nn; ++n) {
            const size_t un = static_cast<size_t>(n);
            for (int32_t j = nw.b_ptr[un]; j < nw.b_ptr[un + 1]; ++j)
                grad[nw.b_param[static_cast<size_t>(j)]] += nw.b_coef[static_cast<size_t>(j)] * sums[n];
            if (nw.act_param[un] >= 0) grad[nw.act_param[un]] += tsat * sums[nn + n];
        }
        if (nw.tsat_param >= 0) grad[nw.tsat_param] += sums[2 * nn];
    }
};

template <class T>
struct KinStage {
    using View = KinView<T>;
    static const View& view(const Plan<T>& p) { return p.kin; }
    static int32_t scratch(const View& v) { return rows::kin_scratch_size(v); }
    static int32_t acc_size(const View& v) { return rows::kin_acc_size(v); }
    template <class R>
    CISREG_HD static R forward(const View& v, const R* dG, R* scr, bool) {
        rows::KinScratch<R> s = rows::KinScratch<R>::carve(v, scr);
        return rows::kin_forward(v, dG, s);
    }
    template <class R>
    CISREG_HD static R logZ(const View&, const R*) {
        return Ops<R>::splat(T(NAN));
    }
    template <class R>
    CISREG_HD static void state_logp(const View& v, R* scr, R* out) {
        rows::KinScratch<R> s = rows::KinScratch<R>::carve(v, scr);
        rows::kin_state_logp(v, s, out);
    }
    template <class R, class Acc>
    CISREG_HD static void vjp(const View& v, R* scr, R, R dphi, R* ddG, Acc& acc) {
        rows::KinScratch<R> s = rows::KinScratch<R>::carve(v, scr);
        rows::kin_vjp(v, s, dphi, ddG, acc);
    }
    static void flush(const Model& m, const double* theta, const double* sums, double* grad) {
        const KineticNet& k = m.kin;
        const int32_t E = k.n_edges(), n = k.n_states;
        const double tsat = k.tsat_param >= 0 ? theta[k.tsat_param] : k.tsat_const;
        for (int32_t e = 0; e < E; ++e)
            if (k.edge_kappa_param[static_cast<size_t>(e)] >= 0)
                grad[k.edge_kappa_param[static_cast<size_t>(e)]] += sums[e];
        for (int32_t i = 0; i < n; ++i)
            if (k.occ_param[static_cast<size_t>(i)] >= 0)
                grad[k.occ_param[static_cast<size_t>(i)]] += tsat * sums[E + i];
        if (k.tsat_param >= 0) grad[k.tsat_param] += sums[E + n];
    }
};

// ------------------------------------------------------------------ measurements
// forward<GRAD>(view, phi, y [n_targets], wgt, scr) -> the block's weighted nll (keeping
// what the backward pass needs in scr); backward<NB>(view, nb, phi [nb], scr [nb], acc, dphi
// [nb]) over a tile of blocks (NB > 0: nb known at compile time).
template <class T>
struct MpaStage {
    using View = MpaView<T>;
    static const View& view(const Plan<T>& p) { return p.mpa; }
    static int32_t n_targets(const View& v) { return v.Y; }
    static int32_t scratch(const View& v) { return rows::mpa_scratch_size(v) + v.Y; }
    static int32_t acc_size(const View& v) { return rows::mpa_acc_size(v); }
    template <bool GRAD, class R>
    CISREG_HD static R forward(const View& v, R phi, const R* y, R wgt, R* scr) {
        R* n = scr + rows::mpa_scratch_size(v);  // counts times the row weight
        for (int32_t c = 0; c < v.Y; ++c) n[c] = y[c] * wgt;
        return rows::mpa_forward<GRAD>(v, phi, n, scr);
    }
    template <int NB, class R, class Acc>
    CISREG_HD static void backward(const View& v, int nb, const R* phi, R* const* scr, Acc& acc, R* dphi) {
        rows::mpa_backward<NB>(v, nb, phi, scr, acc, dphi);
    }
    static void flush(const Model& m, const double* theta, const double* sums, double* grad) {
        const Measurement& ms = m.meas;
        const int32_t Y = ms.n_bins, K = ms.hidden, J = Y * K;
        double* ga = grad + ms.offset;
        double* gb = ga + Y;
        double* gc = gb + J;
        double* gd = gc + J;
        const double* b = theta + ms.offset + Y;
        for (int32_t y = 0; y < Y; ++y) ga[y] += sums[y];
        for (int32_t j = 0; j < J; ++j) {
            const double* s = sums + Y + 3 * j;
            gb[j] += s[0];
            gd[j] += b[j] * s[1];
            gc[j] += b[j] * s[2];
        }
    }
};

template <class T>
struct GeStage {
    using View = GeView<T>;
    static const View& view(const Plan<T>& p) { return p.ge; }
    static int32_t n_targets(const View&) { return 2; }  // y, dy
    static int32_t scratch(const View& v) { return rows::ge_scratch_size(v); }
    static int32_t acc_size(const View& v) { return rows::ge_acc_size(v); }
    template <bool GRAD, class R>
    CISREG_HD static R forward(const View& v, R phi, const R* y, R wgt, R* scr) {
        return rows::ge_forward<GRAD>(v, phi, y[0], y[1], wgt, scr);
    }
    template <int NB, class R, class Acc>
    CISREG_HD static void backward(const View& v, int nb, const R* phi, R* const* scr, Acc& acc, R* dphi) {
        rows::ge_backward<NB>(v, nb, phi, scr, acc, dphi);
    }
    static void flush(const Model& m, const double* theta, const double* sums, double* grad) {
        const Measurement& ms = m.meas;
        const int32_t K = ms.hidden, H = ms.het;
        double* g = grad + ms.offset;
        const double* th = theta + ms.offset;
        const double* b = th + 1;
        g[0] += sums[0];
        for (int32_t k = 0; k < K; ++k) {
            g[1 + k] += sums[1 + k];
            g[1 + K + k] += b[k] * sums[1 + 2 * K + k];  // c
            g[1 + 2 * K + k] += b[k] * sums[1 + K + k];  // d
        }
        for (int32_t j = 0; j <= H; ++j) g[1 + 3 * K + j] += sums[1 + 3 * K + j];  // log sigma and its polynomial
        if (ms.noise == Noise::SkewT) {
            const double la = th[2 + 3 * K + H], lb = th[3 + 3 * K + H];
            const SkewTConsts st = skewt_consts(std::exp(la), std::exp(lb));
            const double* s = sums + 2 + 3 * K + H;  // per-row parts of d/da, d/db; total weight
            g[2 + 3 * K + H] += st.a * (s[0] + st.dlog_norm_da * s[2]);
            g[3 + 3 * K + H] += st.b * (s[1] + st.dlog_norm_db * s[2]);
        }
    }
};

template <class T>
struct CountsStage {
    using View = CountsView<T>;
    static const View& view(const Plan<T>& p) { return p.cnt; }
    static int32_t n_targets(const View& v) { return 2 * v.R; }
    static int32_t scratch(const View& v) { return rows::counts_scratch_size(v); }
    static int32_t acc_size(const View& v) { return rows::counts_acc_size(v); }
    template <bool GRAD, class R>
    CISREG_HD static R forward(const View& v, R phi, const R* y, R wgt, R* scr) {
        return rows::counts_forward<GRAD>(v, phi, y, wgt, scr);
    }
    template <int NB, class R, class Acc>
    CISREG_HD static void backward(const View& v, int nb, const R* phi, R* const* scr, Acc& acc, R* dphi) {
        rows::counts_backward<NB>(v, nb, phi, scr, acc, dphi);
    }
    static void flush(const Model& m, const double* theta, const double* sums, double* grad) {
        const Measurement& ms = m.meas;
        const int32_t R = ms.replicates, K = ms.hidden;
        const int32_t nr = R * (ms.noise == Noise::NegBin ? 2 : 1);
        double* g = grad + ms.offset;
        const double* th = theta + ms.offset;
        for (int32_t j = 0; j < nr; ++j) g[j] += sums[j];
        const double* lk = th + nr;
        if (ms.link == Link::LogLinear) {
            g[nr] += std::exp(lk[0]) * sums[nr];
            return;
        }
        g[nr] += std::exp(lk[0]) * sums[nr];
        for (int32_t k = 0; k < K; ++k) {
            const double w = std::exp(lk[1 + k]), c = std::exp(lk[1 + K + k]);
            const double* s = sums + nr + 1 + 3 * k;
            g[nr + 1 + k] += w * s[0];
            g[nr + 1 + K + k] += w * c * s[1];
            g[nr + 1 + 2 * K + k] += w * s[2];
        }
    }
};

// The VJP of phi: "nll" = cotangent * phi, dphi = cotangent (y[0] holds the cotangent).
template <class T>
struct CotangentStage {
    struct View {};
    static View view(const Plan<T>&) { return View{}; }
    static int32_t n_targets(const View&) { return 1; }
    static int32_t scratch(const View&) { return 1; }
    static int32_t acc_size(const View&) { return 1; }
    template <bool GRAD, class R>
    CISREG_HD static R forward(const View&, R phi, const R* y, R wgt, R* scr) {
        scr[0] = y[0] * wgt;
        return scr[0] * phi;
    }
    template <int NB, class R, class Acc>
    CISREG_HD static void backward(const View&, int nb, const R*, R* const* scr, Acc&, R* dphi) {
        for (int b = 0; b < nb; ++b) dphi[b] = scr[b][0];
    }
    static void flush(const Model&, const double*, const double*, double*) {}
};

// ------------------------------------------------------------------ layer 1
// Lane-accumulated table gradients map to theta through the plan's slot list.
template <class T>
struct SiteStage {
    static void flush(const Plan<T>& p, const double* sums, double* grad) {
        const size_t n = p.slot_theta.size();
        for (size_t k = 0; k < n; ++k) grad[p.slot_theta[k]] += sums[k];
    }
};

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::stages
