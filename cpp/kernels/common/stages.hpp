// The stages. A stage (a G-P map or a measurement process) owns everything about itself,
// for every back end:
//   - its view and row functions: the sizes of its scratch and accumulators (in lanes of R
//     per row group), forward and VJP / NLL rows for any lane type R;
//   - its host side, run by the CPU plan and by the CUDA plan refresh alike: Src (where its
//     parameters come from), buf_size / n_items / pack_item (theta into the packed buffer
//     its view reads, one independent item at a time), bind (the view onto that buffer),
//     pack_scalars (the view's scalar fields);
//   - flush_entries: how its accumulator sums reach theta's gradient, as (theta index, slot,
//     coefficient) entries that the CPU plan evaluates once per call and the CUDA back end
//     keeps as its flush map.
// visit_gpmap / visit_measurement are the only switches on a stage's kind; every back end
// goes through them. Adding a measurement process = its view (views.hpp), its rows, one
// stage struct here and one case in visit_measurement.
#pragma once
#include <cmath>
#include <stdexcept>

#include "kernels/common/coef.hpp"
#include "kernels/common/kinetic_rows.hpp"
#include "kernels/common/measure_rows.hpp"
#include "kernels/common/network_rows.hpp"
#include "kernels/common/site_rows.hpp"
#include "src/plan.hpp"

