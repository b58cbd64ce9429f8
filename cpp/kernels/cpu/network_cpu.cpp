// CPU loops over rows. The math lives in kernels/common/rows.hpp; this file only
// splits the batch into fixed chunks, runs them on OpenMP threads and reduces the
// per-chunk results in chunk order (deterministic for any thread count).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/ops.hpp"
#include "kernels/common/rows.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

// This file is compiled once per instruction-set level (see CMakeLists.txt); each
// copy lives in its own namespace, and src/dispatch.cpp picks one at run time.
#ifndef CISREG_CPU_NS
#define CISREG_CPU_NS cpu
#endif

namespace cisreg::CISREG_CPU_NS {
namespace {

int threads_for(const Exec& exec, int64_t n_chunks) {
    int nt = exec.n_threads < 1 ? 1 : exec.n_threads;
    if (n_chunks < nt) nt = static_cast<int>(std::max<int64_t>(1, n_chunks));
    return nt;
}

[[noreturn]] void report_bad_code(const Network& net, const SeqBatch& batch) {
    check_codes(net.alphabet_size, batch);
    throw InputError("codes: a code outside the alphabet was found");
}

// Doubles rounded up to whole 64-byte lines, so that every scratch array starts aligned.
constexpr int64_t kLine = 8;
int64_t lines(int64_t n) { return (n + kLine - 1) / kLine * kLine; }

template <class T>
T* align64(T* p) {
    const auto v = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<T*>((v + 63u) & ~static_cast<uintptr_t>(63u));
}

struct Scratch {
    std::vector<double> buf;
    int64_t stride = 0;  // a multiple of kLine
    double* base = nullptr;
    void assign(int64_t stride_doubles, int nt) {
        stride = lines(stride_doubles);
        buf.assign(static_cast<size_t>(stride * nt + kLine), 0.0);
        base = align64(buf.data());
    }
    double* at(int tid) { return base + stride * tid; }
};

// The sort-seq parameters packed into lanes (see rows::MpaPacked), built once per call.
struct MpaPack {
    std::vector<double> buf;
    std::vector<int32_t> lane_y;
    std::vector<int64_t> lane_yk;
    rows::MpaPacked v;
    MpaPack(const Measurement& m, const double* theta) {
        const int32_t Y = m.n_bins, K = m.hidden;
        const int32_t J = rows::mpa_lanes(Y, K);
        v.Y = Y;
        v.K = K;
        v.km = K - K % rows::kMpaLanes;
        v.kr = K - v.km;
        v.jm = Y * v.km;
        v.J = J;
        buf.assign(static_cast<size_t>(4 * lines(J) + kLine), 0.0);
        double* cs = align64(buf.data());
        double* ds = cs + lines(J);
        double* b = ds + lines(J);
        double* bc = b + lines(J);
        lane_y.assign(static_cast<size_t>(J), -1);
        lane_yk.assign(static_cast<size_t>(J), -1);
        const double* pa = theta + m.offset;
        const double* pb = pa + Y;
        const double* pc = pb + static_cast<int64_t>(Y) * K;
        const double* pd = pc + static_cast<int64_t>(Y) * K;
        for (int32_t y = 0; y < Y; ++y)
            for (int32_t k = 0; k < K; ++k) {
                const int64_t yk = static_cast<int64_t>(y) * K + k;
                const size_t j = static_cast<size_t>(rows::mpa_lane(Y, K, y, k));
                cs[j] = math::kTanhScale * pc[yk];
                ds[j] = math::kTanhScale * pd[yk];
                b[j] = pb[yk];
                bc[j] = pb[yk] * pc[yk];
                lane_y[j] = y;
                lane_yk[j] = yk;
            }
        v.cs = cs;
        v.ds = ds;
        v.b = b;
        v.bc = bc;
        v.lane_y = lane_y.data();
        v.lane_yk = lane_yk.data();
    }
};

// Forward of one chunk [i0, i1).
unsigned phi_chunk(const Network& net, const SeqBatch& batch, const double* theta, PhiOut out,
                   int64_t i0, int64_t i1, double* scr) {
    const int32_t S = net.n_sites();
    double* dG = scr;
    double* h = scr + lines(S);
    double* w = h + lines(net.n_nodes());
    unsigned bad = 0;
    for (int64_t i = i0; i < i1; ++i) {
        const uint8_t* x = batch.codes + batch.row(i) * batch.L;
        rows::site_energies(net, x, theta, dG, bad);
        const rows::NetRow r = rows::network_forward_w(net, dG, theta, h, w);
        out.phi[i] = r.phi;
        if (out.logZ) out.logZ[i] = r.logZ;
        if (out.dG) std::memcpy(out.dG + i * S, dG, sizeof(double) * static_cast<size_t>(S));
        if (out.state_logp) rows::state_logp(net, h, r.logZ, out.state_logp + i * net.n_states);
    }
    return bad;
}

// The per-call constants of layers 2-4 (see rows::NetPacked).
struct NetPack {
    std::vector<double> B, alpha;
    rows::NetPacked v;
    NetPack(const Network& net, const double* theta) {
        const int32_t nn = net.n_nodes();
        B.resize(static_cast<size_t>(nn));
        alpha.resize(static_cast<size_t>(nn));
        for (int32_t n = 0; n < nn; ++n) {
            const size_t un = static_cast<size_t>(n);
            double b = net.b_const[un];
            for (int32_t j = net.b_ptr[un]; j < net.b_ptr[un + 1]; ++j)
                b += net.b_coef[static_cast<size_t>(j)] * theta[net.b_param[static_cast<size_t>(j)]];
            B[un] = b;
            double a = net.act_const[un];
            if (net.act_param[un] >= 0) a += theta[net.act_param[un]];
            alpha[un] = a;
        }
        v.nn = nn;
        v.S = net.n_sites();
        v.B = B.data();
        v.alpha = alpha.data();
        v.state = net.node_state.data();
        v.a_ptr = net.a_ptr.data();
        v.a_site = net.a_site.data();
        v.a_coef = net.a_coef.data();
        v.tsat = net.tsat_param >= 0 ? theta[net.tsat_param] : net.tsat_const;
        v.has_flux = std::any_of(net.node_state.begin(), net.node_state.end(),
                                 [](int32_t st) { return st < 0; });
    }
};

// Rows processed together by the sort-seq kernels (rows::mpa_scores_packed,
// rows::mpa_backward_packed). 8 measured the same as 4 here, 2 and 16 slower.
constexpr int kGroup = 4;

// Per-thread scratch of loss_chunk, carved from one aligned block: kGroup row slots
// (each with its own network and measurement scratch) and the shared pieces.
struct LossScratch {
    struct Slot {
        double *dG, *h, *w, *t;
    };
    Slot slot[kGroup];
    double *ddG, *G, *tf, *dul, *nacc;
    double *n, *u, *ey, *du;  // [kGroup Y] each (row-major)
    static void sizes(const Network& net, const Measurement& meas, int64_t& S, int64_t& NN, int64_t& Y,
                      int64_t& J) {
        S = lines(net.n_sites());
        NN = lines(net.n_nodes());
        Y = lines(std::max<int64_t>(meas.n_targets(), 1));
        J = lines(std::max<int64_t>(
            {static_cast<int64_t>(meas.n_bins) * std::max(meas.hidden, 1),
             meas.kind == MeasKind::SortSeq ? rows::mpa_lanes(meas.n_bins, meas.hidden) : 0, 1}));
    }
    static int64_t doubles(const Network& net, const Measurement& meas) {
        int64_t S, NN, Y, J;
        sizes(net, meas, S, NN, Y, J);
        return kGroup * (S + 2 * NN + J) + S + 4 * J + kGroup * J + lines(2 * net.n_nodes() + 1) +
               4 * lines(kGroup * Y);
    }
    LossScratch(const Network& net, const Measurement& meas, double* p) {
        int64_t S, NN, Y, J;
        sizes(net, meas, S, NN, Y, J);
        for (Slot& sl : slot) {
            sl.dG = p;
            sl.h = sl.dG + S;
            sl.w = sl.h + NN;
            sl.t = sl.w + NN;  // finite (zero-initialised, then tanh values) at all times
            p = sl.t + J;
        }
        ddG = p;
        G = ddG + S;  // [3 J], zero between chunks
        tf = G + 3 * J;
        dul = tf + J;  // [kGroup J]
        nacc = dul + kGroup * J;  // [2 nn + 1], zero between chunks
        n = nacc + lines(2 * net.n_nodes() + 1);
        u = n + lines(kGroup * Y);
        ey = u + lines(kGroup * Y);
        du = ey + lines(kGroup * Y);
    }
};

// Loss (and gradient) of one chunk [i0, i1), gradient accumulated into g [P].
// Measurements other than sort-seq: one row at a time.
template <bool WITH_GRAD>
unsigned loss_chunk(const Network& net, const Measurement& meas, const SeqBatch& batch,
                    const double* targets, const double* theta, int64_t i0, int64_t i1, double* scr,
                    double* g, double* nll_rows, double* nll_out) {
    const int64_t T = meas.n_targets();
    LossScratch ls(net, meas, scr);
    const LossScratch::Slot& s = ls.slot[0];
    unsigned bad = 0;
    double nll_sum = 0.0;
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t row = batch.row(i);
        const uint8_t* x = batch.codes + row * batch.L;
        rows::site_energies(net, x, theta, s.dG, bad);
        const rows::NetRow r = rows::network_forward_w(net, s.dG, theta, s.h, s.w);
        const double* y = targets + row * T;
        double dphi = 0.0, nll = 0.0;
        switch (meas.kind) {
            case MeasKind::Linear:
                nll = y[0] * r.phi;
                dphi = y[0];
                break;
            case MeasKind::SortSeq:
                nll = rows::mpa_row<WITH_GRAD>(meas, theta, r.phi, y, ls.tf, ls.u, g, &dphi);
                break;
            case MeasKind::GEGaussian:
            case MeasKind::GECauchy:
                nll = rows::ge_row<WITH_GRAD>(meas, theta, r.phi, y[0], ls.tf, g, &dphi);
                break;
        }
        nll_sum += nll;
        if (nll_rows) nll_rows[i] = nll;
        if (WITH_GRAD && dphi != 0.0) {
            rows::network_vjp_w(net, s.w, r, dphi, theta, ls.ddG, g);
            rows::site_energies_vjp(net, x, ls.ddG, g);
        }
    }
    *nll_out = nll_sum;
    return bad;
}

// The same for the sort-seq measurement with the packed, vectorised kernels (rows.hpp),
// in groups of kGroup rows: each row goes through layers 1-4 and its tanh loop alone, then
// the group's softmax/NLL and its MPA backward pass run on the kGroup rows at once, then
// each row through the network VJP. A row's results do not depend on the group it is in,
// and every sum is accumulated in row order, so the results depend neither on the
// grouping nor, as everywhere, on the number of threads. Layer 2-4 and MPA parameter
// gradients are accumulated per chunk in scratch and folded into g at the end.
template <bool WITH_GRAD>
unsigned loss_chunk_mpa(const Network& net, const rows::NetPacked& np, const Measurement& meas,
                        const rows::MpaPacked& pk, const SeqBatch& batch, const double* targets,
                        const double* theta, int64_t i0, int64_t i1, double* scr, double* g, double* nll_rows,
                        double* nll_out) {
    const int64_t T = meas.n_targets();
    const int32_t Y = meas.n_bins;
    LossScratch ls(net, meas, scr);
    double* ga = WITH_GRAD ? g + meas.offset : nullptr;
    unsigned bad = 0;
    double nll_sum = 0.0;
    for (int64_t i = i0; i < i1; i += kGroup) {
        const int nr = static_cast<int>(std::min<int64_t>(kGroup, i1 - i));
        rows::NetRow net_row[kGroup];
        const uint8_t* xr[kGroup];
        double phi[kGroup], ntot[kGroup], nll[kGroup], dphi[kGroup], dphi_direct[kGroup];
        bool fallback[kGroup];
        const double* tr[kGroup];
        // layers 1-4 and the tanh of each row; the counts gathered into ls.n [kGroup, Y]
        for (int r = 0; r < kGroup; ++r) {
            const LossScratch::Slot& s = ls.slot[r];
            tr[r] = s.t;
            phi[r] = 0.0;
            ntot[r] = 0.0;
            dphi_direct[r] = 0.0;
            fallback[r] = false;
            double* nr_counts = ls.n + r * Y;
            if (r >= nr) {  // padding of the last group: no counts, contributes nothing
                for (int32_t y = 0; y < Y; ++y) nr_counts[y] = 0.0;
                continue;
            }
            const int64_t row = batch.row(i + r);
            xr[r] = batch.codes + row * batch.L;
            rows::site_energies(net, xr[r], theta, s.dG, bad);
            net_row[r] = rows::net_forward_packed(np, s.dG, s.h, s.w);
            const double* y = targets + row * T;
            double nt = 0.0;
            for (int32_t yy = 0; yy < Y; ++yy) {
                nr_counts[yy] = y[yy];
                nt += y[yy];
            }
            if (nt == 0.0) continue;  // no counts: nll 0, no gradient
            if (!std::isfinite(net_row[r].phi)) {
                // NaN / inf activity: the plain kernel propagates it
                fallback[r] = true;
                nll[r] = rows::mpa_row<WITH_GRAD>(meas, theta, net_row[r].phi, y, ls.tf, ls.u, g,
                                                  &dphi_direct[r]);
                for (int32_t yy = 0; yy < Y; ++yy) nr_counts[yy] = 0.0;
                continue;
            }
            phi[r] = net_row[r].phi;
            ntot[r] = nt;
            rows::mpa_tanh_packed(pk, phi[r], s.t);
        }
        // bin scores, softmax, NLL and d nll / d u of the group
        double nll_g[kGroup];
        rows::mpa_scores_packed<kGroup>(pk, theta + meas.offset, tr, ls.n, ntot, ls.u, ls.ey, ls.du, nll_g);
        for (int r = 0; r < nr; ++r) {
            const double v = fallback[r] ? nll[r] : nll_g[r];
            nll_sum += v;
            if (nll_rows) nll_rows[i + r] = v;
        }
        if (WITH_GRAD) {
            for (int r = 0; r < nr; ++r)
                for (int32_t y = 0; y < Y; ++y) ga[y] += ls.du[r * Y + y];
            rows::mpa_backward_packed<kGroup>(pk, tr, ls.du, phi, ls.dul, ls.G, dphi);
            for (int r = 0; r < nr; ++r) {
                const double dp = dphi[r] + dphi_direct[r];
                if (dp != 0.0) {
                    rows::net_vjp_packed(np, ls.slot[r].w, net_row[r], dp, ls.ddG, ls.nacc);
                    rows::site_energies_vjp(net, xr[r], ls.ddG, g);
                }
            }
        }
    }
    if (WITH_GRAD) {
        rows::mpa_packed_flush(pk, meas, ls.G, g);
        rows::net_packed_flush(net, np, ls.nacc, g);
    }
    *nll_out = nll_sum;
    return bad;
}

}  // namespace

