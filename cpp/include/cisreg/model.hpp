// A compiled model: the plain host-side description that every kernel runs.
//
// A model is three stages, evaluated for each sequence x (uint8 codes, [L]):
//
//   site model (layer 1)   dG_s   binding free energy of each site (kT)
//   G-P map (layers 2-4)   phi    activity: a thermodynamic / King-Altman network of nodes,
//                                 or a kinetic Markov graph solved per sequence
//   measurement            p(y | phi), whose negative log-likelihood is the loss
//
// All parameters live in one flat float64 vector theta; the structs below store offsets
// into it. They own their arrays (std::vector); kernels never see them: a host-side plan
// (src/plan.hpp) turns a Model and a theta into plain views once per call.
#pragma once
#include <cstdint>
#include <vector>

namespace cisreg {

// ------------------------------------------------------------------ layer 1: sites
// One site: a motif of `width` positions with an energy matrix E [width, A] (and optional
// pair energies P [n_pairs, A, A] between motif positions pair_i[q] < pair_j[q]). The motif
// sits at position start + p for p in [0, n_place) on the forward strand and, if strands
// == 2, also reads the reverse complement there. One placement (n_place == 1, strands == 1)
// is a fixed window:
//   dG = eps + sum_l E[l, x(l)] + sum_q P[q, x(i_q), x(j_q)]
// Several placements combine as alternative binding configurations:
//   dG = eps - log sum_{strand, p} exp(-(e(strand, p) + bias[strand, p]))
// with e the window sum above (without eps) at placement p, and bias optional.
struct Site {
    int32_t start = 0;
    int32_t width = 0;
    int32_t n_place = 1;
    int32_t strands = 1;
    int64_t e_offset = 0;      // theta index of E[0, 0]
    int64_t eps_offset = 0;    // theta index of eps
    int64_t pair_offset = -1;  // theta index of P[0, 0, 0], -1 without pair terms
    int32_t pair_begin = 0;    // this site's pairs are [pair_begin, pair_begin + n_pairs)
    int32_t n_pairs = 0;       //   of SiteModel::pair_i / pair_j
    int64_t bias_offset = -1;  // theta index of bias [strands, n_place], -1 without
    int32_t resid_begin = 0;   // first per-row placement weight of this site (sliding sites)

    int32_t n_configs() const { return n_place * strands; }
    bool sliding() const { return n_configs() > 1; }
};

struct SiteModel {
    int32_t alphabet_size = 4;
    int32_t length = 0;  // sequence length
    std::vector<Site> sites;
    std::vector<int32_t> pair_i, pair_j;  // motif positions of the pair terms
    std::vector<uint8_t> complement;      // [A] complement code of each letter, empty if none

    int32_t n_sites() const { return static_cast<int32_t>(sites.size()); }
    // per-row weights of the placements of sliding sites (residuals of the forward pass)
    int32_t n_resid() const;
};

// ----------------------------------------------------- G-P map: a network of nodes
//   layer 2  node log-weights  h_n  = b0_n + sum_j bcoef_j theta[bparam_j] - sum_s A[n,s] dG_s
//   layer 3  log partition     logZ = logsumexp_{n : state_n >= 0} h_n
//            state log-probs   log p_k = logsumexp_{n : state_n == k} h_n - logZ
//   layer 4  activity          phi  = t_sat sum_n alpha_n exp(h_n - logZ)
// Nodes with state_n == -1 enter only the numerator of the activity (flux terms of
// kinetic models: a spanning tree times the rate that carries the flux).
// alpha_n = act_const_n + theta[act_param_n] (if >= 0); t_sat = theta[tsat_param] or tsat_const.
struct Network {
    std::vector<int32_t> a_ptr;       // [n_nodes + 1] CSR of A (nodes x sites)
    std::vector<int32_t> a_site;      // [nnz]
    std::vector<double> a_coef;       // [nnz]
    std::vector<double> b_const;      // [n_nodes]
    std::vector<int32_t> b_ptr;       // [n_nodes + 1]
    std::vector<int64_t> b_param;     // [nnz_b]
    std::vector<double> b_coef;       // [nnz_b]
    std::vector<int32_t> node_state;  // [n_nodes]: state, or -1 (numerator only)
    int32_t n_states = 0;
    std::vector<double> act_const;   // [n_nodes]
    std::vector<int64_t> act_param;  // [n_nodes], -1 when fixed
    int64_t tsat_param = -1;
    double tsat_const = 1.0;

