// The plan of the CUDA back end, evaluated where theta lives.
//
// On the CPU, src/plan.cpp turns (Model, theta) into plain views once per call. A fit that
// keeps theta on the device cannot run that host code for every minibatch, so the CUDA back
// end keeps a "plan image" in device memory: one buffer holding the views (DevViews), every
// array they point to, and a Recipe that says how each theta-dependent entry derives from
// theta. refresh_item / refresh_scalars re-evaluate those entries from a device theta (one
// small kernel per step); flush_grad maps the reduced accumulator sums onto theta's gradient
// (the stages' flush functions, kernels/common/stages.hpp, as a fixed sparse map).
//
// Everything here is plain data and CISREG_HD code, so the same functions run on the host:
// kernels/cuda/image.cpp builds the image and checks (in every build, with or without
// CUDA) that refreshing it reproduces Plan<T> and that the flush map reproduces the
// stages' flush functions. The formulas below mirror src/plan.cpp and the flush functions of
// stages.hpp; that check is what keeps them in step.
#pragma once
#include <math.h>

#include <cstdint>

#include "cisreg/model.hpp"
#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::cuda {

// The views of one model for compute type T, pointing into the image.
template <class T>
struct DevViews {
    SitesView<T> sites;
    NetView<T> net;
    KinView<T> kin;
    MpaView<T> mpa;
    GeView<T> ge;
    CountsView<T> cnt;
};

// Coefficients of the flush map that depend on theta (evaluated by refresh into Recipe::coef).
enum class Coef : int32_t {
    Const = 0,    // c
    Theta = 1,    // theta[i]
    Exp = 2,      // exp(theta[i])
    Exp2 = 3,     // exp(theta[i]) exp(theta[k])
    SkewA = 4,    // skew-t a = exp(theta[i]) (with b = exp(theta[k]))
    SkewADa = 5,  // a d log_norm / d a
    SkewB = 6,    // b
    SkewBDb = 7,  // b d log_norm / d b
};
struct CoefExpr {
    Coef kind = Coef::Const;
    int32_t pad = 0;
    int64_t i = -1, k = -1;
    double c = 0.0;
};

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
    // network (cisreg/model.hpp, Network)
    int32_t nn = 0;
    const double* b_const = nullptr;
    const int32_t* b_ptr = nullptr;
    const int64_t* b_param = nullptr;
    const double* b_coef = nullptr;
    const double* act_const = nullptr;
    const int64_t* act_param = nullptr;
    // kinetic graph (KineticNet)
    int32_t ks = 0, E = 0;
    const int64_t* kappa_param = nullptr;
    const double* kappa_const = nullptr;
    const double* occ_const = nullptr;
    const int64_t* occ_param = nullptr;
    int64_t tsat_param = -1;  // of the G-P map in use
    double tsat_const = 1.0;
    // the writable, theta-dependent arrays of the image
    T* th = nullptr;         // [P]
    T* tab = nullptr;        // [n_tab]
    T* ptab = nullptr;       // [n_ptab]
    T* net_B = nullptr;      // [nn]
    T* net_alpha = nullptr;  // [nn]
    T* kin_kappa = nullptr;  // [E]
    T* kin_occ = nullptr;    // [ks]
    T* meas_buf = nullptr;   // the measurement's packed parameters (src/plan.cpp)
    DevViews<T>* views = nullptr;
    // flush
    int32_t n_coef = 0;
    const CoefExpr* coef_expr = nullptr;  // [n_coef]
    double* coef = nullptr;               // [n_coef] evaluated by refresh
    FlushMap flush_meas, flush_cot;       // loss (measurement) / phi VJP (cotangent)

    // Items of refresh_item: theta, tables, pair tables, G-P map entries, measurement entries, coefficients.
    CISREG_HD int64_t n_gp_items() const { return gp == GPKind::Network ? nn : (E > ks ? E : ks); }
    CISREG_HD int64_t n_meas_items() const {
        switch (meas.kind) {
            case MeasKind::SortSeq:
                return int64_t{meas.n_bins} + int64_t{meas.n_bins} * meas.hidden;
            case MeasKind::GE:
                return int64_t{meas.hidden} + meas.het;
            case MeasKind::Counts:
                return int64_t{meas.replicates} + meas.hidden;
        }
        return 0;
    }
    CISREG_HD int64_t n_items() const { return P + n_tab + n_ptab + n_gp_items() + n_meas_items() + n_coef; }
};

