from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import cisreg

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=15)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


#: The CPU instruction-set copies of the kernels this CPU can execute ("scalar", "generic",
#: "x86-64-v3" on AVX2, also "x86-64-v4" on AVX-512): the precision and agreement tests run
#: on each, so that no copy ships untested on any machine that runs the suite.
KERNEL_LEVELS = cisreg.cpu_kernel_levels()


@pytest.fixture(scope="module", params=KERNEL_LEVELS)
def kernel_level(request: pytest.FixtureRequest) -> object:
    """Runs the tests that use it once per executable CPU kernel copy (the level that
    isa="auto" runs, process-wide, for the duration)."""
    with cisreg.kernel_level(request.param):
        yield request.param


def pytest_report_header(config: pytest.Config) -> str:
    return (f"cisreg kernel levels run by the precision tests: {', '.join(KERNEL_LEVELS)} "
            f"(isa='auto' is {cisreg._core.cpu_kernel_level()})")


@pytest.fixture
def every_thread() -> object:
    """Kernel calls use every thread asked for, however little work they hold (by default
    a small call runs on one thread), so that tests of thread invariance run threads."""
    from cisreg import _core

    before = _core.set_min_thread_work(0)
    yield
    _core.set_min_thread_work(before)