    int32_t n_nodes() const { return static_cast<int32_t>(b_const.size()); }
};

// ------------------------------------------- G-P map: a kinetic graph, solved per row
// Transition e: src -> dst with log-rate l_e = kappa_e + sum_s c_es dG_s, kappa_e =
// theta[kappa_param] (or kappa_const). The steady state pi (pi Q = 0, sum pi = 1) comes
// from the Grassmann-Taksar-Heyman state reduction, which only adds and divides
// non-negative numbers and so keeps full relative accuracy for rates spanning any range.
// Activity: phi = t_sat sum_i a_i pi_i (occupancy) or t_sat sum_{e in flux} k_e pi_src(e).
// The gradient is the adjoint: with Q lam = g - (g.pi) 1 (g = d loss / d pi, solved with
// the same reduction), d loss / d log k_e = k_e pi_i (lam_i - lam_j) for e: i -> j.
struct KineticNet {
    int32_t n_states = 0;
    std::vector<int32_t> edge_src, edge_dst;  // [E]
    std::vector<int64_t> edge_kappa_param;    // [E], -1 = fixed
    std::vector<double> edge_kappa_const;     // [E]
    std::vector<int32_t> e_ptr;               // [E + 1] CSR of (site, coefficient)
    std::vector<int32_t> e_site;
    std::vector<double> e_coef;
    std::vector<double> occ_const;    // [n_states]
    std::vector<int64_t> occ_param;   // [n_states], -1 = fixed
    std::vector<int32_t> flux_edges;  // empty: occupancy activity
    int64_t tsat_param = -1;
    double tsat_const = 1.0;

    int32_t n_edges() const { return static_cast<int32_t>(edge_src.size()); }
};

// ------------------------------------------------------------------ measurement
enum class MeasKind : int32_t {
    SortSeq = 0,  // MPA: p(y|phi) = softmax_y(a_y + sum_k b_yk tanh(c_yk phi + d_yk)); targets: counts [N, Y]
    GE = 1,       // y = g(phi) + noise, g = a + sum_k b_k tanh(c_k phi + d_k); targets: y, dy [N, 2]
    Counts = 2,   // output_r ~ Poisson / NB(input_r exp(c_r) g(phi)), g > 0 increasing; targets [N, 2R]
};
enum class Noise : int32_t { Gaussian = 0, Cauchy = 1, SkewT = 2, Poisson = 3, NegBin = 4 };
enum class Link : int32_t { LogLinear = 0, Sigmoid = 1 };

struct Measurement {
    MeasKind kind = MeasKind::SortSeq;
    int32_t n_bins = 2;  // Y (SortSeq); 1 otherwise
    int32_t hidden = 1;  // K hidden units (SortSeq, GE, Counts with the sigmoid link)
    Noise noise = Noise::Gaussian;
    int32_t het = 0;         // GE: order of the polynomial in yhat of log sigma (0: homoskedastic)
    int32_t replicates = 1;  // Counts: R
    Link link = Link::LogLinear;
    double pseudocount = 0.5;  // Counts: added to every input count
    int64_t offset = 0;        // theta index of the first measurement parameter

    // Parameters owned in theta, from `offset`:
    //   SortSeq: a[Y], b[Y*K], c[Y*K], d[Y*K]
    //   GE:      a, b[K], c[K], d[K], log_sigma, log_sigma_poly[het], (SkewT) log_a, log_b
    //   Counts:  log_depth[R], (NegBin) log_dispersion[R], then the link: log_slope
    //            (LogLinear), or log_base, log_w[K], log_c[K], d[K] (Sigmoid)
    int64_t n_params() const {
        switch (kind) {
            case MeasKind::SortSeq:
                return n_bins + 3LL * n_bins * hidden;
            case MeasKind::GE:
                return 2 + 3LL * hidden + het + (noise == Noise::SkewT ? 2 : 0);
            case MeasKind::Counts:
                return replicates * (noise == Noise::NegBin ? 2LL : 1LL) +
                       (link == Link::LogLinear ? 1 : 1 + 3LL * hidden);
        }
        return 0;
    }
    int64_t n_targets() const {
        switch (kind) {
            case MeasKind::SortSeq:
                return n_bins;
            case MeasKind::GE:
                return 2;
            case MeasKind::Counts:
                return 2LL * replicates;
        }
        return 0;
    }
    // Whether every target column holds counts (>= 0).
    bool counts() const { return kind != MeasKind::GE; }
    // Target columns from this one on must be >= 0 (counts, or GE's measurement error dy).
    int32_t first_nonnegative() const { return kind == MeasKind::GE ? 1 : 0; }
    bool nonnegative(int64_t c) const { return c >= first_nonnegative(); }
    // The number of leading target columns that must be > 0: the input counts when there is
    // no pseudocount (an input count of 0 would make the expected output 0).
    int64_t positive_cols() const { return kind == MeasKind::Counts && pseudocount == 0.0 ? replicates : 0; }
};

// ------------------------------------------------------------------ the model
enum class GPKind : int32_t { Network = 0, Kinetic = 1 };

struct Model {
    int64_t n_params = 0;
    SiteModel sites;
    GPKind gp = GPKind::Network;
    Network net;     // gp == Network
    KineticNet kin;  // gp == Kinetic
    Measurement meas;

    int32_t n_states() const { return gp == GPKind::Network ? net.n_states : kin.n_states; }
};

// Throw InputError (naming the field and index) unless every index is in range and the
// arrays are consistent; after this the kernels index without bounds checks.
void check_model(const Model& m);
void check_sites(const SiteModel& s, int64_t n_params);
void check_network(const Network& net, int32_t n_sites, int64_t n_params);
void check_kinetic(const KineticNet& k, int32_t n_sites, int64_t n_params);
void check_measurement(const Measurement& m, int64_t n_params);

}  // namespace cisreg
