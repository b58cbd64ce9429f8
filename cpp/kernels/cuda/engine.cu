// The device-side model (kernels/cuda/engine.cuh), the reductions and the Adam kernel.
#include "kernels/cuda/engine.cuh"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "cisreg/error.hpp"

namespace cisreg::cuda {

void fail(cudaError_t e, const char* what) {
    std::string msg =
        std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    if (e == cudaErrorMemoryAllocation)
        msg += "; the device is out of memory: use smaller batches, float32, or keep the data in host memory";
    cudaGetLastError();  // clear a sticky launch error where possible
    throw std::runtime_error(msg);
}

__global__ void reduce_groups(const double* __restrict__ wacc, int64_t W, int32_t RL, int64_t group,
                              double* __restrict__ part) {
    const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t g = blockIdx.y;
    if (s >= RL) return;
    const int64_t w0 = g * group, w1 = w0 + group < W ? w0 + group : W;
    double acc = 0.0;
    for (int64_t w = w0; w < w1; ++w) acc += wacc[w * RL + s];
    part[g * RL + s] = acc;
}

__global__ void reduce_final(const double* __restrict__ part, int64_t G, int32_t RL, double* __restrict__ S) {
    const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (s >= RL) return;
    double acc = 0.0;
    for (int64_t g = 0; g < G; ++g) acc += part[g * RL + s];
    S[s] = acc;
}

__global__ void adam_kernel(int64_t P, double* theta, const double* grad, double* m, double* v, const double* l2,
                            const uint8_t* mask, double reads, double b1, double one_b1, double b2, double one_b2,
                            double lr_t, double eps, DevResult* res) {
    const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= P) return;
    if (res->flags & (kNonFiniteLoss | kNonFiniteGrad | kBadCodes | kBadTargets | kBadWeights)) return;
    const double th = theta[j];
    // grad /= reads; grad += l2 * theta
    const double g = __dadd_rn(__ddiv_rn(grad[j], reads), __dmul_rn(l2[j], th));
    // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2
    const double mj = __dadd_rn(__dmul_rn(m[j], b1), __dmul_rn(one_b1, g));
    const double vj = __dadd_rn(__dmul_rn(v[j], b2), __dmul_rn(one_b2, __dmul_rn(g, g)));
    m[j] = mj;
    v[j] = vj;
    double st = __dmul_rn(__ddiv_rn(mj, __dadd_rn(__dsqrt_rn(vj), eps)), lr_t);
    if (!mask[j]) st = 0.0;
    const double nt = __dsub_rn(th, st);
    theta[j] = nt;
    if (!isfinite(nt)) atomicOr(&res->flags, kNonFiniteTheta);
}

namespace {
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t r16(int64_t x) { return (x + 15) / 16 * 16; }
int32_t at_least1(int32_t x) { return x > 0 ? x : 1; }
}  // namespace

template <class T>
Engine<T>::Engine(const Model& m, const Plan<T>& p) : m_(&m), meta_(m, p) {
    img_.reserve(meta_.bytes(), "cudaMalloc (model image)");
    std::vector<unsigned char> host(meta_.bytes());
    const auto base = reinterpret_cast<uintptr_t>(img_.as<unsigned char>());
    meta_.fill(host.data(), base);
    check(cudaMemcpy(img_.as<void>(), host.data(), host.size(), cudaMemcpyHostToDevice), "upload of the model image");
    views_ = reinterpret_cast<const DevViews<T>*>(base + Image<T>::views_offset());
    recipe_ = reinterpret_cast<const Recipe<T>*>(base + meta_.recipe_offset());
    codes_bytes_ = static_cast<int32_t>(r16(int64_t{meta_.rows().L} * 4));
}

template <class T>
void Engine<T>::refresh(const double* theta, cudaStream_t s) {
    const int64_t n = meta_.n_items();
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(cdiv(n, 256), 1024));
    refresh_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, s>>>(recipe_, theta, n);
    check(cudaGetLastError(), "launch of the plan refresh");
}

