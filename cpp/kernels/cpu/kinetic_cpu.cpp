// CPU loops of the kinetic linear solver: the same chunked, deterministic reduction
// as the network kernels (see network_cpu.cpp), with the per-row solve and adjoint
// from kernels/common/kinetic_rows.hpp and the measurement rows from rows.hpp.
#include <algorithm>
#include <string>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/kinetic.hpp"
#include "cisreg/ops.hpp"
#include "kernels/common/kinetic_rows.hpp"
#include "kernels/common/rows.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cisreg {
namespace {

[[noreturn]] void bad_code(const KineticNet& k, const SeqBatch& batch) {
    check_codes(k.alphabet_size, batch);
    throw InputError("codes: a code outside the alphabet was found");
}

int tid() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

struct ThreadScratch {
    std::vector<double> d;
    std::vector<int32_t> i;
    int64_t sd = 0, si = 0;
    ThreadScratch(const KineticNet& k, int64_t extra, int nt)
        : sd(kinrows::Scratch::doubles(k) + extra), si(k.n_states + 1) {
        d.assign(static_cast<size_t>(sd * nt), 0.0);
        i.assign(static_cast<size_t>(si * nt), 0);
    }
    kinrows::Scratch carve(const KineticNet& k, int t) { return kinrows::Scratch::carve(k, d.data() + sd * t, i.data() + si * t); }
    double* extra(const KineticNet& k, int t) { return d.data() + sd * t + kinrows::Scratch::doubles(k); }
};

}  // namespace

void check_kinetic(const KineticNet& k) {
    auto fail = [](const std::string& m) { throw InputError("kinetic network: " + m); };
    const int64_t P = k.n_params;
    if (k.alphabet_size < 1 || k.alphabet_size > 255) fail("alphabet_size must be in [1, 255]");
    if (k.n_states < 2) fail("at least 2 states are required");
    for (size_t i = 0; i < k.sites.size(); ++i) {
        const Site& s = k.sites[i];
        if (s.width < 1 || s.start < 0 || static_cast<int64_t>(s.start) + s.width > k.length)
            fail("site " + std::to_string(i) + " lies outside the sequence");
        if (s.e_offset < 0 || s.e_offset > P || static_cast<int64_t>(s.width) * k.alphabet_size > P - s.e_offset ||
            s.eps_offset < 0 || s.eps_offset >= P)
            fail("site " + std::to_string(i) + " parameters lie outside theta");
    }
    const size_t E = k.edge_src.size();
    if (E == 0 || k.edge_dst.size() != E || k.edge_kappa_param.size() != E || k.edge_kappa_const.size() != E ||
        k.e_ptr.size() != E + 1)
        fail("edge arrays must all have one entry per edge (e_ptr one more)");
    if (k.e_ptr[0] != 0 || static_cast<size_t>(k.e_ptr[E]) != k.e_site.size() || k.e_coef.size() != k.e_site.size())
        fail("e_ptr does not match e_site / e_coef");
    std::vector<int> has_out(static_cast<size_t>(k.n_states), 0);
    for (size_t e = 0; e < E; ++e) {
        if (k.e_ptr[e + 1] < k.e_ptr[e]) fail("e_ptr must be non-decreasing");
        if (k.edge_src[e] < 0 || k.edge_src[e] >= k.n_states || k.edge_dst[e] < 0 || k.edge_dst[e] >= k.n_states ||
            k.edge_src[e] == k.edge_dst[e])
            fail("edge " + std::to_string(e) + " does not connect two different states");
        has_out[static_cast<size_t>(k.edge_src[e])] = 1;
        if (k.edge_kappa_param[e] < -1 || k.edge_kappa_param[e] >= P) fail("edge " + std::to_string(e) + " kappa index");
    }
    for (int32_t i = 0; i < k.n_states; ++i)
        if (!has_out[static_cast<size_t>(i)]) fail("state " + std::to_string(i) + " has no outgoing transition");
    for (int32_t s : k.e_site)
        if (s < 0 || static_cast<size_t>(s) >= k.sites.size()) fail("e_site refers to an unknown site");
    if (k.occ_const.size() != static_cast<size_t>(k.n_states) || k.occ_param.size() != static_cast<size_t>(k.n_states))
        fail("occupancy arrays need one entry per state");
    for (int64_t p : k.occ_param)
        if (p < -1 || p >= P) fail("occupancy parameter index outside theta");
    for (int32_t e : k.flux_edges)
        if (e < 0 || static_cast<size_t>(e) >= E) fail("flux edge index out of range");
    if (k.tsat_param < -1 || k.tsat_param >= P) fail("t_sat index outside theta");
}

