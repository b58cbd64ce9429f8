// Bindings of the kernels (cisreg/ops.hpp). Every argument is converted and checked while
// the GIL is held; the kernels run with the GIL released and touch no Python object.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "cisreg/model.hpp"
#include "cisreg/ops.hpp"

namespace cisreg::bind {
namespace {

// Execution options common to the kernels.
Exec make_exec(int n_threads, const std::string& dtype, const std::string& isa, const std::string& device) {
    Exec e;
    if (n_threads < 1) throw InputError("n_threads must be >= 1, got " + std::to_string(n_threads));
    e.n_threads = n_threads;
    if (dtype == "float64")
        e.precision = Precision::F64;
    else if (dtype == "float32")
        e.precision = Precision::F32;
    else
        throw InputError("dtype must be 'float64' or 'float32', got '" + dtype + "'");
    if (device == "cpu")
        e.device = Device::CPU;
    else if (device == "cuda")
        e.device = Device::CUDA;
    else
        throw InputError("device must be 'cpu' or 'cuda', got '" + device + "'");
    e.isa = Isa::Auto;
    if (isa != "auto") {
        bool found = false;
        for (int i = 0; i < n_cpu_levels(); ++i)
            if (isa == isa_name(cpu_level_at(i))) {
                e.isa = cpu_level_at(i);
                found = true;
            }
        if (!found) throw InputError("isa '" + isa + "' is not one of the kernel levels of this build");
    }
    return e;
}

// Validated codes, theta and rows.
struct Inputs {
    py::array codes, theta;
    std::vector<int64_t> rows;  // a private copy: Python code cannot change it while a kernel runs
    SeqBatch batch;
    const double* th = nullptr;
    Inputs() = default;
    Inputs(const Inputs&) = delete;
    Inputs& operator=(const Inputs&) = delete;
};

void prepare(Inputs& in, const Model& m, const py::object& codes_o, const py::object& theta_o,
             const py::object& rows_o) {
    in.codes = checked<uint8_t>(codes_o, "codes", 2);
    check_len(in.codes, 1, m.sites.length, "codes", "sequence length of the model");
    in.theta = checked<double>(theta_o, "theta", 1);
    check_len(in.theta, 0, m.n_params, "theta", "number of model parameters");
    in.th = static_cast<const double*>(in.theta.data());
    in.batch.codes = static_cast<const uint8_t*>(in.codes.data());
    in.batch.n = in.codes.shape(0);
    in.batch.L = in.codes.shape(1);
    if (rows_o.is_none()) {
        in.batch.rows = nullptr;
        in.batch.b = in.batch.n;
    } else {
        py::array rows = checked<int64_t>(rows_o, "rows", 1);
        const int64_t* rp = static_cast<const int64_t*>(rows.data());
        in.rows.assign(rp, rp + rows.shape(0));
        in.batch.rows = in.rows.data();
        in.batch.b = rows.shape(0);
        for (int64_t i = 0; i < in.batch.b; ++i)
            if (in.rows[static_cast<size_t>(i)] < 0 || in.rows[static_cast<size_t>(i)] >= in.batch.n)
                throw InputError("rows[" + std::to_string(i) +
                                 "] = " + std::to_string(in.rows[static_cast<size_t>(i)]) + " is out of range for " +
                                 std::to_string(in.batch.n) + " sequences");
    }
    // codes outside the alphabet, non-finite or negative targets and bad weights are found by
    // the kernels while they load the rows (in parallel) and reported with row and column
}

// Targets [n, T] in float64 or float32, checked on the selected rows.
Targets checked_targets(const Model& m, const SeqBatch& batch, const py::object& targets_o, py::array& keep) {
    keep = as_array(targets_o, "targets", "float64 or float32");
    Targets tg;
    if (holds<double>(keep))
        tg.f64 = static_cast<const double*>(keep.data());
    else if (holds<float>(keep))
        tg.f32 = static_cast<const float*>(keep.data());
    else
        throw InputError("targets: expected dtype float64 or float32, got " + std::string(py::str(keep.dtype())) +
                         " (convert once with np.ascontiguousarray(targets, dtype=np.float64))");
    check_layout(keep, "targets", 2, false);
    check_len(keep, 0, batch.n, "targets", "one row per sequence in codes");
    check_len(keep, 1, m.meas.n_targets(), "targets", "columns required by the measurement process");
    tg.cols = m.meas.n_targets();
    return tg;
}

const double* checked_weights(const SeqBatch& batch, const py::object& w_o, py::array& keep) {
    if (w_o.is_none()) return nullptr;
    keep = checked<double>(w_o, "weights", 1);
    check_len(keep, 0, batch.n, "weights", "one weight per sequence in codes");
    const double* w = static_cast<const double*>(keep.data());
    return w;
}

// grad_out (overwritten in place) or a new array [P].
py::array grad_array(const py::object& grad_out, int64_t P, const double* theta) {
    py::array grad;
    if (grad_out.is_none()) {
        grad = py::array_t<double>(static_cast<py::ssize_t>(P));
    } else {
        grad = checked<double>(grad_out, "grad_out", 1, true);
        check_len(grad, 0, P, "grad_out", "number of model parameters");
    }
    const size_t bytes = sizeof(double) * static_cast<size_t>(P);
    if (overlaps(grad.mutable_data(), bytes, theta, bytes))
        throw InputError("grad_out shares memory with theta; pass a separate array");
    return grad;
}

}  // namespace

void register_kernels(py::module_& m) {
    m.def(
        "phi",
        [](const Model& md, const py::object& codes, const py::object& theta, const py::object& rows, int n_threads,
           bool details, bool placements, const std::string& dtype, const std::string& isa,
           const std::string& device) -> py::object {
            const Exec exec = make_exec(n_threads, dtype, isa, device);
            Inputs in;
            prepare(in, md, codes, theta, rows);
            const py::ssize_t b = static_cast<py::ssize_t>(in.batch.b);
            py::array_t<double> phi(b);
            PhiOut out;
            out.phi = phi.mutable_data();
            py::array_t<double> dG, logp, logZ, pl;
            if (details) {
                dG = py::array_t<double>({b, static_cast<py::ssize_t>(md.sites.n_sites())});
                logp = py::array_t<double>({b, static_cast<py::ssize_t>(md.n_states())});
                logZ = py::array_t<double>(b);
                out.dG = dG.mutable_data();
                out.state_logp = logp.mutable_data();
                out.logZ = logZ.mutable_data();
            }
            if (placements) {
                pl = py::array_t<double>({b, static_cast<py::ssize_t>(md.sites.n_resid())});
                out.placements = pl.mutable_data();
            }
            {
                py::gil_scoped_release release;  // no Python object is touched below
                phi_forward(md, in.batch, in.th, exec, out);
            }
            if (!details && !placements) return std::move(phi);
            py::list res;
            res.append(phi);
            if (details) {
                res.append(dG);
                res.append(logp);
                res.append(logZ);
            }
            if (placements) res.append(pl);
            return py::tuple(res);
        },
        py::arg("model"), py::arg("codes"), py::arg("theta"), py::arg("rows") = py::none(), py::arg("n_threads") = 1,
        py::arg("details") = false, py::kw_only(), py::arg("placements") = false, py::arg("dtype") = "float64",
        py::arg("isa") = "auto", py::arg("device") = "cpu",
        "phi [b] for each selected row; details=True adds (dG [b,S], log state probabilities [b,K], logZ [b]); "
        "placements=True adds the placement weights of sliding sites [b, n_resid].");

    m.def(
        "loss_and_grad",
        [](const Model& md, const py::object& codes, const py::object& targets_o, const py::object& theta,
           const py::object& rows, int n_threads, bool want_grad, const py::object& grad_out, bool per_row,
           const py::object& weights_o, const std::string& dtype, const std::string& isa,
           const std::string& device) -> py::object {
            const Exec exec = make_exec(n_threads, dtype, isa, device);
            Inputs in;
            prepare(in, md, codes, theta, rows);
            py::array keep_t, keep_w;
            const Targets tg = checked_targets(md, in.batch, targets_o, keep_t);
            const double* w = checked_weights(in.batch, weights_o, keep_w);
            py::array grad;
            double* gp = nullptr;
            if (want_grad) {
                grad = grad_array(grad_out, md.n_params, in.th);
                gp = static_cast<double*>(grad.mutable_data());
            }
            py::array_t<double> nll_rows;
            double* np = nullptr;
            if (per_row) {
                nll_rows = py::array_t<double>(static_cast<py::ssize_t>(in.batch.b));
                np = nll_rows.mutable_data();
            }
            double loss;
            {
                py::gil_scoped_release release;  // no Python object is touched below
                loss = loss_and_grad(md, in.batch, tg, w, in.th, exec, gp, np);
            }
            py::object g = want_grad ? py::object(grad) : py::object(py::none());
            if (per_row) return py::make_tuple(loss, g, nll_rows);
            return py::make_tuple(loss, g);
        },
        py::arg("model"), py::arg("codes"), py::arg("targets"), py::arg("theta"), py::arg("rows") = py::none(),
        py::arg("n_threads") = 1, py::arg("want_grad") = true, py::arg("grad_out") = py::none(),
        py::arg("per_row") = false, py::kw_only(), py::arg("weights") = py::none(), py::arg("dtype") = "float64",
        py::arg("isa") = "auto", py::arg("device") = "cpu",
        "Summed (weighted) negative log-likelihood over the selected rows and its gradient: (loss, grad); grad_out, "
        "if given, is overwritten; per_row=True adds the per-row NLL.");

    m.def(
        "adam_epoch",
        [](const Model& md, const py::object& codes, const py::object& targets_o, const py::object& theta_o,
           const py::object& m_o, const py::object& v_o, int64_t t, const py::object& order_o, int64_t batch_size,
           const py::object& amounts_o, const py::object& l2_o, double learning_rate, double beta1, double beta2,
           double eps, const py::object& mask_o, const py::object& weights_o, int n_threads, const std::string& dtype,
           const std::string& isa, const std::string& device) -> py::tuple {
            const Exec exec = make_exec(n_threads, dtype, isa, device);
            Inputs in;
            prepare(in, md, codes, theta_o, py::none());
            if (!in.theta.writeable()) throw InputError("theta: array must be writeable (it is updated in place)");
            py::array keep_t, keep_w;
            const Targets tg = checked_targets(md, in.batch, targets_o, keep_t);
            const double* w = checked_weights(in.batch, weights_o, keep_w);
            const int64_t P = md.n_params;
            py::array am = checked<double>(m_o, "adam_m", 1, true), av = checked<double>(v_o, "adam_v", 1, true);
            check_len(am, 0, P, "adam_m", "number of model parameters");
            check_len(av, 0, P, "adam_v", "number of model parameters");
            py::array order = checked<int64_t>(order_o, "order", 1);
            py::array amounts = checked<double>(amounts_o, "amounts", 1);
            check_len(amounts, 0, in.batch.n, "amounts", "one value per sequence in codes");
            py::array l2 = checked<double>(l2_o, "l2", 1);
            check_len(l2, 0, P, "l2", "number of model parameters");
            AdamConfig cfg;
            cfg.learning_rate = learning_rate;
            cfg.beta1 = beta1;
            cfg.beta2 = beta2;
            cfg.eps = eps;
            py::array mask;
            if (!mask_o.is_none()) {
                mask = checked<uint8_t>(mask_o, "mask", 1);
                check_len(mask, 0, P, "mask", "number of model parameters");
                cfg.mask = static_cast<const uint8_t*>(mask.data());
            }
            double* theta = static_cast<double*>(in.theta.mutable_data());
            const size_t bytes = sizeof(double) * static_cast<size_t>(P);
            if (overlaps(am.mutable_data(), bytes, theta, bytes) || overlaps(av.mutable_data(), bytes, theta, bytes) ||
                overlaps(am.mutable_data(), bytes, av.mutable_data(), bytes))
                throw InputError("theta, adam_m and adam_v must not share memory");
            AdamState st;
            st.m = static_cast<double*>(am.mutable_data());
            st.v = static_cast<double*>(av.mutable_data());
            st.t = t;
            EpochPlan plan;
            plan.order = static_cast<const int64_t*>(order.data());
            plan.n_order = order.shape(0);
            plan.batch_size = batch_size;
            plan.amounts = static_cast<const double*>(amounts.data());
            plan.l2 = static_cast<const double*>(l2.data());
            // Ctrl-C: the Python signal handlers run every check_rows rows (with the GIL);
            // an exception they raise ends the epoch and is raised here
            struct Signals {
                bool raised = false;
            } sig;
            plan.should_stop = [](void* ctx) {
                py::gil_scoped_acquire gil;
                if (PyErr_CheckSignals() != 0) {
                    static_cast<Signals*>(ctx)->raised = true;
                    return true;
                }
                return false;
            };
            plan.stop_ctx = &sig;
            std::vector<double> grad(static_cast<size_t>(P));
            EpochResult res;
            {
                py::gil_scoped_release release;
                res = adam_epoch(md, in.batch, tg, w, plan, cfg, st, theta, exec, grad.data());
            }
            if (sig.raised) throw py::error_already_set();
            const char* status = res.status == EpochStatus::Complete   ? "complete"
                                 : res.status == EpochStatus::Diverged ? "diverged"
                                                                       : "stopped";
            return py::make_tuple(res.loss, res.reads, st.t, status);
        },
        py::arg("model"), py::arg("codes"), py::arg("targets"), py::arg("theta"), py::arg("adam_m"), py::arg("adam_v"),
        py::arg("adam_t"), py::arg("order"), py::arg("batch_size"), py::arg("amounts"), py::arg("l2"), py::kw_only(),
        py::arg("learning_rate") = 0.01, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
        py::arg("mask") = py::none(), py::arg("weights") = py::none(), py::arg("n_threads") = 1,
        py::arg("dtype") = "float64", py::arg("isa") = "auto", py::arg("device") = "cpu",
        "One epoch of minibatch Adam in the core: the rows `order` in minibatches of batch_size (each sorted), per "
        "minibatch the gradient of its loss per row (a minibatch without reads, by amounts, is skipped) plus "
        "l2 * theta and one Adam step, updating theta, "
        "adam_m and adam_v in place. Returns (summed loss, reads, adam_t, status), status 'complete' or 'diverged' "
        "(a non-finite loss, gradient or parameter: theta is then the diverged one).");

    m.def(
        "phi_vjp",
        [](const Model& md, const py::object& codes, const py::object& theta, const py::object& cot_o,
           const py::object& rows, int n_threads, const py::object& grad_out, const std::string& dtype,
           const std::string& isa, const std::string& device) -> py::object {
            const Exec exec = make_exec(n_threads, dtype, isa, device);
            Inputs in;
            prepare(in, md, codes, theta, rows);
            py::array cot = checked<double>(cot_o, "cotangent", 1);
            check_len(cot, 0, in.batch.b, "cotangent", "one value per selected row");
            const double* c = static_cast<const double*>(cot.data());
            for (int64_t i = 0; i < in.batch.b; ++i)
                if (!std::isfinite(c[i])) throw InputError("cotangent[" + std::to_string(i) + "] is not finite");
            py::array grad = grad_array(grad_out, md.n_params, in.th);
            double* gp = static_cast<double*>(grad.mutable_data());
            {
                py::gil_scoped_release release;
                phi_vjp(md, in.batch, c, in.th, exec, gp);
            }
            return grad;
        },
        py::arg("model"), py::arg("codes"), py::arg("theta"), py::arg("cotangent"), py::arg("rows") = py::none(),
        py::arg("n_threads") = 1, py::arg("grad_out") = py::none(), py::kw_only(), py::arg("dtype") = "float64",
        py::arg("isa") = "auto", py::arg("device") = "cpu",
        "sum_i cotangent[i] d phi_i / d theta [P] (the vector-Jacobian product of phi).");

    m.def(
        "measurement_forward",
        [](const Model& md, const py::object& theta_o, const py::object& phi_o, int n_threads, const std::string& isa) {
            const Exec exec = make_exec(n_threads, "float64", isa, "cpu");
            py::array theta = checked<double>(theta_o, "theta", 1);
            check_len(theta, 0, md.n_params, "theta", "number of model parameters");
            const double* th = static_cast<const double*>(theta.data());
            for (int64_t i = 0; i < md.n_params; ++i)
                if (!std::isfinite(th[i])) throw InputError("theta[" + std::to_string(i) + "] is not finite");
            py::array phi = checked<double>(phi_o, "phi", 1);
            const int64_t b = phi.shape(0);
            const double* ph = static_cast<const double*>(phi.data());
            for (int64_t i = 0; i < b; ++i)
                if (!std::isfinite(ph[i])) throw InputError("phi[" + std::to_string(i) + "] is not finite");
            const int64_t T = md.meas.kind == MeasKind::SortSeq ? md.meas.n_bins : 1;
            py::array_t<double> out({static_cast<py::ssize_t>(b), static_cast<py::ssize_t>(T)});
            double* o = out.mutable_data();
            {
                py::gil_scoped_release release;
                measurement_forward(md, th, ph, b, o, exec);
            }
            return out;
        },
        py::arg("model"), py::arg("theta"), py::arg("phi"), py::arg("n_threads") = 1, py::kw_only(),
        py::arg("isa") = "auto",
        "log p(y|phi) [b, Y] for sort-seq; g(phi) [b, 1] for GE; for counts [b, 1] the log of the expected output per "
        "input read at the replicates' mean depth.");

    m.def("has_openmp", &has_openmp);
    m.def("cuda_available", &has_cuda, "Whether this build has the CUDA back end and a device is visible.");
    m.def("max_threads", &max_threads);
    m.def(
        "cpu_kernel_level", []() { return std::string(cpu_kernel_level()); },
        "The CPU kernel level that isa='auto' runs.");
    m.def(
        "set_cpu_kernel_level",
        [](const std::string& level) {
            const Exec e = make_exec(1, "float64", level, "cpu");
            return std::string(isa_name(set_cpu_level(e.isa)));
        },
        py::arg("level"),
        "Make `level` (one of kernel_levels(), or 'auto' for the CPU's own) the level that isa='auto' runs in "
        "every later call of this process; returns the level it ran before. Raises InputError for a level this "
        "CPU cannot run.");
    m.def("set_min_thread_work", &set_min_thread_work, py::arg("work"),
          "Set the least row work (about one unit per table lookup or hidden unit) for which a kernel call uses "
          "another thread (0: always use the threads asked for); returns the previous value. Process-wide.");
    m.def("row_work", &row_work, py::arg("model"), "Work per row of the model, in the units of set_min_thread_work.");
    m.def(
        "kernel_levels",
        []() {
            std::vector<std::string> out;
            for (int i = 0; i < n_cpu_levels(); ++i) out.emplace_back(isa_name(cpu_level_at(i)));
            return out;
        },
        "The CPU kernel levels compiled into this build (not all may run on this CPU).");
}

}  // namespace cisreg::bind
