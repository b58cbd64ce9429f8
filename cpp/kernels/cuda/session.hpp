// A device-resident fit session of the CUDA back end, declared without CUDA types (the
// binding layer and builds without CUDA include it). With CISREG_CUDA=OFF every member
// throws InputError (src/cuda_stub.cpp); with it, kernels/cuda/session.cu defines them.
//
// The session uploads the codes, targets and row weights once, keeps theta, the Adam
// moments, the best theta so far and any number of row-index arrays on the device, and
// runs loss + gradient + Adam steps there. Per step only the loss and a status word come
// back to the host. Data too large for the device stay in (pinned, mapped) host memory
// that the kernels read directly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "cisreg/model.hpp"
#include "cisreg/ops.hpp"

namespace cisreg::cuda {

struct DeviceInfo {
    bool built = false;  // this build has the CUDA back end
    int count = 0;       // devices visible
    int device = -1;     // the one described below
    std::string name;
    int cc_major = 0, cc_minor = 0;
    int sm_count = 0;
    int64_t total_bytes = 0, free_bytes = 0;
    int runtime_version = 0, driver_version = 0;
    std::string error;  // why no device is usable, if none is
};
DeviceInfo device_info(int device);

// Status bits of a step (StepResult::status).
constexpr unsigned kStepNonFiniteLoss = 1, kStepNonFiniteGrad = 2, kStepNonFiniteTheta = 4, kStepBadInput = 8;

struct StepResult {
    double loss = 0.0;
    unsigned status = 0;
};

// Where the session keeps the data: on the device if they fit (Auto), always there, or in
// pinned host memory mapped into the device's address space.
enum class Residency : int32_t { Auto = 0, Device = 1, Host = 2 };

class Session {
  public:
    // codes [n, L] uint8; targets [n, cols] (exactly one of tg64 / tg32); weights [n] or null.
    // The arrays are copied (Residency Device) or pinned and read in place (Host): in the
    // latter case they must stay alive and unchanged while the session exists.
    Session(const Model& m, const uint8_t* codes, int64_t n, int64_t L, const double* tg64, const float* tg32,
            int64_t cols, const double* weights, Precision prec, int device, Residency where);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    int64_t n_rows() const;
    int64_t n_params() const;
    Precision precision() const;
    bool data_on_device() const;
    int device() const;

    void set_theta(const double* theta /*[P] host*/);
    void get_theta(double* out /*[P] host*/) const;
    // best = theta (device copy) / out = best
    void keep_best();
    void get_best(double* out) const;

    // Row-index array `slot` (0 <= slot < 8) on the device; rows are checked on the host.
    void set_rows(int slot, const int64_t* rows /*[b] host*/, int64_t b);
    int64_t rows_len(int slot) const;

    // Loss (and, if grad != null, its gradient into grad [P] on the host) over the rows
    // rows[slot][offset : offset + count] (slot -1: every row, in order), at the current theta.
    double loss_and_grad(int slot, int64_t offset, int64_t count, double* grad, double* nll_rows);
    // phi and optional details of those rows into host arrays.
    void phi(int slot, int64_t offset, int64_t count, const PhiOut& out);

    // Adam (python/cisreg/training/adam.py): settings, l2 [P] and mask [P] (0 = frozen).
    void adam_configure(double lr, double beta1, double beta2, double eps, const double* l2, const uint8_t* mask);
    void adam_reset();
    void adam_state(double* m, double* v, int64_t* t) const;
    void set_adam_state(const double* m, const double* v, int64_t t);
    // One minibatch: loss and gradient over rows[slot][offset : offset + count], then
    // g = grad / reads + l2 theta (reads: the normalizer; the fit loop passes the minibatch's
    // row count) and one Adam update of theta, all on the device. The
    // update is skipped when the loss or gradient is not finite (status says which).
    StepResult train_step(int slot, int64_t offset, int64_t count, double reads);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace cisreg::cuda
