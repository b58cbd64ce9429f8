// The device-resident fit session (kernels/cuda/session.hpp).
#include "kernels/cuda/session.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cisreg/error.hpp"
#include "kernels/cuda/engine.cuh"

namespace cisreg::cuda {

void require_device();

namespace {
constexpr int kSlots = 8;
// Device memory left free beside the data (workspaces of the kernels) when Residency::Auto
// decides whether the data fit.
constexpr int64_t kWorkspaceReserve = int64_t{2} << 30;

// Makes the session's device current for the scope.
struct DeviceScope {
    int prev = 0;
    explicit DeviceScope(int dev) {
        cudaGetDevice(&prev);
        check(cudaSetDevice(dev), "cudaSetDevice");
    }
    ~DeviceScope() { cudaSetDevice(prev); }
};
}  // namespace

struct Session::Impl {
    Model model;
    Precision prec = Precision::F64;
    int device = 0;
    cudaStream_t stream = nullptr;
    std::unique_ptr<Engine<float>> e32;
    std::unique_ptr<Engine<double>> e64;
    int64_t n = 0, L = 0, cols = 0;
    bool on_device = true;
    DevBuf d_codes, d_tg, d_w;
    std::vector<const void*> registered;  // host ranges pinned for Residency::Host
    DevData data;
    DevBuf theta, best, grad, m, v, l2, mask, res, nll, out;
    DevBuf rows[kSlots];
    int64_t rows_n[kSlots] = {};
    DevResult* host_res = nullptr;  // pinned
    double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    int64_t t = 0;
    bool adam_ready = false;

    int64_t P() const { return model.n_params; }

    ~Impl() {
        if (stream) cudaStreamDestroy(stream);
        if (host_res) cudaFreeHost(host_res);
        for (const void* p : registered) cudaHostUnregister(const_cast<void*>(p));
        cudaGetLastError();
    }

    void refresh() {
        if (e32)
            e32->refresh(theta.as<double>(), stream);
        else
            e64->refresh(theta.as<double>(), stream);
    }
    void loss(const DevData& d, const int64_t* r, int64_t b, bool g, double* nll_rows) {
        if (e32)
            e32->loss(d, r, b, g, false, grad.as<double>(), nll_rows, res.as<DevResult>(), stream);
        else
            e64->loss(d, r, b, g, false, grad.as<double>(), nll_rows, res.as<DevResult>(), stream);
    }

    // The rows (device pointer or null) and data of rows[slot][offset : offset + count].
    std::pair<const int64_t*, DevData> select(int slot, int64_t offset, int64_t& count) const {
        if (slot < -1 || slot >= kSlots) throw InputError("slot must be -1 (every row) or in [0, 8)");
        const int64_t len = slot < 0 ? n : rows_n[slot];
        if (offset < 0 || offset > len) throw InputError("offset " + std::to_string(offset) + " is out of range");
        if (count < 0) count = len - offset;
        if (offset + count > len)
            throw InputError("offset + count = " + std::to_string(offset + count) + " exceeds the " +
                             std::to_string(len) + " rows of slot " + std::to_string(slot));
        if (slot >= 0) return {rows[slot].as<int64_t>() + offset, data};
        DevData d = data;  // every row from `offset` on: shift the arrays
        d.codes += offset * L;
        if (d.tg64) d.tg64 += offset * cols;
        if (d.tg32) d.tg32 += offset * cols;
        if (d.weights) d.weights += offset;
        return {nullptr, d};
    }

