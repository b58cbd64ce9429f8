"""Build and load the hand-fused float32 C++ baseline (``fused_lac.cpp``) through ctypes.

    from baselines.fused import load_fused
    fused = load_fused()                      # or load_fused("x86-64-v3"); None without a compiler
    loss, grad = fused(codes, counts, theta, rows=None, n_threads=1)

The library is compiled on first use with ``g++ -O3 -march=<march> -fopenmp -shared -fPIC``
(compiler from ``$CXX``, else ``g++``) into a cache folder (``$CISREG_FUSED_CACHE``, else
``<tmp>/cisreg-bench-fused-<uid>``), one file per source, compiler, flags and CPU, so later
calls load it without compiling. ``march`` defaults to ``$CISREG_FUSED_MARCH`` or ``native``.
At load, the layout the kernel was written for is checked against cisreg's ``lac`` preset.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SRC = Path(__file__).with_name("fused_lac.cpp")

# Order of the constants fused_lac_info() writes.
_INFO = ("P", "L", "Y", "H", "S0", "W0", "S1", "W1", "E.CRP", "eps.CRP", "E.RNAP", "eps.RNAP",
         "dG_I", "t_sat", "mpa.a", "mpa.b", "mpa.c", "mpa.d")


def _note(msg: str) -> None:
    print(f"baselines.fused: {msg}", file=sys.stderr, flush=True)


def _cache_dir(cache_dir: str | None) -> Path:
    d = cache_dir or os.environ.get("CISREG_FUSED_CACHE")
    if not d:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        d = os.path.join(tempfile.gettempdir(), f"cisreg-bench-fused-{uid}")
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _cpu_id() -> str:
    """Model name and flags of the CPU (part of the cache key of -march=native builds)."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith(("model name", "flags"))]
        return "\n".join(lines[:2])
    except OSError:
        import platform

        return platform.processor() + platform.machine()


def build(march: str | None = None, *, cxx: str | None = None, cache_dir: str | None = None,
          extra_flags: tuple[str, ...] = (), quiet: bool = False) -> Path | None:
    """Compile fused_lac.cpp (if not cached) and return the library's path; None on failure."""
    march = march or os.environ.get("CISREG_FUSED_MARCH") or "native"
    cxx = cxx or os.environ.get("CXX") or "g++"
    exe = shutil.which(cxx)
    if exe is None:
        _note(f"no C++ compiler ({cxx!r} not found; set $CXX); the fused baseline is unavailable")
        return None
    flags = ["-O3", f"-march={march}", "-fopenmp", "-shared", "-fPIC", "-std=gnu++17", *extra_flags]
    try:
        version = subprocess.run([exe, "--version"], check=False, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        _note(f"cannot run {exe}: {e}; the fused baseline is unavailable")
        return None
    h = hashlib.sha256()
    for part in (SRC.read_bytes(), exe.encode(), version.encode(), " ".join(flags).encode(), _cpu_id().encode()):
        h.update(part)
        h.update(b"\0")
    out = _cache_dir(cache_dir) / f"fused_lac-{march}-{h.hexdigest()[:16]}.so"
    if out.exists():
        return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cmd = [exe, *flags, "-o", str(tmp), str(SRC)]
    if not quiet:
        _note("compiling: " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        _note(f"compiler failed to run: {e}; the fused baseline is unavailable")
        return None
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-20:])
        _note(f"compilation failed (exit {r.returncode}); the fused baseline is unavailable:\n{tail}")
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, out)  # atomic: a concurrent build of the same key writes the same file
    return out


def _expected_layout() -> dict[str, int] | None:
    """The kernel's constants as cisreg's lac preset has them (None if cisreg is not importable)."""
    try:
        from cisreg.models import Model, preset
    except ImportError:
        return None
    m = Model(preset("lac"))
    spec, lay = m.spec, m.layout
    sites = {s.name: s for s in spec.sites}
    meas = m.core.measurement
    want = {"P": lay.size, "L": spec.length, "Y": meas.n_bins, "H": meas.hidden,
            "S0": sites["CRP"].start, "W0": sites["CRP"].width,
            "S1": sites["RNAP"].start, "W1": sites["RNAP"].width}
    shapes = {"E.CRP": (sites["CRP"].width, 4), "E.RNAP": (sites["RNAP"].width, 4),
              "mpa.a": (meas.n_bins,), "mpa.b": (meas.n_bins, meas.hidden),
              "mpa.c": (meas.n_bins, meas.hidden), "mpa.d": (meas.n_bins, meas.hidden)}
    blocks = {b.name: b for b in lay}
    if set(blocks) != set(_INFO[8:]) or spec.alphabet != "ACGT":
        raise RuntimeError(f"cisreg's lac preset has blocks {sorted(blocks)}; fused_lac.cpp was written for "
                           f"{sorted(_INFO[8:])} over ACGT")
    for name, b in blocks.items():
        if tuple(b.shape) != shapes.get(name, ()):
            raise RuntimeError(f"block {name} of cisreg's lac preset has shape {tuple(b.shape)}, "
                               f"fused_lac.cpp expects {shapes.get(name, ())}")
        want[name] = b.offset
    states = [(s.name, tuple(s.bound), tuple(s.interactions), s.activity) for s in spec.gpmap.states]
    if states != [("free", (), (), 0.0), ("CRP", ("CRP",), (), 0.0), ("RNAP", ("RNAP",), (), 1.0),
                  ("CRP+RNAP", ("CRP", "RNAP"), ("dG_I",), 1.0)]:
        raise RuntimeError(f"cisreg's lac preset has states {states}; fused_lac.cpp hard-codes another model")
    return want


