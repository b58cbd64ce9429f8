// Elementary functions for every lane type (kernels/common/lanes.hpp): branch-free, so
// that they vectorise across rows, and accurate to a few units in the last place of the
// compute type (float or double). No exp() of an unbounded argument anywhere: arguments
// are clamped, results below the smallest normal number are flushed to 0.
#pragma once
#include "kernels/common/lanes.hpp"

namespace cisreg::math {
inline namespace CISREG_ISA_NS {

namespace detail {
template <class T>
struct Consts;
template <>
struct Consts<double> {
    static constexpr double kLog2e = 1.4426950408889634;
    static constexpr double kLn2Hi = 6.93147180369123816490e-01;  // Cody-Waite split of ln 2
    static constexpr double kLn2Lo = 1.90821492927058770002e-10;
    static constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: x + kShift rounds x to an integer
    static constexpr int kMant = 52;
    static constexpr int kBias = 1023;
    static constexpr double kExpLo = -700.0;  // exp flushed to 0 below (never a subnormal)
    static constexpr double kExpHi = 700.0;   // arguments clamped above
    static constexpr double kTanhClamp = 120.0;
};
template <>
struct Consts<float> {
    static constexpr float kLog2e = 1.44269504f;
    static constexpr float kLn2Hi = 0.693145751953125f;
    static constexpr float kLn2Lo = 1.428606765330187e-06f;
    static constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
    static constexpr int kMant = 23;
    static constexpr int kBias = 127;
    static constexpr float kExpLo = -87.0f;
    static constexpr float kExpHi = 87.0f;
    static constexpr float kTanhClamp = 60.0f;
};

// exp(r) on |r| <= ln2/2. double: near-minimax degree-11 polynomial (Chebyshev fit at 50
// digits, relative error 1.7e-17); float: degree-7 Taylor polynomial (5e-9). p(0) == 1.
template <class R>
CISREG_HD R exp_poly(R r) {
    using T = scalar_of<R>;
    if constexpr (std::is_same<T, double>::value) {
        R p = Ops<R>::splat(2.5110037605963777e-08);
        p = p * r + 2.763263963904103e-07;
        p = p * r + 2.755724091857897e-06;
        p = p * r + 2.4801485482328494e-05;
        p = p * r + 0.00019841269890047113;
        p = p * r + 0.0013888888952314775;
        p = p * r + 0.008333333333319601;
        p = p * r + 0.0416666666664881;
        p = p * r + 0.1666666666666668;
        p = p * r + 0.5000000000000019;
        p = p * r + 1.0;
        return p * r + 1.0;
    } else {
        R p = Ops<R>::splat(1.0f / 5040.0f);
        p = p * r + 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        return p * r + 1.0f;
    }
}
}  // namespace detail

// exp(x) for any x: clamped above at kExpHi, flushed to 0 below kExpLo. Cody-Waite range
// reduction x = n ln2 + r, |r| <= ln2/2, the polynomial above, and 2^n built from its
// exponent bits (n stays inside the normal range, so no select is needed).
template <class R>
CISREG_HD R exp(R x) {
    using O = Ops<R>;
    using T = typename O::T;
    using C = detail::Consts<T>;
    using Us = typename O::Us;
    const typename O::M keep = x >= C::kExpLo;
    x = O::min(x, O::splat(C::kExpHi));
    x = O::max(x, O::splat(C::kExpLo));
    const R t = x * C::kLog2e + C::kShift;  // round-to-nearest n, kept in the low mantissa bits
    const R n = t - C::kShift;
    R r = x - n * C::kLn2Hi;
    r = r - n * C::kLn2Lo;
    const R p = detail::exp_poly(r);
    const auto e = ((O::bits(t) + Us(C::kBias)) << C::kMant) & O::ones(keep);
    return p * O::from_bits(e);
}

// log(x) for positive finite normal x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its odd series (double:
// 11 terms, float: 5).
template <class R>
CISREG_HD R log(R x) {
    using O = Ops<R>;
    using T = typename O::T;
    using C = detail::Consts<T>;
    using Us = typename O::Us;
    const Us mant_mask = (Us(1) << C::kMant) - Us(1);
    const auto bx = O::bits(x);
    auto ex = (bx >> C::kMant) - Us(C::kBias);
    R m = O::from_bits((bx & mant_mask) | (Us(C::kBias) << C::kMant));  // [1, 2)
    const typename O::M big = m > T(1.4142135623730951);
    m = O::select(big, m * T(0.5), m);
    ex = ex + (Us(1) & O::ones(big));
    const R s = O::div(m - T(1), m + T(1));
    const R s2 = s * s;
    R p;
    if constexpr (std::is_same<T, double>::value) {
        p = O::splat(2.0 / 23.0);
        p = p * s2 + 2.0 / 21.0;
        p = p * s2 + 2.0 / 19.0;
        p = p * s2 + 2.0 / 17.0;
        p = p * s2 + 2.0 / 15.0;
        p = p * s2 + 2.0 / 13.0;
        p = p * s2 + 2.0 / 11.0;
        p = p * s2 + 2.0 / 9.0;
        p = p * s2 + 2.0 / 7.0;
        p = p * s2 + 2.0 / 5.0;
        p = p * s2 + 2.0 / 3.0;
        p = p * s2 + 2.0;
    } else {
        p = O::splat(2.0f / 11.0f);
        p = p * s2 + 2.0f / 9.0f;
        p = p * s2 + 2.0f / 7.0f;
        p = p * s2 + 2.0f / 5.0f;
        p = p * s2 + 2.0f / 3.0f;
        p = p * s2 + 2.0f;
    }
    const R e = O::to_real(ex);
    return e * T(C::kLn2Hi) + (s * p + e * T(C::kLn2Lo));
}

// log(1 + q) for q >= 0, accurate also for tiny q: with u = 1 + q (rounded),
// log1p(q) = log(u) q / (u - 1), and q itself where u == 1.
template <class R>
CISREG_HD R log1p(R q) {
    using O = Ops<R>;
    using T = typename O::T;
    const R u = q + T(1);
    const R d = u - T(1);
    const typename O::M tiny = d == T(0);
    const R ratio = O::div(q, O::select(tiny, O::splat(T(1)), d));
    return O::select(tiny, q, log(u) * ratio);
}

// tanh(v ln2 / 2): the form the kernels use, with their tanh arguments pre-scaled by
// 2 log2(e) (kTanhScale, folded into the per-call parameters). With m = round(|v|),
// f = |v| - m (exact, |f| <= 1/2) and s = 2^-m:
//   tanh = sign(v) (1 - e) / (1 + e),   e = 2^-|v| = s 2^-f,   2^-f ~= (E - B) / (E + B),
// where E + B = P(f) (E even, B odd in f), a rational approximation P(-f) / P(f). Then
//   tanh = sign(v) ((E + B) - s (E - B)) / ((E + B) + s (E - B)):
// one division serves both the exponential and the tanh ratio, the range reduction costs
// additions only, s is built from exponent bits, and the whole is branch-free.
// double: a [5/5] minimax approximation (Remez at 50 digits; 2.8e-18 after rounding the
// coefficients; measured max abs error of tanh 2.8e-16 against long double over 3.5e8
// points); float: the [3/3] Pade approximant of 2^-f (6e-9). |v| is clamped (tanh rounds
// to +-1 long before), so s is always a normal number. A NaN argument is not propagated:
// callers check their inputs.
template <class R>
CISREG_HD R tanh_scaled(R v) {
    using O = Ops<R>;
    using T = typename O::T;
    using C = detail::Consts<T>;
    using Us = typename O::Us;
    R ax = O::abs(v);
    ax = O::min(ax, O::splat(C::kTanhClamp));
    const R t = ax + C::kShift;  // m = round(|v|), kept in the low mantissa bits of t
    const R m = t - C::kShift;
    const R f = ax - m;  // exact
    const R f2 = f * f;
    R E, B;
    if constexpr (std::is_same<T, double>::value) {
        E = (f2 * 0.00022892663539235593 + 0.053382077015323263) * f2 + 1.0;
        B = f * ((f2 * 5.286682390363594e-06 + 0.004624790921597937) * f2 + 0.34657359027997264);
    } else {
        E = f2 * 0.0480453014f + 1.0f;                 // 1 + (ln2)^2/10 f^2
        B = f * (f2 * 0.00277520543f + 0.346573590f);  // (ln2/2) f + (ln2)^3/120 f^3
    }
    const R s = O::from_bits((Us(C::kBias) << C::kMant) - (O::bits(t) << C::kMant));
    const R num = E + B, dif = E - B;
    const R r = O::div(num - s * dif, num + s * dif);  // >= 0
    const Us sign = Us(1) << (8 * sizeof(T) - 1);
    return O::from_bits(O::bits(r) ^ (O::bits(v) & sign));  // the sign of v
}

// tanh for float lanes: the [13/6] rational approximation x P(x^2) / Q(x^2) of Eigen
// (ptanh_float) on x clamped to +-7.9053 (where it rounds to +-1): 16 operations and one
// division, max abs error 3e-7.
template <class R>
CISREG_HD R tanh_rational(R x) {
    using O = Ops<R>;
    constexpr float kClamp = 7.90531110763549805f;
    x = O::max(O::min(x, O::splat(kClamp)), O::splat(-kClamp));
    const R x2 = x * x;
    R p = O::splat(-2.76076847742355e-16f);
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    R q = O::splat(1.19825839466702e-06f);
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return O::div(p, q);
}

// The tanh of the measurement kernels, on arguments pre-scaled by kTanhPre<T> (folded into
// the per-call parameters): tanh_scaled in double (2.8e-16), tanh_rational in float (3e-7).
template <class T>
constexpr T kTanhPre = sizeof(T) == 4 ? T(1) : T(2.8853900817779268);
template <class R>
CISREG_HD R tanh_pre(R x) {
    if constexpr (sizeof(scalar_of<R>) == 4)
        return tanh_rational(x);
    else
        return tanh_scaled(x);
}

// Stirling's series of log Gamma beyond its leading terms, for z >= 10 (truncation error
// below 2e-14 relative): lgamma(z) = (z - 1/2) log z - z + log(2 pi) / 2 + lgamma_tail(z),
// with lgamma_tail = 1/(12z) - 1/(360z^3) + 1/(1260z^5) - 1/(1680z^7) + 1/(1188z^9)
// - 691/(360360z^11).
template <class R>
CISREG_HD R lgamma_tail(R z) {
    using O = Ops<R>;
    using T = typename O::T;
    const R iz = O::div(O::splat(T(1)), z);
    const R iz2 = iz * iz;
    R ser = O::splat(T(-691.0 / 360360.0));
    ser = ser * iz2 + T(1.0 / 1188.0);
    ser = ser * iz2 + T(-1.0 / 1680.0);
    ser = ser * iz2 + T(1.0 / 1260.0);
    ser = ser * iz2 + T(-1.0 / 360.0);
    ser = ser * iz2 + T(1.0 / 12.0);
    return ser * iz;
}

// The asymptotic series of digamma beyond its leading terms, for z >= 10:
// psi(z) = log z - 1/(2z) - digamma_tail(z), digamma_tail = 1/(12z^2) - 1/(120z^4)
// + 1/(252z^6) - 1/(240z^8) + 1/(132z^10) - 691/(32760z^12).
template <class R>
CISREG_HD R digamma_tail(R z) {
    using O = Ops<R>;
    using T = typename O::T;
    const R iz = O::div(O::splat(T(1)), z);
    const R iz2 = iz * iz;
    R ser = O::splat(T(-691.0 / 32760.0));
    ser = ser * iz2 + T(1.0 / 132.0);
    ser = ser * iz2 + T(-1.0 / 240.0);
    ser = ser * iz2 + T(1.0 / 252.0);
    ser = ser * iz2 + T(-1.0 / 120.0);
    ser = ser * iz2 + T(1.0 / 12.0);
    return ser * iz2;
}

// log Gamma(x) for x > 0: for x < 10 the recurrence lgamma(x) = lgamma(x + 10) - log(x (x+1)
// ... (x+9)) (one product, one log), then Stirling's series. Branch-free: both sides are
// computed and selected.
template <class R>
CISREG_HD R lgamma(R x) {
    using O = Ops<R>;
    using T = typename O::T;
    const typename O::M small = x < T(10);
    R prod = x;
    for (int i = 1; i < 10; ++i) prod = prod * (x + T(i));
    const R z = O::select(small, x + T(10), x);
    const R st = (z - T(0.5)) * log(z) - z + T(0.91893853320467274178) + lgamma_tail(z);
    return O::select(small, st - log(O::select(small, prod, O::splat(T(1)))), st);
}

// digamma(x) for x > 0: for x < 10, psi(x) = psi(x + 10) - sum_{i<10} 1/(x+i), the sum as
// one fraction (one division); then the asymptotic series.
template <class R>
CISREG_HD R digamma(R x) {
    using O = Ops<R>;
    using T = typename O::T;
    const typename O::M small = x < T(10);
    const R xs = O::select(small, x, O::splat(T(1)));  // keeps the unused side finite
    R num = O::splat(T(1)), den = xs;                  // sum 1/(x+i) = num / den
    for (int i = 1; i < 10; ++i) {
        const R xi = xs + T(i);
        num = num * xi + den;
        den = den * xi;
    }
    const R z = O::select(small, x + T(10), x);
    const R ps = log(z) - O::div(O::splat(T(0.5)), z) - digamma_tail(z);
    return O::select(small, ps - O::div(num, den), ps);
}

// 2 log2(e): tanh(z) = tanh_scaled(kTanhScale * z).
template <class T>
constexpr T kTanhScale = T(2.8853900817779268);

// tanh(x) (the same approximation).
template <class R>
CISREG_HD R tanh(R x) {
    return tanh_scaled(x * kTanhScale<scalar_of<R>>);
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::math
