// Layer 1, one row at a time: the binding free energy of every site (see cisreg/model.hpp,
// Site) and its vector-Jacobian product. Table lookups do not vectorise across rows, so
// these run per row on every back end; the CPU driver calls them once per SIMD lane.
#pragma once
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// Code of motif position l (of w) on `strand` at placement x (the motif's first sequence
// position). Codes >= A set `bad` and read as 0, so that memory outside theta is never
// touched; the caller reports them.
template <class T>
CISREG_HD unsigned motif_code(const SitesView<T>& v, const uint8_t* x, int32_t l, int32_t w, int32_t strand,
                              unsigned& bad) {
    const unsigned A = static_cast<unsigned>(v.A);
    unsigned c = strand == 0 ? x[l] : x[w - 1 - l];
    bad |= static_cast<unsigned>(c >= A);
    c = c < A ? c : 0u;
    return strand == 0 ? c : v.comp[c];
}

// Energy of one placement of site s (without eps or bias): sum of its matrix entries and
// pair terms.
template <class T>
CISREG_HD T placement_energy(const SitesView<T>& v, const Site& s, const uint8_t* x, int32_t strand, unsigned& bad) {
    const int32_t A = v.A, w = s.width;
    const T* E = v.th + s.e_offset;
    T acc[4] = {T(0), T(0), T(0), T(0)};  // independent partial sums: lookups are cheap, one chain is not
    if (strand == 0 && A == 4) {           // the common case: valid iff < 4, and c & 3 stays in bounds
        unsigned b = 0;
        int32_t l = 0;
        for (; l + 4 <= w; l += 4)
            for (int32_t q = 0; q < 4; ++q) {
                const unsigned c = x[l + q];
                b |= c;
                acc[q] += E[4 * (l + q) + static_cast<int32_t>(c & 3u)];
            }
        for (; l < w; ++l) {
            const unsigned c = x[l];
            b |= c;
            acc[0] += E[4 * l + static_cast<int32_t>(c & 3u)];
        }
        bad |= static_cast<unsigned>(b > 3u);
    } else {
        for (int32_t l = 0; l < w; ++l)
            acc[l & 3] += E[l * A + static_cast<int32_t>(motif_code(v, x, l, w, strand, bad))];
    }
    if (s.n_pairs > 0) {
        const T* P = v.th + s.pair_offset;
        for (int32_t q = 0; q < s.n_pairs; ++q) {
            const int32_t i = v.pair_i[s.pair_begin + q], j = v.pair_j[s.pair_begin + q];
            const unsigned ci = motif_code(v, x, i, w, strand, bad), cj = motif_code(v, x, j, w, strand, bad);
            acc[q & 3] += P[(static_cast<int64_t>(q) * A + ci) * A + cj];
        }
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// dG [S] of one row x [L]; resid [n_resid] receives the weights of the placements of
// sliding sites (their posterior probabilities: they sum to 1 per site). Returns nonzero
// if a code outside the alphabet was read.
template <class T>
CISREG_HD unsigned energy_row(const SitesView<T>& v, const uint8_t* x, T* dG, T* resid) {
    unsigned bad = 0;
    for (int32_t si = 0; si < v.S; ++si) {
        const Site& s = v.site[si];
        const T eps = v.th[s.eps_offset];
        if (!s.sliding()) {
            dG[si] = eps + placement_energy(v, s, x + s.start, 0, bad);
            continue;
        }
        // dG = eps - log sum_c exp(-e_c): each configuration's -e_c in resid, then max-shifted
        T* r = resid + s.resid_begin;
        const T* bias = s.bias_offset >= 0 ? v.th + s.bias_offset : nullptr;
        T m = T(-1e30);
        for (int32_t st = 0; st < s.strands; ++st)
            for (int32_t p = 0; p < s.n_place; ++p) {
                const int32_t c = st * s.n_place + p;
                T e = placement_energy(v, s, x + s.start + p, st, bad);
                if (bias) e += bias[c];
                r[c] = -e;
                m = r[c] > m ? r[c] : m;
            }
        T z = T(0);
        const int32_t nc = s.n_configs();
        for (int32_t c = 0; c < nc; ++c) {
            r[c] = math::exp(r[c] - m);
            z += r[c];
        }
        const T iz = T(1) / z;
        for (int32_t c = 0; c < nc; ++c) r[c] *= iz;
        dG[si] = eps - (m + math::log(z));
    }
    return bad;
}

// Accumulate the gradient of sum_s ddG[s] dG_s into `add(theta index, value)` for one row
// x, given the row's resid from energy_row. Codes are read as in the forward pass.
template <class T, class Add>
CISREG_HD void energy_vjp_row(const SitesView<T>& v, const uint8_t* x, const T* ddG, const T* resid, Add&& add) {
    unsigned bad = 0;
    const int32_t A = v.A;
    for (int32_t si = 0; si < v.S; ++si) {
        const Site& s = v.site[si];
        const T g = ddG[si];
        if (g == T(0)) continue;
        add(s.eps_offset, g);
        const int32_t w = s.width;
        const int32_t nc = s.n_configs();
        for (int32_t c = 0; c < nc; ++c) {
            const int32_t st = c / s.n_place, p = c - st * s.n_place;
            const T gc = s.sliding() ? g * resid[s.resid_begin + c] : g;
            if (gc == T(0)) continue;
            const uint8_t* xp = x + s.start + p;
            if (st == 0 && A == 4) {
                for (int32_t l = 0; l < w; ++l) add(s.e_offset + 4 * l + (xp[l] & 3u), gc);
            } else {
                for (int32_t l = 0; l < w; ++l)
                    add(s.e_offset + static_cast<int64_t>(l) * A + motif_code(v, xp, l, w, st, bad), gc);
            }
            for (int32_t q = 0; q < s.n_pairs; ++q) {
                const int32_t i = v.pair_i[s.pair_begin + q], j = v.pair_j[s.pair_begin + q];
                const unsigned ci = motif_code(v, xp, i, w, st, bad), cj = motif_code(v, xp, j, w, st, bad);
                add(s.pair_offset + (static_cast<int64_t>(q) * A + ci) * A + cj, gc);
            }
            if (s.bias_offset >= 0) add(s.bias_offset + c, gc);
        }
    }
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
