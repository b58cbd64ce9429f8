// Entry points of the core. Callers allocate outputs; kernels fill them.
// Preconditions that the check_* functions and the binding layer verify:
// codes is [n, L] contiguous with L == net.length; rows (if any) lie in [0, n);
// theta has net.n_params finite entries; targets is [n, meas.n_targets()].
#pragma once
#include <cstdint>

#include "cisreg/network.hpp"
#include "cisreg/view.hpp"

namespace cisreg {

struct PhiOut {
    double* phi = nullptr;         // [b]        required
    double* dG = nullptr;          // [b, S]     optional: site energies
    double* state_logp = nullptr;  // [b, K]     optional: log state probabilities
    double* logZ = nullptr;        // [b]        optional
};

// Forward pass of the network: phi (and optional residuals) for each row of the batch.
void phi_forward(const Network& net, const SeqBatch& batch, const double* theta /*[P]*/,
                 Exec exec, PhiOut out);

// Summed negative log-likelihood over the batch and, if grad != nullptr, its gradient
// with respect to theta, *accumulated* into grad [P]. nll_rows [b] (optional) receives
// the per-row NLL. Reductions run over fixed chunks of rows in a fixed order, so the
// result does not depend on the number of threads.
double loss_and_grad(const Network& net, const Measurement& meas, const SeqBatch& batch,
                     const double* targets /*[n, T]*/, const double* theta /*[P]*/, Exec exec,
                     double* grad /*[P] or null*/, double* nll_rows /*[b] or null*/);

// The measurement process alone, for inspection: for SortSeq out is [b, Y] of
// log p(y | phi); for GE out is [b, 1] of g(phi) (yhat); Linear copies phi.
void measurement_forward(const Measurement& meas, const double* theta, const double* phi /*[b]*/,
                         int64_t b, double* out);

// Throw InputError naming the first row and position of the batch whose code is not
// below alphabet_size; return if there is none.
void check_codes(int32_t alphabet_size, const SeqBatch& batch);

// Chunk size of the deterministic reduction (rows per partial gradient buffer).
constexpr int64_t kChunkRows = 256;

// Whether the core was built with OpenMP, and the default number of threads it sees.
bool has_openmp();
// Instruction-set level whose kernels run on this CPU ("x86-64-v4", "x86-64-v3", "baseline").
const char* cpu_kernel_level();
int max_threads();

}  // namespace cisreg
