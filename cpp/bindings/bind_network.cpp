// Bindings of the compiled network, the measurement processes and the kernels.
#include <string>
#include <tuple>
#include <vector>

#include "bindings/arrays.hpp"
#include "cisreg/network.hpp"
#include "cisreg/ops.hpp"
#include "bindings/inputs.hpp"

namespace cisreg::bind {
namespace {

MeasKind kind_from_name(const std::string& k) {
    if (k == "linear") return MeasKind::Linear;
    if (k == "sortseq") return MeasKind::SortSeq;
    if (k == "ge_gaussian") return MeasKind::GEGaussian;
    if (k == "ge_cauchy") return MeasKind::GECauchy;
    throw InputError("measurement kind '" + k + "' is unknown; use linear, sortseq, ge_gaussian or ge_cauchy");
}
std::string kind_name(MeasKind k) {
    switch (k) {
        case MeasKind::Linear: return "linear";
        case MeasKind::SortSeq: return "sortseq";
        case MeasKind::GEGaussian: return "ge_gaussian";
        case MeasKind::GECauchy: return "ge_cauchy";
    }
    return "?";
}

}  // namespace

void register_network(py::module_& m) {
    py::class_<Network>(m, "Network", "A compiled network (see cpp/include/cisreg/network.hpp).")
        .def(py::init([](int32_t alphabet_size, int32_t length, int64_t n_params,
                         const std::vector<std::tuple<int32_t, int32_t, int64_t, int64_t>>& sites,
                         std::vector<int32_t> a_ptr, std::vector<int32_t> a_site, std::vector<double> a_coef,
                         std::vector<double> b_const, std::vector<int32_t> b_ptr, std::vector<int64_t> b_param,
                         std::vector<double> b_coef, std::vector<int32_t> node_state, int32_t n_states,
                         std::vector<double> act_const, std::vector<int64_t> act_param, int64_t tsat_param,
                         double tsat_const) {
                 Network net;
                 net.alphabet_size = alphabet_size;
                 net.length = length;
                 net.n_params = n_params;
                 net.sites = to_sites(sites);
                 net.a_ptr = std::move(a_ptr);
                 net.a_site = std::move(a_site);
                 net.a_coef = std::move(a_coef);
                 net.b_const = std::move(b_const);
                 net.b_ptr = std::move(b_ptr);
                 net.b_param = std::move(b_param);
                 net.b_coef = std::move(b_coef);
                 net.node_state = std::move(node_state);
                 net.n_states = n_states;
                 net.act_const = std::move(act_const);
                 net.act_param = std::move(act_param);
                 net.tsat_param = tsat_param;
                 net.tsat_const = tsat_const;
                 check_network(net);
                 return net;
             }),
             py::arg("alphabet_size"), py::arg("length"), py::arg("n_params"), py::arg("sites"), py::arg("a_ptr"),
             py::arg("a_site"), py::arg("a_coef"), py::arg("b_const"), py::arg("b_ptr"), py::arg("b_param"),
             py::arg("b_coef"), py::arg("node_state"), py::arg("n_states"), py::arg("act_const"),
             py::arg("act_param"), py::arg("tsat_param"), py::arg("tsat_const"))
        .def_property_readonly("n_params", [](const Network& n) { return n.n_params; })
        .def_property_readonly("n_nodes", &Network::n_nodes)
        .def_property_readonly("n_sites", &Network::n_sites)
        .def_property_readonly("n_states", [](const Network& n) { return n.n_states; })
        .def_property_readonly("length", [](const Network& n) { return n.length; })
        .def_property_readonly("alphabet_size", [](const Network& n) { return n.alphabet_size; });

    py::class_<Measurement>(m, "Measurement", "A measurement process p(y | phi).")
        .def(py::init([](const std::string& kind, int32_t n_bins, int32_t hidden, int64_t offset) {
                 Measurement ms;
                 ms.kind = kind_from_name(kind);
                 ms.n_bins = n_bins;
                 ms.hidden = hidden;
                 ms.offset = offset;
                 if (ms.offset < 0) throw InputError("measurement: offset must be >= 0");
                 return ms;
             }),
             py::arg("kind"), py::arg("n_bins") = 1, py::arg("hidden") = 0, py::arg("offset") = 0)
        .def_property_readonly("kind", [](const Measurement& ms) { return kind_name(ms.kind); })
        .def_property_readonly("n_bins", [](const Measurement& ms) { return ms.n_bins; })
        .def_property_readonly("hidden", [](const Measurement& ms) { return ms.hidden; })
        .def_property_readonly("offset", [](const Measurement& ms) { return ms.offset; })
        .def_property_readonly("n_params", &Measurement::n_params)
        .def_property_readonly("n_targets", &Measurement::n_targets);

    m.def(
        "phi",
        [](const Network& net, const py::object& codes, const py::object& theta, const py::object& rows,
           int n_threads, bool details) -> py::object {
            Inputs in = prepare(net.length, net.n_params, net.alphabet_size, codes, theta, rows, n_threads);
            const py::ssize_t b = static_cast<py::ssize_t>(in.batch.b);
            py::array_t<double> phi(b);
            PhiOut out;
            out.phi = phi.mutable_data();
            py::array_t<double> dG, logp, logZ;
            if (details) {
                dG = py::array_t<double>({b, static_cast<py::ssize_t>(net.n_sites())});
                logp = py::array_t<double>({b, static_cast<py::ssize_t>(net.n_states)});
                logZ = py::array_t<double>(b);
                out.dG = dG.mutable_data();
                out.state_logp = logp.mutable_data();
                out.logZ = logZ.mutable_data();
            }
            {
                py::gil_scoped_release release;  // no Python object is touched below
                phi_forward(net, in.batch, in.theta, in.exec, out);
            }
            if (!details) return std::move(phi);
            return py::make_tuple(phi, dG, logp, logZ);
        },
        py::arg("net"), py::arg("codes"), py::arg("theta"), py::arg("rows") = py::none(),
        py::arg("n_threads") = 1, py::arg("details") = false,
        "phi for each selected row; with details=True also (dG [b,S], log state probabilities [b,K], logZ [b]).");

    m.def(
        "loss_and_grad",
        [](const Network& net, const Measurement& meas, const py::object& codes, const py::object& targets_o,
           const py::object& theta, const py::object& rows, int n_threads, bool want_grad,
           const py::object& grad_out, bool per_row) -> py::object {
            return loss_binding(net.length, net.n_params, net.alphabet_size, meas, codes, targets_o, theta, rows,
                                n_threads, want_grad, grad_out, per_row,
                                [&](const Inputs& in, const double* tg, double* gp, double* np) {
                                    return loss_and_grad(net, meas, in.batch, tg, in.theta, in.exec, gp, np);
                                });
        },
        py::arg("net"), py::arg("meas"), py::arg("codes"), py::arg("targets"), py::arg("theta"),
        py::arg("rows") = py::none(), py::arg("n_threads") = 1, py::arg("want_grad") = true,
        py::arg("grad_out") = py::none(), py::arg("per_row") = false,
        "Summed negative log-likelihood over the selected rows and its gradient (loss, grad); "
        "grad_out, if given, is overwritten; per_row=True adds the per-row NLL.");

    m.def(
        "measurement_forward",
        [](const Measurement& meas, const py::object& theta_o, const py::object& phi_o) {
            py::array theta = checked<double>(theta_o, "theta", 1);
            check_measurement(meas, theta.shape(0));
            check_finite(static_cast<const double*>(theta.data()), theta.shape(0), "theta");
            py::array phi = checked<double>(phi_o, "phi", 1);
            const int64_t b = phi.shape(0);
            const int64_t T = meas.kind == MeasKind::SortSeq ? meas.n_bins : 1;
            py::array_t<double> out({static_cast<py::ssize_t>(b), static_cast<py::ssize_t>(T)});
            const double* th = static_cast<const double*>(theta.data());
            const double* ph = static_cast<const double*>(phi.data());
            double* o = out.mutable_data();
            {
                py::gil_scoped_release release;
                measurement_forward(meas, th, ph, b, o);
            }
            return out;
        },
        py::arg("meas"), py::arg("theta"), py::arg("phi"),
        "log p(y|phi) [b, Y] for sort-seq; g(phi) [b, 1] for GE.");

    m.def("has_openmp", &has_openmp);
    m.def("cpu_kernel_level", []() { return std::string(cpu_kernel_level()); });
    m.def("max_threads", &max_threads);
    m.def("cuda_available", []() { return false; });
    m.attr("chunk_rows") = kChunkRows;
}

}  // namespace cisreg::bind
