// The CPU driver: one deterministic chunked loop that runs any (G-P map, measurement)
// pair of stage contracts (kernels/common/stages.hpp) over a batch.
//
// Rows are processed in groups of V, one per SIMD lane (kernels/cpu/simd.hpp): layer 1 row
// by row (table lookups), then the G-P map and the measurement on all V lanes at once.
// The batch is cut into fixed chunks (Plan::chunk_rows); each chunk accumulates its own
// partial gradient in float64 (per-lane accumulators of the stages are reduced into it at
// the end of the chunk, in a fixed order), and the partials are summed in chunk order. So
// the result depends neither on the number of threads nor on the schedule.
//
// This file is compiled once per instruction-set level (CMakeLists.txt), each copy in its
// own namespace; src/dispatch.cpp picks one at run time. CISREG_LANES_SCALAR builds the
// one-row-at-a-time reference (R = T) that the vector copies are tested against.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/ops.hpp"
#include "kernels/common/site_rows.hpp"
#include "kernels/common/stages.hpp"
#include "kernels/cpu/cpu.hpp"
#include "kernels/cpu/simd.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef CISREG_CPU_NS
#define CISREG_CPU_NS cpu
#endif

namespace cisreg::CISREG_CPU_NS {
namespace {

#ifdef CISREG_LANES_SCALAR
template <class T>
using lane_t = T;
#else
template <class T>
using lane_t = simd::vec<T>;
#endif

int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int threads_for(const Exec& exec, int64_t n_chunks) {
    int nt = exec.n_threads < 1 ? 1 : exec.n_threads;
    if (n_chunks < nt) nt = static_cast<int>(std::max<int64_t>(1, n_chunks));
    return nt;
}

// Aligned per-thread scratch: `stride` bytes per thread, each block 64-byte aligned.
struct Arena {
    std::vector<unsigned char> buf;
    size_t stride = 0;
    unsigned char* base = nullptr;
    Arena(size_t bytes, int nt) {
        stride = (bytes + 63) / 64 * 64;
        buf.assign(stride * static_cast<size_t>(nt) + 64, 0);
        const auto v = reinterpret_cast<uintptr_t>(buf.data());
        base = buf.data() + ((64 - (v & 63u)) & 63u);
    }
    unsigned char* at(int tid) { return base + stride * static_cast<size_t>(tid); }
};

// Carves typed, 64-byte aligned arrays out of an arena block.
struct Carver {
    unsigned char* p;
    template <class X>
    X* take(int64_t n) {
        X* out = reinterpret_cast<X*>(p);
        p += (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(X) + 63) / 64 * 64;
        return out;
    }
};
template <class X>
size_t bytes_of(int64_t n) {
    return (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(X) + 63) / 64 * 64;
}

template <class R>
struct LaneAcc {
    R* p;
    void add(int32_t i, R v) { p[i] = p[i] + v; }
};

[[noreturn]] void report_bad_code(const Model& m, const SeqBatch& batch) {
    check_codes(m.sites.alphabet_size, batch);
    throw InputError("codes: a code outside the alphabet was found");
}

// Everything one thread needs for one group of V rows, and the chunk accumulators.
template <class T, class GP, class MS>
struct Work {
    using R = lane_t<T>;
    using O = Ops<R>;
    static constexpr int V = O::V;
    const Plan<T>& plan;
    const SitesView<T>& sv;
    const typename GP::View& gv;
    const typename MS::View& mv;
    int32_t S, NR, G, NT, GA, MA;
    Work(const Plan<T>& p, const typename MS::View& m)
        : plan(p), sv(p.sites), gv(GP::view(p)), mv(m), S(p.sites.S), NR(p.sites.n_resid),
          G(GP::scratch(GP::view(p))), NT(MS::n_targets(m)), GA(GP::acc_size(GP::view(p))), MA(MS::acc_size(m)) {}
    size_t bytes() const {
        return bytes_of<T>(int64_t{V} * S) * 2 + bytes_of<T>(int64_t{V} * NR) + bytes_of<R>(S) * 2 +
               bytes_of<R>(G) + bytes_of<R>(MS::scratch(mv)) + bytes_of<R>(NT) + bytes_of<R>(GA) + bytes_of<R>(MA) +
               bytes_of<double>(GA + MA);
    }
    struct Buf {
        T *dGl, *ddGl, *resl;
        R *dG, *ddG, *gs, *ms, *y, *gacc, *macc;
        double* sums;
    };
    Buf carve(unsigned char* block) const {
        Carver c{block};
        Buf b;
        b.dGl = c.take<T>(int64_t{V} * S);
        b.ddGl = c.take<T>(int64_t{V} * S);
        b.resl = c.take<T>(int64_t{V} * NR);
        b.dG = c.take<R>(S);
        b.ddG = c.take<R>(S);
        b.gs = c.take<R>(G);
        b.ms = c.take<R>(MS::scratch(mv));
        b.y = c.take<R>(NT);
        b.gacc = c.take<R>(GA);
        b.macc = c.take<R>(MA);
        b.sums = c.take<double>(GA + MA);
        return b;
    }

