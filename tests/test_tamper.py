"""Random tampering with a store's files and a model directory's files: opening them either
fails with a clean error that names the store or directory, or gives exactly the data and
the model that were written. Never another exception, never different data."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cisreg
from cisreg.data.store import open_store, save_store
from cisreg.errors import DataWarning, InputError, ModelFileError

CLEAN = (InputError, ModelFileError)  # InputError is a ValueError; ModelFileError an InputError
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("tamper")
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"x": ["".join(rng.choice(list("ACGT"), 12)) for _ in range(n)], "y": rng.normal(size=n),
                       "dy": rng.uniform(0.1, 1, n), "reads": rng.integers(0, 9, n).astype(float),
                       "tag": [f"t{i}" for i in range(n)], "set": rng.choice(["training", "validation", "test"], n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        store = save_store(cisreg.from_dataframe(df), d / "s.store")
    model = cisreg.Model({"alphabet": "dna", "length": 12, "sites": [{"name": "A", "start": 0, "width": 12}],
                          "thermodynamic": {"states": [{"name": "free", "bound": []},
                                                       {"name": "A", "bound": ["A"], "activity": 1}]},
                          "measurement": {"type": "ge", "hidden": 2}}, seed=1)
    mdir = model.save(d / "model")
    return store, open_store(store), mdir, model


def _same_data(a, b) -> bool:
    return (np.array_equal(np.asarray(a.codes), np.asarray(b.codes)) and list(a.x[:]) == list(b.x[:])
            and np.array_equal(np.asarray(a.split), np.asarray(b.split)) and np.array_equal(a.y, b.y)
            and np.array_equal(a.dy, b.dy) and sorted(a.extra) == sorted(b.extra)
            and all(np.array_equal(np.asarray(a.extra[k]), np.asarray(b.extra[k])) for k in a.extra)
            and a.alphabet == b.alphabet)


def _flip(path: Path, pos: int, bit: int) -> None:
    b = bytearray(path.read_bytes())
    if b:
        b[pos % len(b)] ^= 1 << bit
        path.write_bytes(bytes(b))


def _truncate(path: Path, frac: float) -> None:
    b = path.read_bytes()
    path.write_bytes(b[: int(len(b) * frac)])


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8),
                        st.sampled_from(["../x.npy", "/etc/passwd", "codes.npy", "ACGU", "float64"]),
                        st.lists(st.integers(0, 5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()))


def _edit_json(path: Path, which: int, value, rehash: bool) -> None:
    """Replace one leaf of a JSON document (chosen by index) by ``value``; with ``rehash`` the
    store's meta_sha256 is recomputed, as a deliberate edit would do."""
    doc = json.loads(path.read_text())
    leaves = []

    def walk(node, parent, key):
        if isinstance(node, dict):
            for k in list(node):
                walk(node[k], node, k)
        elif isinstance(node, list):
            for i in range(len(node)):
                walk(node[i], node, i)
        if parent is not None:
            leaves.append((parent, key))

    walk(doc, None, None)
    parent, key = leaves[which % len(leaves)]
    parent[key] = value
    if rehash and isinstance(doc, dict) and "meta_sha256" in doc:
        from cisreg.data.store import _meta_hash

        doc["meta_sha256"] = _meta_hash(doc)
    path.write_text(json.dumps(doc))


@SETTINGS
@given(st.data())
def test_a_tampered_store_is_refused_or_unchanged(written, tmp_path_factory, data):
    store, original, _, _ = written
    d = tmp_path_factory.mktemp("s") / "s.store"
    shutil.copytree(store, d)
    files = sorted(p.name for p in d.iterdir())
    target = d / data.draw(st.sampled_from(files))
    how = data.draw(st.sampled_from(["flip", "truncate", "edit", "edit_rehashed", "remove", "extra_file"]))
    if how == "flip":
        _flip(target, data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 7)))
    elif how == "truncate":
        _truncate(target, data.draw(st.floats(0, 0.999)))
    elif how.startswith("edit"):
        _edit_json(d / "meta.json", data.draw(st.integers(0, 10**4)), data.draw(JSON_VALUES), how == "edit_rehashed")
    elif how == "remove":
        target.unlink()
    else:
        (d / "notes.txt").write_text("an unrelated file")
    try:
        got = open_store(d)
    except CLEAN as e:
        assert str(d) in str(e)
        return
    # opened: then it holds exactly what was written. (A deliberate edit that also updates
    # meta_sha256 may rename a column or relabel the alphabet, as an edit of a table's header
    # would: it must open cleanly or be refused cleanly, nothing more.)
    if how != "edit_rehashed":
        assert _same_data(got, original), how


@SETTINGS
@given(st.data())
def test_a_tampered_model_directory_is_refused_or_unchanged(written, tmp_path_factory, data):
    _, _, mdir, model = written
    d = tmp_path_factory.mktemp("m") / "model"
    shutil.copytree(mdir, d)
    target = d / data.draw(st.sampled_from(["model.json", "params.npz"]))
    how = data.draw(st.sampled_from(["flip", "truncate", "edit", "remove"]))
    if how == "flip":
        _flip(target, data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 7)))
    elif how == "truncate":
        _truncate(target, data.draw(st.floats(0, 0.999)))
    elif how == "edit":
        _edit_json(d / "model.json", data.draw(st.integers(0, 10**4)), data.draw(JSON_VALUES), False)
    else:
        target.unlink()
    try:
        got = cisreg.load(d)
    except CLEAN as e:
        assert str(d) in str(e)
        return
    # loaded: the parameters are those written (params.npz is checked against model.json's
    # SHA-256); model.json itself is the model's description, which an edit may change
    if got.layout.size == model.layout.size and target.name == "params.npz":
        np.testing.assert_array_equal(got.theta, model.theta)
