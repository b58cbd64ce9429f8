// Plain C++ driver (no Python): builds the lac promoter model, evaluates phi, the sort-seq
// loss and its gradient in both precisions, and checks the gradient against central
// differences, the result against a different thread count and every compiled CPU kernel
// level against the one-row-at-a-time reference. Exit status 0 on success.
//   cmake -S . -B build/cpp -DCISREG_PYTHON=OFF -DCISREG_BUILD_TESTS=ON && cmake --build build/cpp
//   ctest --test-dir build/cpp
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cisreg/error.hpp"
#include "cisreg/model.hpp"
#include "cisreg/ops.hpp"

using namespace cisreg;

static int failures = 0;
#define CHECK(cond, ...)                     \
    do {                                     \
        if (!(cond)) {                       \
            std::printf("FAIL %s: ", #cond); \
            std::printf(__VA_ARGS__);        \
            std::printf("\n");               \
            ++failures;                      \
        }                                    \
    } while (0)

int main() {
    const int A = 4, L = 75, Y = 10, K = 8;
    Model m;
    m.sites.alphabet_size = A;
    m.sites.length = L;
    int64_t p = 0;
    Site crp, rnap;
    crp.start = 1;
    crp.width = 26;
    crp.e_offset = p;
    crp.eps_offset = p + 26 * A;
    p += 26 * A + 1;
    rnap.start = 34;
    rnap.width = 41;
    rnap.e_offset = p;
    rnap.eps_offset = p + 41 * A;
    p += 41 * A + 1;
    m.sites.sites = {crp, rnap};
    const int64_t dGI = p++, tsat = p++;
    // states: free, CRP, RNAP, CRP+RNAP (interaction dG_I); RNAP-bound states active
    Network& net = m.net;
    net.a_ptr = {0, 0, 1, 2, 4};
    net.a_site = {0, 1, 0, 1};
    net.a_coef = {1, 1, 1, 1};
    net.b_const = {0, 0, 0, 0};
    net.b_ptr = {0, 0, 0, 0, 1};
    net.b_param = {dGI};
    net.b_coef = {-1.0};
    net.node_state = {0, 1, 2, 3};
    net.n_states = 4;
    net.act_const = {0, 0, 1, 1};
    net.act_param = {-1, -1, -1, -1};
    net.tsat_param = tsat;
    m.gp = GPKind::Network;
    m.meas.kind = MeasKind::SortSeq;
    m.meas.n_bins = Y;
    m.meas.hidden = K;
    m.meas.offset = p;
    p += m.meas.n_params();
    m.n_params = p;
    check_model(m);

    std::mt19937_64 gen(1);
    std::normal_distribution<double> nrm(0.0, 0.5);
    std::vector<double> theta(static_cast<size_t>(p));
    for (auto& t : theta) t = nrm(gen);
    theta[static_cast<size_t>(tsat)] = 1.0;
    const int64_t N = 1000;
    std::vector<uint8_t> codes(static_cast<size_t>(N * L));
    for (auto& c : codes) c = static_cast<uint8_t>(gen() % A);
    std::vector<double> counts(static_cast<size_t>(N * Y), 0.0);
    for (int64_t i = 0; i < N; ++i) counts[static_cast<size_t>(i * Y + static_cast<int64_t>(gen() % Y))] = 1.0;
    SeqBatch batch{codes.data(), N, L, nullptr, N};
    Targets tg;
    tg.f64 = counts.data();
    tg.cols = Y;

    std::vector<double> phi(static_cast<size_t>(N));
    PhiOut out;
    out.phi = phi.data();
    Exec ex;
    phi_forward(m, batch, theta.data(), ex, out);
    for (double v : phi) CHECK(v >= 0.0 && v <= 1.0, "phi %g outside [0, 1]", v);

    std::vector<double> g1(static_cast<size_t>(p)), g2(static_cast<size_t>(p));
    const int64_t min_work = set_min_thread_work(0);  // threads however few the rows
    for (Precision prec : {Precision::F64, Precision::F32}) {
        ex.precision = prec;
        ex.n_threads = 1;
        const double l1 = loss_and_grad(m, batch, tg, nullptr, theta.data(), ex, g1.data(), nullptr);
        ex.n_threads = 3;
        const double l2 = loss_and_grad(m, batch, tg, nullptr, theta.data(), ex, g2.data(), nullptr);
        CHECK(l1 == l2, "loss differs between 1 and 3 threads: %.17g vs %.17g", l1, l2);
        CHECK(g1 == g2, "gradient differs between 1 and 3 threads");
    }

    set_min_thread_work(min_work);

    // an epoch of Adam in the core equals its steps taken one loss_and_grad call at a time
    {
        ex.precision = Precision::F32;
        std::vector<int64_t> order(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) order[static_cast<size_t>(i)] = (i * 7919) % N;
        std::vector<double> amounts(static_cast<size_t>(N), 0.0), l2(static_cast<size_t>(p), 1e-3);
        for (int64_t i = 0; i < N; ++i)
            for (int y = 0; y < Y; ++y) amounts[static_cast<size_t>(i)] += counts[static_cast<size_t>(i * Y + y)];
        EpochPlan plan;
        plan.order = order.data();
        plan.n_order = N;
        plan.batch_size = 64;
        plan.amounts = amounts.data();
        plan.l2 = l2.data();
        AdamConfig cfg;
        std::vector<double> th1 = theta, m1(static_cast<size_t>(p)), v1(static_cast<size_t>(p));
        std::vector<double> th2 = theta, m2(static_cast<size_t>(p)), v2(static_cast<size_t>(p));
        AdamState s1{m1.data(), v1.data(), 0}, s2{m2.data(), v2.data(), 0};
        const EpochResult r = adam_epoch(m, batch, tg, nullptr, plan, cfg, s1, th1.data(), ex, g1.data());
        CHECK(r.status == EpochStatus::Complete && r.steps == (N + 63) / 64, "epoch: %lld steps",
              static_cast<long long>(r.steps));
        std::vector<int64_t> rows;
        double tot = 0.0;
        for (int64_t i = 0; i < N; i += 64) {
            rows.assign(order.begin() + i, order.begin() + std::min<int64_t>(N, i + 64));
            std::sort(rows.begin(), rows.end());
            SeqBatch mb = batch;
            mb.rows = rows.data();
            mb.b = static_cast<int64_t>(rows.size());
            tot += loss_and_grad(m, mb, tg, nullptr, th2.data(), ex, g2.data(), nullptr);
            double reads = 0.0;
            for (int64_t row : rows) reads += amounts[static_cast<size_t>(row)];
            for (int64_t j = 0; j < p; ++j) {
                g2[static_cast<size_t>(j)] /= reads;
                g2[static_cast<size_t>(j)] += l2[static_cast<size_t>(j)] * th2[static_cast<size_t>(j)];
            }
            adam_step(cfg, s2, g2.data(), th2.data(), p);
        }
        CHECK(r.loss == tot && th1 == th2 && m1 == m2 && v1 == v2 && s1.t == s2.t,
              "epoch in the core differs from its steps one call at a time");
        ex.precision = Precision::F64;
    }

    // every compiled kernel level this CPU runs agrees with the one-row reference
    ex.n_threads = 1;
    ex.precision = Precision::F64;
    ex.isa = Isa::Scalar;
    std::vector<double> gref(static_cast<size_t>(p));
    const double lref = loss_and_grad(m, batch, tg, nullptr, theta.data(), ex, gref.data(), nullptr);
    for (int i = 0; i < n_cpu_levels(); ++i) {
        ex.isa = cpu_level_at(i);
        try {
            const double l = loss_and_grad(m, batch, tg, nullptr, theta.data(), ex, g1.data(), nullptr);
            double worst = 0.0, gmax = 0.0;
            for (size_t j = 0; j < g1.size(); ++j) {
                worst = std::fmax(worst, std::fabs(g1[j] - gref[j]));
                gmax = std::fmax(gmax, std::fabs(gref[j]));
            }
            CHECK(std::fabs(l - lref) <= 1e-12 * std::fabs(lref), "%s: loss %.17g vs %.17g", isa_name(ex.isa), l, lref);
            CHECK(worst <= 1e-11 * gmax, "%s: gradient differs by %g", isa_name(ex.isa), worst);
        } catch (const InputError&) {  // a level this CPU cannot run
        }
    }
    ex.isa = Isa::Auto;

    // central differences along a few coordinates of every block
    const int64_t probe[] = {0,
                             5,
                             crp.eps_offset,
                             rnap.e_offset + 17,
                             rnap.eps_offset,
                             dGI,
                             m.meas.offset,
                             m.meas.offset + Y + 3,
                             m.meas.offset + Y + Y * K + 2,
                             p - 1};
    loss_and_grad(m, batch, tg, nullptr, theta.data(), ex, g1.data(), nullptr);
    for (int64_t j : probe) {
        const double h = 1e-6;
        std::vector<double> tp = theta, tm = theta;
        tp[static_cast<size_t>(j)] += h;
        tm[static_cast<size_t>(j)] -= h;
        const double fd = (loss_and_grad(m, batch, tg, nullptr, tp.data(), ex, nullptr, nullptr) -
                           loss_and_grad(m, batch, tg, nullptr, tm.data(), ex, nullptr, nullptr)) /
                          (2 * h);
        const double g = g1[static_cast<size_t>(j)];
        CHECK(std::fabs(g - fd) <= 1e-6 + 1e-6 * std::fabs(fd), "theta[%lld]: gradient %.10g vs %.10g",
              static_cast<long long>(j), g, fd);
    }

    // invalid input is an exception, not a crash
    codes[7] = 9;
    bool threw = false;
    try {
        phi_forward(m, batch, theta.data(), ex, out);
    } catch (const InputError&) {
        threw = true;
    }
    CHECK(threw, "a code outside the alphabet was not reported");

    std::printf("%s: %d failure(s); cpu kernels: %s\n", failures ? "FAILED" : "ok", failures, cpu_kernel_level());
    return failures ? 1 : 0;
}
