// Consistency checks of compiled networks and measurement processes. They run once,
// when a model is compiled, so the kernels can index without bounds checks.
#include <string>

#include "cisreg/error.hpp"
#include "cisreg/network.hpp"
#include "cisreg/ops.hpp"

namespace cisreg {
namespace {
[[noreturn]] void fail(const std::string& msg) { throw InputError("network: " + msg); }
std::string s(int64_t v) { return std::to_string(v); }

void check_param(int64_t idx, int64_t P, const std::string& what) {
    if (idx < 0 || idx >= P) fail(what + " refers to parameter " + s(idx) + ", outside theta of length " + s(P));
}

void check_csr(const std::vector<int32_t>& ptr, size_t nnz, int32_t n_nodes, const std::string& name) {
    if (ptr.size() != static_cast<size_t>(n_nodes) + 1) fail(name + "_ptr must have n_nodes + 1 = " + s(n_nodes + 1) + " entries, got " + s(static_cast<int64_t>(ptr.size())));
    if (ptr[0] != 0) fail(name + "_ptr[0] must be 0");
    for (int32_t n = 0; n < n_nodes; ++n)
        if (ptr[static_cast<size_t>(n) + 1] < ptr[static_cast<size_t>(n)]) fail(name + "_ptr must be non-decreasing (node " + s(n) + ")");
    if (static_cast<size_t>(ptr.back()) != nnz) fail(name + "_ptr[-1] = " + s(ptr.back()) + " but there are " + s(static_cast<int64_t>(nnz)) + " entries");
}
}  // namespace

void check_network(const Network& net) {
    const int64_t P = net.n_params;
    if (net.alphabet_size < 1 || net.alphabet_size > 255) fail("alphabet_size must be in [1, 255], got " + s(net.alphabet_size));
    if (net.length < 1) fail("length must be positive, got " + s(net.length));
    if (P < 0) fail("n_params must be >= 0");
    for (size_t i = 0; i < net.sites.size(); ++i) {
        const Site& st = net.sites[i];
        const std::string w = "site " + s(static_cast<int64_t>(i));
        if (st.width < 1) fail(w + ": width must be >= 1, got " + s(st.width));
        if (st.start < 0 || static_cast<int64_t>(st.start) + st.width > net.length)
            fail(w + ": window [" + s(st.start) + ", " + s(static_cast<int64_t>(st.start) + st.width) + ") lies outside the sequence of length " + s(net.length));
        if (st.e_offset < 0 || st.e_offset > P || static_cast<int64_t>(st.width) * net.alphabet_size > P - st.e_offset)
            fail(w + ": energy matrix at theta[" + s(st.e_offset) + "] does not fit in theta of length " + s(P));
        check_param(st.eps_offset, P, w + " offset");
    }
    const int32_t nn = net.n_nodes();
    if (nn < 1) fail("at least one node is required");
    check_csr(net.a_ptr, net.a_site.size(), nn, "a");
    check_csr(net.b_ptr, net.b_param.size(), nn, "b");
    if (net.a_coef.size() != net.a_site.size()) fail("a_coef and a_site differ in length");
    if (net.b_coef.size() != net.b_param.size()) fail("b_coef and b_param differ in length");
    for (size_t j = 0; j < net.a_site.size(); ++j)
        if (net.a_site[j] < 0 || net.a_site[j] >= net.n_sites()) fail("a_site[" + s(static_cast<int64_t>(j)) + "] = " + s(net.a_site[j]) + " is not a site index");
    for (size_t j = 0; j < net.b_param.size(); ++j) check_param(net.b_param[j], P, "b_param[" + s(static_cast<int64_t>(j)) + "]");
    if (net.node_state.size() != static_cast<size_t>(nn) || net.act_const.size() != static_cast<size_t>(nn) ||
        net.act_param.size() != static_cast<size_t>(nn))
        fail("node_state, act_const and act_param must have one entry per node");
    if (net.n_states < 1) fail("at least one state is required");
    std::vector<int> seen(static_cast<size_t>(net.n_states), 0);
    for (int32_t n = 0; n < nn; ++n) {
        const int32_t k = net.node_state[static_cast<size_t>(n)];
        if (k < -1 || k >= net.n_states) fail("node " + s(n) + " belongs to state " + s(k) + ", not in [-1, " + s(net.n_states) + ")");
        if (k >= 0) seen[static_cast<size_t>(k)] = 1;
        if (net.act_param[static_cast<size_t>(n)] != -1) check_param(net.act_param[static_cast<size_t>(n)], P, "activity of node " + s(n));
    }
    for (int32_t k = 0; k < net.n_states; ++k)
        if (!seen[static_cast<size_t>(k)]) fail("state " + s(k) + " has no node");
    if (net.tsat_param != -1) check_param(net.tsat_param, P, "t_sat");
}

void check_codes(int32_t alphabet_size, const SeqBatch& batch) {
    for (int64_t i = 0; i < batch.b; ++i) {
        const uint8_t* x = batch.codes + batch.row(i) * batch.L;
        uint8_t mx = 0;
        for (int64_t p = 0; p < batch.L; ++p) mx = x[p] > mx ? x[p] : mx;  // vectorised scan first
        if (mx < alphabet_size) continue;
        for (int64_t p = 0; p < batch.L; ++p)
            if (x[p] >= alphabet_size)
                throw InputError("codes: row " + s(batch.row(i)) + ", position " + s(p) + " holds code " +
                                 s(static_cast<int>(x[p])) + ", outside the alphabet (codes must be < " +
                                 s(alphabet_size) + "); encode sequences with cisreg.encode");
    }
}

void check_measurement(const Measurement& m, int64_t P) {
    auto bad = [](const std::string& msg) { throw InputError("measurement: " + msg); };
    if (m.kind == MeasKind::SortSeq && m.n_bins < 2) bad("a sort-seq measurement needs at least 2 bins, got " + s(m.n_bins));
    if ((m.kind == MeasKind::SortSeq || m.kind == MeasKind::GEGaussian || m.kind == MeasKind::GECauchy) && m.hidden < 1)
        bad("hidden must be >= 1, got " + s(m.hidden));
    if (m.kind != MeasKind::SortSeq && m.n_bins != 1) bad("n_bins must be 1 for this measurement kind");
    if (m.n_bins < 1 || m.n_bins > 100000 || m.hidden < 0 || m.hidden > 100000)
        bad("n_bins and hidden must lie in [1, 100000]");
    if (m.offset < 0 || m.offset > P || m.n_params() > P - m.offset)
        bad("parameters [" + s(m.offset) + ", " + s(m.offset + m.n_params()) + ") do not fit in theta of length " + s(P));
}

}  // namespace cisreg
