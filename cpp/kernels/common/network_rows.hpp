// Layers 2-4 of a network of nodes (cisreg/model.hpp, Network) for any lane type R
// (kernels/common/lanes.hpp): the forward pass, the state log-probabilities and the VJP.
#pragma once
#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// Forward pass of one row (or V rows): h [nn] receives the node log-weights, w [nn] the
// weights exp(h_n - logZ) (the state probabilities, and the flux terms of kinetic models);
// returns phi. logZ (optional) receives log Z. No exp of an unbounded argument for state
// nodes (h_n - max <= 0).
template <class R, class T>
CISREG_HD R net_forward(const NetView<T>& v, const R* dG, R* h, R* w, R* logZ) {
    using O = Ops<R>;
    const int32_t nn = v.nn;
    R hmax = O::splat(T(-1e30));
    for (int32_t n = 0; n < nn; ++n) {
        R x = O::splat(v.B[n]);
        for (int32_t j = v.a_ptr[n]; j < v.a_ptr[n + 1]; ++j) x = x - dG[v.a_site[j]] * v.a_coef[j];
        h[n] = x;
        if (v.state[n] >= 0) hmax = O::max(hmax, x);
    }
    R z = O::splat(T(0));
    for (int32_t n = 0; n < nn; ++n)
        if (v.state[n] >= 0) {
            w[n] = math::exp(h[n] - hmax);
            z = z + w[n];
        }
    const R iz = O::div(O::splat(T(1)), z);
    R lz = O::splat(T(0));
    if (v.flux || logZ) lz = hmax + math::log(z);
    if (logZ) *logZ = lz;
    R num = O::splat(T(0));
    for (int32_t n = 0; n < nn; ++n) {
        w[n] = v.state[n] >= 0 ? w[n] * iz : math::exp(h[n] - lz);
        num = num + w[n] * v.alpha[n];
    }
    return num * v.tsat;
}

// Log-probability of each state [K] given the node log-weights h and logZ.
template <class R, class T>
CISREG_HD void net_state_logp(const NetView<T>& v, const R* h, R logZ, R* out) {
    using O = Ops<R>;
    for (int32_t k = 0; k < v.K; ++k) {
        R m = O::splat(T(-1e30));
        for (int32_t n = 0; n < v.nn; ++n)
            if (v.state[n] == k) m = O::max(m, h[n]);
        R s = O::splat(T(0));
        for (int32_t n = 0; n < v.nn; ++n)
            if (v.state[n] == k) s = s + math::exp(h[n] - m);
        out[k] = m + math::log(s) - logZ;
    }
}

// Accumulator slots of the network VJP (summed over rows, mapped onto theta by the
// stage's flush): [0, nn) d loss / d h_n (-> b parameters), [nn, 2 nn) dphi w_n
// (-> activities), 2 nn: dphi phi / t_sat (-> t_sat).
template <class T>
CISREG_HD int32_t net_acc_size(const NetView<T>& v) {
    return 2 * v.nn + 1;
}

// Backward through layers 4..2 given dphi and the forward's w and phi: writes ddG [S] and
// adds to the accumulator slots.
template <class R, class T, class Acc>
CISREG_HD void net_vjp(const NetView<T>& v, const R* w, R phi, R dphi, R* ddG, Acc& acc) {
    using O = Ops<R>;
    for (int32_t s = 0; s < v.S; ++s) ddG[s] = O::splat(T(0));
    const int32_t nn = v.nn;
    R num = O::splat(T(0));
    for (int32_t n = 0; n < nn; ++n) {
        const R wn = w[n];
        num = num + wn * v.alpha[n];
        R dh = wn * (v.tsat * v.alpha[n]);
        if (v.state[n] >= 0) dh = dh - phi * wn;
        dh = dh * dphi;
        acc.add(n, dh);
        acc.add(nn + n, dphi * wn);
        for (int32_t j = v.a_ptr[n]; j < v.a_ptr[n + 1]; ++j) ddG[v.a_site[j]] = ddG[v.a_site[j]] - dh * v.a_coef[j];
    }
    acc.add(2 * nn, dphi * num);
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
