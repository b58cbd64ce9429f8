// Plain-data views of a model's stages, in the compute type T, as the kernels see them.
// Built once per call by the host-side plan (src/plan.hpp) from a Model and theta: every
// per-call constant (theta in T, node constants, the packed measurement parameters) is
// evaluated there. Pointers refer to host or device memory; no std::vector, no owner.
#pragma once
#include <cstdint>

#include "cisreg/model.hpp"

namespace cisreg {

// Layer 1. Every (site, strand) reads its motif as a forward scan of the sequence: strand 1
// uses reverse-complemented tables, so the kernels never look up a complement. Table rows:
// site s, strand st, motif offset j is row row0[s] + st * width + j of `tab` (stride AS
// entries), so that position start + p + j of placement p contributes tab[row][code]. Pair
// table q of strand st is ptab row pair0[s] + st * n_pairs + q (stride PS), read at offsets
// pair_oi / pair_oj of the placement with index code_i * A + code_j. Strides are padded to
// 128 bytes when the table is small (at most kSmallTable entries), so that lane kernels can
// look entries up with register shuffles and accumulate their gradients per lane.
constexpr int32_t kSmallTable = 32;

template <class T>
struct SitesView {
    int32_t A = 4;           // alphabet size
    int32_t L = 0;           // sequence length
    int32_t S = 0;           // sites
    int32_t n_resid = 0;     // per-row placement weights (sliding sites)
    int32_t AS = 4;          // row stride of tab
    int32_t PS = 16;         // row stride of ptab
    bool small = true;       // single-position tables are small (A <= kSmallTable)
    bool pair_small = true;  // pair tables are small (A * A <= kSmallTable)
    int32_t n_rows = 0, n_ptabs = 0;
    const Site* site = nullptr;        // [S]
    const int32_t* row0 = nullptr;     // [S]
    const int32_t* pair0 = nullptr;    // [S]
    const int32_t* pair_oi = nullptr;  // [n_ptabs]
    const int32_t* pair_oj = nullptr;
    const T* tab = nullptr;               // [n_rows, AS]
    const T* ptab = nullptr;              // [n_ptabs, PS]
    const int64_t* row_theta = nullptr;   // [n_rows] theta index of entry 0 (large tables, strand 0)
    const int64_t* ptab_theta = nullptr;  // [n_ptabs]
    const T* th = nullptr;                // theta in T [P] (offsets, biases)
    // accumulator slots of the lane gradient (small tables): row r letter a at r * A + a,
    // pair table t entry e at n_rows * A + t * A * A + e (if pair_small), then eps of each
    // site, then the bias of each sliding site's configurations (site_slot0[s] + config).
    int32_t eps_slot0 = 0;
    const int32_t* bias_slot0 = nullptr;  // [S], -1 without bias
    int32_t n_slots = 0;
};

template <class T>
struct NetView {
    int32_t nn = 0, S = 0, K = 0;
    bool flux = false;               // some node has state -1
    const int32_t* a_ptr = nullptr;  // [nn + 1]
    const int32_t* a_site = nullptr;
    const T* a_coef = nullptr;
    const T* B = nullptr;            // [nn] b_n evaluated for this theta
    const T* alpha = nullptr;        // [nn] activities for this theta
    const int32_t* state = nullptr;  // [nn]
    T tsat = T(1);
};

template <class T>
struct KinView {
    int32_t n = 0, E = 0, S = 0, n_flux = 0;
    const int32_t* src = nullptr;  // [E]
    const int32_t* dst = nullptr;
    const T* kappa = nullptr;        // [E] log-rate constants for this theta
    const int32_t* e_ptr = nullptr;  // [E + 1]
    const int32_t* e_site = nullptr;
    const T* e_coef = nullptr;
    const T* occ = nullptr;         // [n] occupancy activities for this theta
    const int32_t* flux = nullptr;  // [n_flux]
    T tsat = T(1);
};

// Sort-seq (MPA). Hidden unit j = y * K + k. cs, ds: c and d times math::kTanhPre<T> (the
// scale math::tanh_pre expects); bc = b c.
template <class T>
struct MpaView {
    int32_t Y = 0, K = 0;
    const T* a = nullptr;   // [Y]
    const T* cs = nullptr;  // [Y K]
    const T* ds = nullptr;
    const T* b = nullptr;
    const T* bc = nullptr;
};

// Global epistasis. log sigma = log_sigma + sum_k eta[k] yhat^(k+1) (het terms); with a
// per-row measurement error dy, the noise scale is sqrt(sigma^2 + dy^2). SkewT: the
// Jones-Faddy skew-t with shapes sa, sb, centred at its mode (the per-call constants are
// evaluated by the plan).
template <class T>
struct GeView {
    int32_t K = 0;
    Noise noise = Noise::Gaussian;
    int32_t het = 0;
    T a = T(0), log_sigma = T(0);
    const T* cs = nullptr;  // [K]
    const T* ds = nullptr;
    const T* b = nullptr;
    const T* bc = nullptr;
    const T* eta = nullptr;  // [het]
    // SkewT: shapes, log normaliser, mode, and the mode's derivatives
    T sa = T(1), sb = T(1), log_norm = T(0), mode = T(0), dmode_da = T(0), dmode_db = T(0);
};

// MPRA counts: for replicate r, output_r ~ Poisson / NB(mean mu_r), log mu_r = log(input_r +
// pseudocount) + log_depth[r] + log g(phi); g = exp(e^log_slope phi) (LogLinear) or
// e^log_base + sum_k e^log_w[k] sigmoid(e^log_c[k] phi + d[k]) (Sigmoid): always increasing.
// NB shape above which the large-shape (near-Poisson) form of the likelihood is used.
constexpr double kNbLarge = 10.0;

template <class T>
struct CountsView {
    int32_t R = 1, K = 0;
    Noise noise = Noise::Poisson;
    Link link = Link::LogLinear;
    T pseudocount = T(0.5);
    const T* log_depth = nullptr;  // [R]
    // NB, per replicate: rd = 1 / dispersion, 1 / rd, log rd; for rd < kNbLarge, c0 = lgamma(rd)
    // and c1 = digamma(rd); above, c0 = lgamma_tail(rd) and c1 = digamma_tail(rd) (the
    // likelihood is then evaluated in a form free of the cancellation of lgamma(y + rd)
    // against lgamma(rd): see rows::counts_forward)
    const T* inv_disp = nullptr;
    const T* nb_irr = nullptr;
    const T* nb_logr = nullptr;
    const T* nb_c0 = nullptr;
    const T* nb_c1 = nullptr;
    T slope = T(1);        // LogLinear: e^log_slope
    T base = T(1);         // Sigmoid: e^log_base
    const T* w = nullptr;  // [K] e^log_w
    const T* c = nullptr;  // [K] e^log_c
    const T* d = nullptr;  // [K]
};

// Every stage's view, as the kernels of one call see them (the CPU plan derives from it; the
// CUDA back end copies it into its plan image). A stage reaches its own view through its
// `of` function (kernels/common/stages.hpp).
template <class T>
struct StageViews {
    SitesView<T> sites;
    NetView<T> net;
    KinView<T> kin;
    MpaView<T> mpa;
    GeView<T> ge;
    CountsView<T> cnt;
};

// Where the theta-dependent entries of a G-P map's view come from: plain arrays of the model
// (host memory for the CPU plan, the plan image for the CUDA back end).
struct NetSrc {
    int32_t nn = 0;
    const double* b_const = nullptr;  // [nn]
    const int32_t* b_ptr = nullptr;   // [nn + 1]
    const int64_t* b_param = nullptr;
    const double* b_coef = nullptr;
    const double* act_const = nullptr;  // [nn]
    const int64_t* act_param = nullptr;
    int64_t tsat_param = -1;
    double tsat_const = 1.0;
};

struct KinSrc {
    int32_t n = 0, E = 0;
    const int64_t* kappa_param = nullptr;  // [E]
    const double* kappa_const = nullptr;
    const double* occ_const = nullptr;  // [n]
    const int64_t* occ_param = nullptr;
    int64_t tsat_param = -1;
    double tsat_const = 1.0;
};

struct GpSrcs {
    NetSrc net;
    KinSrc kin;
};

// One entry of a gradient flush map, its coefficient evaluated for this call:
// grad[j] += c * sums[slot].
struct FlushTerm {
    int64_t j = 0;
    int32_t slot = 0;
    double c = 0.0;
};

}  // namespace cisreg
