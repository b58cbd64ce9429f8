// CPU vector lane types: V rows of T side by side in one SIMD register (GCC/Clang vector
// extensions, so one source serves every instruction set; the width follows the level the
// file is compiled for). Only CPU code includes this header.
#pragma once
#include <cstdint>

#include "kernels/common/lanes.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace cisreg {
inline namespace CISREG_ISA_NS {
namespace simd {

// Bytes of one vector register at this level.
#if defined(__AVX512F__)
constexpr int kBytes = 64;
#elif defined(__AVX__)
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif

template <class T, int B>
struct VecTypes;
#define CISREG_VEC_TYPES(T, UT, IT, B)                                        \
    template <>                                                               \
    struct VecTypes<T, B> {                                                   \
        typedef T R __attribute__((vector_size(B)));              \
        typedef UT U __attribute__((vector_size(B)));             \
        typedef IT I __attribute__((vector_size(B)));             \
    };
CISREG_VEC_TYPES(float, uint32_t, int32_t, 16)
CISREG_VEC_TYPES(float, uint32_t, int32_t, 32)
CISREG_VEC_TYPES(float, uint32_t, int32_t, 64)
CISREG_VEC_TYPES(double, uint64_t, int64_t, 16)
CISREG_VEC_TYPES(double, uint64_t, int64_t, 32)
CISREG_VEC_TYPES(double, uint64_t, int64_t, 64)
#undef CISREG_VEC_TYPES

template <class T, int B = kBytes>
using vec = typename VecTypes<T, B>::R;

}  // namespace simd

// Ops of a vector lane type (see lanes.hpp). Masks are the signed integer vectors that the
// comparison operators return (all bits set where true).
template <class Tp, class UT, class Rv, class Uv, class Iv>
struct VecOps {
    using T = Tp;
    using U = Uv;
    using Us = UT;
    using M = Iv;
    static constexpr int V = static_cast<int>(sizeof(Rv) / sizeof(Tp));
    static Rv splat(T x) { return Rv{} + x; }
    static Rv abs(Rv x) { return reinterpret_cast<Rv>(reinterpret_cast<Uv>(x) & (~Us(0) >> 1)); }
    static Rv min(Rv a, Rv b) { return b < a ? b : a; }
    static Rv max(Rv a, Rv b) { return a < b ? b : a; }
    static Rv select(M m, Rv a, Rv b) { return m ? a : b; }
    static Uv bits(Rv x) { return reinterpret_cast<Uv>(x); }
    static Rv from_bits(Uv u) { return reinterpret_cast<Rv>(u); }
    static Uv ones(M m) { return reinterpret_cast<Uv>(m); }
    static Rv to_real(Uv u) { return __builtin_convertvector(reinterpret_cast<Iv>(u), Rv); }
    static bool any(M m) {
        for (int l = 0; l < V; ++l)
            if (m[l]) return true;
        return false;
    }
    static T lane(Rv x, int l) { return x[l]; }
    static void set_lane(Rv& x, int l, T v) { x[l] = v; }
    static T hsum(Rv x) {  // pairwise tree: a fixed order
        T buf[V];
        for (int l = 0; l < V; ++l) buf[l] = x[l];
        for (int w = V / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; ++l) buf[l] += buf[l + w];
        return buf[0];
    }
    static Rv div(Rv a, Rv b);
};

// Division: one approximate reciprocal and one Newton step where the instruction set has
// a fast reciprocal for the type (about 1 ulp in float; 2 steps from the 14-bit estimate in
// double), a true division otherwise.
template <class Tp, class UT, class Rv, class Uv, class Iv>
inline Rv VecOps<Tp, UT, Rv, Uv, Iv>::div(Rv a, Rv b) {
#if defined(__AVX512F__)
    if constexpr (sizeof(Rv) == 64 && sizeof(Tp) == 4) {
        Rv r = reinterpret_cast<Rv>(_mm512_maskz_rcp14_ps(static_cast<__mmask16>(0xFFFF), reinterpret_cast<__m512>(b)));
        r = r * (2.0f - b * r);
        return a * r;
    } else if constexpr (sizeof(Rv) == 64 && sizeof(Tp) == 8) {
        Rv r = reinterpret_cast<Rv>(_mm512_maskz_rcp14_pd(static_cast<__mmask8>(0xFF), reinterpret_cast<__m512d>(b)));
        r = r * (2.0 - b * r);
        r = r * (2.0 - b * r);
        // one more step on the quotient itself: q = a r, q += r (a - b q) (error ~1 ulp)
        Rv q = a * r;
        return q + r * (a - b * q);
    } else if constexpr (sizeof(Rv) == 32 && sizeof(Tp) == 4) {
        Rv r = reinterpret_cast<Rv>(_mm256_maskz_rcp14_ps(static_cast<__mmask8>(0xFF), reinterpret_cast<__m256>(b)));
        r = r * (2.0f - b * r);
        return a * r;
    } else {
        return a / b;
    }
#elif defined(__AVX2__)
    if constexpr (sizeof(Rv) == 32 && sizeof(Tp) == 4) {
        Rv r = reinterpret_cast<Rv>(_mm256_rcp_ps(reinterpret_cast<__m256>(b)));
        r = r * (2.0f - b * r);
        Rv q = a * r;
        return q + r * (a - b * q);
    } else {
        return a / b;
    }
#else
    return a / b;
#endif
}

#define CISREG_VEC_OPS(T, UT, IT, B)                                                                       \
    template <>                                                                                            \
    struct Ops<simd::VecTypes<T, B>::R>                                                                    \
        : VecOps<T, UT, simd::VecTypes<T, B>::R, simd::VecTypes<T, B>::U, simd::VecTypes<T, B>::I> {};
CISREG_VEC_OPS(float, uint32_t, int32_t, 16)
CISREG_VEC_OPS(float, uint32_t, int32_t, 32)
CISREG_VEC_OPS(float, uint32_t, int32_t, 64)
CISREG_VEC_OPS(double, uint64_t, int64_t, 16)
CISREG_VEC_OPS(double, uint64_t, int64_t, 32)
CISREG_VEC_OPS(double, uint64_t, int64_t, 64)
#undef CISREG_VEC_OPS

}  // namespace CISREG_ISA_NS
}  // namespace cisreg