void phi_forward(const Network& net, const SeqBatch& batch, const double* theta, Exec exec, PhiOut out) {
    const int64_t n_chunks = (batch.b + kChunkRows - 1) / kChunkRows;
    const int nt = threads_for(exec, n_chunks);
    Scratch scr;
    scr.assign(lines(net.n_sites()) + 2 * lines(net.n_nodes()), nt);
    unsigned bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
    for (int64_t c = 0; c < n_chunks; ++c) {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        const int64_t i0 = c * kChunkRows, i1 = std::min(batch.b, i0 + kChunkRows);
        bad |= phi_chunk(net, batch, theta, out, i0, i1, scr.at(tid));
    }
    if (bad) report_bad_code(net, batch);
}

double loss_and_grad(const Network& net, const Measurement& meas, const SeqBatch& batch,
                     const double* targets, const double* theta, Exec exec, double* grad,
                     double* nll_rows) {
    const int64_t P = net.n_params;
    const int64_t n_chunks = (batch.b + kChunkRows - 1) / kChunkRows;
    // Chunks are processed in blocks so that partial buffers stay bounded in memory
    // (at most 512 chunks, and about 64 MB of partial gradients for large models).
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(512, (int64_t{8} << 20) / std::max<int64_t>(P, 1)));
    const int nt = threads_for(exec, std::min(n_chunks, block));
    std::unique_ptr<MpaPack> pack;
    if (meas.kind == MeasKind::SortSeq) pack = std::make_unique<MpaPack>(meas, theta);
    const rows::MpaPacked* pk = pack ? &pack->v : nullptr;
    const NetPack netpack(net, theta);
    Scratch scr;
    scr.assign(LossScratch::doubles(net, meas), nt);
    std::vector<double> partial;
    std::vector<double> nll_part(static_cast<size_t>(std::min(n_chunks, block)), 0.0);
    if (grad) partial.resize(static_cast<size_t>(std::min(n_chunks, block) * P));
    double total = 0.0;
    unsigned bad = 0;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += block) {
        const int64_t nb = std::min(block, n_chunks - c0);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
        for (int64_t cb = 0; cb < nb; ++cb) {
#ifdef _OPENMP
            const int tid = omp_get_thread_num();
#else
            const int tid = 0;
#endif
            const int64_t i0 = (c0 + cb) * kChunkRows, i1 = std::min(batch.b, i0 + kChunkRows);
            double* nll_out = &nll_part[static_cast<size_t>(cb)];
            double* gp = grad ? partial.data() + cb * P : nullptr;
            if (gp) std::fill(gp, gp + P, 0.0);
            if (pk) {
                if (grad)
                    bad |= loss_chunk_mpa<true>(net, netpack.v, meas, *pk, batch, targets, theta, i0, i1,
                                                scr.at(tid), gp, nll_rows, nll_out);
                else
                    bad |= loss_chunk_mpa<false>(net, netpack.v, meas, *pk, batch, targets, theta, i0, i1,
                                                 scr.at(tid), gp, nll_rows, nll_out);
            } else if (grad) {
                bad |= loss_chunk<true>(net, meas, batch, targets, theta, i0, i1, scr.at(tid), gp, nll_rows,
                                        nll_out);
            } else {
                bad |= loss_chunk<false>(net, meas, batch, targets, theta, i0, i1, scr.at(tid), gp, nll_rows,
                                         nll_out);
            }
        }
        for (int64_t cb = 0; cb < nb; ++cb) total += nll_part[static_cast<size_t>(cb)];
        if (grad) {
            // grad[j] += partial[cb][j] in chunk order for every j: split over j (never over
            // chunks), so the sums are the same for any number of threads
            constexpr int64_t kSlice = 512;
            const int64_t n_slices = (P + kSlice - 1) / kSlice;
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t sl = 0; sl < n_slices; ++sl) {
                const int64_t j0 = sl * kSlice, j1 = std::min(P, j0 + kSlice);
                double* __restrict gout = grad;
                for (int64_t cb = 0; cb < nb; ++cb) {
                    const double* __restrict p = partial.data() + cb * P;
                    for (int64_t j = j0; j < j1; ++j) gout[j] += p[j];
                }
            }
        }
    }
    if (bad) report_bad_code(net, batch);
    return total;
}

