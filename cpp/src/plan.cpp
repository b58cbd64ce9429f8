#include "src/plan.hpp"

#include <algorithm>
#include <cmath>

#include "cisreg/ops.hpp"
#include "kernels/common/stages.hpp"

namespace cisreg {

template <class T>
Plan<T>::Plan(const Model& m, const double* theta) : model(&m) {
    StageViews<T>& v = *this;
    SitesView<T>& sites = v.sites;
    const int64_t P = m.n_params;
    th.resize(static_cast<size_t>(P));
    for (int64_t i = 0; i < P; ++i) th[static_cast<size_t>(i)] = static_cast<T>(theta[i]);
    const SiteModel& sm = m.sites;
    const int32_t A = sm.alphabet_size, S = sm.n_sites();
    const int32_t pad = static_cast<int32_t>(128 / sizeof(T));  // 2 vectors of the widest lanes
    const bool small = A <= kSmallTable, pair_small = A * A <= kSmallTable;
    const int32_t AS = small ? std::max(A, pad) : A, PS = pair_small ? std::max(A * A, pad) : A * A;
    const uint8_t* comp = sm.complement.empty() ? nullptr : sm.complement.data();
    int32_t n_rows = 0, n_ptabs = 0;
    for (const Site& st : sm.sites) {
        n_rows += st.width * st.strands;
        n_ptabs += st.n_pairs * st.strands;
    }
    site_tab.assign(static_cast<size_t>(n_rows) * static_cast<size_t>(AS) + static_cast<size_t>(pad), T(0));
    site_ptab.assign(static_cast<size_t>(n_ptabs) * static_cast<size_t>(PS) + static_cast<size_t>(pad), T(0));
    row_theta.assign(static_cast<size_t>(n_rows), -1);
    ptab_theta.assign(static_cast<size_t>(n_ptabs), -1);
    pair_oi.assign(static_cast<size_t>(n_ptabs), 0);
    pair_oj.assign(static_cast<size_t>(n_ptabs), 0);
    row0.resize(static_cast<size_t>(S));
    pair0.resize(static_cast<size_t>(S));
    bias_slot0.assign(static_cast<size_t>(S), -1);
    // lane-accumulated gradient slots: table entries (small tables), then eps, then biases
    const int32_t n_tab_slots = (small ? n_rows * A : 0) + (pair_small ? n_ptabs * A * A : 0);
    slot_theta.assign(static_cast<size_t>(n_tab_slots), -1);
    const auto cmp = [&](int32_t a) { return comp ? static_cast<int32_t>(comp[a]) : a; };
    int32_t r = 0, t = 0;
    for (int32_t si = 0; si < S; ++si) {
        const Site& st = sm.sites[static_cast<size_t>(si)];
        const int32_t w = st.width;
        row0[static_cast<size_t>(si)] = r;
        pair0[static_cast<size_t>(si)] = t;
        for (int32_t strand = 0; strand < st.strands; ++strand) {
            for (int32_t j = 0; j < w; ++j, ++r) {
                // strand 1 at offset j reads motif position w-1-j of the complement letter
                const int32_t l = strand == 0 ? j : w - 1 - j;
                for (int32_t a = 0; a < A; ++a) {
                    const int32_t ca = strand == 0 ? a : cmp(a);
                    const int64_t ti = st.e_offset + static_cast<int64_t>(l) * A + ca;
                    site_tab[static_cast<size_t>(r) * static_cast<size_t>(AS) + static_cast<size_t>(a)] =
                        static_cast<T>(theta[ti]);
                    if (small) slot_theta[static_cast<size_t>(r * A + a)] = ti;
                }
                if (strand == 0) row_theta[static_cast<size_t>(r)] = st.e_offset + static_cast<int64_t>(l) * A;
            }
            for (int32_t q = 0; q < st.n_pairs; ++q, ++t) {
                const int32_t pi = sm.pair_i[static_cast<size_t>(st.pair_begin + q)];
                const int32_t pj = sm.pair_j[static_cast<size_t>(st.pair_begin + q)];
                pair_oi[static_cast<size_t>(t)] = strand == 0 ? pi : w - 1 - pi;
                pair_oj[static_cast<size_t>(t)] = strand == 0 ? pj : w - 1 - pj;
                const int64_t base = st.pair_offset + static_cast<int64_t>(q) * A * A;
                for (int32_t a = 0; a < A; ++a)
                    for (int32_t b = 0; b < A; ++b) {
                        const int64_t ti = base + (strand == 0 ? a * A + b : cmp(a) * A + cmp(b));
                        const int32_t e = a * A + b;
                        site_ptab[static_cast<size_t>(t) * static_cast<size_t>(PS) + static_cast<size_t>(e)] =
                            static_cast<T>(theta[ti]);
                        if (pair_small) slot_theta[static_cast<size_t>((small ? n_rows * A : 0) + t * A * A + e)] = ti;
                    }
                if (strand == 0) ptab_theta[static_cast<size_t>(t)] = base;
            }
        }
    }
    const int32_t eps_slot0 = n_tab_slots;
    for (const Site& st : sm.sites) slot_theta.push_back(st.eps_offset);
    for (int32_t si = 0; si < S; ++si) {
        const Site& st = sm.sites[static_cast<size_t>(si)];
        if (st.bias_offset < 0) continue;
        bias_slot0[static_cast<size_t>(si)] = static_cast<int32_t>(slot_theta.size());
        for (int32_t c = 0; c < st.n_configs(); ++c) slot_theta.push_back(st.bias_offset + c);
    }
    sites.A = A;
    sites.L = sm.length;
    sites.S = S;
    sites.n_resid = sm.n_resid();
    sites.AS = AS;
    sites.PS = PS;
    sites.small = small;
    sites.pair_small = pair_small;
    sites.n_rows = n_rows;
    sites.n_ptabs = n_ptabs;
    sites.site = sm.sites.data();
    sites.row0 = row0.data();
    sites.pair0 = pair0.data();
    sites.pair_oi = pair_oi.data();
    sites.pair_oj = pair_oj.data();
    sites.tab = site_tab.data();
    sites.ptab = site_ptab.data();
    sites.row_theta = row_theta.data();
    sites.ptab_theta = ptab_theta.data();
    sites.th = th.data();
    sites.eps_slot0 = eps_slot0;
    sites.bias_slot0 = bias_slot0.data();
    sites.n_slots = static_cast<int32_t>(slot_theta.size());

    // the G-P map's fixed structure
    if (m.gp == GPKind::Network) {
        const Network& nw = m.net;
        net_a_coef.assign(nw.a_coef.begin(), nw.a_coef.end());
        NetView<T>& net = v.net;
        net.nn = nw.n_nodes();
        net.S = sm.n_sites();
        net.K = nw.n_states;
        net.flux = std::any_of(nw.node_state.begin(), nw.node_state.end(), [](int32_t s) { return s < 0; });
        net.a_ptr = nw.a_ptr.data();
        net.a_site = nw.a_site.data();
        net.a_coef = net_a_coef.data();
        net.state = nw.node_state.data();
    } else {
        const KineticNet& k = m.kin;
        kin_e_coef.assign(k.e_coef.begin(), k.e_coef.end());
        KinView<T>& kin = v.kin;
        kin.n = k.n_states;
        kin.E = k.n_edges();
        kin.S = sm.n_sites();
        kin.n_flux = static_cast<int32_t>(k.flux_edges.size());
        kin.src = k.edge_src.data();
        kin.dst = k.edge_dst.data();
        kin.e_ptr = k.e_ptr.data();
        kin.e_site = k.e_site.data();
        kin.e_coef = kin_e_coef.data();
        kin.flux = k.flux_edges.data();
    }
    // the parameters of the G-P map and of the measurement, packed by their stages
    const auto pack = [&](auto stage, std::vector<T>& buf, std::vector<FlushTerm>& flush) {
        using S = decltype(stage);
        const typename S::Src src = S::src(m);
        buf.assign(static_cast<size_t>(S::buf_size(src)), T(0));
        const int64_t n = S::n_items(src);
        for (int64_t i = 0; i < n; ++i) S::pack_item(src, theta, buf.data(), i);
        S::bind(src, buf.data(), S::of(v));
        S::pack_scalars(src, theta, S::of(v));
        flush.clear();
        S::flush_entries(src, 0, [&](int64_t j, int32_t slot, const CoefExpr& c) {
            flush.push_back(FlushTerm{j, slot, coef_value(c, theta)});
        });
    };
    stages::visit_gpmap<T>(m.gp, [&](auto stage) { pack(stage, gp_buf, flush_gp); });
    stages::visit_measurement<T>(m.meas.kind, [&](auto stage) { pack(stage, meas_buf, flush_meas); });
}

template struct Plan<float>;
template struct Plan<double>;

}  // namespace cisreg