namespace detail {

// src/plan.cpp's digamma and skewt_consts, for host and device.
CISREG_HD double digamma(double x) {
    double r = 0.0;
    for (; x < 10.0; x += 1.0) r -= 1.0 / x;
    const double i2 = 1.0 / (x * x);
    return r + ::log(x) - 0.5 / x -
           i2 * (1.0 / 12 - i2 * (1.0 / 120 - i2 * (1.0 / 252 - i2 * (1.0 / 240 - i2 * (1.0 / 132)))));
}

struct SkewT {
    double a = 1, b = 1, log_norm = 0, dlog_norm_da = 0, dlog_norm_db = 0, mode = 0, dmode_da = 0, dmode_db = 0;
};
CISREG_HD SkewT skewt(double a, double b) {
    SkewT s;
    s.a = a;
    s.b = b;
    const double ab = a + b, D = (2 * a + 1) * (2 * b + 1), sab = ::sqrt(ab), iD = 1.0 / ::sqrt(D);
    s.log_norm = (ab - 1) * ::log(2.0) + ::lgamma(a) + ::lgamma(b) - ::lgamma(ab) + 0.5 * ::log(ab);
    s.dlog_norm_da = ::log(2.0) + digamma(a) - digamma(ab) + 0.5 / ab;
    s.dlog_norm_db = ::log(2.0) + digamma(b) - digamma(ab) + 0.5 / ab;
    const double h = sab * iD;
    s.mode = (a - b) * h;
    const double dh_da = iD * (0.5 / sab - sab * (2 * b + 1) / D);
    const double dh_db = iD * (0.5 / sab - sab * (2 * a + 1) / D);
    s.dmode_da = h + (a - b) * dh_da;
    s.dmode_db = -h + (a - b) * dh_db;
    return s;
}

// Entry m of the measurement's packed parameters (src/plan.cpp, the measurement part).
template <class T>
CISREG_HD void refresh_meas(const Recipe<T>& r, const double* theta, int64_t m) {
    const Measurement& ms = r.meas;
    const double* mp = theta + ms.offset;
    const T scale = math::kTanhPre<T>;
    T* buf = r.meas_buf;
    if (ms.kind == MeasKind::SortSeq) {
        const int32_t Y = ms.n_bins, K = ms.hidden, J = Y * K;
        if (m < Y) {
            buf[m] = static_cast<T>(mp[m]);
            return;
        }
        const int64_t j = m - Y;
        T* cs = buf + Y;
        T* ds = cs + J;
        T* b = ds + J;
        T* bc = b + J;
        const double* pb = mp + Y;
        const double* pc = pb + J;
        const double* pd = pc + J;
        cs[j] = scale * static_cast<T>(pc[j]);
        ds[j] = scale * static_cast<T>(pd[j]);
        b[j] = static_cast<T>(pb[j]);
        bc[j] = static_cast<T>(pb[j] * pc[j]);
    } else if (ms.kind == MeasKind::GE) {
        const int32_t K = ms.hidden;
        T* cs = buf;
        T* ds = cs + K;
        T* b = ds + K;
        T* bc = b + K;
        T* eta = bc + K;
        const double* pb = mp + 1;
        const double* pc = pb + K;
        const double* pd = pc + K;
        const double* noise = mp + 1 + 3 * K;
        if (m < K) {
            cs[m] = scale * static_cast<T>(pc[m]);
            ds[m] = scale * static_cast<T>(pd[m]);
            b[m] = static_cast<T>(pb[m]);
            bc[m] = static_cast<T>(pb[m] * pc[m]);
        } else {
            eta[m - K] = static_cast<T>(noise[1 + (m - K)]);
        }
    } else {
        const int32_t R = ms.replicates, K = ms.hidden;
        const bool nb = ms.noise == Noise::NegBin;
        T* depth = buf;
        T* inv = depth + R;
        T* irr = inv + R;
        T* logr = irr + R;
        T* c0 = logr + R;
        T* c1 = c0 + R;
        T* w = c1 + R;
        T* c = w + K;
        T* d = c + K;
        if (m < R) {
            depth[m] = static_cast<T>(mp[m]);
            if (nb) {
                const double rd = ::exp(-mp[R + m]);
                inv[m] = static_cast<T>(rd);
                irr[m] = static_cast<T>(1.0 / rd);
                logr[m] = static_cast<T>(-mp[R + m]);
                const bool large = static_cast<double>(inv[m]) >= kNbLarge;
                c0[m] = static_cast<T>(large ? math::lgamma_tail(rd) : ::lgamma(rd));
                c1[m] = static_cast<T>(large ? math::digamma_tail(rd) : digamma(rd));
            }
        } else if (ms.link == Link::Sigmoid) {
            const int64_t k = m - R;
            const double* lk = mp + R * (nb ? 2 : 1);
            w[k] = static_cast<T>(::exp(lk[1 + k]));
            c[k] = static_cast<T>(::exp(lk[1 + K + k]));
            d[k] = static_cast<T>(lk[1 + 2 * K + k]);
        }
    }
}

CISREG_HD double coef_value(const CoefExpr& e, const double* theta) {
    switch (e.kind) {
        case Coef::Const:
            return e.c;
        case Coef::Theta:
            return theta[e.i];
        case Coef::Exp:
            return ::exp(theta[e.i]);
        case Coef::Exp2:
            return ::exp(theta[e.i]) * ::exp(theta[e.k]);
        case Coef::SkewA:
        case Coef::SkewADa:
        case Coef::SkewB:
        case Coef::SkewBDb:
            break;
    }
    const SkewT st = skewt(::exp(theta[e.i]), ::exp(theta[e.k]));
    switch (e.kind) {
        case Coef::SkewA:
            return st.a;
        case Coef::SkewADa:
            return st.a * st.dlog_norm_da;
        case Coef::SkewB:
            return st.b;
        case Coef::SkewBDb:
            return st.b * st.dlog_norm_db;
        case Coef::Const:
        case Coef::Theta:
        case Coef::Exp:
        case Coef::Exp2:
            break;
    }
    return 0.0;  // unreachable: every kind returned above
}

}  // namespace detail

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
        if (r.gp == GPKind::Network) {
            const int64_t n = idx;
            double b = r.b_const[n];
            for (int32_t j = r.b_ptr[n]; j < r.b_ptr[n + 1]; ++j) b += r.b_coef[j] * theta[r.b_param[j]];
            r.net_B[n] = static_cast<T>(b);
            double a = r.act_const[n];
            if (r.act_param[n] >= 0) a += theta[r.act_param[n]];
            r.net_alpha[n] = static_cast<T>(a);
        } else {
            if (idx < r.E)
                r.kin_kappa[idx] =
                    static_cast<T>(r.kappa_param[idx] >= 0 ? theta[r.kappa_param[idx]] : r.kappa_const[idx]);
            if (idx < r.ks) {
                double a = r.occ_const[idx];
                if (r.occ_param[idx] >= 0) a += theta[r.occ_param[idx]];
                r.kin_occ[idx] = static_cast<T>(a);
            }
        }
        return;
    }
    idx -= ngp;
    const int64_t nm = r.n_meas_items();
    if (idx < nm) {
        detail::refresh_meas(r, theta, idx);
        return;
    }
    idx -= nm;
    if (idx < r.n_coef) r.coef[idx] = detail::coef_value(r.coef_expr[idx], theta);
}

