"""Sequence design: targets met, budgets kept, seeds reproduce, max / min beat every single mutant."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.errors import InputError
from cisreg.variants.optimise import n_within
from randmodels import random_model
from variantmodels import apply, make_model, random_wt


def hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b))


def check_designs(df: pd.DataFrame, model, wt: str, K: int) -> None:
    """Distinct sequences within the budget whose names, distances and phi are consistent."""
    assert df["sequence"].is_unique
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    for seq, muts, ham in zip(df["sequence"], df["mutations"], df["hamming"]):
        assert hamming(seq, wt) == ham <= K
        assert (apply(wt, muts) if muts else wt) == seq
        assert (len(muts.split(",")) if muts else 0) == ham
    np.testing.assert_allclose(df["phi"], model.x_to_phi(df["sequence"].tolist()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(df["dphi"], df["phi"] - model.x_to_phi([wt])[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["lac", "kinetic-ka", "fold-bind"])
@pytest.mark.parametrize("goal", ["max", "min"])
def test_max_min_beat_wt_and_every_single_mutant(name, goal):
    model = make_model(name)
    wt = random_wt(model, 2)
    singles = cisreg.scan(model, wt)
    best_single = singles["dphi"].max() if goal == "max" else singles["dphi"].min()
    K = 3
    df = cisreg.design(model, wt, target=goal, max_mutations=K, n=8, rng=0, steps=300, exhaustive_limit=0)
    check_designs(df, model, wt, K)
    assert df.attrs["method"] == "greedy+annealing"
    sign = 1 if goal == "max" else -1
    assert sign * df["dphi"].iloc[0] > 0  # beats the wild type
    assert sign * df["dphi"].iloc[0] >= sign * best_single - 1e-12
    assert (np.diff(sign * df["phi"].to_numpy()) <= 1e-15).all()  # best first
    # with the whole space enumerable, K = 1 gives exactly the best single mutants
    one = cisreg.design(model, wt, target=goal, max_mutations=1, n=3, rng=0)
    assert one.attrs["method"] == "exhaustive"
    want = singles.sort_values("dphi", ascending=(goal == "min"), kind="stable")["dphi"].iloc[:3]
    np.testing.assert_allclose(one["dphi"], want.to_numpy(), rtol=1e-12, atol=1e-15)


def test_reachable_targets_are_met():
    model = make_model("lac")
    wt = random_wt(model, 3)
    scan = cisreg.scan(model, wt)
    phi_wt = scan.attrs["phi_wt"]
    lo, hi = phi_wt + scan["dphi"].min(), phi_wt + scan["dphi"].max()
    tol = 1e-3 * (hi - lo)  # the stated tolerance: 0.1 % of the single mutants' range
    for frac in (0.1, 0.5, 0.9):
        target = lo + frac * (hi - lo)  # between single mutants: reachable with few mutations
        df = cisreg.design(model, wt, target=target, max_mutations=3, n=10, rng=1)
        check_designs(df, model, wt, 3)
        assert df.attrs["method"] == "greedy+annealing"
        assert (df["abs_error"] <= tol).all(), (frac, df["abs_error"].max(), tol)
        np.testing.assert_allclose(df["abs_error"], np.abs(df["phi"] - target))
        assert df["abs_error"].is_monotonic_increasing


def test_exact_target_of_a_double_mutant():
    model = make_model("lac")
    wt = random_wt(model, 4)
    doubles = cisreg.scan(model, wt, doubles=True)
    row = doubles[doubles["n_mut"] == 2].iloc[12345]
    df = cisreg.design(model, wt, target=float(row["phi"]), max_mutations=2, n=5, rng=0)
    assert df.attrs["method"] == "exhaustive" and df.attrs["evaluated"] == 1 + len(doubles)
    assert df["abs_error"].iloc[0] <= 1e-12
    assert df["mutations"].iloc[0] == row["mutations"] or \
        doubles.set_index("mutations").loc[df["mutations"].iloc[0], "phi"] == row["phi"]


def test_annealing_finds_the_exhaustive_optimum_of_a_small_space():
    rng = np.random.default_rng(5)
    model = random_model(rng, n_sites=2, n_states=4, L=10)
    wt = random_wt(model, 5)
    K = 3
    assert n_within(10, 4, K) == 1 + 30 + 405 + 3240
    exact = cisreg.design(model, wt, target="max", max_mutations=K, n=5, rng=0)
    assert exact.attrs["method"] == "exhaustive"
    for goal in ("max", 0.5 * (exact["phi"].iloc[0] + model.x_to_phi([wt])[0])):
        ex = cisreg.design(model, wt, target=goal, max_mutations=K, n=5, rng=0)
        sa = cisreg.design(model, wt, target=goal, max_mutations=K, n=5, rng=0, exhaustive_limit=0, chains=16,
                           steps=400)
        assert sa.attrs["method"] == "greedy+annealing"
        check_designs(sa, model, wt, K)
        np.testing.assert_allclose(sa["phi"].iloc[0], ex["phi"].iloc[0], rtol=1e-10)


@pytest.mark.parametrize("K", [1, 2, 4])
def test_annealing_never_leaves_the_budget(K):
    model = make_model("rna")
    wt = random_wt(model, 6)
    for goal in ("max", "min", 0.3):
        df = cisreg.design(model, wt, target=goal, max_mutations=K, n=20, rng=K, exhaustive_limit=0, chains=32,
                           steps=200)
        check_designs(df, model, wt, K)


def test_seed_reproduces_and_budget_caps_at_length():
    model = make_model("fold-bind")
    wt = random_wt(model, 7)
    a = cisreg.design(model, wt, target=0.2, max_mutations=4, n=6, rng=42, steps=200)
    b = cisreg.design(model, wt, target=0.2, max_mutations=4, n=6, rng=np.random.default_rng(42), steps=200,
                      n_threads=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    model = make_model("kinetic-ka")
    wt = random_wt(model, 8)
    big = cisreg.design(model, wt, target="max", max_mutations=1000, n=4, rng=0, steps=100)
    assert big.attrs["max_mutations"] == 20
    check_designs(big, model, wt, 20)


def test_zero_budget_returns_the_wild_type():
    model = make_model("lac")
    wt = random_wt(model)
    df = cisreg.design(model, wt, target="max", max_mutations=0, n=1)
    assert df["sequence"].tolist() == [wt] and df["mutations"].tolist() == [""] and df["hamming"].tolist() == [0]
    assert df["dphi"].iloc[0] == 0


@pytest.mark.parametrize("kw,match", [
    ({"max_mutations": -1}, "max_mutations must be >= 0"),
    ({"max_mutations": 1.5}, "max_mutations must be an integer"),
    ({"target": "maximum"}, "target must be a number .*'max' or 'min'; got 'maximum'"),
    ({"target": math.nan}, "finite number"),
    ({"target": "inf"}, "finite number"),
    ({"target": True}, "target must be a number"),
    ({"target": None}, "target must be a number"),
    ({"n": 0}, "n must be at least 1"),
    ({"max_mutations": 0, "n": 2}, "only 1 distinct sequence"),
    ({"chains": 0}, "chains must be at least 1"),
    ({"cooling": 0.0}, "cooling must be a number in"),
    ({"wt": "ACGT"}, "wt: the wild type has length 4"),
    ({"wt": "X" * 75}, "letter 'X' at position 1"),
])
def test_design_errors(kw, match):
    model = make_model("lac")
    args = {"wt": random_wt(model), "target": "max", **kw}
    with pytest.raises(InputError, match=match):
        cisreg.design(model, args.pop("wt"), **args)


# ------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("design") / "model"
    make_model("lac").save(d)
    return d


def test_cli_design_matches_the_api(model_dir, tmp_path, capsys):
    from cisreg.cli import main

    model = cisreg.load(model_dir)
    wt = random_wt(model, 9)
    out = tmp_path / "designs.csv"
    args = ["design", str(model_dir), "--wt", wt, "--target", "0.4", "--max-mutations", "3", "--n", "5", "--seed",
            "7", "--steps", "200", "--out", str(out), "--threads", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "greedy+annealing" in printed and "wrote 5 designs" in printed
    got = pd.read_csv(out, keep_default_na=False)
    want = cisreg.design(model, wt, target=0.4, max_mutations=3, n=5, rng=7, steps=200)
    assert list(got.columns) == ["rank", "sequence", "mutations", "hamming", "phi", "dphi", "abs_error"]
    assert got["sequence"].tolist() == want["sequence"].tolist()
    assert got["mutations"].tolist() == want["mutations"].tolist()
    np.testing.assert_allclose(got["phi"], want["phi"], rtol=1e-9)
    assert [p.name for p in tmp_path.iterdir()] == ["designs.csv"]
    assert main(["design", str(model_dir), "--wt", wt, "--target", "max", "--max-mutations", "2",
                 "--out", str(tmp_path / "max.tsv")]) == 0
    assert "exhaustive" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "max.tsv", sep="\t")) == 10


@pytest.mark.parametrize("extra,match", [
    (["--target", "best"], "target must be a number (the phi to reach), 'max' or 'min'; got 'best'"),
    (["--target", "nan"], "finite number"),
    (["--target", "max", "--max-mutations", "-1"], "max_mutations must be >= 0"),
    (["--target", "max", "--max-mutations", "0", "--n", "3"], "only 1 distinct sequence"),
])
def test_cli_design_errors(model_dir, tmp_path, capsys, extra, match):
    from cisreg.cli import main

    wt = random_wt(cisreg.load(model_dir))
    assert main(["design", str(model_dir), "--wt", wt, *extra, "--out", str(tmp_path / "d.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cisreg: error: ") and match in err
    assert not list(tmp_path.iterdir())
