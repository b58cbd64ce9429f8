// The host-side plan of one call: a Model and a theta turned into plain views in the
// compute type T (kernels/common/views.hpp). Everything that does not depend on the
// sequence is evaluated here once: theta in T, the node constants of layers 2-4, the
// rates' constants, the packed measurement parameters. Back ends run kernels on the
// views (a CUDA back end copies the arrays to the device and re-points them).
#pragma once
#include <cstdint>
#include <vector>

#include "cisreg/model.hpp"
#include "kernels/common/views.hpp"

namespace cisreg {

// Per-call constants of the Jones-Faddy skew-t of shapes a, b (GE noise).
struct SkewTConsts {
    double a = 1, b = 1, log_norm = 0, dlog_norm_da = 0, dlog_norm_db = 0, mode = 0, dmode_da = 0, dmode_db = 0;
};
SkewTConsts skewt_consts(double a, double b);
double digamma(double x);

template <class T>
struct Plan {
    const Model* model = nullptr;
    std::vector<T> th;  // theta in T
    // layer 1: every (site, strand) as forward-scan tables (see SitesView)
    std::vector<T> site_tab, site_ptab;
    std::vector<int32_t> row0, pair0, pair_oi, pair_oj, bias_slot0;
    std::vector<int64_t> row_theta, ptab_theta;
    std::vector<int64_t> slot_theta;  // theta index of each lane-accumulated gradient slot
    SitesView<T> sites;
    // G-P map (one of the two is used, after model->gp)
    std::vector<T> net_a_coef, net_B, net_alpha;
    NetView<T> net;
    std::vector<T> kin_kappa, kin_e_coef, kin_occ;
    KinView<T> kin;
    // measurement
    std::vector<T> meas_buf;
    MpaView<T> mpa;
    GeView<T> ge;
    CountsView<T> cnt;

    Plan(const Model& m, const double* theta);
    Plan(const Plan&) = delete;
    Plan& operator=(const Plan&) = delete;
};

extern template struct Plan<float>;
extern template struct Plan<double>;

}  // namespace cisreg
