// Per-row forward and backward (VJP) math of every stage, shared by all back ends.
// Each *_vjp function ACCUMULATES (+=) into the gradient buffers it is given.
#pragma once
#include <cmath>
#include <cstdint>

#include "cisreg/network.hpp"
#include "kernels/common/math.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {  // see math.hpp

// ---------------------------------------------------------------- layer 1: sites
// dG_s = eps_s + sum_l E_s[l, x[start + l]]. `bad` collects codes >= A (they are read
// as code 0, or as code & 3 when A == 4, so that memory outside theta is never touched;
// the caller reports them).
inline void site_energies(const Network& net, const uint8_t* x /*[L]*/, const double* theta,
                          double* dG /*[S]*/, unsigned& bad) {
    const unsigned A = static_cast<unsigned>(net.alphabet_size);
    if (A == 4) {  // the common case: a code is valid iff it is < 4, and c & 3 stays in bounds
        unsigned b = 0;
        for (const Site& s : net.sites) {
            const double* E = theta + s.e_offset;
            const uint8_t* xs = x + s.start;
            // four independent partial sums: the table lookups are cheap, a single serial
            // chain of additions (one per position) is what costs
            double acc[4] = {theta[s.eps_offset], 0.0, 0.0, 0.0};
            int32_t l = 0;
            for (; l + 4 <= s.width; l += 4)
                for (int32_t q = 0; q < 4; ++q) {
                    const unsigned c = xs[l + q];
                    b |= c;
                    acc[q] += E[4 * (l + q) + static_cast<int32_t>(c & 3u)];
                }
            for (; l < s.width; ++l) {
                const unsigned c = xs[l];
                b |= c;
                acc[0] += E[4 * l + static_cast<int32_t>(c & 3u)];
            }
            *dG++ = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
        bad |= static_cast<unsigned>(b > 3u);
        return;
    }
    for (const Site& s : net.sites) {
        const double* E = theta + s.e_offset;
        const uint8_t* xs = x + s.start;
        double acc[4] = {theta[s.eps_offset], 0.0, 0.0, 0.0};
        unsigned b = 0;
        int32_t l = 0;
        for (; l + 4 <= s.width; l += 4) {
            for (int32_t q = 0; q < 4; ++q) {
                unsigned c = xs[l + q];
                b |= static_cast<unsigned>(c >= A);
                c = c < A ? c : 0u;
                acc[q] += E[static_cast<unsigned>(l + q) * A + c];
            }
        }
        for (; l < s.width; ++l) {
            unsigned c = xs[l];
            b |= static_cast<unsigned>(c >= A);
            c = c < A ? c : 0u;
            acc[0] += E[static_cast<unsigned>(l) * A + c];
        }
        bad |= b;
        *dG++ = (acc[0] + acc[1]) + (acc[2] + acc[3]);
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
        if (A == 4) {
            for (int32_t l = 0; l < s.width; ++l) gE[4 * l + static_cast<int32_t>(xs[l] & 3u)] += g;
            continue;
        }
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
    double num = 0.0;  // sum_n alpha_n w_n (= phi / t_sat); set by net_forward_packed
};

// Layers 2-4: h [n_nodes] receives node log-weights, w [n_nodes] = exp(h_n - logZ) (the state probabilities,
// and the flux terms of kinetic models) for network_vjp_w: one exponential per node
// instead of three (no exp of an unbounded argument for state nodes: h_n - max <= 0).
inline NetRow network_forward_w(const Network& net, const double* dG, const double* theta,
                                double* __restrict h, double* __restrict w) {
    const int32_t nn = net.n_nodes();
    const int32_t* st = net.node_state.data();
    double hmax = -INFINITY;
    for (int32_t n = 0; n < nn; ++n) {
        const size_t un = static_cast<size_t>(n);
        double v = net.b_const[un];
        for (int32_t j = net.b_ptr[un]; j < net.b_ptr[un + 1]; ++j)
            v += net.b_coef[static_cast<size_t>(j)] * theta[net.b_param[static_cast<size_t>(j)]];
        for (int32_t j = net.a_ptr[un]; j < net.a_ptr[un + 1]; ++j)
            v -= net.a_coef[static_cast<size_t>(j)] * dG[net.a_site[static_cast<size_t>(j)]];
        h[n] = v;
        if (st[n] >= 0 && v > hmax) hmax = v;
    }
    double z = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const double e = st[n] >= 0 ? math::exp_nonpos(h[n] - hmax) : 0.0;
        w[n] = e;
        z += e;
    }
    NetRow r;
    r.logZ = hmax + std::log(z);
    r.tsat = net.tsat_param >= 0 ? theta[net.tsat_param] : net.tsat_const;
    const double iz = 1.0 / z;
    double num = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const size_t un = static_cast<size_t>(n);
        w[n] = st[n] >= 0 ? w[n] * iz : std::exp(h[n] - r.logZ);
        double alpha = net.act_const[un];
        if (net.act_param[un] >= 0) alpha += theta[net.act_param[un]];
        if (alpha != 0.0) num += alpha * w[n];
    }
    r.phi = r.tsat * num;
    return r;
}

