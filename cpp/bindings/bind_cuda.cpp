// Bindings of the CUDA back end: device queries, the device-resident session and the
// host-side check of the plan image. In a build without CUDA every entry exists and
// reports that (cuda_available() is False; CudaSession(...) raises cisreg.InputError).
#include <memory>
#include <string>

#include "bindings/arrays.hpp"
#include "cisreg/model.hpp"
#include "cisreg/ops.hpp"
#include "kernels/cuda/image.hpp"
#include "kernels/cuda/session.hpp"

namespace cisreg::bind {
namespace {

Precision precision_of(const std::string& dtype) {
    if (dtype == "float64") return Precision::F64;
    if (dtype == "float32") return Precision::F32;
    throw InputError("dtype must be 'float64' or 'float32', got '" + dtype + "'");
}

cuda::Residency residency_of(const std::string& r) {
    if (r == "auto") return cuda::Residency::Auto;
    if (r == "device") return cuda::Residency::Device;
    if (r == "host") return cuda::Residency::Host;
    throw InputError("residency must be 'auto', 'device' or 'host', got '" + r + "'");
}

// The session and the arrays it may read in place (Residency::Host).
struct PySession {
    std::unique_ptr<cuda::Session> s;
    py::object codes, targets, weights;
    int64_t P = 0;
    py::ssize_t S = 0, K = 0, NR = 0;  // sites, states, placement weights (phi details)
};

// Slot 7 holds rows passed as an array to loss_and_grad / phi.
constexpr int kScratchSlot = 7;

int rows_slot(PySession& ps, const py::object& rows_o, int slot) {
    if (rows_o.is_none()) return slot;
    py::array rows = checked<int64_t>(rows_o, "rows", 1);
    const int64_t* r = static_cast<const int64_t*>(rows.data());
    const int64_t b = rows.shape(0);
    {
        py::gil_scoped_release release;
        ps.s->set_rows(kScratchSlot, r, b);
    }
    return kScratchSlot;
}

void maybe_theta(PySession& ps, const py::object& theta_o) {
    if (theta_o.is_none()) return;
    py::array th = checked<double>(theta_o, "theta", 1);
    check_len(th, 0, ps.P, "theta", "number of model parameters");
    ps.s->set_theta(static_cast<const double*>(th.data()));
}

py::array_t<double> vec(int64_t n) { return py::array_t<double>(static_cast<py::ssize_t>(n)); }

}  // namespace

void register_cuda(py::module_& m) {
    m.def(
        "cuda_device_info",
        [](int device) {
            const cuda::DeviceInfo i = cuda::device_info(device);
            py::dict d;
            d["built"] = i.built;
            d["count"] = i.count;
            d["device"] = i.device;
            d["name"] = i.name;
            d["compute_capability"] = py::make_tuple(i.cc_major, i.cc_minor);
            d["sm_count"] = i.sm_count;
            d["total_bytes"] = i.total_bytes;
            d["free_bytes"] = i.free_bytes;
            d["runtime_version"] = i.runtime_version;
            d["driver_version"] = i.driver_version;
            d["error"] = i.error;
            return d;
        },
        py::arg("device") = 0,
        "What the CUDA back end sees: whether it is built in, the devices visible and the properties of one.");

    m.def(
        "_cuda_image_check",
        [](const Model& md, const py::object& theta0_o, const py::object& theta1_o, const std::string& dtype) {
            py::array t0 = checked<double>(theta0_o, "theta0", 1);
            py::array t1 = checked<double>(theta1_o, "theta1", 1);
            check_len(t0, 0, md.n_params, "theta0", "number of model parameters");
            check_len(t1, 0, md.n_params, "theta1", "number of model parameters");
            return cuda::image_selfcheck(md, static_cast<const double*>(t0.data()),
                                         static_cast<const double*>(t1.data()), precision_of(dtype));
        },
        py::arg("model"), py::arg("theta0"), py::arg("theta1"), py::arg("dtype") = "float64",
        "Host check of the CUDA back end's plan image: built for theta0, refreshed to theta1, it must hold what "
        "the CPU plan of theta1 holds, and its flush map must match the CPU's. Returns '' or the first difference.");

    py::class_<PySession> cls(m, "CudaSession",
                              "Codes, targets and weights uploaded once to a CUDA device; theta, the Adam state and "
                              "row-index arrays kept there (see cpp/kernels/cuda/session.hpp).");
    cls.def(
        py::init([](const Model& md, const py::object& codes_o, const py::object& targets_o,
                    const py::object& weights_o, const std::string& dtype, int device, const std::string& residency) {
            const Precision prec = precision_of(dtype);
            const cuda::Residency where = residency_of(residency);
            py::array codes = checked<uint8_t>(codes_o, "codes", 2);
            check_len(codes, 1, md.sites.length, "codes", "sequence length of the model");
            const int64_t n = codes.shape(0);
            py::array tg = as_array(targets_o, "targets", "float64 or float32");
            const double* t64 = nullptr;
            const float* t32 = nullptr;
            if (holds<double>(tg))
                t64 = static_cast<const double*>(tg.data());
            else if (holds<float>(tg))
                t32 = static_cast<const float*>(tg.data());
            else
                throw InputError("targets: expected dtype float64 or float32, got " + std::string(py::str(tg.dtype())));
            check_layout(tg, "targets", 2, false);
            check_len(tg, 0, n, "targets", "one row per sequence in codes");
            check_len(tg, 1, md.meas.n_targets(), "targets", "columns required by the measurement process");
            const double* w = nullptr;
            py::object keep_w = py::none();
            if (!weights_o.is_none()) {
                py::array wa = checked<double>(weights_o, "weights", 1);
                check_len(wa, 0, n, "weights", "one weight per sequence in codes");
                w = static_cast<const double*>(wa.data());
                keep_w = wa;
            }
            auto ps = std::make_unique<PySession>();
            ps->P = md.n_params;
            ps->S = md.sites.n_sites();
            ps->K = md.n_states();
            ps->NR = md.sites.n_resid();
            const uint8_t* c = static_cast<const uint8_t*>(codes.data());
            const int64_t cols = md.meas.n_targets();
            {
                py::gil_scoped_release release;
                ps->s =
                    std::make_unique<cuda::Session>(md, c, n, md.sites.length, t64, t32, cols, w, prec, device, where);
            }
            ps->codes = codes;
            ps->targets = tg;
            ps->weights = keep_w;
            return ps;
        }),
        py::arg("model"), py::arg("codes"), py::arg("targets"), py::arg("weights") = py::none(), py::kw_only(),
        py::arg("dtype") = "float64", py::arg("device") = 0, py::arg("residency") = "auto");
    cls.def_property_readonly("n_rows", [](const PySession& p) { return p.s->n_rows(); });
    cls.def_property_readonly("n_params", [](const PySession& p) { return p.s->n_params(); });
    cls.def_property_readonly("dtype", [](const PySession& p) {
        return std::string(p.s->precision() == Precision::F32 ? "float32" : "float64");
    });
    cls.def_property_readonly("data_on_device", [](const PySession& p) { return p.s->data_on_device(); });
    cls.def_property_readonly("device", [](const PySession& p) { return p.s->device(); });
    cls.def("set_theta", [](PySession& p, const py::object& th) { maybe_theta(p, th); }, py::arg("theta"));
    cls.def("get_theta", [](PySession& p) {
        auto out = vec(p.P);
        p.s->get_theta(out.mutable_data());
        return out;
    });
    cls.def("keep_best", [](PySession& p) { p.s->keep_best(); }, "best theta (on the device) = theta");
    cls.def("get_best", [](PySession& p) {
        auto out = vec(p.P);
        p.s->get_best(out.mutable_data());
        return out;
    });
    cls.def(
        "set_rows",
        [](PySession& p, int slot, const py::object& rows_o) {
            py::array rows = checked<int64_t>(rows_o, "rows", 1);
            const int64_t* r = static_cast<const int64_t*>(rows.data());
            const int64_t b = rows.shape(0);
            py::gil_scoped_release release;
            p.s->set_rows(slot, r, b);
        },
        py::arg("slot"), py::arg("rows"), "Upload a row-index array into slot 0..7 (slot 7 is used by rows=...).");
    cls.def("rows_len", [](PySession& p, int slot) { return p.s->rows_len(slot); }, py::arg("slot"));
    cls.def(
        "loss_and_grad",
        [](PySession& p, const py::object& theta_o, const py::object& rows_o, int slot, int64_t offset, int64_t count,
           bool want_grad, bool per_row) -> py::object {
            maybe_theta(p, theta_o);
            slot = rows_slot(p, rows_o, slot);
            py::array_t<double> grad, nll;
            double* gp = nullptr;
            double* np = nullptr;
            if (want_grad) {
                grad = vec(p.P);
                gp = grad.mutable_data();
            }
            if (per_row) {
                const int64_t len = slot < 0 ? p.s->n_rows() : p.s->rows_len(slot);
                const int64_t c = count < 0 ? len - offset : count;
                if (c < 0 || offset < 0) throw InputError("offset/count out of range");
                nll = vec(c);
                np = nll.mutable_data();
            }
            double loss;
            {
                py::gil_scoped_release release;
                loss = p.s->loss_and_grad(slot, offset, count, gp, np);
            }
            py::object g = want_grad ? py::object(grad) : py::object(py::none());
            if (per_row) return py::make_tuple(loss, g, nll);
            return py::make_tuple(loss, g);
        },
        py::arg("theta") = py::none(), py::arg("rows") = py::none(), py::kw_only(), py::arg("slot") = -1,
        py::arg("offset") = 0, py::arg("count") = -1, py::arg("want_grad") = true, py::arg("per_row") = false,
        "(loss, grad) over rows (an int64 array), or rows[slot][offset : offset + count] of a stored slot (slot -1: "
        "every row); theta, if given, is uploaded first.");
    cls.def(
        "phi",
        [](PySession& p, const py::object& theta_o, const py::object& rows_o, int slot, int64_t offset, int64_t count,
           bool details, bool placements) -> py::object {
            maybe_theta(p, theta_o);
            slot = rows_slot(p, rows_o, slot);
            const int64_t len = slot < 0 ? p.s->n_rows() : p.s->rows_len(slot);
            const int64_t b = count < 0 ? len - offset : count;
            if (b < 0 || offset < 0) throw InputError("offset/count out of range");
            py::array_t<double> phi = vec(b);
            PhiOut out;
            out.phi = phi.mutable_data();
            py::array_t<double> dG, logp, logZ, pl;
            const py::ssize_t bb = static_cast<py::ssize_t>(b);
            if (details) {
                const py::ssize_t S = p.S, K = p.K;
                dG = py::array_t<double>({bb, S});
                logp = py::array_t<double>({bb, K});
                logZ = py::array_t<double>(bb);
                out.dG = dG.mutable_data();
                out.state_logp = logp.mutable_data();
                out.logZ = logZ.mutable_data();
            }
            if (placements) {
                pl = py::array_t<double>({bb, p.NR});
                out.placements = pl.mutable_data();
            }
            {
                py::gil_scoped_release release;
                p.s->phi(slot, offset, count, out);
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
        py::arg("theta") = py::none(), py::arg("rows") = py::none(), py::kw_only(), py::arg("slot") = -1,
        py::arg("offset") = 0, py::arg("count") = -1, py::arg("details") = false, py::arg("placements") = false,
        "phi of the selected rows (as _core.phi: details=True adds dG, log state probabilities and logZ).");
    cls.def(
        "adam_configure",
        [](PySession& p, double lr, double b1, double b2, double eps, const py::object& l2_o,
           const py::object& mask_o) {
            py::array l2 = checked<double>(l2_o, "l2", 1);
            check_len(l2, 0, p.P, "l2", "number of model parameters");
            py::array mask = as_array(mask_o, "mask", "bool");
            if (mask.dtype().kind() != 'b' || mask.dtype().itemsize() != 1)
                throw InputError("mask: expected dtype bool, got " + std::string(py::str(mask.dtype())));
            check_layout(mask, "mask", 1, false);
            check_len(mask, 0, p.P, "mask", "number of model parameters");
            p.s->adam_configure(lr, b1, b2, eps, static_cast<const double*>(l2.data()),
                                static_cast<const uint8_t*>(mask.data()));
        },
        py::arg("learning_rate"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("l2"), py::arg("mask"),
        "Adam settings (python/cisreg/training/adam.py), the per-parameter L2 strength and the trainable mask; resets "
        "the moments.");
    cls.def("adam_reset", [](PySession& p) { p.s->adam_reset(); });
    cls.def("adam_state", [](PySession& p) {
        auto mm = vec(p.P), vv = vec(p.P);
        int64_t t = 0;
        p.s->adam_state(mm.mutable_data(), vv.mutable_data(), &t);
        return py::make_tuple(mm, vv, t);
    });
    cls.def(
        "set_adam_state",
        [](PySession& p, const py::object& m_o, const py::object& v_o, int64_t t) {
            py::array mm = checked<double>(m_o, "m", 1), vv = checked<double>(v_o, "v", 1);
            check_len(mm, 0, p.P, "m", "number of model parameters");
            check_len(vv, 0, p.P, "v", "number of model parameters");
            p.s->set_adam_state(static_cast<const double*>(mm.data()), static_cast<const double*>(vv.data()), t);
        },
        py::arg("m"), py::arg("v"), py::arg("t"));
    cls.def(
        "train_step",
        [](PySession& p, int slot, int64_t offset, int64_t count, double reads) {
            cuda::StepResult r;
            {
                py::gil_scoped_release release;
                r = p.s->train_step(slot, offset, count, reads);
            }
            return py::make_tuple(r.loss, r.status);
        },
        py::arg("slot"), py::arg("offset"), py::arg("count"), py::arg("reads"),
        "One minibatch on the device: loss and gradient over rows[slot][offset : offset + count], g = grad / reads "
        "+ l2 theta (reads: the normalizer; the fit loop passes count), one Adam step. Returns (loss, status); status "
        "is 0 or a sum of the STATUS_* bits (then theta "
        "was not updated, except for STATUS_NONFINITE_THETA).");
    cls.attr("STATUS_NONFINITE_LOSS") = cuda::kStepNonFiniteLoss;
    cls.attr("STATUS_NONFINITE_GRAD") = cuda::kStepNonFiniteGrad;
    cls.attr("STATUS_NONFINITE_THETA") = cuda::kStepNonFiniteTheta;
    cls.attr("STATUS_BAD_INPUT") = cuda::kStepBadInput;
}

}  // namespace cisreg::bind
