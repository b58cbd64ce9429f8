"""Readers: Parquet, FASTA (+ a table joined by id), MPRA barcode tables, gzip detection,
corrupt and truncated files (always a one-line InputError)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.data import read_barcodes, read_fasta, read_table
from cisreg.errors import DataWarning, InputError

pytest.importorskip("pyarrow")

SEQS = ["ACGTAC", "AAAAAA", "CCCCCC", "GGGGGG", "TTTTTT", "ACACAC"]


def sortseq_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": SEQS, "ct_0": [1, 2, 3, 4, 5, 6], "ct_1": [6, 5, 4, 3, 2, 1],
                         "gene": list("abcdef"), "score": [0.5, 1, 2, 3, 4, 5.5]})


def one_line(e: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.mark.parametrize("name", ["d.parquet", "d.pq", "d.parquet.gz"])
def test_parquet(tmp_path: Path, name: str) -> None:
    df = sortseq_frame()
    p = tmp_path / name
    df.to_parquet(tmp_path / "plain.parquet")
    data = (tmp_path / "plain.parquet").read_bytes()
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    ds = read_table(p)
    ref = read_table(_csv(tmp_path, df))
    assert ds.kind == "sortseq"
    np.testing.assert_array_equal(ds.codes, ref.codes)
    np.testing.assert_array_equal(ds.counts, ref.counts)
    assert list(ds.extra) == ["gene", "score"]
    assert list(ds.extra["gene"]) == list("abcdef")
    np.testing.assert_array_equal(ds.split, ref.split)


def _csv(tmp_path: Path, df: pd.DataFrame, name: str = "d.csv") -> Path:
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def test_corrupt_and_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    sortseq_frame().to_parquet(good)
    raw = good.read_bytes()
    cases = {"trunc.parquet": raw[: len(raw) // 2], "junk.parquet": b"this is not parquet at all" * 10,
             "tail.parquet": raw[:-9] + b"PAR1", "gz.parquet": gzip.compress(raw)[:40]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=rf"{name}: .*(corrupt or truncated|Parquet)") as e:
            read_table(tmp_path / name)
        one_line(e)


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    p = tmp_path / "d.parquet"
    sortseq_frame().to_parquet(p)
    real = builtins.__import__

    def fake(name: str, *a: object, **k: object) -> object:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(InputError, match=r'pip install "cisreg\[parquet\]"'):
        read_table(p)


def test_truncated_and_corrupt_gzip_csv(tmp_path: Path) -> None:
    body = sortseq_frame().to_csv(index=False).encode() * 1
    full = gzip.compress(body * 200)
    (tmp_path / "t.csv.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match=r"t.csv.gz: .*corrupt or truncated") as e:
        read_table(tmp_path / "t.csv.gz")
    one_line(e)
    (tmp_path / "c.csv.gz").write_bytes(full[:10] + b"\x00" * 30 + full[40:])
    with pytest.raises(InputError, match=r"c\.csv\.gz") as e:
        read_table(tmp_path / "c.csv.gz")
    one_line(e)


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    p = tmp_path / "plain.csv"
    p.write_bytes(gzip.compress(sortseq_frame().to_csv(index=False).encode()))
    assert read_table(p).n == 6


FASTA = ">v0 first\nACG\nTAC\n>v1\nAAAAAA\n>v2\nCCCCCC\n>v3\nGGGGGG\n>v4\nTTTTTT\n>v5\nacacac\n"


@pytest.mark.parametrize("gz", [False, True])
def test_fasta_with_table(tmp_path: Path, gz: bool) -> None:
    fa = tmp_path / ("s.fa.gz" if gz else "s.fasta")
    fa.write_bytes(gzip.compress(FASTA.encode()) if gz else FASTA.encode())
    table = pd.DataFrame({"id": [f"v{i}" for i in (5, 0, 1, 2, 3, 4)], "dna_1": [1, 2, 3, 4, 5, 6],
                          "rna_1": [0, 1, 2, 3, 4, 5]})
    ds = read_fasta(fa, table)
    assert ds.x[0] == "ACACAC" and ds.x[1] == "ACGTAC"
    assert list(ds.extra["id"]) == list(table["id"])
    np.testing.assert_array_equal(ds.columns(["dna_1"])[:, 0], table["dna_1"])
    p = tmp_path / "t.csv"
    table.to_csv(p, index=False)
    ds2 = read_fasta(fa, p)
    np.testing.assert_array_equal(ds2.codes, ds.codes)
    only = read_table(fa)  # sequences only: kind "table" with the ids
    assert only.kind == "table" and only.n == 6 and list(only.extra["id"])[:2] == ["v0", "v1"]


def test_fasta_mismatched_ids(tmp_path: Path) -> None:
    fa = tmp_path / "s.fa"
    fa.write_text(FASTA)
    table = pd.DataFrame({"id": ["v0", "v1", "nope"], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"1 id\(s\) of the table are not in the FASTA file, e.g. 'nope'") as e:
        read_fasta(fa, table)
    one_line(e)
    with pytest.warns(DataWarning, match="3 FASTA record"):
        ds = read_fasta(fa, table.iloc[:2].assign(id=["v0", "v1"]).pipe(
            lambda d: pd.concat([d, pd.DataFrame({"id": ["v2"], "y": [3.0]})])))
    assert ds.kind == "continuous" and ds.n == 3


@pytest.mark.parametrize("text, match", [("ACGT\n>a\nAC\n", "first record does not start"),
                                         (">a\nACGT\n>a\nACGT\n", "'a' names two records"),
                                         (">\nACGT\n", "header has no id"), ("\n\n", "no records")])
def test_bad_fasta(tmp_path: Path, text: str, match: str) -> None:
    fa = tmp_path / "s.fa"
    fa.write_text(text)
    with pytest.raises(InputError, match=match) as e:
        read_fasta(fa)
    one_line(e)


def test_truncated_gzip_fasta(tmp_path: Path) -> None:
    fa = tmp_path / "s.fa.gz"
    full = gzip.compress((FASTA * 300).encode())
    fa.write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match="corrupt or truncated") as e:
        read_fasta(fa)
    one_line(e)


def barcode_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = pd.DataFrame({"barcode": ["b1", "b2", "b3", "b4", "b5", "b6"],
                           "dna_1": [10, 20, 5, 7, 1, 3], "rna_1": [11, 2, 5, 70, 0, 3],
                           "dna_2": [1, 2, 3, 4, 5, 6], "rna_2": [6, 5, 4, 3, 2, 1]})
    mapping = pd.DataFrame({"barcode": ["b1", "b2", "b3", "b4", "b5", "b6", "b1"],
                            "x": ["ACGT", "ACGT", "CCCC", "CCCC", "GGGG", "TTTT", "acgt"]})
    return counts, mapping


def test_read_barcodes_aggregate(tmp_path: Path) -> None:
    counts, mapping = barcode_tables()
    cp, mp = tmp_path / "counts.tsv.gz", tmp_path / "map.tsv"
    counts.to_csv(cp, sep="\t", index=False, compression="gzip")
    mapping.to_csv(mp, sep="\t", index=False)
    ds = cisreg.read_barcodes(cp, mp)
    assert ds.kind == "table" and ds.n == 4
    assert list(ds.x) == ["ACGT", "CCCC", "GGGG", "TTTT"]
    np.testing.assert_array_equal(ds.columns(["dna_1", "rna_1", "n_barcodes"])[0], [30, 13, 2])
    assert "barcode" not in ds.extra


def test_read_barcodes_per_barcode() -> None:
    counts, mapping = barcode_tables()
    ds = read_barcodes(counts, mapping, aggregate=False)
    assert ds.n == 6
    assert list(ds.extra["barcode"]) == list(counts["barcode"])
    assert ds.split[0] == ds.split[1] and ds.split[2] == ds.split[3]  # a variant's barcodes: one set
    d = read_barcodes(counts, dict(zip(mapping["barcode"][:6], mapping["x"][:6], strict=True)), aggregate=False)
    np.testing.assert_array_equal(d.codes, ds.codes)


def test_barcode_mapped_to_two_sequences() -> None:
    counts, mapping = barcode_tables()
    mapping.loc[6, "x"] = "TTTT"
    with pytest.raises(InputError, match="barcode 'b1' is mapped to 2 different sequences") as e:
        read_barcodes(counts, mapping)
    one_line(e)


def test_unmapped_barcodes() -> None:
    counts, mapping = barcode_tables()
    mapping = mapping[mapping["barcode"] != "b6"]
    with pytest.raises(InputError, match=r"1 barcode\(s\) of the counts table are not in the mapping, e.g. 'b6'"):
        read_barcodes(counts, mapping)
    with pytest.warns(DataWarning, match=r"dropped 1 of 6 barcodes \(13 reads\)"):
        ds = read_barcodes(counts, mapping, unmapped="drop")
    assert ds.n == 3


def test_duplicate_barcode_in_counts() -> None:
    counts, mapping = barcode_tables()
    counts.loc[1, "barcode"] = "b1"
    with pytest.raises(InputError, match=r"row 1, column 'barcode'.*'b1' appears more than once"):
        read_barcodes(counts, mapping)


@pytest.mark.parametrize(("row", "col", "value", "aggregate"), [
    (1, "rna_1", -3, True), (1, "rna_1", -3, False), (4, "dna_2", 2.5, True), (0, "dna_1", np.nan, True),
    (5, "rna_2", np.inf, False)])
def test_bad_barcode_counts_are_refused_before_summing(tmp_path: Path, row: int, col: str, value: float,
                                                       aggregate: bool) -> None:
    """A negative, fractional or missing count on one barcode is an error naming that barcode's
    file, row and column: never summed into its variant, never a reason to average a column."""
    counts, mapping = barcode_tables()
    counts[col] = counts[col].astype(float)
    counts.loc[row, col] = value
    p = tmp_path / "counts.csv"
    counts.to_csv(p, index=False)
    with pytest.raises(InputError, match=fr"row {row}, column '{col}'.*barcode 'b{row + 1}'.*whole, non-negative") \
            as e:
        read_barcodes(p, mapping, aggregate=aggregate)
    one_line(e)
    assert "counts.csv" in str(e.value)


def test_unknown_columns_kept_csv(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("x,y,batch,weird col\nAC,1,1,a\nGT,2,2,b\nTT,3,3,\n")
    ds = read_table(p)
    assert list(ds.extra) == ["batch", "weird col"]
    assert list(ds.extra["weird col"]) == ["a", "b", ""]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_tables_are_named_as_such(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes("x,y\nACGT,1\nAAGT,2\n".encode(encoding))
    with pytest.raises(InputError, match="UTF-16 or UTF-32 text, not UTF-8") as e:
        read_table(p)
    one_line(e)


@pytest.mark.parametrize(("col", "value"), [("dy", 1e200), ("y", -3e16)])
def test_measurements_beyond_the_float32_range_are_refused(col: str, value: float) -> None:
    df = pd.DataFrame({"x": ["ACGT", "AAGT", "ACCT"], "y": [1.0, 2.0, 3.0], "dy": [0.1, 0.2, 0.3]})
    df.loc[1, col] = value
    with pytest.raises(InputError, match=fr"row 1, column '{col}'.*beyond") as e:
        cisreg.from_dataframe(df)
    one_line(e)
