"""Variant-effect scans: every mutant's values equal a direct prediction of its sequence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from variantmodels import MODELS, apply, make_model, random_wt

import cisreg
from cisreg.errors import InputError


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
