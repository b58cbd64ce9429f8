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
    double* logq;   // [n]
    double* dlogq;  // [n]
    double* M;      // [n*n] LU factors
    double* y;      // [n]
    double* logpi;  // [n]
    double* s;      // [n]
    double* lam;    // [n]
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

inline double lse_add(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    return a > b ? a + std::log1p(std::exp(b - a)) : b + std::log1p(std::exp(a - b));
}

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
    // log-rates and log exit rates
    for (int32_t i = 0; i < n; ++i) w.logq[i] = -INFINITY;
    for (int32_t e = 0; e < E; ++e) {
        const size_t ue = static_cast<size_t>(e);
        double l = k.edge_kappa_param[ue] >= 0 ? theta[k.edge_kappa_param[ue]] : k.edge_kappa_const[ue];
        for (int32_t j = k.e_ptr[ue]; j < k.e_ptr[ue + 1]; ++j)
            l += k.e_coef[static_cast<size_t>(j)] * w.dG[k.e_site[static_cast<size_t>(j)]];
        w.ell[e] = l;
        const int32_t i = k.edge_src[ue];
        w.logq[i] = lse_add(w.logq[i], l);
    }
    // M = (P - I)^T with the last row replaced by ones
    for (int32_t i = 0; i < n * n; ++i) w.M[i] = 0.0;
    for (int32_t i = 0; i < n; ++i) w.M[i * n + i] = -1.0;
    for (int32_t e = 0; e < E; ++e) {
        const int32_t i = k.edge_src[static_cast<size_t>(e)], j = k.edge_dst[static_cast<size_t>(e)];
        w.M[j * n + i] += std::exp(w.ell[e] - w.logq[i]);
    }
    for (int32_t i = 0; i < n; ++i) w.M[(n - 1) * n + i] = 1.0;
    // LU with partial pivoting (rows), in place
    for (int32_t c = 0; c < n; ++c) {
        int32_t p = c;
        double best = std::fabs(w.M[c * n + c]);
        for (int32_t r = c + 1; r < n; ++r)
            if (std::fabs(w.M[r * n + c]) > best) best = std::fabs(w.M[r * n + c]), p = r;
        w.piv[c] = p;
        if (p != c)
            for (int32_t j = 0; j < n; ++j) std::swap(w.M[c * n + j], w.M[p * n + j]);
        const double d = w.M[c * n + c];
        if (d == 0.0) continue;  // singular only for graphs rejected at compile time
        for (int32_t r = c + 1; r < n; ++r) {
            const double f = (w.M[r * n + c] /= d);
            for (int32_t j = c + 1; j < n; ++j) w.M[r * n + j] -= f * w.M[c * n + j];
        }
    }
    // solve M y = e_{n-1}
    for (int32_t i = 0; i < n; ++i) w.y[i] = (i == n - 1) ? 1.0 : 0.0;
    for (int32_t c = 0; c < n; ++c)
        if (w.piv[c] != c) std::swap(w.y[c], w.y[w.piv[c]]);
    for (int32_t r = 0; r < n; ++r)
        for (int32_t j = 0; j < r; ++j) w.y[r] -= w.M[r * n + j] * w.y[j];
    for (int32_t r = n - 1; r >= 0; --r) {
        for (int32_t j = r + 1; j < n; ++j) w.y[r] -= w.M[r * n + j] * w.y[j];
        w.y[r] /= w.M[r * n + r];
    }
    // pi_i proportional to y_i / q_i, in log space
    double logV = -INFINITY;
    for (int32_t i = 0; i < n; ++i) {
        w.logpi[i] = (w.y[i] > 0.0 ? std::log(w.y[i]) : -INFINITY) - w.logq[i];
        logV = lse_add(logV, w.logpi[i]);
    }
    for (int32_t i = 0; i < n; ++i) w.logpi[i] -= logV;
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
    for (int32_t i = 0; i < n; ++i) w.s[i] = 0.0, w.dlogq[i] = 0.0;
    // d loss / d pi_i  (s) and the direct terms
    double dtsat = 0.0;
    if (k.flux_edges.empty()) {
        for (int32_t i = 0; i < n; ++i) {
            const size_t ui = static_cast<size_t>(i);
            double a = k.occ_const[ui];
            if (k.occ_param[ui] >= 0) a += theta[k.occ_param[ui]];
            const double pi = std::exp(w.logpi[i]);
            w.s[i] = dphi * r.tsat * a;
            dtsat += a * pi;
            if (k.occ_param[ui] >= 0) grad[k.occ_param[ui]] += dphi * r.tsat * pi;
        }
    } else {
        for (int32_t e : k.flux_edges) {
            const int32_t i = k.edge_src[static_cast<size_t>(e)];
            const double f = std::exp(w.ell[e] + w.logpi[i]);  // k_e pi_i
            dtsat += f;
            w.dell[e] += dphi * r.tsat * f;
            w.s[i] += dphi * r.tsat * std::exp(w.ell[e]);
        }
    }
    if (k.tsat_param >= 0) grad[k.tsat_param] += dphi * dtsat;
    double sbar = 0.0;
    for (int32_t i = 0; i < n; ++i) sbar += w.s[i] * std::exp(w.logpi[i]);
    // through pi = normalise(y / q): d/dy and d/dlog q
    for (int32_t i = 0; i < n; ++i) {
        const double ds = w.s[i] - sbar;
        w.lam[i] = ds * std::exp(-w.logq[i] - r.logV);  // = d loss / d y_i (before the solve)
        w.dlogq[i] -= ds * std::exp(w.logpi[i]);
    }
    // adjoint solve M^T lam = dy with P M = L U:  U^T z = dy, L^T v = z, lam = P^T v
    for (int32_t rr = 0; rr < n; ++rr) {
        for (int32_t j = 0; j < rr; ++j) w.lam[rr] -= w.M[j * n + rr] * w.lam[j];
        w.lam[rr] /= w.M[rr * n + rr];
    }
    for (int32_t rr = n - 1; rr >= 0; --rr)
        for (int32_t j = rr + 1; j < n; ++j) w.lam[rr] -= w.M[j * n + rr] * w.lam[j];
    for (int32_t c = n - 1; c >= 0; --c)
        if (w.piv[c] != c) std::swap(w.lam[c], w.lam[w.piv[c]]);
    // d loss / d M[j][i] = -lam_j y_i for the rows that depend on the rates (j < n-1)
    for (int32_t e = 0; e < E; ++e) {
        const size_t ue = static_cast<size_t>(e);
        const int32_t i = k.edge_src[ue], j = k.edge_dst[ue];
        const double p = std::exp(w.ell[e] - w.logq[i]);
        if (j != n - 1) {
            const double dp = -w.lam[j] * w.y[i];
            w.dell[e] += dp * p;
            w.dlogq[i] -= dp * p;
        }
    }
    // log q_i = logsumexp of the log-rates leaving i
    for (int32_t e = 0; e < E; ++e) {
        const int32_t i = k.edge_src[static_cast<size_t>(e)];
        w.dell[e] += w.dlogq[i] * std::exp(w.ell[e] - w.logq[i]);
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