class FusedLac:
    """The loaded kernel: ``fused(codes, counts, theta, rows=None, n_threads=1) -> (loss, grad)``."""

    def __init__(self, path: Path, march: str, check_layout: bool = True) -> None:
        self.path, self.march = Path(path), march
        lib = ctypes.CDLL(str(path))
        lib.fused_lac_info.restype = ctypes.c_int64
        lib.fused_lac_info.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        lib.fused_lac_loss_grad.restype = ctypes.c_double
        lib.fused_lac_loss_grad.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.fused_lac_math.restype = None
        lib.fused_lac_math.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        self._lib = lib
        info = np.zeros(len(_INFO), np.int64)
        #: SIMD lanes (sequences per vector): 16 with AVX-512, 8 with AVX2, 4 otherwise.
        self.lanes = int(lib.fused_lac_info(info.ctypes.data, len(_INFO)))
        #: The constants the kernel was compiled with (sizes, site windows, block offsets).
        self.layout = dict(zip(_INFO, (int(v) for v in info)))
        self.P, self.L, self.Y = self.layout["P"], self.layout["L"], self.layout["Y"]
        if check_layout:
            want = _expected_layout()
            if want is not None and want != self.layout:
                diff = {k: (self.layout.get(k), want.get(k)) for k in want if want.get(k) != self.layout.get(k)}
                raise RuntimeError(f"fused_lac.cpp's layout does not match cisreg's lac preset "
                                   f"(name: (kernel, cisreg)): {diff}")

    def __call__(self, codes: np.ndarray, counts: np.ndarray, theta: np.ndarray,
                 rows: np.ndarray | None = None, n_threads: int = 1) -> tuple[float, np.ndarray]:
        """Summed NLL over ``rows`` (default all) and its gradient (float64, cisreg's layout).

        codes: uint8 [n, 75] in 0..3 (values are read modulo 4; they are not range-checked);
        counts: float64 [n, 10]; theta: float64 [1782]; rows: integer indices into [0, n).
        Arrays that are not C-contiguous of these dtypes are converted (a copy).
        """
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        counts = np.ascontiguousarray(counts, dtype=np.float64)
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.L:
            raise ValueError(f"codes must have shape [n, {self.L}], got {codes.shape}")
        n = codes.shape[0]
        if counts.shape != (n, self.Y):
            raise ValueError(f"counts must have shape [{n}, {self.Y}], got {counts.shape}")
        if theta.shape != (self.P,):
            raise ValueError(f"theta must have shape [{self.P}], got {theta.shape}")
        if rows is not None:
            rows = np.ascontiguousarray(rows, dtype=np.int64)
            if rows.ndim != 1:
                raise ValueError(f"rows must be one-dimensional, got shape {rows.shape}")
        nt = int(n_threads)
        if nt < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        b = n if rows is None else rows.shape[0]
        if b > 0 and n == 0:
            raise IndexError("rows given for an empty data set")
        grad = np.empty(self.P)
        loss = self._lib.fused_lac_loss_grad(codes.ctypes.data, n, None if rows is None else rows.ctypes.data, b,
                                             counts.ctypes.data, theta.ctypes.data, grad.ctypes.data, nt)
        if np.isnan(loss) and rows is not None and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"rows must lie in [0, {n}), got [{rows.min()}, {rows.max()}]")
        return float(loss), grad

    def math(self, which: str, x: np.ndarray) -> np.ndarray:
        """The kernel's own vector tanh / exp / log on float32 values (for accuracy checks)."""
        k = {"tanh": 0, "exp": 1, "log": 2}[which]
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty_like(x)
        self._lib.fused_lac_math(k, x.ctypes.data, y.ctypes.data, x.size)
        return y

    def __repr__(self) -> str:
        return f"FusedLac(march={self.march!r}, lanes={self.lanes}, path={str(self.path)!r})"


def load_fused(march: str | None = None, *, cxx: str | None = None, cache_dir: str | None = None,
               check_layout: bool = True, quiet: bool = False) -> FusedLac | None:
    """The fused baseline as a callable ``(codes, counts, theta, rows=None, n_threads=1) -> (loss, grad)``,
    built for ``-march=<march>`` (default ``$CISREG_FUSED_MARCH`` or ``native``); None (with a message
    on stderr) when it cannot be compiled or loaded."""
    march = march or os.environ.get("CISREG_FUSED_MARCH") or "native"
    path = build(march, cxx=cxx, cache_dir=cache_dir, quiet=quiet)
    if path is None:
        return None
    try:
        return FusedLac(path, march, check_layout=check_layout)
    except OSError as e:  # e.g. a truncated cache file
        _note(f"cannot load {path}: {e}; the fused baseline is unavailable")
        return None
