// Entry points of the core. Callers allocate outputs; kernels fill them.
//
// Preconditions (checked here, raising InputError): codes is [n, L] row-major with L ==
// model length; rows (if any) lie in [0, n); theta has model.n_params finite entries;
// targets is [n, meas.n_targets()]. A code outside the alphabet is reported with its row
// and position. Every entry point goes through one dispatch point (src/dispatch.cpp),
// which picks the device, the compute precision and the CPU instruction-set level.
#pragma once
#include <cstdint>

#include "cisreg/model.hpp"

namespace cisreg {

// A batch of sequences: codes [n, L] (uint8, row-major) and an optional row selection
// rows [b]. With rows == nullptr the batch is every row 0..n-1.
struct SeqBatch {
    const uint8_t* codes = nullptr;  // [n, L]
    int64_t n = 0;
    int64_t L = 0;
    const int64_t* rows = nullptr;  // [b] or nullptr
    int64_t b = 0;

    int64_t row(int64_t i) const { return rows ? rows[i] : i; }
};

// Measurements [n, cols] in float64 or float32, indexed by row like the codes (or, with
// by_position, by position in the batch).
struct Targets {
    const double* f64 = nullptr;
    const float* f32 = nullptr;
    int64_t cols = 0;
    bool by_position = false;
    double at(int64_t row, int64_t c) const {
        return f64 ? f64[row * cols + c] : static_cast<double>(f32[row * cols + c]);
    }
};

enum class Device : int32_t { CPU = 0, CUDA = 1 };
enum class Precision : int32_t { F64 = 0, F32 = 1 };  // compute type; gradients accumulate in float64

// CPU kernel copies: kAuto picks the best this CPU runs.
enum class Isa : int32_t { Auto = -1, Scalar = 0, Generic = 1, X86V3 = 3, X86V4 = 4 };

// How to run a kernel. Threads are an argument, never a global.
struct Exec {
    Device device = Device::CPU;
    int n_threads = 1;
    Precision precision = Precision::F64;
    Isa isa = Isa::Auto;
    void* stream = nullptr;
    // least row work per extra thread (threads_for_work); -1: the process-wide setting
    int64_t min_thread_work = -1;
};

struct PhiOut {
    double* phi = nullptr;         // [b]              required
    double* dG = nullptr;          // [b, S]           optional: site energies
    double* state_logp = nullptr;  // [b, K]           optional: log state probabilities
    double* logZ = nullptr;        // [b]              optional (NaN for the linear kinetic solver)
    double* placements = nullptr;  // [b, n_resid]     optional: occupancy of each placement of sliding sites
};

// Forward pass: phi (and optional details) for each row of the batch.
void phi_forward(const Model& m, const SeqBatch& batch, const double* theta /*[P]*/, const Exec& exec, PhiOut out);

// Summed negative log-likelihood over the batch, each row weighted by weights[row] (all 1
// if weights is null), and, if grad != nullptr, its gradient with respect to theta,
// OVERWRITTEN into grad [P]. nll_rows [b] (optional) receives the per-row weighted NLL.
// Reductions run over fixed chunks of rows in a fixed order: the result does not depend on
// the number of threads.
double loss_and_grad(const Model& m, const SeqBatch& batch, const Targets& targets, const double* weights /*[n]*/,
                     const double* theta /*[P]*/, const Exec& exec, double* grad /*[P] or null*/,
                     double* nll_rows /*[b] or null*/);

// Vector-Jacobian product of phi: grad [P] = sum_i cotangent[i] d phi_i / d theta
// (overwritten), cotangent indexed by batch position [b].
void phi_vjp(const Model& m, const SeqBatch& batch, const double* cotangent /*[b]*/, const double* theta,
             const Exec& exec, double* grad /*[P]*/);

// ------------------------------------------------------------------ the fit's stepper
// Adam (Kingma & Ba 2015) over theta [P]: moments m, v [P] and the step count t, updated in
// place; entries where mask[j] == 0 keep their value (mask may be null: all trainable).
struct AdamConfig {
    double learning_rate = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    const uint8_t* mask = nullptr;  // [P] or null
};
struct AdamState {
    double* m = nullptr;  // [P]
    double* v = nullptr;  // [P]
    int64_t t = 0;
};
void adam_step(const AdamConfig& cfg, AdamState& st, const double* grad /*[P]*/, double* theta /*[P]*/, int64_t P);

// One epoch: the rows order[0..n_order) in minibatches of batch_size consecutive entries
// (each minibatch sorted, so that the kernels read the codes in memory order); for each,
// the gradient of its loss per row (per variant: the L2 penalty means the same prior at
// any sequencing depth; a minibatch without reads, the sum of amounts[row], is skipped)
// plus l2[j] * theta[j], and one Adam step. Every
// check_rows rows, should_stop(stop_ctx) (if given) may end the epoch early (an interrupt).
// With exec.n_threads > 1 and minibatches too small for the thread policy to thread them,
// the first minibatches of the epoch alternate between one thread and every thread and the
// rest run the faster way (threads pay on a quiet machine; they do not with a competing
// process). Which thread count ran never changes a result.
struct EpochPlan {
    const int64_t* order = nullptr;  // [n_order] rows of the data set
    int64_t n_order = 0;
    int64_t batch_size = 500;
    const double* amounts = nullptr;  // [n] reads (or measurements) per row, weighted like the rows
    const double* l2 = nullptr;       // [P]
    bool (*should_stop)(void*) = nullptr;
    void* stop_ctx = nullptr;
    int64_t check_rows = 65536;
};
enum class EpochStatus : int32_t { Complete = 0, Diverged = 1, Stopped = 2 };
struct EpochResult {
    double loss = 0.0;                           // summed NLL of the minibatches stepped on
    double reads = 0.0;                          // their reads
    int64_t steps = 0;                           // Adam steps taken
    int64_t rows = 0;                            // rows evaluated
    EpochStatus status = EpochStatus::Complete;  // Diverged: a non-finite loss, gradient or parameter
};
// data must hold every row (rows == nullptr); grad [P] is scratch. Results are those of the
// same steps taken one loss_and_grad call at a time, bit for bit.
EpochResult adam_epoch(const Model& m, const SeqBatch& data, const Targets& targets, const double* weights /*[n]*/,
                       const EpochPlan& plan, const AdamConfig& cfg, AdamState& state, double* theta /*[P]*/,
                       const Exec& exec, double* grad /*[P]*/);

// The measurement process alone: for SortSeq out is [b, Y] of log p(y | phi); for GE out
// is [b, 1] of g(phi) (yhat).
void measurement_forward(const Model& m, const double* theta, const double* phi /*[b]*/, int64_t b, double* out,
                         const Exec& exec = Exec{});

// Throw InputError naming the first row and position of the batch whose code is not
// below alphabet_size; return if there is none. (The kernels find bad codes, targets and
// weights while they load rows, and call these to report them.)
void check_codes(int32_t alphabet_size, const SeqBatch& batch);
// ... the first non-finite target (or negative count) of the batch's rows.
void check_targets(const Model& m, const SeqBatch& batch, const Targets& tg);
// ... the first weight of the batch's rows that is not finite and >= 0.
void check_weights(const SeqBatch& batch, const double* weights);

// Rows per chunk of the deterministic reduction for this model and a batch of b rows: a
// power of two >= 256 that grows with the parameter count (so that zeroing and summing
// per-chunk partial gradients stays cheap next to the work on the rows) and with the batch
// (at least 16 chunks). It depends on nothing else, so results do not depend on the number
// of threads.
int64_t chunk_rows(const Model& m, int64_t b);

// Work per row of the model, in units of about one table lookup or one hidden unit (about
// half a nanosecond on one core).
int64_t row_work(const Model& m);
// Threads a kernel call of `work` units (rows times their row work) in n_chunks chunks pays
// for: at most n_threads, at most one per chunk, and at least kMinThreadWork units per
// thread, so that a small
// call (a minibatch of a few hundred rows) runs on the calling thread alone: waking threads
// and waiting at the barrier for one that the operating system has descheduled costs more
// than such a call. Which thread runs which chunk never changes a result.
constexpr int64_t kMinThreadWork = int64_t{1} << 21;
int threads_for_work(const Exec& exec, int64_t n_chunks, int64_t work);
// Change that minimum (0: every call uses its threads and chunks, as tests of thread
// invariance need); returns the previous value. Process-wide.
int64_t set_min_thread_work(int64_t work);

// Whether the core was built with OpenMP / CUDA, and what it sees.
bool has_openmp();
bool has_cuda();
int max_threads();
// Instruction-set level whose kernels run on this CPU under Isa::Auto ("x86-64-v4",
// "x86-64-v3", "generic"), and the levels compiled in.
const char* cpu_kernel_level();
int n_cpu_levels();
Isa cpu_level_at(int i);
const char* isa_name(Isa isa);
// Make `isa` the level that Isa::Auto runs, in every later call of the process (Isa::Auto:
// back to the CPU's own level). Throws InputError for a level this CPU cannot run or this
// build lacks. Returns the level Isa::Auto ran before. For tests and benchmarks that run
// every copy the CPU can execute; calls already running keep their level.
Isa set_cpu_level(Isa isa);

}  // namespace cisreg
