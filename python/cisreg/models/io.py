"""Model directories: ``model.json`` (spec, parameter layout, metadata, version) plus
``params.npz`` (the flat parameter vector), and ``report.json`` for fits.

Files are written atomically (temporary name in the same directory, fsync, rename),
so a crash at any moment leaves either the old file or the new one. Loading never
unpickles or evaluates anything, refuses arrays whose declared shape or dtype does
not match the specification before allocating them, and refuses oversized files.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from .model import Model
from .spec import spec_from_dict

FORMAT = "cisreg-model"
FORMAT_VERSION = 1
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_PARAMS = 50_000_000


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    if not path.parent.is_dir():
        from ..errors import InputError

        raise InputError(f"cannot write here: the directory {str(path.parent)!r} does not exist", source=str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:  # make the rename durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n").encode())


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.floating, float)):
        x = float(o)
        return x if math.isfinite(x) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def save_model(model: Model, directory: str | Path, *, metadata: dict[str, Any] | None = None,
               theta: np.ndarray | None = None) -> Path:
    """Save ``model`` into ``directory`` (created if needed): model.json + params.npz."""
    from .. import __version__

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    th = np.ascontiguousarray(model.theta if theta is None else theta, dtype=np.float64)
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "cisreg_version": __version__,
           "spec": model.spec.to_dict(), "n_params": model.layout.size, "layout": model.layout.to_json(),
           "state_names": list(model.state_names), "params_sha256": _theta_hash(th), "metadata": metadata or {}}
    # parameters first; model.json names the hash of the parameters it belongs to, so a
    # directory caught between the two writes is refused on load instead of mixed
    atomic_write_bytes(d / "params.npz", npz_bytes({"theta": th}))
    atomic_write_json(d / "model.json", doc)
    return d


def _theta_hash(theta: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(theta, dtype="<f8").tobytes()).hexdigest()


def read_json_checked(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"{path.name} not found; is this a model directory written by `cisreg fit`?",
                             source=str(path.parent)) from None
    if size > MAX_JSON_BYTES:
        raise ModelFileError(f"{path.name} is {size} bytes, more than the {MAX_JSON_BYTES} allowed",
                             source=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"not valid JSON: {e}", source=str(path)) from None
    except (ValueError, RecursionError) as e:  # huge integer literals, absurd nesting
        raise ModelFileError(f"not a usable JSON file: {str(e)[:200]}", source=str(path)) from None


def read_npz_checked(path: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Read float64 arrays ``expected`` (name -> shape) from an .npz without pickle,
    checking each member's declared dtype and shape before reading its data."""
    src = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path.name} not found", source=str(path.parent)) from None
    except Exception as e:  # untrusted bytes: any failure of the zip parser is a bad file
        raise ModelFileError(f"not a valid .npz file ({type(e).__name__}: {str(e)[:200]})", source=src) from None
    out: dict[str, np.ndarray] = {}
    with zf:
        names = set(zf.namelist())
        extra = sorted(n for n in names if n[:-4] not in expected)
        if extra:
            raise ModelFileError(f"unexpected array {extra[0]!r}; expected only {sorted(expected)}", source=src)
        for name, shape in expected.items():
            member = name + ".npy"
            if member not in names:
                raise ModelFileError(f"array {name!r} is missing", source=src)
            n_items = int(np.prod(shape)) if shape else 1
            info = zf.getinfo(member)
            if info.file_size > 8 * n_items + 4096:
                raise ModelFileError(f"array {name!r} declares {info.file_size} bytes, expected about "
                                     f"{8 * n_items}", source=src)
            try:
                with zf.open(member) as f:
                    major, _minor = np.lib.format.read_magic(f)
                    if major == 1:
                        hshape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif major in (2, 3):
                        hshape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy version {major}")
                    if dtype != np.dtype("<f8") or dtype.hasobject:
                        raise ModelFileError(f"array {name!r} has dtype {dtype}, expected float64", source=src)
                    if tuple(hshape) != tuple(shape):
                        raise ModelFileError(f"array {name!r} has shape {tuple(hshape)}, expected {tuple(shape)} "
                                             "for this model specification", source=src)
                    arr = np.frombuffer(f.read(8 * n_items), dtype="<f8")
                    if arr.size != n_items:
                        raise ModelFileError(f"array {name!r} is truncated", source=src)
                    arr = arr.reshape(shape, order="F" if fortran else "C").astype(np.float64, order="C")
            except ModelFileError:
                raise
            except Exception as e:  # corrupt deflate data, encrypted members, damaged headers, ...
                raise ModelFileError(f"array {name!r} is unreadable ({type(e).__name__}: {str(e)[:200]})",
                                     source=src) from None
            if not np.all(np.isfinite(arr)):
                bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
                raise ModelFileError(f"array {name!r} holds a non-finite value at index {bad}", source=src)
            out[name] = arr
    return out


def _own_file(d: Path, name: str) -> Path:
    """d / name, refused unless it is a regular file of the directory (not a symbolic link,
    which could point anywhere); a missing file is left to the reader's message."""
    from .._files import own_file_problem

    f = d / name
    problem = own_file_problem(f)
    if problem == "a symbolic link":
        raise ModelFileError(f"{name} is a symbolic link; a model directory's files must be regular files inside it",
                             source=str(d))
    if problem not in (None, "missing"):
        raise ModelFileError(f"{name} is {problem}", source=str(d))
    return f


def load_model(directory: str | Path) -> Model:
    """Load a model directory written by :func:`save_model` (or ``cisreg fit``). Its
    model.json and params.npz must be regular files of the directory (no symbolic links),
    model.json must name the SHA-256 of the parameters in params.npz, and every array
    header is checked before its data are read."""
    d = Path(directory)
    if not d.is_dir():
        raise ModelFileError("not a directory; give the model directory written by `cisreg fit --out`",
                             source=str(d))
    doc = read_json_checked(_own_file(d, "model.json"))
    src = str(d / "model.json")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"not a cisreg model file (missing \"format\": \"{FORMAT}\")", source=src)
    ver = doc.get("format_version")
    if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
        raise ModelFileError("format_version must be a positive integer", source=src, key="format_version")
    if ver > FORMAT_VERSION:
        raise ModelFileError(f"written in model format {ver} by cisreg {doc.get('cisreg_version')}; this cisreg "
                             f"reads format {FORMAT_VERSION} or older: upgrade cisreg", source=src)
    spec = spec_from_dict(doc.get("spec"), source=src)
    n = doc.get("n_params")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= MAX_PARAMS:
        raise ModelFileError(f"n_params must be an integer in [1, {MAX_PARAMS}]", source=src, key="n_params")
    from .compile import compile_spec

    layout = compile_spec(spec).layout
    if layout.size != n or (doc.get("layout") is not None and doc["layout"] != layout.to_json()):
        raise ModelFileError(f"the parameter layout ({n} parameters) does not match the specification "
                             f"({layout.size}); the file was edited or is corrupt", source=src, key="layout")
    arrays = read_npz_checked(_own_file(d, "params.npz"), {"theta": (n,)})
    want = doc.get("params_sha256")
    if want is not None and want != _theta_hash(arrays["theta"]):
        raise ModelFileError("params.npz is not the parameter file model.json was written with (a save was "
                             "interrupted, or the files were mixed); fit or save the model again", source=str(d))
    model = Model(spec, arrays["theta"])
    model.metadata = doc.get("metadata", {}) if isinstance(doc.get("metadata"), dict) else {}
    return model
