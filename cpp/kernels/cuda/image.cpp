// The plan image of the CUDA back end: layout, flush maps and the host-side self-check
// (see kernels/cuda/device_plan.hpp).
#include "kernels/cuda/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

#include "cisreg/error.hpp"
#include "kernels/common/stages.hpp"

namespace cisreg::cuda {
namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

}  // namespace

template <class T>
size_t Image<T>::reserve(size_t bytes, size_t align) {
    total_ = round_up(total_, align);
    const size_t off = total_;
    total_ += bytes;
    return off;
}

template <class T>
template <class X>
size_t Image<T>::add(const std::vector<X>& v) {
    const size_t off = reserve(v.size() * sizeof(X), kAlign);
    items_.push_back(Item{v.empty() ? nullptr : static_cast<const void*>(v.data()), v.size() * sizeof(X), off});
    return off;
}

template <class T>
template <class X>
X* Image<T>::rebase(const X* host, uintptr_t base) const {
    if (!host) return nullptr;
    const auto h = reinterpret_cast<uintptr_t>(host);
    for (const Item& it : items_) {
        if (!it.src || it.bytes == 0) continue;
        const auto s = reinterpret_cast<uintptr_t>(it.src);
        if (h >= s && h < s + it.bytes) return reinterpret_cast<X*>(base + it.off + (h - s));
    }
    // a view of an empty array (a count of 0 guards every use)
    return nullptr;
}

template <class T>
void Image<T>::rebase_src(NetSrc& s, uintptr_t base) const {
    s.b_const = rebase(s.b_const, base);
    s.b_ptr = rebase(s.b_ptr, base);
    s.b_param = rebase(s.b_param, base);
    s.b_coef = rebase(s.b_coef, base);
    s.act_const = rebase(s.act_const, base);
    s.act_param = rebase(s.act_param, base);
}

template <class T>
void Image<T>::rebase_src(KinSrc& s, uintptr_t base) const {
    s.kappa_param = rebase(s.kappa_param, base);
    s.kappa_const = rebase(s.kappa_const, base);
    s.occ_const = rebase(s.occ_const, base);
    s.occ_param = rebase(s.occ_param, base);
}

template <class T>
int32_t Image<T>::coef_id(const CoefExpr& e) {
    for (size_t i = 0; i < coef_expr_.size(); ++i) {
        const CoefExpr& o = coef_expr_[i];
        if (o.kind == e.kind && o.i == e.i && o.k == e.k && o.c == e.c) return static_cast<int32_t>(i);  // NOLINT
    }
    coef_expr_.push_back(e);
    return static_cast<int32_t>(coef_expr_.size() - 1);
}

// The stages' flush entries as (theta index, slot, coefficient) triples, grouped by theta index.
template <class T>
void Image<T>::build_flush(bool cot, std::vector<int32_t>& ptr, std::vector<int32_t>& slot, std::vector<int32_t>& cf) {
    const Model& m = *m_;
    const Plan<T>& p = *p_;
    const RegionLayout& rg = cot ? reg_cot_ : reg_meas_;
    struct Entry {
        int64_t j;
        int32_t slot, cf;
    };
    std::vector<Entry> es;
    const auto put = [&](int64_t j, int64_t s, const CoefExpr& c) {
        es.push_back(Entry{j, static_cast<int32_t>(s), coef_id(c)});
    };
    // layer 1
    for (size_t k = 0; k < p.slot_theta.size(); ++k)
        if (p.slot_theta[k] >= 0) put(p.slot_theta[k], rg.site0 + static_cast<int64_t>(k), coef_const(1.0));
    stages::visit_gpmap<T>(m.gp, [&](auto st) { decltype(st)::flush_entries(decltype(st)::src(m), rg.gp0, put); });
    if (!cot)
        stages::visit_measurement<T>(m.meas.kind, [&](auto st) { decltype(st)::flush_entries(m.meas, rg.meas0, put); });
    const int64_t P = m.n_params;
    std::stable_sort(es.begin(), es.end(), [](const Entry& a, const Entry& b) { return a.j < b.j; });
    ptr.assign(static_cast<size_t>(P + 1), 0);
    slot.clear();
    cf.clear();
    for (const Entry& e : es) {
        if (e.j < 0 || e.j >= P) throw std::logic_error("cuda image: flush entry outside theta");
        ++ptr[static_cast<size_t>(e.j + 1)];
        slot.push_back(e.slot);
        cf.push_back(e.cf);
    }
    for (int64_t j = 0; j < P; ++j) ptr[static_cast<size_t>(j + 1)] += ptr[static_cast<size_t>(j)];
}