template <class T>
int64_t Engine<T>::loss_thread_bytes(bool cot) const {
    const RowSizes& z = meta_.rows();
    const int64_t words = 2 * at_least1(z.S) + at_least1(z.NR) + at_least1(z.G) + at_least1(cot ? z.M_cot : z.M_meas) +
                          at_least1(cot ? z.NT_cot : z.NT_meas);
    return codes_bytes_ + r16(words * static_cast<int64_t>(sizeof(T)));
}

template <class T>
Split Engine<T>::split(int64_t b, bool grad, bool cot) const {
    Split sp;
    if (b <= 0) return sp;
    const int64_t RL = grad ? meta_.region(cot).len : 1;
    int64_t wmax = std::min<int64_t>(kMaxWarps, kArenaBudget / (32 * loss_thread_bytes(cot)));
    wmax = std::min<int64_t>(wmax, kAccBudget / (RL * 8));
    wmax = std::max<int64_t>(wmax, 1);
    const int64_t W = std::min<int64_t>(wmax, std::max<int64_t>(1, cdiv(b, kMinRowsPerWarp)));
    sp.rpw = cdiv(cdiv(b, W), 32) * 32;
    sp.W = cdiv(b, sp.rpw);
    return sp;
}

template <class T>
void Engine<T>::loss_part(const DevData& d, const int64_t* rows, int64_t b, const Split& sp, int64_t w0, bool grad,
                          bool cot, int32_t nonneg_from, int32_t positive_to, double* nll_rows, DevResult* res,
                          cudaStream_t s) {
    if (b <= 0) return;
    const RegionLayout& rg = meta_.region(cot);
    const RowSizes& z = meta_.rows();
    const int32_t RL = grad ? rg.len : 1;
    LossArgs<T> a;
    a.views = views_;
    a.d = d;
    a.rows = rows;
    a.b = b;
    a.rpw = sp.rpw;
    a.w0 = w0;
    a.n_warps = cdiv(b, sp.rpw);
    a.region_len = RL;
    a.reg = rg;
    // per-warp regions in shared memory when they fit (up to 96 KiB per block)
    constexpr size_t kSmem = 96 * 1024;
    int wpb = 4;
    while (wpb > 1 && static_cast<size_t>(wpb) * RL * 8 > kSmem) wpb /= 2;
    a.smem = static_cast<size_t>(wpb) * RL * 8 <= kSmem;
    if (!a.smem) wpb = 4;
    const size_t smem = a.smem ? static_cast<size_t>(wpb) * RL * 8 : 0;
    wacc_.reserve(static_cast<size_t>(sp.W) * RL * 8, "cudaMalloc (accumulators)");
    a.wacc = wacc_.as<double>();
    a.thread_bytes = loss_thread_bytes(cot);
    arena_.reserve(static_cast<size_t>(a.n_warps * 32 * a.thread_bytes), "cudaMalloc (row scratch)");
    a.arena = arena_.as<unsigned char>();
    a.codes_bytes = codes_bytes_;
    const int32_t S1 = at_least1(z.S), NR1 = at_least1(z.NR), G1 = at_least1(z.G);
    const int32_t M1 = at_least1(cot ? z.M_cot : z.M_meas);
    a.o_ddG = S1;
    a.o_res = 2 * S1;
    a.o_gs = 2 * S1 + NR1;
    a.o_ms = 2 * S1 + NR1 + G1;
    a.o_y = 2 * S1 + NR1 + G1 + M1;
    a.L = z.L;
    a.A = z.A;
    a.NT = n_targets(cot);
    a.nonneg_from = nonneg_from;
    a.positive_to = positive_to;
    a.nll_rows = nll_rows;
    a.flags = &res->flags;
    stages::visit_gpmap<T>(m_->gp,
                           [&](auto gp) { launch_loss<T, decltype(gp)>(m_->meas.kind, cot, grad, a, wpb, smem, s); });
}

