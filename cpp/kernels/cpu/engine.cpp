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
#include <memory>
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

// Aligned per-thread scratch: `stride` bytes per thread, each block 64-byte aligned.
// Memory kept between calls by the calling thread (a minibatch loop calls the kernels
// thousands of times; fresh allocations of this size would be fresh, zero-filled pages each
// time). Grow-only, not zeroed: every buffer carved from it is written before it is read.
struct Workspace {
    std::unique_ptr<unsigned char[]> mem;
    size_t cap = 0;
    unsigned char* get(size_t bytes) {
        if (bytes > cap) {
            mem.reset(new unsigned char[bytes]);
            cap = bytes;
        }
        return mem.get();
    }
};
constexpr size_t kKeepBytes = size_t{256} << 20;  // larger workspaces are not kept

// Aligned per-thread scratch: `stride` bytes per thread, each block 64-byte aligned.
struct Arena {
    size_t stride = 0;
    unsigned char* base = nullptr;
    std::unique_ptr<unsigned char[]> own;  // when the workspace is too large to keep
    Arena(size_t bytes, int nt, size_t extra, Workspace& ws) {
        stride = (bytes + 63) / 64 * 64;
        const size_t total = stride * static_cast<size_t>(nt) + extra + 128;
        unsigned char* p;
        if (total <= kKeepBytes) {
            p = ws.get(total);
        } else {
            own.reset(new unsigned char[total]);
            p = own.get();
        }
        const auto v = reinterpret_cast<uintptr_t>(p);
        base = p + ((64 - (v & 63u)) & 63u);
    }
    unsigned char* at(int tid) { return base + stride * static_cast<size_t>(tid); }
    // `extra` bytes after the threads' blocks (64-byte aligned)
    double* tail(int nt) { return reinterpret_cast<double*>(base + stride * static_cast<size_t>(nt)); }
};

Workspace& workspace() {
    thread_local Workspace ws;
    return ws;
}

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

// Whether every code of a row x [L] is below A: 16 bytes at a time (the last block
// overlapping), so that no scalar tail remains.
bool row_valid16(const uint8_t* x, int32_t L, int32_t A) {
    typedef uint8_t u8x16 __attribute__((vector_size(16)));
    typedef uint64_t u64x2 __attribute__((vector_size(16)));
    if (L < 16) return rows::row_valid(x, L, A);
    const uint8_t lim = static_cast<uint8_t>(A - 1);
    u8x16 bad = {};
    u8x16 v;
    for (int32_t p = 0; p + 16 <= L; p += 16) {
        std::memcpy(&v, x + p, 16);
        bad |= reinterpret_cast<u8x16>(v > lim);
    }
    std::memcpy(&v, x + L - 16, 16);
    bad |= reinterpret_cast<u8x16>(v > lim);
    const u64x2 b2 = reinterpret_cast<u64x2>(bad);
    return (b2[0] | b2[1]) == 0;
}

// Per-lane accumulator slots; large tables' gradients scatter into the chunk's partial.
template <class R>
struct LaneAcc {
    R* p;
    double* partial = nullptr;
    void add(int32_t i, R v) { p[i] = p[i] + v; }
    void scatter(int64_t base, typename Ops<R>::I idx, R v) {
        for (int l = 0; l < Ops<R>::V; ++l)
            partial[base + Ops<R>::ilane(idx, l)] += static_cast<double>(Ops<R>::lane(v, l));
    }
};

// Ask the cache for the codes and targets of batch positions [i0, i1) (minibatches pick rows
// all over the data set; the work on a tile hides the latency of the rows of later ones).
// The empty volatile asm keeps the compiler from taking this for a function without side
// effects, whose calls it would delete.
inline void prefetch_rows(const SeqBatch& batch, const Targets& tg, int64_t i0, int64_t i1) {
    asm volatile("");
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = batch.row(i);
        const char* c = reinterpret_cast<const char*>(batch.codes + r * batch.L);
        __builtin_prefetch(c);
        __builtin_prefetch(c + batch.L - 1);
        const int64_t at = tg.by_position ? i : r;
        const char* y = tg.f64 ? reinterpret_cast<const char*>(tg.f64 + at * tg.cols)
                               : reinterpret_cast<const char*>(tg.f32 + at * tg.cols);
        const int64_t ybytes = tg.cols * (tg.f64 ? 8 : 4);
        __builtin_prefetch(y);
        __builtin_prefetch(y + ybytes - 1);
    }
}

