// The one place that chooses a device.
#include "cisreg/error.hpp"
#include "cisreg/ops.hpp"
#include "kernels/cpu/cpu.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cisreg {
namespace {
// Instruction-set level of this CPU: 4 = AVX-512, 3 = AVX2 + FMA, 0 = baseline.
int cpu_level() {
#ifdef CISREG_HAVE_X86_LEVELS
    static const int level = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
            return 4;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 3;
        return 0;
    }();
    return level;
#else
    return 0;
#endif
}

#ifdef CISREG_HAVE_X86_LEVELS
#define CISREG_CPU_CALL(fn, ...)                                   \
    (cpu_level() >= 4   ? cpu_v4::fn(__VA_ARGS__)                 \
     : cpu_level() >= 3 ? cpu_v3::fn(__VA_ARGS__)                 \
                        : cpu::fn(__VA_ARGS__))
#else
#define CISREG_CPU_CALL(fn, ...) cpu::fn(__VA_ARGS__)
#endif

[[noreturn]] void no_cuda() {
    throw InputError("device: cisreg was built without CUDA (rebuild with CISREG_CUDA=ON)");
}
}  // namespace

void phi_forward(const Network& net, const SeqBatch& batch, const double* theta, Exec exec, PhiOut out) {
    switch (exec.device) {
        case Device::CPU: return CISREG_CPU_CALL(phi_forward, net, batch, theta, exec, out);
        case Device::CUDA: no_cuda();
    }
}

double loss_and_grad(const Network& net, const Measurement& meas, const SeqBatch& batch,
                     const double* targets, const double* theta, Exec exec, double* grad,
                     double* nll_rows) {
    switch (exec.device) {
        case Device::CPU: return CISREG_CPU_CALL(loss_and_grad, net, meas, batch, targets, theta, exec, grad, nll_rows);
        case Device::CUDA: no_cuda();
    }
    return 0.0;
}

void measurement_forward(const Measurement& meas, const double* theta, const double* phi, int64_t b,
                         double* out) {
    CISREG_CPU_CALL(measurement_forward, meas, theta, phi, b, out);
}

const char* cpu_kernel_level() {
    switch (cpu_level()) {
        case 4: return "x86-64-v4";
        case 3: return "x86-64-v3";
        default: return "baseline";
    }
}

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace cisreg