template <class T>
void Engine<T>::loss_finish(const Split& sp, bool grad, bool cot, double* grad_dev, DevResult* res, cudaStream_t s) {
    const int32_t RL = grad ? meta_.region(cot).len : 1;
    const int64_t P = m_->n_params;
    sums_.reserve(static_cast<size_t>(RL) * 8, "cudaMalloc (sums)");
    if (sp.W == 0) {
        check(cudaMemsetAsync(sums_.as<void>(), 0, static_cast<size_t>(RL) * 8, s), "cudaMemsetAsync");
    } else {
        const int64_t G = cdiv(sp.W, kGroup);
        part_.reserve(static_cast<size_t>(G) * RL * 8, "cudaMalloc (partial sums)");
        const dim3 g1(static_cast<unsigned>(cdiv(RL, 128)), static_cast<unsigned>(G));
        reduce_groups<<<g1, 128, 0, s>>>(wacc_.as<double>(), sp.W, RL, kGroup, part_.as<double>());
        check(cudaGetLastError(), "launch of the reduction");
        reduce_final<<<static_cast<unsigned>(cdiv(RL, 128)), 128, 0, s>>>(part_.as<double>(), G, RL,
                                                                          sums_.as<double>());
        check(cudaGetLastError(), "launch of the reduction");
    }
    const int64_t threads = grad ? std::max<int64_t>(P, 1) : 1;
    flush_kernel<T><<<static_cast<unsigned>(cdiv(threads, 128)), 128, 0, s>>>(recipe_, cot, sums_.as<double>(),
                                                                              grad ? grad_dev : nullptr, res);
    check(cudaGetLastError(), "launch of the gradient flush");
}

template <class T>
void Engine<T>::loss(const DevData& d, const int64_t* rows, int64_t b, bool grad, bool cot, double* grad_dev,
                     double* nll_rows, DevResult* res, cudaStream_t s) {
    check(cudaMemsetAsync(res, 0, sizeof(DevResult), s), "cudaMemsetAsync");
    const Split sp = split(b, grad, cot);
    const int32_t nonneg_from = cot ? 1 : m_->meas.first_nonnegative();
    const int32_t positive_to = cot ? 0 : static_cast<int32_t>(m_->meas.positive_cols());
    loss_part(d, rows, b, sp, 0, grad, cot, nonneg_from, positive_to, nll_rows, res, s);
    loss_finish(sp, grad, cot, grad_dev, res, s);
}

template <class T>
void Engine<T>::phi(const DevData& d, const int64_t* rows, int64_t b, double* phi, double* dG, double* logp,
                    double* logZ, double* placements, unsigned* flags, cudaStream_t s) {
    if (b <= 0) return;
    const RowSizes& z = meta_.rows();
    PhiArgs<T> a;
    a.views = views_;
    a.d = d;
    a.rows = rows;
    a.b = b;
    a.codes_bytes = codes_bytes_;
    const int32_t S1 = at_least1(z.S), NR1 = at_least1(z.NR), G1 = at_least1(z.G), K1 = at_least1(z.K);
    a.o_res = S1;
    a.o_gs = S1 + NR1;
    a.o_lp = S1 + NR1 + G1;
    a.thread_bytes = codes_bytes_ + r16(int64_t{S1 + NR1 + G1 + K1} * static_cast<int64_t>(sizeof(T)));
    int64_t threads = std::min<int64_t>(cdiv(b, kBlock) * kBlock, int64_t{1} << 16);
    threads = std::max<int64_t>(kBlock, std::min<int64_t>(threads, kArenaBudget / a.thread_bytes / kBlock * kBlock));
    arena_.reserve(static_cast<size_t>(threads * a.thread_bytes), "cudaMalloc (row scratch)");
    a.arena = arena_.as<unsigned char>();
    a.L = z.L;
    a.A = z.A;
    a.S = z.S;
    a.NR = z.NR;
    a.K = z.K;
    a.details = logp || logZ;
    a.phi = phi;
    a.dG = dG;
    a.logp = logp;
    a.logZ = logZ;
    a.placements = placements;
    a.flags = flags;
    stages::visit_gpmap<T>(m_->gp, [&](auto gp) { launch_phi<T, decltype(gp)>(a, threads, s); });
}

template class Engine<float>;
template class Engine<double>;

}  // namespace cisreg::cuda