void measurement_forward(const Measurement& meas, const double* theta, const double* phi, int64_t b,
                         double* out) {
    const int32_t Y = meas.n_bins, K = std::max(meas.hidden, 1);
    std::vector<double> t(static_cast<size_t>(Y) * static_cast<size_t>(K));
    std::vector<double> u(static_cast<size_t>(Y));
    std::vector<double> ones(static_cast<size_t>(Y), 1.0);
    for (int64_t i = 0; i < b; ++i) {
        switch (meas.kind) {
            case MeasKind::Linear: out[i] = phi[i]; break;
            case MeasKind::SortSeq: {
                // log p(y|phi) = -nll of a single read in bin y; compute u once, then normalise.
                double dummy = 0.0;
                rows::mpa_row<false>(meas, theta, phi[i], ones.data(), t.data(), u.data(), nullptr, &dummy);
                double m = u[0];
                for (int32_t y = 1; y < Y; ++y) m = std::max(m, u[static_cast<size_t>(y)]);
                double s = 0.0;
                for (int32_t y = 0; y < Y; ++y) s += std::exp(u[static_cast<size_t>(y)] - m);
                const double lse = m + std::log(s);
                for (int32_t y = 0; y < Y; ++y) out[i * Y + y] = u[static_cast<size_t>(y)] - lse;
                break;
            }
            case MeasKind::GEGaussian:
            case MeasKind::GECauchy: out[i] = rows::ge_g(meas, theta, phi[i], t.data()); break;
        }
    }
}

}  // namespace cisreg::CISREG_CPU_NS
