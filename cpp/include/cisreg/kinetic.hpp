// Kinetic models solved per sequence by a linear solve (the alternative to compiling
// the King-Altman spanning trees into a Network, for graphs with too many trees).
//
// Transition e: src -> dst with log-rate  l_e = kappa_e + sum_s c_es dG_s,
// kappa_e = theta[kappa_param] (or kappa_const). The steady state pi (pi Q = 0,
// sum pi = 1) comes from the Grassmann-Taksar-Heyman state reduction, which only adds
// and divides non-negative numbers and so keeps full relative accuracy for rates
// spanning any range. Activity: phi = t_sat * sum_i a_i pi_i (occupancy) or
// t_sat * sum_{e in flux} k_e pi_src(e). The gradient is the adjoint: with
// Q lam = g - (g.pi) 1 (g = d loss / d pi, solved with the same reduction),
// d loss / d log k_e = k_e pi_i (lam_i - lam_j) for e: i -> j (kinetic_rows.hpp).
#pragma once
#include <cstdint>
#include <vector>

#include "cisreg/network.hpp"
#include "cisreg/view.hpp"

namespace cisreg {

struct KineticNet {
    int32_t alphabet_size = 4;
    int32_t length = 0;
    int64_t n_params = 0;
    std::vector<Site> sites;
    int32_t n_states = 0;
    std::vector<int32_t> edge_src, edge_dst;      // [E]
    std::vector<int64_t> edge_kappa_param;        // [E], -1 = fixed
    std::vector<double> edge_kappa_const;         // [E]
    std::vector<int32_t> e_ptr;                   // [E + 1] CSR of (site, coefficient)
    std::vector<int32_t> e_site;
    std::vector<double> e_coef;
    std::vector<double> occ_const;                // [n_states]
    std::vector<int64_t> occ_param;               // [n_states], -1 = fixed
    std::vector<int32_t> flux_edges;              // empty: occupancy activity
    int64_t tsat_param = -1;
    double tsat_const = 1.0;

    int32_t n_edges() const { return static_cast<int32_t>(edge_src.size()); }
};

void check_kinetic(const KineticNet& net);

void kinetic_phi(const KineticNet& net, const SeqBatch& batch, const double* theta, Exec exec,
                 double* phi /*[b]*/, double* state_logp /*[b, n_states] or null*/);

double kinetic_loss_and_grad(const KineticNet& net, const Measurement& meas, const SeqBatch& batch,
                             const double* targets, const double* theta, Exec exec, double* grad,
                             double* nll_rows);

}  // namespace cisreg
