// The one place that chooses where a kernel runs: the device, the compute precision and
// the CPU instruction-set level. Every entry point of cisreg/ops.hpp comes through here.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/ops.hpp"
#include "kernels/common/stages.hpp"
#include "kernels/cpu/cpu.hpp"
#include "kernels/cuda/cuda.hpp"
#include "src/plan.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cisreg {
namespace {

// Instruction-set level of this CPU.
Isa detected_level() {
#ifdef CISREG_HAVE_X86_LEVELS
    static const Isa level = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
            return Isa::X86V4;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::X86V3;
        return Isa::Generic;
    }();
    return level;
#else
    return Isa::Generic;
#endif
}

// A level set at run time by set_cpu_level (Isa::Auto: none).
std::atomic<int32_t> g_level_override{static_cast<int32_t>(Isa::Auto)};

// The level Isa::Auto means: the one set by set_cpu_level, else the CPU's, unless
// CISREG_CPU_LEVEL names a lower one that is compiled in (for benchmarking one machine's
// copies against each other).
Isa auto_level() {
    const int32_t over = g_level_override.load(std::memory_order_relaxed);
    if (over != static_cast<int32_t>(Isa::Auto)) return static_cast<Isa>(over);
    static const Isa level = [] {
        const Isa hw = detected_level();
        const char* env = std::getenv("CISREG_CPU_LEVEL");
        if (!env || !*env) return hw;
        for (int i = 0; i < n_cpu_levels(); ++i) {
            const Isa l = cpu_level_at(i);
            if (std::strcmp(env, isa_name(l)) == 0 && static_cast<int>(l) <= static_cast<int>(hw)) return l;
        }
        return hw;
    }();
    return level;
}

Isa resolve(Isa isa) {
    if (isa == Isa::Auto) return auto_level();
    if (static_cast<int>(isa) > static_cast<int>(detected_level()))
        throw InputError(std::string("isa: this CPU cannot run the ") + isa_name(isa) + " kernels");
    for (int i = 0; i < n_cpu_levels(); ++i)
        if (cpu_level_at(i) == isa) return isa;
    throw InputError(std::string("isa: the ") + isa_name(isa) + " kernels are not compiled into this build");
}

#ifdef CISREG_HAVE_X86_LEVELS
#define CISREG_CPU_CALL(isa, fn, ...)                   \
    (isa == Isa::X86V4    ? cpu_v4::fn(__VA_ARGS__)     \
     : isa == Isa::X86V3  ? cpu_v3::fn(__VA_ARGS__)     \
     : isa == Isa::Scalar ? cpu_scalar::fn(__VA_ARGS__) \
                          : cpu::fn(__VA_ARGS__))
#else
#define CISREG_CPU_CALL(isa, fn, ...) (isa == Isa::Scalar ? cpu_scalar::fn(__VA_ARGS__) : cpu::fn(__VA_ARGS__))
#endif

void check_call(const Model& m, const SeqBatch& batch, const double* theta, const Exec& exec) {
    if (batch.L != m.sites.length)
        throw InputError("codes: sequences have length " + std::to_string(batch.L) + ", the model expects " +
                         std::to_string(m.sites.length));
    if (exec.n_threads < 1) throw InputError("n_threads must be >= 1, got " + std::to_string(exec.n_threads));
    if (batch.rows)
        for (int64_t i = 0; i < batch.b; ++i)
            if (batch.rows[i] < 0 || batch.rows[i] >= batch.n)
                throw InputError("rows[" + std::to_string(i) + "] = " + std::to_string(batch.rows[i]) +
                                 " is out of range for " + std::to_string(batch.n) + " sequences");
    for (int64_t i = 0; i < m.n_params; ++i)
        if (!std::isfinite(theta[i]))
            throw InputError("theta[" + std::to_string(i) + "] is " + (std::isnan(theta[i]) ? "NaN" : "infinite") +
                             "; parameters must be finite (lower the learning rate or check the initial values)");
}

template <class T>
void phi_t(const Model& m, const SeqBatch& batch, const double* theta, const Exec& exec, const PhiOut& out) {
    const Plan<T> plan(m, theta);
    if (exec.device == Device::CUDA) return cuda::phi_forward(plan, batch, exec, out);
    const Isa isa = resolve(exec.isa);
    CISREG_CPU_CALL(isa, phi_forward<T>, plan, batch, exec, out);
}

