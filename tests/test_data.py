"""Tests of cisreg.data: alphabets, encoding and table loading."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cisreg.data import (
    ALPHABETS,
    Dataset,
    decode,
    encode,
    example_path,
    from_dataframe,
    load_example,
    read_table,
    resolve_alphabet,
)
from cisreg.errors import DataWarning, InputError

# --------------------------------------------------------------------------
# helpers


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (gzipped when the name ends in .gz)."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


SORTSEQ = (
    "x,ct_0,ct_1,ct_2\n"
    "ACGT,1,0,2\n"
    "CCGT,0,3,0\n"
    "GCGT,4,1,1\n"
    "TCGT,0,0,5\n"
    "AAGT,2,2,2\n"
)

CONTINUOUS = (
    "x,y\n"
    "ACGT,0.5\n"
    "CCGT,-1.25\n"
    "GCGT,3\n"
    "TCGT,1e-2\n"
)


def sortseq_frame(n: int = 10, length: int = 6, seed: int = 1) -> pd.DataFrame:
    """A small valid sort-seq table with unique sequences."""
    rng = np.random.default_rng(seed)
    seqs: list[str] = []
    seen: set[str] = set()
    while len(seqs) < n:
        s = "".join(rng.choice(list("ACGT"), size=length))
        if s not in seen:
            seen.add(s)
            seqs.append(s)
    counts = rng.integers(0, 5, size=(n, 3))
    counts[:, 0] += 1  # no all-zero rows
    df = pd.DataFrame({"x": seqs})
    for j in range(3):
        df[f"ct_{j}"] = counts[:, j]
    return df


# --------------------------------------------------------------------------
# alphabet


def test_resolve_alphabet_names_and_letters() -> None:
    assert resolve_alphabet("dna") == "ACGT"
    assert resolve_alphabet("DNA") == "ACGT"
    assert resolve_alphabet("rna") == "ACGU"
    assert resolve_alphabet("acgt") == "ACGT"
    assert resolve_alphabet("ACGU") == "ACGU"
    assert resolve_alphabet("protein") == "ACDEFGHIKLMNPQRSTVWY"
    assert resolve_alphabet("Protein*") == "ACDEFGHIKLMNPQRSTVWY*"
    assert resolve_alphabet("TGCA") == "TGCA"  # any string of distinct letters, in code order
    assert resolve_alphabet("01") == "01"
    assert set(ALPHABETS) == {"dna", "rna", "protein", "protein*"}


@pytest.mark.parametrize("bad, match", [("", "empty"), ("ACGA", "letter 'A' twice"), ("AaC", "letter 'A' twice"),
                                        ("AC G", "character ' '"), ("AC,", "character ','"), (4, "must be a string")])
def test_resolve_alphabet_rejects_unusable(bad: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        resolve_alphabet(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# encode / decode


def test_encode_codes_shape_dtype_layout() -> None:
    codes = encode(["ACGT", "TTGA"])
    assert codes.dtype == np.uint8
    assert codes.shape == (2, 4)
    assert codes.flags.c_contiguous
    np.testing.assert_array_equal(codes, [[0, 1, 2, 3], [3, 3, 2, 0]])


def test_encode_lowercase_accepted_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = encode(["acgt", "AcGt"])
    np.testing.assert_array_equal(codes, [[0, 1, 2, 3], [0, 1, 2, 3]])


def test_encode_rna_alphabet_and_names() -> None:
    np.testing.assert_array_equal(encode(["ACGU"], "rna"), [[0, 1, 2, 3]])
    np.testing.assert_array_equal(encode(["ACGU"], "ACGU"), [[0, 1, 2, 3]])
    with pytest.raises(InputError, match="invalid character 'T'"):
        encode(["ACGT"], "rna")


@pytest.mark.parametrize(
    "container",
    [list, tuple, np.array, pd.Series, lambda s: np.array(s, dtype=object)],
)
def test_encode_accepts_containers(container) -> None:
    seqs = ["ACG", "GTA", "ttt"]
    np.testing.assert_array_equal(
        encode(container(seqs)), [[0, 1, 2], [2, 3, 0], [3, 3, 3]]
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=30).flatmap(
        lambda length: st.lists(
            st.text(alphabet="ACGTacgt", min_size=length, max_size=length),
            min_size=1,
            max_size=20,
        )
    ),
    st.sampled_from(["dna", "ACGT"]),
)
def test_encode_decode_round_trip(seqs: list[str], alphabet: str) -> None:
    codes = encode(seqs, alphabet)
    assert codes.shape == (len(seqs), len(seqs[0]))
    assert codes.max() <= 3
    back = decode(codes, alphabet)
    assert back.tolist() == [s.upper() for s in seqs]
    np.testing.assert_array_equal(encode(back, alphabet), codes)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 3), min_size=5, max_size=5),
        min_size=1,
        max_size=10,
    )
)
def test_decode_encode_round_trip_rna(rows: list[list[int]]) -> None:
    codes = np.array(rows, dtype=np.uint8)
    np.testing.assert_array_equal(encode(decode(codes, "rna"), "rna"), codes)


def test_encode_empty_list() -> None:
    with pytest.raises(InputError, match="no sequences"):
        encode([])


def test_encode_single_string_rejected() -> None:
    with pytest.raises(InputError, match="single string"):
        encode("ACGT")  # type: ignore[arg-type]


def test_encode_unequal_length_names_index_and_lengths() -> None:
    with pytest.raises(
        InputError, match=r"row 2: .*length 3 but expected length 4"
    ):
        encode(["ACGT", "ACGT", "ACG", "A"])


def test_encode_empty_sequence() -> None:
    with pytest.raises(InputError, match=r"row 1: .*empty \(length 0\)"):
        encode(["ACGT", "", "ACGT"])


def test_encode_invalid_character_names_position_and_iupac() -> None:
    with pytest.raises(InputError) as info:
        encode(["ACGT", "ACGT", "ACNT"], source="seqs.csv")
    msg = str(info.value)
    assert msg.startswith("seqs.csv, row 2: ")
    assert "'N'" in msg
    assert "position 2" in msg
    assert "A/C/G/T" in msg
    assert "IUPAC" in msg and "remove" in msg
    assert info.value.row == 2


def test_encode_non_ascii_character() -> None:
    with pytest.raises(InputError, match=r"row 1: .*non-ASCII.*'é'.*position 3"):
        encode(["ACGT", "ACGé"])


@pytest.mark.parametrize("bad", [float("nan"), None, 5])
def test_encode_non_string_entry(bad: object) -> None:
    pattern = r"row 1: the sequence (is missing|is not a string)"
    with pytest.raises(InputError, match=pattern):
        encode(["ACGT", bad, "ACGT"])  # type: ignore[list-item]


def test_decode_rejects_out_of_range_codes() -> None:
    with pytest.raises(InputError, match="row 1: code 4"):
        decode(np.array([[0, 1], [2, 4]], dtype=np.uint8))
    with pytest.raises(InputError, match="2-D"):
        decode(np.zeros(3, dtype=np.uint8))


def test_encode_many_sequences() -> None:
    seqs = ["ACGT" * 25] * 100_000
    codes = encode(seqs)
    assert codes.shape == (100_000, 100)
    assert codes.flags.c_contiguous and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes[-1, :4], [0, 1, 2, 3])


# --------------------------------------------------------------------------
# reading valid tables


def test_read_csv_sortseq(tmp_path: Path) -> None:
    ds = read_table(write(tmp_path / "d.csv", SORTSEQ))
    assert isinstance(ds, Dataset)
    assert ds.kind == "sortseq"
    assert (ds.n, ds.length, ds.n_bins) == (5, 4, 3)
    assert ds.y is None
    assert ds.counts.dtype == np.float64 and ds.counts.flags.c_contiguous
    np.testing.assert_array_equal(ds.counts[0], [1, 0, 2])
    assert ds.x.tolist() == ["ACGT", "CCGT", "GCGT", "TCGT", "AAGT"]
    np.testing.assert_array_equal(ds.codes[1], [1, 1, 2, 3])
    assert ds.codes.dtype == np.uint8 and ds.codes.flags.c_contiguous
    assert ds.alphabet == "ACGT"
    assert ds.split.dtype == np.int8
    assert ds.source == str(tmp_path / "d.csv")


def test_read_continuous(tmp_path: Path) -> None:
    ds = read_table(write(tmp_path / "d.csv", CONTINUOUS))
    assert ds.kind == "continuous"
    assert ds.counts is None and ds.n_bins is None
    np.testing.assert_allclose(ds.y, [0.5, -1.25, 3.0, 0.01])
    assert ds.y.dtype == np.float64


@pytest.mark.parametrize("name", ["d.tsv", "d.tsv.gz", "d.txt", "d.dat.gz"])
def test_read_tsv_and_gzip(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, SORTSEQ.replace(",", "\t"))
    ds = read_table(path)
    assert (ds.n, ds.n_bins) == (5, 3)
    np.testing.assert_array_equal(ds.counts[3], [0, 0, 5])


@pytest.mark.parametrize("name", ["d.csv.gz", "d.txt", "noext"])
def test_read_csv_gzip_and_sniffed(tmp_path: Path, name: str) -> None:
    ds = read_table(write(tmp_path / name, SORTSEQ))
    assert (ds.n, ds.n_bins) == (5, 3)
    np.testing.assert_array_equal(ds.counts[2], [4, 1, 1])


def test_read_table_accepts_str_path_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(SORTSEQ.replace("\n", "\r\n").encode())
    ds = read_table(str(path))
    assert ds.n == 5
    assert ds.x[0] == "ACGT"


def test_lowercase_sequences_uppercased_silently(tmp_path: Path) -> None:
    text = SORTSEQ.replace("ACGT,", "acgt,").replace("CCGT,", "cCgT,")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = read_table(write(tmp_path / "d.csv", text))
    assert ds.x[0] == "ACGT" and ds.x[1] == "CCGT"
    assert any("upper case in 2 sequences" in note for note in ds.notes)


def test_rna_alphabet(tmp_path: Path) -> None:
    ds = read_table(
        write(tmp_path / "d.csv", SORTSEQ.replace("T", "U")), alphabet="rna"
    )
    assert ds.alphabet == "ACGU"
    assert ds.x[0] == "ACGU"


def test_custom_column_names() -> None:
    df = pd.DataFrame(
        {"seq": ["AC", "GT", "CA"], "bin0": [1, 2, 3], "bin1": [0, 1, 0]}
    )
    ds = from_dataframe(df, x_col="seq", count_prefix="bin")
    assert ds.n_bins == 2
    df = pd.DataFrame({"seq": ["AC", "GT", "CA"], "score": [1.0, 2.0, 3.0]})
    ds = from_dataframe(df, x_col="seq", y_col="score")
    assert ds.kind == "continuous"


def test_from_dataframe_numeric_columns() -> None:
    df = sortseq_frame()
    ds = from_dataframe(df)
    np.testing.assert_array_equal(ds.counts, df[["ct_0", "ct_1", "ct_2"]])
    assert ds.source == "<DataFrame>"


def test_count_columns_ordered_by_bin_number() -> None:
    df = pd.DataFrame(
        {"ct_1": [5, 6], "x": ["AC", "GT"], "ct_0": [1, 2], "ct_10": [0, 0]}
        | {f"ct_{j}": [0, 0] for j in range(2, 10)}
    )
    ds = from_dataframe(df, split=(0.5, 0.5, 0.0))
    assert ds.n_bins == 11
    np.testing.assert_array_equal(ds.counts[:, :2], [[1, 5], [2, 6]])


# --------------------------------------------------------------------------
# duplicates


def test_duplicates_counts_summed_with_warning(tmp_path: Path) -> None:
    text = (
        "set,x,ct_0,ct_1\n"
        "test,ACGT,1,2\n"
        "training,CCGT,0,3\n"
        "training,acgt,4,0\n"
        "validation,GGGG,1,1\n"
        "training,ACGT,1,1\n"
        "training,CCGT,2,0\n"
    )
    with pytest.warns(DataWarning, match="aggregated 3 duplicate rows into 3"):
        ds = read_table(write(tmp_path / "d.csv", text))
    assert ds.x.tolist() == ["ACGT", "CCGT", "GGGG"]
    np.testing.assert_array_equal(ds.counts, [[6, 3], [2, 3], [1, 1]])
    # The aggregated row keeps the set of its first occurrence.
    np.testing.assert_array_equal(ds.split, [2, 0, 1])
    np.testing.assert_array_equal(ds.codes, encode(ds.x))
    assert any("aggregated 3 duplicate rows" in n for n in ds.notes)


def test_duplicates_y_averaged() -> None:
    df = pd.DataFrame(
        {"x": ["AC", "GT", "ac", "AC", "TT"], "y": [1.0, 5.0, 2.0, 6.0, 0.0]}
    )
    with pytest.warns(DataWarning, match="aggregated 2 duplicate rows into 3"):
        ds = from_dataframe(df, split=(1.0, 0.0, 0.0))
    assert ds.x.tolist() == ["AC", "GT", "TT"]
    np.testing.assert_allclose(ds.y, [3.0, 5.0, 0.0])


def test_duplicate_warning_points_at_caller() -> None:
    df = pd.DataFrame({"x": ["AC", "AC", "GT"], "y": [1.0, 2.0, 3.0]})
    with pytest.warns(DataWarning) as record:
        from_dataframe(df, split=(1.0, 0.0, 0.0))
    assert record[0].filename == __file__


def test_no_duplicates_no_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = read_table(write(tmp_path / "d.csv", SORTSEQ))
    assert not any("aggregated" in n for n in ds.notes)


# --------------------------------------------------------------------------
# splits


def test_split_from_set_column(tmp_path: Path) -> None:
    text = (
        "set,x,y\n"
        "training,AAAA,1\n"
        "Validation,CCCC,2\n"
        "TEST,GGGG,3\n"
        "train,TTTT,4\n"
        "val,ACAC,5\n"
        " valid ,GTGT,6\n"
    )
    ds = read_table(write(tmp_path / "d.csv", text))
    np.testing.assert_array_equal(ds.split, [0, 1, 2, 0, 1, 1])
    np.testing.assert_array_equal(ds.indices("training"), [0, 3])
    np.testing.assert_array_equal(ds.indices("train"), [0, 3])
    np.testing.assert_array_equal(ds.indices("validation"), [1, 4, 5])
    np.testing.assert_array_equal(ds.indices("val"), [1, 4, 5])
    idx = ds.indices("test")
    np.testing.assert_array_equal(idx, [2])
    assert idx.dtype == np.int64 and idx.flags.c_contiguous
    assert not any("random" in n for n in ds.notes)


def test_indices_unknown_split() -> None:
    ds = from_dataframe(sortseq_frame())
    with pytest.raises(InputError, match="unknown split 'dev'"):
        ds.indices("dev")


def test_seeded_random_split() -> None:
    df = sortseq_frame(n=101)
    a = from_dataframe(df, seed=7)
    b = from_dataframe(df, seed=7)
    c = from_dataframe(df, seed=8)
    np.testing.assert_array_equal(a.split, b.split)
    assert not np.array_equal(a.split, c.split)
    # Exactly-sized groups: round(0.6 * 101) = 61, round(0.2 * 101) = 20.
    assert np.bincount(a.split, minlength=3).tolist() == [61, 20, 20]
    assert any("random 0.6/0.2/0.2" in n and "seed 7" in n for n in a.notes)
    # The split is the documented permutation.
    perm = np.random.default_rng(7).permutation(101)
    np.testing.assert_array_equal(np.sort(perm[:61]), a.indices("training"))


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=2, max_value=200),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_random_split_proportions(n: int, seed: int) -> None:
    df = pd.DataFrame(
        {"x": encode_ints(n), "y": np.arange(n, dtype=np.float64)}
    )
    ds = from_dataframe(df, seed=seed)
    sizes = np.bincount(ds.split, minlength=3)
    assert sizes.sum() == n
    assert abs(sizes[0] - 0.6 * n) <= 0.5 + 1e-9
    assert abs(sizes[1] - 0.2 * n) <= 0.5 + 1e-9
    assert sizes[0] >= 1


def encode_ints(n: int, length: int = 8) -> list[str]:
    """``n`` distinct DNA sequences (base-4 digits of 0..n-1)."""
    digits = (np.arange(n)[:, None] // 4 ** np.arange(length)) % 4
    return decode(digits.astype(np.uint8)).tolist()


def test_custom_split_fractions_and_bad_fractions() -> None:
    df = sortseq_frame(n=10)
    ds = from_dataframe(df, split=(0.5, 0.5, 0.0))
    assert np.bincount(ds.split, minlength=3).tolist() == [5, 5, 0]
    with pytest.raises(InputError, match="sum to 1"):
        from_dataframe(df, split=(0.5, 0.2, 0.2))


def test_no_training_rows_from_set_column() -> None:
    df = sortseq_frame(n=3)
    df["set"] = ["test", "validation", "test"]
    with pytest.raises(InputError, match="column 'set': .*no training rows"):
        from_dataframe(df)


def test_no_training_rows_from_random_split() -> None:
    with pytest.raises(InputError, match="no training rows"):
        from_dataframe(sortseq_frame(n=4), split=(0.0, 0.5, 0.5))


def test_unknown_set_value(tmp_path: Path) -> None:
    text = "set,x,y\ntraining,AC,1\ntest,GT,2\ntrainnig,CA,3\n"
    with pytest.raises(
        InputError,
        match=r"row 2, column 'set': .*'trainnig'.*training, validation or test",
    ):
        read_table(write(tmp_path / "d.csv", text))


def test_empty_set_value(tmp_path: Path) -> None:
    text = "set,x,y\ntraining,AC,1\n,GT,2\n"
    pattern = r"row 1, column 'set': the set value is empty"
    with pytest.raises(InputError, match=pattern):
        read_table(write(tmp_path / "d.csv", text))


# --------------------------------------------------------------------------
# Dataset methods


def test_subset() -> None:
    ds = from_dataframe(sortseq_frame(n=10))
    sub = ds.subset(ds.indices("training"))
    assert sub.n == 6
    assert sub.codes.flags.c_contiguous and sub.counts.flags.c_contiguous
    np.testing.assert_array_equal(sub.counts, ds.counts[ds.indices("training")])
    assert (sub.split == 0).all()
    assert sub.x.tolist() == ds.x[ds.indices("training")].tolist()
    mask = np.zeros(10, dtype=bool)
    mask[[1, 3]] = True
    np.testing.assert_array_equal(ds.subset(mask).codes, ds.codes[[1, 3]])
    with pytest.raises(InputError, match="out of range"):
        ds.subset([0, 10])
    with pytest.raises(InputError, match="boolean mask"):
        ds.subset(np.ones(3, dtype=bool))


def test_dataset_is_frozen() -> None:
    ds = from_dataframe(sortseq_frame())
    with pytest.raises(AttributeError):
        ds.alphabet = "ACGU"  # type: ignore[misc]


def test_dataset_rejects_inconsistent_fields() -> None:
    with pytest.raises(InputError, match="at most one of counts and y"):
        Dataset(
            x=np.array(["AC"]),
            codes=np.zeros((1, 2), dtype=np.uint8),
            alphabet="ACGT",
            counts=np.ones((1, 2)),
            y=np.ones(1),
            split=np.zeros(1, dtype=np.int8),
            source="test",
        )


# --------------------------------------------------------------------------
# bad files and structure


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        read_table(write(tmp_path / "d.csv", ""))


def test_empty_gz_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        read_table(write(tmp_path / "d.csv.gz", ""))


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="header but no data rows"):
        read_table(write(tmp_path / "d.csv", "x,ct_0,ct_1\n"))


def test_missing_x_column_lists_columns(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"no sequence column 'x'; columns found: \['seq', 'y'\]"
    ):
        read_table(write(tmp_path / "d.csv", "seq,y\nAC,1\nGT,2\n"))


def test_missing_measurement_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no measurement columns.*ct_0.*'y'"):
        read_table(write(tmp_path / "d.csv", "x\nAC\nGT\n"))
    ds = read_table(write(tmp_path / "t.csv", "x,z\nAC,1\nGT,2\n"))
    assert ds.kind == "table"
    np.testing.assert_array_equal(ds.columns(["z"])[:, 0], [1.0, 2.0])


def test_both_measurement_kinds(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="both count columns.*keep only one"):
        read_table(write(tmp_path / "d.csv", "x,y,ct_0\nAC,1,1\nGT,2,2\n"))


def test_count_columns_not_consecutive(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"column 'ct_1': count column ct_1 is missing"
    ):
        read_table(write(tmp_path / "d.csv", "x,ct_0,ct_2\nAC,1,1\nGT,2,2\n"))
    with pytest.raises(InputError, match=r"column 'ct_0': count column ct_0"):
        read_table(write(tmp_path / "e.csv", "x,ct_1,ct_2\nAC,1,1\nGT,2,2\n"))


def test_count_column_bad_suffix() -> None:
    df = pd.DataFrame({"x": ["AC", "GT"], "ct_0": [1, 2], "ct_total": [1, 2]})
    with pytest.raises(InputError, match="column 'ct_total': .*not a bin number"):
        from_dataframe(df)


@pytest.mark.parametrize(
    ("name", "text", "seen"),
    [
        ("d.csv", SORTSEQ.replace(",", "\t"), "tabs"),
        ("d.tsv", SORTSEQ, "commas"),
    ],
)
def test_wrong_delimiter(tmp_path: Path, name: str, text: str, seen: str) -> None:
    with pytest.raises(InputError, match=f"delimiter looks wrong.*contains {seen}"):
        read_table(write(tmp_path / name, text))


def test_ragged_row(tmp_path: Path) -> None:
    text = "x,y\nAC,1\nGT,2,3\n"
    with pytest.raises(InputError, match=r"row 1: line 3 of the file has 3 fields"):
        read_table(write(tmp_path / "d.csv", text))


def test_fewer_than_two_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="only 1 unique sequence"):
        read_table(write(tmp_path / "d.csv", "x,y\nAC,1\n"))


def test_fewer_than_two_unique_rows() -> None:
    df = pd.DataFrame({"x": ["AC", "ac"], "y": [1.0, 2.0]})
    with pytest.warns(DataWarning), pytest.raises(InputError, match="only 1 unique sequence"):
        from_dataframe(df)


def test_not_a_dataframe() -> None:
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        from_dataframe({"x": ["AC"]})  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# bad sequences in tables: errors name file, data row and column


@pytest.mark.parametrize(
    ("seqs", "row", "pattern"),
    [
        (["ACGT", "ACGT", "ACG", "ACGT"], 2, "length 3 but expected length 4"),
        (["ACGT", "ACNT", "ACGT", "ACGT"], 1, "invalid character 'N' at position 2"),
        (["ACGT", "ACGT", "ACGT", "AC T"], 3, "invalid character ' ' at position 2"),
        (["ACGT", "ACGT", "ACGµ", "ACGT"], 2, "non-ASCII character 'µ'"),
    ],
)
def test_bad_sequence_in_file(
    tmp_path: Path, seqs: list[str], row: int, pattern: str
) -> None:
    text = "x,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(seqs))
    path = write(tmp_path / "d.csv", text)
    with pytest.raises(InputError, match=f"row {row}, column 'x': .*{pattern}") as info:
        read_table(path)
    assert str(info.value).startswith(str(path))
    assert info.value.row == row and info.value.column == "x"


def test_empty_sequence_cell(tmp_path: Path) -> None:
    text = "x,y\nACGT,1\nACGT,2\n,3\n"
    with pytest.raises(InputError, match=r"row 2, column 'x': the sequence is empty"):
        read_table(write(tmp_path / "d.csv", text))


def test_nan_sequence_in_dataframe() -> None:
    df = pd.DataFrame({"x": ["ACGT", np.nan, "ACGT"], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"row 1, column 'x': the sequence is missing"):
        from_dataframe(df)


# --------------------------------------------------------------------------
# bad counts and y values


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("abc", "is not a number: 'abc'"),
        ("", "is empty"),
        ("nan", "is missing"),
        ("NA", "is missing"),
        ("inf", "is infinite"),
        ("-1", "is negative"),
        ("1.5", "is not a whole number"),
    ],
)
def test_bad_count(tmp_path: Path, value: str, pattern: str) -> None:
    text = (
        "x,ct_0,ct_1\n"
        "AAAA,1,2\n"
        "CCCC,3,4\n"
        "GGGG,5,6\n"
        f"TTTT,1,{value}\n"
    )
    with pytest.raises(InputError, match=f"row 3, column 'ct_1': the count {pattern}"):
        read_table(write(tmp_path / "d.csv", text))


def test_bad_count_reports_first_row(tmp_path: Path) -> None:
    text = "x,ct_0,ct_1\nAAAA,1,x\nCCCC,y,4\n"
    with pytest.raises(InputError, match=r"row 0, column 'ct_1'"):
        read_table(write(tmp_path / "d.csv", text))


def test_all_zero_count_row(tmp_path: Path) -> None:
    text = "x,ct_0,ct_1\nAAAA,1,2\nCCCC,0,0\nGGGG,0,0\n"
    with pytest.raises(
        InputError, match=r"row 1, column 'ct_0..ct_1': all counts .* zero .*drop them"
    ):
        read_table(write(tmp_path / "d.csv", text))


def test_integral_float_counts_accepted() -> None:
    df = sortseq_frame()
    df["ct_0"] = df["ct_0"].astype(float)
    ds = from_dataframe(df)
    assert ds.counts.dtype == np.float64


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("abc", "is not a number"),
        ("", "is empty"),
        ("NaN", "is missing"),
        ("-inf", "is infinite"),
    ],
)
def test_bad_y(tmp_path: Path, value: str, pattern: str) -> None:
    text = f"x,y\nAAAA,1\nCCCC,{value}\nGGGG,2\n"
    with pytest.raises(InputError, match=f"row 1, column 'y': the y value {pattern}"):
        read_table(write(tmp_path / "d.csv", text))


def test_nan_y_in_dataframe() -> None:
    df = pd.DataFrame({"x": ["AC", "GT", "CA"], "y": [1.0, 2.0, np.nan]})
    with pytest.raises(InputError, match=r"row 2, column 'y': the y value is missing"):
        from_dataframe(df)


# --------------------------------------------------------------------------
# bundled example


def test_example_path_and_unknown_name() -> None:
    path = example_path("lac-sortseq")
    assert path.name == "lac_sortseq.csv.gz"
    assert path.is_file()
    assert (path.parent / "LICENSE").is_file()
    with pytest.raises(InputError, match="unknown example 'mpra'.*lac-sortseq"):
        example_path("mpra")
    with pytest.raises(InputError, match="known examples: lac-sortseq"):
        load_example("mpra")


def test_load_bundled_example() -> None:
    ds = load_example()
    assert ds.kind == "sortseq"
    assert (ds.n, ds.length, ds.n_bins) == (50_518, 75, 10)
    assert ds.codes.shape == (50_518, 75)
    assert ds.counts.shape == (50_518, 10)
    assert len(ds.indices("training")) == 30_516
    assert np.bincount(ds.split, minlength=3).sum() == 50_518
    assert ds.counts.min() >= 0 and (ds.counts.sum(axis=1) > 0).all()
    np.testing.assert_array_equal(ds.counts, np.round(ds.counts))
    assert ds.codes.max() == 3
    assert ds.notes == ()