template <class T>
Image<T>::Image(const Model& m, const Plan<T>& p) : m_(&m), p_(&p) {
    const int64_t P = m.n_params;
    if (P >= (int64_t{1} << 24))
        throw InputError("device: the CUDA back end supports models of fewer than 2^24 parameters");
    // Which theta entry each table entry holds: a plan of theta = (1, 2, 3, ...) (exact in T
    // below 2^24) holds index + 1 there and 0 in the padding.
    {
        std::vector<double> probe(static_cast<size_t>(P));
        for (int64_t i = 0; i < P; ++i) probe[static_cast<size_t>(i)] = static_cast<double>(i + 1);
        const Plan<T> pr(m, probe.data());
        tab_src_.resize(pr.site_tab.size());
        for (size_t e = 0; e < pr.site_tab.size(); ++e) tab_src_[e] = static_cast<int64_t>(pr.site_tab[e]) - 1;
        ptab_src_.resize(pr.site_ptab.size());
        for (size_t e = 0; e < pr.site_ptab.size(); ++e) ptab_src_[e] = static_cast<int64_t>(pr.site_ptab[e]) - 1;
    }
    // sizes
    const SitesView<T>& sv = p.sites;
    sizes_.L = sv.L;
    sizes_.A = sv.A;
    sizes_.S = sv.S;
    sizes_.NR = sv.n_resid;
    sizes_.K = m.n_states();
    const int32_t GA = stages::visit_gpmap<T>(m.gp, [&](auto st) {
        using S = decltype(st);
        sizes_.G = S::scratch(S::view(p));
        return S::acc_size(S::view(p));
    });
    const int32_t MA = stages::visit_measurement<T>(m.meas.kind, [&](auto st) {
        using S = decltype(st);
        sizes_.M_meas = S::scratch(S::view(p));
        sizes_.NT_meas = S::n_targets(S::view(p));
        return S::acc_size(S::view(p));
    });
    scatter_ = !sv.small || (sv.n_ptabs > 0 && !sv.pair_small);
    for (int c = 0; c < 2; ++c) {
        RegionLayout& rg = c ? reg_cot_ : reg_meas_;
        rg.site0 = 1;
        rg.gp0 = 1 + sv.n_slots;
        rg.meas0 = rg.gp0 + GA;
        rg.len = rg.meas0 + (c ? 1 : MA);
        if (scatter_) {
            rg.scatter0 = rg.len;
            rg.len += static_cast<int32_t>(P);
        }
    }
    build_flush(false, fm_ptr_, fm_slot_, fm_cf_);
    build_flush(true, fc_ptr_, fc_slot_, fc_cf_);
    coef_.assign(coef_expr_.size(), 0.0);

    // layout: the views, then every array
    reserve(sizeof(DevViews<T>), kAlign);
    recipe_off_ = reserve(sizeof(Recipe<T>), kAlign);
    off_th_ = add(p.th);
    off_tab_ = add(p.site_tab);
    off_ptab_ = add(p.site_ptab);
    add(p.row0);
    add(p.pair0);
    add(p.pair_oi);
    add(p.pair_oj);
    add(p.bias_slot0);
    add(p.row_theta);
    add(p.ptab_theta);
    add(m.sites.sites);
    add(p.net_a_coef);
    add(p.kin_e_coef);
    off_gp_ = add(p.gp_buf);
    off_meas_ = add(p.meas_buf);
    if (m.gp == GPKind::Network) {
        const Network& nw = m.net;
        add(nw.a_ptr);
        add(nw.a_site);
        add(nw.node_state);
        add(nw.b_const);
        add(nw.b_ptr);
        add(nw.b_param);
        add(nw.b_coef);
        add(nw.act_const);
        add(nw.act_param);
    } else {
        const KineticNet& k = m.kin;
        add(k.edge_src);
        add(k.edge_dst);
        add(k.e_ptr);
        add(k.e_site);
        add(k.flux_edges);
        add(k.edge_kappa_param);
        add(k.edge_kappa_const);
        add(k.occ_const);
        add(k.occ_param);
    }
    add(tab_src_);
    add(ptab_src_);
    add(coef_expr_);
    off_coef_ = add(coef_);
    add(fm_ptr_);
    add(fm_slot_);
    add(fm_cf_);
    add(fc_ptr_);
    add(fc_slot_);
    add(fc_cf_);
    total_ = round_up(total_, kAlign);
}

