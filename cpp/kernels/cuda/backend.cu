// The CUDA entry points of the dispatch (kernels/cuda/cuda.hpp): one call with host
// arrays. The batch's rows are gathered on the host and streamed to the device in
// segments of whole warps of the split (Engine::split), so any batch fits and the result
// does not depend on the segment size. For repeated calls on the same data (a fit), use the
// device-resident Session (kernels/cuda/session.hpp) instead.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cisreg/error.hpp"
#include "kernels/cuda/cuda.hpp"
#include "kernels/cuda/engine.cuh"
#include "kernels/cuda/session.hpp"

namespace cisreg::cuda {

bool available() {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    return n > 0;
}

DeviceInfo device_info(int device) {
    DeviceInfo info;
    info.built = true;
    cudaRuntimeGetVersion(&info.runtime_version);
    cudaDriverGetVersion(&info.driver_version);
    const cudaError_t e = cudaGetDeviceCount(&info.count);
    if (e != cudaSuccess) {
        info.count = 0;
        info.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
        cudaGetLastError();
        return info;
    }
    if (info.count == 0) {
        info.error = "no CUDA device is visible";
        return info;
    }
    if (device < 0 || device >= info.count) {
        info.error =
            "device " + std::to_string(device) + " does not exist (" + std::to_string(info.count) + " visible)";
        return info;
    }
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        info.error = "cudaGetDeviceProperties failed";
        cudaGetLastError();
        return info;
    }
    info.device = device;
    info.name = p.name;
    info.cc_major = p.major;
    info.cc_minor = p.minor;
    info.sm_count = p.multiProcessorCount;
    info.total_bytes = static_cast<int64_t>(p.totalGlobalMem);
    int cur = 0;
    size_t fr = 0, tot = 0;
    if (cudaGetDevice(&cur) == cudaSuccess && cudaSetDevice(device) == cudaSuccess &&
        cudaMemGetInfo(&fr, &tot) == cudaSuccess)
        info.free_bytes = static_cast<int64_t>(fr);
    cudaSetDevice(cur);
    cudaGetLastError();
    return info;
}

void require_device() {
    if (!available())
        throw InputError(
            "device='cuda': no CUDA device is visible (cisreg.cuda_available() is False); use "
            "device='cpu'");
}

namespace {

// Host staging budget of one segment.
constexpr int64_t kStageBytes = int64_t{256} << 20;

// Rows of one segment: whole warps of the split, within the staging budget.
int64_t segment_rows(const Split& sp, int64_t per_row_bytes) {
    const int64_t rows = std::max<int64_t>(1, kStageBytes / std::max<int64_t>(per_row_bytes, 1));
    return std::max<int64_t>(1, rows / sp.rpw) * sp.rpw;
}

// The host arrays of one segment of batch positions [p0, p1), by position.
struct Staging {
    std::vector<uint8_t> codes;
    std::vector<double> targets, weights;
    DevBuf d_codes, d_targets, d_weights;
    DevData dev;

