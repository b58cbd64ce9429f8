// A kinetic graph solved per row (cisreg/model.hpp, KineticNet) for any lane type R: the
// steady state by the Grassmann-Taksar-Heyman reduction and its adjoint. Every lane runs
// the same sequence of operations (the graph is shared), so V rows vectorise.
#pragma once
#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// Scratch of one row (or V rows), in units of R.
template <class T>
CISREG_HD int32_t kin_scratch_size(const KinView<T>& v) {
    return 2 * v.E + v.n * v.n + 5 * v.n + 1;
}

template <class R>
struct KinScratch {
    R* ell;   // [E] log-rates
    R* dell;  // [E]
    R* M;     // [n n] rates, reduced in place; afterwards the censored chains' rates
    R* y;     // [n] exit rate of state k towards states < k in the censored chain
    R* pi;    // [n]
    R* g;     // [n]
    R* lam;   // [n]
    R* lmax;  // [1]
    R* tmp;   // [n]
    template <class T>
    CISREG_HD static KinScratch carve(const KinView<T>& v, R* p) {
        KinScratch s;
        s.ell = p;
        s.dell = s.ell + v.E;
        s.M = s.dell + v.E;
        s.y = s.M + v.n * v.n;
        s.pi = s.y + v.n;
        s.g = s.pi + v.n;
        s.lam = s.g + v.n;
        s.tmp = s.lam + v.n;
        s.lmax = s.tmp + v.n;
        return s;
    }
};

// Steady state and activity: s.pi receives pi; returns phi.
template <class R, class T>
CISREG_HD R kin_forward(const KinView<T>& v, const R* dG, KinScratch<R>& s) {
    using O = Ops<R>;
    const int32_t n = v.n, E = v.E;
    R lmax = O::splat(T(-1e30));
    for (int32_t e = 0; e < E; ++e) {
        R l = O::splat(v.kappa[e]);
        for (int32_t j = v.e_ptr[e]; j < v.e_ptr[e + 1]; ++j) l = l + dG[v.e_site[j]] * v.e_coef[j];
        s.ell[e] = l;
        lmax = O::max(lmax, l);
    }
    *s.lmax = lmax;
    // GTH on the rates scaled by the largest one. After the loop, M[k][j] (j < k) and
    // M[i][k] (i < k) hold the rates of the chain censored to states 0..k.
    R* M = s.M;
    for (int32_t i = 0; i < n * n; ++i) M[i] = O::splat(T(0));
    for (int32_t e = 0; e < E; ++e) {
        R& m = M[v.src[e] * n + v.dst[e]];
        m = m + math::exp(s.ell[e] - lmax);
    }
    for (int32_t k = n - 1; k >= 1; --k) {
        R S = O::splat(T(0));
        for (int32_t j = 0; j < k; ++j) S = S + M[k * n + j];
        s.y[k] = S;
        const R iS = O::div(O::splat(T(1)), S);
        for (int32_t i = 0; i < k; ++i) {
            const R f = M[i * n + k] * iS;
            for (int32_t j = 0; j < k; ++j)
                if (j != i) M[i * n + j] = M[i * n + j] + f * M[k * n + j];
        }
    }
    // back substitution: pi_0 = 1, pi_k = sum_{i<k} pi_i M[i][k] / S_k, then normalise
    R* pi = s.pi;
    pi[0] = O::splat(T(1));
    R Z = O::splat(T(1));
    for (int32_t k = 1; k < n; ++k) {
        R x = O::splat(T(0));
        for (int32_t i = 0; i < k; ++i) x = x + pi[i] * M[i * n + k];
        pi[k] = O::div(x, s.y[k]);
        Z = Z + pi[k];
    }
    const R iZ = O::div(O::splat(T(1)), Z);
    for (int32_t i = 0; i < n; ++i) pi[i] = pi[i] * iZ;
    R act = O::splat(T(0));
    if (v.n_flux == 0) {
        for (int32_t i = 0; i < n; ++i) act = act + pi[i] * v.occ[i];
    } else {
        for (int32_t f = 0; f < v.n_flux; ++f) {
            const int32_t e = v.flux[f];
            act = act + math::exp(s.ell[e]) * pi[v.src[e]];
        }
    }
    return act * v.tsat;
}

