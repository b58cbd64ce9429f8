// Per-row forward and backward (VJP) math of every stage, shared by all back ends.
// Each *_vjp function ACCUMULATES (+=) into the gradient buffers it is given.
#pragma once
#include <cmath>
#include <cstdint>

#include "cisreg/network.hpp"
#include "kernels/common/math.hpp"

namespace cisreg::rows {

// ---------------------------------------------------------------- layer 1: sites
// dG_s = eps_s + sum_l E_s[l, x[start + l]]. `bad` collects codes >= A (they are read
// as code 0 so that memory outside theta is never touched; the caller reports them).
inline void site_energies(const Network& net, const uint8_t* x /*[L]*/, const double* theta,
                          double* dG /*[S]*/, unsigned& bad) {
    const int32_t A = net.alphabet_size;
    for (const Site& s : net.sites) {
        const double* E = theta + s.e_offset;
        const uint8_t* xs = x + s.start;
        double acc = theta[s.eps_offset];
        for (int32_t l = 0; l < s.width; ++l) {
            unsigned c = xs[l];
            bad |= static_cast<unsigned>(c >= static_cast<unsigned>(A));
            c = c < static_cast<unsigned>(A) ? c : 0u;
            acc += E[l * A + static_cast<int32_t>(c)];
        }
        *dG++ = acc;
    }
}

inline void site_energies_vjp(const Network& net, const uint8_t* x, const double* ddG /*[S]*/,
                              double* grad /*[P]*/) {
    const int32_t A = net.alphabet_size;
    for (int32_t si = 0; si < net.n_sites(); ++si) {
        const Site& s = net.sites[static_cast<size_t>(si)];
        const double g = ddG[si];
        double* gE = grad + s.e_offset;
        const uint8_t* xs = x + s.start;
        grad[s.eps_offset] += g;
        for (int32_t l = 0; l < s.width; ++l) {
            unsigned c = xs[l];
            c = c < static_cast<unsigned>(A) ? c : 0u;
            gE[l * A + static_cast<int32_t>(c)] += g;
        }
    }
}

// ------------------------------------------------------- layers 2-4: nodes, states, phi
struct NetRow {
    double logZ;
    double phi;
    double tsat;
};

// h [n_nodes] receives node log-weights. Returns logZ and phi.
inline NetRow network_forward(const Network& net, const double* dG, const double* theta,
                              double* h) {
    const int32_t nn = net.n_nodes();
    double hmax = -INFINITY;
    for (int32_t n = 0; n < nn; ++n) {
        double v = net.b_const[static_cast<size_t>(n)];
        for (int32_t j = net.b_ptr[static_cast<size_t>(n)]; j < net.b_ptr[static_cast<size_t>(n) + 1]; ++j)
            v += net.b_coef[static_cast<size_t>(j)] * theta[net.b_param[static_cast<size_t>(j)]];
        for (int32_t j = net.a_ptr[static_cast<size_t>(n)]; j < net.a_ptr[static_cast<size_t>(n) + 1]; ++j)
            v -= net.a_coef[static_cast<size_t>(j)] * dG[net.a_site[static_cast<size_t>(j)]];
        h[n] = v;
        if (net.node_state[static_cast<size_t>(n)] >= 0 && v > hmax) hmax = v;
    }
    double z = 0.0;
    for (int32_t n = 0; n < nn; ++n)
        if (net.node_state[static_cast<size_t>(n)] >= 0) z += std::exp(h[n] - hmax);
    NetRow r;
    r.logZ = hmax + std::log(z);
    r.tsat = net.tsat_param >= 0 ? theta[net.tsat_param] : net.tsat_const;
    double num = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        double alpha = net.act_const[static_cast<size_t>(n)];
        if (net.act_param[static_cast<size_t>(n)] >= 0) alpha += theta[net.act_param[static_cast<size_t>(n)]];
        if (alpha != 0.0) num += alpha * std::exp(h[n] - r.logZ);
    }
    r.phi = r.tsat * num;
    return r;
}

// Log-probability of each state given the node log-weights and logZ.
inline void state_logp(const Network& net, const double* h, double logZ, double* out /*[K]*/) {
    const int32_t nn = net.n_nodes();
    for (int32_t k = 0; k < net.n_states; ++k) {
        double m = -INFINITY;
        for (int32_t n = 0; n < nn; ++n)
            if (net.node_state[static_cast<size_t>(n)] == k && h[n] > m) m = h[n];
        double s = 0.0;
        for (int32_t n = 0; n < nn; ++n)
            if (net.node_state[static_cast<size_t>(n)] == k) s += std::exp(h[n] - m);
        out[k] = (m == -INFINITY) ? -INFINITY : m + std::log(s) - logZ;
    }
}

// Backward through layers 4..2 given dphi = d loss / d phi. Writes ddG [S] (overwrites),
// accumulates into grad for b, activity and t_sat parameters.
inline void network_vjp(const Network& net, const double* h, const NetRow& r, double dphi,
                        const double* theta, double* ddG /*[S]*/, double* grad) {
    const int32_t nn = net.n_nodes();
    for (int32_t s = 0; s < net.n_sites(); ++s) ddG[s] = 0.0;
    double dtsat = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const size_t un = static_cast<size_t>(n);
        const double w = std::exp(h[n] - r.logZ);  // p_n for state nodes
        double alpha = net.act_const[un];
        if (net.act_param[un] >= 0) alpha += theta[net.act_param[un]];
        dtsat += alpha * w;
        if (net.act_param[un] >= 0) grad[net.act_param[un]] += dphi * r.tsat * w;
        double dh = r.tsat * alpha * w;
        if (net.node_state[un] >= 0) dh -= r.phi * w;
        dh *= dphi;
        for (int32_t j = net.b_ptr[un]; j < net.b_ptr[un + 1]; ++j)
            grad[net.b_param[static_cast<size_t>(j)]] += net.b_coef[static_cast<size_t>(j)] * dh;
        for (int32_t j = net.a_ptr[un]; j < net.a_ptr[un + 1]; ++j)
            ddG[net.a_site[static_cast<size_t>(j)]] -= net.a_coef[static_cast<size_t>(j)] * dh;
    }
    if (net.tsat_param >= 0) grad[net.tsat_param] += dphi * dtsat;
}