// What a chunk found wrong in its rows (checked while they are loaded).
constexpr unsigned kBadCodes = 1, kBadTargets = 2, kBadWeights = 4;

// Report the first bad input of the batch, with its row and column.
[[noreturn]] void report_bad_input(unsigned bad, const Model& m, const SeqBatch& batch, const Targets* tg,
                                   const double* weights) {
    if (bad & kBadCodes) check_codes(m.sites.alphabet_size, batch);
    if ((bad & kBadTargets) && tg) check_targets(m, batch, *tg);
    if (bad & kBadWeights) check_weights(batch, weights);
    throw InputError("codes, targets or weights: an invalid value was found");
}

// Blocks of V rows per tile of the backward passes (each gradient slot is read and written
// once per tile): 8 with 16 lanes, 4 otherwise (measured on x86-64-v3 and v4).
#ifdef CISREG_LANES_SCALAR
constexpr int kTile = 4;
#else
constexpr int kTile = simd::kBytes >= 64 ? 8 : 4;
#endif
static_assert(kTile <= rows::kMaxTile, "tile");

// Everything one thread needs for one tile of blocks, and the chunk's accumulators.
template <class T, class GP, class MS>
struct Work {
    using R = lane_t<T>;
    using O = Ops<R>;
    using I = typename O::I;
    using Us = typename O::Us;
    static constexpr int V = O::V;
    static constexpr int W = static_cast<int>(sizeof(Us));  // codes per packed word
    const Plan<T>& plan;
    const SitesView<T>& sv;
    const typename GP::View& gv;
    const typename MS::View& mv;
    int32_t L, S, NR, G, M, NT, SA, GA, MA, NW;
    Work(const Plan<T>& p, const typename MS::View& m)
        : plan(p),
          sv(p.sites),
          gv(GP::view(p)),
          mv(m),
          L(p.sites.L),
          S(p.sites.S),
          NR(p.sites.n_resid),
          G(GP::scratch(GP::view(p))),
          M(MS::scratch(m)),
          NT(MS::n_targets(m)),
          SA(p.sites.n_slots),
          GA(GP::acc_size(GP::view(p))),
          MA(MS::acc_size(m)),
          NW((p.sites.L + W - 1) / W) {}
    size_t bytes() const {
        return kTile * (bytes_of<I>(L) + bytes_of<R>(S) * 2 + bytes_of<R>(NR) + bytes_of<R>(G) + bytes_of<R>(M) +
                        bytes_of<R>(NT)) +
               bytes_of<Us>(int64_t{NW} * V) + bytes_of<R>(SA) + bytes_of<R>(GA) + bytes_of<R>(MA) +
               bytes_of<double>(SA + GA + MA);
    }
    struct Buf {
        I* ct[kTile];
        R *dG[kTile], *ddG[kTile], *res[kTile], *gs[kTile], *ms[kTile], *y[kTile];
        Us* words;
        R *sacc, *gacc, *macc;
        double* sums;
    };
    Buf carve(unsigned char* block) const {
        Carver c{block};
        Buf b;
        for (int t = 0; t < kTile; ++t) {
            b.ct[t] = c.take<I>(L);
            b.dG[t] = c.take<R>(S);
            b.ddG[t] = c.take<R>(S);
            b.res[t] = c.take<R>(NR);
            b.gs[t] = c.take<R>(G);
            b.ms[t] = c.take<R>(M);
            b.y[t] = c.take<R>(NT);
        }
        b.words = c.take<Us>(int64_t{NW} * V);
        b.sacc = c.take<R>(SA);
        b.gacc = c.take<R>(GA);
        b.macc = c.take<R>(MA);
        b.sums = c.take<double>(SA + GA + MA);
        return b;
    }