    void stage(const SeqBatch& batch, const Targets* tg, const double* weights, int64_t p0, int64_t p1) {
        const int64_t nb = p1 - p0, L = batch.L;
        dev = DevData{};
        dev.L = L;
        codes.resize(static_cast<size_t>(nb * L));
        for (int64_t i = 0; i < nb; ++i) {
            const int64_t r = batch.rows ? batch.rows[p0 + i] : p0 + i;
            std::memcpy(codes.data() + i * L, batch.codes + r * L, static_cast<size_t>(L));
        }
        d_codes.reserve(std::max<size_t>(codes.size(), 1), "cudaMalloc (codes)");
        check(cudaMemcpy(d_codes.as<void>(), codes.data(), codes.size(), cudaMemcpyHostToDevice), "upload of codes");
        dev.codes = d_codes.as<uint8_t>();
        if (tg) {
            const int64_t C = tg->cols;
            targets.resize(static_cast<size_t>(nb * C));
            for (int64_t i = 0; i < nb; ++i) {
                const int64_t pos = p0 + i;
                const int64_t at = tg->by_position ? pos : (batch.rows ? batch.rows[pos] : pos);
                for (int64_t c = 0; c < C; ++c) targets[static_cast<size_t>(i * C + c)] = tg->at(at, c);
            }
            d_targets.reserve(std::max<size_t>(targets.size() * 8, 8), "cudaMalloc (targets)");
            check(cudaMemcpy(d_targets.as<void>(), targets.data(), targets.size() * 8, cudaMemcpyHostToDevice),
                  "upload of targets");
            dev.tg64 = d_targets.as<double>();
            dev.cols = static_cast<int32_t>(C);
            dev.by_position = true;
        }
        if (weights) {
            this->weights.resize(static_cast<size_t>(nb));
            for (int64_t i = 0; i < nb; ++i)
                this->weights[static_cast<size_t>(i)] = weights[batch.rows ? batch.rows[p0 + i] : p0 + i];
            d_weights.reserve(std::max<size_t>(this->weights.size() * 8, 8), "cudaMalloc (weights)");
            check(cudaMemcpy(d_weights.as<void>(), this->weights.data(), this->weights.size() * 8,
                             cudaMemcpyHostToDevice),
                  "upload of weights");
            dev.weights = d_weights.as<double>();
        }
    }
};

[[noreturn]] void report(unsigned flags, const Model& m, const SeqBatch& batch, const Targets* tg,
                         const double* weights) {
    if (flags & kBadCodes) check_codes(m.sites.alphabet_size, batch);
    if ((flags & kBadTargets) && tg && !tg->by_position) check_targets(m, batch, *tg);
    if (flags & kBadWeights) check_weights(batch, weights);
    throw InputError("codes, targets or weights: an invalid value was found");
}

template <class T>
double run_loss(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                const double* theta, const Exec& exec, double* grad, double* nll_rows, bool cot) {
    require_device();
    const Model& m = *plan.model;
    cudaStream_t s = static_cast<cudaStream_t>(exec.stream);
    Engine<T> eng(m, plan);
    const int64_t P = m.n_params;
    DevBuf d_theta, d_grad, d_res, d_nll;
    d_theta.reserve(static_cast<size_t>(std::max<int64_t>(P, 1)) * 8, "cudaMalloc (theta)");
    check(cudaMemcpy(d_theta.as<void>(), theta, static_cast<size_t>(P) * 8, cudaMemcpyHostToDevice), "upload of theta");
    eng.refresh(d_theta.as<double>(), s);
    const bool want_grad = grad != nullptr;
    if (want_grad) d_grad.reserve(static_cast<size_t>(std::max<int64_t>(P, 1)) * 8, "cudaMalloc (gradient)");
    d_res.reserve(sizeof(DevResult), "cudaMalloc (result)");
    DevResult* res = d_res.as<DevResult>();
    check(cudaMemsetAsync(res, 0, sizeof(DevResult), s), "cudaMemsetAsync");
    const int64_t b = batch.b;
    const Split sp = eng.split(b, want_grad, cot);
    const int64_t per_row = batch.L + tg.cols * 8 + (weights ? 8 : 0) + (nll_rows ? 8 : 0);
    const int64_t seg = segment_rows(sp, per_row);
    const int32_t nonneg_from = cot ? 1 : m.meas.first_nonnegative();
    const int32_t positive_to = cot ? 0 : static_cast<int32_t>(m.meas.positive_cols());
    Staging st;
    if (nll_rows) d_nll.reserve(static_cast<size_t>(std::min(seg, b)) * 8 + 8, "cudaMalloc (per-row loss)");
    for (int64_t p0 = 0; p0 < b; p0 += seg) {
        const int64_t p1 = std::min(b, p0 + seg);
        st.stage(batch, &tg, weights, p0, p1);
        eng.loss_part(st.dev, nullptr, p1 - p0, sp, p0 / sp.rpw, want_grad, cot, nonneg_from, positive_to,
                      nll_rows ? d_nll.as<double>() : nullptr, res, s);
        if (nll_rows)
            check(cudaMemcpyAsync(nll_rows + p0, d_nll.as<double>(), static_cast<size_t>(p1 - p0) * 8,
                                  cudaMemcpyDeviceToHost, s),
                  "download of the per-row loss");
        check(cudaStreamSynchronize(s), "loss kernel");  // the staging buffers are reused
    }
    eng.loss_finish(sp, want_grad, cot, want_grad ? d_grad.as<double>() : nullptr, res, s);
    DevResult out;
    check(cudaMemcpyAsync(&out, res, sizeof out, cudaMemcpyDeviceToHost, s), "download of the loss");
    if (want_grad)
        check(cudaMemcpyAsync(grad, d_grad.as<void>(), static_cast<size_t>(P) * 8, cudaMemcpyDeviceToHost, s),
              "download of the gradient");
    check(cudaStreamSynchronize(s), "loss and gradient");
    if (out.flags & (kBadCodes | kBadTargets | kBadWeights)) report(out.flags, m, batch, &tg, weights);
    return out.loss;
}

}  // namespace