// Backward through layers 4..2 given dphi, with the node weights w from network_forward_w:
// writes ddG [S] (overwrites) and accumulates the b, activity and t_sat gradients.
inline void network_vjp_w(const Network& net, const double* w, const NetRow& r, double dphi,
                          const double* theta, double* __restrict ddG, double* __restrict grad) {
    const int32_t nn = net.n_nodes();
    for (int32_t s = 0; s < net.n_sites(); ++s) ddG[s] = 0.0;
    double dtsat = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const size_t un = static_cast<size_t>(n);
        const double wn = w[n];
        double alpha = net.act_const[un];
        if (net.act_param[un] >= 0) alpha += theta[net.act_param[un]];
        dtsat += alpha * wn;
        if (net.act_param[un] >= 0) grad[net.act_param[un]] += dphi * r.tsat * wn;
        double dh = r.tsat * alpha * wn;
        if (net.node_state[un] >= 0) dh -= r.phi * wn;
        dh *= dphi;
        for (int32_t j = net.b_ptr[un]; j < net.b_ptr[un + 1]; ++j)
            grad[net.b_param[static_cast<size_t>(j)]] += net.b_coef[static_cast<size_t>(j)] * dh;
        for (int32_t j = net.a_ptr[un]; j < net.a_ptr[un + 1]; ++j)
            ddG[net.a_site[static_cast<size_t>(j)]] -= net.a_coef[static_cast<size_t>(j)] * dh;
    }
    if (net.tsat_param >= 0) grad[net.tsat_param] += dphi * dtsat;
}

// ------------------------------- layers 2-4 with the per-call constants folded ("packed")
// The parts of layers 2-4 that do not depend on the sequence are evaluated once per call:
// B_n = b_const_n + sum_j b_coef_j theta[b_param_j], alpha_n and t_sat. The gradients of
// the b, activity and t_sat parameters are sums over rows of per-node quantities, so the
// row loop only accumulates those (acc) and net_packed_flush folds them into theta's
// gradient once per chunk.
struct NetPacked {
    int32_t nn = 0;
    int32_t S = 0;
    const double* B = nullptr;        // [nn]
    const double* alpha = nullptr;    // [nn]
    const int32_t* state = nullptr;   // [nn]
    const int32_t* a_ptr = nullptr;   // [nn + 1]
    const int32_t* a_site = nullptr;  // [nnz]
    const double* a_coef = nullptr;   // [nnz]
    double tsat = 1.0;
    bool has_flux = false;            // some node has state -1 (then NetRow::logZ is computed)
};