    // The codes of block rows (lane l: batch position i0 + min(l, nv - 1)) by position:
    // each lane's row packed into words of W codes, then unpacked across lanes. Returns
    // false if a code is outside the alphabet (then the block must not be evaluated). For
    // power-of-two alphabets the check is folded into the packing (a mask of the words'
    // high bits); otherwise each row is scanned.
    bool load_codes(const SeqBatch& batch, int64_t i0, int nv, Buf& b, I* ct) const {
        Us* wd = b.words;
        const int32_t Lr = L, nw = NW, full = L / W;
        const bool pow2 = (sv.A & (sv.A - 1)) == 0;
        Us hi = 0;  // bits that no valid code sets, in every byte of a word (power-of-two alphabets)
        if (pow2)
            for (int k = 0; k < W; ++k) hi |= static_cast<Us>(static_cast<Us>(~(sv.A - 1)) & Us(0xFF)) << (8 * k);
        Us bad = 0;
        bool ok = true;
        for (int l = 0; l < V; ++l) {
            const uint8_t* x = batch.codes + batch.row(i0 + std::min(l, nv - 1)) * batch.L;
            if (!pow2) ok &= row_valid16(x, Lr, sv.A);
            Us* w = wd + l;
            for (int32_t g = 0; g < full; ++g) {
                Us v;
                std::memcpy(&v, x + g * W, W);
                bad |= v & hi;
                w[g * V] = v;
            }
            if (full < nw) {  // the last, partial word: an overlapping load shifted down
                Us last = 0;
                const int32_t rem = Lr - full * W;
                if (Lr >= W) {
                    std::memcpy(&last, x + Lr - W, W);
                    last >>= 8 * (W - rem);
                } else {
                    std::memcpy(&last, x, static_cast<size_t>(rem));
                }
                bad |= last & hi;
                w[full * V] = last;
            }
        }
        for (int32_t g = 0; g < nw; ++g) {
            typename O::U wv;
            std::memcpy(&wv, wd + g * V, sizeof wv);
            const int32_t p0 = g * W;
            if (p0 + W <= Lr) {
                for (int q = 0; q < W; ++q) ct[p0 + q] = O::to_int((wv >> (8 * q)) & Us(0xFF));
            } else {
                for (int q = 0; p0 + q < Lr; ++q) ct[p0 + q] = O::to_int((wv >> (8 * q)) & Us(0xFF));
            }
        }
        return ok && bad == 0;
    }

    void zero(R* a, int32_t n) const {
        for (int32_t j = 0; j < n; ++j) a[j] = O::splat(T(0));
    }
    // Lane sums of the chunk's accumulators, mapped onto the partial gradient g.
    void flush(const Buf& b, double* g) const {
        for (int32_t j = 0; j < SA; ++j) b.sums[j] = static_cast<double>(O::hsum(b.sacc[j]));
        for (int32_t j = 0; j < GA; ++j) b.sums[SA + j] = static_cast<double>(O::hsum(b.gacc[j]));
        for (int32_t j = 0; j < MA; ++j) b.sums[SA + GA + j] = static_cast<double>(O::hsum(b.macc[j]));
        stages::SiteStage<T>::flush(plan, b.sums, g);
        GP::flush(plan, b.sums + SA, g);
        MS::flush(plan, b.sums + SA + GA, g);
    }

