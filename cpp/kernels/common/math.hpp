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

namespace cisreg::math {

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

// exp(x) for x <= 0 (small positive x from rounding are accurate too), branch-free so that loops over it vectorise. Cody-Waite range
// reduction x = n ln2 + r, |r| <= ln2/2, then a degree-13 Taylor polynomial
// (truncation error < 1e-17 relative). Results below exp(-700) ~ 1e-304 are returned
// as 0 (never a subnormal), so 2^n can be built directly from its exponent bits.
CISREG_HD double exp_nonpos(double x) {
    constexpr double kLog2e = 1.4426950408889634;
    constexpr double kLn2Hi = 6.93147180369123816490e-01;
    constexpr double kLn2Lo = 1.90821492927058770002e-10;
    constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52
    double t = x * kLog2e + kShift;  // round-to-nearest n, stored in the low mantissa bits
    double n = t - kShift;
    double r = x - n * kLn2Hi;
    r = r - n * kLn2Lo;
    double p = 1.0 / 6227020800.0;         // 1/13!
    p = p * r + 1.0 / 479001600.0;         // 1/12!
    p = p * r + 1.0 / 39916800.0;          // 1/11!
    p = p * r + 1.0 / 3628800.0;           // 1/10!
    p = p * r + 1.0 / 362880.0;            // 1/9!
    p = p * r + 1.0 / 40320.0;             // 1/8!
    p = p * r + 1.0 / 5040.0;              // 1/7!
    p = p * r + 1.0 / 720.0;               // 1/6!
    p = p * r + 1.0 / 120.0;               // 1/5!
    p = p * r + 1.0 / 24.0;                // 1/4!
    p = p * r + 1.0 / 6.0;                 // 1/3!
    p = p * r + 0.5;                       // 1/2!
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from its exponent bits; below -700 the result is flushed to 0 by masking
    // (no select, so the loop stays branch-free and vectorises).
    const uint64_t keep = 0u - static_cast<uint64_t>(x >= -700.0);
    const uint64_t bits = ((bit_cast<uint64_t>(t) + 1023u) << 52) & keep;
    return p * bit_cast<double>(bits);
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); branch-free, vectorisable.
// Absolute error ~1e-16 everywhere (relative error grows only as |x| -> 0).
CISREG_HD double tanh_fast(double x) {
    double ax = std::fabs(x);
    double e = exp_nonpos(-2.0 * ax);
    double t = (1.0 - e) / (1.0 + e);
    return std::copysign(t, x);
}

}  // namespace cisreg::math
