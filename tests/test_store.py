"""Stores: round trips, streaming convert (CSV/TSV gz, Parquet, FASTA), duplicates, fits and
streaming predictions on memory-mapped data, broken stores."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.cli import main
from cisreg.data import read_table
from cisreg.data.store import convert, open_store, predict_csv, save_store
from cisreg.errors import DataWarning, InputError

L = 16
SPEC = {"alphabet": "ACGT", "length": L, "sites": [{"name": "A", "start": 2, "width": 8}],
        "thermodynamic": {"states": [{"name": "free", "bound": []}, {"name": "A", "bound": ["A"], "activity": 1}]},
        "measurement": {"type": "sortseq", "bins": 3, "hidden": 4}}


def frame(n: int = 600, dups: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seqs = ["".join(s) for s in rng.choice(list("ACGT"), (n, L))]
    if dups:
        seqs[5], seqs[n - 1], seqs[n // 2] = seqs[1], seqs[1].lower(), seqs[7]
    df = pd.DataFrame({"x": seqs, **{f"ct_{i}": rng.integers(0, 4, n) + (i == 0) for i in range(3)}})
    df["tag"] = [f"t{i}" for i in range(n)]
    df["w"] = rng.normal(size=n)
    return df


def same(a: cisreg.Dataset, b: cisreg.Dataset) -> None:
    np.testing.assert_array_equal(np.asarray(a.codes), b.codes)
    np.testing.assert_array_equal(np.asarray(a.split), b.split)
    for k in ("counts", "y", "dy"):
        u, v = getattr(a, k), getattr(b, k)
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_array_equal(np.asarray(u, dtype=np.float64), v)
    assert list(a.extra) == list(b.extra)
    for k in a.extra:
        u, v = np.asarray(a.extra[k]), np.asarray(b.extra[k])
        if v.dtype.kind == "f":
            np.testing.assert_array_equal(u.astype(np.float64), v)
        else:
            assert u.astype(str).tolist() == v.astype(str).tolist()
    assert list(a.x[:3]) == list(b.x[:3])


def test_round_trip_and_memmap(tmp_path: Path) -> None:
    with pytest.warns(DataWarning):
        ds = cisreg.from_dataframe(frame())
    save_store(ds, tmp_path / "s")
    st = open_store(tmp_path / "s", verify=True)
    assert isinstance(st.codes, np.memmap) and st.counts.dtype == np.float32
    same(st, ds)
    assert st.kind == "sortseq" and st.n == ds.n
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["format"] == "cisreg-store" and meta["n"] == ds.n and len(meta["arrays"]["codes"]["sha256"]) == 64
    sub = st.subset([0, 2])
    np.testing.assert_array_equal(sub.codes, ds.codes[[0, 2]])
    inmem = open_store(tmp_path / "s", mmap=False)
    assert not isinstance(inmem.codes, np.memmap)
    same(inmem, ds)


@pytest.mark.parametrize("name", ["d.csv.gz", "d.tsv", "d.parquet"])
def test_convert_equals_read_table_with_duplicates(tmp_path: Path, name: str) -> None:
    df = frame()
    p = tmp_path / name
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
        df.to_parquet(p)
    else:
        df.to_csv(p, sep="\t" if ".tsv" in name else ",", index=False)
    with pytest.warns(DataWarning, match="aggregated 3 duplicate rows"):
        ref = read_table(p)
    with pytest.warns(DataWarning, match="aggregated 3 duplicate rows into 597"):
        convert(p, tmp_path / "s", chunk_rows=128)  # duplicates across chunks
    same(open_store(tmp_path / "s"), ref)


def test_convert_fasta_and_no_aggregate(tmp_path: Path) -> None:
    df = frame(50)
    fa = tmp_path / "s.fa.gz"
    fa.write_bytes(gzip.compress("".join(f">s{i}\n{x}\n" for i, x in enumerate(df["x"])).encode()))
    with pytest.warns(DataWarning):
        convert(fa, tmp_path / "st", chunk_rows=16)
    st = open_store(tmp_path / "st")
    assert st.kind == "table" and st.n == 47 and st.extra["id"][1] == "s1"
    convert(fa, tmp_path / "all", chunk_rows=16, aggregate=False)
    assert open_store(tmp_path / "all").n == 50


def test_convert_errors_name_absolute_rows(tmp_path: Path) -> None:
    df = frame(300, dups=False)
    df.loc[250, "ct_1"] = -1
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match=r"row 250, column 'ct_1': the count is negative"):
        convert(p, tmp_path / "s", chunk_rows=100)
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob("s.tmp*"))
    df = frame(300, dups=False)
    df.loc[299, "x"] = "ACGT"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match=r"row 299.*length 4"):
        convert(p, tmp_path / "s", chunk_rows=100)


def test_fit_on_store_equals_fit_in_memory(tmp_path: Path) -> None:
    with pytest.warns(DataWarning):
        ds = cisreg.from_dataframe(frame())
    save_store(ds, tmp_path / "s")
    st = open_store(tmp_path / "s")
    a = cisreg.fit(ds, SPEC, epochs=3, quiet=True, seed=3, checkpoint_every=1, checkpoint_dir=tmp_path / "c1")
    b = cisreg.fit(st, SPEC, epochs=3, quiet=True, seed=3)
    np.testing.assert_array_equal(a.model.theta, b.model.theta)
    assert st.codes.flags.writeable is False  # used in place, never copied into a writable array
    ma, mb = cisreg.evaluate(a.model, ds), cisreg.evaluate(b.model, st)
    assert ma["test"]["nll_per_read_nats"] == pytest.approx(mb["test"]["nll_per_read_nats"], rel=1e-12)


def test_metrics_subsample_large_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cisreg.training import evaluate as E

    with pytest.warns(DataWarning):
        ds = cisreg.from_dataframe(frame())
    m = cisreg.Model(SPEC)
    monkeypatch.setattr(E, "METRICS_MAX_ROWS", 100)
    out = E.evaluate(m, ds)
    assert out["training"]["metrics_rows"] < out["training"]["sequences"]
    assert "evenly spaced" in out["training"]["notes"][0]


def test_streaming_predict_equals_in_memory(tmp_path: Path) -> None:
    df = frame(300)
    p = tmp_path / "d.csv.gz"
    df.to_csv(p, index=False)
    m = cisreg.Model(SPEC, seed=2)
    m.save(tmp_path / "m")
    n, cols = predict_csv(m, p, tmp_path / "a.csv", chunk_rows=64)
    assert n == 300 and cols == ["x", "phi", "ybar"]
    got = pd.read_csv(tmp_path / "a.csv")
    phi = m.x_to_phi(df["x"].str.upper().tolist())
    want = pd.DataFrame({"x": df["x"].str.upper(), "phi": phi, "ybar": m.phi_to_yhat(phi)})
    assert (tmp_path / "a.csv").read_text() == want.to_csv(index=False, float_format="%.10g")
    assert list(got["x"]) == list(want["x"])
    with pytest.warns(DataWarning):
        convert(p, tmp_path / "s", chunk_rows=64)
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "s"), "--out", str(tmp_path / "b.csv")]) == 0
    b = pd.read_csv(tmp_path / "b.csv")
    assert len(b) == 297 and not list(tmp_path.glob(".*.tmp"))


def test_predict_formats_hold_the_same_predictions(tmp_path: Path) -> None:
    """cisreg predict by the output's ending: CSV/TSV (gzipped too) and Parquet with the
    sequences, .npy without them; every format holds the same numbers, in input order, and
    nothing temporary is left behind."""
    pytest.importorskip("pyarrow")
    df = frame(300, dups=False)
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    m = cisreg.Model(SPEC, seed=2)
    m.save(tmp_path / "m")
    phi = m.x_to_phi(df["x"].str.upper().tolist())
    ybar = m.phi_to_yhat(phi)
    for out in ("p.csv", "p.tsv.gz", "p.parquet", "p.npy", "p.txt"):
        assert main(["predict", str(tmp_path / "m"), str(p), "--out", str(tmp_path / out)]) == 0
        f = tmp_path / out
        if out.endswith(".npy"):
            a = np.load(f, allow_pickle=False)
            assert a.dtype.names == ("phi", "ybar") and len(a) == 300
            np.testing.assert_array_equal(a["phi"], phi)
            np.testing.assert_array_equal(a["ybar"], ybar)
            continue
        got = pd.read_parquet(f) if out.endswith(".parquet") else pd.read_csv(
            f, sep="\t" if ".tsv" in out else ",")
        assert list(got.columns) == ["x", "phi", "ybar"] and list(got["x"]) == list(df["x"].str.upper())
        np.testing.assert_allclose(got["phi"], phi, rtol=1e-9)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_convert_and_fit_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "d.csv"
    frame(300, dups=False).to_csv(p, index=False)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    assert main(["convert", str(p), "--out", str(tmp_path / "s"), "--verify", "--chunk-rows", "100"]) == 0
    assert "300 sequences" in capsys.readouterr().out
    assert main(["fit", str(tmp_path / "s"), "--model", str(tmp_path / "spec.json"), "--out", str(tmp_path / "m"),
                 "--epochs", "2", "--quiet"]) == 0
    assert (tmp_path / "m" / "report.json").is_file()


def test_broken_stores(tmp_path: Path) -> None:
    ds = cisreg.from_dataframe(frame(100, dups=False))
    s = save_store(ds, tmp_path / "s")
    codes = s / "codes.npy"
    raw = codes.read_bytes()
    codes.write_bytes(raw[:-50])
    with pytest.raises(InputError, match=r"codes.npy .*(truncated|holds).*convert the data again") as e:
        open_store(s)
    assert "\n" not in str(e.value)
    codes.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    open_store(s, verify=False)  # a flipped byte is only seen by reading the data
    with pytest.raises(InputError, match="SHA-256"):
        open_store(s)
    (s / "meta.json").write_text("{not json")
    with pytest.raises(InputError, match=r"meta\.json is unreadable"):
        open_store(s)
    (s / "meta.json").unlink()
    with pytest.raises(InputError, match=r"no meta\.json"):
        open_store(s)
    with pytest.raises(InputError, match="not a directory"):
        open_store(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "f").write_text("x")
    with pytest.raises(InputError, match="not a cisreg store"):
        save_store(ds, tmp_path / "other")


def test_save_store_from_parts_aggregates_across_parts(tmp_path: Path) -> None:
    df = frame(200, dups=False)
    parts = [cisreg.from_dataframe(df.iloc[:120].assign(set="training")),
             cisreg.from_dataframe(pd.concat([df.iloc[100:200], df.iloc[:3]])
                                   .assign(set=["training"] + ["validation"] * 102))]
    with pytest.warns(DataWarning, match="aggregated 23 duplicate rows into 200"):
        save_store(parts, tmp_path / "s")
    st = open_store(tmp_path / "s")
    assert st.n == 200
    np.testing.assert_array_equal(st.counts[:3], parts[0].counts[:3] + parts[1].counts[-3:])
    np.testing.assert_array_equal(st.split[:120], 0)
    np.testing.assert_array_equal(st.split[120:], 1)


def test_dataparallel_opens_store(tmp_path: Path) -> None:
    from cisreg.scaleout.dataparallel import _load_partition

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = cisreg.from_dataframe(frame())
    save_store(ds, tmp_path / "s")
    part = _load_partition(str(tmp_path / "s"), 0, {})
    same(part, ds)


def test_large_integer_columns_summed_and_kept_float64(tmp_path: Path) -> None:
    df = frame(200)
    df["big"] = np.arange(200) + 2**30  # integers beyond float32's exact range
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    with pytest.warns(DataWarning):
        ref = read_table(p)
    with pytest.warns(DataWarning):
        convert(p, tmp_path / "s", chunk_rows=64)
    st = open_store(tmp_path / "s")
    assert st.extra["big"].dtype == np.float64
    same(st, ref)


def _store(tmp_path: Path, name: str = "s") -> Path:
    ds = cisreg.from_dataframe(frame(100, dups=False))
    return save_store(ds, tmp_path / name)


def _write_meta(s: Path, meta: dict[str, object]) -> None:
    """A forged meta.json: its own checksum updated as well (a deliberate edit, not damage)."""
    from cisreg.data.store import _meta_hash

    meta["meta_sha256"] = _meta_hash(meta)
    (s / "meta.json").write_text(json.dumps(meta))


def test_a_changed_byte_of_meta_json_is_refused(tmp_path: Path) -> None:
    s = _store(tmp_path)
    text = (s / "meta.json").read_text()
    (s / "meta.json").write_text(text.replace('"alphabet": "ACGT"', '"alphabet": "ACGU"'))
    with pytest.raises(InputError, match="meta.json does not match its own SHA-256"):
        open_store(s)


def _rewrite(s: Path, name: str, fn: object) -> None:
    """Change the array in s/name in place (a valid .npy, a stale SHA-256 in meta.json)."""
    a = np.load(s / name, allow_pickle=False)
    fn(a)  # type: ignore[operator]
    np.save(s / name, a, allow_pickle=False)


@pytest.mark.parametrize(("name", "change", "match"), [
    ("counts.npy", lambda a: a.__setitem__((3, 1), a[3, 1] + 1), "SHA-256"),  # rewritten: stale checksum
    ("counts.npy", lambda a: a.__setitem__((3, 1), -1.0), r"counts row 3, column 1 .*whole, non-negative"),
    ("counts.npy", lambda a: a.__setitem__((5, 0), 0.5), r"counts row 5, column 0 .*whole"),
    ("counts.npy", lambda a: a.__setitem__((7, 0), np.nan), r"counts row 7"),
    ("split.npy", lambda a: a.__setitem__(4, 7), r"split row 4 .*split code"),
])
def test_tampered_arrays_are_refused_on_open(tmp_path: Path, name: str, change: object, match: str) -> None:
    """What the CSV reader refuses, a store refuses too, with the row: values are checked as
    the checksums are, when the store is opened (the checksum is updated here, so that only
    the value rule can catch the change)."""
    import hashlib

    s = _store(tmp_path)
    _rewrite(s, name, change)
    if "SHA" not in match:  # a forged checksum: the value rules must still hold
        meta = json.loads((s / "meta.json").read_text())
        key = name.removesuffix(".npy")
        a = np.load(s / name, allow_pickle=False)
        meta["arrays"][key]["sha256"] = hashlib.sha256(np.ascontiguousarray(a).data.cast("B")).hexdigest()
        _write_meta(s, meta)
    with pytest.raises(InputError, match=match) as e:
        open_store(s)
    assert "\n" not in str(e.value) and "convert the data again" in str(e.value)


def test_store_files_stay_inside_the_store(tmp_path: Path) -> None:
    """meta.json names plain files of the store: a path out of it, an absolute path or a
    symbolic link (even to a valid copy of the array) is refused before anything is read."""
    import shutil

    s = _store(tmp_path)
    outside = tmp_path / "elsewhere.npy"
    shutil.copy(s / "codes.npy", outside)
    meta0 = json.loads((s / "meta.json").read_text())
    for bad in ("../elsewhere.npy", str(outside), "sub/codes.npy", "", 5):
        meta = json.loads(json.dumps(meta0))
        meta["arrays"]["codes"]["file"] = bad
        _write_meta(s, meta)
        with pytest.raises(InputError, match="plain names"):
            open_store(s)
    (s / "meta.json").write_text(json.dumps(meta0))
    (s / "codes.npy").unlink()
    (s / "codes.npy").symlink_to(outside)
    with pytest.raises(InputError, match="symbolic link"):
        open_store(s)
    with pytest.raises(InputError, match="symbolic link"):
        open_store(s, verify=False)


def test_cli_fit_refuses_a_tampered_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = _store(tmp_path)
    _rewrite(s, "counts.npy", lambda a: a.__setitem__((0, 0), a[0, 0] + 2))
    assert main(["fit", str(s), "--model", "lac", "--out", str(tmp_path / "m"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and str(s) in err


def test_tables_and_stores_aggregate_by_one_set_of_rules(tmp_path: Path) -> None:
    """Duplicate sequences: a table and a store of the same rows give the values of an
    independent pandas reference (counts and whole-number columns summed, y averaged, dy the
    error of the mean, other numbers averaged over non-NaN values, text the first)."""
    rng = np.random.default_rng(5)
    n = 400
    pool = ["".join(rng.choice(list("ACGT"), 12)) for _ in range(60)]
    df = pd.DataFrame({
        "x": rng.choice(pool, n), "y": rng.normal(size=n), "dy": rng.uniform(0.1, 1.0, n),
        "reads": rng.integers(0, 50, n).astype(float),
        "score": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "tag": [f"t{i}" for i in range(n)], "set": rng.choice(["training", "validation", "test"], n),
    })
    g = df.groupby("x", sort=False)
    want = pd.DataFrame({
        "y": g["y"].mean(), "dy": np.sqrt(g["dy"].apply(lambda v: (v * v).sum())) / g.size(),
        "reads": g["reads"].sum(), "score": g["score"].mean(), "tag": g["tag"].first(),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        table = cisreg.from_dataframe(df)
        store = open_store(save_store(table_parts(df), tmp_path / "s.store"))
    for got in (table, store):
        order = pd.Index(want.index).get_indexer(list(got.x))
        assert (order >= 0).all() and len(got.x) == len(want)
        np.testing.assert_allclose(got.y, want["y"].to_numpy()[order], rtol=1e-12)
        np.testing.assert_allclose(got.dy, want["dy"].to_numpy()[order], rtol=1e-12)
        np.testing.assert_array_equal(got.extra["reads"], want["reads"].to_numpy()[order])
        np.testing.assert_allclose(got.extra["score"], want["score"].to_numpy()[order], rtol=1e-12)
        assert list(got.extra["tag"]) == list(want["tag"].to_numpy()[order])
    np.testing.assert_array_equal(table.y, store.y)
    np.testing.assert_array_equal(table.extra["score"], store.extra["score"])


def table_parts(df: pd.DataFrame) -> list[cisreg.Dataset]:
    """The rows of df as three Datasets read without aggregation (a store sums across parts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return [cisreg.from_dataframe(df.iloc[i : i + 150], aggregate=False) for i in range(0, len(df), 150)]


def test_convert_refuses_a_row_with_more_fields_than_the_header(tmp_path: Path) -> None:
    """As read_table does (the parser would drop the extra fields silently)."""
    src = tmp_path / "t.csv"
    src.write_text("x,y\nACGTACGT,1\nACGTACGA,2\nACGTACGC,1,7\nACGTACCC,3\n")
    with pytest.raises(InputError, match="line 4 of the file has more fields than the header") as e:
        convert(src, tmp_path / "s.store")
    assert e.value.row == 2
    assert not (tmp_path / "s.store").exists()
    src.write_text("x,y\nACGTACGT,1\nACGTACGA,2\nACGTACGC,1\n")
    assert open_store(convert(src, tmp_path / "s.store")).n == 3