// The scalar fields of the views that depend on theta (one thread).
template <class T>
CISREG_HD void refresh_scalars(const Recipe<T>& r, const double* theta) {
    DevViews<T>& v = *r.views;
    const T tsat = static_cast<T>(r.tsat_param >= 0 ? theta[r.tsat_param] : r.tsat_const);
    if (r.gp == GPKind::Network)
        v.net.tsat = tsat;
    else
        v.kin.tsat = tsat;
    const Measurement& ms = r.meas;
    const double* mp = theta + ms.offset;
    if (ms.kind == MeasKind::GE) {
        const int32_t K = ms.hidden;
        const double* noise = mp + 1 + 3 * K;
        v.ge.a = static_cast<T>(mp[0]);
        v.ge.log_sigma = static_cast<T>(noise[0]);
        if (ms.noise == Noise::SkewT) {
            const detail::SkewT st = detail::skewt(::exp(noise[1 + ms.het]), ::exp(noise[2 + ms.het]));
            v.ge.sa = static_cast<T>(st.a);
            v.ge.sb = static_cast<T>(st.b);
            v.ge.log_norm = static_cast<T>(st.log_norm);
            v.ge.mode = static_cast<T>(st.mode);
            v.ge.dmode_da = static_cast<T>(st.dmode_da);
            v.ge.dmode_db = static_cast<T>(st.dmode_db);
        }
    } else if (ms.kind == MeasKind::Counts) {
        const double* lk = mp + ms.replicates * (ms.noise == Noise::NegBin ? 2 : 1);
        if (ms.link == Link::LogLinear)
            v.cnt.slope = static_cast<T>(::exp(lk[0]));
        else
            v.cnt.base = static_cast<T>(::exp(lk[0]));
    }
}

// grad[j] from the reduced sums S (flush map f, coefficients refreshed for this theta).
CISREG_HD double flush_grad(const FlushMap& f, const double* coef, const double* S, int64_t j) {
    double g = f.scatter_off >= 0 ? S[f.scatter_off + j] : 0.0;
    for (int32_t q = f.ptr[j]; q < f.ptr[j + 1]; ++q) g += coef[f.cf[q]] * S[f.slot[q]];
    return g;
}

}  // namespace cisreg::cuda
