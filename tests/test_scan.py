"""Variant-effect scans: every mutant's values equal a direct prediction of its sequence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.cli import main
from cisreg.errors import InputError
from variantmodels import MODELS, apply, make_model, random_wt


@pytest.mark.parametrize("name", MODELS)
def test_scan_equals_direct_predictions(name):
    model = make_model(name)
    wt = random_wt(model)
    L, A = model.spec.length, len(model.alphabet)
    doubles = L * A <= 400
    df = cisreg.scan(model, wt, doubles=doubles, yhat=True)
    n1, n2 = L * (A - 1), math.comb(L, 2) * (A - 1) ** 2
    assert len(df) == n1 + (n2 if doubles else 0)
    assert (df["n_mut"] == 1).sum() == n1
    seqs = [apply(wt, m) for m in df["mutations"]]
    assert len(set(seqs)) == len(seqs) and wt not in seqs
    det = model.x_to_details(seqs)
    wdet = model.x_to_details([wt])
    phi_wt = model.x_to_phi([wt])[0]
    assert df.attrs["phi_wt"] == pytest.approx(phi_wt, abs=1e-12)
    np.testing.assert_allclose(df["phi"], model.x_to_phi(seqs), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(df["dphi"], det["phi"] - phi_wt, rtol=1e-9, atol=1e-12)
    for s in model.spec.sites:
        np.testing.assert_allclose(df[f"ddG_{s.name}"], det["dG"][s.name] - wdet["dG"][s.name].iloc[0],
                                   rtol=1e-9, atol=1e-10)
        assert df.attrs["dG_wt"][s.name] == pytest.approx(wdet["dG"][s.name].iloc[0])
    for k in model.state_names:
        np.testing.assert_allclose(df[f"p_{k}"], det["state_probs"][k], rtol=1e-9, atol=1e-12)
    for col, v in model.spec.measurement.prediction_columns(model, det["phi"]).items():
        np.testing.assert_allclose(df[col], v, rtol=1e-9, atol=1e-12)
    # the name columns say the same as the names
    one = df[df["n_mut"] == 1]
    assert (one["wt_1"].astype(str) + one["pos_1"].astype(str) + one["mut_1"].astype(str)).tolist() == \
        one["mutations"].tolist()
    if doubles:
        two = df[df["n_mut"] == 2]
        rebuilt = (two["wt_1"].astype(str) + two["pos_1"].astype(str) + two["mut_1"].astype(str) + "," +
                   two["wt_2"].astype(str) + two["pos_2"].astype(str) + two["mut_2"].astype(str))
        assert rebuilt.tolist() == two["mutations"].tolist()
        assert (two["pos_1"].to_numpy() < two["pos_2"].to_numpy(dtype=np.int64)).all()
        assert one["pos_2"].isna().all() and one["epistasis"].isna().all()


def test_epistasis_is_double_minus_singles():
    model = make_model("lac")
    wt = random_wt(model, 1)
    df = cisreg.scan(model, wt, doubles=True)
    assert len(df) == 75 * 3 + math.comb(75, 2) * 9 == 25200
    single = dict(zip(df.loc[df["n_mut"] == 1, "mutations"], df.loc[df["n_mut"] == 1, "dphi"]))
    two = df[df["n_mut"] == 2].sample(500, random_state=0)
    for names, dphi, epi in zip(two["mutations"], two["dphi"], two["epistasis"]):
        a, b = names.split(",")
        assert epi == pytest.approx(dphi - single[a] - single[b], abs=1e-12)
    # mutations in different energy-free regions of a two-site model: ddG adds up exactly
    crp_rnap = two[(two["pos_1"] <= 27) & (two["pos_2"] >= 36)]
    s1 = df[df["n_mut"] == 1].set_index("mutations")
    for names, d_crp in zip(crp_rnap["mutations"], crp_rnap["ddG_CRP"]):
        a, b = names.split(",")
        assert d_crp == pytest.approx(s1.loc[a, "ddG_CRP"] + s1.loc[b, "ddG_CRP"], abs=1e-10)


def test_scan_order_and_default_columns():
    model = make_model("lac")
    wt = random_wt(model)
    df = cisreg.scan(model, wt)
    assert list(df.columns) == ["mutations", "n_mut", "pos_1", "wt_1", "mut_1", "phi", "dphi", "ddG_CRP",
                                "ddG_RNAP", "p_free", "p_CRP", "p_RNAP", "p_CRP+RNAP"]  # sort-seq: no ybar
    assert df["mutations"].iloc[:3].tolist() == [f"{wt[0]}1{c}" for c in "ACGT" if c != wt[0]]
    assert df["pos_1"].is_monotonic_increasing
    assert "yhat" in cisreg.scan(make_model("sliding-pairwise"), random_wt(make_model("sliding-pairwise")))
    assert "ybar" not in cisreg.scan(make_model("kinetic-ka"), "A" * 20, yhat=False)
    assert df.attrs["wt"] == wt


def test_lowercase_wt_and_float32():
    model = make_model("lac")
    wt = random_wt(model)
    a = cisreg.scan(model, wt)
    b = cisreg.scan(model, wt.lower())
    pd.testing.assert_frame_equal(a, b)
    c = cisreg.scan(model, wt, dtype="float32")
    np.testing.assert_allclose(c["phi"], a["phi"], atol=1e-5)


@pytest.mark.parametrize("wt,match", [
    ("ACGT", "length 4, but the model expects sequences of length 75"),
    ("A" * 74 + "N", "letter 'N' at position 75"),
    ("A" * 10 + "U" + "A" * 64, "letter 'U' at position 11"),
    (None, "must be a string"),
    (["A" * 75], "must be a string"),
])
def test_scan_rejects_bad_wt(wt, match):
    with pytest.raises(InputError, match=match):
        cisreg.scan(make_model("lac"), wt)


def test_protein_wt_checked_against_its_alphabet():
    model = make_model("fold-bind")
    with pytest.raises(InputError, match="alphabet ACDEFGHIKLMNPQRSTVWY"):
        cisreg.scan(model, "ACDEFGHIB")
    df = cisreg.scan(model, "ACDEFGHIK", doubles=True)
    assert len(df) == 9 * 19 + 36 * 361


# ------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan") / "model"
    make_model("sliding-pairwise").save(d)
    return d


def test_cli_scan_writes_the_api_table(model_dir, tmp_path, capsys):
    model = cisreg.load(model_dir)
    wt = random_wt(model)
    out = tmp_path / "scan.csv"
    assert main(["scan", str(model_dir), "--wt", wt, "--doubles", "--out", str(out), "--threads", "1"]) == 0
    assert "wrote 54 single and 1,377 double mutants" in capsys.readouterr().out
    got = pd.read_csv(out)
    want = cisreg.scan(model, wt, doubles=True)
    assert list(got.columns) == list(want.columns)
    assert got["mutations"].tolist() == want["mutations"].tolist()
    np.testing.assert_allclose(got["dphi"], want["dphi"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(got["epistasis"], want["epistasis"], rtol=1e-6, atol=1e-10)
    assert [p.name for p in tmp_path.iterdir()] == ["scan.csv"]  # no temporary file left


def test_cli_scan_gzip_and_tsv(model_dir, tmp_path):
    wt = random_wt(cisreg.load(model_dir))
    for name, sep in (("s.tsv", "\t"), ("s.csv.gz", ",")):
        assert main(["scan", str(model_dir), "--wt", wt, "--out", str(tmp_path / name)]) == 0
        assert len(pd.read_csv(tmp_path / name, sep=sep)) == 18 * 3


def test_cli_scan_errors(model_dir, tmp_path, capsys, monkeypatch):
    wt = random_wt(cisreg.load(model_dir))
    assert main(["scan", str(model_dir), "--wt", wt[:-1], "--out", str(tmp_path / "a.csv")]) == 2
    assert "wt: the wild type has length 17" in capsys.readouterr().err
    assert main(["scan", str(model_dir), "--wt", wt, "--out", str(tmp_path / "a.xlsx")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
    assert main(["scan", str(model_dir), "--wt", wt, "--out", str(tmp_path / "no" / "a.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "pyarrow" else real(n, *a))
    assert main(["scan", str(model_dir), "--wt", wt, "--out", str(tmp_path / "a.parquet")]) == 2
    assert "needs the pyarrow package" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_scan_parquet(model_dir, tmp_path):
    pytest.importorskip("pyarrow")
    wt = random_wt(cisreg.load(model_dir))
    out = tmp_path / "s.parquet"
    assert main(["scan", str(model_dir), "--wt", wt, "--doubles", "--out", str(out)]) == 0
    got = pd.read_parquet(out)
    want = cisreg.scan(cisreg.load(model_dir), wt, doubles=True)
    np.testing.assert_allclose(got["phi"], want["phi"])
    assert got["mutations"].tolist() == want["mutations"].tolist()


def test_subcommands_are_listed_and_run_as_a_process(model_dir, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONWARNINGS="ignore")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "cisreg", *map(str, args)], capture_output=True, text=True,
                              timeout=300, env=env)

    r = run("--help")
    assert r.returncode == 0 and "scan" in r.stdout and "design" in r.stdout
    wt = random_wt(cisreg.load(model_dir))
    r = run("scan", model_dir, "--wt", wt, "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    r = run("design", model_dir, "--wt", wt, "--target", "min", "--n", "3", "--out", tmp_path / "d.csv")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "d.csv")) == 3
    r = run("scan", model_dir, "--wt", "ACGT", "--out", tmp_path / "x.csv")
    assert r.returncode == 2 and r.stderr.startswith("cisreg: error: wt: the wild type has length 4")