void kinetic_phi(const KineticNet& k, const SeqBatch& batch, const double* theta, Exec exec, double* phi,
                 double* state_logp) {
    const int64_t n_chunks = (batch.b + kChunkRows - 1) / kChunkRows;
    const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(exec.n_threads, n_chunks)));
    ThreadScratch ts(k, 0, nt);
    unsigned bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
    for (int64_t c = 0; c < n_chunks; ++c) {
        kinrows::Scratch w = ts.carve(k, tid());
        const int64_t i1 = std::min(batch.b, (c + 1) * kChunkRows);
        for (int64_t i = c * kChunkRows; i < i1; ++i) {
            const kinrows::Row r = kinrows::forward(k, batch.codes + batch.row(i) * batch.L, theta, w, bad);
            phi[i] = r.phi;
            if (state_logp)
                for (int32_t s = 0; s < k.n_states; ++s) state_logp[i * k.n_states + s] = w.logpi[s];
        }
    }
    if (bad) bad_code(k, batch);
}

double kinetic_loss_and_grad(const KineticNet& k, const Measurement& meas, const SeqBatch& batch,
                             const double* targets, const double* theta, Exec exec, double* grad,
                             double* nll_rows) {
    const int64_t P = k.n_params, T = meas.n_targets();
    const int64_t n_chunks = (batch.b + kChunkRows - 1) / kChunkRows;
    // chunks per block: bounded so that the partial gradients stay under ~64 MB
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(512, (int64_t{8} << 20) / std::max<int64_t>(P, 1)));
    const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({static_cast<int64_t>(exec.n_threads), n_chunks, block})));
    const int64_t extra = T + 1 + static_cast<int64_t>(meas.n_bins) * std::max(meas.hidden, 1) + 8;
    ThreadScratch ts(k, extra, nt);
    std::vector<double> partial(grad ? static_cast<size_t>(std::min(n_chunks, block) * P) : 0);
    std::vector<double> nll_part(static_cast<size_t>(std::min(n_chunks, block)), 0.0);
    double total = 0.0;
    unsigned bad = 0;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += block) {
        const int64_t nb = std::min(block, n_chunks - c0);
        if (grad) std::fill(partial.begin(), partial.begin() + nb * P, 0.0);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
        for (int64_t cb = 0; cb < nb; ++cb) {
            const int t = tid();
            kinrows::Scratch w = ts.carve(k, t);
            double* u = ts.extra(k, t);
            double* tt = u + T + 1;
            double* g = grad ? partial.data() + cb * P : nullptr;
            double sum = 0.0;
            const int64_t i0 = (c0 + cb) * kChunkRows, i1 = std::min(batch.b, i0 + kChunkRows);
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t row = batch.row(i);
                const uint8_t* x = batch.codes + row * batch.L;
                const kinrows::Row r = kinrows::forward(k, x, theta, w, bad);
                const double* y = targets + row * T;
                double dphi = 0.0, nll = 0.0;
                switch (meas.kind) {
                    case MeasKind::Linear: nll = y[0] * r.phi; dphi = y[0]; break;
                    case MeasKind::SortSeq:
                        nll = g ? rows::mpa_row<true>(meas, theta, r.phi, y, tt, u, g, &dphi)
                                : rows::mpa_row<false>(meas, theta, r.phi, y, tt, u, nullptr, &dphi);
                        break;
                    case MeasKind::GEGaussian:
                    case MeasKind::GECauchy:
                        nll = g ? rows::ge_row<true>(meas, theta, r.phi, y[0], tt, g, &dphi)
                                : rows::ge_row<false>(meas, theta, r.phi, y[0], tt, nullptr, &dphi);
                        break;
                }
                sum += nll;
                if (nll_rows) nll_rows[i] = nll;
                if (g && dphi != 0.0) kinrows::backward(k, x, theta, w, r, dphi, g);
            }
            nll_part[static_cast<size_t>(cb)] = sum;
        }
        for (int64_t cb = 0; cb < nb; ++cb) {
            total += nll_part[static_cast<size_t>(cb)];
            if (grad) {
                const double* p = partial.data() + cb * P;
                for (int64_t j = 0; j < P; ++j) grad[j] += p[j];
            }
        }
    }
    if (bad) bad_code(k, batch);
    return total;
}

}  // namespace cisreg