template <class T>
double loss_t(const Model& m, const SeqBatch& batch, const Targets& tg, const double* weights, const double* theta,
              const Exec& exec, double* grad, double* nll_rows) {
    const Plan<T> plan(m, theta);
    if (exec.device == Device::CUDA) return cuda::loss_and_grad(plan, batch, tg, weights, theta, exec, grad, nll_rows);
    const Isa isa = resolve(exec.isa);
    return CISREG_CPU_CALL(isa, loss_and_grad<T>, plan, batch, tg, weights, theta, exec, grad, nll_rows);
}

template <class T>
void vjp_t(const Model& m, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec,
           double* grad) {
    const Plan<T> plan(m, theta);
    if (exec.device == Device::CUDA) return cuda::phi_vjp(plan, batch, cot, theta, exec, grad);
    const Isa isa = resolve(exec.isa);
    CISREG_CPU_CALL(isa, phi_vjp<T>, plan, batch, cot, theta, exec, grad);
}

}  // namespace

void phi_forward(const Model& m, const SeqBatch& batch, const double* theta, const Exec& exec, PhiOut out) {
    check_call(m, batch, theta, exec);
    if (exec.precision == Precision::F32)
        phi_t<float>(m, batch, theta, exec, out);
    else
        phi_t<double>(m, batch, theta, exec, out);
}

double loss_and_grad(const Model& m, const SeqBatch& batch, const Targets& tg, const double* weights,
                     const double* theta, const Exec& exec, double* grad, double* nll_rows) {
    check_call(m, batch, theta, exec);
    if (tg.cols != m.meas.n_targets())
        throw InputError("targets: " + std::to_string(tg.cols) + " columns, the measurement needs " +
                         std::to_string(m.meas.n_targets()));
    if (exec.precision == Precision::F32) return loss_t<float>(m, batch, tg, weights, theta, exec, grad, nll_rows);
    return loss_t<double>(m, batch, tg, weights, theta, exec, grad, nll_rows);
}

void phi_vjp(const Model& m, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec,
             double* grad) {
    check_call(m, batch, theta, exec);
    if (exec.precision == Precision::F32)
        vjp_t<float>(m, batch, cot, theta, exec, grad);
    else
        vjp_t<double>(m, batch, cot, theta, exec, grad);
}

void measurement_forward(const Model& m, const double* theta, const double* phi, int64_t b, double* out,
                         const Exec& exec) {
    if (exec.n_threads < 1) throw InputError("n_threads must be >= 1, got " + std::to_string(exec.n_threads));
    const Plan<double> plan(m, theta);
    const Isa isa = resolve(exec.isa);
    CISREG_CPU_CALL(isa, measurement_rows, plan, phi, b, out, exec);
}

namespace {
// Table lookups and hidden units of a row: what chunk_rows weighs against the flush of a
// chunk's partial gradient.
int64_t site_and_measurement_work(const Model& m) {
    int64_t work = 1;
    for (const Site& s : m.sites.sites) work += static_cast<int64_t>(s.width + s.n_pairs) * s.n_configs();
    return work + stages::visit_measurement<double>(m.meas.kind, [&](auto st) { return decltype(st)::work(m.meas); });
}
}  // namespace

int64_t row_work(const Model& m) {
    return site_and_measurement_work(m) +
           stages::visit_gpmap<double>(m.gp, [&](auto st) { return decltype(st)::work(decltype(st)::src(m)); });
}

namespace {
std::atomic<int64_t> g_min_thread_work{kMinThreadWork};
}

int64_t set_min_thread_work(int64_t work) {
    if (work < 0) throw InputError("min_thread_work must be >= 0, got " + std::to_string(work));
    return g_min_thread_work.exchange(work);
}

int threads_for_work(const Exec& exec, int64_t n_chunks, int64_t work) {
    int64_t nt = exec.n_threads < 1 ? 1 : exec.n_threads;
    nt = std::min(nt, std::max<int64_t>(1, n_chunks));
    const int64_t per =
        exec.min_thread_work >= 0 ? exec.min_thread_work : g_min_thread_work.load(std::memory_order_relaxed);
    if (per > 0) nt = std::min(nt, std::max<int64_t>(1, work / per));
    return static_cast<int>(nt);
}

