// Consistency checks of compiled models. They run once, when a model is built, so that the
// kernels can index without bounds checks.
#include <cmath>
#include <string>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/model.hpp"

namespace cisreg {
namespace {
std::string s(int64_t v) { return std::to_string(v); }

[[noreturn]] void fail(const std::string& where, const std::string& msg) { throw InputError(where + ": " + msg); }

void check_param(int64_t idx, int64_t P, const std::string& where, const std::string& what) {
    if (idx < 0 || idx >= P) fail(where, what + " refers to parameter " + s(idx) + ", outside theta of length " + s(P));
}

// Block [off, off + len) inside theta of length P (overflow-safe).
void check_block(int64_t off, int64_t len, int64_t P, const std::string& where, const std::string& what) {
    if (off < 0 || off > P || len > P - off)
        fail(where, what + " at theta[" + s(off) + "] (" + s(len) +
                        " entries): the block does not fit in theta of length " + s(P));
}

void check_csr(const std::vector<int32_t>& ptr, size_t nnz, int32_t n_rows, const std::string& where,
               const std::string& name) {
    if (ptr.size() != static_cast<size_t>(n_rows) + 1)
        fail(where, name + "_ptr must have " + s(n_rows + 1) + " entries, got " + s(static_cast<int64_t>(ptr.size())));
    if (ptr[0] != 0) fail(where, name + "_ptr[0] must be 0");
    for (int32_t n = 0; n < n_rows; ++n)
        if (ptr[static_cast<size_t>(n) + 1] < ptr[static_cast<size_t>(n)])
            fail(where, name + "_ptr must be non-decreasing (entry " + s(n) + ")");
    if (static_cast<size_t>(ptr.back()) != nnz)
        fail(where,
             name + "_ptr[-1] = " + s(ptr.back()) + " but there are " + s(static_cast<int64_t>(nnz)) + " entries");
}
}  // namespace

int32_t SiteModel::n_resid() const {
    int32_t n = 0;
    for (const Site& st : sites)
        if (st.sliding()) n += st.n_configs();
    return n;
}

void check_sites(const SiteModel& sm, int64_t P) {
    const std::string w = "sites";
    if (sm.alphabet_size < 1 || sm.alphabet_size > 255)
        fail(w, "alphabet_size must be in [1, 255], got " + s(sm.alphabet_size));
    if (sm.length < 1) fail(w, "length must be positive, got " + s(sm.length));
    if (sm.pair_i.size() != sm.pair_j.size()) fail(w, "pair_i and pair_j differ in length");
    if (!sm.complement.empty()) {
        if (sm.complement.size() != static_cast<size_t>(sm.alphabet_size))
            fail(w, "complement must have one entry per letter");
        for (uint8_t c : sm.complement)
            if (c >= sm.alphabet_size) fail(w, "complement holds a code outside the alphabet");
    }
    const int64_t A = sm.alphabet_size;
    int32_t resid = 0;
    for (size_t i = 0; i < sm.sites.size(); ++i) {
        const Site& st = sm.sites[i];
        const std::string ws = "site " + s(static_cast<int64_t>(i));
        if (st.width < 1) fail(ws, "width must be >= 1, got " + s(st.width));
        if (st.n_place < 1) fail(ws, "n_place must be >= 1, got " + s(st.n_place));
        if (st.strands != 1 && st.strands != 2) fail(ws, "strands must be 1 or 2, got " + s(st.strands));
        if (st.strands == 2 && sm.complement.empty()) fail(ws, "the reverse strand needs a complement table");
        const int64_t end = static_cast<int64_t>(st.start) + st.n_place - 1 + st.width;
        if (st.start < 0 || end > sm.length)
            fail(ws,
                 "placements [" + s(st.start) + ", " + s(end) + ") lie outside the sequence of length " + s(sm.length));
        check_block(st.e_offset, static_cast<int64_t>(st.width) * A, P, ws, "energy matrix");
        check_param(st.eps_offset, P, ws, "offset");
        if (st.n_pairs < 0 || st.pair_begin < 0 ||
            static_cast<size_t>(st.pair_begin) + static_cast<size_t>(st.n_pairs) > sm.pair_i.size())
            fail(ws, "pair range outside pair_i / pair_j");
        if (st.n_pairs > 0)
            check_block(st.pair_offset, static_cast<int64_t>(st.n_pairs) * A * A, P, ws, "pair energies");
        for (int32_t q = 0; q < st.n_pairs; ++q) {
            const int32_t a = sm.pair_i[static_cast<size_t>(st.pair_begin + q)];
            const int32_t b = sm.pair_j[static_cast<size_t>(st.pair_begin + q)];
            if (a < 0 || b < 0 || a >= st.width || b >= st.width || a == b)
                fail(ws, "pair " + s(q) + " = (" + s(a) + ", " + s(b) + ") is not two positions of the motif");
        }
        if (st.bias_offset != -1) check_block(st.bias_offset, st.n_configs(), P, ws, "placement bias");
        if (st.sliding()) {
            if (st.resid_begin != resid) fail(ws, "resid_begin must be " + s(resid));
            resid += st.n_configs();
        }
    }
}

void check_network(const Network& net, int32_t n_sites, int64_t P) {
    const std::string w = "network";
    const int32_t nn = net.n_nodes();
    if (nn < 1) fail(w, "at least one node is required");
    check_csr(net.a_ptr, net.a_site.size(), nn, w, "a");
    check_csr(net.b_ptr, net.b_param.size(), nn, w, "b");
    if (net.a_coef.size() != net.a_site.size()) fail(w, "a_coef and a_site differ in length");
    if (net.b_coef.size() != net.b_param.size()) fail(w, "b_coef and b_param differ in length");
    for (size_t j = 0; j < net.a_site.size(); ++j)
        if (net.a_site[j] < 0 || net.a_site[j] >= n_sites)
            fail(w, "a_site[" + s(static_cast<int64_t>(j)) + "] = " + s(net.a_site[j]) + " is not a site index");
    for (size_t j = 0; j < net.b_param.size(); ++j)
        check_param(net.b_param[j], P, w, "b_param[" + s(static_cast<int64_t>(j)) + "]");
    if (net.node_state.size() != static_cast<size_t>(nn) || net.act_const.size() != static_cast<size_t>(nn) ||
        net.act_param.size() != static_cast<size_t>(nn))
        fail(w, "node_state, act_const and act_param must have one entry per node");
    if (net.n_states < 1) fail(w, "at least one state is required");
    std::vector<int> seen(static_cast<size_t>(net.n_states), 0);
    for (int32_t n = 0; n < nn; ++n) {
        const int32_t k = net.node_state[static_cast<size_t>(n)];
        if (k < -1 || k >= net.n_states)
            fail(w, "node " + s(n) + " belongs to state " + s(k) + ", not in [-1, " + s(net.n_states) + ")");
        if (k >= 0) seen[static_cast<size_t>(k)] = 1;
        if (net.act_param[static_cast<size_t>(n)] != -1)
            check_param(net.act_param[static_cast<size_t>(n)], P, w, "activity of node " + s(n));
    }
    for (int32_t k = 0; k < net.n_states; ++k)
        if (!seen[static_cast<size_t>(k)]) fail(w, "state " + s(k) + " has no node");
    if (net.tsat_param != -1) check_param(net.tsat_param, P, w, "t_sat");
}

void check_kinetic(const KineticNet& k, int32_t n_sites, int64_t P) {
    const std::string w = "kinetic network";
    if (k.n_states < 2) fail(w, "at least 2 states are required");
    const size_t E = k.edge_src.size();
    if (E == 0 || k.edge_dst.size() != E || k.edge_kappa_param.size() != E || k.edge_kappa_const.size() != E ||
        k.e_ptr.size() != E + 1)
        fail(w, "edge arrays must all have one entry per edge (e_ptr one more)");
    check_csr(k.e_ptr, k.e_site.size(), static_cast<int32_t>(E), w, "e");
    if (k.e_coef.size() != k.e_site.size()) fail(w, "e_coef and e_site differ in length");
    std::vector<int> has_out(static_cast<size_t>(k.n_states), 0);
    for (size_t e = 0; e < E; ++e) {
        if (k.edge_src[e] < 0 || k.edge_src[e] >= k.n_states || k.edge_dst[e] < 0 || k.edge_dst[e] >= k.n_states ||
            k.edge_src[e] == k.edge_dst[e])
            fail(w, "edge " + s(static_cast<int64_t>(e)) + " does not connect two different states");
        has_out[static_cast<size_t>(k.edge_src[e])] = 1;
        if (k.edge_kappa_param[e] != -1)
            check_param(k.edge_kappa_param[e], P, w, "edge " + s(static_cast<int64_t>(e)) + " kappa");
    }
    for (int32_t i = 0; i < k.n_states; ++i)
        if (!has_out[static_cast<size_t>(i)]) fail(w, "state " + s(i) + " has no outgoing transition");
    for (int32_t st : k.e_site)
        if (st < 0 || st >= n_sites) fail(w, "e_site refers to an unknown site");
    if (k.occ_const.size() != static_cast<size_t>(k.n_states) || k.occ_param.size() != static_cast<size_t>(k.n_states))
        fail(w, "occupancy arrays need one entry per state");
    for (int64_t p : k.occ_param)
        if (p != -1) check_param(p, P, w, "occupancy parameter");
    for (int32_t e : k.flux_edges)
        if (e < 0 || static_cast<size_t>(e) >= E) fail(w, "flux edge index out of range");
    if (k.tsat_param != -1) check_param(k.tsat_param, P, w, "t_sat");
}

void check_measurement(const Measurement& m, int64_t P) {
    const std::string w = "measurement";
    if (m.kind != MeasKind::SortSeq && m.kind != MeasKind::GE && m.kind != MeasKind::Counts) fail(w, "unknown kind");
    if (m.kind == MeasKind::SortSeq && m.n_bins < 2)
        fail(w, "a sort-seq measurement needs at least 2 bins, got " + s(m.n_bins));
    if (m.kind != MeasKind::SortSeq && m.n_bins != 1) fail(w, "n_bins must be 1 for this measurement kind");
    if (m.hidden < 1 && !(m.kind == MeasKind::Counts && m.link == Link::LogLinear))
        fail(w, "hidden must be >= 1, got " + s(m.hidden));
    if (m.n_bins > 100000 || m.hidden > 100000 || m.hidden < 0) fail(w, "n_bins and hidden must lie in [1, 100000]");
    if (m.kind == MeasKind::GE) {
        if (m.noise != Noise::Gaussian && m.noise != Noise::Cauchy && m.noise != Noise::SkewT)
            fail(w, "the noise of a GE measurement is gaussian, cauchy or skewt");
        if (m.het < 0 || m.het > 8) fail(w, "het (the order of log sigma's polynomial) must lie in [0, 8]");
    } else if (m.het != 0) {
        fail(w, "het applies to GE measurements only");
    }
    if (m.kind == MeasKind::Counts) {
        if (m.noise != Noise::Poisson && m.noise != Noise::NegBin) fail(w, "the noise of counts is poisson or negbin");
        if (m.replicates < 1 || m.replicates > 10000) fail(w, "replicates must lie in [1, 10000]");
        if (m.link != Link::LogLinear && m.link != Link::Sigmoid) fail(w, "unknown link");
        if (!(m.pseudocount >= 0 && std::isfinite(m.pseudocount))) fail(w, "pseudocount must be finite and >= 0");
    }
    check_block(m.offset, m.n_params(), P, w, "parameters");
}

void check_model(const Model& m) {
    if (m.n_params < 0) throw InputError("model: n_params must be >= 0");
    check_sites(m.sites, m.n_params);
    if (m.gp == GPKind::Network)
        check_network(m.net, m.sites.n_sites(), m.n_params);
    else
        check_kinetic(m.kin, m.sites.n_sites(), m.n_params);
    check_measurement(m.meas, m.n_params);
}

}  // namespace cisreg
