// Layer 1 for any lane type R: the binding free energy of every site (cisreg/model.hpp,
// Site) and its vector-Jacobian product. Rows read their codes through `ct`: ct[p] holds
// the code at sequence position p of every lane (Ops<R>::I). Small tables (DNA, RNA) are
// looked up by register shuffles and their gradients summed per lane by compare-and-select;
// large ones (proteins) by per-lane loads and per-lane scatter.
#pragma once
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// Site::n_configs() and Site::sliding() for device code too (cisreg/model.hpp is host-only).
CISREG_HD int32_t n_configs(const Site& s) { return s.n_place * s.strands; }
CISREG_HD bool sliding(const Site& s) { return n_configs(s) > 1; }

// Energy of one placement (the motif's first sequence position `pos`) of site s on strand
// st, without eps or bias: its table rows and pair terms.
template <class R, class T, class C>
CISREG_HD R placement_energy(const SitesView<T>& v, int32_t s, int32_t st, int32_t pos, const C* ct) {
    using O = Ops<R>;
    const Site& site = v.site[s];
    const int32_t w = site.width, A = v.A;
    const T* rows = v.tab + static_cast<int64_t>(v.row0[s] + st * w) * v.AS;
    R a0 = O::splat(T(0)), a1 = a0, a2 = a0, a3 = a0;  // four chains
    int32_t j = 0;
    for (; j + 4 <= w; j += 4) {
        a0 = a0 + O::lookup(rows + static_cast<int64_t>(j) * v.AS, ct[pos + j], A);
        a1 = a1 + O::lookup(rows + static_cast<int64_t>(j + 1) * v.AS, ct[pos + j + 1], A);
        a2 = a2 + O::lookup(rows + static_cast<int64_t>(j + 2) * v.AS, ct[pos + j + 2], A);
        a3 = a3 + O::lookup(rows + static_cast<int64_t>(j + 3) * v.AS, ct[pos + j + 3], A);
    }
    for (; j < w; ++j) a0 = a0 + O::lookup(rows + static_cast<int64_t>(j) * v.AS, ct[pos + j], A);
    if (site.n_pairs > 0) {
        const int32_t t0 = v.pair0[s] + st * site.n_pairs;
        for (int32_t q = 0; q < site.n_pairs; ++q) {
            const int32_t t = t0 + q;
            const C idx = ct[pos + v.pair_oi[t]] * A + ct[pos + v.pair_oj[t]];
            const R e = O::lookup(v.ptab + static_cast<int64_t>(t) * v.PS, idx, A * A);
            if (q & 1)
                a3 = a3 + e;
            else
                a2 = a2 + e;
        }
    }
    return (a0 + a1) + (a2 + a3);
}

// dG [S] of one row (or V rows); resid [n_resid] receives the weights of the placements of
// sliding sites (their posterior probabilities: they sum to 1 per site):
//   dG = eps - log sum_{strand, p} exp(-(e(strand, p) + bias[strand, p])).
template <class R, class T, class C>
CISREG_HD void sites_forward(const SitesView<T>& v, const C* ct, R* dG, R* resid) {
    using O = Ops<R>;
    for (int32_t s = 0; s < v.S; ++s) {
        const Site& site = v.site[s];
        const R eps = O::splat(v.th[site.eps_offset]);
        if (!sliding(site)) {
            dG[s] = eps + placement_energy<R>(v, s, 0, site.start, ct);
            continue;
        }
        R* r = resid + site.resid_begin;
        const T* bias = site.bias_offset >= 0 ? v.th + site.bias_offset : nullptr;
        R m = O::splat(T(-1e30));
        for (int32_t st = 0, c = 0; st < site.strands; ++st)
            for (int32_t p = 0; p < site.n_place; ++p, ++c) {
                R e = placement_energy<R>(v, s, st, site.start + p, ct);
                if (bias) e = e + bias[c];
                r[c] = O::splat(T(0)) - e;
                m = O::max(m, r[c]);
            }
        const int32_t nc = n_configs(site);
        R z = O::splat(T(0));
        for (int32_t c = 0; c < nc; ++c) {
            r[c] = math::exp(r[c] - m);
            z = z + r[c];
        }
        const R iz = O::div(O::splat(T(1)), z);
        for (int32_t c = 0; c < nc; ++c) r[c] = r[c] * iz;
        dG[s] = eps - (m + math::log(z));
    }
}

