// The CUDA entry points of a build without CUDA (CISREG_CUDA=OFF).
#include "cisreg/error.hpp"
#include "kernels/cuda/cuda.hpp"

namespace cisreg::cuda {
namespace {
[[noreturn]] void no_cuda() {
    throw InputError("device: this build of cisreg has no CUDA back end (rebuild with CISREG_CUDA=ON on a machine "
                     "with the CUDA toolkit)");
}
}  // namespace

bool available() { return false; }

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

#define CISREG_INSTANTIATE(T)                                                                                     \
    template void phi_forward<T>(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&);                   \
    template double loss_and_grad<T>(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, \
                                     const Exec&, double*, double*);                                             \
    template void phi_vjp<T>(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*);
CISREG_INSTANTIATE(float)
CISREG_INSTANTIATE(double)

}  // namespace cisreg::cuda
