// The plan of the CUDA back end, evaluated where theta lives.
//
// On the CPU, src/plan.cpp turns (Model, theta) into plain views once per call. A fit that
// keeps theta on the device cannot run that host code for every minibatch, so the CUDA back
// end keeps a "plan image" in device memory: one buffer holding the views (DevViews), every
// array they point to, and a Recipe that says how each theta-dependent entry derives from
// theta. refresh_item / refresh_scalars re-evaluate those entries from a device theta (one
// small kernel per step) by running the stages' own packing code (kernels/common/stages.hpp,
// the code the CPU plan runs); flush_grad maps the reduced accumulator sums onto theta's
// gradient through the stages' flush entries, kept as a fixed sparse map whose coefficients
// the refresh evaluates.
//
// kernels/cuda/image.cpp builds the image and checks (in every build, with or without CUDA)
// that refreshing it reproduces Plan<T>, and that its flush map reproduces the CPU plan's.
#pragma once
#include <math.h>

#include <cstdint>

#include "cisreg/model.hpp"
#include "kernels/common/coef.hpp"
#include "kernels/common/stages.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::cuda {

// The views of one model for compute type T, pointing into the image.
template <class T>
using DevViews = StageViews<T>;

// grad[j] = (scatter_off >= 0 ? S[scatter_off + j] : 0) + sum_{q in [ptr[j], ptr[j+1])} coef[cf[q]] S[slot[q]]
// over the reduced accumulator S; S[0] is the loss.
struct FlushMap {
    const int32_t* ptr = nullptr;   // [P + 1]
    const int32_t* slot = nullptr;  // [nnz]
    const int32_t* cf = nullptr;    // [nnz]
    int64_t scatter_off = -1;
    int32_t region_len = 0;  // length of one accumulator region (S)
};

// Accumulator region of one warp (and of the reduced sums): [0] the loss, then the slots of
// the site stage [SA], of the G-P map [GA], of the measurement [MA], then (only for tables
// too large for slots: alphabets > 32 letters, pair tables > 32 entries) P entries indexed
// by theta.
struct RegionLayout {
    int32_t site0 = 1, gp0 = 0, meas0 = 0, len = 0;
    int64_t scatter0 = -1;
};

template <class T>
struct Recipe {
    int64_t P = 0;
    GPKind gp = GPKind::Network;
    Measurement meas;
    // layer 1: table entry e is theta[src[e]], 0 where src[e] < 0 (padding)
    int64_t n_tab = 0, n_ptab = 0;
    const int64_t* tab_src = nullptr;
    const int64_t* ptab_src = nullptr;
    // the G-P map's parameters (the one of kind gp), as its stage reads them
    GpSrcs src;
    // the writable, theta-dependent arrays of the image
    T* th = nullptr;        // [P]
    T* tab = nullptr;       // [n_tab]
    T* ptab = nullptr;      // [n_ptab]
    T* gp_buf = nullptr;    // the G-P map's packed parameters (its stage's pack_item)
    T* meas_buf = nullptr;  // the measurement's packed parameters
    DevViews<T>* views = nullptr;
    // flush
    int32_t n_coef = 0;
    const CoefExpr* coef_expr = nullptr;  // [n_coef]
    double* coef = nullptr;               // [n_coef] evaluated by refresh
    FlushMap flush_meas, flush_cot;       // loss (measurement) / phi VJP (cotangent)

    // Items of refresh_item: theta, tables, pair tables, G-P map entries, measurement entries, coefficients.
    CISREG_HD int64_t n_gp_items() const {
        return stages::visit_gpmap<T>(gp, [&](auto st) { return decltype(st)::n_items(decltype(st)::of(src)); });
    }
    CISREG_HD int64_t n_meas_items() const {
        return stages::visit_measurement<T>(meas.kind, [&](auto st) { return decltype(st)::n_items(meas); });
    }
    CISREG_HD int64_t n_items() const { return P + n_tab + n_ptab + n_gp_items() + n_meas_items() + n_coef; }
};

// Item `idx` (in [0, r.n_items())) of the refresh: items are independent, so a kernel runs
// them in parallel (and the host in a loop).
template <class T>
CISREG_HD void refresh_item(const Recipe<T>& r, const double* theta, int64_t idx) {
    if (idx < r.P) {
        r.th[idx] = static_cast<T>(theta[idx]);
        return;
    }
    idx -= r.P;
    if (idx < r.n_tab) {
        const int64_t s = r.tab_src[idx];
        r.tab[idx] = s >= 0 ? static_cast<T>(theta[s]) : T(0);
        return;
    }
    idx -= r.n_tab;
    if (idx < r.n_ptab) {
        const int64_t s = r.ptab_src[idx];
        r.ptab[idx] = s >= 0 ? static_cast<T>(theta[s]) : T(0);
        return;
    }
    idx -= r.n_ptab;
    const int64_t ngp = r.n_gp_items();
    if (idx < ngp) {
        stages::visit_gpmap<T>(r.gp, [&](auto st) {
            using S = decltype(st);
            S::pack_item(S::of(r.src), theta, r.gp_buf, idx);
        });
        return;
    }
    idx -= ngp;
    const int64_t nm = r.n_meas_items();
    if (idx < nm) {
        stages::visit_measurement<T>(r.meas.kind,
                                     [&](auto st) { decltype(st)::pack_item(r.meas, theta, r.meas_buf, idx); });
        return;
    }
    idx -= nm;
    if (idx < r.n_coef) r.coef[idx] = coef_value(r.coef_expr[idx], theta);
}

// The scalar fields of the views that depend on theta (one thread).
template <class T>
CISREG_HD void refresh_scalars(const Recipe<T>& r, const double* theta) {
    DevViews<T>& v = *r.views;
    stages::visit_gpmap<T>(r.gp, [&](auto st) {
        using S = decltype(st);
        S::pack_scalars(S::of(r.src), theta, S::of(v));
    });
    stages::visit_measurement<T>(r.meas.kind, [&](auto st) {
        using S = decltype(st);
        S::pack_scalars(r.meas, theta, S::of(v));
    });
}

// grad[j] from the reduced sums S (flush map f, coefficients refreshed for this theta).
CISREG_HD double flush_grad(const FlushMap& f, const double* coef, const double* S, int64_t j) {
    double g = f.scatter_off >= 0 ? S[f.scatter_off + j] : 0.0;
    for (int32_t q = f.ptr[j]; q < f.ptr[j + 1]; ++q) g += coef[f.cf[q]] * S[f.slot[q]];
    return g;
}

}  // namespace cisreg::cuda