// h [nn] node log-weights, w [nn] = exp(h_n - logZ). Same results as network_forward_w,
// except that logZ is left NaN when no node has state -1 (it is then not needed).
inline NetRow net_forward_packed(const NetPacked& N, const double* __restrict dG, double* __restrict h,
                                 double* __restrict w) {
    const int32_t nn = N.nn;
    double hmax = -INFINITY;
    for (int32_t n = 0; n < nn; ++n) {
        double v = N.B[n];
        for (int32_t j = N.a_ptr[n]; j < N.a_ptr[n + 1]; ++j) v -= N.a_coef[j] * dG[N.a_site[j]];
        h[n] = v;
        if (N.state[n] >= 0 && v > hmax) hmax = v;
    }
    double z = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const double e = N.state[n] >= 0 ? math::exp_nonpos(h[n] - hmax) : 0.0;
        w[n] = e;
        z += e;
    }
    NetRow r;
    r.tsat = N.tsat;
    const double iz = 1.0 / z;
    double num = 0.0;
    if (N.has_flux) {
        r.logZ = hmax + std::log(z);
        for (int32_t n = 0; n < nn; ++n) {
            w[n] = N.state[n] >= 0 ? w[n] * iz : std::exp(h[n] - r.logZ);
            if (N.alpha[n] != 0.0) num += N.alpha[n] * w[n];
        }
    } else {  // logZ is not needed by the loss: skip its logarithm
        r.logZ = NAN;
        for (int32_t n = 0; n < nn; ++n) {
            w[n] *= iz;
            num += N.alpha[n] * w[n];
        }
    }
    r.num = num;
    r.phi = N.tsat * num;
    return r;
}

// Backward through layers 4..2: writes ddG [S]; acc [2 nn + 1] += (per node: dh_n, then
// per node: dphi w_n, then dphi num), see net_packed_flush.
inline void net_vjp_packed(const NetPacked& N, const double* __restrict w, const NetRow& r, double dphi,
                           double* __restrict ddG, double* __restrict acc) {
    const int32_t nn = N.nn;
    for (int32_t s = 0; s < N.S; ++s) ddG[s] = 0.0;
    for (int32_t n = 0; n < nn; ++n) {
        const double wn = w[n];
        double dh = N.tsat * N.alpha[n] * wn;
        if (N.state[n] >= 0) dh -= r.phi * wn;
        dh *= dphi;
        acc[n] += dh;
        acc[nn + n] += dphi * wn;
        for (int32_t j = N.a_ptr[n]; j < N.a_ptr[n + 1]; ++j) ddG[N.a_site[j]] -= N.a_coef[j] * dh;
    }
    acc[2 * nn] += dphi * r.num;
}