template <class T>
int64_t Image<T>::n_items() const {
    Recipe<T> r;
    r.P = m_->n_params;
    r.gp = m_->gp;
    r.meas = m_->meas;
    r.n_tab = static_cast<int64_t>(tab_src_.size());
    r.n_ptab = static_cast<int64_t>(ptab_src_.size());
    stages::visit_gpmap<T>(m_->gp, [&](auto st) { decltype(st)::of(r.src) = decltype(st)::src(*m_); });
    r.n_coef = static_cast<int32_t>(coef_expr_.size());
    return r.n_items();
}

template <class T>
void Image<T>::fill(unsigned char* dst, uintptr_t base) const {
    const Model& m = *m_;
    const Plan<T>& p = *p_;
    std::memset(dst, 0, total_);
    for (const Item& it : items_)
        if (it.src && it.bytes) std::memcpy(dst + it.off, it.src, it.bytes);
    DevViews<T> v = p;  // the plan's views, re-pointed into the image below
    SitesView<T>& s = v.sites;
    s.site = rebase(s.site, base);
    s.row0 = rebase(s.row0, base);
    s.pair0 = rebase(s.pair0, base);
    s.pair_oi = rebase(s.pair_oi, base);
    s.pair_oj = rebase(s.pair_oj, base);
    s.tab = rebase(s.tab, base);
    s.ptab = rebase(s.ptab, base);
    s.row_theta = rebase(s.row_theta, base);
    s.ptab_theta = rebase(s.ptab_theta, base);
    s.th = rebase(s.th, base);
    s.bias_slot0 = rebase(s.bias_slot0, base);
    NetView<T>& n = v.net;
    n.a_ptr = rebase(n.a_ptr, base);
    n.a_site = rebase(n.a_site, base);
    n.a_coef = rebase(n.a_coef, base);
    n.state = rebase(n.state, base);
    KinView<T>& k = v.kin;
    k.src = rebase(k.src, base);
    k.dst = rebase(k.dst, base);
    k.e_ptr = rebase(k.e_ptr, base);
    k.e_site = rebase(k.e_site, base);
    k.e_coef = rebase(k.e_coef, base);
    k.flux = rebase(k.flux, base);
    // the stages' packed parameters: their views onto the image's buffers
    const T* gp_buf = reinterpret_cast<const T*>(base + off_gp_);
    const T* meas_buf = reinterpret_cast<const T*>(base + off_meas_);
    GpSrcs src;
    stages::visit_gpmap<T>(m.gp, [&](auto st) {
        using S = decltype(st);
        typename S::Src& sr = S::of(src);
        sr = S::src(m);
        rebase_src(sr, base);
        S::bind(sr, gp_buf, S::of(v));
    });
    stages::visit_measurement<T>(m.meas.kind, [&](auto st) {
        using S = decltype(st);
        S::bind(m.meas, meas_buf, S::of(v));
    });
    std::memcpy(dst + views_offset(), &v, sizeof v);

    Recipe<T> r;
    r.P = m.n_params;
    r.gp = m.gp;
    r.meas = m.meas;
    r.n_tab = static_cast<int64_t>(tab_src_.size());
    r.n_ptab = static_cast<int64_t>(ptab_src_.size());
    r.tab_src = rebase(tab_src_.empty() ? nullptr : tab_src_.data(), base);
    r.ptab_src = rebase(ptab_src_.empty() ? nullptr : ptab_src_.data(), base);
    const auto data_of = [](const auto& vec) { return vec.empty() ? nullptr : vec.data(); };
    r.src = src;
    r.th = reinterpret_cast<T*>(base + off_th_);
    r.tab = reinterpret_cast<T*>(base + off_tab_);
    r.ptab = reinterpret_cast<T*>(base + off_ptab_);
    r.gp_buf = reinterpret_cast<T*>(base + off_gp_);
    r.meas_buf = reinterpret_cast<T*>(base + off_meas_);
    r.views = reinterpret_cast<DevViews<T>*>(base + views_offset());
    r.n_coef = static_cast<int32_t>(coef_expr_.size());
    r.coef_expr = rebase(data_of(coef_expr_), base);
    r.coef = reinterpret_cast<double*>(base + off_coef_);
    for (int c2 = 0; c2 < 2; ++c2) {
        FlushMap& f = c2 ? r.flush_cot : r.flush_meas;
        const RegionLayout& rg = c2 ? reg_cot_ : reg_meas_;
        f.ptr = rebase(data_of(c2 ? fc_ptr_ : fm_ptr_), base);
        f.slot = rebase(data_of(c2 ? fc_slot_ : fm_slot_), base);
        f.cf = rebase(data_of(c2 ? fc_cf_ : fm_cf_), base);
        f.scatter_off = rg.scatter0;
        f.region_len = rg.len;
    }
    std::memcpy(dst + recipe_off_, &r, sizeof r);
}