    // Layer 1 of the group's rows (lane l holds batch position i0 + min(l, nv - 1)).
    unsigned sites_forward(const SeqBatch& batch, int64_t i0, int nv, const uint8_t** x, Buf& b) const {
        unsigned bad = 0;
        for (int l = 0; l < V; ++l) {
            const int64_t i = i0 + std::min(l, nv - 1);
            x[l] = batch.codes + batch.row(i) * batch.L;
            T* dg = b.dGl + l * S;
            bad |= rows::energy_row(sv, x[l], dg, b.resl + l * NR);
            for (int32_t s = 0; s < S; ++s) O::set_lane(b.dG[s], l, dg[s]);
        }
        return bad;
    }

    // Chunk [i0, i1): loss (and gradient, into the chunk's zeroed partial g [P]).
    template <bool GRAD>
    unsigned loss_chunk(const SeqBatch& batch, const Targets& tg, const double* weights, const double* theta,
                        int64_t i0, int64_t i1, unsigned char* block, double* g, double* nll_rows,
                        double* nll_out) const {
        Buf b = carve(block);
        if (GRAD) {
            for (int32_t j = 0; j < GA; ++j) b.gacc[j] = O::splat(T(0));
            for (int32_t j = 0; j < MA; ++j) b.macc[j] = O::splat(T(0));
        }
        LaneAcc<R> gacc{b.gacc}, macc{b.macc};
        const uint8_t* x[V];
        unsigned bad = 0;
        double total = 0.0;
        for (int64_t i = i0; i < i1; i += V) {
            const int nv = static_cast<int>(std::min<int64_t>(V, i1 - i));
            bad |= sites_forward(batch, i, nv, x, b);
            R wgt = O::splat(T(0));
            for (int l = 0; l < V; ++l) {
                const int64_t pos = i + std::min(l, nv - 1);
                const int64_t row = batch.row(pos);
                const int64_t at = tg.by_position ? pos : row;
                for (int32_t c = 0; c < NT; ++c) O::set_lane(b.y[c], l, static_cast<T>(tg.at(at, c)));
                if (l < nv) O::set_lane(wgt, l, weights ? static_cast<T>(weights[row]) : T(1));
            }
            const R phi = GP::forward(gv, b.dG, b.gs, false);
            R dphi = O::splat(T(0));
            R nll = MS::template row<GRAD>(mv, phi, b.y, wgt, b.ms, macc, &dphi);
            const auto finite = (phi - phi) == T(0);  // a non-finite phi poisons the loss, never silently
            nll = O::select(finite, nll, O::splat(T(NAN)));
            for (int l = 0; l < nv; ++l) {
                const double v = static_cast<double>(O::lane(nll, l));
                total += v;
                if (nll_rows) nll_rows[i + l] = v;
            }
            if (GRAD) {
                dphi = O::select(finite, dphi, O::splat(T(NAN)));
                GP::vjp(gv, b.gs, phi, dphi, b.ddG, gacc);
                for (int l = 0; l < nv; ++l) {
                    T* dd = b.ddGl + l * S;
                    for (int32_t s = 0; s < S; ++s) dd[s] = O::lane(b.ddG[s], l);
                    rows::energy_vjp_row(sv, x[l], dd, b.resl + l * NR,
                                         [g](int64_t k, T v) { g[k] += static_cast<double>(v); });
                }
            }
        }
        if (GRAD) {
            for (int32_t j = 0; j < GA; ++j) b.sums[j] = static_cast<double>(O::hsum(b.gacc[j]));
            for (int32_t j = 0; j < MA; ++j) b.sums[GA + j] = static_cast<double>(O::hsum(b.macc[j]));
            GP::flush(*plan.model, theta, b.sums, g);
            MS::flush(*plan.model, theta, b.sums + GA, g);
        }
        *nll_out = total;
        return bad;
    }

