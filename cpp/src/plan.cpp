#include "src/plan.hpp"

#include <algorithm>
#include <cmath>

#include "cisreg/ops.hpp"
#include "kernels/common/math.hpp"

namespace cisreg {

double digamma(double x) {
    double r = 0.0;
    for (; x < 10.0; x += 1.0) r -= 1.0 / x;
    const double i2 = 1.0 / (x * x);
    return r + std::log(x) - 0.5 / x -
           i2 * (1.0 / 12 - i2 * (1.0 / 120 - i2 * (1.0 / 252 - i2 * (1.0 / 240 - i2 * (1.0 / 132)))));
}

SkewTConsts skewt_consts(double a, double b) {
    SkewTConsts s;
    s.a = a;
    s.b = b;
    const double ab = a + b, D = (2 * a + 1) * (2 * b + 1), sab = std::sqrt(ab), iD = 1.0 / std::sqrt(D);
    // log of the normaliser 2^(a+b-1) B(a, b) sqrt(a+b) of the Jones-Faddy density
    s.log_norm = (ab - 1) * std::log(2.0) + std::lgamma(a) + std::lgamma(b) - std::lgamma(ab) + 0.5 * std::log(ab);
    s.dlog_norm_da = std::log(2.0) + digamma(a) - digamma(ab) + 0.5 / ab;
    s.dlog_norm_db = std::log(2.0) + digamma(b) - digamma(ab) + 0.5 / ab;
    // the mode of t: (a - b) sqrt(a + b) / sqrt((2a + 1)(2b + 1)), and its derivatives
    const double h = sab * iD;
    s.mode = (a - b) * h;
    const double dh_da = iD * (0.5 / sab - sab * (2 * b + 1) / D);
    const double dh_db = iD * (0.5 / sab - sab * (2 * a + 1) / D);
    s.dmode_da = h + (a - b) * dh_da;
    s.dmode_db = -h + (a - b) * dh_db;
    return s;
}

template <class T>
Plan<T>::Plan(const Model& m, const double* theta) : model(&m) {
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

    if (m.gp == GPKind::Network) {
        const Network& nw = m.net;
        const int32_t nn = nw.n_nodes();
        net_a_coef.assign(nw.a_coef.begin(), nw.a_coef.end());
        net_B.resize(static_cast<size_t>(nn));
        net_alpha.resize(static_cast<size_t>(nn));
        for (int32_t n = 0; n < nn; ++n) {
            const size_t un = static_cast<size_t>(n);
            double b = nw.b_const[un];
            for (int32_t j = nw.b_ptr[un]; j < nw.b_ptr[un + 1]; ++j)
                b += nw.b_coef[static_cast<size_t>(j)] * theta[nw.b_param[static_cast<size_t>(j)]];
            net_B[un] = static_cast<T>(b);
            double a = nw.act_const[un];
            if (nw.act_param[un] >= 0) a += theta[nw.act_param[un]];
            net_alpha[un] = static_cast<T>(a);
        }
        net.nn = nn;
        net.S = sm.n_sites();
        net.K = nw.n_states;
        net.flux = std::any_of(nw.node_state.begin(), nw.node_state.end(), [](int32_t s) { return s < 0; });
        net.a_ptr = nw.a_ptr.data();
        net.a_site = nw.a_site.data();
        net.a_coef = net_a_coef.data();
        net.B = net_B.data();
        net.alpha = net_alpha.data();
        net.state = nw.node_state.data();
        net.tsat = static_cast<T>(nw.tsat_param >= 0 ? theta[nw.tsat_param] : nw.tsat_const);
    } else {
        const KineticNet& k = m.kin;
        const int32_t E = k.n_edges();
        kin_kappa.resize(static_cast<size_t>(E));
        for (int32_t e = 0; e < E; ++e) {
            const size_t ue = static_cast<size_t>(e);
            kin_kappa[ue] =
                static_cast<T>(k.edge_kappa_param[ue] >= 0 ? theta[k.edge_kappa_param[ue]] : k.edge_kappa_const[ue]);
        }
        kin_e_coef.assign(k.e_coef.begin(), k.e_coef.end());
        kin_occ.resize(static_cast<size_t>(k.n_states));
        for (int32_t i = 0; i < k.n_states; ++i) {
            const size_t ui = static_cast<size_t>(i);
            double a = k.occ_const[ui];
            if (k.occ_param[ui] >= 0) a += theta[k.occ_param[ui]];
            kin_occ[ui] = static_cast<T>(a);
        }
        kin.n = k.n_states;
        kin.E = E;
        kin.S = sm.n_sites();
        kin.n_flux = static_cast<int32_t>(k.flux_edges.size());
        kin.src = k.edge_src.data();
        kin.dst = k.edge_dst.data();
        kin.kappa = kin_kappa.data();
        kin.e_ptr = k.e_ptr.data();
        kin.e_site = k.e_site.data();
        kin.e_coef = kin_e_coef.data();
        kin.occ = kin_occ.data();
        kin.flux = k.flux_edges.data();
        kin.tsat = static_cast<T>(k.tsat_param >= 0 ? theta[k.tsat_param] : k.tsat_const);
    }

    const Measurement& ms = m.meas;
    const double* mp = theta + ms.offset;
    const T scale = math::kTanhPre<T>;
    if (ms.kind == MeasKind::SortSeq) {
        const int32_t Y = ms.n_bins, K = ms.hidden, J = Y * K;
        meas_buf.resize(static_cast<size_t>(Y + 4 * J));
        T* a = meas_buf.data();
        T* cs = a + Y;
        T* ds = cs + J;
        T* b = ds + J;
        T* bc = b + J;
        const double* pa = mp;
        const double* pb = pa + Y;
        const double* pc = pb + J;
        const double* pd = pc + J;
        for (int32_t y = 0; y < Y; ++y) a[y] = static_cast<T>(pa[y]);
        for (int32_t j = 0; j < J; ++j) {
            cs[j] = scale * static_cast<T>(pc[j]);
            ds[j] = scale * static_cast<T>(pd[j]);
            b[j] = static_cast<T>(pb[j]);
            bc[j] = static_cast<T>(pb[j] * pc[j]);
        }
        mpa.Y = Y;
        mpa.K = K;
        mpa.a = a;
        mpa.cs = cs;
        mpa.ds = ds;
        mpa.b = b;
        mpa.bc = bc;
    } else if (ms.kind == MeasKind::GE) {
        const int32_t K = ms.hidden;
        meas_buf.resize(static_cast<size_t>(4 * K + ms.het + 1));
        T* cs = meas_buf.data();
        T* ds = cs + K;
        T* b = ds + K;
        T* bc = b + K;
        T* eta = bc + K;
        const double* pb = mp + 1;
        const double* pc = pb + K;
        const double* pd = pc + K;
        for (int32_t k = 0; k < K; ++k) {
            cs[k] = scale * static_cast<T>(pc[k]);
            ds[k] = scale * static_cast<T>(pd[k]);
            b[k] = static_cast<T>(pb[k]);
            bc[k] = static_cast<T>(pb[k] * pc[k]);
        }
        const double* noise = mp + 1 + 3 * K;  // log_sigma, eta[het], (SkewT) log_a, log_b
        for (int32_t k = 0; k < ms.het; ++k) eta[k] = static_cast<T>(noise[1 + k]);
        ge.K = K;
        ge.noise = ms.noise;
        ge.het = ms.het;
        ge.a = static_cast<T>(mp[0]);
        ge.log_sigma = static_cast<T>(noise[0]);
        ge.cs = cs;
        ge.ds = ds;
        ge.b = b;
        ge.bc = bc;
        ge.eta = eta;
        if (ms.noise == Noise::SkewT) {
            const SkewTConsts st = skewt_consts(std::exp(noise[1 + ms.het]), std::exp(noise[2 + ms.het]));
            ge.sa = static_cast<T>(st.a);
            ge.sb = static_cast<T>(st.b);
            ge.log_norm = static_cast<T>(st.log_norm);
            ge.mode = static_cast<T>(st.mode);
            ge.dmode_da = static_cast<T>(st.dmode_da);
            ge.dmode_db = static_cast<T>(st.dmode_db);
        }
    } else {
        const int32_t R = ms.replicates, K = ms.hidden;
        const bool nb = ms.noise == Noise::NegBin;
        meas_buf.resize(static_cast<size_t>(6 * R + 3 * K + 1));
        T* depth = meas_buf.data();
        T* inv = depth + R;
        T* irr = inv + R;
        T* logr = irr + R;
        T* c0 = logr + R;
        T* c1 = c0 + R;
        T* w = c1 + R;
        T* c = w + K;
        T* d = c + K;
        for (int32_t r = 0; r < R; ++r) {
            depth[r] = static_cast<T>(mp[r]);
            if (nb) {
                const double rd = std::exp(-mp[R + r]);
                inv[r] = static_cast<T>(rd);
                irr[r] = static_cast<T>(1.0 / rd);
                logr[r] = static_cast<T>(-mp[R + r]);
                const bool large = static_cast<double>(inv[r]) >= kNbLarge;  // the test the rows make
                c0[r] = static_cast<T>(large ? math::lgamma_tail(rd) : std::lgamma(rd));
                c1[r] = static_cast<T>(large ? math::digamma_tail(rd) : digamma(rd));
            }
        }
        const double* lk = mp + R * (nb ? 2 : 1);
        cnt.R = R;
        cnt.K = ms.link == Link::Sigmoid ? K : 0;
        cnt.noise = ms.noise;
        cnt.link = ms.link;
        cnt.pseudocount = static_cast<T>(ms.pseudocount);
        cnt.log_depth = depth;
        cnt.inv_disp = inv;
        cnt.nb_irr = irr;
        cnt.nb_logr = logr;
        cnt.nb_c0 = c0;
        cnt.nb_c1 = c1;
        if (ms.link == Link::LogLinear) {
            cnt.slope = static_cast<T>(std::exp(lk[0]));
        } else {
            cnt.base = static_cast<T>(std::exp(lk[0]));
            for (int32_t k = 0; k < K; ++k) {
                w[k] = static_cast<T>(std::exp(lk[1 + k]));
                c[k] = static_cast<T>(std::exp(lk[1 + K + k]));
                d[k] = static_cast<T>(lk[1 + 2 * K + k]);
            }
        }
        cnt.w = w;
        cnt.c = c;
        cnt.d = d;
    }
}

template struct Plan<float>;
template struct Plan<double>;

}  // namespace cisreg
