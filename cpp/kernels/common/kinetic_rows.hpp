// Per-row forward and adjoint of the kinetic linear solver (see cisreg/kinetic.hpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "cisreg/kinetic.hpp"

namespace cisreg::kinrows {

// Scratch layout for one row; sizes in doubles.
struct Scratch {
    double* dG;     // [S]
    double* ell;    // [E] log-rates
    double* dell;   // [E]
    double* logq;   // [n] (unused)
    double* dlogq;  // [n] Poisson solution lambda
    double* M;      // [n*n] rates, reduced in place by GTH
    double* y;      // [n] S_k: exit rate of state k towards states < k in the censored chain
    double* logpi;  // [n]
    double* s;      // [n] pi
    double* lam;    // [n] d loss / d pi, then the Poisson right-hand side
    double* ddG;    // [S]
    int32_t* piv;   // [n]
    static int64_t doubles(const KineticNet& k) {
        const int64_t n = k.n_states, E = k.n_edges(), S = static_cast<int64_t>(k.sites.size());
        return 2 * S + 2 * E + n * n + 7 * n + 8;
    }
    static Scratch carve(const KineticNet& k, double* base, int32_t* ibase) {
        const int64_t n = k.n_states, E = k.n_edges(), S = static_cast<int64_t>(k.sites.size());
        Scratch s;
        s.dG = base;
        s.ell = s.dG + S;
        s.dell = s.ell + E;
        s.logq = s.dell + E;
        s.dlogq = s.logq + n;
        s.M = s.dlogq + n;
        s.y = s.M + n * n;
        s.logpi = s.y + n;
        s.s = s.logpi + n;
        s.lam = s.s + n;
        s.ddG = s.lam + n;
        s.piv = ibase;
        return s;
    }
};

struct Row {
    double phi, tsat, logV;
};

inline Row forward(const KineticNet& k, const uint8_t* x, const double* theta, Scratch& w, unsigned& bad) {
    const int32_t n = k.n_states, E = k.n_edges(), A = k.alphabet_size;
    // layer 1: site energies
    for (size_t si = 0; si < k.sites.size(); ++si) {
        const Site& s = k.sites[si];
        double acc = theta[s.eps_offset];
        for (int32_t l = 0; l < s.width; ++l) {
            unsigned c = x[s.start + l];
            bad |= static_cast<unsigned>(c >= static_cast<unsigned>(A));
            c = c < static_cast<unsigned>(A) ? c : 0u;
            acc += theta[s.e_offset + l * A + static_cast<int32_t>(c)];
        }
        w.dG[si] = acc;
    }
    // log-rates
    for (int32_t e = 0; e < E; ++e) {
        const size_t ue = static_cast<size_t>(e);
        double l = k.edge_kappa_param[ue] >= 0 ? theta[k.edge_kappa_param[ue]] : k.edge_kappa_const[ue];
        for (int32_t j = k.e_ptr[ue]; j < k.e_ptr[ue + 1]; ++j)
            l += k.e_coef[static_cast<size_t>(j)] * w.dG[k.e_site[static_cast<size_t>(j)]];
        w.ell[e] = l;
    }
    // GTH (Grassmann-Taksar-Heyman) state reduction on the rate matrix, scaled by the
    // largest rate. Every operation adds or divides non-negative numbers, so the
    // stationary distribution keeps full relative accuracy however stiff the rates.
    // After the loop, R[k][j] (j < k) and R[i][k] (i < k) hold the rates of the
    // chain censored to states 0..k, which the adjoint reuses.
    double lmax = -INFINITY;
    for (int32_t e = 0; e < E; ++e) lmax = w.ell[e] > lmax ? w.ell[e] : lmax;
    double* R = w.M;
    for (int32_t i = 0; i < n * n; ++i) R[i] = 0.0;
    for (int32_t e = 0; e < E; ++e)
        R[k.edge_src[static_cast<size_t>(e)] * n + k.edge_dst[static_cast<size_t>(e)]] += std::exp(w.ell[e] - lmax);
    bool singular = false;
    for (int32_t kk = n - 1; kk >= 1; --kk) {
        double S = 0.0;
        for (int32_t j = 0; j < kk; ++j) S += R[kk * n + j];
        w.y[kk] = S;  // exit rate of state kk towards the states kept
        if (!(S > 0.0)) {
            singular = true;
            continue;
        }
        for (int32_t i = 0; i < kk; ++i) {
            const double f = R[i * n + kk] / S;
            if (f == 0.0) continue;
            for (int32_t j = 0; j < kk; ++j)
                if (j != i) R[i * n + j] += f * R[kk * n + j];
        }
    }
    // back substitution: pi_0 = 1, pi_k = sum_{i<k} pi_i R[i][k] / S_k, then normalise
    double* pi = w.s;
    pi[0] = 1.0;
    double Z = 1.0;
    for (int32_t kk = 1; kk < n; ++kk) {
        double v = 0.0;
        for (int32_t i = 0; i < kk; ++i) v += pi[i] * R[i * n + kk];
        pi[kk] = v / w.y[kk];
        Z += pi[kk];
    }
    double logV = std::log(Z);
    for (int32_t i = 0; i < n; ++i) {
        pi[i] /= Z;
        w.logpi[i] = singular ? NAN : (pi[i] > 0.0 ? std::log(pi[i]) : -INFINITY);
    }
    Row r;
    r.logV = logV;
    r.tsat = k.tsat_param >= 0 ? theta[k.tsat_param] : k.tsat_const;
    double act = 0.0;
    if (k.flux_edges.empty()) {
        for (int32_t i = 0; i < n; ++i) {
            double a = k.occ_const[static_cast<size_t>(i)];
            if (k.occ_param[static_cast<size_t>(i)] >= 0) a += theta[k.occ_param[static_cast<size_t>(i)]];
            if (a != 0.0) act += a * std::exp(w.logpi[i]);
        }
    } else {
        for (int32_t e : k.flux_edges) act += std::exp(w.ell[e] + w.logpi[k.edge_src[static_cast<size_t>(e)]]);
    }
    r.phi = r.tsat * act;
    return r;
}

// Adjoint: accumulate d loss / d theta into grad, given dphi.
inline void backward(const KineticNet& k, const uint8_t* x, const double* theta, Scratch& w, const Row& r,
                     double dphi, double* grad) {
    const int32_t n = k.n_states, E = k.n_edges(), A = k.alphabet_size;
    for (int32_t e = 0; e < E; ++e) w.dell[e] = 0.0;
    double* g = w.lam;   // d loss / d pi_i, then the right-hand side of the Poisson equation
    double* lam = w.dlogq;
    for (int32_t i = 0; i < n; ++i) g[i] = 0.0;
    double dtsat = 0.0;
    if (k.flux_edges.empty()) {
        for (int32_t i = 0; i < n; ++i) {
            const size_t ui = static_cast<size_t>(i);
            double a = k.occ_const[ui];
            if (k.occ_param[ui] >= 0) a += theta[k.occ_param[ui]];
            const double pi = std::exp(w.logpi[i]);
            g[i] = dphi * r.tsat * a;
            dtsat += a * pi;
            if (k.occ_param[ui] >= 0) grad[k.occ_param[ui]] += dphi * r.tsat * pi;
        }
    } else {
        for (int32_t e : k.flux_edges) {
            const int32_t i = k.edge_src[static_cast<size_t>(e)];
            const double f = std::exp(w.ell[e] + w.logpi[i]);  // k_e pi_i
            dtsat += f;
            w.dell[e] += dphi * r.tsat * f;
            g[i] += dphi * r.tsat * std::exp(w.ell[e]);
        }
    }
    if (k.tsat_param >= 0) grad[k.tsat_param] += dphi * dtsat;
    // With pi Q = 0 and sum(pi) = 1, d loss = -sum_ij pi_i dQ_ij lam_j where Q lam = g - (g.pi) 1.
    // Solve that Poisson equation with the same GTH reduction (rates of the censored chains).
    double gbar = 0.0;
    for (int32_t i = 0; i < n; ++i) gbar += g[i] * std::exp(w.logpi[i]);
    for (int32_t i = 0; i < n; ++i) g[i] -= gbar;
    const double* R = w.M;
    for (int32_t kk = n - 1; kk >= 1; --kk) {
        const double S = w.y[kk];
        for (int32_t i = 0; i < kk; ++i) g[i] += R[i * n + kk] * g[kk] / S;
    }
    lam[0] = 0.0;  // lam is defined up to a constant; only differences enter
    for (int32_t kk = 1; kk < n; ++kk) {
        double v = -g[kk];
        for (int32_t j = 0; j < kk; ++j) v += R[kk * n + j] * lam[j];
        lam[kk] = v / w.y[kk];
    }
    // d loss / d log k_e = k_e pi_i (lam_i - lam_j) for e: i -> j (rates scaled as in the forward)
    double lmax = -INFINITY;
    for (int32_t e = 0; e < E; ++e) lmax = w.ell[e] > lmax ? w.ell[e] : lmax;
    for (int32_t e = 0; e < E; ++e) {
        const size_t ue = static_cast<size_t>(e);
        const int32_t i = k.edge_src[ue], j = k.edge_dst[ue];
        w.dell[e] += std::exp(w.ell[e] - lmax + w.logpi[i]) * (lam[i] - lam[j]);
    }
    // log-rates -> kappa and site energies -> energy matrices
    for (size_t si = 0; si < k.sites.size(); ++si) w.ddG[si] = 0.0;
    for (int32_t e = 0; e < E; ++e) {
        const size_t ue = static_cast<size_t>(e);
        if (k.edge_kappa_param[ue] >= 0) grad[k.edge_kappa_param[ue]] += w.dell[e];
        for (int32_t j = k.e_ptr[ue]; j < k.e_ptr[ue + 1]; ++j)
            w.ddG[k.e_site[static_cast<size_t>(j)]] += k.e_coef[static_cast<size_t>(j)] * w.dell[e];
    }
    for (size_t si = 0; si < k.sites.size(); ++si) {
        const Site& s = k.sites[si];
        const double g = w.ddG[si];
        grad[s.eps_offset] += g;
        for (int32_t l = 0; l < s.width; ++l) {
            unsigned c = x[s.start + l];
            c = c < static_cast<unsigned>(A) ? c : 0u;
            grad[s.e_offset + l * A + static_cast<int32_t>(c)] += g;
        }
    }
}

}  // namespace cisreg::kinrows
