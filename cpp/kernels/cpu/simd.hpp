// CPU vector lane types: V rows of T side by side in one SIMD register (GCC/Clang vector
// extensions, so one source serves every instruction set; the width follows the level the
// file is compiled for). Only CPU code includes this header.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/common/lanes.hpp"

#if defined(__SSE2__)
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
#define CISREG_VEC_TYPES(T, UT, IT, B)                \
    template <>                                       \
    struct VecTypes<T, B> {                           \
        typedef T R __attribute__((vector_size(B)));  \
        typedef UT U __attribute__((vector_size(B))); \
        typedef IT I __attribute__((vector_size(B))); \
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

// min / max as single instructions (compilers keep `a < b ? a : b` as compare + blend).
template <class Rv>
inline Rv vmin(Rv a, Rv b) {
    return b < a ? b : a;
}
template <class Rv>
inline Rv vmax(Rv a, Rv b) {
    return a < b ? b : a;
}
#define CISREG_VMINMAX(T, B, NATIVE, MIN, MAX)                                                             \
    inline vec<T, B> vmin(vec<T, B> a, vec<T, B> b) {                                                      \
        return reinterpret_cast<vec<T, B>>(MIN(reinterpret_cast<NATIVE>(a), reinterpret_cast<NATIVE>(b))); \
    }                                                                                                      \
    inline vec<T, B> vmax(vec<T, B> a, vec<T, B> b) {                                                      \
        return reinterpret_cast<vec<T, B>>(MAX(reinterpret_cast<NATIVE>(a), reinterpret_cast<NATIVE>(b))); \
    }
#if defined(__SSE2__)
CISREG_VMINMAX(float, 16, __m128, _mm_min_ps, _mm_max_ps)
CISREG_VMINMAX(double, 16, __m128d, _mm_min_pd, _mm_max_pd)
#endif
#if defined(__AVX__)
CISREG_VMINMAX(float, 32, __m256, _mm256_min_ps, _mm256_max_ps)
CISREG_VMINMAX(double, 32, __m256d, _mm256_min_pd, _mm256_max_pd)
#endif
#if defined(__AVX512F__)
// the masked forms: the plain ones trip a false uninitialised-value warning of GCC 12's headers
inline __m512 min512(__m512 a, __m512 b) { return _mm512_maskz_min_ps(static_cast<__mmask16>(0xFFFF), a, b); }
inline __m512 max512(__m512 a, __m512 b) { return _mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFF), a, b); }
inline __m512d min512(__m512d a, __m512d b) { return _mm512_maskz_min_pd(static_cast<__mmask8>(0xFF), a, b); }
inline __m512d max512(__m512d a, __m512d b) { return _mm512_maskz_max_pd(static_cast<__mmask8>(0xFF), a, b); }
CISREG_VMINMAX(float, 64, __m512, min512, max512)
CISREG_VMINMAX(double, 64, __m512d, min512, max512)
#endif
#undef CISREG_VMINMAX

}  // namespace simd

// Ops of a vector lane type (see lanes.hpp). Masks are the signed integer vectors that the
// comparison operators return (all bits set where true).
template <class Tp, class UT, class Rv, class Uv, class Iv>
struct VecOps {
    using T = Tp;
    using U = Uv;
    using Us = UT;
    using M = Iv;
    using I = Iv;
    static constexpr int V = static_cast<int>(sizeof(Rv) / sizeof(Tp));
    static Rv splat(T x) { return Rv{} + x; }
    static Rv abs(Rv x) { return reinterpret_cast<Rv>(reinterpret_cast<Uv>(x) & (~Us(0) >> 1)); }
    static Rv min(Rv a, Rv b) { return simd::vmin(a, b); }
    static Rv max(Rv a, Rv b) { return simd::vmax(a, b); }
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
    // tab[idx] lane by lane. Tables of at most 2V entries are read as one or two vectors and
    // permuted (the caller pads them so that 2V entries are readable); larger ones lane by lane.
    static Rv lookup(const T* tab, Iv idx, int32_t n) {
        if (n <= V) {
            Rv t;
            std::memcpy(&t, tab, sizeof t);
            return __builtin_shuffle(t, idx);
        }
        if (n <= 2 * V) {
            Rv a, b;
            std::memcpy(&a, tab, sizeof a);
            std::memcpy(&b, tab + V, sizeof b);
            return __builtin_shuffle(a, b, idx);
        }
        Rv r;
        for (int l = 0; l < V; ++l) r[l] = tab[idx[l]];
        return r;
    }
    static typename std::make_signed<Us>::type ilane(Iv x, int l) { return x[l]; }
    static Iv to_int(Uv u) { return reinterpret_cast<Iv>(u); }
    static void set_ilane(Iv& x, int l, typename std::make_signed<Us>::type v) { x[l] = v; }
};

// Division: an approximate reciprocal and Newton steps where the instruction set has a
// fast reciprocal for the type (float: one step, 2-3 ulp; double on AVX-512: two steps from
// the 14-bit estimate and a correction of the quotient, about 1 ulp), a true division
// otherwise.
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
        return a * r;
    } else {
        return a / b;
    }
#else
    return a / b;
#endif
}

#define CISREG_VEC_OPS(T, UT, IT, B)    \
    template <>                         \
    struct Ops<simd::VecTypes<T, B>::R> \
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
