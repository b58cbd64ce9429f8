"""Dataset.extra, Dataset.columns, Dataset.dy, tables of kind "table" and aggregate=False."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.data import from_dataframe, read_table
from cisreg.errors import DataWarning, InputError


def mpra_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": ["ACGT", "AAAA", "acgt", "CCCC", "GGGG"],
        "dna_1": [10, 5, 3, 8, 1],
        "rna_1": [20, 1, 2, 9, 0],
        "score": [0.5, 1.5, 1.0, 2.0, 3.0],
        "name": ["a", "b", "c", "d", "e"],
        "set": ["training", "training", "test", "validation", "training"],
    })


def test_unknown_columns_kept_and_columns(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    mpra_frame().iloc[[0, 1, 3, 4]].to_csv(p, index=False)
    ds = read_table(p)
    assert ds.kind == "table"
    assert list(ds.extra) == ["dna_1", "rna_1", "score", "name"]
    assert ds.extra["dna_1"].dtype == np.float64
    assert ds.extra["name"].dtype == object and list(ds.extra["name"]) == ["a", "b", "d", "e"]
    t = ds.columns(["dna_1", "rna_1"])
    assert t.dtype == np.float64 and t.shape == (4, 2) and t.flags.c_contiguous
    np.testing.assert_array_equal(t[:, 1], [20, 1, 9, 0])
    assert "dna_1" in repr(ds)
    sub = ds.subset([3, 0])
    np.testing.assert_array_equal(sub.columns("dna_1")[:, 0], [1, 10])
    assert list(sub.extra["name"]) == ["e", "a"]


def test_columns_missing_names_lists_available() -> None:
    ds = from_dataframe(mpra_frame().iloc[[0, 1, 3, 4]])
    with pytest.raises(InputError, match=r"no column 'dna_2'.*available: \['dna_1', 'rna_1', 'score'\]"):
        ds.columns(["dna_1", "dna_2"])
    with pytest.raises(InputError, match="'name' are not numeric"):
        ds.columns(["name"])


def test_duplicates_aggregate_extra_columns() -> None:
    with pytest.warns(DataWarning, match="summed dna_1, rna_1; averaged score; kept the first name"):
        ds = from_dataframe(mpra_frame())
    assert ds.n == 4
    np.testing.assert_array_equal(ds.columns(["dna_1", "rna_1"])[0], [13, 22])
    assert ds.extra["score"][0] == pytest.approx(0.75)
    assert ds.extra["name"][0] == "a"


def test_aggregate_false_keeps_rows_and_split_by_sequence() -> None:
    df = mpra_frame().drop(columns="set")
    df = pd.concat([df] * 4, ignore_index=True)
    ds = from_dataframe(df, aggregate=False)
    assert ds.n == 20
    assert any("aggregate=False" in n for n in ds.notes)
    for seq in set(ds.x):
        assert len(set(ds.split[ds.x == seq])) == 1


def test_dy_column() -> None:
    df = pd.DataFrame({"x": ["AC", "GT", "ac", "TT"], "y": [1.0, 2.0, 3.0, 4.0], "dy": [0.3, 0.1, 0.4, 1.0]})
    with pytest.warns(DataWarning):
        ds = from_dataframe(df)
    assert ds.dy is not None and ds.dy.dtype == np.float64
    assert ds.dy[0] == pytest.approx(0.25)  # sqrt(0.09 + 0.16) / 2
    np.testing.assert_array_equal(ds.columns(["y", "dy"])[1], [2.0, 0.1])
    assert ds.subset([1]).dy.tolist() == [0.1]


@pytest.mark.parametrize("value, match", [("0", "must be > 0"), ("-1", "must be > 0"), ("nan", "missing"),
                                          ("inf", "infinite"), ("big", "not a number")])
def test_bad_dy(tmp_path: Path, value: str, match: str) -> None:
    p = tmp_path / "d.csv"
    p.write_text(f"x,y,dy\nAC,1,0.5\nGT,2,{value}\n")
    with pytest.raises(InputError, match=f"row 1, column 'dy'.*{match}"):
        read_table(p)


def test_dy_without_y() -> None:
    with pytest.raises(InputError, match="'dy' but no continuous column"):
        from_dataframe(pd.DataFrame({"x": ["AC", "GT"], "ct_0": [1, 2], "dy": [1, 1]}))


def test_counts_model_fits_table() -> None:
    rng = np.random.default_rng(0)
    L, n = 8, 400
    x = ["".join(rng.choice(list("ACGT"), L)) for _ in range(n)]
    dna = rng.integers(5, 50, n)
    rna = rng.poisson(dna * 1.0)
    df = pd.DataFrame({"x": x, "dna_1": dna, "rna_1": rna, "note": "z"})
    with pytest.warns(DataWarning) if len(set(x)) < n else _nothing():
        ds = from_dataframe(df)
    spec = {"alphabet": "ACGT", "length": L, "sites": [{"name": "TF", "start": 0, "width": L}],
            "thermodynamic": {"states": [{"name": "free", "bound": []},
                                         {"name": "TF", "bound": ["TF"], "activity": 1}]},
            "measurement": {"type": "counts", "input": ["dna_1"], "output": ["rna_1"]}}
    res = cisreg.fit(ds, spec, epochs=2, quiet=True)
    assert np.all(np.isfinite(res.model.theta))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def test_job_fingerprint_of_a_table_depends_on_its_columns() -> None:
    from cisreg.scaleout.jobs import Job

    a = from_dataframe(mpra_frame().iloc[[0, 1, 3, 4]])
    df = mpra_frame().iloc[[0, 1, 3, 4]].copy()
    df["rna_1"] = df["rna_1"] + 1
    b = from_dataframe(df)
    assert Job("a", a).fingerprint() != Job("a", b).fingerprint()
    assert Job("a", a).fingerprint() == Job("a", a.subset(np.arange(a.n))).fingerprint()
