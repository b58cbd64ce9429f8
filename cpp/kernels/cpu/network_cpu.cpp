// CPU loops over rows. The math lives in kernels/common/rows.hpp; this file only
// splits the batch into fixed chunks, runs them on OpenMP threads and reduces the
// per-chunk results in chunk order (deterministic for any thread count).
#include <algorithm>
#include <cstring>
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
    for (int64_t i = 0; i < batch.b; ++i) {
        const int64_t r = batch.row(i);
        const uint8_t* x = batch.codes + r * batch.L;
        for (int64_t p = 0; p < batch.L; ++p) {
            if (x[p] >= net.alphabet_size) {
                throw InputError("codes: row " + std::to_string(r) + ", position " + std::to_string(p) +
                                 " holds code " + std::to_string(static_cast<int>(x[p])) +
                                 ", outside the alphabet (codes must be < " +
                                 std::to_string(net.alphabet_size) + "); encode sequences with cisreg.encode");
            }
        }
    }
    throw InputError("codes: a code outside the alphabet was found");
}

struct Scratch {
    std::vector<double> buf;
    int64_t stride = 0;
    double* at(int tid) { return buf.data() + stride * tid; }
};

// Forward of one chunk [i0, i1).
unsigned phi_chunk(const Network& net, const SeqBatch& batch, const double* theta, PhiOut out,
                   int64_t i0, int64_t i1, double* scr) {
    const int32_t S = net.n_sites();
    double* dG = scr;
    double* h = scr + S;
    unsigned bad = 0;
    for (int64_t i = i0; i < i1; ++i) {
        const uint8_t* x = batch.codes + batch.row(i) * batch.L;
        rows::site_energies(net, x, theta, dG, bad);
        const rows::NetRow r = rows::network_forward(net, dG, theta, h);
        out.phi[i] = r.phi;
        if (out.logZ) out.logZ[i] = r.logZ;
        if (out.dG) std::memcpy(out.dG + i * S, dG, sizeof(double) * static_cast<size_t>(S));
        if (out.state_logp) rows::state_logp(net, h, r.logZ, out.state_logp + i * net.n_states);
    }
    return bad;
}

// Loss (and gradient) of one chunk [i0, i1), gradient accumulated into g [P].
template <bool WITH_GRAD>
unsigned loss_chunk(const Network& net, const Measurement& meas, const SeqBatch& batch,
                    const double* targets, const double* theta, int64_t i0, int64_t i1, double* scr,
                    double* g, double* nll_rows, double* nll_out) {
    const int32_t S = net.n_sites();
    const int32_t NN = net.n_nodes();
    const int64_t T = meas.n_targets();
    double* dG = scr;
    double* h = dG + S;
    double* ddG = h + NN;
    double* u = ddG + S;
    double* t = u + std::max<int64_t>(T, 1);
    unsigned bad = 0;
    double nll_sum = 0.0;
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t row = batch.row(i);
        const uint8_t* x = batch.codes + row * batch.L;
        rows::site_energies(net, x, theta, dG, bad);
        const rows::NetRow r = rows::network_forward(net, dG, theta, h);
        const double* y = targets + row * T;
        double dphi = 0.0, nll = 0.0;
        switch (meas.kind) {
            case MeasKind::Linear:
                nll = y[0] * r.phi;
                dphi = y[0];
                break;
            case MeasKind::SortSeq:
                nll = rows::mpa_row<WITH_GRAD>(meas, theta, r.phi, y, t, u, g, &dphi);
                break;
            case MeasKind::GEGaussian:
            case MeasKind::GECauchy:
                nll = rows::ge_row<WITH_GRAD>(meas, theta, r.phi, y[0], t, g, &dphi);
                break;
        }
        nll_sum += nll;
        if (nll_rows) nll_rows[i] = nll;
        if (WITH_GRAD && dphi != 0.0) {
            rows::network_vjp(net, h, r, dphi, theta, ddG, g);
            rows::site_energies_vjp(net, x, ddG, g);
        }
    }
    *nll_out = nll_sum;
    return bad;
}

}  // namespace

void phi_forward(const Network& net, const SeqBatch& batch, const double* theta, Exec exec, PhiOut out) {
    const int64_t n_chunks = (batch.b + kChunkRows - 1) / kChunkRows;
    const int nt = threads_for(exec, n_chunks);
    Scratch scr;
    scr.stride = net.n_sites() + net.n_nodes() + 8;
    scr.buf.assign(static_cast<size_t>(scr.stride * nt), 0.0);
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
    // Chunks are processed in blocks so that partial buffers stay bounded in memory.
    const int64_t block = 512;
    const int nt = threads_for(exec, std::min(n_chunks, block));
    Scratch scr;
    scr.stride = 2 * net.n_sites() + net.n_nodes() + meas.n_targets() + 1 +
                 static_cast<int64_t>(meas.n_bins) * std::max(meas.hidden, 1) + 8;
    scr.buf.assign(static_cast<size_t>(scr.stride * nt), 0.0);
    std::vector<double> partial;
    std::vector<double> nll_part(static_cast<size_t>(std::min(n_chunks, block)), 0.0);
    if (grad) partial.resize(static_cast<size_t>(std::min(n_chunks, block) * P));
    double total = 0.0;
    unsigned bad = 0;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += block) {
        const int64_t nb = std::min(block, n_chunks - c0);
        if (grad) std::fill(partial.begin(), partial.begin() + nb * P, 0.0);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
        for (int64_t cb = 0; cb < nb; ++cb) {
#ifdef _OPENMP
            const int tid = omp_get_thread_num();
#else
            const int tid = 0;
#endif
            const int64_t i0 = (c0 + cb) * kChunkRows, i1 = std::min(batch.b, i0 + kChunkRows);
            double* nll_out = &nll_part[static_cast<size_t>(cb)];
            if (grad)
                bad |= loss_chunk<true>(net, meas, batch, targets, theta, i0, i1, scr.at(tid),
                                        partial.data() + cb * P, nll_rows, nll_out);
            else
                bad |= loss_chunk<false>(net, meas, batch, targets, theta, i0, i1, scr.at(tid),
                                         nullptr, nll_rows, nll_out);
        }
        for (int64_t cb = 0; cb < nb; ++cb) {
            total += nll_part[static_cast<size_t>(cb)];
            if (grad) {
                const double* p = partial.data() + cb * P;
                for (int64_t j = 0; j < P; ++j) grad[j] += p[j];
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
