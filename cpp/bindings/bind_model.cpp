// Bindings of the compiled-model description (cisreg/model.hpp).
#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "cisreg/model.hpp"
#include "cisreg/ops.hpp"

namespace cisreg::bind {
namespace {

MeasKind kind_from_name(const std::string& k) {
    if (k == "sortseq") return MeasKind::SortSeq;
    if (k == "ge") return MeasKind::GE;
    if (k == "counts") return MeasKind::Counts;
    throw InputError("measurement kind '" + k + "' is unknown; use sortseq, ge or counts");
}
const char* kind_name(MeasKind k) { return k == MeasKind::SortSeq ? "sortseq" : k == MeasKind::GE ? "ge" : "counts"; }
const char* kNoises[] = {"gaussian", "cauchy", "skewt", "poisson", "negbin"};
Noise noise_from_name(const std::string& k) {
    for (int i = 0; i < 5; ++i)
        if (k == kNoises[i]) return static_cast<Noise>(i);
    throw InputError("noise model '" + k + "' is unknown; use gaussian, cauchy, skewt, poisson or negbin");
}
const char* noise_name(Noise n) { return kNoises[static_cast<int>(n)]; }
Link link_from_name(const std::string& k) {
    if (k == "loglinear") return Link::LogLinear;
    if (k == "sigmoid") return Link::Sigmoid;
    throw InputError("link '" + k + "' is unknown; use loglinear or sigmoid");
}

}  // namespace

void register_model(py::module_& m) {
    py::class_<Site>(m, "Site", "One site of layer 1 (see cpp/include/cisreg/model.hpp).")
        .def(py::init([](int32_t start, int32_t width, int64_t e_offset, int64_t eps_offset, int32_t n_place,
                         int32_t strands, int64_t pair_offset, int32_t pair_begin, int32_t n_pairs, int64_t bias_offset,
                         int32_t resid_begin) {
                 Site s;
                 s.start = start;
                 s.width = width;
                 s.e_offset = e_offset;
                 s.eps_offset = eps_offset;
                 s.n_place = n_place;
                 s.strands = strands;
                 s.pair_offset = pair_offset;
                 s.pair_begin = pair_begin;
                 s.n_pairs = n_pairs;
                 s.bias_offset = bias_offset;
                 s.resid_begin = resid_begin;
                 return s;
             }),
             py::arg("start"), py::arg("width"), py::arg("e_offset"), py::arg("eps_offset"), py::arg("n_place") = 1,
             py::arg("strands") = 1, py::arg("pair_offset") = -1, py::arg("pair_begin") = 0, py::arg("n_pairs") = 0,
             py::arg("bias_offset") = -1, py::arg("resid_begin") = 0)
        .def_readonly("start", &Site::start)
        .def_readonly("width", &Site::width)
        .def_readonly("n_place", &Site::n_place)
        .def_readonly("strands", &Site::strands)
        .def_readonly("resid_begin", &Site::resid_begin)
        .def_property_readonly("n_configs", &Site::n_configs);

    py::class_<Network>(m, "Network", "A network of nodes: thermodynamic states or King-Altman spanning trees.")
        .def(py::init([](std::vector<int32_t> a_ptr, std::vector<int32_t> a_site, std::vector<double> a_coef,
                         std::vector<double> b_const, std::vector<int32_t> b_ptr, std::vector<int64_t> b_param,
                         std::vector<double> b_coef, std::vector<int32_t> node_state, int32_t n_states,
                         std::vector<double> act_const, std::vector<int64_t> act_param, int64_t tsat_param,
                         double tsat_const) {
                 Network net;
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
                 return net;
             }),
             py::arg("a_ptr"), py::arg("a_site"), py::arg("a_coef"), py::arg("b_const"), py::arg("b_ptr"),
             py::arg("b_param"), py::arg("b_coef"), py::arg("node_state"), py::arg("n_states"), py::arg("act_const"),
             py::arg("act_param"), py::arg("tsat_param"), py::arg("tsat_const"))
        .def_property_readonly("n_nodes", &Network::n_nodes)
        .def_readonly("n_states", &Network::n_states);

    py::class_<KineticNet>(m, "KineticNet", "A kinetic graph for the per-sequence linear solver.")
        .def(py::init([](int32_t n_states, std::vector<int32_t> edge_src, std::vector<int32_t> edge_dst,
                         std::vector<int64_t> edge_kappa_param, std::vector<double> edge_kappa_const,
                         std::vector<int32_t> e_ptr, std::vector<int32_t> e_site, std::vector<double> e_coef,
                         std::vector<double> occ_const, std::vector<int64_t> occ_param, std::vector<int32_t> flux_edges,
                         int64_t tsat_param, double tsat_const) {
                 KineticNet k;
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
                 return k;
             }),
             py::arg("n_states"), py::arg("edge_src"), py::arg("edge_dst"), py::arg("edge_kappa_param"),
             py::arg("edge_kappa_const"), py::arg("e_ptr"), py::arg("e_site"), py::arg("e_coef"), py::arg("occ_const"),
             py::arg("occ_param"), py::arg("flux_edges"), py::arg("tsat_param"), py::arg("tsat_const"))
        .def_readonly("n_states", &KineticNet::n_states)
        .def_property_readonly("n_edges", &KineticNet::n_edges);

    py::class_<Measurement>(m, "Measurement", "A measurement process p(y | phi).")
        .def(py::init([](const std::string& kind, int32_t n_bins, int32_t hidden, const std::string& noise,
                         int64_t offset, int32_t het, int32_t replicates, const std::string& link, double pseudocount) {
                 Measurement ms;
                 ms.kind = kind_from_name(kind);
                 ms.n_bins = n_bins;
                 ms.hidden = hidden;
                 ms.noise = noise_from_name(noise);
                 ms.offset = offset;
                 ms.het = het;
                 ms.replicates = replicates;
                 ms.link = link_from_name(link);
                 ms.pseudocount = pseudocount;
                 return ms;
             }),
             py::arg("kind"), py::arg("n_bins") = 1, py::arg("hidden") = 1, py::arg("noise") = "gaussian",
             py::arg("offset") = 0, py::arg("het") = 0, py::arg("replicates") = 1, py::arg("link") = "loglinear",
             py::arg("pseudocount") = 0.5)
        .def_property_readonly("kind", [](const Measurement& ms) { return std::string(kind_name(ms.kind)); })
        .def_property_readonly("noise", [](const Measurement& ms) { return std::string(noise_name(ms.noise)); })
        .def_readonly("n_bins", &Measurement::n_bins)
        .def_readonly("het", &Measurement::het)
        .def_readonly("replicates", &Measurement::replicates)
        .def_readonly("hidden", &Measurement::hidden)
        .def_readonly("offset", &Measurement::offset)
        .def_property_readonly("n_params", &Measurement::n_params)
        .def_property_readonly("n_targets", &Measurement::n_targets);

    py::class_<Model>(m, "Model", "A compiled model: site model, G-P map and measurement, checked once.")
        .def(py::init([](int64_t n_params, int32_t alphabet_size, int32_t length, std::vector<Site> sites,
                         const py::object& gpmap, const Measurement& measurement, std::vector<int32_t> pair_i,
                         std::vector<int32_t> pair_j, std::vector<uint8_t> complement) {
                 Model md;
                 md.n_params = n_params;
                 md.sites.alphabet_size = alphabet_size;
                 md.sites.length = length;
                 md.sites.sites = std::move(sites);
                 md.sites.pair_i = std::move(pair_i);
                 md.sites.pair_j = std::move(pair_j);
                 md.sites.complement = std::move(complement);
                 if (py::isinstance<Network>(gpmap)) {
                     md.gp = GPKind::Network;
                     md.net = gpmap.cast<Network>();
                 } else if (py::isinstance<KineticNet>(gpmap)) {
                     md.gp = GPKind::Kinetic;
                     md.kin = gpmap.cast<KineticNet>();
                 } else {
                     throw InputError("gpmap must be a Network or a KineticNet");
                 }
                 md.meas = measurement;
                 check_model(md);
                 return md;
             }),
             py::arg("n_params"), py::arg("alphabet_size"), py::arg("length"), py::arg("sites"), py::arg("gpmap"),
             py::arg("measurement"), py::arg("pair_i") = std::vector<int32_t>{},
             py::arg("pair_j") = std::vector<int32_t>{}, py::arg("complement") = std::vector<uint8_t>{})
        .def_readonly("n_params", &Model::n_params)
        .def_property_readonly("alphabet_size", [](const Model& md) { return md.sites.alphabet_size; })
        .def_property_readonly("length", [](const Model& md) { return md.sites.length; })
        .def_property_readonly("n_sites", [](const Model& md) { return md.sites.n_sites(); })
        .def_property_readonly("n_resid", [](const Model& md) { return md.sites.n_resid(); })
        .def_property_readonly("n_states", &Model::n_states)
        .def_property_readonly("n_nodes",
                               [](const Model& md) { return md.gp == GPKind::Network ? md.net.n_nodes() : 0; })
        .def_property_readonly(
            "gpmap", [](const Model& md) { return std::string(md.gp == GPKind::Network ? "network" : "kinetic"); })
        .def_readonly("measurement", &Model::meas)
        .def(
            "chunk_rows", [](const Model& md, int64_t b) { return chunk_rows(md, b); }, py::arg("batch_rows"),
            "Rows per chunk of the deterministic reduction for a batch of this many rows.");
}

}  // namespace cisreg::bind
