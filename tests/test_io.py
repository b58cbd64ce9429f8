"""Model directories: round trip, atomic writes, and refusal of malformed or hostile files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import cisreg
from cisreg.errors import ModelFileError
from cisreg.models import Model, preset


@pytest.fixture
def saved(tmp_path):
    m = Model(preset("lac"), seed=5)
    m.save(tmp_path / "m", metadata={"note": "x"})
    return m, tmp_path / "m"


def test_round_trip_identical(saved):
    m, d = saved
    m2 = cisreg.load(d)
    assert np.array_equal(m.theta, m2.theta) and m2.metadata == {"note": "x"}
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (200, 75), dtype=np.uint8)
    assert np.array_equal(m.x_to_phi(codes), m2.x_to_phi(codes))
    assert not list(d.glob(".*tmp"))  # no temporary files left behind


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_refuses_wrong_shape_dtype_nan_and_extra(saved):
    m, d = saved
    P = m.layout.size
    cases = [
        (_npz(theta=np.zeros(P + 1)), "shape"),
        (_npz(theta=np.zeros(P, np.float32)), "dtype"),
        (_npz(theta=np.full(P, np.nan)), "non-finite"),
        (_npz(theta=np.zeros(P), evil=np.zeros(2)), "unexpected array"),
        (_npz(other=np.zeros(P)), "unexpected array"),
        (b"not a zip", "not a valid .npz"),
        (_npz(theta=np.array(["a"] * 3, dtype=object)), "dtype|unreadable"),
    ]
    for blob, msg in cases:
        (d / "params.npz").write_bytes(blob)
        with pytest.raises(ModelFileError, match=msg):
            cisreg.load(d)


def test_refuses_huge_declared_shape(saved, tmp_path):
    """A header that declares a huge array is refused before any allocation."""
    m, d = saved
    P = m.layout.size
    header = {"descr": "<f8", "fortran_order": False, "shape": (P,)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    body = buf.getvalue() + b"\0" * (8 * P)
    huge = body.replace(f"({P},)".encode(), b"(10000000000000,)".ljust(len(f"({P},)")))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("theta.npy", huge)
    (d / "params.npz").write_bytes(zbuf.getvalue())
    with pytest.raises(ModelFileError):
        cisreg.load(d)


def test_refuses_bad_model_json(saved):
    _m, d = saved
    good = json.loads((d / "model.json").read_text())
    cases = [
        ({**good, "format": "pickle"}, "not a cisreg model file"),
        ({**good, "format_version": 99}, "upgrade cisreg"),
        ({**good, "n_params": 10**12}, "n_params"),
        ({**good, "n_params": good["n_params"] + 1}, "layout"),
        ({**good, "spec": {**good["spec"], "sites": [{"name": "../../etc", "start": 0, "width": 3}]}}, "name"),
        ({**good, "spec": {**good["spec"], "length": -5}}, "length"),
    ]
    for doc, msg in cases:
        (d / "model.json").write_text(json.dumps(doc))
        with pytest.raises(ModelFileError, match=msg):
            cisreg.load(d)
    (d / "model.json").write_text("{ not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        cisreg.load(d)
    (d / "model.json").write_bytes(b"{" + b" " * (17 * 1024 * 1024) + b"}")
    with pytest.raises(ModelFileError, match="more than"):
        cisreg.load(d)


def test_missing_files(tmp_path):
    with pytest.raises(ModelFileError, match="not a directory"):
        cisreg.load(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(ModelFileError, match="model.json not found"):
        cisreg.load(tmp_path / "d")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    from cisreg.models import io as mio

    target = tmp_path / "f.json"
    mio.atomic_write_json(target, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mio.os, "replace", boom)
    with pytest.raises(OSError):
        mio.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_params_from_another_save_are_refused(tmp_path):
    a = Model(preset("lac"), seed=1)
    b = Model(preset("lac"), seed=2)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    (tmp_path / "a" / "params.npz").write_bytes((tmp_path / "b" / "params.npz").read_bytes())
    with pytest.raises(ModelFileError, match="not the parameter file"):
        cisreg.load(tmp_path / "a")


def test_written_files_have_the_usual_permissions(tmp_path):
    import os

    Model(preset("lac"), seed=1).save(tmp_path / "m")
    mask = os.umask(0)
    os.umask(mask)
    for f in ("model.json", "params.npz"):
        assert (tmp_path / "m" / f).stat().st_mode & 0o777 == 0o666 & ~mask


def test_refuses_symbolic_links_and_special_files(saved, tmp_path):
    """A model directory's files are its own: a symbolic link (even to the right file) or a
    directory in a file's place is refused, naming the file."""
    import shutil

    _m, d = saved
    for name in ("model.json", "params.npz"):
        e = tmp_path / f"elsewhere-{name}"
        shutil.copy(d / name, e)
        (d / name).unlink()
        (d / name).symlink_to(e)
        with pytest.raises(ModelFileError, match=f"{name} is a symbolic link"):
            cisreg.load(d)
        (d / name).unlink()
        (d / name).mkdir()
        with pytest.raises(ModelFileError, match=f"{name} is not a regular file"):
            cisreg.load(d)
        (d / name).rmdir()
        shutil.copy(e, d / name)
        cisreg.load(d)
