// CPU back ends behind the dispatch in src/dispatch.cpp. kernels/cpu/engine.cpp is
// compiled once per lane width / instruction-set level, each copy in its own namespace.
#pragma once
#include "cisreg/ops.hpp"
#include "src/plan.hpp"

#define CISREG_DECLARE_CPU(NS)                                                                                         \
    namespace cisreg::NS {                                                                                             \
    template <class T>                                                                                                 \
    void phi_forward(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out);                 \
    template <class T>                                                                                                 \
    double loss_and_grad(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,         \
                         const double* theta, const Exec& exec, double* grad, double* nll_rows);                       \
    template <class T>                                                                                                 \
    void phi_vjp(const Plan<T>& plan, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec, \
                 double* grad);                                                                                        \
    void measurement_rows(const Plan<double>& plan, const double* phi, int64_t b, double* out, const Exec& exec);      \
    int lanes(Precision p);                                                                                            \
    }

CISREG_DECLARE_CPU(cpu_scalar)
CISREG_DECLARE_CPU(cpu)
#ifdef CISREG_HAVE_X86_LEVELS
CISREG_DECLARE_CPU(cpu_v3)
CISREG_DECLARE_CPU(cpu_v4)
#endif
