// CPU implementations behind the dispatch in src/dispatch.cpp. network_cpu.cpp is
// compiled for several instruction-set levels, each into its own namespace.
#pragma once
#include "cisreg/ops.hpp"

#define CISREG_DECLARE_CPU(NS)                                                                       \
    namespace cisreg::NS {                                                                           \
    void phi_forward(const Network& net, const SeqBatch& batch, const double* theta, Exec exec,     \
                     PhiOut out);                                                                    \
    double loss_and_grad(const Network& net, const Measurement& meas, const SeqBatch& batch,        \
                         const double* targets, const double* theta, Exec exec, double* grad,       \
                         double* nll_rows);                                                          \
    void measurement_forward(const Measurement& meas, const double* theta, const double* phi,       \
                             int64_t b, double* out);                                                \
    }

CISREG_DECLARE_CPU(cpu)
#ifdef CISREG_HAVE_X86_LEVELS
CISREG_DECLARE_CPU(cpu_v3)
CISREG_DECLARE_CPU(cpu_v4)
#endif
