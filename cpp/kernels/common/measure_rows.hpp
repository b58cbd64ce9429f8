// Measurement processes for any lane type R. The forward pass of one block of rows returns
// its weighted negative log-likelihood and keeps what the backward pass needs in the block's
// scratch; the backward pass runs over a tile of nb blocks, unit by unit, so that each
// parameter's gradient sum is accumulated once per tile (acc.add(slot, lanes); the stage's
// flush maps the slots onto theta) and sets d nll / d phi of every block.
#pragma once
#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// ---------------------------------------------------------------- sort-seq (MPA)
// Accumulator slots: [0, Y) d nll / d a_y; then three per hidden unit j = y K + k (next to
// each other, one stream of memory): Y + 3j sum du t (-> b), Y + 3j + 1 sum du (1 - t^2)
// (-> d, times b), Y + 3j + 2 sum du (1 - t^2) phi (-> c, times b).
template <class T>
CISREG_HD int32_t mpa_acc_size(const MpaView<T>& v) {
    return v.Y + 3 * v.Y * v.K;
}
// Scratch of a block: t [Y K] (every tanh), u [Y], du [Y] (d nll / d u).
template <class T>
CISREG_HD int32_t mpa_scratch_size(const MpaView<T>& v) {
    return v.Y * v.K + 2 * v.Y;
}

// u_y = a_y + sum_k b_yk tanh(c_yk phi + d_yk) into u [Y], every tanh into t [Y K] if STORE.
template <bool STORE, class R, class T>
CISREG_HD void mpa_scores(const MpaView<T>& v, R phi, R* t, R* u) {
    using O = Ops<R>;
    const int32_t Y = v.Y, K = v.K;
    for (int32_t y = 0; y < Y; ++y) {
        const int32_t o = y * K;
        const T* cs = v.cs + o;
        const T* ds = v.ds + o;
        const T* b = v.b + o;
        R a0 = O::splat(v.a[y]), a1 = O::splat(T(0));  // two chains
        int32_t k = 0;
        for (; k + 2 <= K; k += 2) {
            const R t0 = math::tanh_pre(phi * cs[k] + ds[k]);
            const R t1 = math::tanh_pre(phi * cs[k + 1] + ds[k + 1]);
            if (STORE) {
                t[o + k] = t0;
                t[o + k + 1] = t1;
            }
            a0 = a0 + t0 * b[k];
            a1 = a1 + t1 * b[k + 1];
        }
        if (k < K) {
            const R t0 = math::tanh_pre(phi * cs[k] + ds[k]);
            if (STORE) t[o + k] = t0;
            a0 = a0 + t0 * b[k];
        }
        u[y] = a0 + a1;
    }
}

// NLL of a block with counts n [Y] (times the rows' weights; a row without counts has nll
// 0 and no gradient). phi must be finite. With GRAD, scr keeps t and du for mpa_backward.
template <bool GRAD, class R, class T>
CISREG_HD R mpa_forward(const MpaView<T>& v, R phi, const R* n, R* scr) {
    using O = Ops<R>;
    const int32_t Y = v.Y;
    R* t = scr;
    R* u = scr + Y * v.K;
    R* du = u + Y;
    mpa_scores<GRAD>(v, phi, t, u);
    R umax = u[0];
    for (int32_t y = 1; y < Y; ++y) umax = O::max(umax, u[y]);
    R se = O::splat(T(0)), sn = se, ntot = se;
    for (int32_t y = 0; y < Y; ++y) {
        du[y] = math::exp(u[y] - umax);
        se = se + du[y];
        sn = sn + n[y] * (u[y] - umax);
        ntot = ntot + n[y];
    }
    const R nll = ntot * math::log(se) - sn;  // sum_y n_y (lse - u_y)
    if (GRAD) {
        const R scale = O::div(ntot, se);
        for (int32_t y = 0; y < Y; ++y) du[y] = du[y] * scale - n[y];
    }
    return nll;
}

// The backward pass of a tile: blocks b < nb with activities phi[b] and scratch scr[b]
// from mpa_forward<true>; sets dphi[b].
template <int NB = 0, class R, class T, class Acc>
CISREG_HD void mpa_backward(const MpaView<T>& v, int nb_rt, const R* phi, R* const* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;  // NB > 0: the tile size at compile time
    constexpr int kMax = 8;
    const int32_t Y = v.Y, K = v.K, YK = Y * K;
    R dp0[kMax], dp1[kMax];  // two chains per block
    for (int b = 0; b < nb; ++b) dp0[b] = dp1[b] = O::splat(T(0));
    for (int32_t y = 0; y < Y; ++y) {
        R d[kMax];
        R sa = O::splat(T(0));
        for (int b = 0; b < nb; ++b) {
            d[b] = scr[b][YK + Y + y];
            sa = sa + d[b];
        }
        acc.add(y, sa);
        const int32_t o = y * K;
        for (int32_t k = 0; k < K; ++k) {
            const int32_t j = o + k;
            const T bc = v.bc[j];
            R sb = O::splat(T(0)), sd = sb, sc = sb;
            for (int b = 0; b < nb; ++b) {
                const R tk = scr[b][j];
                const R wv = d[b] * tk;
                const R q = d[b] - wv * tk;  // du (1 - t^2)
                sb = sb + wv;
                sd = sd + q;
                sc = sc + q * phi[b];
                if (nb < 4 && (k & 1))  // two chains per block only when few blocks hide the latency
                    dp1[b] = dp1[b] + q * bc;
                else
                    dp0[b] = dp0[b] + q * bc;
            }
            const int32_t slot = Y + 3 * j;
            acc.add(slot, sb);
            acc.add(slot + 1, sd);
            acc.add(slot + 2, sc);
        }
    }
    for (int b = 0; b < nb; ++b) dphi[b] = dp0[b] + dp1[b];
}

