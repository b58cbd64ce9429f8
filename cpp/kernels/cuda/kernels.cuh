// The CUDA kernels (nvcc only). They run the CPU's row functions (kernels/common) with the
// lane type R = T: one thread is one lane, and a warp of 32 threads plays the part of the
// CPU's SIMD vector of 32 lanes.
//
// Why a thread per row, and not a warp per row: every row function is written for lanes
// that each hold one row, with control flow that does not depend on the data (selects, no
// branches), so a warp runs 32 rows in lockstep without divergence, exactly as a SIMD
// vector does. Splitting one row over a warp would need a second copy of the math (the
// hidden units of a row spread over lanes, with reductions inside every row function).
//
// Deterministic reductions. The batch is cut into fixed chunks of `rpw` positions, one per
// warp (Engine::split: it depends on the model and the batch size only, never on the
// device or the launch). A warp's lanes take the positions of its chunk 32 at a time.
// Every gradient contribution goes through WarpAcc::add, called by all 32 lanes with the
// same slot (the row functions' calls do not depend on the data): the 32 values are summed
// in float64 by a fixed butterfly of shuffles and lane 0 adds the sum to the warp's own
// accumulator region (shared memory, or global memory when too large). Regions are then
// summed over warps in a fixed two-level order (reduce_groups, reduce_final) and mapped
// onto theta by the flush map (device_plan.hpp). No floating-point atomics anywhere: the
// result is the same bit for bit on every run (integer atomics only set error flags).
#pragma once
#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/common/site_rows.hpp"
#include "kernels/common/stages.hpp"
#include "kernels/cuda/device_plan.hpp"
#include "kernels/cuda/image.hpp"

namespace cisreg::cuda {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kBlock = 128;  // threads per block of the row kernels (4 warps)

// Flags of DevResult::flags.
constexpr unsigned kBadCodes = 1, kBadTargets = 2, kBadWeights = 4, kNonFiniteLoss = 8, kNonFiniteGrad = 16,
                   kNonFiniteTheta = 32;

struct DevResult {
    double loss;
    unsigned flags;
    unsigned pad;
};

// Data of a batch: on the device, or host memory mapped into it.
struct DevData {
    const uint8_t* codes = nullptr;  // [n, L]
    int64_t L = 0;
    const double* tg64 = nullptr;  // [n or b, cols] (one of the two, or neither for phi)
    const float* tg32 = nullptr;
    int32_t cols = 0;
    bool by_position = false;         // targets indexed by batch position, not by row
    const double* weights = nullptr;  // [n] or null
};

template <class T>
struct LossArgs {
    const DevViews<T>* views = nullptr;
    DevData d;
    const int64_t* rows = nullptr;  // [b] batch position -> row, or null (position = row)
    int64_t b = 0;                  // positions of this launch
    int64_t rpw = 32;               // positions per warp (a multiple of 32)
    int64_t w0 = 0;                 // global index of the launch's first warp (its region)
    int64_t n_warps = 0;            // warps of this launch
    int32_t region_len = 1;         // RL: 1 without gradient
    RegionLayout reg;
    bool smem = false;               // regions in shared memory
    double* wacc = nullptr;          // [W, RL]
    unsigned char* arena = nullptr;  // per-thread scratch of the launch's warps
    int64_t thread_bytes = 0;
    // per-thread scratch: codes int32 [L] at 0, then T arrays at these element offsets
    int64_t codes_bytes = 0;
    int32_t o_ddG = 0, o_res = 0, o_gs = 0, o_ms = 0, o_y = 0;
    int32_t L = 0, A = 4, NT = 0;
    int32_t nonneg_from = 0, positive_to = 0;  // target checks (ops.hpp check_targets)
    double* nll_rows = nullptr;                // [b] or null
    unsigned* flags = nullptr;
};

template <class T>
struct PhiArgs {
    const DevViews<T>* views = nullptr;
    DevData d;
    const int64_t* rows = nullptr;
    int64_t b = 0;
    unsigned char* arena = nullptr;
    int64_t thread_bytes = 0, codes_bytes = 0;
    int32_t o_res = 0, o_gs = 0, o_lp = 0;
    int32_t L = 0, A = 4, S = 0, NR = 0, K = 0;
    bool details = false;
    double *phi = nullptr, *dG = nullptr, *logp = nullptr, *logZ = nullptr, *placements = nullptr;
    unsigned* flags = nullptr;
};

// float64 sum over the warp: a fixed butterfly, so every lane ends with the same bits.
__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) x += __shfl_xor_sync(kFull, x, m);
    return x;
}