    DevResult sync_result() {
        check(cudaMemcpyAsync(host_res, res.as<void>(), sizeof(DevResult), cudaMemcpyDeviceToHost, stream),
              "download of the loss");
        check(cudaStreamSynchronize(stream), "loss kernels");
        return *host_res;
    }
};

namespace {
template <class X>
const X* upload_or_map(Session::Impl& s, DevBuf& buf, const X* host, int64_t count, const char* what) {
    if (!host) return nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(X);
    if (s.on_device) {
        buf.reserve(bytes, what);
        check(cudaMemcpy(buf.as<void>(), host, static_cast<size_t>(count) * sizeof(X), cudaMemcpyHostToDevice), what);
        return buf.as<X>();
    }
    check(cudaHostRegister(const_cast<X*>(host), bytes, cudaHostRegisterMapped),
          "cudaHostRegister (data kept in host memory)");
    s.registered.push_back(host);
    void* dp = nullptr;
    check(cudaHostGetDevicePointer(&dp, const_cast<X*>(host), 0), "cudaHostGetDevicePointer");
    return static_cast<const X*>(dp);
}
}  // namespace

Session::Session(const Model& m, const uint8_t* codes, int64_t n, int64_t L, const double* tg64, const float* tg32,
                 int64_t cols, const double* weights, Precision prec, int device, Residency where)
    : impl_(std::make_unique<Impl>()) {
    require_device();
    check_model(m);
    Impl& s = *impl_;
    s.model = m;
    s.prec = prec;
    s.device = device;
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (device < 0 || device >= count)
        throw InputError("device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                         " CUDA devices visible)");
    DeviceScope scope(device);
    if (L != m.sites.length)
        throw InputError("codes: sequences have length " + std::to_string(L) + ", the model expects " +
                         std::to_string(m.sites.length));
    if (cols != m.meas.n_targets())
        throw InputError("targets: " + std::to_string(cols) + " columns, the measurement needs " +
                         std::to_string(m.meas.n_targets()));
    if ((tg64 == nullptr) == (tg32 == nullptr)) throw InputError("targets: give float64 or float32 targets");
    // the data are checked once here (the kernels still flag what they find)
    SeqBatch all;
    all.codes = codes;
    all.n = all.b = n;
    all.L = L;
    Targets tg;
    tg.f64 = tg64;
    tg.f32 = tg32;
    tg.cols = cols;
    check_codes(m.sites.alphabet_size, all);
    check_targets(m, all, tg);
    check_weights(all, weights);
    s.n = n;
    s.L = L;
    s.cols = cols;
    const int64_t bytes = n * L + n * cols * (tg64 ? 8 : 4) + (weights ? n * 8 : 0);
    if (where == Residency::Auto) {
        size_t fr = 0, tot = 0;
        check(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
        s.on_device = bytes + kWorkspaceReserve <= static_cast<int64_t>(fr);
    } else {
        s.on_device = where == Residency::Device;
    }
    check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaMallocHost(reinterpret_cast<void**>(&s.host_res), sizeof(DevResult)), "cudaMallocHost");
    s.data.L = L;
    s.data.codes = upload_or_map(s, s.d_codes, codes, n * L, "upload of codes");
    s.data.tg64 = upload_or_map(s, s.d_tg, tg64, n * cols, "upload of targets");
    s.data.tg32 = upload_or_map(s, s.d_tg, tg32, n * cols, "upload of targets");
    s.data.cols = static_cast<int32_t>(cols);
    s.data.by_position = false;
    s.data.weights = upload_or_map(s, s.d_w, weights, n, "upload of weights");
    const int64_t P = m.n_params;
    const size_t pb = static_cast<size_t>(std::max<int64_t>(P, 1)) * 8;
    for (DevBuf* b : {&s.theta, &s.best, &s.grad, &s.m, &s.v, &s.l2})
        check(cudaMemset(b->reserve(pb, "cudaMalloc (parameters)"), 0, pb), "cudaMemset");
    check(cudaMemset(s.mask.reserve(pb, "cudaMalloc (mask)"), 1, pb), "cudaMemset");
    s.res.reserve(sizeof(DevResult), "cudaMalloc (result)");
    const std::vector<double> zeros(static_cast<size_t>(P), 0.0);
    if (prec == Precision::F32) {
        const Plan<float> plan(s.model, zeros.data());
        s.e32 = std::make_unique<Engine<float>>(s.model, plan);
    } else {
        const Plan<double> plan(s.model, zeros.data());
        s.e64 = std::make_unique<Engine<double>>(s.model, plan);
    }
}

Session::~Session() {
    if (impl_) {
        int prev = 0;
        cudaGetDevice(&prev);
        cudaSetDevice(impl_->device);
        impl_.reset();
        cudaSetDevice(prev);
    }
}

int64_t Session::n_rows() const { return impl_->n; }
int64_t Session::n_params() const { return impl_->P(); }
Precision Session::precision() const { return impl_->prec; }
bool Session::data_on_device() const { return impl_->on_device; }
int Session::device() const { return impl_->device; }

void Session::set_theta(const double* theta) {
    DeviceScope scope(impl_->device);
    // copies outside the session's stream wait for what runs on it (it does not order
    // itself after the legacy default stream)
    check(cudaStreamSynchronize(impl_->stream), "session");
    for (int64_t i = 0; i < impl_->P(); ++i)
        if (!std::isfinite(theta[i])) throw InputError("theta[" + std::to_string(i) + "] is not finite");
    check(cudaMemcpy(impl_->theta.as<void>(), theta, static_cast<size_t>(impl_->P()) * 8, cudaMemcpyHostToDevice),
          "upload of theta");
}

void Session::get_theta(double* out) const {
    DeviceScope scope(impl_->device);
    check(cudaStreamSynchronize(impl_->stream), "session");
    check(cudaMemcpy(out, impl_->theta.as<void>(), static_cast<size_t>(impl_->P()) * 8, cudaMemcpyDeviceToHost),
          "download of theta");
}

void Session::keep_best() {
    DeviceScope scope(impl_->device);
    check(cudaMemcpyAsync(impl_->best.as<void>(), impl_->theta.as<void>(), static_cast<size_t>(impl_->P()) * 8,
                          cudaMemcpyDeviceToDevice, impl_->stream),
          "copy of theta");
    check(cudaStreamSynchronize(impl_->stream), "copy of theta");
}

void Session::get_best(double* out) const {
    DeviceScope scope(impl_->device);
    check(cudaStreamSynchronize(impl_->stream), "session");
    check(cudaMemcpy(out, impl_->best.as<void>(), static_cast<size_t>(impl_->P()) * 8, cudaMemcpyDeviceToHost),
          "download of the best theta");
}

void Session::set_rows(int slot, const int64_t* r, int64_t b) {
    if (slot < 0 || slot >= kSlots) throw InputError("slot must be in [0, 8), got " + std::to_string(slot));
    for (int64_t i = 0; i < b; ++i)
        if (r[i] < 0 || r[i] >= impl_->n)
            throw InputError("rows[" + std::to_string(i) + "] = " + std::to_string(r[i]) + " is out of range for " +
                             std::to_string(impl_->n) + " sequences");
    DeviceScope scope(impl_->device);
    check(cudaStreamSynchronize(impl_->stream), "session");  // a running kernel may read the old rows
    impl_->rows[slot].reserve(static_cast<size_t>(std::max<int64_t>(b, 1)) * 8, "cudaMalloc (rows)");
    check(cudaMemcpy(impl_->rows[slot].as<void>(), r, static_cast<size_t>(b) * 8, cudaMemcpyHostToDevice),
          "upload of rows");
    impl_->rows_n[slot] = b;
}

int64_t Session::rows_len(int slot) const {
    if (slot < 0 || slot >= kSlots) throw InputError("slot must be in [0, 8), got " + std::to_string(slot));
    return impl_->rows_n[slot];
}

double Session::loss_and_grad(int slot, int64_t offset, int64_t count, double* grad, double* nll_rows) {
    Impl& s = *impl_;
    DeviceScope scope(s.device);
    auto [r, d] = s.select(slot, offset, count);
    if (nll_rows) s.nll.reserve(static_cast<size_t>(std::max<int64_t>(count, 1)) * 8, "cudaMalloc (per-row loss)");
    s.refresh();
    s.loss(d, r, count, grad != nullptr, nll_rows ? s.nll.as<double>() : nullptr);
    if (grad)
        check(
            cudaMemcpyAsync(grad, s.grad.as<void>(), static_cast<size_t>(s.P()) * 8, cudaMemcpyDeviceToHost, s.stream),
            "download of the gradient");
    if (nll_rows)
        check(cudaMemcpyAsync(nll_rows, s.nll.as<void>(), static_cast<size_t>(count) * 8, cudaMemcpyDeviceToHost,
                              s.stream),
              "download of the per-row loss");
    const DevResult out = s.sync_result();
    if (out.flags & (kBadCodes | kBadTargets | kBadWeights))
        throw InputError("codes, targets or weights: an invalid value was found on the device");
    return out.loss;
}

void Session::phi(int slot, int64_t offset, int64_t count, const PhiOut& o) {
    Impl& s = *impl_;
    DeviceScope scope(s.device);
    auto [r, d] = s.select(slot, offset, count);
    const Model& m = s.model;
    const int64_t S = m.sites.n_sites(), K = m.n_states(), NR = m.sites.n_resid();
    const int64_t per = 1 + (o.dG ? S : 0) + (o.state_logp ? K : 0) + (o.logZ ? 1 : 0) + (o.placements ? NR : 0);
    s.out.reserve(static_cast<size_t>(std::max<int64_t>(count, 1) * per) * 8 + 8, "cudaMalloc (phi)");
    double* base = s.out.as<double>();
    unsigned* flags = reinterpret_cast<unsigned*>(base + std::max<int64_t>(count, 1) * per);
    check(cudaMemsetAsync(flags, 0, 8, s.stream), "cudaMemsetAsync");
    double* p = base;
    double* phi = p;
    p += count;
    double* dG = o.dG ? p : nullptr;
    p += o.dG ? count * S : 0;
    double* lp = o.state_logp ? p : nullptr;
    p += o.state_logp ? count * K : 0;
    double* lz = o.logZ ? p : nullptr;
    p += o.logZ ? count : 0;
    double* pl = o.placements ? p : nullptr;
    s.refresh();
    if (s.e32)
        s.e32->phi(d, r, count, phi, dG, lp, lz, pl, flags, s.stream);
    else
        s.e64->phi(d, r, count, phi, dG, lp, lz, pl, flags, s.stream);
    const auto down = [&](double* host, const double* dev, int64_t k) {
        if (host && count > 0)
            check(cudaMemcpyAsync(host, dev, static_cast<size_t>(count * k) * 8, cudaMemcpyDeviceToHost, s.stream),
                  "download of phi");
    };
    down(o.phi, phi, 1);
    down(o.dG, dG, S);
    down(o.state_logp, lp, K);
    down(o.logZ, lz, 1);
    down(o.placements, pl, NR);
    unsigned f = 0;
    check(cudaMemcpyAsync(&f, flags, sizeof f, cudaMemcpyDeviceToHost, s.stream), "download of flags");
    check(cudaStreamSynchronize(s.stream), "phi kernel");
    if (f & kBadCodes) throw InputError("codes: a code outside the alphabet was found on the device");
}

void Session::adam_configure(double lr, double beta1, double beta2, double eps, const double* l2, const uint8_t* mask) {
    Impl& s = *impl_;
    if (!(lr > 0)) throw InputError("learning_rate must be positive");
    DeviceScope scope(s.device);
    check(cudaStreamSynchronize(s.stream), "session");
    s.lr = lr;
    s.b1 = beta1;
    s.b2 = beta2;
    s.eps = eps;
    const size_t P = static_cast<size_t>(s.P());
    if (l2) check(cudaMemcpy(s.l2.as<void>(), l2, P * 8, cudaMemcpyHostToDevice), "upload of l2");
    if (mask) {
        std::vector<uint8_t> mk(mask, mask + P);
        check(cudaMemcpy(s.mask.as<void>(), mk.data(), P, cudaMemcpyHostToDevice), "upload of the mask");
    }
    s.adam_ready = true;
    adam_reset();
}

void Session::adam_reset() {
    Impl& s = *impl_;
    DeviceScope scope(s.device);
    const size_t pb = static_cast<size_t>(s.P()) * 8;
    check(cudaMemsetAsync(s.m.as<void>(), 0, pb, s.stream), "cudaMemsetAsync");
    check(cudaMemsetAsync(s.v.as<void>(), 0, pb, s.stream), "cudaMemsetAsync");
    check(cudaStreamSynchronize(s.stream), "reset of the Adam state");
    s.t = 0;
}

void Session::adam_state(double* m, double* v, int64_t* t) const {
    const Impl& s = *impl_;
    DeviceScope scope(s.device);
    check(cudaStreamSynchronize(s.stream), "session");
    const size_t pb = static_cast<size_t>(s.P()) * 8;
    check(cudaMemcpy(m, s.m.as<void>(), pb, cudaMemcpyDeviceToHost), "download of the Adam state");
    check(cudaMemcpy(v, s.v.as<void>(), pb, cudaMemcpyDeviceToHost), "download of the Adam state");
    *t = s.t;
}

void Session::set_adam_state(const double* m, const double* v, int64_t t) {
    Impl& s = *impl_;
    DeviceScope scope(s.device);
    check(cudaStreamSynchronize(s.stream), "session");
    const size_t pb = static_cast<size_t>(s.P()) * 8;
    check(cudaMemcpy(s.m.as<void>(), m, pb, cudaMemcpyHostToDevice), "upload of the Adam state");
    check(cudaMemcpy(s.v.as<void>(), v, pb, cudaMemcpyHostToDevice), "upload of the Adam state");
    s.t = t;
}

StepResult Session::train_step(int slot, int64_t offset, int64_t count, double reads) {
    Impl& s = *impl_;
    if (!s.adam_ready) throw InputError("train_step: call adam_configure first");
    if (!(reads > 0) || !std::isfinite(reads)) throw InputError("reads must be a positive number");
    DeviceScope scope(s.device);
    auto [r, d] = s.select(slot, offset, count);
    s.refresh();
    s.loss(d, r, count, true, nullptr);
    s.t += 1;
    const double td = static_cast<double>(s.t);
    const double lr_t = s.lr * std::sqrt(1.0 - std::pow(s.b2, td)) / (1.0 - std::pow(s.b1, td));
    const int64_t P = s.P();
    adam_kernel<<<static_cast<unsigned>((std::max<int64_t>(P, 1) + 127) / 128), 128, 0, s.stream>>>(
        P, s.theta.as<double>(), s.grad.as<double>(), s.m.as<double>(), s.v.as<double>(), s.l2.as<double>(),
        s.mask.as<uint8_t>(), reads, s.b1, 1.0 - s.b1, s.b2, 1.0 - s.b2, lr_t, s.eps, s.res.as<DevResult>());
    check(cudaGetLastError(), "launch of the Adam step");
    const DevResult out = s.sync_result();
    StepResult sr;
    sr.loss = out.loss;
    if (out.flags & kNonFiniteLoss) sr.status |= kStepNonFiniteLoss;
    if (out.flags & kNonFiniteGrad) sr.status |= kStepNonFiniteGrad;
    if (out.flags & kNonFiniteTheta) sr.status |= kStepNonFiniteTheta;
    if (out.flags & (kBadCodes | kBadTargets | kBadWeights)) sr.status |= kStepBadInput;
    if (sr.status & (kStepNonFiniteLoss | kStepNonFiniteGrad | kStepBadInput)) s.t -= 1;  // no update was made
    return sr;
}

}  // namespace cisreg::cuda
