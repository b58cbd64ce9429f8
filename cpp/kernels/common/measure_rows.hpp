// Measurement processes for any lane type R. The forward pass of one block of rows returns
// its weighted negative log-likelihood and keeps what the backward pass needs in the block's
// scratch; the backward pass runs over a tile of nb blocks, unit by unit, so that each
// parameter's gradient sum is accumulated once per tile (acc.add(slot, lanes); the stage's
// flush maps the slots onto theta) and sets d nll / d phi of every block.
#pragma once
#include "kernels/common/math.hpp"
#include "kernels/common/views.hpp"

namespace cisreg::rows {
inline namespace CISREG_ISA_NS {

// ---------------------------------------------------------------- sort-seq (MPA)
// Accumulator slots: [0, Y) d nll / d a_y; then three per hidden unit j = y K + k (next to
// each other, one stream of memory): Y + 3j sum du t (-> b), Y + 3j + 1 sum du (1 - t^2)
// (-> d, times b), Y + 3j + 2 sum du (1 - t^2) phi (-> c, times b).
template <class T>
CISREG_HD int32_t mpa_acc_size(const MpaView<T>& v) {
    return v.Y + 3 * v.Y * v.K;
}
// Scratch of a block: t [Y K] (every tanh), u [Y], du [Y] (d nll / d u).
template <class T>
CISREG_HD int32_t mpa_scratch_size(const MpaView<T>& v) {
    return v.Y * v.K + 2 * v.Y;
}

// u_y = a_y + sum_k b_yk tanh(c_yk phi + d_yk) into u [Y], every tanh into t [Y K] if STORE.
template <bool STORE, class R, class T>
CISREG_HD void mpa_scores(const MpaView<T>& v, R phi, R* t, R* u) {
    using O = Ops<R>;
    const int32_t Y = v.Y, K = v.K;
    for (int32_t y = 0; y < Y; ++y) {
        const int32_t o = y * K;
        const T* cs = v.cs + o;
        const T* ds = v.ds + o;
        const T* b = v.b + o;
        R a0 = O::splat(v.a[y]), a1 = O::splat(T(0));  // two chains
        int32_t k = 0;
        for (; k + 2 <= K; k += 2) {
            const R t0 = math::tanh_pre(phi * cs[k] + ds[k]);
            const R t1 = math::tanh_pre(phi * cs[k + 1] + ds[k + 1]);
            if (STORE) {
                t[o + k] = t0;
                t[o + k + 1] = t1;
            }
            a0 = a0 + t0 * b[k];
            a1 = a1 + t1 * b[k + 1];
        }
        if (k < K) {
            const R t0 = math::tanh_pre(phi * cs[k] + ds[k]);
            if (STORE) t[o + k] = t0;
            a0 = a0 + t0 * b[k];
        }
        u[y] = a0 + a1;
    }
}

// NLL of a block with counts n [Y] (times the rows' weights; a row without counts has nll
// 0 and no gradient). phi must be finite. With GRAD, scr keeps t and du for mpa_backward.
template <bool GRAD, class R, class T>
CISREG_HD R mpa_forward(const MpaView<T>& v, R phi, const R* n, R* scr) {
    using O = Ops<R>;
    const int32_t Y = v.Y;
    R* t = scr;
    R* u = scr + Y * v.K;
    R* du = u + Y;
    mpa_scores<GRAD>(v, phi, t, u);
    R umax = u[0];
    for (int32_t y = 1; y < Y; ++y) umax = O::max(umax, u[y]);
    R se = O::splat(T(0)), sn = se, ntot = se;
    for (int32_t y = 0; y < Y; ++y) {
        du[y] = math::exp(u[y] - umax);
        se = se + du[y];
        sn = sn + n[y] * (u[y] - umax);
        ntot = ntot + n[y];
    }
    const R nll = ntot * math::log(se) - sn;  // sum_y n_y (lse - u_y)
    if (GRAD) {
        const R scale = O::div(ntot, se);
        for (int32_t y = 0; y < Y; ++y) du[y] = du[y] * scale - n[y];
    }
    return nll;
}

// The backward pass of a tile: blocks b < nb with activities phi[b] and scratch scr[b]
// from mpa_forward<true>; sets dphi[b].
template <int NB = 0, class R, class T, class Acc>
CISREG_HD void mpa_backward(const MpaView<T>& v, int nb_rt, const R* phi, R* const* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;  // NB > 0: the tile size at compile time
    constexpr int kMax = 8;
    const int32_t Y = v.Y, K = v.K, YK = Y * K;
    R dp0[kMax], dp1[kMax];  // two chains per block
    for (int b = 0; b < nb; ++b) dp0[b] = dp1[b] = O::splat(T(0));
    for (int32_t y = 0; y < Y; ++y) {
        R d[kMax];
        R sa = O::splat(T(0));
        for (int b = 0; b < nb; ++b) {
            d[b] = scr[b][YK + Y + y];
            sa = sa + d[b];
        }
        acc.add(y, sa);
        const int32_t o = y * K;
        for (int32_t k = 0; k < K; ++k) {
            const int32_t j = o + k;
            const T bc = v.bc[j];
            R sb = O::splat(T(0)), sd = sb, sc = sb;
            for (int b = 0; b < nb; ++b) {
                const R tk = scr[b][j];
                const R wv = d[b] * tk;
                const R q = d[b] - wv * tk;  // du (1 - t^2)
                sb = sb + wv;
                sd = sd + q;
                sc = sc + q * phi[b];
                if (nb < 4 && (k & 1))  // two chains per block only when few blocks hide the latency
                    dp1[b] = dp1[b] + q * bc;
                else
                    dp0[b] = dp0[b] + q * bc;
            }
            const int32_t slot = Y + 3 * j;
            acc.add(slot, sb);
            acc.add(slot + 1, sd);
            acc.add(slot + 2, sc);
        }
    }
    for (int b = 0; b < nb; ++b) dphi[b] = dp0[b] + dp1[b];
}

// log p(y | phi) [Y] of one row (for reporting; not a hot path).
template <class R, class T>
CISREG_HD void mpa_logp(const MpaView<T>& v, R phi, R* out) {
    using O = Ops<R>;
    mpa_scores<false>(v, phi, static_cast<R*>(nullptr), out);
    R umax = out[0];
    for (int32_t y = 1; y < v.Y; ++y) umax = O::max(umax, out[y]);
    R se = O::splat(T(0));
    for (int32_t y = 0; y < v.Y; ++y) se = se + math::exp(out[y] - umax);
    const R lse = umax + math::log(se);
    for (int32_t y = 0; y < v.Y; ++y) out[y] = out[y] - lse;
}

// ---------------------------------------------------------------- global epistasis (GE)
// g(phi) = a + sum_k b_k tanh(c_k phi + d_k); y = g + noise of scale s = sqrt(sigma^2 + dy^2),
// log sigma = log_sigma + sum_k eta_k g^(k+1). Accumulator slots: 0 d nll / d g (-> a),
// [1, 1 + K) dg t (-> b), [1 + K, 1 + 2K) dg (1 - t^2) (-> d, times b), [1 + 2K, 1 + 3K)
// dg (1 - t^2) phi (-> c, times b), 1 + 3K d nll / d log sigma, then het slots
// d nll / d log sigma * g^(k+1), then (SkewT) the per-row parts of d nll / d a and d nll / d b
// and the rows' total weight (the normaliser's derivatives are per-call constants).
template <class T>
CISREG_HD int32_t ge_acc_size(const GeView<T>& v) {
    return 2 + 3 * v.K + v.het + (v.noise == Noise::SkewT ? 3 : 0);
}
// Scratch of a block: t [K], then dg, dlogs, g, skew a part, skew b part, weight.
template <class T>
CISREG_HD int32_t ge_scratch_size(const GeView<T>& v) {
    return v.K + 6;
}

template <class R, class T>
CISREG_HD R ge_g(const GeView<T>& v, R phi, R* t) {
    R g = Ops<R>::splat(v.a);
    for (int32_t k = 0; k < v.K; ++k) {
        const R tk = math::tanh_pre(phi * v.cs[k] + v.ds[k]);
        if (t) t[k] = tk;
        g = g + tk * v.b[k];
    }
    return g;
}

// y: the measurement, dy: its error (0 if none), wgt: the rows' weights (0 for padding).
template <bool GRAD, class R, class T>
CISREG_HD R ge_forward(const GeView<T>& v, R phi, R y, R dy, R wgt, R* scr) {
    using O = Ops<R>;
    constexpr T kHalfLog2Pi = T(0.91893853320467274178);
    constexpr T kLogPi = T(1.14472988584940017414);
    const R zero = O::splat(T(0)), one = O::splat(T(1));
    const R g = ge_g(v, phi, scr);
    // log sigma (a polynomial in g when heteroskedastic) and its derivative in g
    R logs = O::splat(v.log_sigma), dlogs_dg = zero, gp = one;
    for (int32_t k = 0; k < v.het; ++k) {
        dlogs_dg = dlogs_dg + gp * (T(k + 1) * v.eta[k]);
        gp = gp * g;
        logs = logs + gp * v.eta[k];
    }
    const R s2 = math::exp(logs * T(2));
    const R var = s2 + dy * dy;  // the total noise variance
    const R ivar = O::div(one, var);
    const R r = y - g;
    R nll, dg, dvar, da = zero, db = zero;
    if (v.noise == Noise::Gaussian) {
        nll = math::log(var) * T(0.5) + r * r * ivar * T(0.5) + kHalfLog2Pi;
        dg = zero - r * ivar;
        dvar = (one - r * r * ivar) * ivar * T(0.5);
    } else if (v.noise == Noise::Cauchy) {
        const R q = r * r * ivar;
        nll = math::log(var) * T(0.5) + math::log1p(q) + kLogPi;
        const R iden = O::div(one, var + r * r);
        dg = r * T(-2) * iden;
        dvar = ivar * T(0.5) - q * iden;
    } else {  // Jones-Faddy skew-t, centred at its mode
        const T A = v.sa, B = v.sb, AB = v.sa + v.sb;
        const R se = math::exp(math::log(var) * T(0.5));
        const R ise = O::div(one, se);
        const R z = r * ise + v.mode;
        const R az = O::abs(z);
        const R q = math::exp(math::log(z * z + AB) * T(0.5));
        const R p = q + az;
        const R lq = math::log(q), lp = math::log(p);
        const R lhi = lp - lq;                                     // log(1 + |u|)
        const R llo = (zero - lq - lp) + math::log(O::splat(AB));  // log(1 - |u|)
        const auto pos = z >= T(0);
        const R l1 = O::select(pos, lhi, llo), l2 = O::select(pos, llo, lhi);  // log(1 + u), log(1 - u)
        const R i1 = math::exp(zero - l1), i2 = math::exp(zero - l2);          // 1 / (1 + u), 1 / (1 - u)
        nll = math::log(var) * T(0.5) + v.log_norm - l1 * (A + T(0.5)) - l2 * (B + T(0.5));
        const R k1 = i2 * (B + T(0.5)) - i1 * (A + T(0.5));
        const R iq3 = O::div(one, q * q * q);
        const R dz = k1 * iq3 * AB;  // d nll / d z
        dg = zero - dz * ise;
        dvar = ivar * T(0.5) - dz * r * ise * ivar * T(0.5);
        const R du_dab = zero - z * iq3 * T(0.5);  // d u / d a = d u / d b at fixed z
        da = zero - l1 + k1 * du_dab + dz * v.dmode_da;
        db = zero - l2 + k1 * du_dab + dz * v.dmode_db;
    }
    if (GRAD) {
        const R dlogs = dvar * s2 * T(2);
        R* o = scr + v.K;
        o[0] = (dg + dlogs * dlogs_dg) * wgt;
        o[1] = dlogs * wgt;
        o[2] = g;
        o[3] = da * wgt;
        o[4] = db * wgt;
        o[5] = wgt;
    }
    return nll * wgt;
}

template <int NB = 0, class R, class T, class Acc>
CISREG_HD void ge_backward(const GeView<T>& v, int nb_rt, const R* phi, R* const* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;
    const int32_t K = v.K;
    R sg = O::splat(T(0)), sl = sg, sa = sg, sb2 = sg, sw = sg;
    for (int b = 0; b < nb; ++b) {
        const R* o = scr[b] + K;
        sg = sg + o[0];
        sl = sl + o[1];
        sa = sa + o[3];
        sb2 = sb2 + o[4];
        sw = sw + o[5];
        dphi[b] = O::splat(T(0));
    }
    acc.add(0, sg);
    acc.add(1 + 3 * K, sl);
    for (int32_t k = 0; k < v.het; ++k) {
        R sh = O::splat(T(0));
        for (int b = 0; b < nb; ++b) {
            const R* o = scr[b] + K;
            R gp = o[2];
            for (int32_t j = 0; j < k; ++j) gp = gp * o[2];
            sh = sh + o[1] * gp;
        }
        acc.add(2 + 3 * K + k, sh);
    }
    if (v.noise == Noise::SkewT) {
        acc.add(2 + 3 * K + v.het, sa);
        acc.add(3 + 3 * K + v.het, sb2);
        acc.add(4 + 3 * K + v.het, sw);
    }
    for (int32_t k = 0; k < K; ++k) {
        R sbk = O::splat(T(0)), sd = sbk, sc = sbk;
        for (int b = 0; b < nb; ++b) {
            const R dg = scr[b][K];
            const R tk = scr[b][k];
            const R wv = dg * tk;
            const R s = dg - wv * tk;
            sbk = sbk + wv;
            sd = sd + s;
            sc = sc + s * phi[b];
            dphi[b] = dphi[b] + s * v.bc[k];
        }
        acc.add(1 + k, sbk);
        acc.add(1 + K + k, sd);
        acc.add(1 + 2 * K + k, sc);
    }
}

// ---------------------------------------------------------------- MPRA counts
// Accumulator slots: [0, R) d nll / d log_depth, [R, 2R) d nll / d log_dispersion (NB), then
// the link's: LogLinear: sum G phi (-> log_slope, times slope); Sigmoid: sum G / g (-> log_base,
// times base), then per unit k: sum G s_k / g (-> log_w, times w_k), sum G s_k (1 - s_k) phi / g
// (-> log_c, times w_k c_k), sum G s_k (1 - s_k) / g (-> d, times w_k); G = d nll / d log g.
template <class T>
CISREG_HD int32_t counts_acc_size(const CountsView<T>& v) {
    return v.R * (v.noise == Noise::NegBin ? 2 : 1) + (v.link == Link::LogLinear ? 1 : 1 + 3 * v.K);
}
// Scratch of a block: deta [R], drho [R], G, 1/g, sigmoid values [K].
template <class T>
CISREG_HD int32_t counts_scratch_size(const CountsView<T>& v) {
    return 2 * v.R + 2 + v.K;
}

// log g(phi); s [K] receives the sigmoid values (Sigmoid link), *ig 1 / g.
template <class R, class T>
CISREG_HD R counts_log_g(const CountsView<T>& v, R phi, R* s, R* ig) {
    using O = Ops<R>;
    if (v.link == Link::LogLinear) {
        *ig = O::splat(T(1));
        return phi * v.slope;
    }
    R g = O::splat(v.base);
    for (int32_t k = 0; k < v.K; ++k) {
        const R e = math::exp(O::splat(T(0)) - (phi * v.c[k] + v.d[k]));
        s[k] = O::div(O::splat(T(1)), e + T(1));
        g = g + s[k] * v.w[k];
    }
    *ig = O::div(O::splat(T(1)), g);
    return math::log(g);
}

// u - log1p(u) for u > -1, given lm = -log1p(u) (computed by the caller from other terms):
// with s = u / (2 + u), log1p(u) = 2 atanh(s) and u = 2s / (1 - s), so
//   u - log1p(u) = 2 s^2 / (1 - s) - 2 s^3 (1/3 + s^2/5 + s^4/7 + ...),
// free of cancellation; used for |s| < 0.1 (series truncated at s^19: relative error below
// 1e-17), u + lm elsewhere (where the two terms cancel by a factor of 11 at most).
template <class R>
CISREG_HD R u_minus_log1p(R u, R lm) {
    using O = Ops<R>;
    using T = typename O::T;
    const R s = O::div(u, u + T(2));
    const R q = s * s;
    R ser = O::splat(T(1.0 / 19.0));
    ser = ser * q + T(1.0 / 17.0);
    ser = ser * q + T(1.0 / 15.0);
    ser = ser * q + T(1.0 / 13.0);
    ser = ser * q + T(1.0 / 11.0);
    ser = ser * q + T(1.0 / 9.0);
    ser = ser * q + T(1.0 / 7.0);
    ser = ser * q + T(1.0 / 5.0);
    ser = ser * q + T(1.0 / 3.0);
    const R small = q * T(2) * (O::div(O::splat(T(1)), O::splat(T(1)) - s) - s * ser);
    return O::select(O::abs(s) < T(0.1), small, u + lm);
}

// y [2R]: input counts of the R replicates, then their output counts.
template <bool GRAD, class R, class T>
CISREG_HD R counts_forward(const CountsView<T>& v, R phi, const R* y, R wgt, R* scr) {
    using O = Ops<R>;
    const int32_t nR = v.R;
    R* deta = scr;
    R* drho = scr + nR;
    R* sig = scr + 2 * nR + 2;
    R ig;
    const R lg = counts_log_g(v, phi, sig, &ig);
    R nll = O::splat(T(0)), G = nll;
    for (int32_t r = 0; r < nR; ++r) {
        const R out = y[nR + r];
        const R eta = math::log(y[r] + v.pseudocount) + v.log_depth[r] + lg;
        const R mu = math::exp(eta);
        const R lfo = math::lgamma(out + T(1));
        R de;
        if (v.noise == Noise::Poisson) {
            nll = nll + mu - out * eta + lfo;
            de = mu - out;
        } else {
            // negative binomial, mean mu, variance mu + mu^2 / rd:
            //   nll = lgamma(y+1) - D + (y + rd) log1p(mu / rd) - y eta,
            //   D = lgamma(y + rd) - lgamma(rd) - y log rd,
            // and for rd >= kNbLarge, by Stirling, D = (y + rd - 1/2) log1p(y / rd) - y
            // + lgamma_tail(y + rd) - lgamma_tail(rd): every term of the size of the
            // result, so near-Poisson data (rd -> infinity) lose no precision. Likewise
            //   d nll / d rd = psi(rd) - psi(y + rd) + log1p(mu / rd) + (y - mu) / (mu + rd),
            // psi(rd) - psi(y + rd) = -log1p(y / rd) - y / (2 rd (y + rd))
            //                         + digamma_tail(y + rd) - digamma_tail(rd).
            // There the first-order terms cancel exactly: with u = (y - mu) / (mu + rd),
            //   log1p(mu / rd) - log1p(y / rd) + u = u - log1p(u)  (about u^2 / 2),
            // evaluated without cancellation (rows::u_minus_log1p), so the dispersion
            // gradient keeps its precision, and its sign, as rd -> infinity.
            const T rd = v.inv_disp[r], irr = v.nb_irr[r];
            const R yr = out + O::splat(rd);
            const R l1q = math::log1p(mu * irr);
            const R inv = O::div(O::splat(T(1)), mu + rd);
            R D, dr;
            if (rd >= T(kNbLarge)) {
                const R l1p = math::log1p(out * irr);
                D = ((yr - T(0.5)) * l1p - out) + (math::lgamma_tail(yr) - v.nb_c0[r]);
                const R u = (out - mu) * inv;
                dr = (u_minus_log1p(u, l1q - l1p) - O::div(out * T(T(0.5) * irr), yr)) +
                     (math::digamma_tail(yr) - v.nb_c1[r]);
            } else {
                D = math::lgamma(yr) - (out * v.nb_logr[r] + v.nb_c0[r]);
                dr = ((O::splat(v.nb_c1[r]) - math::digamma(yr)) + l1q) + (out - mu) * inv;
            }
            nll = nll + ((lfo - D) + (yr * l1q - out * eta));
            de = mu * (yr * inv) - out;
            if (GRAD) drho[r] = dr * (-rd) * wgt;
        }
        if (GRAD) deta[r] = de * wgt;
        G = G + de;
    }
    if (GRAD) {
        scr[2 * nR] = G * wgt;
        scr[2 * nR + 1] = ig;
    }
    return nll * wgt;
}

template <int NB = 0, class R, class T, class Acc>
CISREG_HD void counts_backward(const CountsView<T>& v, int nb_rt, const R* phi, R* const* scr, Acc& acc, R* dphi) {
    using O = Ops<R>;
    const int nb = NB > 0 ? NB : nb_rt;
    const int32_t nR = v.R;
    const bool nb_noise = v.noise == Noise::NegBin;
    for (int32_t r = 0; r < nR; ++r) {
        R sd = O::splat(T(0)), sr = sd;
        for (int b = 0; b < nb; ++b) {
            sd = sd + scr[b][r];
            if (nb_noise) sr = sr + scr[b][nR + r];
        }
        acc.add(r, sd);
        if (nb_noise) acc.add(nR + r, sr);
    }
    const int32_t L0 = nR * (nb_noise ? 2 : 1);
    if (v.link == Link::LogLinear) {
        R s = O::splat(T(0));
        for (int b = 0; b < nb; ++b) {
            const R G = scr[b][2 * nR];
            s = s + G * phi[b];
            dphi[b] = G * v.slope;
        }
        acc.add(L0, s);
        return;
    }
    R sbase = O::splat(T(0));
    R Gg[8];
    for (int b = 0; b < nb; ++b) {
        Gg[b] = scr[b][2 * nR] * scr[b][2 * nR + 1];  // G / g
        sbase = sbase + Gg[b];
        dphi[b] = O::splat(T(0));
    }
    acc.add(L0, sbase);
    for (int32_t k = 0; k < v.K; ++k) {
        R sw = O::splat(T(0)), sc = sw, sdd = sw;
        for (int b = 0; b < nb; ++b) {
            const R sk = scr[b][2 * nR + 2 + k];
            const R ds = sk - sk * sk;  // s (1 - s)
            sw = sw + Gg[b] * sk;
            sdd = sdd + Gg[b] * ds;
            sc = sc + Gg[b] * ds * phi[b];
            dphi[b] = dphi[b] + Gg[b] * ds * (v.w[k] * v.c[k]);
        }
        acc.add(L0 + 1 + 3 * k, sw);
        acc.add(L0 + 2 + 3 * k, sc);
        acc.add(L0 + 3 + 3 * k, sdd);
    }
}

}  // namespace CISREG_ISA_NS
}  // namespace cisreg::rows