    // Chunk [i0, i1): loss (and gradient, into the chunk's zeroed partial g [P]).
    template <bool GRAD>
    unsigned loss_chunk(const SeqBatch& batch, const Targets& tg, const double* weights, int64_t i0, int64_t i1,
                        unsigned char* block, double* g, double* nll_rows, double* nll_out) const {
        *nll_out = 0.0;
        Buf b = carve(block);
        if (GRAD) {
            zero(b.sacc, SA);
            zero(b.gacc, GA);
            zero(b.macc, MA);
        }
        LaneAcc<R> sacc{b.sacc, g}, gacc{b.gacc, g}, macc{b.macc, g};
        // target columns >= nonneg_from must be >= 0 (counts; the measurement error dy of GE)
        const int32_t nonneg_from = tg.by_position ? NT : plan.model->meas.first_nonnegative();
        // and columns < positive_to must be > 0 (input counts without a pseudocount)
        const int32_t positive_to = tg.by_position ? 0 : static_cast<int32_t>(plan.model->meas.positive_cols());
        double total = 0.0;
        constexpr int64_t TR = int64_t{V} * kTile;
        if (i0 == 0) prefetch_rows(batch, tg, 0, std::min(batch.b, 2 * TR));
        for (int64_t i = i0; i < i1; i += TR) {
            const int nb = static_cast<int>((std::min(TR, i1 - i) + V - 1) / V);

            R phi[kTile], dphi[kTile];
            for (int t = 0; t < nb; ++t) {
                const int64_t ib = i + int64_t{t} * V;
                const int nv = static_cast<int>(std::min<int64_t>(V, i1 - ib));
                // this block's rows two tiles ahead (into the next chunk too: a thread's chunks
                // are consecutive), spread over the tile rather than in one burst
                prefetch_rows(batch, tg, std::min(batch.b, ib + 2 * TR), std::min(batch.b, ib + 2 * TR + V));
                if (!load_codes(batch, ib, nv, b, b.ct[t])) return kBadCodes;
                R wgt = O::splat(T(0));
                bool ok_t = true, ok_w = true;
                for (int l = 0; l < V; ++l) {
                    const int64_t pos = ib + std::min(l, nv - 1);
                    const int64_t row = batch.row(pos);
                    const int64_t at = tg.by_position ? pos : row;
                    for (int32_t c = 0; c < NT; ++c) {
                        const double v = tg.at(at, c);
                        ok_t &= std::isfinite(v) && (c < nonneg_from || v >= 0.0) && (c >= positive_to || v > 0.0);
                        O::set_lane(b.y[t][c], l, static_cast<T>(v));
                    }
                    if (l < nv && weights) {
                        ok_w &= std::isfinite(weights[row]) && weights[row] >= 0.0;
                        O::set_lane(wgt, l, static_cast<T>(weights[row]));
                    } else if (l < nv) {
                        O::set_lane(wgt, l, T(1));
                    }
                }
                if (!ok_t) return kBadTargets;
                if (!ok_w) return kBadWeights;
                rows::sites_forward(sv, b.ct[t], b.dG[t], b.res[t]);
                phi[t] = GP::forward(gv, b.dG[t], b.gs[t], false);
                R nll = MS::template forward<GRAD>(mv, phi[t], b.y[t], wgt, b.ms[t]);
                const auto finite = (phi[t] - phi[t]) == T(0);  // a non-finite phi poisons the loss, never silently
                nll = O::select(finite, nll, O::splat(T(NAN)));
                for (int l = 0; l < nv; ++l) {
                    const double v = static_cast<double>(O::lane(nll, l));
                    total += v;
                    if (nll_rows) nll_rows[ib + l] = v;
                }
            }
            if (GRAD) {
                if (nb == kTile)
                    MS::template backward<kTile>(mv, nb, phi, b.ms, macc, dphi);
                else
                    MS::template backward<0>(mv, nb, phi, b.ms, macc, dphi);
                for (int t = 0; t < nb; ++t) {
                    const auto finite = (phi[t] - phi[t]) == T(0);
                    dphi[t] = O::select(finite, dphi[t], O::splat(T(NAN)));
                    GP::vjp(gv, b.gs[t], phi[t], dphi[t], b.ddG[t], gacc);
                }
                if (nb == kTile && sv.A == 4)
                    rows::sites_vjp<kTile, 4>(sv, nb, b.ct, b.ddG, b.res, sacc);
                else
                    rows::sites_vjp(sv, nb, b.ct, b.ddG, b.res, sacc);
            }
        }
        if (GRAD) flush(b, g);
        *nll_out = total;
        return 0;
    }

    unsigned phi_chunk(const SeqBatch& batch, int64_t i0, int64_t i1, unsigned char* block, const PhiOut& out) const {
        Buf b = carve(block);
        const bool details = out.dG || out.state_logp || out.logZ || out.placements;
        const int32_t K = plan.model->n_states();
        R* lp = b.y[0];  // room for the K state log-probabilities (see run_phi)
        for (int64_t i = i0; i < i1; i += V) {
            const int nv = static_cast<int>(std::min<int64_t>(V, i1 - i));
            if (!load_codes(batch, i, nv, b, b.ct[0])) return kBadCodes;
            rows::sites_forward(sv, b.ct[0], b.dG[0], b.res[0]);
            const R phi = GP::forward(gv, b.dG[0], b.gs[0], details);
            for (int l = 0; l < nv; ++l) out.phi[i + l] = static_cast<double>(O::lane(phi, l));
            if (!details) continue;
            if (out.logZ) {
                const R lz = GP::logZ(gv, b.gs[0]);
                for (int l = 0; l < nv; ++l) out.logZ[i + l] = static_cast<double>(O::lane(lz, l));
            }
            if (out.state_logp) {
                GP::state_logp(gv, b.gs[0], lp);
                for (int l = 0; l < nv; ++l)
                    for (int32_t k = 0; k < K; ++k)
                        out.state_logp[(i + l) * K + k] = static_cast<double>(O::lane(lp[k], l));
            }
            for (int l = 0; l < nv; ++l) {
                if (out.dG)
                    for (int32_t s = 0; s < S; ++s)
                        out.dG[(i + l) * S + s] = static_cast<double>(O::lane(b.dG[0][s], l));
                if (out.placements)
                    for (int32_t r = 0; r < NR; ++r)
                        out.placements[(i + l) * NR + r] = static_cast<double>(O::lane(b.res[0][r], l));
            }
        }
        return 0;
    }
};