// log pi [n] (state log-probabilities), -inf for states of probability 0.
template <class R, class T>
CISREG_HD void kin_state_logp(const KinView<T>& v, const KinScratch<R>& s, R* out) {
    using O = Ops<R>;
    const T tiny = sizeof(T) == 4 ? T(1e-37) : T(1e-300);
    for (int32_t i = 0; i < v.n; ++i)
        out[i] = O::select(s.pi[i] > tiny, math::log(O::max(s.pi[i], O::splat(tiny))), O::splat(-T(INFINITY)));
}

// Accumulator slots: [0, E) d loss / d log k_e (-> kappa parameters), [E, E + n) dphi pi_i
// (-> occupancy activities), E + n: dphi phi / t_sat (-> t_sat).
template <class T>
CISREG_HD int32_t kin_acc_size(const KinView<T>& v) {
    return v.E + v.n + 1;
}

// Adjoint: ddG [S] (overwritten) and the accumulator slots, given dphi.
template <class R, class T, class Acc>
CISREG_HD void kin_vjp(const KinView<T>& v, KinScratch<R>& s, R dphi, R* ddG, Acc& acc) {
    using O = Ops<R>;
    const int32_t n = v.n, E = v.E;
    const R zero = O::splat(T(0));
    for (int32_t e = 0; e < E; ++e) s.dell[e] = zero;
    R* g = s.g;  // d loss / d pi_i, then the right-hand side of the Poisson equation
    for (int32_t i = 0; i < n; ++i) g[i] = zero;
    R act = zero;
    if (v.n_flux == 0) {
        for (int32_t i = 0; i < n; ++i) {
            g[i] = dphi * (v.tsat * v.occ[i]);
            act = act + s.pi[i] * v.occ[i];
            acc.add(E + i, dphi * s.pi[i]);
        }
    } else {
        for (int32_t f = 0; f < v.n_flux; ++f) {
            const int32_t e = v.flux[f], i = v.src[e];
            const R k = math::exp(s.ell[e]);
            const R fl = k * s.pi[i];  // k_e pi_i
            act = act + fl;
            s.dell[e] = s.dell[e] + dphi * v.tsat * fl;
            g[i] = g[i] + dphi * v.tsat * k;
        }
    }
    acc.add(E + n, dphi * act);
    // With pi Q = 0 and sum(pi) = 1: d loss = -sum_ij pi_i dQ_ij lam_j where Q lam = g - (g.pi) 1,
    // solved with the same reduction (rates of the censored chains).
    R gbar = zero;
    for (int32_t i = 0; i < n; ++i) gbar = gbar + g[i] * s.pi[i];
    for (int32_t i = 0; i < n; ++i) g[i] = g[i] - gbar;
    const R* M = s.M;
    for (int32_t k = n - 1; k >= 1; --k) {
        const R gk = O::div(g[k], s.y[k]);
        for (int32_t i = 0; i < k; ++i) g[i] = g[i] + M[i * n + k] * gk;
    }
    R* lam = s.lam;
    lam[0] = zero;  // lam is defined up to a constant; only differences enter
    for (int32_t k = 1; k < n; ++k) {
        R x = zero - g[k];
        for (int32_t j = 0; j < k; ++j) x = x + M[k * n + j] * lam[j];
        lam[k] = O::div(x, s.y[k]);
    }
    // d loss / d log k_e = k_e pi_i (lam_i - lam_j) for e: i -> j (rates scaled as in the forward)
    const R lmax = *s.lmax;
    for (int32_t e = 0; e < E; ++e) {
        const int32_t i = v.src[e], j = v.dst[e];
        s.dell[e] = s.dell[e] + math::exp(s.ell[e] - lmax) * s.pi[i] * (lam[i] - lam[j]);
    }
    for (int32_t si = 0; si < v.S; ++si) ddG[si] = zero;
    for (int32_t e = 0; e < E; ++e) {
        acc.add(e, s.dell[e]);
        for (int32_t j = v.e_ptr[e]; j < v.e_ptr[e + 1]; ++j)
            ddG[v.e_site[j]] = ddG[v.e_site[j]] + s.dell[e] * v.e_coef[j];
    }
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