    unsigned phi_chunk(const SeqBatch& batch, int64_t i0, int64_t i1, unsigned char* block, const PhiOut& out) const {
        Buf b = carve(block);
        const uint8_t* x[V];
        unsigned bad = 0;
        const bool details = out.dG || out.state_logp || out.logZ || out.placements;
        const int32_t K = plan.model->n_states();
        R* lp = b.y;  // not used by phi: room for the K state log-probabilities (see phi_forward)
        for (int64_t i = i0; i < i1; i += V) {
            const int nv = static_cast<int>(std::min<int64_t>(V, i1 - i));
            bad |= sites_forward(batch, i, nv, x, b);
            const R phi = GP::forward(gv, b.dG, b.gs, details);
            for (int l = 0; l < nv; ++l) out.phi[i + l] = static_cast<double>(O::lane(phi, l));
            if (!details) continue;
            if (out.logZ) {
                const R lz = GP::logZ(gv, b.gs);
                for (int l = 0; l < nv; ++l) out.logZ[i + l] = static_cast<double>(O::lane(lz, l));
            }
            if (out.state_logp) {
                GP::state_logp(gv, b.gs, lp);
                for (int l = 0; l < nv; ++l)
                    for (int32_t k = 0; k < K; ++k) out.state_logp[(i + l) * K + k] = static_cast<double>(O::lane(lp[k], l));
            }
            for (int l = 0; l < nv; ++l) {
                if (out.dG)
                    for (int32_t s = 0; s < S; ++s) out.dG[(i + l) * S + s] = static_cast<double>(b.dGl[l * S + s]);
                if (out.placements)
                    for (int32_t r = 0; r < NR; ++r)
                        out.placements[(i + l) * NR + r] = static_cast<double>(b.resl[l * NR + r]);
            }
        }
        return bad;
    }
};

// Rows of the chunk partial-gradient buffers alive at once, bounded by memory.
int64_t block_chunks(int64_t P) {
    return std::max<int64_t>(1, std::min<int64_t>(512, (int64_t{8} << 20) / std::max<int64_t>(P, 1)));
}

template <class T, class GP, class MS>
double run_loss(const Plan<T>& plan, const typename MS::View& mv, const SeqBatch& batch, const Targets& tg,
                const double* weights, const double* theta, const Exec& exec, double* grad, double* nll_rows) {
    const Model& m = *plan.model;
    const int64_t P = m.n_params;
    const int64_t CR = plan.chunk_rows;
    const int64_t n_chunks = (batch.b + CR - 1) / CR;
    const int64_t block = block_chunks(P);
    const int nt = threads_for(exec, std::min(n_chunks, block));
    const Work<T, GP, MS> work(plan, mv);
    Arena arena(work.bytes(), nt);
    std::vector<double> partial;
    std::vector<double> nll_part(static_cast<size_t>(std::max<int64_t>(1, std::min(n_chunks, block))), 0.0);
    if (grad) {
        partial.resize(static_cast<size_t>(std::min(n_chunks, block) * P));
        std::fill(grad, grad + P, 0.0);
    }
    double total = 0.0;
    unsigned bad = 0;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += block) {
        const int64_t nb = std::min(block, n_chunks - c0);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
        for (int64_t cb = 0; cb < nb; ++cb) {
            const int64_t i0 = (c0 + cb) * CR, i1 = std::min(batch.b, i0 + CR);
            double* gp = grad ? partial.data() + cb * P : nullptr;
            unsigned char* blk = arena.at(thread_id());
            if (gp) {
                std::fill(gp, gp + P, 0.0);
                bad |= work.template loss_chunk<true>(batch, tg, weights, theta, i0, i1, blk, gp, nll_rows,
                                                      &nll_part[static_cast<size_t>(cb)]);
            } else {
                bad |= work.template loss_chunk<false>(batch, tg, weights, theta, i0, i1, blk, nullptr, nll_rows,
                                                       &nll_part[static_cast<size_t>(cb)]);
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
                for (int64_t cb = 0; cb < nb; ++cb) {
                    const double* p = partial.data() + cb * P;
                    for (int64_t j = j0; j < j1; ++j) grad[j] += p[j];
                }
            }
        }
    }
    if (bad) report_bad_code(m, batch);
    return total;
}

template <class T, class GP>
double with_measurement(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                        const double* theta, const Exec& exec, double* grad, double* nll_rows) {
    switch (plan.model->meas.kind) {
        case MeasKind::SortSeq:
            return run_loss<T, GP, stages::MpaStage<T>>(plan, plan.mpa, batch, tg, weights, theta, exec, grad, nll_rows);
        case MeasKind::GE:
            return run_loss<T, GP, stages::GeStage<T>>(plan, plan.ge, batch, tg, weights, theta, exec, grad, nll_rows);
    }
    throw InputError("measurement: unknown kind");
}

template <class T, class GP>
void run_phi(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out) {
    const int64_t CR = plan.chunk_rows;
    const int64_t n_chunks = (batch.b + CR - 1) / CR;
    const int nt = threads_for(exec, n_chunks);
    const typename stages::CotangentStage<T>::View cv{};
    Work<T, GP, stages::CotangentStage<T>> work(plan, cv);
    // room for the state log-probabilities in the target slots (phi_chunk reuses them)
    const int32_t K = plan.model->n_states();
    work.NT = std::max(work.NT, K);
    Arena arena(work.bytes(), nt);
    unsigned bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
    for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t i0 = c * CR, i1 = std::min(batch.b, i0 + CR);
        bad |= work.phi_chunk(batch, i0, i1, arena.at(thread_id()), out);
    }
    if (bad) report_bad_code(*plan.model, batch);
}

}  // namespace

