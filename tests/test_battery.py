"""Robustness battery: malformed input thrown at the Python API, the _core boundary and the CLI.

The promise under test: bad input always ends in a clear error - an InputError /
ModelFileError (ValueError subclasses; TypeError for wrong Python types at _core) whose
message names where the problem is (file, row, column, key) - and on the command line
in exit status 2 with one ``cisreg: error:`` line and no traceback. Never a crash, a
hang or a silent wrong answer.

Every file-based case runs through the Python API (``test_api``) and, unless it is a
near-duplicate of another case on the command line (``cli=False``), through
``python -m cisreg`` (``test_cli``; those subprocesses are started a few at a time once
per module). ``test_call`` throws bad arrays and objects at ``_core`` and the Python API.
Cases that exposed a bug carry its one-line diagnosis in ``fixed`` (a record of what they guard).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg import _core
from cisreg.errors import DataWarning, InputError, ModelFileError

# ----------------------------------------------------------------------------- fixtures

L = 12
# Sites cover positions 0-4 and 7-11; positions 5 and 6 belong to no site.
SPEC: dict[str, Any] = {
    "alphabet": "ACGT", "length": L,
    "sites": [{"name": "s0", "start": 0, "width": 5}, {"name": "s1", "start": 7, "width": 5}],
    "thermodynamic": {"states": [
        {"name": "free", "bound": []},
        {"name": "b0", "bound": ["s0"], "activity": 1},
        {"name": "b01", "bound": ["s0", "s1"], "interactions": ["I"], "activity": 1}]},
    "measurement": {"type": "sortseq", "bins": 2, "hidden": 2},
}
KSPEC: dict[str, Any] = {
    "alphabet": "ACGT", "length": L,
    "sites": [{"name": "s0", "start": 0, "width": 5}, {"name": "s1", "start": 7, "width": 5}],
    "kinetic": {
        "states": ["A", "B", "C"],
        "transitions": [
            {"name": "ab", "from": "A", "to": "B", "rate": "k1", "energies": {"s0": -1}},
            {"name": "ba", "from": "B", "to": "A", "rate": "k2"},
            {"name": "bc", "from": "B", "to": "C", "rate": "k3", "energies": {"s1": -1}},
            {"name": "cb", "from": "C", "to": "B", "rate": "k4"}],
        "activity": {"states": {"C": 1}}},
    "measurement": {"type": "sortseq", "bins": 2, "hidden": 2},
}
GE_SPEC: dict[str, Any] = {**SPEC, "measurement": {"type": "ge", "noise": "gaussian", "hidden": 2}}


def _good_rows(n: int = 24, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _i in range(n):
        seq = "".join(rng.choice(list("ACGT"), L))
        c0, c1 = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        if c0 + c1 == 0:
            c0 = 1
        rows.append([seq, str(c0), str(c1)])
    return rows


GOOD_ROWS = _good_rows()
GOOD_CSV = "x,ct_0,ct_1\n" + "".join(",".join(r) + "\n" for r in GOOD_ROWS)


def spec_with(change: Callable[[dict], Any] | None = None, base: dict | None = None) -> dict:
    d = copy.deepcopy(SPEC if base is None else base)
    if change is not None:
        change(d)
    return d


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _save_model(d: Path, spec: dict | None = None) -> Path:
    model = cisreg.Model(cisreg.spec_from_dict(spec or SPEC), seed=0)
    model.save(d / "model")
    return d / "model"


# ----------------------------------------------------------------------------- case builders


def raw(content: str | bytes, name: str = "data.csv") -> Callable[[Path], Path]:
    return lambda d: _write(d / name, content)


def table(edit: dict[tuple[int, int], str] | None = None, *, header: str = "x,ct_0,ct_1",
          rows: list[list[str]] | None = None, line_edit: dict[int, str] | None = None,
          name: str = "data.csv") -> Callable[[Path], Path]:
    """The good table with cells (row, col) replaced, or whole data lines replaced."""
    def make(d: Path) -> Path:
        body = [list(r) for r in (GOOD_ROWS if rows is None else rows)]
        for (i, j), v in (edit or {}).items():
            body[i][j] = v
        lines = [",".join(r) for r in body]
        for i, text in (line_edit or {}).items():
            lines[i] = text
        return _write(d / name, header + "\n" + "".join(ln + "\n" for ln in lines))
    return make


def rows_with(column: list[str], header: str = "x,ct_0,ct_1,set") -> Callable[[Path], Path]:
    """The good table plus one more column."""
    def make(d: Path) -> Path:
        lines = [",".join(r + [v]) for r, v in zip(GOOD_ROWS, column)]
        return _write(d / "data.csv", header + "\n" + "".join(ln + "\n" for ln in lines))
    return make


def spec_file(obj: Any, name: str = "model.json") -> Callable[[Path], Path]:
    return lambda d: _write(d / name, json.dumps(obj))


def spec_text(text: str | bytes, name: str = "model.json") -> Callable[[Path], Path]:
    return lambda d: _write(d / name, text)


def model_dir(corrupt: Callable[[Path, cisreg.Model], None]) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        md = _save_model(d)
        corrupt(md, cisreg.load(md))
        return md
    return make


def npz(**arrays: Any) -> Callable[[Path, Any], None]:
    def corrupt(md: Path, m: Any) -> None:
        buf = io.BytesIO()
        np.savez(buf, **{k: (v(m) if callable(v) else v) for k, v in arrays.items()})
        (md / "params.npz").write_bytes(buf.getvalue())
    return corrupt


def theta_like(change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], np.ndarray]:
    return lambda m: change(m.theta.copy())


def _set_nan(t: np.ndarray) -> np.ndarray:
    t[7] = np.nan
    return t


def _set_inf(t: np.ndarray) -> np.ndarray:
    t[3] = -np.inf
    return t


def npz_bytes_edit(edit: Callable[[bytearray, zipfile.ZipInfo], None], compressed: bool = False):
    """Rewrite the bytes of a valid params.npz (one member, theta.npy)."""
    def corrupt(md: Path, m: Any) -> None:
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, theta=m.theta)
        b = bytearray(buf.getvalue())
        with zipfile.ZipFile(io.BytesIO(bytes(b))) as z:
            info = z.getinfo("theta.npy")
        edit(b, info)
        (md / "params.npz").write_bytes(bytes(b))
    return corrupt


def _data_offset(b: bytearray, info: zipfile.ZipInfo) -> int:
    lh = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", b, lh + 26)
    return lh + 30 + name_len + extra_len


def _garble_deflate(b: bytearray, info: zipfile.ZipInfo) -> None:
    start = _data_offset(b, info)
    for i in range(start + 2, start + info.compress_size - 2):
        b[i] ^= 0xFF


def _flag_encrypted(b: bytearray, info: zipfile.ZipInfo) -> None:
    b[info.header_offset + 6] |= 0x01
    cd = b.find(b"PK\x01\x02")
    b[cd + 8] |= 0x01


def _unknown_method(b: bytearray, info: zipfile.ZipInfo) -> None:
    struct.pack_into("<H", b, info.header_offset + 8, 99)
    cd = b.find(b"PK\x01\x02")
    struct.pack_into("<H", b, cd + 10, 99)


def model_json(change: Callable[[dict], Any] | None = None, text: Callable[[str], str] | None = None):
    def corrupt(md: Path, m: Any) -> None:
        p = md / "model.json"
        if change is not None:
            doc = json.loads(p.read_text())
            change(doc)
            p.write_text(json.dumps(doc))
        if text is not None:
            p.write_text(text(p.read_text()))
    return corrupt


def predict_input(content: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        _save_model(d)
        return _write(d / "in.csv", content)
    return make


def _npy_header_nul(md: Path, m: Any) -> None:
    with zipfile.ZipFile(md / "params.npz") as z:
        npy = bytearray(z.read("theta.npy"))
    npy[64] = 0  # a NUL byte inside the header text "{'descr': '<f8', ...}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("theta.npy", bytes(npy))
    (md / "params.npz").write_bytes(buf.getvalue())


def checkpoint(change: Callable[[dict], Any] | None = None,
               corrupt: Callable[[Path], Any] | None = None) -> Callable[[Path], Path]:
    """A checkpoint written by a one-epoch fit of SPEC to the good table, then tampered with."""
    def make(d: Path) -> Path:
        good = _write(d / "good.csv", GOOD_CSV)
        ck = d / "ckpt"
        cisreg.fit(cisreg.read_table(good), cisreg.spec_from_dict(SPEC), epochs=1, quiet=True, n_threads=1,
                   checkpoint_every=1, checkpoint_dir=ck)
        if change is not None:
            meta = json.loads((ck / "checkpoint.json").read_text())
            change(meta)
            (ck / "checkpoint.json").write_text(json.dumps(meta))
        if corrupt is not None:
            corrupt(ck)
        return ck
    return make


def _checkpoint_nan(ck: Path) -> None:
    with np.load(ck / "checkpoint.npz") as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["adam_v"][2] = np.nan
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (ck / "checkpoint.npz").write_bytes(buf.getvalue())


def _gzip_garbled(d: Path) -> Path:
    import gzip

    blob = bytearray(gzip.compress(GOOD_CSV.encode() * 20))
    for i in range(20, 60):
        blob[i] ^= 0x55
    return _write(d / "data.csv.gz", bytes(blob))


def _a_directory(d: Path) -> Path:
    (d / "table.csv").mkdir()
    return d / "table.csv"


MB = "ACGT" * 262_144  # 1 MiB


# ----------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    kind: str                      # table | spec | modeldir | predict | resume
    make: Callable[[Path], Path]   # writes the input under a fresh directory, returns its path
    match: str | None              # regex the message must contain; None: the input must be accepted
    exc: Any = InputError
    names: bool | str = True       # True: the file's name must be in the message; str: this text; False: no check
    spec: dict | None = None       # the model that table cases are fitted with
    fixed: str | None = None      # the bug this case exposed (since fixed); kept as its record
    cli: bool = True               # False: Python API only (the CLI path adds nothing over a sibling case)


def _k(change: Callable[[dict], Any]) -> dict:
    return spec_with(change, KSPEC)


def _kin(states: list[str], trs: list[tuple[str, str]], act: dict) -> dict:
    d = copy.deepcopy(KSPEC)
    d["kinetic"] = {"states": states, "activity": act,
                    "transitions": [{"from": a, "to": b, "rate": f"k{i}"} for i, (a, b) in enumerate(trs)]}
    return d


def _setitem(path: str, value: Any) -> Callable[[dict], None]:
    """spec_with(_setitem("sites.0.width", 3.0)) sets d["sites"][0]["width"]."""
    def change(d: dict) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        obj = d
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value
    return change


def _delitem(key: str) -> Callable[[dict], None]:
    return lambda d: d.pop(key)


FIXED_PANDAS_INDEX = ("table.py _read_frame: pd.read_csv infers index_col when the first data row has one field more "
                   "than the header, shifting every column; the error blames the sequence column instead of the "
                   "extra field")
FIXED_ZLIB = "zlib.error escapes (not caught) - a traceback on the CLI"
FIXED_DEEP = ("spec.py read_spec / io.py read_json_checked: json.loads raises RecursionError on deeply nested "
           "JSON; not caught, CLI prints a traceback")
FIXED_BIGINT = ("spec.py read_spec / io.py read_json_checked: json.loads raises a plain ValueError (int digit limit) "
             "that is not a ModelFileError and does not name the file")
FIXED_ALIAS = ("compile.py _thermo_nodes: an interaction name equal to another parameter block's name "
            "(E.<site>, eps.<site>, act.<name>) silently reuses that block's parameters")

TABLE_CASES = [
    Case("empty_file", "table", raw(""), r"the file is empty"),
    Case("header_only", "table", raw("x,ct_0,ct_1\n"), r"header but no data rows"),
    Case("blank_lines_only", "table", raw("\n\n\n"), r"the file is empty", cli=False),
    Case("byte_order_mark_only", "table", raw("\ufeff"), r"the file is empty", cli=False),
    Case("semicolon_delimiter", "table", lambda d: _write(d / "data.csv", GOOD_CSV.replace(",", ";")),
         r"no sequence column 'x'; columns found: \['x;ct_0;ct_1'\]"),
    Case("ragged_row_missing_field", "table", table(line_edit={3: ",".join(GOOD_ROWS[3][:2])}),
         r"row 3, column 'ct_1': the count is empty"),
    Case("ragged_row_extra_field", "table", table(line_edit={5: ",".join(GOOD_ROWS[5]) + ",7"}),
         r"row 5: line 7 of the file has 4 fields but the header has 3"),
    Case("ragged_first_row_extra_field", "table", table(line_edit={0: ",".join(GOOD_ROWS[0]) + ",7"}),
         r"row 0\b.*4 fields", fixed=FIXED_PANDAS_INDEX),
    Case("trailing_delimiter_every_row", "table",
         table(line_edit={i: ",".join(r) + "," for i, r in enumerate(GOOD_ROWS)}),
         r"row 0\b.*(4 fields|delimiter)", fixed=FIXED_PANDAS_INDEX),
    Case("unclosed_quote", "table", table(edit={(1, 0): '"' + GOOD_ROWS[1][0]}),
         r"could not be parsed as a table: .*EOF inside string starting at row \d+"),
    Case("duplicate_column_name", "table",
         rows_with(["training"] * 14 + ["validation"] * 5 + ["test"] * 5, header="x,ct_0,ct_1,set,set"),
         r"column 'set'.*more than once",
         fixed="table.py: pd.read_csv renames a repeated header 'set' to 'set.1', so the duplicate-column "
               "check never fires and the second column is silently ignored"),
    Case("empty_sequence", "table", table(edit={(2, 0): ""}), r"row 2, column 'x': the sequence is empty"),
    Case("ragged_sequence_lengths", "table", table(edit={(4, 0): GOOD_ROWS[4][0][:-1]}),
         r"row 4, column 'x': the sequence has length 11 but expected length 12"),
    Case("iupac_N", "table", table(edit={(1, 0): GOOD_ROWS[1][0][:5] + "N" + GOOD_ROWS[1][0][6:]}),
         r"row 1, column 'x': the sequence has an invalid character 'N' at position 5"),
    Case("iupac_R_lowercase", "table", table(edit={(9, 0): "r" + GOOD_ROWS[9][0][1:].lower()}),
         r"row 9, column 'x': the sequence has an invalid character 'r' at position 0", cli=False),
    Case("rna_U_in_dna", "table", table(edit={(6, 0): "U" + GOOD_ROWS[6][0][1:]}),
         r"row 6, column 'x': .*invalid character 'U' at position 0", cli=False),
    Case("non_ascii_greek_alpha", "table", table(edit={(2, 0): GOOD_ROWS[2][0][:3] + "\u0391" + GOOD_ROWS[2][0][4:]}),
         r"row 2, column 'x': the sequence has a non-ASCII character '\u0391' at position 3"),
    Case("non_ascii_emoji", "table", table(edit={(8, 0): GOOD_ROWS[8][0][:11] + "\U0001F9EC"}),
         r"row 8, column 'x': the sequence has a non-ASCII character", cli=False),
    Case("latin1_not_utf8", "table",
         lambda d: _write(d / "data.csv", GOOD_CSV.encode().replace(b"\n" + GOOD_ROWS[3][0][:1].encode(),
                                                                        b"\n\xe9", 1)),
         r"the file is not UTF-8 text \(byte \d+ cannot be decoded\)"),
    Case("nul_byte_in_sequence", "table", table(edit={(1, 0): GOOD_ROWS[1][0][:4] + "\x00" + GOOD_ROWS[1][0][5:]}),
         r"row 1, column 'x': the sequence has an invalid character '\\x00' at position 4"),
    Case("space_in_sequence", "table", table(edit={(3, 0): GOOD_ROWS[3][0][:6] + " " + GOOD_ROWS[3][0][7:]}),
         r"row 3, column 'x': the sequence has an invalid character ' ' at position 6", cli=False),
    Case("megabyte_line_then_short_row", "table", table(edit={(0, 0): MB}),
         r"row 1, column 'x': the sequence has length 12 but expected length 1048576"),
    Case("megabyte_sequences_vs_model", "table",
         table(rows=[[MB, "1", "2"], [MB[::-1], "2", "1"], [MB[1:] + "A", "3", "3"]]),
         r"the data's sequences have length 1048576, the model expects 12"),
    Case("count_nan", "table", table(edit={(0, 1): "NaN"}), r"row 0, column 'ct_0': the count is missing \('NaN'\)"),
    Case("count_inf", "table", table(edit={(1, 2): "inf"}), r"row 1, column 'ct_1': the count is infinite"),
    Case("count_overflows_to_inf", "table", table(edit={(5, 1): "1e400"}),
         r"row 5, column 'ct_0': the count is infinite \('1e400'\)", cli=False),
    Case("count_negative", "table", table(edit={(2, 1): "-3"}), r"row 2, column 'ct_0': the count is negative"),
    Case("count_fractional", "table", table(edit={(3, 2): "2.5"}),
         r"row 3, column 'ct_1': the count is not a whole number \('2.5'\)"),
    Case("count_text", "table", table(edit={(4, 1): "five"}),
         r"row 4, column 'ct_0': the count is not a number: 'five'", cli=False),
    Case("count_empty", "table", table(edit={(10, 2): ""}), r"row 10, column 'ct_1': the count is empty", cli=False),
    Case("all_zero_row", "table", table(edit={(7, 1): "0", (7, 2): "0"}),
         r"row 7, column 'ct_0..ct_1': all counts of this row are zero"),
    Case("count_columns_vs_model_bins", "table",
         table(header="x,ct_0,ct_1,ct_2", rows=[r + ["1"] for r in GOOD_ROWS]),
         r"3 count columns but the model has 2 bins; set measurement\.bins to 3"),
    Case("count_columns_gap", "table", table(header="x,ct_0,ct_2"), r"column 'ct_1': count column ct_1 is missing"),
    Case("counts_and_y", "table", table(header="x,ct_0,y"), r"both count columns \(ct_0\) and a continuous column 'y'"),
    Case("y_nan", "table", table(header="x,y,z", edit={(1, 1): "nan"}),
         r"row 1, column 'y': the y value is missing \('nan'\)", spec=GE_SPEC, cli=False),
    Case("y_data_for_sortseq_model", "table", table(header="x,y,z"),
         r"sort-seq measurement but the data have no count columns"),
    Case("set_unknown_value", "table", rows_with(["training"] * 3 + ["holdout"] + ["test"] * 20),
         r"row 3, column 'set': the set value is 'holdout', which is not a known set"),
    Case("set_empty_value", "table", rows_with([""] + ["training"] * 23),
         r"row 0, column 'set': the set value is empty", cli=False),
    Case("set_no_training_rows", "table", rows_with(["validation"] * 12 + ["test"] * 12),
         r"column 'set': the 'set' column has no training rows"),
    Case("set_no_validation_rows", "table", rows_with(["training"] * 12 + ["test"] * 12),
         r"no validation rows, so early stopping is impossible"),
    Case("one_sequence", "table", table(rows=GOOD_ROWS[:1]), r"only 1 unique sequence"),
    Case("one_sequence_repeated", "table", table(rows=[GOOD_ROWS[0]] * 5), r"only 1 unique sequence", cli=False),
    Case("sequences_shorter_than_site_window", "table", table(rows=[[r[0][:8]] + r[1:] for r in GOOD_ROWS]),
         r"the data's sequences have length 8, the model expects 12"),
    Case("gzip_corrupt_stream", "table", _gzip_garbled, r"could not be read",
         fixed="table.py _read_frame: " + FIXED_ZLIB),
    Case("directory_instead_of_table", "table", _a_directory, r"is a directory, not a file"),
]

SPEC_CASES = [
    Case("json_trailing_comma", "spec", spec_text(json.dumps(SPEC)[:-1] + ",}"),
         r"not valid JSON \(line 1, column \d+\)", ModelFileError),
    Case("json_empty_file", "spec", spec_text(""), r"not valid JSON \(line 1, column 1\)", ModelFileError, cli=False),
    Case("json_top_level_list", "spec", spec_file([SPEC]), r"must be an object \(a JSON dict\), got list",
         ModelFileError),
    Case("json_not_utf8", "spec", spec_text(json.dumps(SPEC).encode().replace(b'"s0"', b'"s\xff0"')),
         r"cannot read model file", ModelFileError),
    Case("json_deeply_nested", "spec", spec_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         r"JSON|nest", ModelFileError, fixed=FIXED_DEEP),
    Case("json_huge_integer_literal", "spec",
         spec_text(json.dumps(SPEC).replace('"length": 12', '"length": 1' + "0" * 5000)),
         r"length|JSON", ModelFileError, fixed=FIXED_BIGINT),
    Case("toml_invalid", "spec", spec_text("length = [1,\n", name="model.toml"), r"not valid TOML", ModelFileError),
    Case("unknown_key", "spec", spec_file(spec_with(_setitem("sites.0.strand", "+"))),
         r"key 'sites\[0\]\.strand': unknown key; allowed keys here are", ModelFileError),
    Case("missing_sites", "spec", spec_file(spec_with(_delitem("sites"))), r"key 'sites': required key is missing",
         ModelFileError),
    Case("empty_sites", "spec", spec_file(spec_with(_setitem("sites", []))), r"key 'sites': must be a non-empty list",
         ModelFileError, cli=False),
    Case("missing_measurement", "spec", spec_file(spec_with(_delitem("measurement"))),
         r"key 'measurement': required key is missing", ModelFileError, cli=False),
    Case("state_names_unknown_site", "spec",
         spec_file(spec_with(_setitem("thermodynamic.states.1.bound", ["ghost"]))),
         r"key 'thermodynamic\.states\[1\]\.bound\[0\]': names unknown site 'ghost'", ModelFileError),
    Case("bound_not_a_list", "spec", spec_file(spec_with(_setitem("thermodynamic.states.1.bound", "s0"))),
         r"key 'thermodynamic\.states\[1\]\.bound': must be a list of names", ModelFileError, cli=False),
    Case("window_past_sequence_end", "spec", spec_file(spec_with(_setitem("sites.1.width", 6))),
         r"key 'sites\[1\]\.width': window \[7, 13\) of site 's1' extends past the sequence end \(12\)",
         ModelFileError),
    Case("window_negative_start", "spec", spec_file(spec_with(_setitem("sites.0.start", -1))),
         r"key 'sites\[0\]\.start': must be between 0 and 11, got -1", ModelFileError, cli=False),
    Case("duplicate_site_names", "spec", spec_file(spec_with(_setitem("sites.1.name", "s0"))),
         r"key 'sites\[1\]\.name': duplicate site name 's0'", ModelFileError),
    Case("duplicate_state_names", "spec", spec_file(spec_with(_setitem("thermodynamic.states.2.name", "b0"))),
         r"key 'thermodynamic\.states\[2\]\.name': duplicate state name 'b0'", ModelFileError, cli=False),
    Case("string_for_number", "spec", spec_file(spec_with(_setitem("length", "12"))),
         r"key 'length': must be an integer, got '12'", ModelFileError),
    Case("boolean_for_integer", "spec", spec_file(spec_with(_setitem("measurement.bins", True))),
         r"key 'measurement\.bins': must be an integer, got True", ModelFileError),
    Case("float_for_integer", "spec", spec_file(spec_with(_setitem("sites.0.width", 5.0))),
         r"key 'sites\[0\]\.width': must be an integer, got 5\.0", ModelFileError, cli=False),
    Case("boolean_for_activity", "spec", spec_file(spec_with(_setitem("thermodynamic.states.1.activity", True))),
         r"key 'thermodynamic\.states\[1\]\.activity': must be a number, got True", ModelFileError, cli=False),
    Case("nan_literal", "spec", spec_text(json.dumps(spec_with(_setitem("t_sat", float("nan"))))),
         r"key 't_sat': must be finite", ModelFileError),
    Case("integer_too_large_for_float", "spec", spec_file(spec_with(_setitem("t_sat", 10**400))),
         r"key 't_sat'", ModelFileError,
         fixed="spec.py _num: float(v) of a 400-digit JSON integer raises OverflowError (not caught; CLI traceback)"),
    Case("negative_activity", "spec", spec_file(spec_with(_setitem("thermodynamic.states.1.activity", -1))),
         r"key 'thermodynamic\.states\[1\]\.activity': activities must be >= 0", ModelFileError, cli=False),
    Case("no_active_state", "spec",
         spec_file(spec_with(lambda d: [s.pop("activity", None) for s in d["thermodynamic"]["states"]])),
         r"key 'thermodynamic\.states': no state has a non-zero activity", ModelFileError),
    Case("unknown_measurement_type", "spec", spec_file(spec_with(_setitem("measurement.type", "poisson"))),
         r"key 'measurement\.type': must be 'sortseq', 'ge', 'counts' or 'rounds', got 'poisson'", ModelFileError),
    Case("both_gpmaps", "spec", spec_file(spec_with(_setitem("kinetic", KSPEC["kinetic"]))),
         r"key 'thermodynamic': exactly one of 'thermodynamic' or 'kinetic'", ModelFileError),
    Case("unknown_alphabet", "spec", spec_file(spec_with(_setitem("alphabet", "ACGA"))),
         r"key 'alphabet': .*lists the letter 'A' twice", ModelFileError, cli=False),
    Case("interaction_named_like_energy_block", "spec",
         spec_file(spec_with(_setitem("thermodynamic.states.2.interactions", ["E.s1"]))),
         r"key 'thermodynamic\.states\[2\]\.interactions\[0\]'", ModelFileError, fixed=FIXED_ALIAS),
    Case("interaction_named_like_activity_block", "spec",
         spec_file(spec_with(lambda d: (_setitem("thermodynamic.states.1.activity", "x")(d),
                                        _setitem("thermodynamic.states.2.interactions", ["act.x"])(d)))),
         r"key 'thermodynamic\.states\[2\]\.interactions\[0\]'", ModelFileError, fixed=FIXED_ALIAS, cli=False),
    Case("interaction_named_t_sat", "spec",
         spec_file(spec_with(_setitem("thermodynamic.states.2.interactions", ["t_sat"]))),
         r"key 'thermodynamic\.states\[2\]\.interactions\[0\]'", ModelFileError,
         fixed="compile.py compile_spec: an interaction named 't_sat' (or 'mpa.a', ...) raises a plain ValueError "
               "'parameter block defined twice' from ParamLayout.add, naming neither file nor key"),
    Case("kinetic_cyclic_not_strongly_connected", "spec",
         spec_file(_kin(["A", "B", "C", "D"], [("A", "B"), ("B", "A"), ("C", "D"), ("D", "C"), ("B", "C")],
                        {"states": {"B": 1}})),
         r"key 'kinetic\.transitions': .*not strongly connected", ModelFileError, names=False),
    Case("kinetic_disconnected", "spec",
         spec_file(_kin(["A", "B", "C", "D"], [("A", "B"), ("B", "A"), ("C", "D"), ("D", "C")],
                        {"states": {"B": 1}})),
         r"key 'kinetic\.transitions': state 'C' cannot be reached from 'A'", ModelFileError, names=False, cli=False),
    Case("kinetic_absorbing_state", "spec",
         spec_file(_kin(["A", "B", "C"], [("A", "B"), ("B", "A"), ("B", "C")], {"states": {"B": 1}})),
         r"key 'kinetic\.transitions': state 'C' has no outgoing transition", ModelFileError, names=False),
    Case("kinetic_unknown_state", "spec", spec_file(_k(_setitem("kinetic.transitions.1.to", "Z"))),
         r"key 'kinetic\.transitions\[1\]\.to': names unknown state 'Z'", ModelFileError),
    Case("kinetic_self_loop", "spec", spec_file(_k(_setitem("kinetic.transitions.1.to", "B"))),
         r"key 'kinetic\.transitions\[1\]\.to': a transition must connect two different states", ModelFileError,
         cli=False),
    Case("kinetic_flux_unknown_transition", "spec", spec_file(_k(_setitem("kinetic.activity", {"flux": ["zz"]}))),
         r"key 'kinetic\.activity\.flux\[0\]': unknown transition 'zz'", ModelFileError, cli=False),
    Case("kinetic_duplicate_transition_names", "spec", spec_file(_k(_setitem("kinetic.transitions.1.name", "ab"))),
         r"key 'kinetic\.transitions\[1\]\.name': duplicate transition name 'ab'", ModelFileError),
    Case("kinetic_unknown_solver", "spec", spec_file(_k(_setitem("kinetic.solver", "magic"))),
         r"key 'kinetic\.solver': must be 'auto', 'king-altman' or 'linear'", ModelFileError, cli=False),
    Case("kinetic_max_trees_boolean", "spec", spec_file(_k(_setitem("kinetic.max_trees", True))),
         r"key 'kinetic\.max_trees': must be an integer, got True", ModelFileError, cli=False),
    Case("kinetic_all_activities_zero", "spec", spec_file(_k(_setitem("kinetic.activity", {"states": {"C": 0}}))),
         r"key 'kinetic\.activity", ModelFileError,
         fixed="spec.py _parse_kinetic: unlike thermodynamic states, an all-zero kinetic activity is accepted; "
               "phi is 0 for every sequence"),
    Case("kinetic_long_state_names_valid", "spec",
         spec_file(_kin(["A" * 40, "B" * 40], [("A" * 40, "B" * 40), ("B" * 40, "A" * 40)],
                        {"states": {"B" * 40: 1}})),
         None, None, cli=False,
         fixed="spec.py _parse_kinetic: the default transition name '<from>_to_<to>_<i>' exceeds 64 characters, "
               "so a valid file is refused for key kinetic.transitions[0].name, which it does not contain"),
]

MODELDIR_CASES = [
    Case("params_wrong_length", "modeldir", model_dir(npz(theta=theta_like(lambda t: np.zeros(t.size + 3)))),
         r"array 'theta' has shape \(\d+,\), expected \(\d+,\)", ModelFileError, names="params.npz"),
    Case("params_2d", "modeldir", model_dir(npz(theta=theta_like(lambda t: t[None, :]))),
         r"array 'theta' has shape \(1, \d+\)", ModelFileError, names="params.npz", cli=False),
    Case("params_nan", "modeldir", model_dir(npz(theta=theta_like(_set_nan))),
         r"array 'theta' holds a non-finite value at index 7", ModelFileError, names="params.npz"),
    Case("params_inf", "modeldir", model_dir(npz(theta=theta_like(_set_inf))),
         r"array 'theta' holds a non-finite value at index 3", ModelFileError, names="params.npz", cli=False),
    Case("params_float32", "modeldir", model_dir(npz(theta=theta_like(lambda t: t.astype(np.float32)))),
         r"array 'theta' has dtype float32, expected float64", ModelFileError, names="params.npz"),
    Case("params_big_endian", "modeldir", model_dir(npz(theta=theta_like(lambda t: t.astype(">f8")))),
         r"array 'theta' has dtype >f8", ModelFileError, names="params.npz", cli=False),
    Case("params_pickled_objects", "modeldir",
         model_dir(npz(theta=theta_like(lambda t: np.array([{"a": 1}] * t.size, dtype=object)))),
         r"array 'theta' has dtype object", ModelFileError, names="params.npz"),
    Case("params_extra_array", "modeldir", model_dir(npz(theta=theta_like(lambda t: t), evil=np.zeros(2))),
         r"unexpected array 'evil\.npy'", ModelFileError, names="params.npz", cli=False),
    Case("params_truncated", "modeldir",
         model_dir(lambda md, m: (md / "params.npz").write_bytes((md / "params.npz").read_bytes()[:200])),
         r"not a valid \.npz file", ModelFileError, names="params.npz"),
    Case("params_missing", "modeldir", model_dir(lambda md, m: (md / "params.npz").unlink()),
         r"params\.npz not found", ModelFileError, names="params.npz"),
    Case("params_corrupt_deflate", "modeldir", model_dir(npz_bytes_edit(_garble_deflate, compressed=True)),
         r"array 'theta' is unreadable|not a valid", ModelFileError, names="params.npz",
         fixed="io.py read_npz_checked: " + FIXED_ZLIB),
    Case("params_encrypted_member", "modeldir", model_dir(npz_bytes_edit(_flag_encrypted)),
         r"array 'theta' is unreadable|not a valid", ModelFileError, names="params.npz",
         fixed="io.py read_npz_checked: zipfile raises RuntimeError for an encrypted member; not caught, traceback"),
    Case("params_unknown_compression", "modeldir", model_dir(npz_bytes_edit(_unknown_method)),
         r"array 'theta' is unreadable|not a valid", ModelFileError, names="params.npz",
         fixed="io.py read_npz_checked: zipfile raises NotImplementedError for compression method 99; not "
               "caught, traceback"),
    Case("params_npy_header_nul_byte", "modeldir", model_dir(_npy_header_nul),
         r"array 'theta' is unreadable", ModelFileError, names="params.npz",
         fixed="io.py read_npz_checked: numpy's .npy header parser raises tokenize.TokenError for a NUL byte in "
               "the header; not caught (only ValueError/OSError/...), CLI traceback"),
    Case("model_json_invalid", "modeldir", model_dir(model_json(text=lambda s: s[: len(s) // 2])),
         r"not valid JSON", ModelFileError, names="model.json"),
    Case("model_json_spec_unknown_key", "modeldir",
         model_dir(model_json(lambda doc: doc["spec"].update(colour="red"))),
         r"key 'colour': unknown key", ModelFileError, names="model.json"),
    Case("model_json_spec_edited", "modeldir",
         model_dir(model_json(lambda doc: doc["spec"]["measurement"].update(bins=3))),
         r"key 'layout'", ModelFileError, names="model.json"),
    Case("model_json_n_params_string", "modeldir",
         model_dir(model_json(lambda doc: doc.update(n_params=str(doc["n_params"])))),
         r"key 'n_params': n_params must be an integer", ModelFileError, names="model.json", cli=False),
    Case("model_json_format_version_boolean", "modeldir",
         model_dir(model_json(lambda doc: doc.update(format_version=True))),
         r"key 'format_version'", ModelFileError, names="model.json",
         fixed="io.py load_model: isinstance(True, int) holds, so \"format_version\": true is accepted as 1"),
    Case("model_json_deeply_nested", "modeldir", model_dir(model_json(text=lambda s: "[" * 100_000)),
         r"JSON|nest", ModelFileError, names="model.json", fixed=FIXED_DEEP),
    Case("model_json_huge_integer", "modeldir",
         model_dir(model_json(text=lambda s: re.sub(r'"n_params": \d+', '"n_params": 1' + "0" * 5000, s))),
         r"n_params|JSON", ModelFileError, names="model.json", fixed=FIXED_BIGINT),
]

PREDICT_CASES = [
    Case("predict_sequences_too_short", "predict", predict_input("x\nACGTACGTAC\nACGTACGTAA\n"),
         r"sequences have length 10, but the model expects 12", names=False),
    Case("predict_iupac", "predict", predict_input("x\n" + GOOD_ROWS[0][0] + "\n" + GOOD_ROWS[1][0] + "\n"
                                                  + "ACGTNCGTACGT\n"), r"row 2: .*invalid character 'N' at position 4"),
    Case("predict_no_x_column", "predict", predict_input("seq\n" + GOOD_ROWS[0][0] + "\n"),
         r"no sequence column 'x'; columns found: \['seq'\]"),
]

FIXED_CKPT = ("training/loop.py _read_checkpoint: the fields of checkpoint.json are used unchecked; a missing or "
           "mistyped field raises {}, not an InputError naming the checkpoint and the key")

RESUME_CASES = [
    Case("resume_no_checkpoint", "resume", lambda d: (d / "ckpt").mkdir() or d / "ckpt",
         r"no checkpoint\.json here"),
    Case("resume_not_a_checkpoint", "resume", checkpoint(lambda m: m.update(format="other")),
         r"not a cisreg checkpoint", cli=False),
    Case("resume_other_spec", "resume", checkpoint(lambda m: m["spec"]["measurement"].update(bins=3)),
         r"written for a different model specification"),
    Case("resume_checkpoint_json_invalid", "resume",
         checkpoint(corrupt=lambda ck: (ck / "checkpoint.json").write_text("{")), r"unreadable checkpoint", cli=False),
    Case("resume_checkpoint_npz_nan", "resume", checkpoint(corrupt=_checkpoint_nan),
         r"array 'adam_v' holds a non-finite value at index 2", names="checkpoint.npz"),
    Case("resume_missing_rng_state", "resume", checkpoint(lambda m: m.pop("rng")), r"rng",
         fixed=FIXED_CKPT.format("KeyError 'rng' (a traceback on the CLI)")),
    Case("resume_history_not_numbers", "resume", checkpoint(lambda m: m.update(history={"val_nll": "abc"})),
         r"history", fixed=FIXED_CKPT.format("a bare ValueError 'could not convert string to float'")),
    Case("resume_best_val_null", "resume", checkpoint(lambda m: m.update(best_val=None)), r"best_val",
         fixed=FIXED_CKPT.format("TypeError from float(None) (a traceback on the CLI)")),
    Case("resume_restart_out_of_range", "resume", checkpoint(lambda m: m.update(restart=5)), r"restart",
         fixed=FIXED_CKPT.format("'min() arg is an empty sequence' (restart 5 of 1 leaves no runs)")),
]

FILE_CASES = TABLE_CASES + SPEC_CASES + MODELDIR_CASES + PREDICT_CASES + RESUME_CASES
assert len({c.id for c in FILE_CASES}) == len(FILE_CASES)


def _param(case: Case) -> Any:
    return pytest.param(case, id=case.id)


# ----------------------------------------------------------------------------- running a case


def _api_call(case: Case, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # duplicate rows are aggregated with a warning
        if case.kind == "table":
            data = cisreg.read_table(path)
            cisreg.fit(data, cisreg.spec_from_dict(case.spec or SPEC), epochs=1, quiet=True, n_threads=1)
        elif case.kind == "spec":
            cisreg.Model(cisreg.read_spec(path))  # compiling runs the graph checks of kinetic models
        elif case.kind == "modeldir":
            cisreg.load(path)
        elif case.kind == "predict":
            model = cisreg.load(path.parent / "model")
            _, codes = cisreg.read_sequences(path)
            model.x_to_phi(codes)
        elif case.kind == "resume":
            data = cisreg.read_table(_write(path.parent / "good.csv", GOOD_CSV))
            cisreg.fit(data, cisreg.spec_from_dict(SPEC), epochs=2, quiet=True, n_threads=1, resume=path)
        else:  # pragma: no cover
            raise AssertionError(case.kind)


def _expected_name(case: Case, path: Path) -> str | None:
    if case.names is True:
        return path.name
    return case.names or None


@pytest.mark.parametrize("case", [_param(c) for c in FILE_CASES])
def test_api(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    if case.match is None:
        _api_call(case, path)
        return
    with pytest.raises(case.exc) as err:
        _api_call(case, path)
    msg = str(err.value)
    assert re.search(case.match, msg), msg
    name = _expected_name(case, path)
    if name:
        assert name in msg, msg


def _cli_argv(case: Case, d: Path, path: Path) -> list[str]:
    fit_opts = ["--out", str(d / "out"), "--epochs", "1", "--quiet", "--threads", "1"]
    if case.kind == "table":
        _write(d / "spec.json", json.dumps(case.spec or SPEC))
        return ["fit", str(path), "--model", str(d / "spec.json"), *fit_opts]
    if case.kind == "spec":
        _write(d / "good.csv", GOOD_CSV)
        return ["fit", str(d / "good.csv"), "--model", str(path), *fit_opts]
    if case.kind == "modeldir":
        return ["info", str(path)]
    if case.kind == "resume":
        _write(d / "good.csv", GOOD_CSV)
        _write(d / "spec.json", json.dumps(SPEC))
        return ["fit", str(d / "good.csv"), "--model", str(d / "spec.json"), *fit_opts[:3], "2", *fit_opts[4:],
                "--resume", str(path)]
    return ["predict", str(d / "model"), str(path), "--out", str(d / "pred.csv")]


def _run_cli(argv: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run([sys.executable, "-m", "cisreg", *argv], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return None  # a hang


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """Run every CLI case once, a few subprocesses at a time."""
    root = tmp_path_factory.mktemp("battery_cli")
    jobs = {}
    for case in FILE_CASES:
        if not case.cli:
            continue
        d = root / case.id
        d.mkdir()
        path = case.make(d)
        jobs[case.id] = (_cli_argv(case, d, path), path)
    with ThreadPoolExecutor(max_workers=max(2, min(8, 2 * (os.cpu_count() or 1)))) as pool:
        futures = {cid: pool.submit(_run_cli, argv) for cid, (argv, _) in jobs.items()}
        return {cid: (f.result(), jobs[cid][1]) for cid, f in futures.items()}


def assert_cli_error(r: subprocess.CompletedProcess | None, pattern: str, name: str | None = None) -> str:
    assert r is not None, "the command hung (timed out)"
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cisreg: error: "), r.stderr  # one line, nothing else
    assert re.search(pattern, lines[0]), lines[0]
    if name:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", [_param(c) for c in FILE_CASES if c.cli])
def test_cli(case: Case, cli_results: dict[str, tuple[Any, Path]]) -> None:
    r, path = cli_results[case.id]
    if case.match is None:
        assert r is not None and r.returncode == 0, r
        return
    assert_cli_error(r, case.match, _expected_name(case, path))


# ----------------------------------------------------------------------------- _core and Python API cases


@pytest.fixture(scope="module")
def t() -> SimpleNamespace:
    """A small thermodynamic and a small kinetic (linear solver) model, with valid inputs."""
    model = cisreg.Model(cisreg.spec_from_dict(SPEC), seed=1)
    kspec = _k(_setitem("kinetic.solver", "linear"))
    kmodel = cisreg.Model(cisreg.spec_from_dict(kspec), seed=1)
    assert kmodel.compiled.info["solver"] == "linear"
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, (8, L), dtype=np.uint8)
    targets = rng.integers(0, 4, (8, 2)).astype(np.float64)
    df = pd.DataFrame({"x": [r[0] for r in GOOD_ROWS], "ct_0": [int(r[1]) for r in GOOD_ROWS],
                       "ct_1": [int(r[2]) for r in GOOD_ROWS]})
    return SimpleNamespace(model=model, net=model.core,
                           theta=model.theta, codes=codes, targets=targets, kmodel=kmodel,
                           knet=kmodel.core,
                           ktheta=kmodel.theta, df=df, data=cisreg.from_dataframe(df),
                           seqs=[r[0] for r in GOOD_ROWS[:4]])


def _phi(t: SimpleNamespace, codes: Any = None, theta: Any = None, rows: Any = None, n_threads: Any = 1) -> Any:
    return _core.phi(t.net, t.codes if codes is None else codes, t.theta if theta is None else theta, rows,
                     n_threads)


def _loss(t: SimpleNamespace, codes: Any = None, targets: Any = None, theta: Any = None, rows: Any = None) -> Any:
    return _core.loss_and_grad(t.net, t.codes if codes is None else codes,
                               t.targets if targets is None else targets, t.theta if theta is None else theta, rows)


def _with(a: np.ndarray, idx: tuple, v: Any) -> np.ndarray:
    a = a.copy()
    a[idx] = v
    return a


def _rows_longlong(t: SimpleNamespace) -> None:
    if np.dtype(np.longlong).char == np.dtype(np.int64).char:
        pytest.skip("np.longlong is the int64 dtype itself on this platform")
    rows = np.array([0, 2, 5], dtype=np.longlong)
    assert rows.dtype == np.int64
    np.testing.assert_array_equal(_phi(t, rows=rows), _phi(t, rows=rows.astype(np.int64)))


def _grad_out_is_theta(t: SimpleNamespace) -> Any:
    th = t.theta.copy()
    return _core.loss_and_grad(t.net, t.codes, t.targets, th, None, 1, True, th)


@dataclass(frozen=True)
class Call:
    id: str
    fn: Callable[[SimpleNamespace], Any]
    exc: Any
    match: str | None
    fixed: str | None = None      # the bug this case exposed (since fixed); kept as its record


FIXED_UNCOVERED = ("network_cpu.cpp / kinetic_cpu.cpp: codes >= alphabet size are only detected inside site windows; "
                "at positions no site covers they are accepted silently (Model.x_to_phi does not check uint8 codes)")

CALL_CASES = [
    # the _core boundary
    Call("core_phi_float_codes", lambda t: _phi(t, codes=t.codes.astype(np.float64)), ValueError,
         r"codes: expected dtype uint8, got float64"),
    Call("core_phi_int32_rows", lambda t: _phi(t, rows=np.array([0, 1], np.int32)), ValueError,
         r"rows: expected dtype int64, got int32"),
    Call("core_phi_float_rows", lambda t: _phi(t, rows=np.array([0.0, 1.0])), ValueError,
         r"rows: expected dtype int64, got float64"),
    Call("core_phi_2d_rows", lambda t: _phi(t, rows=np.zeros((2, 1), np.int64)), ValueError,
         r"rows: expected a 1-D array, got 2-D"),
    Call("core_phi_1d_codes", lambda t: _phi(t, codes=t.codes.ravel()), ValueError,
         r"codes: expected a 2-D array, got 1-D"),
    Call("core_phi_3d_codes", lambda t: _phi(t, codes=t.codes[:, :, None]), ValueError,
         r"codes: expected a 2-D array, got 3-D"),
    Call("core_phi_fortran_codes", lambda t: _phi(t, codes=np.asfortranarray(t.codes)), ValueError,
         r"codes: array must be C-contiguous"),
    Call("core_phi_codes_wrong_length", lambda t: _phi(t, codes=np.zeros((3, L + 1), np.uint8)), ValueError,
         r"codes: axis 1 has length 13, expected 12 \(sequence length of the model\)"),
    Call("core_phi_codes_list", lambda t: _phi(t, codes=t.codes.tolist()), ValueError,
         r"codes: expected a numpy array of uint8, got list"),
    Call("core_phi_theta_short", lambda t: _phi(t, theta=t.theta[:-1].copy()), ValueError,
         r"theta: axis 0 has length \d+, expected \d+ \(number of model parameters\)"),
    Call("core_phi_theta_long", lambda t: _phi(t, theta=np.append(t.theta, 0.0)), ValueError,
         r"theta: axis 0 has length \d+, expected \d+"),
    Call("core_phi_theta_strided", lambda t: _phi(t, theta=np.repeat(t.theta, 2)[::2]), ValueError,
         r"theta: array must be C-contiguous"),
    Call("core_phi_theta_big_endian", lambda t: _phi(t, theta=t.theta.astype(">f8")), ValueError,
         r"theta: expected dtype float64, got >f8"),
    Call("core_phi_theta_nan", lambda t: _phi(t, theta=_with(t.theta, (3,), np.nan)), ValueError,
         r"theta\[3\] is NaN"),
    Call("core_phi_n_threads_negative", lambda t: _phi(t, n_threads=-2), ValueError, r"n_threads must be >= 1"),
    Call("core_phi_n_threads_string", lambda t: _phi(t, n_threads="4"), TypeError, r"incompatible function arguments"),
    Call("core_phi_network_none", lambda t: _core.phi(None, t.codes, t.theta), TypeError,
         r"incompatible function arguments"),
    Call("core_phi_code_outside_alphabet", lambda t: _phi(t, codes=_with(t.codes, (1, 2), 4)), ValueError,
         r"codes: row 1, position 2 holds code 4"),
    Call("core_phi_code_outside_alphabet_uncovered_position", lambda t: _phi(t, codes=_with(t.codes, (1, 5), 4)),
         ValueError, r"codes: row 1, position 5 holds code 4", FIXED_UNCOVERED),
    Call("core_phi_rows_longlong", _rows_longlong, None, None,
         "arrays.hpp checked<int64_t>: dtype identity test refuses np.longlong rows (also int64) with the "
         "self-contradictory message 'expected dtype int64, got int64'"),
    Call("core_loss_targets_fortran", lambda t: _loss(t, targets=np.asfortranarray(t.targets)), ValueError,
         r"targets: array must be C-contiguous"),
    Call("core_loss_targets_int64", lambda t: _loss(t, targets=t.targets.astype(np.int64)), ValueError,
         r"targets: expected dtype float64 or float32, got int64"),
    Call("core_loss_targets_1d", lambda t: _loss(t, targets=t.targets[:, 0].copy()), ValueError,
         r"targets: expected a 2-D array, got 1-D"),
    Call("core_loss_targets_wrong_rows", lambda t: _loss(t, targets=t.targets[:5].copy()), ValueError,
         r"targets: axis 0 has length 5, expected 8"),
    Call("core_loss_targets_negative", lambda t: _loss(t, targets=_with(t.targets, (4, 1), -1.0)), ValueError,
         r"targets: row 4, column 1 is a negative count"),
    Call("core_loss_targets_inf", lambda t: _loss(t, targets=_with(t.targets, (6, 0), np.inf)), ValueError,
         r"targets: row 6, column 0 is not finite"),
    Call("core_loss_rows_out_of_range", lambda t: _loss(t, rows=np.array([0, 1, 99], np.int64)), ValueError,
         r"rows\[2\] = 99 is out of range for 8 sequences"),
    Call("core_loss_grad_out_is_theta", _grad_out_is_theta, ValueError, r"grad_out",
         "bind_network.cpp loss_and_grad: grad_out may alias theta; it is zero-filled before the kernel reads "
         "theta, so the returned loss (and theta) are silently wrong"),
    Call("core_kinetic_phi_float_codes",
         lambda t: _core.phi(t.knet, t.codes.astype(np.float64), t.ktheta), ValueError,
         r"codes: expected dtype uint8, got float64"),
    Call("core_kinetic_loss_theta_short",
         lambda t: _core.loss_and_grad(t.knet, t.codes, t.targets, t.ktheta[:-2].copy()),
         ValueError, r"theta: axis 0 has length"),
    Call("core_kinetic_code_outside_alphabet_uncovered_position",
         lambda t: t.kmodel.x_to_phi(_with(t.codes, (1, 6), 9)), ValueError, r"row 1, position 6 holds code 9",
         FIXED_UNCOVERED),
    # the Python API
    Call("api_x_to_phi_single_string", lambda t: t.model.x_to_phi(t.seqs[0]), InputError,
         r"single string; wrap it in a list"),
    Call("api_x_to_phi_wrong_length", lambda t: t.model.x_to_phi([s[:-1] for s in t.seqs]), InputError,
         r"sequences have length 11, but the model expects 12"),
    Call("api_x_to_phi_ragged", lambda t: t.model.x_to_phi([t.seqs[0], t.seqs[1][:-2]]), InputError,
         r"row 1: the sequence has length 10 but expected length 12"),
    Call("api_x_to_phi_iupac", lambda t: t.model.x_to_phi([t.seqs[0], "N" + t.seqs[1][1:]]), InputError,
         r"row 1: the sequence has an invalid character 'N' at position 0"),
    Call("api_x_to_phi_missing_entry", lambda t: t.model.x_to_phi([t.seqs[0], float("nan")]), InputError,
         r"row 1: the sequence is missing"),
    Call("api_x_to_phi_bytes", lambda t: t.model.x_to_phi([s.encode() for s in t.seqs]), InputError,
         r"row 0: the sequence is not a string but bytes"),
    Call("api_x_to_phi_none", lambda t: t.model.x_to_phi(None), InputError, r"got NoneType"),
    Call("api_x_to_phi_fortran_codes", lambda t: t.model.x_to_phi(np.asfortranarray(t.codes)), ValueError,
         r"codes: array must be C-contiguous"),
    Call("api_model_theta_nan", lambda t: cisreg.Model(t.model.spec, _with(t.theta, (5,), np.nan)), InputError,
         r"theta\[5\] is not finite"),
    Call("api_model_theta_wrong_shape", lambda t: cisreg.Model(t.model.spec, np.zeros(3)), InputError,
         r"theta has shape \(3,\), expected"),
    Call("api_model_theta_string", lambda t: cisreg.Model(t.model.spec, "abc"), (InputError, TypeError), r"theta",
         "model.py Model.__init__: np.ascontiguousarray('abc', dtype=float64) raises a bare ValueError "
         "'could not convert string to float' that does not mention theta"),
    Call("api_model_spec_wrong_type", lambda t: cisreg.Model(42), (InputError, TypeError), r"ModelSpec|spec_from_dict",
         "model.py Model.__init__ / compile_spec: a dict instead of a ModelSpec raises AttributeError "
         "('dict' object has no attribute 'alphabet')"),
    Call("api_fit_list_not_dataset", lambda t: cisreg.fit([1, 2, 3], t.model.spec, epochs=1, quiet=True),
         (InputError, TypeError), r"Dataset|from_dataframe",
         "training/loop.py fit: a DataFrame instead of a Dataset raises AttributeError ('DataFrame' object has no "
         "attribute 'counts')"),
    Call("api_fit_epochs_zero", lambda t: cisreg.fit(t.data, t.model.spec, epochs=0, quiet=True), InputError,
         r"epochs must be an integer >= 1, got 0"),
    Call("api_fit_restarts_float", lambda t: cisreg.fit(t.data, t.model.spec, restarts=2.0, quiet=True), InputError,
         r"restarts must be an integer >= 1, got 2\.0"),
    Call("api_fit_learning_rate_nan", lambda t: cisreg.fit(t.data, t.model.spec, learning_rate=float("nan"),
                                                           quiet=True), InputError, r"learning_rate"),
    Call("api_fit_alphabet_mismatch",
         lambda t: cisreg.fit(t.data, cisreg.spec_from_dict(spec_with(_setitem("alphabet", "rna"))), epochs=1,
                              quiet=True), InputError, r"the data use alphabet ACGT, the model ACGU"),
    Call("api_spec_from_dict_list", lambda t: cisreg.spec_from_dict([SPEC]), ModelFileError,
         r"must be an object \(a JSON dict\), got list"),
    Call("api_spec_from_dict_mixed_key_types", lambda t: cisreg.spec_from_dict({**SPEC, 1: 0, "colour": 0}),
         ModelFileError, r"unknown key",
         "spec.py _keys: sorted() of unknown keys of mixed types (1 and 'colour') raises TypeError "
         "\"'<' not supported between instances of 'str' and 'int'\""),
    Call("api_read_table_unknown_alphabet", lambda t: cisreg.read_table(t.path_good, alphabet="AC"), InputError,
         r"invalid character 'T' at position 0"),
    Call("api_from_dataframe_not_a_frame", lambda t: cisreg.from_dataframe(t.df.to_dict()), InputError,
         r"expected a pandas DataFrame, got dict"),
]
assert len({c.id for c in CALL_CASES}) == len(CALL_CASES)


@pytest.mark.parametrize(
    "call", [pytest.param(c, id=c.id) for c in CALL_CASES])
def test_call(call: Call, t: SimpleNamespace, tmp_path: Path) -> None:
    t.path_good = _write(tmp_path / "good.csv", GOOD_CSV)
    if call.exc is None:
        call.fn(t)
        return
    with pytest.raises(call.exc) as err:
        call.fn(t)
    assert re.search(call.match, str(err.value)), str(err.value)


# ----------------------------------------------------------------------------- accepted input: lower case


def _case_variants() -> dict[str, list[str]]:
    upper = [r[0] for r in GOOD_ROWS]
    mixed = ["".join(ch.lower() if i % 2 else ch for i, ch in enumerate(s)) for s in upper]
    return {"upper": upper, "lower": [s.lower() for s in upper], "mixed": mixed}


def _table_with(seqs: list[str]) -> str:
    return "x,ct_0,ct_1\n" + "".join(f"{s},{r[1]},{r[2]}\n" for s, r in zip(seqs, GOOD_ROWS))


@pytest.mark.parametrize("variant", ["lower", "mixed"])
def test_lowercase_table_equals_uppercase(variant: str, tmp_path: Path) -> None:
    seqs = _case_variants()
    up = cisreg.read_table(_write(tmp_path / "up.csv", _table_with(seqs["upper"])))
    other = cisreg.read_table(_write(tmp_path / "other.csv", _table_with(seqs[variant])))
    np.testing.assert_array_equal(other.x, up.x)
    np.testing.assert_array_equal(other.codes, up.codes)
    np.testing.assert_array_equal(other.counts, up.counts)
    np.testing.assert_array_equal(other.split, up.split)
    assert any("lower-case" in n for n in other.notes)


def test_lowercase_phi_and_fit_equal_uppercase(t: SimpleNamespace) -> None:
    seqs = _case_variants()
    phi_up = t.model.x_to_phi(seqs["upper"])
    for variant in ("lower", "mixed"):
        np.testing.assert_array_equal(t.model.x_to_phi(seqs[variant]), phi_up)
        np.testing.assert_array_equal(t.kmodel.x_to_phi(seqs[variant]), t.kmodel.x_to_phi(seqs["upper"]))
    counts = {f"ct_{j}": [int(r[1 + j]) for r in GOOD_ROWS] for j in range(2)}
    fits = []
    for variant in ("upper", "lower"):
        data = cisreg.from_dataframe(pd.DataFrame({"x": seqs[variant], **counts}))
        fits.append(cisreg.fit(data, t.model.spec, epochs=2, seed=4, quiet=True, n_threads=1))
    np.testing.assert_array_equal(fits[0].model.theta, fits[1].model.theta)
    assert fits[0].history == fits[1].history


def test_cli_predict_lowercase_equals_uppercase(tmp_path: Path) -> None:
    md = _save_model(tmp_path)
    seqs = _case_variants()
    outs = {}
    procs = {}
    for variant in ("upper", "lower", "mixed"):
        src = _write(tmp_path / f"{variant}.csv", "x\n" + "".join(s + "\n" for s in seqs[variant]))
        procs[variant] = subprocess.Popen(
            [sys.executable, "-m", "cisreg", "predict", str(md), str(src), "--out", str(tmp_path / f"{variant}.out")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    for variant, p in procs.items():
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs[variant] = pd.read_csv(tmp_path / f"{variant}.out")
    for variant in ("lower", "mixed"):
        pd.testing.assert_frame_equal(outs[variant], outs["upper"])
    assert list(outs["lower"]["x"]) == seqs["upper"]
