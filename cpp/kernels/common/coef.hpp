// Coefficients of the gradient flush maps, and the per-call constants they use, for host and
// device. A stage's gradient reaches theta through entries grad[j] += coef * S[slot], where S
// are the accumulator sums of its rows and coef is one of a few expressions of theta
// (stages.hpp, flush_entries). The CPU plan evaluates the coefficients once per call; the
// CUDA back end keeps the expressions in its plan image and evaluates them on the device.
#pragma once
#include <math.h>

#include <cstdint>

#include "kernels/common/lanes.hpp"

namespace cisreg {

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

// Per-call constants of the Jones-Faddy skew-t of shapes a, b (GE noise).
struct SkewTConsts {
    double a = 1, b = 1, log_norm = 0, dlog_norm_da = 0, dlog_norm_db = 0, mode = 0, dmode_da = 0, dmode_db = 0;
};

inline namespace CISREG_ISA_NS {

CISREG_HD CoefExpr coef_const(double c) {
    CoefExpr e;
    e.c = c;
    return e;
}
CISREG_HD CoefExpr coef_of(Coef kind, int64_t i, int64_t k = -1) {
    CoefExpr e;
    e.kind = kind;
    e.i = i;
    e.k = k;
    return e;
}

// digamma for the per-call constants (double; the rows use math::digamma on lanes).
CISREG_HD double digamma_f64(double x) {
    double r = 0.0;
    for (; x < 10.0; x += 1.0) r -= 1.0 / x;
    const double i2 = 1.0 / (x * x);
    return r + ::log(x) - 0.5 / x -
           i2 * (1.0 / 12 - i2 * (1.0 / 120 - i2 * (1.0 / 252 - i2 * (1.0 / 240 - i2 * (1.0 / 132)))));
}

CISREG_HD SkewTConsts skewt_consts(double a, double b) {
    SkewTConsts s;
    s.a = a;
    s.b = b;
    const double ab = a + b, D = (2 * a + 1) * (2 * b + 1), sab = ::sqrt(ab), iD = 1.0 / ::sqrt(D);
    // log of the normaliser 2^(a+b-1) B(a, b) sqrt(a+b) of the Jones-Faddy density
    s.log_norm = (ab - 1) * ::log(2.0) + ::lgamma(a) + ::lgamma(b) - ::lgamma(ab) + 0.5 * ::log(ab);
    s.dlog_norm_da = ::log(2.0) + digamma_f64(a) - digamma_f64(ab) + 0.5 / ab;
    s.dlog_norm_db = ::log(2.0) + digamma_f64(b) - digamma_f64(ab) + 0.5 / ab;
    // the mode of t: (a - b) sqrt(a + b) / sqrt((2a + 1)(2b + 1)), and its derivatives
    const double h = sab * iD;
    s.mode = (a - b) * h;
    const double dh_da = iD * (0.5 / sab - sab * (2 * b + 1) / D);
    const double dh_db = iD * (0.5 / sab - sab * (2 * a + 1) / D);
    s.dmode_da = h + (a - b) * dh_da;
    s.dmode_db = -h + (a - b) * dh_db;
    return s;
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
    const SkewTConsts st = skewt_consts(::exp(theta[e.i]), ::exp(theta[e.k]));
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

}  // namespace CISREG_ISA_NS
}  // namespace cisreg