// log p(y | phi) [Y] of one row (for reporting; not a hot path).
template <class R, class T>
CISREG_HD void mpa_logp(const MpaView<T>& v, R phi, R* out) {
    using O = Ops<R>;
    mpa_scores<false>(v, phi, static_cast<R*>(nullptr), out);
    R umax = out[0];
    for (int32_t y = 1; y < v.Y; ++y) umax = O::max(umax, out[y]);
    R se = O::splat(T(0));
    for (int32_t y = 0; y < v.Y; ++y) se = se + math::exp(out[y] - umax);
    const R lse = umax + math::log(se);
    for (int32_t y = 0; y < v.Y; ++y) out[y] = out[y] - lse;
}

// ---------------------------------------------------------------- global epistasis (GE)
// g(phi) = a + sum_k b_k tanh(c_k phi + d_k); y = g + noise of scale sigma = exp(log_sigma).
// Accumulator slots: 0 d nll / d g (-> a), [1, 1 + K) dg t (-> b), [1 + K, 1 + 2K)
// dg (1 - t^2) (-> d, times b), [1 + 2K, 1 + 3K) dg (1 - t^2) phi (-> c, times b),
// 1 + 3K d nll / d log_sigma.
template <class T>
CISREG_HD int32_t ge_acc_size(const GeView<T>& v) {
    return 2 + 3 * v.K;
}
// Scratch of a block: t [K], dg, dls.
template <class T>
CISREG_HD int32_t ge_scratch_size(const GeView<T>& v) {
    return v.K + 2;
}

template <class R, class T>
CISREG_HD R ge_g(const GeView<T>& v, R phi, R* t) {
    R g = Ops<R>::splat(v.a);
    for (int32_t k = 0; k < v.K; ++k) {
        const R tk = math::tanh_pre(phi * v.cs[k] + v.ds[k]);
        if (t) t[k] = tk;
        g = g + tk * v.b[k];
    }
    return g;
}

// y: the measurement, wgt: the rows' weights (0 for padding lanes).
template <bool GRAD, class R, class T>
CISREG_HD R ge_forward(const GeView<T>& v, R phi, R y, R wgt, R* scr) {
    using O = Ops<R>;
    constexpr T kHalfLog2Pi = T(0.91893853320467274178);
    constexpr T kLogPi = T(1.14472988584940017414);
    const R g = ge_g(v, phi, scr);
    const R r = y - g;
    const R q = r * r * v.inv_var;
    R nll, dg, dls;
    if (v.noise == Noise::Gaussian) {
        nll = q * T(0.5) + (kHalfLog2Pi + v.log_sigma);
        dg = O::splat(T(0)) - r * v.inv_var;
        dls = O::splat(T(1)) - q;
    } else {  // Cauchy
        nll = math::log1p(q) + (kLogPi + v.log_sigma);
        const R i1q = O::div(O::splat(T(1)), q + T(1));
        dg = r * (T(-2) * v.inv_var) * i1q;
        dls = O::splat(T(1)) - q * T(2) * i1q;
    }
    if (GRAD) {
        scr[v.K] = dg * wgt;
        scr[v.K + 1] = dls * wgt;
    }
    return nll * wgt;
}

template <int NB = 0, class R, class T, class Acc>
CISREG_HD void ge_backward(const GeView<T>& v, int nb_rt, const R* phi, R* const* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;
    const int32_t K = v.K;
    R sg = O::splat(T(0)), sl = sg;
    for (int b = 0; b < nb; ++b) {
        sg = sg + scr[b][K];
        sl = sl + scr[b][K + 1];
        dphi[b] = O::splat(T(0));
    }
    acc.add(0, sg);
    acc.add(1 + 3 * K, sl);
    for (int32_t k = 0; k < K; ++k) {
        R sb = O::splat(T(0)), sd = sb, sc = sb;
        for (int b = 0; b < nb; ++b) {
            const R dg = scr[b][K];
            const R tk = scr[b][k];
            const R wv = dg * tk;
            const R s = dg - wv * tk;
            sb = sb + wv;
            sd = sd + s;
            sc = sc + s * phi[b];
            dphi[b] = dphi[b] + s * v.bc[k];
        }
        acc.add(1 + k, sb);
        acc.add(1 + K + k, sd);
        acc.add(1 + 2 * K + k, sc);
    }
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
