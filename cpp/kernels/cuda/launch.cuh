// The launch functions of one (compute type, G-P map): included by the four loss_*.cu
// files, so that nvcc compiles the kernel instantiations in parallel.
#pragma once
#include "cisreg/error.hpp"
#include "kernels/cuda/kernels.cuh"
#include "kernels/cuda/util.cuh"

namespace cisreg::cuda {

template <class T, class GP, class MS, bool GRAD>
void launch_one(const LossArgs<T>& a, dim3 grid, dim3 block, size_t smem, cudaStream_t s) {
    auto* k = &loss_kernel<T, GP, MS, GRAD>;
    if (smem > 48 * 1024)
        check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
              "cudaFuncSetAttribute (shared memory of the loss kernel)");
    k<<<grid, block, smem, s>>>(a);
    check(cudaGetLastError(), "launch of the loss kernel");
}

template <class T, class GP>
void launch_loss(MeasKind kind, bool cot, bool grad, const LossArgs<T>& a, int warps_per_block, size_t smem,
                 cudaStream_t s) {
    if (a.n_warps <= 0) return;
    const int64_t blocks = (a.n_warps + warps_per_block - 1) / warps_per_block;
    const dim3 grid(static_cast<unsigned>(blocks)), block(static_cast<unsigned>(32 * warps_per_block));
    if (cot) return launch_one<T, GP, stages::CotangentStage<T>, true>(a, grid, block, smem, s);
    stages::visit_measurement<T>(kind, [&](auto st) {
        using MS = decltype(st);
        if (grad)
            launch_one<T, GP, MS, true>(a, grid, block, smem, s);
        else
            launch_one<T, GP, MS, false>(a, grid, block, smem, s);
    });
}

template <class T, class GP>
void launch_phi(const PhiArgs<T>& a, int64_t threads, cudaStream_t s) {
    if (a.b <= 0) return;
    const int64_t blocks = (threads + kBlock - 1) / kBlock;
    phi_kernel<T, GP><<<static_cast<unsigned>(blocks), kBlock, 0, s>>>(a);
    check(cudaGetLastError(), "launch of the phi kernel");
}

}  // namespace cisreg::cuda

#define CISREG_CUDA_LAUNCHERS(T, GP)                                                                       \
    namespace cisreg::cuda {                                                                               \
    template void launch_loss<T, GP>(MeasKind, bool, bool, const LossArgs<T>&, int, size_t, cudaStream_t); \
    template void launch_phi<T, GP>(const PhiArgs<T>&, int64_t, cudaStream_t);                             \
    }
