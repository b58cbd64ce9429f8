// Hand-fused float32 loss + gradient of the built-in `lac` model of cisreg: a baseline for
// the benchmarks, written for exactly this model (every size and offset is a constant).
//
//   dG_s  = eps_s + sum_l E_s[l, x[start_s + l]]            s = CRP (start 1, 26 bp), RNAP (34, 41 bp)
//   logw  = (0, -dG_CRP, -dG_RNAP, -dG_CRP - dG_RNAP - dG_I)  states free, CRP, RNAP, CRP+RNAP
//   phi   = t_sat * (p_RNAP + p_CRP+RNAP),  p = softmax(logw)
//   u_y   = a_y + sum_k b_yk tanh(c_yk phi + d_yk)           10 bins, 50 hidden units
//   loss  = sum_rows sum_y n_y (logsumexp(u) - u_y)
//
// Layout: vectorised across sequences, one sequence per SIMD lane (16 lanes with AVX-512,
// 8 with AVX2, 4 otherwise; chosen at compile time by -march). All arithmetic is float32.
// Gradient sums are accumulated per lane in float32 over a window of FLUSH blocks, then
// added to per-thread float64 sums; the threads' float64 sums are added at the end in thread
// order, so a result depends only on the inputs and n_threads.
//
// Build (bench/baselines/fused.py does this):  g++ -O3 -march=native -fopenmp -shared -fPIC
//
// C ABI:
//   int64_t fused_lac_info(int64_t* out, int64_t cap)   lanes; out = layout constants (see below)
//   double  fused_lac_loss_grad(codes, n, rows, b, counts, theta, grad, n_threads)
//   void    fused_lac_math(which, x, y, n)              the vector tanh / exp / log, for tests

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace {

#if defined(__AVX512F__)
#define FL_W 16
#elif defined(__AVX2__) && defined(__FMA__)
#define FL_W 8
#else
#define FL_W 4
#endif
constexpr int W = FL_W;

typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef uint32_t vu __attribute__((vector_size(4 * W)));

// ----------------------------------------------------------------------------- layout
constexpr int L = 75;                  // sequence length
constexpr int Y = 10, H = 50, YH = Y * H;
constexpr int P = 1782;                // parameters
constexpr int S0 = 1, W0 = 26;         // CRP site: window start, width
constexpr int S1 = 34, W1 = 41;        // RNAP site
constexpr int OFF_E0 = 0, OFF_EPS0 = 104, OFF_E1 = 105, OFF_EPS1 = 269;
constexpr int OFF_DGI = 270, OFF_TSAT = 271, OFF_A = 272, OFF_B = 282, OFF_C = 782, OFF_D = 1282;
constexpr int NPOS = W0 + W1;          // 67 energy positions
constexpr int G0 = (W0 + 3) / 4, G1 = (W1 + 3) / 4, NG = G0 + G1;  // 4-byte code words per site
constexpr int FLUSH = 128;             // blocks between float32 -> float64 flushes
static_assert(OFF_E0 + 4 * W0 == OFF_EPS0 && OFF_EPS0 + 1 == OFF_E1 && OFF_E1 + 4 * W1 == OFF_EPS1, "layout");
static_assert(OFF_D + YH == P, "layout");
static_assert(S1 + W1 <= L && L >= 4, "layout");

// Byte offset in a row of code word g (g < NG): 4 consecutive codes, never past the row's end.
constexpr int word_off(int g) {
    const int o = g < G0 ? S0 + 4 * g : S1 + 4 * (g - G0);
    return o + 4 <= L ? o : L - 4;
}

// ----------------------------------------------------------------------------- vector math
inline vf bc(float x) { return vf{} + x; }

inline vf vmin(vf a, vf b) {
#if FL_W == 16
    return (vf)_mm512_min_ps((__m512)a, (__m512)b);
#elif FL_W == 8
    return (vf)_mm256_min_ps((__m256)a, (__m256)b);
#elif defined(__SSE__)
    return (vf)_mm_min_ps((__m128)a, (__m128)b);
#else
    return a < b ? a : b;
#endif
}
inline vf vmax(vf a, vf b) {
#if FL_W == 16
    return (vf)_mm512_max_ps((__m512)a, (__m512)b);
#elif FL_W == 8
    return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#elif defined(__SSE__)
    return (vf)_mm_max_ps((__m128)a, (__m128)b);
#else
    return a > b ? a : b;
#endif
}
// 1/x: hardware estimate (14 or 12 bits) and one Newton step (about 1 ulp).
inline vf vrcp(vf x) {
#if FL_W == 16
    vf r = (vf)_mm512_rcp14_ps((__m512)x);
#elif FL_W == 8
    vf r = (vf)_mm256_rcp_ps((__m256)x);
#elif defined(__SSE__)
    vf r = (vf)_mm_rcp_ps((__m128)x);
#else
    return 1.0f / x;
#endif
    const vf e = 1.0f - x * r;
    return r + r * e;
}

// tanh: the [13/6] rational approximation x P(x^2) / Q(x^2) used by Eigen (ptanh_float) on x
// clamped to [-7.9053, 7.9053]. Max abs error 3e-7 over the line (fused_lac_math, check.py).
constexpr float TANH_CLAMP = 7.90531110763549805f;
inline vf vtanh(vf x) {
#if FL_W == 16 && defined(__AVX512DQ__)
    // sign(x) * min(|x|, clamp) in one instruction (imm 0b0010: min of magnitudes, sign of x)
    x = (vf)_mm512_range_ps((__m512)x, (__m512)bc(TANH_CLAMP), 0x2);
#else
    x = vmax(vmin(x, bc(TANH_CLAMP)), bc(-TANH_CLAMP));
#endif
    const vf x2 = x * x;
    vf p = bc(-2.76076847742355e-16f);
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    vf q = bc(1.19825839466702e-06f);
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p * vrcp(q);
}

// exp (Cephes expf): x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n from exponent bits.
// Inputs are clamped to [-87.3, 88.3] (results stay normal numbers).
inline vf vexp(vf x) {
    x = vmax(vmin(x, bc(88.3762626647949f)), bc(-87.3365447504019f));
    const vf shift = bc(12582912.0f);                       // 1.5 * 2^23: rounds to nearest
    const vf n = (x * 1.44269504088896341f + shift) - shift;
    vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf p = bc(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}

// log for positive normal x (Cephes logf).
inline vf vlog(vf x) {
    vi bits = (vi)x;
    vf e = __builtin_convertvector(((bits >> 23) & 0xff) - 126, vf);
    vf m = (vf)((bits & 0x007fffff) | 0x3f000000);          // mantissa in [0.5, 1)
    const vi small = m < 0.707106781186547524f;
    e = e - (vf)((vi)bc(1.0f) & small);
    m = m + (vf)((vi)m & small) - 1.0f;                      // m in [sqrt(.5)-1, sqrt(2)-1)
    const vf z = m * m;
    vf p = bc(7.0376836292e-2f);
    p = p * m + -1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m + -1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m + -1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m + -2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    vf y = p * m * z;
    y = y + e * -2.12194440e-4f;
    y = y - 0.5f * z;
    return m + y + e * 0.693359375f;
}

// ----------------------------------------------------------------------------- parameters
struct alignas(64) Params {
    vf tab[NPOS];          // lanes 0..3: E[l, A..T] of energy position l (CRP then RNAP)
    float eps0, eps1, dgi, tsat;
    float a[Y];
    float b[YH], c[YH], d[YH], bc_[YH];  // bc_ = b * c (for dphi)
};

void load_params(const double* th, Params& p) {
    std::memset(static_cast<void*>(&p), 0, sizeof p);
    for (int l = 0; l < NPOS; ++l) {
        const double* e = l < W0 ? th + OFF_E0 + 4 * l : th + OFF_E1 + 4 * (l - W0);
        for (int c = 0; c < 4; ++c) p.tab[l][c] = static_cast<float>(e[c]);
    }
    p.eps0 = static_cast<float>(th[OFF_EPS0]);
    p.eps1 = static_cast<float>(th[OFF_EPS1]);
    p.dgi = static_cast<float>(th[OFF_DGI]);
    p.tsat = static_cast<float>(th[OFF_TSAT]);
    for (int y = 0; y < Y; ++y) p.a[y] = static_cast<float>(th[OFF_A + y]);
    for (int i = 0; i < YH; ++i) {
        p.b[i] = static_cast<float>(th[OFF_B + i]);
        p.c[i] = static_cast<float>(th[OFF_C + i]);
        p.d[i] = static_cast<float>(th[OFF_D + i]);
        p.bc_[i] = p.b[i] * p.c[i];
    }
}

// ----------------------------------------------------------------------------- per-thread sums
// Per-lane float32 sums over at most FLUSH blocks. C and D hold sum du*(1-t^2)*phi and
// sum du*(1-t^2): the factor b of d(loss)/dc, d(loss)/dd is applied at the flush.
struct alignas(64) Acc {
    vf E[NPOS * 4];
    vf eps[2], dgi, tsat, loss;
    vf a[Y];
    vf B[YH], C[YH], D[YH];
};

inline double lane_sum(vf& v) {   // pairwise, in float64; clears v
    double t[W];
    for (int j = 0; j < W; ++j) t[j] = static_cast<double>(v[j]);
    for (int w = W / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) t[j] += t[j + w];
    v = vf{};
    return t[0];
}

void flush(Acc& acc, const Params& p, double* g, double& loss) {
    for (int l = 0; l < NPOS; ++l) {
        double* ge = l < W0 ? g + OFF_E0 + 4 * l : g + OFF_E1 + 4 * (l - W0);
        for (int c = 0; c < 4; ++c) ge[c] += lane_sum(acc.E[4 * l + c]);
    }
    g[OFF_EPS0] += lane_sum(acc.eps[0]);
    g[OFF_EPS1] += lane_sum(acc.eps[1]);
    g[OFF_DGI] += lane_sum(acc.dgi);
    g[OFF_TSAT] += lane_sum(acc.tsat);
    loss += lane_sum(acc.loss);
    for (int y = 0; y < Y; ++y) g[OFF_A + y] += lane_sum(acc.a[y]);
    for (int i = 0; i < YH; ++i) {
        g[OFF_B + i] += lane_sum(acc.B[i]);
        g[OFF_C + i] += static_cast<double>(p.b[i]) * lane_sum(acc.C[i]);
        g[OFF_D + i] += static_cast<double>(p.b[i]) * lane_sum(acc.D[i]);
    }
}

// Code of energy position l (0..NPOS-1) in every lane, from the block's code words.
template <int l>
inline vi code_at(const vu* words) {
    constexpr int g = l < W0 ? l / 4 : G0 + (l - W0) / 4;
    constexpr int pos = l < W0 ? S0 + l : S1 + (l - W0);
    constexpr int sh = 8 * (pos - word_off(g));
    return (vi)((words[g] >> sh) & 3u);
}

template <int l0, int l1>
inline void energy_fwd(const Params& p, const vu* words, vf& acc0, vf& acc1) {
    if constexpr (l0 < l1) {
        acc0 += __builtin_shuffle(p.tab[l0], code_at<l0>(words));
        energy_fwd<l0 + 1, l1>(p, words, acc1, acc0);   // alternate two partial sums
    }
}

// d(loss)/dE[l, c] of positions l0..l1-1, summed over a tile's R blocks before it is added.
template <int l0, int l1, int R>
inline void energy_bwd(Acc& acc, const vu (*words)[NG], const vf* ddg) {
    if constexpr (l0 < l1) {
        vf s0{}, s1{}, s2{}, s3{};
        const vf zero{};
        for (int r = 0; r < R; ++r) {
            const vi code = code_at<l0>(words[r]);
            s0 += code == 0 ? ddg[r] : zero;
            s1 += code == 1 ? ddg[r] : zero;
            s2 += code == 2 ? ddg[r] : zero;
            s3 += code == 3 ? ddg[r] : zero;
        }
        acc.E[4 * l0 + 0] += s0;
        acc.E[4 * l0 + 1] += s1;
        acc.E[4 * l0 + 2] += s2;
        acc.E[4 * l0 + 3] += s3;
        energy_bwd<l0 + 1, l1, R>(acc, words, ddg);
    }
}

// Software prefetch of the next tile's rows (no measurable effect on sequential or random rows
// on the development machine; kept on, -DFL_PREFETCH=0 turns it off).
#ifndef FL_PREFETCH
#define FL_PREFETCH 1
#endif
#ifndef FL_TILE
#if FL_W == 16
#define FL_TILE 8
#else
#define FL_TILE 4
#endif
#endif
// Blocks per tile (measured best: 8 with AVX-512, 4 with AVX2). The backward pass runs unit by
// unit over a tile, so each unit's three gradient sums are loaded and stored once per tile.
constexpr int R = FL_TILE;

struct Tile {
    vu words[R][NG];
    vf cnt[R][Y];
    vf T[R][YH];           // the forward pass's tanh values, kept for the backward pass
};

// Loss and gradient of one tile of R blocks of W sequences (padding lanes have zero counts,
// hence zero loss and zero gradient).
inline void tile(const Params& p, Acc& acc, Tile& s) {
    vf phi[R], act[R], p1[R], p2[R], p3[R];
    for (int r = 0; r < R; ++r) {
        // site energies
        vf x0 = bc(p.eps0), x1{}, r0 = bc(p.eps1), r1{};
        energy_fwd<0, W0>(p, s.words[r], x0, x1);
        energy_fwd<W0, NPOS>(p, s.words[r], r0, r1);
        const vf dgc = x0 + x1, dgr = r0 + r1;
        // thermodynamic states
        const vf l1 = -dgc, l2 = -dgr, l3 = -dgc - dgr - p.dgi;
        const vf mx = vmax(vmax(vf{}, l1), vmax(l2, l3));
        const vf e0 = vexp(-mx), e1 = vexp(l1 - mx), e2 = vexp(l2 - mx), e3 = vexp(l3 - mx);
        const vf iz = 1.0f / (e0 + e1 + e2 + e3);
        p1[r] = e1 * iz;
        p2[r] = e2 * iz;
        p3[r] = e3 * iz;
        act[r] = p2[r] + p3[r];
        phi[r] = p.tsat * act[r];
    }

    // measurement forward, block by block
    vf du[R][Y];
    for (int r = 0; r < R; ++r) {
        vf u[Y];
        for (int y = 0; y < Y; ++y) {
            vf ua = bc(p.a[y]), ub{};
            const int o = y * H;
#pragma GCC unroll 2
            for (int k = 0; k < H; k += 2) {
                const vf t0 = vtanh(p.c[o + k] * phi[r] + p.d[o + k]);
                const vf t1 = vtanh(p.c[o + k + 1] * phi[r] + p.d[o + k + 1]);
                s.T[r][o + k] = t0;
                s.T[r][o + k + 1] = t1;
                ua += p.b[o + k] * t0;
                ub += p.b[o + k + 1] * t1;
            }
            u[y] = ua + ub;
        }
        vf um = u[0];
        for (int y = 1; y < Y; ++y) um = vmax(um, u[y]);
        vf eu[Y], se{}, ntot{}, nu{};
        for (int y = 0; y < Y; ++y) {
            eu[y] = vexp(u[y] - um);
            se += eu[y];
            ntot += s.cnt[r][y];
            nu += s.cnt[r][y] * (u[y] - um);
        }
        acc.loss += ntot * vlog(se) - nu;      // sum_y n_y (lse - u_y), lse = um + log(se)
        const vf ns = ntot / se;
        for (int y = 0; y < Y; ++y) {
            du[r][y] = ns * eu[y] - s.cnt[r][y];
            acc.a[y] += du[r][y];
        }
    }

    // measurement backward, unit by unit: a unit's sums over the tile are added once
    constexpr int NP = R >= 4 ? 1 : 2;      // partial sums of dphi per block (FMA latency)
    static_assert(H % NP == 0, "H");
    vf dphi[NP][R];
    for (int q = 0; q < NP; ++q)
        for (int r = 0; r < R; ++r) dphi[q][r] = vf{};
    for (int y = 0; y < Y; ++y) {
        const int o = y * H;
        for (int k = 0; k < H; k += NP) {
            for (int q = 0; q < NP; ++q) {
                const int i = o + k + q;
                vf sb{}, sc{}, sd{};
                for (int r = 0; r < R; ++r) {
                    const vf t = s.T[r][i];
                    const vf h = du[r][y] * (1.0f - t * t);
                    sb += du[r][y] * t;
                    sc += h * phi[r];
                    sd += h;
                    dphi[q][r] += h * p.bc_[i];
                }
                acc.B[i] += sb;
                acc.C[i] += sc;
                acc.D[i] += sd;
            }
        }
    }

    vf ddgc[R], ddgr[R];
    for (int r = 0; r < R; ++r) {
        vf dphi_r = dphi[0][r];
        for (int q = 1; q < NP; ++q) dphi_r += dphi[q][r];
        const vf dphi = dphi_r;
        // thermodynamic backward: dlogw_k = dphi p_k (t_sat alpha_k - phi), alpha = (0, 0, 1, 1)
        acc.tsat += dphi * act[r];
        const vf q1 = dphi * p1[r] * -phi[r];
        const vf f = dphi * (p.tsat - phi[r]);
        const vf q2 = f * p2[r], q3 = f * p3[r];
        acc.dgi -= q3;
        ddgc[r] = -(q1 + q3);
        ddgr[r] = -(q2 + q3);
        acc.eps[0] += ddgc[r];
        acc.eps[1] += ddgr[r];
    }
    energy_bwd<0, W0, R>(acc, s.words, ddgc);
    energy_bwd<W0, NPOS, R>(acc, s.words, ddgr);
}

// Gather block k's rows: code words and counts (float32), lane by lane.
inline bool load_block(const uint8_t* codes, int64_t n, const int64_t* rows, int64_t b,
                       const double* counts, int64_t k, vu* words, vf* cnt) {
    bool ok = true;
    for (int j = 0; j < W; ++j) {
        const int64_t i = k * W + j;
        int64_t r = 0;
        bool live = i < b;
        if (live) {
            r = rows ? rows[i] : i;
            if (r < 0 || r >= n) {
                ok = false;
                live = false;
                r = 0;
            }
        }
        const uint8_t* row = codes + r * L;
        for (int g = 0; g < NG; ++g) {
            uint32_t w;
            std::memcpy(&w, row + word_off(g), 4);
            words[g][j] = w;
        }
        const double* cr = counts + r * Y;
        for (int y = 0; y < Y; ++y) cnt[y][j] = live ? static_cast<float>(cr[y]) : 0.0f;
    }
    return ok;
}

// Prefetch the rows of block k (codes and counts) into the cache.
inline void prefetch_block(const uint8_t* codes, int64_t n, const int64_t* rows, int64_t b,
                           const double* counts, int64_t k) {
    for (int j = 0; j < W; ++j) {
        const int64_t i = k * W + j;
        if (i >= b) return;
        const int64_t r = rows ? rows[i] : i;
        if (r < 0 || r >= n) continue;
        const char* c = reinterpret_cast<const char*>(codes + r * L);
        const char* y = reinterpret_cast<const char*>(counts + r * Y);
        __builtin_prefetch(c);
        __builtin_prefetch(c + L - 1);
        __builtin_prefetch(y);
        __builtin_prefetch(y + 8 * Y - 1);
    }
}

}  // namespace

extern "C" {

// Lanes per vector; out[0..cap) receives the layout this kernel was written for:
// P, L, Y, H, S0, W0, S1, W1, OFF_E0, OFF_EPS0, OFF_E1, OFF_EPS1, OFF_DGI, OFF_TSAT, OFF_A, OFF_B, OFF_C, OFF_D.
int64_t fused_lac_info(int64_t* out, int64_t cap) {
    const int64_t v[] = {P, L, Y, H, S0, W0, S1, W1, OFF_E0, OFF_EPS0, OFF_E1, OFF_EPS1,
                         OFF_DGI, OFF_TSAT, OFF_A, OFF_B, OFF_C, OFF_D};
    const int64_t m = static_cast<int64_t>(sizeof v / sizeof v[0]);
    for (int64_t i = 0; i < cap && i < m; ++i) out[i] = v[i];
    return W;
}

// Summed NLL over b rows (rows[i], or i when rows is null) of codes [n, 75] (uint8, C order; codes
// are read modulo 4) and counts [n, 10] (float64, C order); grad [1782] is overwritten with its
// gradient at theta [1782]. Returns NaN (grad zero) when a row index is outside [0, n) or memory
// cannot be allocated. n_threads < 1 means omp_get_max_threads().
double fused_lac_loss_grad(const uint8_t* codes, int64_t n, const int64_t* rows, int64_t b,
                           const double* counts, const double* theta, double* grad, int n_threads) {
    std::memset(grad, 0, sizeof(double) * P);
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    if (b <= 0) return 0.0;
    if (n <= 0) return nan;
    const int64_t ntile = (b + R * W - 1) / (R * W);
    int nt = n_threads;
#if defined(_OPENMP)
    if (nt < 1) nt = omp_get_max_threads();
#else
    nt = 1;
#endif
    if (nt > ntile) nt = static_cast<int>(ntile);
    if (nt < 1) nt = 1;

    // Every allocation before the parallel region (no exception may leave this C function).
    std::unique_ptr<Params> prm;
    std::vector<std::unique_ptr<Acc>> accs(static_cast<size_t>(nt));
    std::vector<std::unique_ptr<Tile>> tiles(static_cast<size_t>(nt));
    std::vector<double> part;                  // per thread: gradient [P], then the loss
    try {
        prm.reset(new Params);
        for (int t = 0; t < nt; ++t) {
            accs[t].reset(new Acc);
            tiles[t].reset(new Tile);
        }
        part.assign(static_cast<size_t>(nt) * (P + 1), 0.0);
    } catch (const std::bad_alloc&) {
        return nan;
    }
    load_params(theta, *prm);
    const Params& p = *prm;
    int bad = 0;

#pragma omp parallel num_threads(nt) reduction(| : bad)
    {
#if defined(_OPENMP)
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        const int64_t k0 = ntile * t / nt, k1 = ntile * (t + 1) / nt;   // this thread's tiles
        Acc& acc = *accs[t];
        Tile& s = *tiles[t];
        std::memset(static_cast<void*>(&acc), 0, sizeof acc);
        double* g = part.data() + static_cast<size_t>(t) * (P + 1);
        double loss = 0.0;
        int since = 0;
        for (int64_t k = k0; k < k1; ++k) {
            for (int r = 0; r < R; ++r)
                if (!load_block(codes, n, rows, b, counts, k * R + r, s.words[r], s.cnt[r])) bad = 1;
            if (FL_PREFETCH && k + 1 < k1)
                for (int r = 0; r < R; ++r) prefetch_block(codes, n, rows, b, counts, (k + 1) * R + r);
            tile(p, acc, s);
            since += R;
            if (since >= FLUSH) {
                flush(acc, p, g, loss);
                since = 0;
            }
        }
        flush(acc, p, g, loss);
        g[P] = loss;
    }
    if (bad) return nan;
    double loss = 0.0;
    for (int t = 0; t < nt; ++t) {                  // fixed order: deterministic for a given nt
        const double* g = part.data() + static_cast<size_t>(t) * (P + 1);
        for (int i = 0; i < P; ++i) grad[i] += g[i];
        loss += g[P];
    }
    return loss;
}

// The kernel's vector functions on n floats: which = 0 tanh, 1 exp, 2 log.
void fused_lac_math(int which, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += W) {
        vf v{};
        for (int j = 0; j < W; ++j) v[j] = i + j < n ? x[i + j] : 1.0f;
        const vf r = which == 0 ? vtanh(v) : which == 1 ? vexp(v) : vlog(v);
        for (int j = 0; j < W && i + j < n; ++j) y[i + j] = r[j];
    }
}

}  // extern "C"
