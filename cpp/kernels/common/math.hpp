// Scalar math shared by the CPU and (future) CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define CISREG_HD __host__ __device__ inline
#else
#define CISREG_HD inline
#endif

// The kernels that include these headers are compiled once per instruction-set level
// (CMakeLists.txt: baseline, x86-64-v3, x86-64-v4) and linked into one library. Their
// inline functions must not share mangled names across those copies, or the linker keeps
// one copy for all (e.g. an AVX-512 body called from the baseline kernel). Every inline
// function of math.hpp and rows.hpp therefore lives in an inline namespace named after the
// instruction set it is compiled for; callers still write math::f / rows::f.
#if defined(__AVX512F__)
#define CISREG_ISA_NS isa_avx512
#elif defined(__AVX2__) && defined(__FMA__)
#define CISREG_ISA_NS isa_avx2
#elif defined(__AVX__)
#define CISREG_ISA_NS isa_avx
#else
#define CISREG_ISA_NS isa_base
#endif

namespace cisreg::math {
inline namespace CISREG_ISA_NS {

// Reinterpret the bits of a value; a builtin so that loops around it still vectorise.
template <class To, class From>
CISREG_HD To bit_cast(const From& v) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
#define CISREG_HAVE_BIT_CAST 1
    return __builtin_bit_cast(To, v);
#endif
#endif
#ifndef CISREG_HAVE_BIT_CAST
    To out;
    std::memcpy(&out, &v, sizeof out);
    return out;
#endif
}

namespace detail {
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // Cody-Waite split of ln 2
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kShift = 6755399441055744.0;          // 1.5 * 2^52: x + kShift rounds x to an integer

// Near-minimax polynomial for exp(r) on |r| <= ln2/2 (Chebyshev fit computed with mpmath at
// 50 digits, coefficients rounded to double). Relative error of the polynomial (exact
// arithmetic, rounded coefficients): 1.7e-17. p(0) == 1 exactly.
CISREG_HD double exp_poly11(double r) {
    double p = 2.5110037605963777e-08;
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
}
}  // namespace detail

// exp(x) for x <= 0 (small positive x from rounding are accurate too), branch-free so that
// loops over it vectorise. Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then the
// degree-11 polynomial above (relative error < 1e-16 before rounding). Results below
// exp(-700) ~ 1e-304 are returned as 0 (never a subnormal), so 2^n can be built directly
// from its exponent bits.
CISREG_HD double exp_nonpos(double x) {
    using namespace detail;
    double t = x * kLog2e + kShift;  // round-to-nearest n, stored in the low mantissa bits
    double n = t - kShift;
    double r = x - n * kLn2Hi;
    r = r - n * kLn2Lo;
    const double p = exp_poly11(r);
    // 2^n from its exponent bits; below -700 the result is flushed to 0 by masking
    // (no select, so the loop stays branch-free and vectorises).
    const uint64_t keep = 0u - static_cast<uint64_t>(x >= -700.0);
    const uint64_t bits = ((bit_cast<uint64_t>(t) + 1023u) << 52) & keep;
    return p * bit_cast<double>(bits);
}

// tanh(v ln2 / 2): the form the kernels use, with their tanh arguments pre-scaled by
// 2 log2(e) (folded into the packed parameters; see kTanhScale). With m = round(|v|),
// f = |v| - m (exact, |f| <= 1/2) and s = 2^-m:
//   tanh = sign(v) (1 - e) / (1 + e),   e = 2^-|v| = s 2^-f,   2^-f ~= (E - B) / (E + B),
// where E + B = P(f) = 1 + c1 f + ... + c5 f^5 (E even, B odd in f), a [5/5] rational
// approximation of the form P(-f) / P(f). Multiplying through by E + B,
//   tanh = sign(v) ((E + B) - s (E - B)) / ((E + B) + s (E - B)):
// one division serves both the exponential and the tanh ratio, the range reduction costs
// additions only, s is built from exponent bits, and the whole is branch-free and
// vectorises. |v| is clamped at 120 (s < 1e-36; tanh rounds to +-1 from |v| = 56 on), so
// there is no exp of an unbounded argument and s is always a normal number.
// Coefficients: minimax relative error of (E - B) / (E + B) against 2^-f on [-1/2, 1/2]
// (Remez iteration at 50 digits with mpmath): 8.4e-19, 2.8e-18 after rounding them to
// double, so only the rounding of the arithmetic is left.
// Accuracy, measured against long-double tanhl, with and without FMA contraction:
//   tanh_scaled(v) vs tanh(v ln2 / 2), 3.5e8 points (1e-6 grid over [-60, 60], 1e-8 grid
//   over [-1, 1], 3e7 random points in [-70, 70], +-every power of two): max abs error 2.8e-16;
//   tanh_fast(x) vs tanh(x), 3.3e8 points (1e-6 grid over [-40, 40], 1e-8 grid over [-1, 1],
//   5e7 random points in [-25, 25], +-every power of two): max abs error 2.8e-16.
// (The previous version, a degree-13 Taylor exp and a division per tanh: 1.7e-16.) The
// relative error grows as |v| -> 0 (the absolute error stays ~1e-16), as for every
// (1 - e) / (1 + e) form. A NaN argument is NOT propagated (the clamp maps it to 120):
// callers check their inputs (the MPA kernel checks phi per row; tanh_fast restores NaN).
CISREG_HD double tanh_scaled(double v) {
    using namespace detail;
    double ax = std::fabs(v);
    ax = ax < 120.0 ? ax : 120.0;  // minpd
    const double t = ax + kShift;  // m = round(|v|), kept in the low mantissa bits of t
    const double m = t - kShift;
    const double f = ax - m;       // exact
    const double f2 = f * f;
    const double E = (0.00022892663539235593 * f2 + 0.053382077015323263) * f2 + 1.0;
    const double B = f * ((5.286682390363594e-06 * f2 + 0.004624790921597937) * f2 + 0.34657359027997264);
    const double s = bit_cast<double>((uint64_t{1023} << 52) - (bit_cast<uint64_t>(t) << 52));
    const double num = E + B, dif = E - B;
    return std::copysign((num - s * dif) / (num + s * dif), v);
}

// 2 log2(e): tanh(z) = tanh_scaled(kTanhScale * z).
constexpr double kTanhScale = 2.8853900817779268;

// tanh(x) (the same approximation; the scaling adds one rounding of relative size 1e-16
// to the argument, and an infinite scaled argument is handled).
CISREG_HD double tanh_fast(double x) {
    const double t = tanh_scaled(kTanhScale * x);
    return x == x ? t : x;
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::math