template class Image<float>;
template class Image<double>;

// ------------------------------------------------------------------ the self-check
namespace {

// Whether a and b agree to a few units in the last place of T (the host's libm and the
// order of operations are those of src/plan.cpp, so they are normally identical).
template <class T>
bool near(T a, T b) {
    if (a == b || (std::isnan(a) && std::isnan(b))) return true;
    const T tol = T(4) * std::numeric_limits<T>::epsilon() * std::max(std::fabs(a), std::fabs(b));
    return std::fabs(a - b) <= tol;
}

template <class T>
std::string compare(const char* what, const T* got, const std::vector<T>& want) {
    for (size_t i = 0; i < want.size(); ++i)
        if (!near(got[i], want[i]))
            return std::string(what) + "[" + std::to_string(i) + "]: image " + std::to_string(got[i]) + ", plan " +
                   std::to_string(want[i]);
    return "";
}

template <class T>
std::string compare1(const char* what, T got, T want) {
    if (near(got, want)) return "";
    return std::string(what) + ": image " + std::to_string(got) + ", plan " + std::to_string(want);
}

template <class T>
std::string check_t(const Model& m, const double* theta0, const double* theta1) {
    const Plan<T> p0(m, theta0);
    const Image<T> img(m, p0);
    std::vector<unsigned char> buf(img.bytes() + 64);
    unsigned char* base = buf.data() + ((64 - (reinterpret_cast<uintptr_t>(buf.data()) & 63u)) & 63u);
    img.fill(base, reinterpret_cast<uintptr_t>(base));
    Recipe<T> r;
    std::memcpy(&r, base + img.recipe_offset(), sizeof r);
    const int64_t n = img.n_items();
    if (n != r.n_items()) return "item count";
    for (int64_t i = 0; i < n; ++i) refresh_item(r, theta1, i);
    refresh_scalars(r, theta1);
    const DevViews<T>& v = *r.views;
    const Plan<T> p1(m, theta1);
    std::string e;
    if (!(e = compare("theta", r.th, p1.th)).empty()) return e;
    if (!(e = compare("site_tab", r.tab, p1.site_tab)).empty()) return e;
    if (!(e = compare("site_ptab", r.ptab, p1.site_ptab)).empty()) return e;
    if (!(e = compare("meas_buf", r.meas_buf, p1.meas_buf)).empty()) return e;
    if (!(e = compare("gp_buf", r.gp_buf, p1.gp_buf)).empty()) return e;
    if (!(e = compare1("net.tsat", v.net.tsat, p1.net.tsat)).empty()) return e;
    if (!(e = compare1("kin.tsat", v.kin.tsat, p1.kin.tsat)).empty()) return e;
    const GeView<T>& g = v.ge;
    const GeView<T>& g1 = p1.ge;
    if (m.meas.kind == MeasKind::GE) {
        const char* names[] = {"ge.a",        "ge.log_sigma", "ge.sa",       "ge.sb",
                               "ge.log_norm", "ge.mode",      "ge.dmode_da", "ge.dmode_db"};
        const T got[] = {g.a, g.log_sigma, g.sa, g.sb, g.log_norm, g.mode, g.dmode_da, g.dmode_db};
        const T want[] = {g1.a, g1.log_sigma, g1.sa, g1.sb, g1.log_norm, g1.mode, g1.dmode_da, g1.dmode_db};
        for (int i = 0; i < 8; ++i)
            if (!(e = compare1(names[i], got[i], want[i])).empty()) return e;
    }
    if (m.meas.kind == MeasKind::Counts) {
        if (!(e = compare1("cnt.slope", v.cnt.slope, p1.cnt.slope)).empty()) return e;
        if (!(e = compare1("cnt.base", v.cnt.base, p1.cnt.base)).empty()) return e;
    }
    // every view pointer lands inside the image, at the place of the plan's pointer
    const auto inside = [&](const void* ptr) {
        const auto u = reinterpret_cast<uintptr_t>(ptr), b0 = reinterpret_cast<uintptr_t>(base);
        return ptr == nullptr || (u >= b0 && u < b0 + img.bytes());
    };
    for (const void* ptr : {static_cast<const void*>(v.sites.site), static_cast<const void*>(v.sites.tab),
                            static_cast<const void*>(v.sites.th), static_cast<const void*>(v.mpa.bc),
                            static_cast<const void*>(v.ge.eta), static_cast<const void*>(v.cnt.d),
                            static_cast<const void*>(v.net.state), static_cast<const void*>(v.kin.flux)})
        if (!inside(ptr)) return "a view points outside the image";
    if (v.sites.tab && v.sites.tab != r.tab) return "sites.tab is not the refreshed table";

    // flush maps against the stages' flush functions on random sums
    std::mt19937_64 gen(12345);
    std::uniform_real_distribution<double> U(-1.0, 1.0);
    const int64_t P = m.n_params;
    for (int cot = 0; cot < 2; ++cot) {
        const RegionLayout& rg = img.region(cot != 0);
        const FlushMap& f = cot ? r.flush_cot : r.flush_meas;
        if (f.region_len != rg.len) return "region length";
        std::vector<double> S(static_cast<size_t>(rg.len));
        for (double& x : S) x = U(gen);
        std::vector<double> want(static_cast<size_t>(P), 0.0);
        if (rg.scatter0 >= 0)
            for (int64_t j = 0; j < P; ++j) want[static_cast<size_t>(j)] = S[static_cast<size_t>(rg.scatter0 + j)];
        stages::SiteStage<T>::flush(p1, S.data() + rg.site0, want.data());
        stages::apply_flush(p1.flush_gp, S.data() + rg.gp0, want.data());
        if (!cot) stages::apply_flush(p1.flush_meas, S.data() + rg.meas0, want.data());
        double scale = 1.0;
        for (double w : want) scale = std::max(scale, std::fabs(w));
        for (int64_t j = 0; j < P; ++j) {
            const double got = flush_grad(f, r.coef, S.data(), j);
            if (!(std::fabs(got - want[static_cast<size_t>(j)]) <= 1e-13 * scale))
                return std::string(cot ? "cotangent" : "measurement") + " flush: grad[" + std::to_string(j) +
                       "] = " + std::to_string(got) + ", the CPU plan gives " +
                       std::to_string(want[static_cast<size_t>(j)]);
        }
    }
    return "";
}

}  // namespace

std::string image_selfcheck(const Model& m, const double* theta0, const double* theta1, Precision prec) {
    check_model(m);
    return prec == Precision::F32 ? check_t<float>(m, theta0, theta1) : check_t<double>(m, theta0, theta1);
}

}  // namespace cisreg::cuda