// The accumulator the row functions see (acc.add(slot, lanes), acc.scatter(theta index,
// code, lanes)): contributions of the warp's 32 rows, summed in float64, added by one lane
// to the warp's region. Inactive lanes (past the end of the chunk) contribute 0.
struct WarpAcc {
    double* region;
    int32_t off;
    int lane;
    bool active;
    double* scat;  // region + RegionLayout::scatter0, or null
    template <class V>
    __device__ __forceinline__ void add(int32_t i, V v) {
        const double x = warp_sum(active ? static_cast<double>(v) : 0.0);
        if (lane == 0) region[off + i] += x;
    }
    // Per-lane targets: the lowest lane of each group of lanes with one target adds the
    // group's values in lane order.
    template <class I, class V>
    __device__ __forceinline__ void scatter(int64_t base, I idx, V v) {
        const int64_t j = base + static_cast<int64_t>(idx);
        const double x = active ? static_cast<double>(v) : 0.0;
        const unsigned peers = __match_any_sync(kFull, static_cast<unsigned long long>(j));
        double sum = 0.0;
        for (int l = 0; l < 32; ++l) {
            const double xl = __shfl_sync(kFull, x, l);
            if ((peers >> l) & 1u) sum += xl;
        }
        if (lane == __ffs(static_cast<int>(peers)) - 1 && j >= 0 && scat) scat[j] += sum;
        __syncwarp();  // the next call's leader of this target may be another lane
    }
};

template <class T>
__device__ __forceinline__ const DevViews<T>& load_views(const DevViews<T>* src, unsigned char* raw) {
    static_assert(sizeof(DevViews<T>) % 8 == 0, "views are copied in 8-byte words");
    const auto* s = reinterpret_cast<const unsigned long long*>(src);
    auto* d = reinterpret_cast<unsigned long long*>(raw);
    for (int i = static_cast<int>(threadIdx.x); i < static_cast<int>(sizeof(DevViews<T>) / 8);
         i += static_cast<int>(blockDim.x))
        d[i] = s[i];
    __syncthreads();
    return *reinterpret_cast<const DevViews<T>*>(raw);
}

// Codes of one row into ct [L] (int32); codes outside the alphabet are replaced by 0 and
// reported (never a table lookup outside the tables).
__device__ __forceinline__ unsigned load_codes(const uint8_t* x, int32_t L, int32_t A, int32_t* ct) {
    unsigned bad = 0;
    for (int32_t p = 0; p < L; ++p) {
        const int32_t c = x[p];
        const bool ok = c < A;
        bad |= ok ? 0u : kBadCodes;
        ct[p] = ok ? c : 0;
    }
    return bad;
}