int64_t chunk_rows(const Model& m, int64_t b) {
    // work per row, in table lookups / hidden units: the rows must outweigh zeroing and
    // summing a partial gradient of P entries per chunk
    const int64_t work = site_and_measurement_work(m);
    int64_t rows = 256;
    while (rows < 65536 && rows * work < 16 * m.n_params) rows *= 2;
    // large batches: longer chunks (fewer flushes of the lane accumulators), still at least
    // 16 chunks for the threads
    while (rows < 4096 && rows * 2 * 16 <= b) rows *= 2;
    return rows;
}

void check_codes(int32_t alphabet_size, const SeqBatch& batch) {
    for (int64_t i = 0; i < batch.b; ++i) {
        const uint8_t* x = batch.codes + batch.row(i) * batch.L;
        uint8_t mx = 0;
        for (int64_t p = 0; p < batch.L; ++p) mx = x[p] > mx ? x[p] : mx;  // vectorised scan first
        if (mx < alphabet_size) continue;
        for (int64_t p = 0; p < batch.L; ++p)
            if (x[p] >= alphabet_size)
                throw InputError("codes: row " + std::to_string(batch.row(i)) + ", position " + std::to_string(p) +
                                 " holds code " + std::to_string(static_cast<int>(x[p])) +
                                 ", outside the alphabet (codes must be < " + std::to_string(alphabet_size) +
                                 "); encode sequences with cisreg.encode");
    }
}

void check_targets(const Model& m, const SeqBatch& batch, const Targets& tg) {
    for (int64_t i = 0; i < batch.b; ++i) {
        const int64_t r = tg.by_position ? i : batch.row(i);
        for (int64_t j = 0; j < tg.cols; ++j) {
            const double v = tg.at(r, j);
            if (!std::isfinite(v))
                throw InputError("targets: row " + std::to_string(r) + ", column " + std::to_string(j) +
                                 " is not finite; remove or fix that measurement");
            if (!tg.by_position && m.meas.nonnegative(j) && v < 0)
                throw InputError("targets: row " + std::to_string(r) + ", column " + std::to_string(j) +
                                 (m.meas.counts() ? " is a negative count; counts must be >= 0"
                                                  : " is a negative measurement error (dy); it must be >= 0"));
            if (!tg.by_position && j < m.meas.positive_cols() && v == 0)
                throw InputError("targets: row " + std::to_string(r) + ", column " + std::to_string(j) +
                                 " is an input count of 0 and the measurement has no pseudocount, so the "
                                 "expected output would be 0; set a pseudocount > 0 or drop the row");
        }
    }
}

void check_weights(const SeqBatch& batch, const double* w) {
    if (!w) return;
    for (int64_t i = 0; i < batch.b; ++i) {
        const double v = w[batch.row(i)];
        if (!(std::isfinite(v) && v >= 0))
            throw InputError("weights[" + std::to_string(batch.row(i)) + "] = " + std::to_string(v) +
                             "; weights must be finite and >= 0");
    }
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Auto:
            return "auto";
        case Isa::Scalar:
            return "scalar";
        case Isa::Generic:
            return "generic";
        case Isa::X86V3:
            return "x86-64-v3";
        case Isa::X86V4:
            return "x86-64-v4";
    }
    return "?";
}

int n_cpu_levels() {
#ifdef CISREG_HAVE_X86_LEVELS
    return 4;
#else
    return 2;
#endif
}

Isa cpu_level_at(int i) {
    static const Isa levels[] = {Isa::Scalar, Isa::Generic, Isa::X86V3, Isa::X86V4};
    return levels[i];
}

const char* cpu_kernel_level() { return isa_name(auto_level()); }

Isa set_cpu_level(Isa isa) {
    const Isa before = auto_level();
    if (isa != Isa::Auto) (void)resolve(isa);  // throws for a level this CPU or build cannot run
    g_level_override.store(static_cast<int32_t>(isa), std::memory_order_relaxed);
    return before;
}

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

bool has_cuda() { return cuda::available(); }

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace cisreg