// Gradient of a table entry summed over the nb blocks of a tile: sum_b [code_b == a] g_b.
template <int NB, class R, class C>
CISREG_HD R select_sum(int nb_rt, const C* const* ct, int32_t pos, const R* g, int32_t a) {
    const int nb = NB > 0 ? NB : nb_rt;
    using O = Ops<R>;
    R sum = O::splat(scalar_of<R>(0));
    for (int b = 0; b < nb; ++b) sum = sum + O::select(ct[b][pos] == a, g[b], O::splat(scalar_of<R>(0)));
    return sum;
}

// Maximum blocks per tile of the backward passes.
constexpr int kMaxTile = 8;

// The VJP of a tile of nb blocks: block b has codes ct[b], site energies' cotangents
// ddG[b] [S] and placement weights resid[b]. Small tables' gradients go to the accumulator
// slots (acc.add(slot, lanes)), large ones through acc.scatter(theta index, codes, lanes).
// NB > 0 and AA > 0 fix nb and the alphabet size at compile time (the common cases).
template <int NB = 0, int AA = 0, class R, class T, class C, class Acc>
CISREG_HD void sites_vjp(const SitesView<T>& v, int nb_rt, const C* const* ct, const R* const* ddG,
                         const R* const* resid, Acc& acc) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;
    const int32_t A = AA > 0 ? AA : v.A;
    for (int32_t s = 0; s < v.S; ++s) {
        const Site& site = v.site[s];
        R eps = O::splat(T(0));
        for (int b = 0; b < nb; ++b) eps = eps + ddG[b][s];
        acc.add(v.eps_slot0 + s, eps);
        const int32_t w = site.width, nc = n_configs(site);
        const bool sl = sliding(site);
        R g[kMaxTile];
        if (sl && v.bias_slot0[s] >= 0)
            for (int32_t c = 0; c < nc; ++c) {
                R sum = O::splat(T(0));
                for (int b = 0; b < nb; ++b) sum = sum + ddG[b][s] * resid[b][site.resid_begin + c];
                acc.add(v.bias_slot0[s] + c, sum);
            }
        for (int32_t st = 0; st < site.strands; ++st) {
            for (int32_t j = 0; j < w; ++j) {
                const int32_t row = v.row0[s] + st * w + j;
                for (int32_t p = 0; p < site.n_place; ++p) {
                    const int32_t pos = site.start + p + j;
                    if (sl)
                        for (int b = 0; b < nb; ++b)
                            g[b] = ddG[b][s] * resid[b][site.resid_begin + st * site.n_place + p];
                    else
                        for (int b = 0; b < nb; ++b) g[b] = ddG[b][s];
                    if (v.small) {
                        for (int32_t a = 0; a < A; ++a) acc.add(row * A + a, select_sum<NB>(nb, ct, pos, g, a));
                    } else {
                        for (int b = 0; b < nb; ++b) acc.scatter(v.row_theta[row], ct[b][pos], g[b]);
                    }
                }
            }
            const int32_t t0 = v.pair0[s] + st * site.n_pairs;
            for (int32_t q = 0; q < site.n_pairs; ++q) {
                const int32_t t = t0 + q;
                for (int32_t p = 0; p < site.n_place; ++p) {
                    const int32_t pos = site.start + p;
                    C idx[kMaxTile];
                    for (int b = 0; b < nb; ++b) {
                        g[b] = sl ? ddG[b][s] * resid[b][site.resid_begin + st * site.n_place + p] : ddG[b][s];
                        idx[b] = ct[b][pos + v.pair_oi[t]] * A + ct[b][pos + v.pair_oj[t]];
                    }
                    if (v.pair_small) {
                        const int32_t slot0 = v.n_rows * A + t * A * A;
                        for (int32_t e = 0; e < A * A; ++e) {
                            R sum = O::splat(T(0));
                            for (int b = 0; b < nb; ++b) sum = sum + O::select(idx[b] == e, g[b], O::splat(T(0)));
                            acc.add(slot0 + e, sum);
                        }
                    } else {
                        for (int b = 0; b < nb; ++b) acc.scatter(v.ptab_theta[t], idx[b], g[b]);
                    }
                }
            }
        }
    }
}

// Whether every code of a row x [L] is below A. Drivers check each row before its codes are
// used (never a table lookup with a code outside the alphabet).
CISREG_HD bool row_valid(const uint8_t* x, int32_t L, int32_t A) {
    unsigned mx = 0;
    for (int32_t p = 0; p < L; ++p) mx = x[p] > mx ? x[p] : mx;
    return mx < static_cast<unsigned>(A);
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