// Rows of the chunk partial-gradient buffers alive at once, bounded by memory.
int64_t block_chunks(int64_t P) {
    return std::max<int64_t>(1, std::min<int64_t>(512, (int64_t{8} << 20) / std::max<int64_t>(P, 1)));
}

template <class T, class GP, class MS>
double run_loss(const Plan<T>& plan, const typename MS::View& mv, const SeqBatch& batch, const Targets& tg,
                const double* weights, const Exec& exec, double* grad, double* nll_rows) {
    const Model& m = *plan.model;
    const int64_t P = m.n_params;
    const int64_t CR = chunk_rows(*plan.model, batch.b);
    const int64_t n_chunks = (batch.b + CR - 1) / CR;
    const int64_t block = block_chunks(P);
    const int nt = threads_for_work(exec, std::min(n_chunks, block), batch.b * row_work(m));
    const Work<T, GP, MS> work(plan, mv);
    const int64_t n_part = grad ? std::min(n_chunks, block) * P : 0;
    Arena arena(work.bytes(), nt, sizeof(double) * static_cast<size_t>(n_part), workspace());
    double* partial = arena.tail(nt);
    std::vector<double> nll_part(static_cast<size_t>(std::max<int64_t>(1, std::min(n_chunks, block))), 0.0);
    if (grad) std::fill(grad, grad + P, 0.0);
    double total = 0.0;
    unsigned bad = 0;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += block) {
        const int64_t nb = std::min(block, n_chunks - c0);
        // dynamic: a chunk that a descheduled thread has not started is taken by another
        // (each chunk has its own partial, summed below in chunk order: bit-identical)
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(| : bad) if (nt > 1)
        for (int64_t cb = 0; cb < nb; ++cb) {
            const int64_t i0 = (c0 + cb) * CR, i1 = std::min(batch.b, i0 + CR);
            double* gp = grad ? partial + cb * P : nullptr;
            unsigned char* blk = arena.at(thread_id());
            if (gp) {
                std::fill(gp, gp + P, 0.0);
                bad |= work.template loss_chunk<true>(batch, tg, weights, i0, i1, blk, gp, nll_rows,
                                                      &nll_part[static_cast<size_t>(cb)]);
            } else {
                bad |= work.template loss_chunk<false>(batch, tg, weights, i0, i1, blk, nullptr, nll_rows,
                                                       &nll_part[static_cast<size_t>(cb)]);
            }
        }
        for (int64_t cb = 0; cb < nb; ++cb) total += nll_part[static_cast<size_t>(cb)];
        if (grad) {
            // grad[j] += partial[cb][j] in chunk order for every j: split over j (never over
            // chunks), so the sums are the same for any number of threads
            constexpr int64_t kSlice = 512;
            const int64_t n_slices = (P + kSlice - 1) / kSlice;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1 && n_slices > 1)
            for (int64_t sl = 0; sl < n_slices; ++sl) {
                const int64_t j0 = sl * kSlice, j1 = std::min(P, j0 + kSlice);
                for (int64_t cb = 0; cb < nb; ++cb) {
                    const double* p = partial + cb * P;
                    for (int64_t j = j0; j < j1; ++j) grad[j] += p[j];
                }
            }
        }
    }
    if (bad) report_bad_input(bad, m, batch, &tg, weights);
    return total;
}

template <class T, class GP>
double with_measurement(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                        const Exec& exec, double* grad, double* nll_rows) {
    return stages::visit_measurement<T>(plan.model->meas.kind, [&](auto stage) {
        using MS = decltype(stage);
        return run_loss<T, GP, MS>(plan, MS::view(plan), batch, tg, weights, exec, grad, nll_rows);
    });
}

