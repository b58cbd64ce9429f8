// Argument checks shared by the kernel bindings.
#pragma once
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/arrays.hpp"
#include "cisreg/network.hpp"
#include "cisreg/ops.hpp"
#include "cisreg/view.hpp"

namespace cisreg::bind {

// Validated inputs common to the kernels.
struct Inputs {
    std::vector<int64_t> rows;  // a private copy: Python code cannot change it while a kernel runs
    SeqBatch batch;             // batch.rows points into `rows` (moves keep the buffer)
    Inputs() = default;
    Inputs(const Inputs&) = delete;
    Inputs& operator=(const Inputs&) = delete;
    Inputs(Inputs&&) = default;
    Inputs& operator=(Inputs&&) = default;
    const double* theta = nullptr;
    Exec exec;
};

inline Inputs prepare(int32_t length, int64_t n_params, int32_t alphabet_size, const py::object& codes_o,
                      const py::object& theta_o, const py::object& rows_o, int n_threads) {
    Inputs in;
    py::array codes = checked<uint8_t>(codes_o, "codes", 2);
    check_len(codes, 1, length, "codes", "sequence length of the model");
    py::array theta = checked<double>(theta_o, "theta", 1);
    check_len(theta, 0, n_params, "theta", "number of model parameters");
    in.theta = static_cast<const double*>(theta.data());
    check_finite(in.theta, n_params, "theta");
    in.batch.codes = static_cast<const uint8_t*>(codes.data());
    in.batch.n = codes.shape(0);
    in.batch.L = codes.shape(1);
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
            if (in.batch.rows[i] < 0 || in.batch.rows[i] >= in.batch.n)
                throw InputError("rows[" + std::to_string(i) + "] = " + std::to_string(in.batch.rows[i]) +
                                 " is out of range for " + std::to_string(in.batch.n) + " sequences");
    }
    if (n_threads < 1) throw InputError("n_threads must be >= 1, got " + std::to_string(n_threads));
    check_codes(alphabet_size, in.batch);  // every position, not only those inside site windows
    in.exec.n_threads = n_threads;
    return in;
}

inline void check_targets(const Measurement& meas, const SeqBatch& batch, const double* tg) {
    const int64_t T = meas.n_targets();
    for (int64_t i = 0; i < batch.b; ++i) {
        const int64_t r = batch.row(i);
        for (int64_t j = 0; j < T; ++j) {
            const double v = tg[r * T + j];
            if (!std::isfinite(v))
                throw InputError("targets: row " + std::to_string(r) + ", column " + std::to_string(j) +
                                 " is not finite; remove or fix that measurement");
            if (meas.kind == MeasKind::SortSeq && v < 0)
                throw InputError("targets: row " + std::to_string(r) + ", column " + std::to_string(j) +
                                 " is a negative count; counts must be >= 0");
        }
    }
}


// Sites given as (start, width, e_offset, eps_offset) tuples.
inline std::vector<Site> to_sites(const std::vector<std::tuple<int32_t, int32_t, int64_t, int64_t>>& sites) {
    std::vector<Site> out;
    for (const auto& t : sites) {
        Site st;
        st.start = std::get<0>(t);
        st.width = std::get<1>(t);
        st.e_offset = std::get<2>(t);
        st.eps_offset = std::get<3>(t);
        out.push_back(st);
    }
    return out;
}

// Targets array [n, T] for a measurement, checked on the selected rows.
inline const double* checked_targets(const Measurement& meas, const SeqBatch& batch, const py::object& targets_o,
                                     py::array& keep) {
    keep = checked<double>(targets_o, "targets", 2);
    check_len(keep, 0, batch.n, "targets", "one row per sequence in codes");
    check_len(keep, 1, meas.n_targets(), "targets", "columns required by the measurement process");
    const double* tg = static_cast<const double*>(keep.data());
    check_targets(meas, batch, tg);
    return tg;
}

// The shared body of the loss-and-gradient bindings: check the arguments, allocate the
// outputs, then run `kernel(in, targets, grad or null, nll_rows or null)` without the GIL.
template <class Kernel>
py::object loss_binding(int32_t length, int64_t n_params, int32_t alphabet_size, const Measurement& meas,
                        const py::object& codes, const py::object& targets_o, const py::object& theta,
                        const py::object& rows, int n_threads, bool want_grad, const py::object& grad_out,
                        bool per_row, Kernel kernel) {
    check_measurement(meas, n_params);
    Inputs in = prepare(length, n_params, alphabet_size, codes, theta, rows, n_threads);
    py::array keep;
    const double* tg = checked_targets(meas, in.batch, targets_o, keep);
    py::array grad;
    double* gp = nullptr;
    if (want_grad) {
        if (grad_out.is_none()) {
            grad = py::array_t<double>(static_cast<py::ssize_t>(n_params));
        } else {
            grad = checked<double>(grad_out, "grad_out", 1, true);
            check_len(grad, 0, n_params, "grad_out", "number of model parameters");
        }
        gp = static_cast<double*>(grad.mutable_data());
        const size_t bytes = sizeof(double) * static_cast<size_t>(n_params);
        if (overlaps(gp, bytes, in.theta, bytes))
            throw InputError("grad_out shares memory with theta; pass a separate array");
        std::fill(gp, gp + n_params, 0.0);
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
        loss = kernel(in, tg, gp, np);
    }
    py::object g = want_grad ? py::object(grad) : py::object(py::none());
    if (per_row) return py::make_tuple(loss, g, nll_rows);
    return py::make_tuple(loss, g);
}

}  // namespace cisreg::bind
