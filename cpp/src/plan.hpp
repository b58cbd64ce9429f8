// The host-side plan of one call: a Model and a theta turned into plain views in the
// compute type T (kernels/common/views.hpp). Everything that does not depend on the
// sequence is evaluated here once: theta in T, the node constants of layers 2-4, the
// rates' constants, the packed measurement parameters. Back ends run kernels on the
// views (a CUDA back end copies the arrays to the device and re-points them). The G-P map's
// and the measurement's parameters are packed by the stages themselves (stages.hpp), with
// the same code the CUDA back end runs on the device.
#pragma once
#include <cstdint>
#include <vector>

#include "cisreg/model.hpp"
#include "kernels/common/views.hpp"

namespace cisreg {

template <class T>
struct Plan : StageViews<T> {
    const Model* model = nullptr;
    std::vector<T> th;  // theta in T
    // layer 1: every (site, strand) as forward-scan tables (see SitesView)
    std::vector<T> site_tab, site_ptab;
    std::vector<int32_t> row0, pair0, pair_oi, pair_oj, bias_slot0;
    std::vector<int64_t> row_theta, ptab_theta;
    std::vector<int64_t> slot_theta;  // theta index of each lane-accumulated gradient slot
    // G-P map: its fixed structure in T (one of the two, after model->gp) and its packed
    // parameters (the stage's pack_item, kernels/common/stages.hpp)
    std::vector<T> net_a_coef, kin_e_coef;
    std::vector<T> gp_buf;
    // measurement: its packed parameters
    std::vector<T> meas_buf;
    // the flush maps of the two stages, evaluated for this theta (slots count from the
    // start of the stage's accumulators)
    std::vector<FlushTerm> flush_gp, flush_meas;

    Plan(const Model& m, const double* theta);
    Plan(const Plan&) = delete;
    Plan& operator=(const Plan&) = delete;
};

extern template struct Plan<float>;
extern template struct Plan<double>;

}  // namespace cisreg