namespace cisreg::stages {
inline namespace CISREG_ISA_NS {

// grad[j] += c * sums[slot] over the entries of a flush map evaluated for this call.
inline void apply_flush(const std::vector<FlushTerm>& terms, const double* sums, double* grad) {
    for (const FlushTerm& e : terms) grad[e.j] += e.c * sums[e.slot];
}

// ------------------------------------------------------------------ G-P maps
template <class T>
struct NetStage {
    using View = NetView<T>;
    CISREG_HD static const View& view(const StageViews<T>& p) { return p.net; }
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
    // ---- host side: buf = B [nn], alpha [nn]
    using Src = NetSrc;
    CISREG_HD static View& of(StageViews<T>& v) { return v.net; }
    CISREG_HD static const Src& of(const GpSrcs& g) { return g.net; }
    CISREG_HD static Src& of(GpSrcs& g) { return g.net; }
    static Src src(const Model& m) {
        const Network& nw = m.net;
        Src s;
        s.nn = nw.n_nodes();
        s.b_const = nw.b_const.data();
        s.b_ptr = nw.b_ptr.data();
        s.b_param = nw.b_param.data();
        s.b_coef = nw.b_coef.data();
        s.act_const = nw.act_const.data();
        s.act_param = nw.act_param.data();
        s.tsat_param = nw.tsat_param;
        s.tsat_const = nw.tsat_const;
        return s;
    }
    static int64_t work(const Src& s) { return 4 * int64_t{s.nn}; }
    CISREG_HD static int64_t buf_size(const Src& s) { return 2 * int64_t{s.nn}; }
    CISREG_HD static int64_t n_items(const Src& s) { return s.nn; }
    CISREG_HD static void pack_item(const Src& s, const double* theta, T* buf, int64_t n) {
        double b = s.b_const[n];
        for (int32_t j = s.b_ptr[n]; j < s.b_ptr[n + 1]; ++j) b += s.b_coef[j] * theta[s.b_param[j]];
        buf[n] = static_cast<T>(b);
        double a = s.act_const[n];
        if (s.act_param[n] >= 0) a += theta[s.act_param[n]];
        buf[s.nn + n] = static_cast<T>(a);
    }
    CISREG_HD static void bind(const Src& s, const T* buf, View& v) {
        v.B = buf;
        v.alpha = buf + s.nn;
    }
    CISREG_HD static void pack_scalars(const Src& s, const double* theta, View& v) {
        v.tsat = static_cast<T>(s.tsat_param >= 0 ? theta[s.tsat_param] : s.tsat_const);
    }
    // sums: dB [nn], dalpha [nn] (per unit tsat), dtsat
    template <class Put>
    static void flush_entries(const Src& s, int32_t s0, Put&& put) {
        const CoefExpr tsat = s.tsat_param >= 0 ? coef_of(Coef::Theta, s.tsat_param) : coef_const(s.tsat_const);
        for (int32_t n = 0; n < s.nn; ++n) {
            for (int32_t j = s.b_ptr[n]; j < s.b_ptr[n + 1]; ++j) put(s.b_param[j], s0 + n, coef_const(s.b_coef[j]));
            if (s.act_param[n] >= 0) put(s.act_param[n], s0 + s.nn + n, tsat);
        }
        if (s.tsat_param >= 0) put(s.tsat_param, s0 + 2 * s.nn, coef_const(1.0));
    }
    static void flush(const Plan<T>& p, const double* sums, double* grad) { apply_flush(p.flush_gp, sums, grad); }
};

template <class T>
struct KinStage {
    using View = KinView<T>;
    CISREG_HD static const View& view(const StageViews<T>& p) { return p.kin; }
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
    // ---- host side: buf = kappa [E], occ [n]
    using Src = KinSrc;
    CISREG_HD static View& of(StageViews<T>& v) { return v.kin; }
    CISREG_HD static const Src& of(const GpSrcs& g) { return g.kin; }
    CISREG_HD static Src& of(GpSrcs& g) { return g.kin; }
    static Src src(const Model& m) {
        const KineticNet& k = m.kin;
        Src s;
        s.n = k.n_states;
        s.E = k.n_edges();
        s.kappa_param = k.edge_kappa_param.data();
        s.kappa_const = k.edge_kappa_const.data();
        s.occ_const = k.occ_const.data();
        s.occ_param = k.occ_param.data();
        s.tsat_param = k.tsat_param;
        s.tsat_const = k.tsat_const;
        return s;
    }
    static int64_t work(const Src& s) { return 4 * int64_t{s.n} * s.n + 4 * int64_t{s.E}; }  // the state reduction
    CISREG_HD static int64_t buf_size(const Src& s) { return int64_t{s.E} + s.n; }
    CISREG_HD static int64_t n_items(const Src& s) { return s.E > s.n ? s.E : s.n; }
    CISREG_HD static void pack_item(const Src& s, const double* theta, T* buf, int64_t i) {
        if (i < s.E) buf[i] = static_cast<T>(s.kappa_param[i] >= 0 ? theta[s.kappa_param[i]] : s.kappa_const[i]);
        if (i < s.n) {
            double a = s.occ_const[i];
            if (s.occ_param[i] >= 0) a += theta[s.occ_param[i]];
            buf[s.E + i] = static_cast<T>(a);
        }
    }
    CISREG_HD static void bind(const Src& s, const T* buf, View& v) {
        v.kappa = buf;
        v.occ = buf + s.E;
    }
    CISREG_HD static void pack_scalars(const Src& s, const double* theta, View& v) {
        v.tsat = static_cast<T>(s.tsat_param >= 0 ? theta[s.tsat_param] : s.tsat_const);
    }
    // sums: dkappa [E], docc [n] (per unit tsat), dtsat
    template <class Put>
    static void flush_entries(const Src& s, int32_t s0, Put&& put) {
        const CoefExpr tsat = s.tsat_param >= 0 ? coef_of(Coef::Theta, s.tsat_param) : coef_const(s.tsat_const);
        for (int32_t e = 0; e < s.E; ++e)
            if (s.kappa_param[e] >= 0) put(s.kappa_param[e], s0 + e, coef_const(1.0));
        for (int32_t i = 0; i < s.n; ++i)
            if (s.occ_param[i] >= 0) put(s.occ_param[i], s0 + s.E + i, tsat);
        if (s.tsat_param >= 0) put(s.tsat_param, s0 + s.E + s.n, coef_const(1.0));
    }
    static void flush(const Plan<T>& p, const double* sums, double* grad) { apply_flush(p.flush_gp, sums, grad); }
};

// ------------------------------------------------------------------ measurements
// forward<GRAD>(view, phi, y [n_targets], wgt, scr) -> the block's weighted nll (keeping
// what the backward pass needs in scr); backward<NB>(view, nb, phi [nb], scr [nb], acc, dphi
// [nb]) over a tile of blocks (NB > 0: nb known at compile time).
template <class T>
struct MpaStage {
    using View = MpaView<T>;
    CISREG_HD static const View& view(const StageViews<T>& p) { return p.mpa; }
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
    // The measurement alone (measurement_forward): log p(y | phi) [Y].
    static int64_t work(const Measurement& ms) { return int64_t{ms.n_bins} * ms.hidden; }
    static int32_t out_cols(const View& v) { return v.Y; }
    static int32_t out_scratch(const View&) { return 0; }
    static int64_t out_work(const View& v) { return int64_t{v.Y} * v.K; }
    template <class R>
    static void out_row(const View& v, R phi, R* out, R*) {
        rows::mpa_logp(v, phi, out);
    }
    // ---- host side: buf = a [Y], cs [J], ds [J], b [J], bc [J] (J = Y K); theta from the
    // measurement's offset: a [Y], b [J], c [J], d [J]
    using Src = Measurement;
    CISREG_HD static View& of(StageViews<T>& v) { return v.mpa; }
    static Src src(const Model& m) { return m.meas; }
    CISREG_HD static int64_t buf_size(const Src& ms) { return ms.n_bins + 4 * int64_t{ms.n_bins} * ms.hidden; }
    CISREG_HD static int64_t n_items(const Src& ms) { return ms.n_bins + int64_t{ms.n_bins} * ms.hidden; }
    CISREG_HD static void pack_item(const Src& ms, const double* theta, T* buf, int64_t m) {
        const double* mp = theta + ms.offset;
        const int32_t Y = ms.n_bins, J = Y * ms.hidden;
        if (m < Y) {
            buf[m] = static_cast<T>(mp[m]);
            return;
        }
        const int64_t j = m - Y;
        const T scale = math::kTanhPre<T>;
        const double* pb = mp + Y;
        const double* pc = pb + J;
        const double* pd = pc + J;
        T* cs = buf + Y;
        cs[j] = scale * static_cast<T>(pc[j]);
        cs[J + j] = scale * static_cast<T>(pd[j]);
        cs[2 * J + j] = static_cast<T>(pb[j]);
        cs[3 * J + j] = static_cast<T>(pb[j] * pc[j]);
    }
    CISREG_HD static void bind(const Src& ms, const T* buf, View& v) {
        const int32_t Y = ms.n_bins, J = Y * ms.hidden;
        v.Y = Y;
        v.K = ms.hidden;
        v.a = buf;
        v.cs = buf + Y;
        v.ds = v.cs + J;
        v.b = v.ds + J;
        v.bc = v.b + J;
    }
    CISREG_HD static void pack_scalars(const Src&, const double*, View&) {}
    // sums: da [Y], then per hidden unit j: db, b dd, b dc
    template <class Put>
    static void flush_entries(const Src& ms, int32_t s0, Put&& put) {
        const int32_t Y = ms.n_bins, J = Y * ms.hidden;
        const int64_t o = ms.offset;
        for (int32_t y = 0; y < Y; ++y) put(o + y, s0 + y, coef_const(1.0));
        for (int32_t j = 0; j < J; ++j) {
            const int32_t sj = s0 + Y + 3 * j;
            const int64_t b = o + Y + j;
            put(b, sj, coef_const(1.0));
            put(o + Y + 2 * J + j, sj + 1, coef_of(Coef::Theta, b));  // d
            put(o + Y + J + j, sj + 2, coef_of(Coef::Theta, b));      // c
        }
    }
    static void flush(const Plan<T>& p, const double* sums, double* grad) { apply_flush(p.flush_meas, sums, grad); }
};

template <class T>
struct GeStage {
    using View = GeView<T>;
    CISREG_HD static const View& view(const StageViews<T>& p) { return p.ge; }
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
    // The measurement alone: g(phi).
    static int64_t work(const Measurement& ms) { return ms.hidden + 8; }
    static int32_t out_cols(const View&) { return 1; }
    static int32_t out_scratch(const View&) { return 0; }
    static int64_t out_work(const View& v) { return v.K + 4; }
    template <class R>
    static void out_row(const View& v, R phi, R* out, R*) {
        out[0] = rows::ge_g(v, phi, static_cast<R*>(nullptr));
    }
    // ---- host side: buf = cs [K], ds [K], b [K], bc [K], eta [het]; theta from the offset:
    // a, b [K], c [K], d [K], log_sigma, eta [het], (SkewT) log_a, log_b
    using Src = Measurement;
    CISREG_HD static View& of(StageViews<T>& v) { return v.ge; }
    static Src src(const Model& m) { return m.meas; }
    CISREG_HD static int64_t buf_size(const Src& ms) { return 4 * int64_t{ms.hidden} + ms.het + 1; }
    CISREG_HD static int64_t n_items(const Src& ms) { return int64_t{ms.hidden} + ms.het; }
    CISREG_HD static void pack_item(const Src& ms, const double* theta, T* buf, int64_t m) {
        const double* mp = theta + ms.offset;
        const int32_t K = ms.hidden;
        if (m >= K) {
            buf[4 * K + (m - K)] = static_cast<T>(mp[2 + 3 * K + (m - K)]);  // eta
            return;
        }
        const T scale = math::kTanhPre<T>;
        const double* pb = mp + 1;
        const double* pc = pb + K;
        const double* pd = pc + K;
        buf[m] = scale * static_cast<T>(pc[m]);
        buf[K + m] = scale * static_cast<T>(pd[m]);
        buf[2 * K + m] = static_cast<T>(pb[m]);
        buf[3 * K + m] = static_cast<T>(pb[m] * pc[m]);
    }
    CISREG_HD static void bind(const Src& ms, const T* buf, View& v) {
        const int32_t K = ms.hidden;
        v.K = K;
        v.noise = ms.noise;
        v.het = ms.het;
        v.cs = buf;
        v.ds = buf + K;
        v.b = buf + 2 * K;
        v.bc = buf + 3 * K;
        v.eta = buf + 4 * K;
    }
    CISREG_HD static void pack_scalars(const Src& ms, const double* theta, View& v) {
        const double* mp = theta + ms.offset;
        const double* noise = mp + 1 + 3 * ms.hidden;  // log_sigma, eta [het], (SkewT) log_a, log_b
        v.a = static_cast<T>(mp[0]);
        v.log_sigma = static_cast<T>(noise[0]);
        if (ms.noise == Noise::SkewT) {
            const SkewTConsts st = skewt_consts(::exp(noise[1 + ms.het]), ::exp(noise[2 + ms.het]));
            v.sa = static_cast<T>(st.a);
            v.sb = static_cast<T>(st.b);
            v.log_norm = static_cast<T>(st.log_norm);
            v.mode = static_cast<T>(st.mode);
            v.dmode_da = static_cast<T>(st.dmode_da);
            v.dmode_db = static_cast<T>(st.dmode_db);
        }
    }
    // sums: da, db [K], b dd [K], b dc [K], dlog_sigma and its polynomial [het + 1]; SkewT:
    // the per-row parts of d/da, d/db and the total weight
    template <class Put>
    static void flush_entries(const Src& ms, int32_t s0, Put&& put) {
        const int32_t K = ms.hidden, H = ms.het;
        const int64_t o = ms.offset;
        put(o, s0, coef_const(1.0));
        for (int32_t k = 0; k < K; ++k) {
            put(o + 1 + k, s0 + 1 + k, coef_const(1.0));
            put(o + 1 + K + k, s0 + 1 + 2 * K + k, coef_of(Coef::Theta, o + 1 + k));  // c
            put(o + 1 + 2 * K + k, s0 + 1 + K + k, coef_of(Coef::Theta, o + 1 + k));  // d
        }
        for (int32_t j = 0; j <= H; ++j) put(o + 1 + 3 * K + j, s0 + 1 + 3 * K + j, coef_const(1.0));
        if (ms.noise == Noise::SkewT) {
            const int64_t la = o + 2 + 3 * K + H, lb = o + 3 + 3 * K + H;
            const int32_t s = s0 + 2 + 3 * K + H;
            put(la, s, coef_of(Coef::SkewA, la, lb));
            put(la, s + 2, coef_of(Coef::SkewADa, la, lb));
            put(lb, s + 1, coef_of(Coef::SkewB, la, lb));
            put(lb, s + 2, coef_of(Coef::SkewBDb, la, lb));
        }
    }
    static void flush(const Plan<T>& p, const double* sums, double* grad) { apply_flush(p.flush_meas, sums, grad); }
};

template <class T>
struct CountsStage {
    using View = CountsView<T>;
    CISREG_HD static const View& view(const StageViews<T>& p) { return p.cnt; }
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
    // The measurement alone: the log of the expected output per input read at the mean depth.
    static int64_t work(const Measurement& ms) { return ms.hidden + 8 * int64_t{ms.replicates}; }
    static int32_t out_cols(const View&) { return 1; }
    static int32_t out_scratch(const View& v) { return v.K > 0 ? v.K : 1; }
    static int64_t out_work(const View& v) { return v.K + 4; }
    template <class R>
    static void out_row(const View& v, R phi, R* out, R* scr) {
        double depth = 0.0;
        for (int32_t r = 0; r < v.R; ++r) depth += v.log_depth[r] / v.R;
        R ig;
        out[0] = rows::counts_log_g(v, phi, scr, &ig) + static_cast<T>(depth);
    }
    // ---- host side: buf = log_depth [R], then (NB) 1/dispersion, its inverse, its log, c0, c1
    // [R each], then (Sigmoid) w [K], c [K], d [K]; theta from the offset: log_depth [R],
    // (NB) log_dispersion [R], log_slope (LogLinear) or log_base, log_w [K], log_c [K], d [K]
    using Src = Measurement;
    CISREG_HD static View& of(StageViews<T>& v) { return v.cnt; }
    static Src src(const Model& m) { return m.meas; }
    CISREG_HD static int64_t buf_size(const Src& ms) { return 6 * int64_t{ms.replicates} + 3 * ms.hidden + 1; }
    CISREG_HD static int64_t n_items(const Src& ms) { return int64_t{ms.replicates} + ms.hidden; }
    CISREG_HD static void pack_item(const Src& ms, const double* theta, T* buf, int64_t m) {
        const double* mp = theta + ms.offset;
        const int32_t R = ms.replicates, K = ms.hidden;
        const bool nb = ms.noise == Noise::NegBin;
        if (m < R) {
            buf[m] = static_cast<T>(mp[m]);
            if (nb) {
                const double rd = ::exp(-mp[R + m]);
                T* inv = buf + R;
                inv[m] = static_cast<T>(rd);
                inv[R + m] = static_cast<T>(1.0 / rd);
                inv[2 * R + m] = static_cast<T>(-mp[R + m]);
                const bool large = static_cast<double>(inv[m]) >= kNbLarge;  // the test the rows make
                inv[3 * R + m] = static_cast<T>(large ? math::lgamma_tail(rd) : ::lgamma(rd));
                inv[4 * R + m] = static_cast<T>(large ? math::digamma_tail(rd) : digamma_f64(rd));
            }
        } else if (ms.link == Link::Sigmoid) {
            const int64_t k = m - R;
            const double* lk = mp + R * (nb ? 2 : 1);
            T* w = buf + 6 * R;
            w[k] = static_cast<T>(::exp(lk[1 + k]));
            w[K + k] = static_cast<T>(::exp(lk[1 + K + k]));
            w[2 * K + k] = static_cast<T>(lk[1 + 2 * K + k]);
        }
    }
    CISREG_HD static void bind(const Src& ms, const T* buf, View& v) {
        const int32_t R = ms.replicates, K = ms.hidden;
        v.R = R;
        v.K = ms.link == Link::Sigmoid ? K : 0;
        v.noise = ms.noise;
        v.link = ms.link;
        v.pseudocount = static_cast<T>(ms.pseudocount);
        v.log_depth = buf;
        v.inv_disp = buf + R;
        v.nb_irr = buf + 2 * R;
        v.nb_logr = buf + 3 * R;
        v.nb_c0 = buf + 4 * R;
        v.nb_c1 = buf + 5 * R;
        v.w = buf + 6 * R;
        v.c = v.w + K;
        v.d = v.c + K;
    }
    CISREG_HD static void pack_scalars(const Src& ms, const double* theta, View& v) {
        const double* lk = theta + ms.offset + ms.replicates * (ms.noise == Noise::NegBin ? 2 : 1);
        if (ms.link == Link::LogLinear)
            v.slope = static_cast<T>(::exp(lk[0]));
        else
            v.base = static_cast<T>(::exp(lk[0]));
    }
    // sums: per replicate (and dispersion), then the link: log_slope / log_base, then per unit
    // (w, c, d)
    template <class Put>
    static void flush_entries(const Src& ms, int32_t s0, Put&& put) {
        const int32_t K = ms.hidden;
        const int32_t nr = ms.replicates * (ms.noise == Noise::NegBin ? 2 : 1);
        const int64_t o = ms.offset, lk = o + nr;
        for (int32_t j = 0; j < nr; ++j) put(o + j, s0 + j, coef_const(1.0));
        put(lk, s0 + nr, coef_of(Coef::Exp, lk));
        if (ms.link == Link::Sigmoid)
            for (int32_t k = 0; k < K; ++k) {
                const int32_t s = s0 + nr + 1 + 3 * k;
                const int64_t w = lk + 1 + k, c = lk + 1 + K + k;
                put(w, s, coef_of(Coef::Exp, w));
                put(c, s + 1, coef_of(Coef::Exp2, w, c));
                put(lk + 1 + 2 * K + k, s + 2, coef_of(Coef::Exp, w));
            }
    }
    static void flush(const Plan<T>& p, const double* sums, double* grad) { apply_flush(p.flush_meas, sums, grad); }
};

// The VJP of phi: "nll" = cotangent * phi, dphi = cotangent (y[0] holds the cotangent).
template <class T>
struct CotangentStage {
    struct View {};
    CISREG_HD static View view(const StageViews<T>&) { return View{}; }
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
    static void flush(const Plan<T>&, const double*, double*) {}
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

// ------------------------------------------------------------------ the visitors
// f(Stage{}) for the stage of the model's kind: the only switches on a stage's kind.
// check_model rejects every other kind before a stage runs. f may be host-only code (a
// kernel launch) or host and device code (the plan refresh): nvcc checks the calls of
// each instantiation where it is used, not the template.
#if defined(__CUDACC__)
#define CISREG_HOST_OR_DEVICE_CALLABLE _Pragma("nv_exec_check_disable")
#else
#define CISREG_HOST_OR_DEVICE_CALLABLE
#endif
CISREG_HOST_OR_DEVICE_CALLABLE
template <class T, class F>
CISREG_HD decltype(auto) visit_gpmap(GPKind k, F&& f) {
    switch (k) {
        case GPKind::Network:
            return f(NetStage<T>{});
        case GPKind::Kinetic:
            return f(KinStage<T>{});
    }
#if defined(__CUDA_ARCH__)
    __trap();
#else
    throw std::logic_error("unknown G-P map kind");
#endif
}

CISREG_HOST_OR_DEVICE_CALLABLE
template <class T, class F>
CISREG_HD decltype(auto) visit_measurement(MeasKind k, F&& f) {
    switch (k) {
        case MeasKind::SortSeq:
            return f(MpaStage<T>{});
        case MeasKind::GE:
            return f(GeStage<T>{});
        case MeasKind::Counts:
            return f(CountsStage<T>{});
    }
#if defined(__CUDA_ARCH__)
    __trap();
#else
    throw std::logic_error("unknown measurement kind");
#endif
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::stages