template <class T>
void phi_forward(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out) {
    require_device();
    const Model& m = *plan.model;
    cudaStream_t s = static_cast<cudaStream_t>(exec.stream);
    Engine<T> eng(m, plan);
    // the image holds the plan's values (built from this theta): phi needs no refresh
    DevBuf d_out, d_flags;
    const int64_t S = m.sites.n_sites(), K = m.n_states(), NR = m.sites.n_resid();
    const int64_t cols =
        1 + (out.dG ? S : 0) + (out.state_logp ? K : 0) + (out.logZ ? 1 : 0) + (out.placements ? NR : 0);
    const int64_t b = batch.b;
    const int64_t seg = std::max<int64_t>(1, kStageBytes / (batch.L + cols * 8));
    d_flags.reserve(8, "cudaMalloc (flags)");
    check(cudaMemsetAsync(d_flags.as<void>(), 0, 8, s), "cudaMemsetAsync");
    d_out.reserve(static_cast<size_t>(std::min(seg, std::max<int64_t>(b, 1)) * cols) * 8, "cudaMalloc (phi)");
    Staging st;
    for (int64_t p0 = 0; p0 < b; p0 += seg) {
        const int64_t p1 = std::min(b, p0 + seg), nb = p1 - p0;
        st.stage(batch, nullptr, nullptr, p0, p1);
        double* o = d_out.as<double>();
        double* phi = o;
        o += nb;
        double* dG = out.dG ? o : nullptr;
        o += out.dG ? nb * S : 0;
        double* lp = out.state_logp ? o : nullptr;
        o += out.state_logp ? nb * K : 0;
        double* lz = out.logZ ? o : nullptr;
        o += out.logZ ? nb : 0;
        double* pl = out.placements ? o : nullptr;
        eng.phi(st.dev, nullptr, nb, phi, dG, lp, lz, pl, d_flags.as<unsigned>(), s);
        const auto down = [&](double* host, const double* dev, int64_t per) {
            if (host)
                check(
                    cudaMemcpyAsync(host + p0 * per, dev, static_cast<size_t>(nb * per) * 8, cudaMemcpyDeviceToHost, s),
                    "download of phi");
        };
        down(out.phi, phi, 1);
        down(out.dG, dG, S);
        down(out.state_logp, lp, K);
        down(out.logZ, lz, 1);
        down(out.placements, pl, NR);
        check(cudaStreamSynchronize(s), "phi kernel");
    }
    unsigned flags = 0;
    check(cudaMemcpy(&flags, d_flags.as<void>(), sizeof flags, cudaMemcpyDeviceToHost), "download of flags");
    if (flags & kBadCodes) report(flags, m, batch, nullptr, nullptr);
}

template <class T>
double loss_and_grad(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                     const double* theta, const Exec& exec, double* grad, double* nll_rows) {
    return run_loss(plan, batch, tg, weights, theta, exec, grad, nll_rows, false);
}

template <class T>
void phi_vjp(const Plan<T>& plan, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec,
             double* grad) {
    Targets tg;
    tg.f64 = cot;
    tg.cols = 1;
    tg.by_position = true;
    run_loss(plan, batch, tg, nullptr, theta, exec, grad, nullptr, true);
}

#define CISREG_INSTANTIATE(T)                                                                                       \
    template void phi_forward<T>(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&);                      \
    template double loss_and_grad<T>(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, \
                                     const Exec&, double*, double*);                                                \
    template void phi_vjp<T>(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*);
CISREG_INSTANTIATE(float)
CISREG_INSTANTIATE(double)
#undef CISREG_INSTANTIATE

}  // namespace cisreg::cuda
