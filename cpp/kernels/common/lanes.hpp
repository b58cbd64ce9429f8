// Lane types of the row functions.
//
// Every row function in kernels/common is written once, for a "lane type" R: either a
// scalar T (float or double: one row at a time, the reference, and what a CUDA thread
// runs) or a CPU vector of V values of T (V rows at once, one per SIMD lane; see
// kernels/cpu/simd.hpp). Arithmetic operators work on both; everything else goes through
// Ops<R>, specialised here for the scalars and in kernels/cpu/simd.hpp for the vectors.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define CISREG_HD __host__ __device__ inline
#else
#define CISREG_HD inline
#endif

// The kernels that include these headers are compiled once per instruction-set level
// (CMakeLists.txt) and linked into one library. Their inline functions must not share
// mangled names across those copies, or the linker keeps one copy for all (an AVX-512
// body called from the baseline kernel). Every inline function of kernels/common
// therefore lives in an inline namespace named after the instruction set it is compiled for.
#if defined(__CUDACC__)
#define CISREG_ISA_NS isa_cuda
#elif defined(__AVX512F__)
#define CISREG_ISA_NS isa_avx512
#elif defined(__AVX2__) && defined(__FMA__)
#define CISREG_ISA_NS isa_avx2
#elif defined(__AVX__)
#define CISREG_ISA_NS isa_avx
#else
#define CISREG_ISA_NS isa_base
#endif

namespace cisreg {
inline namespace CISREG_ISA_NS {

// Reinterpret the bits of a value (a builtin where there is one, so that loops around it
// still vectorise).
template <class To, class From>
CISREG_HD To bit_cast(const From& v) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast needs types of one size");
#if defined(__CUDACC__)
    To out;
    memcpy(&out, &v, sizeof out);
    return out;
#elif defined(__has_builtin) && __has_builtin(__builtin_bit_cast)
    return __builtin_bit_cast(To, v);
#else
    To out;
    std::memcpy(&out, &v, sizeof out);
    return out;
#endif
}

template <class R>
struct Ops;  // T: scalar type; U / Us: unsigned lanes / one unsigned lane; M: comparison mask; V: lanes

// The scalar lane types. Masks are bool; `ones(m)` turns a mask into all-ones bits.
template <class Tp, class UT>
struct ScalarOps {
    using T = Tp;
    using U = UT;                                   // unsigned integer lanes of T's width
    using Us = UT;                                  // the scalar unsigned type of one lane
    using I = typename std::make_signed<UT>::type;  // signed integer lanes (codes, indices)
    using M = bool;
    static constexpr int V = 1;
    CISREG_HD static T splat(T x) { return x; }
    CISREG_HD static T abs(T x) { return x < T(0) ? -x : x; }
    CISREG_HD static T min(T a, T b) { return b < a ? b : a; }
    CISREG_HD static T max(T a, T b) { return a < b ? b : a; }
    CISREG_HD static T select(M m, T a, T b) { return m ? a : b; }
    CISREG_HD static U bits(T x) { return bit_cast<U>(x); }
    CISREG_HD static T from_bits(U u) { return bit_cast<T>(u); }
    CISREG_HD static U ones(M m) { return m ? ~U(0) : U(0); }
    CISREG_HD static T div(T a, T b) { return a / b; }
    CISREG_HD static T to_real(U u) { return static_cast<T>(static_cast<typename std::make_signed<U>::type>(u)); }
    CISREG_HD static bool any(M m) { return m; }
    CISREG_HD static T lane(T x, int) { return x; }
    CISREG_HD static void set_lane(T& x, int, T v) { x = v; }
    CISREG_HD static T hsum(T x) { return x; }
    // tab[idx] (n: the table's size, which lane types use to pick a lookup method)
    CISREG_HD static T lookup(const T* tab, I idx, int32_t) { return tab[idx]; }
    CISREG_HD static I ilane(I x, int) { return x; }
    CISREG_HD static I to_int(U u) { return static_cast<I>(u); }
    CISREG_HD static void set_ilane(I& x, int, I v) { x = v; }
};
template <>
struct Ops<float> : ScalarOps<float, uint32_t> {};
template <>
struct Ops<double> : ScalarOps<double, uint64_t> {};

template <class R>
using scalar_of = typename Ops<R>::T;

}  // namespace CISREG_ISA_NS
}  // namespace cisreg
