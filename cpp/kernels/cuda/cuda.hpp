// The CUDA back end's entry points, declared without CUDA types so that the dispatch can
// call them from any build. Without CUDA (CISREG_CUDA=OFF), src/cuda_stub.cpp defines
// them to report that; with it, kernels/cuda/backend.cu does.
#pragma once
#include "cisreg/ops.hpp"
#include "src/plan.hpp"

namespace cisreg::cuda {

// Whether this build has the CUDA back end and a device is visible.
bool available();

template <class T>
void phi_forward(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out);
template <class T>
double loss_and_grad(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                     const double* theta, const Exec& exec, double* grad, double* nll_rows);
template <class T>
void phi_vjp(const Plan<T>& plan, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec,
             double* grad);

}  // namespace cisreg::cuda