// Fold acc [2 nn + 1] into grad (b, activity and t_sat parameters) and zero it.
inline void net_packed_flush(const Network& net, const NetPacked& N, double* acc, double* grad) {
    const int32_t nn = N.nn;
    for (int32_t n = 0; n < nn; ++n) {
        const size_t un = static_cast<size_t>(n);
        for (int32_t j = net.b_ptr[un]; j < net.b_ptr[un + 1]; ++j)
            grad[net.b_param[static_cast<size_t>(j)]] += net.b_coef[static_cast<size_t>(j)] * acc[n];
        if (net.act_param[un] >= 0) grad[net.act_param[un]] += N.tsat * acc[nn + n];
    }
    if (net.tsat_param >= 0) grad[net.tsat_param] += acc[2 * nn];
    for (int32_t n = 0; n < 2 * nn + 1; ++n) acc[n] = 0.0;
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

// ------------------------------------------- sort-seq (MPA), vectorised over hidden units
// The same NLL and gradient as mpa_row, arranged for SIMD: the (bin, hidden) parameters
// are packed into "lanes" (structure of arrays, padded to a multiple of kMpaLanes); the
// tanh is math::tanh_scaled of parameters pre-scaled by math::kTanhScale; the forward pass
// keeps every tanh for the backward pass; the per-row scalar work (softmax, NLL) and the
// backward pass run on several rows at once; and the per-lane gradient sums are
// accumulated in scratch over a chunk of rows and folded into grad once
// (mpa_packed_flush), which removes one multiply per (row, lane) and the per-row traffic
// on the b/c/d gradient blocks.
//
// Lane layout: bin y owns lanes [y*km, (y+1)*km), km = K rounded down to kMpaLanes, so the
// bin sums are plain SIMD reductions; the other kr = K - km hidden units of every bin sit
// together in [jm, jm + Y*kr), jm = Y*km; lanes up to J (a multiple of kMpaLanes) are
// padding whose parameters are 0 (tanh = 0, no contribution, zero gradient).
constexpr int32_t kMpaLanes = 8;  // the code below assumes 8 (its reduction trees)

struct MpaPacked {
    int32_t Y = 0, K = 0, km = 0, kr = 0, jm = 0, J = 0;
    const double* cs = nullptr;       // [J] kTanhScale c
    const double* ds = nullptr;       // [J] kTanhScale d
    const double* b = nullptr;        // [J] b
    const double* bc = nullptr;       // [J] b c
    const int32_t* lane_y = nullptr;  // [J] bin of the lane, -1 for padding
    const int64_t* lane_yk = nullptr; // [J] y*K + k of the lane, -1 for padding
};

// Lane of hidden unit k of bin y.
inline int32_t mpa_lane(int32_t Y, int32_t K, int32_t y, int32_t k) {
    const int32_t km = K - K % kMpaLanes;
    return k < km ? y * km + k : Y * km + y * (K - km) + (k - km);
}
inline int32_t mpa_lanes(int32_t Y, int32_t K) {
    return (Y * K + kMpaLanes - 1) / kMpaLanes * kMpaLanes;
}

// Every tanh of one row: t [J] (kept for the backward pass). One flat SIMD loop, the bulk
// of the work.
inline void mpa_tanh_packed(const MpaPacked& P, double phi, double* __restrict t) {
    const double* __restrict cs = P.cs;
    const double* __restrict ds = P.ds;
    const int32_t J = P.J;
#pragma omp simd
    for (int32_t j = 0; j < J; ++j) t[j] = math::tanh_scaled(cs[j] * phi + ds[j]);
}

// Tree sum of 8 values (the lane-parallel partial sums below).
inline double sum8(const double* p) {
    return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
}

// The rest of the forward pass for R rows at once (lanes of the per-row scalar work, so
// that its short dependency chains, one per row, overlap): bin scores u [R*Y] (row-major)
// from the rows' tanh values t[r] [J], softmax, NLL of the counts n [R*Y] with totals
// ntot [R] into nll [R], and d nll / d u into du [R*Y]. ey [R*Y] is scratch. a = theta +
// meas.offset. Rows are independent: the results of a row do not depend on R or on the
// other rows. A row with ntot 0 gets nll 0 and du 0 (its t[r] must only be finite).
template <int R>
inline void mpa_scores_packed(const MpaPacked& P, const double* __restrict a, const double* const* t,
                              const double* __restrict n, const double* ntot, double* __restrict u,
                              double* __restrict ey, double* __restrict du, double* nll) {
    constexpr int32_t V = kMpaLanes;
    const int32_t Y = P.Y, km = P.km, jm = P.jm, kr = P.kr;
    const double* __restrict b = P.b;
    const double* __restrict tr[R];
    for (int r = 0; r < R; ++r) tr[r] = t[r];
    // bin sums u_y = a_y + sum_k b_yk t_yk: lane-parallel partial sums over the bin's
    // blocks of V lanes (R independent chains), then one small tree per row and bin
    for (int32_t y = 0; y < Y; ++y) {
        double p8[R][V];
        for (int r = 0; r < R; ++r)
            for (int32_t l = 0; l < V; ++l) p8[r][l] = 0.0;
        for (int32_t o = y * km; o < (y + 1) * km; o += V) {
#pragma omp simd
            for (int32_t l = 0; l < V; ++l) {
                const double bk = b[o + l];
                for (int r = 0; r < R; ++r) p8[r][l] += bk * tr[r][o + l];
            }
        }
        for (int r = 0; r < R; ++r) u[r * Y + y] = a[y] + sum8(p8[r]);
    }
    if (kr > 0) {  // the remainder lanes of bin y are [jm + y kr, jm + (y+1) kr)
        for (int32_t y = 0; y < Y; ++y) {
            double acc[R];
            for (int r = 0; r < R; ++r) acc[r] = 0.0;
            for (int32_t j = jm + y * kr; j < jm + (y + 1) * kr; ++j)
                for (int r = 0; r < R; ++r) acc[r] += b[j] * tr[r][j];
            for (int r = 0; r < R; ++r) u[r * Y + y] += acc[r];
        }
    }
    // softmax over bins, the rows side by side
    double um[R], se[R], s[R];
    for (int r = 0; r < R; ++r) um[r] = u[r * Y];
    for (int32_t y = 1; y < Y; ++y)
        for (int r = 0; r < R; ++r) um[r] = u[r * Y + y] > um[r] ? u[r * Y + y] : um[r];
    for (int r = 0; r < R; ++r) {
#pragma omp simd
        for (int32_t y = 0; y < Y; ++y) ey[r * Y + y] = math::exp_nonpos(u[r * Y + y] - um[r]);
    }
    for (int r = 0; r < R; ++r) {
        se[r] = 0.0;
        s[r] = 0.0;
    }
    for (int32_t y = 0; y < Y; ++y)
        for (int r = 0; r < R; ++r) {
            se[r] += ey[r * Y + y];
            s[r] += n[r * Y + y] * u[r * Y + y];
        }
    for (int r = 0; r < R; ++r) {
        nll[r] = ntot[r] * (um[r] + std::log(se[r])) - s[r];
        const double scale = ntot[r] / se[r];
        for (int32_t y = 0; y < Y; ++y) du[r * Y + y] = ey[r * Y + y] * scale - n[r * Y + y];
    }
}

// Forward pass of one row: every tanh (kept in t [J] for the backward pass), the bin
// scores u [Y], their softmax, and the NLL of the counts n [Y] (returned). a = theta +
// meas.offset (the bin offsets). If WITH_GRAD, du [Y] receives d nll / d u_y (all zero for
// a row without counts) and ga [Y] (the gradient block of a) += du. ey [Y] is scratch.
// The caller checks that phi is finite (mpa_row handles the other rows).
template <bool WITH_GRAD>
inline double mpa_forward_packed(const MpaPacked& P, const double* a, double phi, const double* n,
                                 double* t, double* u, double* ey, double* du, double* ga) {
    const int32_t Y = P.Y;
    double ntot = 0.0;
    for (int32_t y = 0; y < Y; ++y) ntot += n[y];
    if (ntot == 0.0) {
        if (WITH_GRAD)
            for (int32_t y = 0; y < Y; ++y) du[y] = 0.0;
        return 0.0;
    }
    mpa_tanh_packed(P, phi, t);
    const double* tp = t;
    double nll;
    mpa_scores_packed<1>(P, a, &tp, n, &ntot, u, ey, du, &nll);
    if (WITH_GRAD)
        for (int32_t y = 0; y < Y; ++y) ga[y] += du[y];
    return nll;
}

// Backward pass of R rows at once (their forward passes done): row r has tanh values
// t[r] [J], d nll / d u in du [r*Y .. r*Y+Y) (zero for rows to skip; their t[r] must be
// finite) and activity phi[r]. Adds the rows' lane sums to G [3*J] (in row order, so the
// sums do not depend on R) and sets dphi[r]. Each lane's G and b c are loaded once for the
// R rows. dul [R*J] is scratch.
template <int R>
inline void mpa_backward_packed(const MpaPacked& P, const double* const* t, const double* du,
                                const double* phi, double* __restrict dul, double* __restrict G,
                                double* dphi) {
    constexpr int32_t V = kMpaLanes;
    const int32_t Y = P.Y, km = P.km, jm = P.jm, J = P.J;
    const double* __restrict bc = P.bc;
    double* __restrict G1 = G;
    double* __restrict G2 = G + J;
    double* __restrict G3 = G + 2 * static_cast<int64_t>(J);
    const double* __restrict tr[R];
    double ph[R];
    for (int r = 0; r < R; ++r) {
        tr[r] = t[r];
        ph[r] = phi[r];
    }
    double dp8[R][V];
    for (int r = 0; r < R; ++r)
        for (int32_t l = 0; l < V; ++l) dp8[r][l] = 0.0;
    for (int32_t y = 0; y < Y; ++y) {
        double dy[R];
        for (int r = 0; r < R; ++r) dy[r] = du[r * Y + y];
        for (int32_t o = y * km; o < (y + 1) * km; o += V) {
#pragma omp simd
            for (int32_t l = 0; l < V; ++l) {
                const int32_t k = o + l;
                double g1 = G1[k], g2 = G2[k], g3 = G3[k];
                const double bck = bc[k];
                for (int r = 0; r < R; ++r) {
                    const double tk = tr[r][k];
                    const double w = dy[r] * tk;
                    g1 += w;
                    const double q = dy[r] - w * tk;  // du (1 - t^2)
                    g2 += q;
                    g3 += q * ph[r];
                    dp8[r][l] += q * bck;
                }
                G1[k] = g1;
                G2[k] = g2;
                G3[k] = g3;
            }
        }
    }
    for (int32_t o = jm; o < J; o += V) {  // remainder lanes: du looked up per lane
        for (int r = 0; r < R; ++r) {
            double* dl = dul + r * static_cast<int64_t>(J);
            for (int32_t l = 0; l < V; ++l) {
                const int32_t y = P.lane_y[o + l];
                dl[o + l] = y >= 0 ? du[r * Y + y] : 0.0;
            }
        }
#pragma omp simd
        for (int32_t l = 0; l < V; ++l) {
            const int32_t k = o + l;
            double g1 = G1[k], g2 = G2[k], g3 = G3[k];
            const double bck = bc[k];
            for (int r = 0; r < R; ++r) {
                const double tk = tr[r][k];
                const double d = dul[r * static_cast<int64_t>(J) + k];
                const double w = d * tk;
                g1 += w;
                const double q = d - w * tk;
                g2 += q;
                g3 += q * ph[r];
                dp8[r][l] += q * bck;
            }
            G1[k] = g1;
            G2[k] = g2;
            G3[k] = g3;
        }
    }
    for (int r = 0; r < R; ++r) {
        const double* d = dp8[r];
        dphi[r] = ((d[0] + d[4]) + (d[2] + d[6])) + ((d[1] + d[5]) + (d[3] + d[7]));
    }
}

// One row (forward + backward): the same as mpa_row, accumulating b, c, d gradients in G
// (see mpa_packed_flush) and the a gradient in ga. Scratch: t [J], u, ey, du [Y], dul [J].
template <bool WITH_GRAD>
inline double mpa_row_packed(const MpaPacked& P, const double* a, double phi, const double* n,
                             double* t, double* u, double* ey, double* du, double* dul, double* G,
                             double* ga, double* dphi) {
    const double nll = mpa_forward_packed<WITH_GRAD>(P, a, phi, n, t, u, ey, du, ga);
    if (WITH_GRAD) {
        const double* tp = t;
        mpa_backward_packed<1>(P, &tp, du, &phi, dul, G, dphi);
    }
    return nll;
}

// Fold the lane sums G [3*J] into the b, c, d gradient blocks (grad = theta-indexed
// gradient, meas the measurement) and reset G to zero.
inline void mpa_packed_flush(const MpaPacked& P, const Measurement& m, double* G, double* grad) {
    const int64_t YK = static_cast<int64_t>(P.Y) * P.K;
    double* gb = grad + m.offset + P.Y;
    double* gc = gb + YK;
    double* gd = gc + YK;
    double* G1 = G;
    double* G2 = G + P.J;
    double* G3 = G + 2 * static_cast<int64_t>(P.J);
    for (int32_t j = 0; j < P.J; ++j) {
        const int64_t yk = P.lane_yk[j];
        if (yk >= 0) {
            gb[yk] += G1[j];
            gc[yk] += P.b[j] * G3[j];
            gd[yk] += P.b[j] * G2[j];
        }
        G1[j] = 0.0;
        G2[j] = 0.0;
        G3[j] = 0.0;
    }
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

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