template <class T, class GP>
void run_phi(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out) {
    const int64_t CR = chunk_rows(*plan.model, batch.b);
    const int64_t n_chunks = (batch.b + CR - 1) / CR;
    const int nt = threads_for_work(exec, n_chunks, batch.b * row_work(*plan.model));
    const typename stages::CotangentStage<T>::View cv{};
    Work<T, GP, stages::CotangentStage<T>> work(plan, cv);
    // room for the state log-probabilities in the target slots (phi_chunk reuses them)
    const int32_t K = plan.model->n_states();
    work.NT = std::max(work.NT, K);
    Arena arena(work.bytes(), nt, 0, workspace());
    unsigned bad = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(| : bad) if (nt > 1)
    for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t i0 = c * CR, i1 = std::min(batch.b, i0 + CR);
        bad |= work.phi_chunk(batch, i0, i1, arena.at(thread_id()), out);
    }
    if (bad) report_bad_input(bad, *plan.model, batch, nullptr, nullptr);
}

}  // namespace

template <class T>
void phi_forward(const Plan<T>& plan, const SeqBatch& batch, const Exec& exec, const PhiOut& out) {
    stages::visit_gpmap<T>(plan.model->gp, [&](auto gp) { run_phi<T, decltype(gp)>(plan, batch, exec, out); });
}

template <class T>
double loss_and_grad(const Plan<T>& plan, const SeqBatch& batch, const Targets& tg, const double* weights,
                     const double* /*theta, in the plan*/, const Exec& exec, double* grad, double* nll_rows) {
    return stages::visit_gpmap<T>(plan.model->gp, [&](auto gp) {
        return with_measurement<T, decltype(gp)>(plan, batch, tg, weights, exec, grad, nll_rows);
    });
}

template <class T>
void phi_vjp(const Plan<T>& plan, const SeqBatch& batch, const double* cot, const double* /*theta*/, const Exec& exec,
             double* grad) {
    Targets tg;
    tg.f64 = cot;
    tg.cols = 1;
    tg.by_position = true;
    using CS = stages::CotangentStage<T>;
    stages::visit_gpmap<T>(plan.model->gp, [&](auto gp) {
        run_loss<T, decltype(gp), CS>(plan, CS::view(plan), batch, tg, nullptr, exec, grad, nullptr);
    });
}

#define CISREG_INSTANTIATE(T)                                                                                       \
    template void phi_forward<T>(const Plan<T>&, const SeqBatch&, const Exec&, const PhiOut&);                      \
    template double loss_and_grad<T>(const Plan<T>&, const SeqBatch&, const Targets&, const double*, const double*, \
                                     const Exec&, double*, double*);                                                \
    template void phi_vjp<T>(const Plan<T>&, const SeqBatch&, const double*, const double*, const Exec&, double*);
CISREG_INSTANTIATE(float)
CISREG_INSTANTIATE(double)
#undef CISREG_INSTANTIATE

// The measurement process alone, V rows at a time (the rows of kernels/common/measure_rows.hpp
// on lanes), blocks of rows spread over the threads: log p(y | phi) [b, Y] (sort-seq), g(phi)
// [b] (GE), or the log of the expected output per input read at the mean depth [b] (counts).
void measurement_rows(const Plan<double>& plan, const double* phi, int64_t b, double* out, const Exec& exec) {
    stages::visit_measurement<double>(plan.model->meas.kind, [&](auto stage) {
        using MS = decltype(stage);
        using R = lane_t<double>;
        using O = Ops<R>;
        constexpr int V = O::V;
        const typename MS::View& mv = MS::view(plan);
        const int32_t Y = MS::out_cols(mv);
        constexpr int64_t kBlock = 4096;
        const int64_t n_blocks = (b + kBlock - 1) / kBlock;
        const int nt = threads_for_work(exec, n_blocks, b * MS::out_work(mv));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            std::vector<R> buf(static_cast<size_t>(Y + MS::out_scratch(mv)));
            R* lp = buf.data();
            const int64_t i1 = std::min(b, (blk + 1) * kBlock);
            for (int64_t i = blk * kBlock; i < i1; i += V) {
                const int nv = static_cast<int>(std::min<int64_t>(V, i1 - i));
                R ph = O::splat(phi[i]);
                for (int l = 0; l < V; ++l) O::set_lane(ph, l, phi[i + std::min(l, nv - 1)]);
                MS::out_row(mv, ph, lp, lp + Y);
                for (int l = 0; l < nv; ++l)
                    for (int32_t y = 0; y < Y; ++y) out[(i + l) * Y + y] = O::lane(lp[y], l);
            }
        }
    });
}

int lanes(Precision p) { return p == Precision::F32 ? Ops<lane_t<float>>::V : Ops<lane_t<double>>::V; }

}  // namespace cisreg::CISREG_CPU_NS
