// The compiled network that every model (thermodynamic or kinetic) compiles to.
//
//   layer 1  site energies     dG_s = theta[eps_s] + sum_l theta[e_s + l*A + x[start_s + l]]
//   layer 2  node log-weights  h_n  = b0_n + sum_j bcoef_j * theta[bparam_j] - sum_s A[n,s] * dG_s
//   layer 3  log partition     logZ = logsumexp_{n : state_n >= 0} h_n
//            state log-probs   log p_k = logsumexp_{n : state_n == k} h_n - logZ
//   layer 4  activity          phi  = t_sat * sum_n alpha_n * exp(h_n - logZ)
//
// Nodes with state_n == -1 enter only the numerator of the activity (flux terms of
// kinetic models: the weight of a spanning tree times the rate of the transition
// that carries the flux). alpha_n = act_const_n + theta[act_param_n] (if >= 0).
// t_sat = theta[tsat_param] if tsat_param >= 0, else tsat_const.
//
// All parameters live in one flat float64 vector theta; the network stores offsets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cisreg {

struct Site {
    int32_t start = 0;       // first position of the window in the sequence
    int32_t width = 0;       // window width
    int64_t e_offset = 0;    // theta index of E[0, 0]; E is [width, A] row-major
    int64_t eps_offset = 0;  // theta index of the offset (chemical potential)
};

struct Network {
    int32_t alphabet_size = 4;
    int32_t length = 0;      // sequence length the model expects
    int64_t n_params = 0;    // length of theta (network + measurement)
    std::vector<Site> sites;

    // layer 2: A in CSR form (nodes x sites)
    std::vector<int32_t> a_ptr;   // [n_nodes + 1]
    std::vector<int32_t> a_site;  // [nnz]
    std::vector<double> a_coef;   // [nnz]
    // layer 2: b_n = b_const[n] + sum over CSR entries of b_coef * theta[b_param]
    std::vector<double> b_const;  // [n_nodes]
    std::vector<int32_t> b_ptr;   // [n_nodes + 1]
    std::vector<int64_t> b_param; // [nnz_b]
    std::vector<double> b_coef;   // [nnz_b]
    // layer 3
    std::vector<int32_t> node_state;  // [n_nodes]: state index, or -1 (numerator only)
    int32_t n_states = 0;
    // layer 4
    std::vector<double> act_const;    // [n_nodes]
    std::vector<int64_t> act_param;   // [n_nodes], -1 when fixed
    int64_t tsat_param = -1;
    double tsat_const = 1.0;

    int32_t n_nodes() const { return static_cast<int32_t>(b_const.size()); }
    int32_t n_sites() const { return static_cast<int32_t>(sites.size()); }
};

// Measurement processes: p(y | phi) and its parameters, stored in theta from `offset`.
enum class MeasKind : int32_t {
    Linear = 0,    // "loss" = sum_i w_i * phi_i with weights w = targets[:, 0]; a VJP probe
    SortSeq = 1,   // MPA: p(y|phi) = softmax_y(a_y + sum_k b_yk tanh(c_yk phi + d_yk)); targets = counts [N, Y]
    GEGaussian = 2,// y = g(phi) + N(0, sigma^2), g = a + sum_k b_k tanh(c_k phi + d_k); targets = y [N, 1]
    GECauchy = 3,  // as GEGaussian with Cauchy noise of scale sigma
};

struct Measurement {
    MeasKind kind = MeasKind::Linear;
    int32_t n_bins = 1;   // Y (SortSeq), 1 otherwise
    int32_t hidden = 0;   // K hidden tanh units
    int64_t offset = 0;   // theta index of the first measurement parameter

    // Number of parameters this process owns in theta.
    //   SortSeq:    a[Y], b[Y*K], c[Y*K], d[Y*K]
    //   GE*:        a, b[K], c[K], d[K], log_sigma
    int64_t n_params() const {
        switch (kind) {
            case MeasKind::Linear: return 0;
            case MeasKind::SortSeq: return n_bins + 3LL * n_bins * hidden;
            case MeasKind::GEGaussian:
            case MeasKind::GECauchy: return 2 + 3LL * hidden;
        }
        return 0;
    }
    int64_t n_targets() const { return kind == MeasKind::SortSeq ? n_bins : 1; }
};

// Throw InputError (naming the field and index) unless the network is consistent.
void check_network(const Network& net);
// Throw InputError unless the measurement fits in n_params of theta.
void check_measurement(const Measurement& meas, int64_t n_params);

}  // namespace cisreg
