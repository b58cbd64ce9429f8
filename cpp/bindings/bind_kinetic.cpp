// Bindings of the kinetic linear solver.
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/arrays.hpp"
#include "bindings/inputs.hpp"
#include "cisreg/kinetic.hpp"
#include "cisreg/ops.hpp"

namespace cisreg::bind {

void register_kinetic(py::module_& m) {
    py::class_<KineticNet>(m, "KineticNet", "A kinetic model for the per-sequence linear solver.")
        .def(py::init([](int32_t alphabet_size, int32_t length, int64_t n_params,
                         const std::vector<std::tuple<int32_t, int32_t, int64_t, int64_t>>& sites, int32_t n_states,
                         std::vector<int32_t> edge_src, std::vector<int32_t> edge_dst,
                         std::vector<int64_t> edge_kappa_param, std::vector<double> edge_kappa_const,
                         std::vector<int32_t> e_ptr, std::vector<int32_t> e_site, std::vector<double> e_coef,
                         std::vector<double> occ_const, std::vector<int64_t> occ_param, std::vector<int32_t> flux_edges,
                         int64_t tsat_param, double tsat_const) {
                 KineticNet k;
                 k.alphabet_size = alphabet_size;
                 k.length = length;
                 k.n_params = n_params;
                 k.sites = to_sites(sites);
                 k.n_states = n_states;
                 k.edge_src = std::move(edge_src);
                 k.edge_dst = std::move(edge_dst);
                 k.edge_kappa_param = std::move(edge_kappa_param);
                 k.edge_kappa_const = std::move(edge_kappa_const);
                 k.e_ptr = std::move(e_ptr);
                 k.e_site = std::move(e_site);
                 k.e_coef = std::move(e_coef);
                 k.occ_const = std::move(occ_const);
                 k.occ_param = std::move(occ_param);
                 k.flux_edges = std::move(flux_edges);
                 k.tsat_param = tsat_param;
                 k.tsat_const = tsat_const;
                 check_kinetic(k);
                 return k;
             }),
             py::arg("alphabet_size"), py::arg("length"), py::arg("n_params"), py::arg("sites"), py::arg("n_states"),
             py::arg("edge_src"), py::arg("edge_dst"), py::arg("edge_kappa_param"), py::arg("edge_kappa_const"),
             py::arg("e_ptr"), py::arg("e_site"), py::arg("e_coef"), py::arg("occ_const"), py::arg("occ_param"),
             py::arg("flux_edges"), py::arg("tsat_param"), py::arg("tsat_const"))
        .def_property_readonly("n_states", [](const KineticNet& k) { return k.n_states; })
        .def_property_readonly("n_edges", &KineticNet::n_edges)
        .def_property_readonly("n_params", [](const KineticNet& k) { return k.n_params; });

    m.def(
        "kinetic_phi",
        [](const KineticNet& k, const py::object& codes, const py::object& theta, const py::object& rows,
           int n_threads, bool details) -> py::object {
            Inputs in = prepare(k.length, k.n_params, k.alphabet_size, codes, theta, rows, n_threads);
            const py::ssize_t b = static_cast<py::ssize_t>(in.batch.b);
            py::array_t<double> phi(b);
            py::array_t<double> logp;
            double* lp = nullptr;
            if (details) {
                logp = py::array_t<double>({b, static_cast<py::ssize_t>(k.n_states)});
                lp = logp.mutable_data();
            }
            double* ph = phi.mutable_data();
            {
                py::gil_scoped_release release;
                kinetic_phi(k, in.batch, in.theta, in.exec, ph, lp);
            }
            if (!details) return std::move(phi);
            return py::make_tuple(phi, logp);
        },
        py::arg("net"), py::arg("codes"), py::arg("theta"), py::arg("rows") = py::none(), py::arg("n_threads") = 1,
        py::arg("details") = false, "phi by the linear solver; with details=True also log state probabilities.");

    m.def(
        "kinetic_loss_and_grad",
        [](const KineticNet& k, const Measurement& meas, const py::object& codes, const py::object& targets_o,
           const py::object& theta, const py::object& rows, int n_threads, bool want_grad,
           const py::object& grad_out, bool per_row) -> py::object {
            return loss_binding(k.length, k.n_params, k.alphabet_size, meas, codes, targets_o, theta, rows,
                                n_threads, want_grad, grad_out, per_row,
                                [&](const Inputs& in, const double* tg, double* gp, double* np) {
                                    return kinetic_loss_and_grad(k, meas, in.batch, tg, in.theta, in.exec, gp, np);
                                });
        },
        py::arg("net"), py::arg("meas"), py::arg("codes"), py::arg("targets"), py::arg("theta"),
        py::arg("rows") = py::none(), py::arg("n_threads") = 1, py::arg("want_grad") = true,
        py::arg("grad_out") = py::none(), py::arg("per_row") = false,
        "Loss and gradient of a kinetic model by the linear solver (same contract as loss_and_grad).");
}

}  // namespace cisreg::bind
