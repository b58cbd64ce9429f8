// The CUDA entry points of a build without CUDA (CISREG_CUDA=OFF): every one reports that
// this build has no CUDA back end; the session cannot be constructed.
#include "cisreg/error.hpp"
#include "kernels/cuda/cuda.hpp"
#include "kernels/cuda/session.hpp"

namespace cisreg::cuda {
namespace {
const char* const kNoCuda =
    "device: this build of cisreg has no CUDA back end (rebuild with CISREG_CUDA=ON on a machine with the CUDA "
    "toolkit: pip install . -Ccmake.define.CISREG_CUDA=ON)";
[[noreturn]] void no_cuda() { throw InputError(kNoCuda); }
}  // namespace

bool available() { return false; }

DeviceInfo device_info(int) {
    DeviceInfo info;
    info.built = false;
    info.error = kNoCuda;
    return info;
}

template <class T>
void phi_forward(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&) {
    no_cuda();
}
template <class T>
double loss_and_grad(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, const Exec&,
                     double*, double*) {
    no_cuda();
}
template <class T>
void phi_vjp(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*) {
    no_cuda();
}

#define CISREG_INSTANTIATE(T)                                                                                       \
    template void phi_forward<T>(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&);                      \
    template double loss_and_grad<T>(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, \
                                     const Exec&, double*, double*);                                                \
    template void phi_vjp<T>(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*);
CISREG_INSTANTIATE(float)
CISREG_INSTANTIATE(double)

// Session: the constructor throws, so no other member is ever reached.
struct Session::Impl {};
Session::Session(const Model&, const uint8_t*, int64_t, int64_t, const double*, const float*, int64_t, const double*,
                 Precision, int, Residency) {
    no_cuda();
}
Session::~Session() = default;
int64_t Session::n_rows() const { no_cuda(); }
int64_t Session::n_params() const { no_cuda(); }
Precision Session::precision() const { no_cuda(); }
bool Session::data_on_device() const { no_cuda(); }
int Session::device() const { no_cuda(); }
void Session::set_theta(const double*) { no_cuda(); }
void Session::get_theta(double*) const { no_cuda(); }
void Session::keep_best() { no_cuda(); }
void Session::get_best(double*) const { no_cuda(); }
void Session::set_rows(int, const int64_t*, int64_t) { no_cuda(); }
int64_t Session::rows_len(int) const { no_cuda(); }
double Session::loss_and_grad(int, int64_t, int64_t, double*, double*) { no_cuda(); }
void Session::phi(int, int64_t, int64_t, const PhiOut&) { no_cuda(); }
void Session::adam_configure(double, double, double, double, const double*, const uint8_t*) { no_cuda(); }
void Session::adam_reset() { no_cuda(); }
void Session::adam_state(double*, double*, int64_t*) const { no_cuda(); }
void Session::set_adam_state(const double*, const double*, int64_t) { no_cuda(); }
StepResult Session::train_step(int, int64_t, int64_t, double) { no_cuda(); }

}  // namespace cisreg::cuda