// ------------------------------------------------------------ measurement processes
// Sort-seq (MPA). t [Y*K] is scratch. Returns the NLL of the row's counts n [Y];
// if WITH_GRAD, accumulates parameter gradients into grad and sets *dphi.
template <bool WITH_GRAD>
inline double mpa_row(const Measurement& m, const double* theta, double phi, const double* n,
                      double* t, double* u, double* grad, double* dphi) {
    const int32_t Y = m.n_bins, K = m.hidden;
    const double* a = theta + m.offset;
    const double* b = a + Y;
    const double* c = b + static_cast<int64_t>(Y) * K;
    const double* d = c + static_cast<int64_t>(Y) * K;
    double ntot = 0.0;
    for (int32_t y = 0; y < Y; ++y) ntot += n[y];
    if (ntot == 0.0) {
        if (WITH_GRAD) *dphi = 0.0;
        return 0.0;
    }
    double umax = -INFINITY;
    for (int32_t y = 0; y < Y; ++y) {
        const int64_t o = static_cast<int64_t>(y) * K;
        double acc = a[y];
#pragma omp simd reduction(+ : acc)
        for (int32_t k = 0; k < K; ++k) {
            const double tk = math::tanh_fast(c[o + k] * phi + d[o + k]);
            t[o + k] = tk;
            acc += b[o + k] * tk;
        }
        u[y] = acc;
        umax = acc > umax ? acc : umax;
    }
    double se = 0.0;
    for (int32_t y = 0; y < Y; ++y) se += math::exp_nonpos(u[y] - umax);
    const double lse = umax + std::log(se);
    double nll = ntot * lse;
    for (int32_t y = 0; y < Y; ++y) nll -= n[y] * u[y];
    if (WITH_GRAD) {
        double* ga = grad + m.offset;
        double* gb = ga + Y;
        double* gc = gb + static_cast<int64_t>(Y) * K;
        double* gd = gc + static_cast<int64_t>(Y) * K;
        double dp = 0.0;
        for (int32_t y = 0; y < Y; ++y) {
            const double du = ntot * math::exp_nonpos(u[y] - lse) - n[y];
            ga[y] += du;
            const int64_t o = static_cast<int64_t>(y) * K;
#pragma omp simd reduction(+ : dp)
            for (int32_t k = 0; k < K; ++k) {
                const double tk = t[o + k];
                gb[o + k] += du * tk;
                const double s = du * b[o + k] * (1.0 - tk * tk);
                gc[o + k] += s * phi;
                gd[o + k] += s;
                dp += s * c[o + k];
            }
        }
        *dphi = dp;
    }
    return nll;
}

// Global epistasis g(phi) = a + sum_k b_k tanh(c_k phi + d_k). t [K] is scratch.
inline double ge_g(const Measurement& m, const double* theta, double phi, double* t) {
    const int32_t K = m.hidden;
    const double* p = theta + m.offset;
    const double* b = p + 1;
    const double* c = b + K;
    const double* d = c + K;
    double g = p[0];
    for (int32_t k = 0; k < K; ++k) {
        t[k] = math::tanh_fast(c[k] * phi + d[k]);
        g += b[k] * t[k];
    }
    return g;
}

template <bool WITH_GRAD>
inline double ge_row(const Measurement& m, const double* theta, double phi, double y, double* t,
                     double* grad, double* dphi) {
    constexpr double kHalfLog2Pi = 0.91893853320467274178;
    constexpr double kLogPi = 1.14472988584940017414;
    const int32_t K = m.hidden;
    const double g = ge_g(m, theta, phi, t);
    const double ls = theta[m.offset + 1 + 3LL * K];
    const double inv_var = std::exp(-2.0 * ls);
    const double r = y - g;
    double nll, dg, dls;
    if (m.kind == MeasKind::GEGaussian) {
        nll = kHalfLog2Pi + ls + 0.5 * r * r * inv_var;
        dg = -r * inv_var;
        dls = 1.0 - r * r * inv_var;
    } else {  // Cauchy
        const double q = r * r * inv_var;
        nll = kLogPi + ls + std::log1p(q);
        dg = -2.0 * r * inv_var / (1.0 + q);
        dls = 1.0 - 2.0 * q / (1.0 + q);
    }
    if (WITH_GRAD) {
        double* gp = grad + m.offset;
        double* gb = gp + 1;
        double* gc = gb + K;
        double* gd = gc + K;
        const double* b = theta + m.offset + 1;
        const double* c = b + K;
        gp[0] += dg;
        double dp = 0.0;
        for (int32_t k = 0; k < K; ++k) {
            gb[k] += dg * t[k];
            const double s = dg * b[k] * (1.0 - t[k] * t[k]);
            gc[k] += s * phi;
            gd[k] += s;
            dp += s * c[k];
        }
        grad[m.offset + 1 + 3LL * K] += dls;
        *dphi = dp;
    }
    return nll;
}

}  // namespace cisreg::rows