// Loss (and gradient) of a chunk of rows per warp: forward, backward and the warp's share
// of the reduction in one pass (fused: nothing per row is written to global memory except
// the optional per-row NLL).
template <class T, class GP, class MS, bool GRAD>
__global__ void __launch_bounds__(kBlock) loss_kernel(const LossArgs<T> a) {
    extern __shared__ double dyn[];
    __shared__ alignas(16) unsigned char vraw[sizeof(DevViews<T>)];
    const DevViews<T>& V = load_views(a.views, vraw);
    const int lane = static_cast<int>(threadIdx.x & 31u);
    const int wib = static_cast<int>(threadIdx.x >> 5);
    const int64_t wl = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + wib;
    if (wl >= a.n_warps) return;  // the whole warp (no block barrier follows)
    const int64_t w = a.w0 + wl;
    const int32_t RL = GRAD ? a.region_len : 1;
    double* region = a.smem ? dyn + static_cast<int64_t>(wib) * RL : a.wacc + w * RL;
    for (int32_t i = lane; i < RL; i += 32) region[i] = 0.0;
    __syncwarp();

    unsigned char* my = a.arena + (wl * 32 + lane) * a.thread_bytes;
    int32_t* ct = reinterpret_cast<int32_t*>(my);
    T* dG = reinterpret_cast<T*>(my + a.codes_bytes);
    T* ddG = dG + a.o_ddG;
    T* res = dG + a.o_res;
    T* gs = dG + a.o_gs;
    T* ms = dG + a.o_ms;
    T* y = dG + a.o_y;
    const auto& gv = GP::view(V);
    const typename MS::View mv = MS::view(V);
    double* scat = GRAD && a.reg.scatter0 >= 0 ? region + a.reg.scatter0 : nullptr;
    WarpAcc sacc{region, a.reg.site0, lane, false, scat};
    WarpAcc gacc{region, a.reg.gp0, lane, false, scat};
    WarpAcc macc{region, a.reg.meas0, lane, false, scat};

    const int64_t i0 = wl * a.rpw;
    const int64_t i1 = i0 + a.rpw < a.b ? i0 + a.rpw : a.b;
    double nll_acc = 0.0;
    unsigned bad = 0;
    for (int64_t i = i0; i < i1; i += 32) {
        const int64_t pos = i + lane;
        const bool active = pos < i1;
        const int64_t q = active ? pos : i;  // inactive lanes repeat the step's first row, with weight 0
        const int64_t row = a.rows ? a.rows[q] : q;
        bad |= load_codes(a.d.codes + row * a.d.L, a.L, a.A, ct);
        const int64_t at = a.d.by_position ? q : row;
        for (int32_t c = 0; c < a.NT; ++c) {
            const int64_t k = at * a.d.cols + c;
            const double v = a.d.tg64 ? a.d.tg64[k] : static_cast<double>(a.d.tg32[k]);
            const bool ok = isfinite(v) && (c < a.nonneg_from || v >= 0.0) && (c >= a.positive_to || v > 0.0);
            bad |= ok ? 0u : kBadTargets;
            y[c] = static_cast<T>(v);
        }
        T wgt = T(0);
        if (active) {
            const double wv = a.d.weights ? a.d.weights[row] : 1.0;
            bad |= (isfinite(wv) && wv >= 0.0) ? 0u : kBadWeights;
            wgt = static_cast<T>(wv);
        }
        rows::sites_forward(V.sites, ct, dG, res);
        const T phi = GP::forward(gv, dG, gs, false);
        T nll = MS::template forward<GRAD>(mv, phi, y, wgt, ms);
        const bool finite = (phi - phi) == T(0);  // a non-finite phi poisons the loss, never silently
        if (!finite) nll = T(NAN);
        if (active) {
            nll_acc += static_cast<double>(nll);
            if (a.nll_rows) a.nll_rows[pos] = static_cast<double>(nll);
        }
        if constexpr (GRAD) {
            sacc.active = gacc.active = macc.active = active;
            T dphi;
            T* const scr[1] = {ms};
            MS::template backward<1>(mv, 1, &phi, scr, macc, &dphi);
            if (!finite) dphi = T(NAN);
            GP::vjp(gv, gs, phi, dphi, ddG, gacc);
            const int32_t* const cts[1] = {ct};
            const T* const dds[1] = {ddG};
            const T* const rss[1] = {res};
            if (a.A == 4)
                rows::sites_vjp<1, 4>(V.sites, 1, cts, dds, rss, sacc);
            else
                rows::sites_vjp<1, 0>(V.sites, 1, cts, dds, rss, sacc);
        }
    }
    const double tot = warp_sum(nll_acc);
    if (lane == 0) region[0] += tot;
    if (bad) atomicOr(a.flags, bad);
    __syncwarp();
    if (a.smem)
        for (int32_t i = lane; i < RL; i += 32) a.wacc[w * RL + i] = region[i];
}

