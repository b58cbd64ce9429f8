// The minibatch loop of a fit in the core: one call runs a whole epoch of Adam steps
// (src/epoch.hpp documents the contract). Each minibatch is one loss_and_grad call of the
// dispatch point, so it runs on whichever device, precision and CPU copy Exec names, with
// the thread policy of the kernels (a minibatch too small to pay for threads runs on one).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/ops.hpp"

namespace cisreg {

void adam_step(const AdamConfig& cfg, AdamState& st, const double* grad, double* theta, int64_t P) {
    st.t += 1;
    const double b1 = cfg.beta1, b2 = cfg.beta2;
    // the same operations, in the same order, as cisreg.training.adam.Adam.step (bit for bit)
    const double lr_t = cfg.learning_rate * std::sqrt(1.0 - std::pow(b2, static_cast<double>(st.t))) /
                        (1.0 - std::pow(b1, static_cast<double>(st.t)));
    for (int64_t j = 0; j < P; ++j) {
        const double g = grad[j];
        st.m[j] = st.m[j] * b1 + (1.0 - b1) * g;
        st.v[j] = st.v[j] * b2 + (1.0 - b2) * (g * g);
        if (cfg.mask && !cfg.mask[j]) continue;
        const double s = st.m[j] / (std::sqrt(st.v[j]) + cfg.eps) * lr_t;
        theta[j] -= s;
    }
}

EpochResult adam_epoch(const Model& m, const SeqBatch& data, const Targets& tg, const double* weights,
                       const EpochPlan& plan, const AdamConfig& cfg, AdamState& st, double* theta, const Exec& exec,
                       double* grad) {
    if (data.rows) throw InputError("adam_epoch: the data batch must hold every row (rows == nullptr)");
    if (plan.batch_size < 1) throw InputError("batch_size must be >= 1, got " + std::to_string(plan.batch_size));
    for (int64_t i = 0; i < plan.n_order; ++i)
        if (plan.order[i] < 0 || plan.order[i] >= data.n)
            throw InputError("order[" + std::to_string(i) + "] = " + std::to_string(plan.order[i]) +
                             " is out of range for " + std::to_string(data.n) + " sequences");
    const int64_t P = m.n_params;
    EpochResult out;
    // Threads for minibatches the policy would run on one thread: measured, not assumed.
    // Minibatches 0 .. 2 kProbe - 1 alternate between one thread and every thread; the
    // faster per row (by more than 5%) runs the rest of the epoch.
    constexpr int64_t kProbe = 4;
    Exec one = exec, all = exec;
    one.n_threads = 1;
    all.min_thread_work = 0;
    const int64_t n_batches = (plan.n_order + plan.batch_size - 1) / plan.batch_size;
    const int64_t typical = std::min(plan.batch_size, plan.n_order);
    const bool probe = exec.device == Device::CPU && exec.n_threads > 1 && n_batches >= 8 * kProbe &&
                       threads_for_work(exec, int64_t{1} << 30, typical * row_work(m)) < exec.n_threads;
    double t_one = 0.0, t_all = 0.0;
    const Exec* chosen = &exec;
    std::vector<int64_t> rows(static_cast<size_t>(std::min(plan.batch_size, std::max<int64_t>(plan.n_order, 1))));
    int64_t since_check = 0;
    for (int64_t i = 0; i < plan.n_order; i += plan.batch_size) {
        const int64_t b = std::min(plan.batch_size, plan.n_order - i);
        // sorted: the kernels read the codes in memory order
        std::copy(plan.order + i, plan.order + i + b, rows.begin());
        std::sort(rows.begin(), rows.begin() + b);
        SeqBatch mb = data;
        mb.rows = rows.data();
        mb.b = b;
        const int64_t k = i / plan.batch_size;
        double loss;
        if (probe && k < 2 * kProbe) {
            const bool use_all = (k & 1) != 0;
            const auto t0 = std::chrono::steady_clock::now();
            loss = loss_and_grad(m, mb, tg, weights, theta, use_all ? all : one, grad, nullptr);
            const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            (use_all ? t_all : t_one) += dt;
            if (k == 2 * kProbe - 1) chosen = t_all < 0.95 * t_one ? &all : &one;
        } else {
            loss = loss_and_grad(m, mb, tg, weights, theta, *chosen, grad, nullptr);
        }
        double reads = 0.0;
        for (int64_t q = 0; q < b; ++q) reads += plan.amounts[rows[static_cast<size_t>(q)]];
        out.rows += b;
        since_check += b;
        if (reads == 0) continue;
        bool finite = std::isfinite(loss);
        for (int64_t j = 0; j < P && finite; ++j) finite = std::isfinite(grad[j]);
        if (!finite) {
            out.status = EpochStatus::Diverged;
            return out;
        }
        // per row (variant): the penalty l2 theta^2 / 2 is per variant, whatever the reads per
        // variant (python/cisreg/training/adam.py, train_epoch)
        const double per = static_cast<double>(b);
        for (int64_t j = 0; j < P; ++j) {
            grad[j] /= per;
            grad[j] += plan.l2[j] * theta[j];
        }
        adam_step(cfg, st, grad, theta, P);
        for (int64_t j = 0; j < P; ++j)
            if (!std::isfinite(theta[j])) {
                out.status = EpochStatus::Diverged;
                return out;
            }
        out.loss += loss;
        out.reads += reads;
        out.steps += 1;
        if (plan.should_stop && since_check >= plan.check_rows) {
            since_check = 0;
            if (plan.should_stop(plan.stop_ctx)) {
                out.status = EpochStatus::Stopped;
                return out;
            }
        }
    }
    return out;
}

}  // namespace cisreg
