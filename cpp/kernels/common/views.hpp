// Plain-data views of a model's stages, in the compute type T, as the kernels see them.
// Built once per call by the host-side plan (src/plan.hpp) from a Model and theta: every
// per-call constant (theta in T, node constants, the packed measurement parameters) is
// evaluated there. Pointers refer to host or device memory; no std::vector, no owner.
#pragma once
#include <cstdint>

#include "cisreg/model.hpp"

namespace cisreg {

template <class T>
struct SitesView {
    int32_t A = 4;        // alphabet size
    int32_t S = 0;        // sites
    int32_t n_resid = 0;  // per-row placement weights (sliding sites)
    const Site* site = nullptr;    // [S]
    const int32_t* pair_i = nullptr;
    const int32_t* pair_j = nullptr;
    const uint8_t* comp = nullptr;  // [A] or null
    const T* th = nullptr;          // theta in T [P]
};

template <class T>
struct NetView {
    int32_t nn = 0, S = 0, K = 0;
    bool flux = false;  // some node has state -1
    const int32_t* a_ptr = nullptr;  // [nn + 1]
    const int32_t* a_site = nullptr;
    const T* a_coef = nullptr;
    const T* B = nullptr;      // [nn] b_n evaluated for this theta
    const T* alpha = nullptr;  // [nn] activities for this theta
    const int32_t* state = nullptr;  // [nn]
    T tsat = T(1);
};

template <class T>
struct KinView {
    int32_t n = 0, E = 0, S = 0, n_flux = 0;
    const int32_t* src = nullptr;  // [E]
    const int32_t* dst = nullptr;
    const T* kappa = nullptr;      // [E] log-rate constants for this theta
    const int32_t* e_ptr = nullptr;  // [E + 1]
    const int32_t* e_site = nullptr;
    const T* e_coef = nullptr;
    const T* occ = nullptr;          // [n] occupancy activities for this theta
    const int32_t* flux = nullptr;   // [n_flux]
    T tsat = T(1);
};

// Sort-seq (MPA). Hidden unit j = y * K + k. cs, ds: kTanhScale c, kTanhScale d (tanh_scaled
// takes pre-scaled arguments); bc = b c.
template <class T>
struct MpaView {
    int32_t Y = 0, K = 0;
    const T* a = nullptr;   // [Y]
    const T* cs = nullptr;  // [Y K]
    const T* ds = nullptr;
    const T* b = nullptr;
    const T* bc = nullptr;
};

template <class T>
struct GeView {
    int32_t K = 0;
    Noise noise = Noise::Gaussian;
    T a = T(0), log_sigma = T(0), inv_var = T(1);
    const T* cs = nullptr;  // [K]
    const T* ds = nullptr;
    const T* b = nullptr;
    const T* bc = nullptr;
};

}  // namespace cisreg