template <class T>
void phi_forward(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out) {
    if (plan.model->gp == GPKind::Network)
        run_phi<T, stages::NetStage<T>>(plan, batch, exec, out);
    else
        run_phi<T, stages::KinStage<T>>(plan, batch, exec, out);
}

template <class T>
double loss_and_grad(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                     const double* theta, const Exec& exec, double* grad, double* nll_rows) {
    if (plan.model->gp == GPKind::Network)
        return with_measurement<T, stages::NetStage<T>>(plan, batch, tg, weights, theta, exec, grad, nll_rows);
    return with_measurement<T, stages::KinStage<T>>(plan, batch, tg, weights, theta, exec, grad, nll_rows);
}

template <class T>
void phi_vjp(const Plan<T>& plan, const SeqBatch& batch, const double* cot, const double* theta, const Exec& exec,
             double* grad) {
    Targets tg;
    tg.f64 = cot;
    tg.cols = 1;
    tg.by_position = true;
    const typename stages::CotangentStage<T>::View cv{};
    if (plan.model->gp == GPKind::Network)
        run_loss<T, stages::NetStage<T>, stages::CotangentStage<T>>(plan, cv, batch, tg, nullptr, theta, exec, grad,
                                                                    nullptr);
    else
        run_loss<T, stages::KinStage<T>, stages::CotangentStage<T>>(plan, cv, batch, tg, nullptr, theta, exec, grad,
                                                                    nullptr);
}

#define CISREG_INSTANTIATE(T)                                                                                     \
    template void phi_forward<T>(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&);                   \
    template double loss_and_grad<T>(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, \
                                     const Exec&, double*, double*);                                             \
    template void phi_vjp<T>(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*);
CISREG_INSTANTIATE(float)
CISREG_INSTANTIATE(double)
#undef CISREG_INSTANTIATE

int lanes(Precision p) {
    return p == Precision::F32 ? Ops<lane_t<float>>::V : Ops<lane_t<double>>::V;
}

}  // namespace cisreg::CISREG_CPU_NS
