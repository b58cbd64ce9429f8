"""Timing and JSON-reporting helpers shared by the benchmarks in this folder."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def time_call(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(max(0, warmup)):
        fn()
    out = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median_iqr(xs: Sequence[float]) -> tuple[float, float]:
    """Median and interquartile range (0 for fewer than two samples)."""
    xs = sorted(xs)
    med = statistics.median(xs)
    if len(xs) < 2:
        return med, 0.0
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return med, q[2] - q[0]


class Reporter:
    """Prints one JSON object per line and optionally appends them to a file."""

    def __init__(self, json_path: str | None = None) -> None:
        self.lines: list[dict[str, Any]] = []
        self.json_path = json_path

    def emit(self, record: dict[str, Any]) -> None:
        self.lines.append(record)
        print(json.dumps(record), flush=True)

    def close(self) -> None:
        if self.json_path:
            with open(self.json_path, "w") as f:
                for r in self.lines:
                    f.write(json.dumps(r) + "\n")


def record(bench: str, *, n: int, L: int, states: int, device: str, kernel_level: str, threads: int,
           times: Sequence[float], n_timed: int | None = None, baseline_per_seq: float | None = None,
           dtype: str = "float64", **extra: Any) -> dict[str, Any]:
    """A benchmark record. ``times`` are seconds per call over ``n_timed`` rows (default ``n``);
    median_s and iqr_s are scaled to ``n`` rows so that records with subsampled timing compare."""
    med, iqr = median_iqr(times)
    scale = n / float(n_timed if n_timed else n)
    med *= scale
    iqr *= scale
    per_seq = med / n
    r: dict[str, Any] = {
        "bench": bench, "n": n, "L": L, "states": states, "device": device,
        "kernel_level": kernel_level, "threads": threads, "dtype": dtype,
        "median_s": med, "iqr_s": iqr, "seqs_per_s": n / med if med > 0 else float("inf"),
        "us_per_seq": per_seq * 1e6,
        "ratio_vs_baseline": (baseline_per_seq / per_seq) if baseline_per_seq else 1.0,
    }
    r.update(extra)
    return r
