// Measurement processes for any lane type R: the negative log-likelihood of one row (or V
// rows), d nll / d phi, and the parameter gradients added to accumulator slots (summed
// over rows; the stage's flush maps them onto theta).
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
template <class T>
CISREG_HD int32_t mpa_scratch_size(const MpaView<T>& v) {
    return v.Y * v.K + 2 * v.Y;
}

// n [Y]: the row's counts (times its weight). Scratch: t [Y K] (every tanh, kept for the
// backward pass), u [Y]. A row without counts (ntot == 0) has nll 0 and no gradient.
// phi must be finite.
template <bool GRAD, class R, class T, class Acc>
CISREG_HD R mpa_row(const MpaView<T>& v, R phi, const R* n, R* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int32_t Y = v.Y, K = v.K;
    R* t = scr;
    R* u = scr + Y * K;
    R* du = u + Y;
    R ntot = O::splat(T(0));
    for (int32_t y = 0; y < Y; ++y) ntot = ntot + n[y];
    R umax = O::splat(T(-1e30));
    for (int32_t y = 0; y < Y; ++y) {
        const int32_t o = y * K;
        R a0 = O::splat(v.a[y]), a1 = O::splat(T(0));  // two chains
        int32_t k = 0;
        for (; k + 2 <= K; k += 2) {
            const R t0 = math::tanh_scaled(phi * v.cs[o + k] + v.ds[o + k]);
            const R t1 = math::tanh_scaled(phi * v.cs[o + k + 1] + v.ds[o + k + 1]);
            t[o + k] = t0;
            t[o + k + 1] = t1;
            a0 = a0 + t0 * v.b[o + k];
            a1 = a1 + t1 * v.b[o + k + 1];
        }
        for (; k < K; ++k) {
            const R t0 = math::tanh_scaled(phi * v.cs[o + k] + v.ds[o + k]);
            t[o + k] = t0;
            a0 = a0 + t0 * v.b[o + k];
        }
        u[y] = a0 + a1;
        umax = O::max(umax, u[y]);
    }
    R se = O::splat(T(0)), sn = O::splat(T(0));
    for (int32_t y = 0; y < Y; ++y) {
        du[y] = math::exp(u[y] - umax);
        se = se + du[y];
        sn = sn + n[y] * u[y];
    }
    const R lse = umax + math::log(se);
    const R nll = ntot * lse - sn;
    if (GRAD) {
        const R scale = O::div(ntot, se);
        R dp0 = O::splat(T(0)), dp1 = O::splat(T(0));
        for (int32_t y = 0; y < Y; ++y) {
            const R d = du[y] * scale - n[y];  // d nll / d u_y
            acc.add(y, d);
            const int32_t o = y * K;
            for (int32_t k = 0; k < K; ++k) {
                const R tk = t[o + k];
                const R wv = d * tk;
                const R q = d - wv * tk;  // du (1 - t^2)
                const int32_t slot = Y + 3 * (o + k);
                acc.add(slot, wv);
                acc.add(slot + 1, q);
                acc.add(slot + 2, q * phi);
                if (k & 1)
                    dp1 = dp1 + q * v.bc[o + k];
                else
                    dp0 = dp0 + q * v.bc[o + k];
            }
        }
        *dphi = dp0 + dp1;
    }
    return nll;
}

// log p(y | phi) [Y] of one row (for reporting; not a hot path).
template <class R, class T>
CISREG_HD void mpa_logp(const MpaView<T>& v, R phi, R* out) {
    using O = Ops<R>;
    R umax = O::splat(T(-1e30));
    for (int32_t y = 0; y < v.Y; ++y) {
        R acc = O::splat(v.a[y]);
        for (int32_t k = 0; k < v.K; ++k) {
            const int32_t j = y * v.K + k;
            acc = acc + math::tanh_scaled(phi * v.cs[j] + v.ds[j]) * v.b[j];
        }
        out[y] = acc;
        umax = O::max(umax, acc);
    }
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
template <class T>
CISREG_HD int32_t ge_scratch_size(const GeView<T>& v) {
    return v.K;
}

template <class R, class T>
CISREG_HD R ge_g(const GeView<T>& v, R phi, R* t) {
    R g = Ops<R>::splat(v.a);
    for (int32_t k = 0; k < v.K; ++k) {
        t[k] = math::tanh_scaled(phi * v.cs[k] + v.ds[k]);
        g = g + t[k] * v.b[k];
    }
    return g;
}

// y: the measurement, wgt: the row's weight (0 for padding lanes).
template <bool GRAD, class R, class T, class Acc>
CISREG_HD R ge_row(const GeView<T>& v, R phi, R y, R wgt, R* t, Acc& acc, R* dphi) {
    using O = Ops<R>;
    constexpr T kHalfLog2Pi = T(0.91893853320467274178);
    constexpr T kLogPi = T(1.14472988584940017414);
    const R g = ge_g(v, phi, t);
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
        dg = dg * wgt;
        const int32_t K = v.K;
        acc.add(0, dg);
        R dp = O::splat(T(0));
        for (int32_t k = 0; k < K; ++k) {
            const R wv = dg * t[k];
            const R s = dg - wv * t[k];
            acc.add(1 + k, wv);
            acc.add(1 + K + k, s);
            acc.add(1 + 2 * K + k, s * phi);
            dp = dp + s * v.bc[k];
        }
        acc.add(1 + 3 * K, dls * wgt);
        *dphi = dp;
    }
    return nll * wgt;
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
