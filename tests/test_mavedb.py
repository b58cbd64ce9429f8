"""MaveDB score sets in and out: HGVS variants -> sequences -> fit -> scan --format mavedb ->
HGVS names that parse with mavehgvs and name the sequences that were scored."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.data.mavedb import variant_sequences
from cisreg.errors import DataWarning, InputError

mavehgvs = pytest.importorskip("mavehgvs")

AA = "ACDEFGHIKLMNPQRSTVWY"
THREE = dict(zip(AA, ["Ala", "Cys", "Asp", "Glu", "Phe", "Gly", "His", "Ile", "Lys", "Leu", "Met", "Asn", "Pro",
                      "Gln", "Arg", "Ser", "Thr", "Val", "Trp", "Tyr"]))
L = 12
SPEC = {"name": "binder", "alphabet": "protein", "length": L, "sites": [{"name": "B", "start": 0, "width": L}],
        "thermodynamic": {"states": [{"name": "free", "bound": []}, {"name": "B", "bound": ["B"], "activity": 1}]},
        "measurement": {"type": "ge", "hidden": 3}}


def _score_set(rng, truth, target):
    """Every single mutant, 1,500 random double mutants, the wild type (_wt, p.=) and a synonymous
    row, named in HGVS by hand; scores from the truth plus noise."""
    names, seqs = [], []
    for p in range(L):
        for a in AA:
            if a != target[p]:
                names.append(f"p.{THREE[target[p]]}{p + 1}{THREE[a]}")
                seqs.append(target[:p] + a + target[p + 1:])
    for _ in range(1500):
        p, q = sorted(rng.choice(L, 2, replace=False))
        a, b = rng.choice([c for c in AA if c != target[p]]), rng.choice([c for c in AA if c != target[q]])
        names.append(f"p.[{THREE[target[p]]}{p + 1}{THREE[a]};{THREE[target[q]]}{q + 1}{THREE[b]}]")
        s = list(target)
        s[p], s[q] = a, b
        seqs.append("".join(s))
    names += ["_wt", "p.=", "_sy"]
    seqs += [target] * 3
    codes = cisreg.encode(seqs, alphabet="protein")
    score = truth.x_to_phi(codes) + rng.normal(0, 0.02, len(seqs))
    df = pd.DataFrame({"accession": [f"urn:mavedb:00000001-a-1#{i}" for i in range(len(names))],
                       "hgvs_nt": pd.NA, "hgvs_pro": names, "score": score})
    return df, seqs


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(11)
    target = "".join(rng.choice(list(AA), L))
    truth = cisreg.Model(SPEC, seed=2)
    e = rng.normal(0.0, 1.0, (L, 20))
    e[np.arange(L), [AA.index(c) for c in target]] = -1.5  # the target binds well
    truth.layout.view(truth.theta, "E.B")[...] = e
    truth.layout.view(truth.theta, "eps.B")[...] = 1.5 * L - 1.0  # the target: dG = -1 kT, bound 73% of the time
    df, seqs = _score_set(rng, truth, target)
    return target, truth, df, seqs


def test_hgvs_variants_become_their_sequences_and_a_fit_recovers_the_energies(world):
    target, truth, df, seqs = world
    with pytest.warns(DataWarning, match="aggregated"):  # three rows name the target itself
        data = cisreg.read_mavedb(df, target)
    assert data.alphabet == AA
    assert data.n == len(set(seqs)) and sorted(data.x) == sorted(set(seqs))
    wt = list(data.x).index(target)
    assert data.y[wt] == pytest.approx(df["score"].iloc[-3:].mean())  # their scores averaged
    res = cisreg.fit(data, SPEC, epochs=150, patience=30, batch_size=200, learning_rate=0.02, seed=0, quiet=True,
                     dtype="float64")
    e = [m.get_theta(gauge="uniform")["energies"]["B"].to_numpy().ravel() for m in (truth, res.model)]
    assert np.corrcoef(*e)[0, 1] > 0.95


def test_bad_variants_and_a_wrong_target_are_one_line_errors_naming_the_row(world):
    target, _, df, _ = world
    bad = df.copy()
    bad.loc[5, "hgvs_pro"] = "p.Ala2Xyz"
    with pytest.raises(InputError, match=r"row 5, column 'hgvs_pro'.*not a valid MAVE-HGVS variant"):
        cisreg.read_mavedb(bad, target)
    wrong = ("A" if target[0] != "A" else "C") + target[1:]  # the first residue differs from the score set's
    with pytest.raises(InputError, match=r"row 0, column 'hgvs_pro'.*says position 1 is") as e:
        cisreg.read_mavedb(df, wrong)
    assert "\n" not in str(e.value)
    for s in ("p.Ala2del", "p.Ala2Ter", "c.2A>G"):
        with pytest.raises(InputError):
            variant_sequences([s], "MAKG", "protein")
    assert variant_sequences(["n.[1A>G;4T>C]", "_wt"], "ACGT", "dna") == ["GCGC", "ACGT"]


def test_round_trip_through_the_command_line(world, tmp_path):
    target, _, df, _ = world
    df.to_csv(tmp_path / "scores.csv", index=False)
    (tmp_path / "model.json").write_text(json.dumps(SPEC))
    (tmp_path / "target.fasta").write_text(f">target\n{target[:6]}\n{target[6:]}\n")
    cli = [sys.executable, "-m", "cisreg"]
    p = subprocess.run(cli + ["fit", str(tmp_path / "scores.csv"), "--model", str(tmp_path / "model.json"),
                              "--target", str(tmp_path / "target.fasta"), "--out", str(tmp_path / "fit"),
                              "--epochs", "150", "--patience", "30", "--batch-size", "200", "--learning-rate",
                              "0.02", "--threads", "1"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(cli + ["scan", str(tmp_path / "fit"), "--wt", target, "--doubles", "--format", "mavedb",
                              "--out", str(tmp_path / "pred.csv")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["hgvs_pro", "score", "phi", "dphi"]
    assert len(pred) == L * 19 + (L * (L - 1) // 2) * 19 ** 2
    for s in pred["hgvs_pro"].iloc[:: 97]:
        assert mavehgvs.Variant(s).prefix == "p"  # MaveDB's parser accepts every name
    seqs = variant_sequences(pred["hgvs_pro"].tolist(), target, "protein")
    model = cisreg.load(tmp_path / "fit")
    phi = model.x_to_phi(cisreg.encode(seqs, alphabet="protein"))
    np.testing.assert_allclose(phi, pred["phi"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.phi_to_yhat(pred["phi"].to_numpy()), pred["score"], rtol=1e-6, atol=1e-9)
    # a bad variant on the command line: exit 2, one line naming the file, row and column
    bad = df.copy()
    bad.loc[3, "hgvs_pro"] = "p.Foo1Bar"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    p = subprocess.run(cli + ["fit", str(tmp_path / "bad.csv"), "--model", str(tmp_path / "model.json"),
                              "--target", target, "--out", str(tmp_path / "fit2")], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "bad.csv, row 3, column 'hgvs_pro'" in p.stderr