// phi and details, one row per thread (grid-stride).
template <class T, class GP>
__global__ void __launch_bounds__(kBlock) phi_kernel(const PhiArgs<T> a) {
    __shared__ alignas(16) unsigned char vraw[sizeof(DevViews<T>)];
    const DevViews<T>& V = load_views(a.views, vraw);
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t nth = static_cast<int64_t>(gridDim.x) * blockDim.x;
    unsigned char* my = a.arena + tid * a.thread_bytes;
    int32_t* ct = reinterpret_cast<int32_t*>(my);
    T* dG = reinterpret_cast<T*>(my + a.codes_bytes);
    T* res = dG + a.o_res;
    T* gs = dG + a.o_gs;
    T* lp = dG + a.o_lp;
    const auto& gv = GP::view(V);
    unsigned bad = 0;
    for (int64_t pos = tid; pos < a.b; pos += nth) {
        const int64_t row = a.rows ? a.rows[pos] : pos;
        bad |= load_codes(a.d.codes + row * a.d.L, a.L, a.A, ct);
        rows::sites_forward(V.sites, ct, dG, res);
        const T phi = GP::forward(gv, dG, gs, a.details);
        a.phi[pos] = static_cast<double>(phi);
        if (a.logZ) a.logZ[pos] = static_cast<double>(GP::logZ(gv, gs));
        if (a.logp) {
            GP::state_logp(gv, gs, lp);
            for (int32_t k = 0; k < a.K; ++k) a.logp[pos * a.K + k] = static_cast<double>(lp[k]);
        }
        if (a.dG)
            for (int32_t s = 0; s < a.S; ++s) a.dG[pos * a.S + s] = static_cast<double>(dG[s]);
        if (a.placements)
            for (int32_t r = 0; r < a.NR; ++r) a.placements[pos * a.NR + r] = static_cast<double>(res[r]);
    }
    if (bad) atomicOr(a.flags, bad);
}

// Sums of the warps' regions in groups of `group` warps (grid.y = group index), in warp order.
__global__ void reduce_groups(const double* __restrict__ wacc, int64_t W, int32_t RL, int64_t group,
                              double* __restrict__ part);
// S[s] = sum over groups in group order.
__global__ void reduce_final(const double* __restrict__ part, int64_t G, int32_t RL, double* __restrict__ S);

template <class T>
__global__ void refresh_kernel(const Recipe<T>* r, const double* theta, int64_t n_items) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t nth = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = tid; i < n_items; i += nth) refresh_item(*r, theta, i);
    if (tid == 0) refresh_scalars(*r, theta);
}

template <class T>
__global__ void flush_kernel(const Recipe<T>* r, bool cot, const double* S, double* grad, DevResult* res) {
    const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j == 0) {
        res->loss = S[0];
        if (!isfinite(S[0])) atomicOr(&res->flags, kNonFiniteLoss);
    }
    if (!grad || j >= r->P) return;
    const double g = flush_grad(cot ? r->flush_cot : r->flush_meas, r->coef, S, j);
    grad[j] = g;
    if (!isfinite(g)) atomicOr(&res->flags, kNonFiniteGrad);
}

// One Adam step (python/cisreg/training/adam.py, with the loop's g = grad / rows + l2 theta),
// rounding as numpy does (no contractions), unless the loss or gradient is not finite.
__global__ void adam_kernel(int64_t P, double* theta, const double* grad, double* m, double* v, const double* l2,
                            const uint8_t* mask, double reads, double b1, double one_b1, double b2, double one_b2,
                            double lr_t, double eps, DevResult* res);

// The launches of one (T, G-P map): the loss of measurement `kind` (or, with cot, the
// cotangent of phi_vjp), with or without the gradient. Defined in loss_<T>_<gp>.cu.
template <class T, class GP>
void launch_loss(MeasKind kind, bool cot, bool grad, const LossArgs<T>& a, int warps_per_block, size_t smem,
                 cudaStream_t s);
template <class T, class GP>
void launch_phi(const PhiArgs<T>& a, int64_t threads, cudaStream_t s);

}  // namespace cisreg::cuda
