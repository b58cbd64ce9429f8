"""The epoch in the core (_core.adam_epoch, behind cisreg.fit.loop.train_epoch) against the
loop it replaces: one kernel call and one Adam step per minibatch in Python. The same
steps, bit for bit, in both precisions, with row weights, for any thread count and for
every thread policy; divergence and bad arguments are reported, never silent."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cisreg
from cisreg import _core
from cisreg.fit.adam import Adam
from cisreg.fit.loop import _Stop, l2_vector, train_epoch
from randmodels import random_data, random_model


def _python_epoch(model, codes, targets, amounts, train, rng, batch_size, opt, l2, n_threads, dtype, weights=None):
    """The minibatch loop as Python ran it before the core took it over."""
    theta = model.theta
    grad = np.empty(theta.size)
    perm = rng.permutation(train)
    tot, tot_reads = 0.0, 0.0
    for i in range(0, len(perm), batch_size):
        rows = np.sort(perm[i : i + batch_size])
        loss, _ = model.loss(codes, targets, rows, n_threads=n_threads, grad=True, grad_out=grad, dtype=dtype,
                             weights=weights)
        reads = float(amounts[rows].sum())
        if reads == 0:
            continue
        if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
            raise _Stop("diverged")
        grad /= reads
        grad += l2 * theta
        opt.step(theta, grad)
        if not np.all(np.isfinite(theta)):
            raise _Stop("diverged")
        tot += loss
        tot_reads += reads
    return tot, tot_reads


def _setup(rng, measurement=None):
    kw = {} if measurement is None else {"measurement": measurement}
    m = random_model(rng, n_sites=2, n_states=4, **kw)
    codes, targets = random_data(rng, m, 1300)
    amounts = m.spec.measurement.amounts(targets)
    l2 = l2_vector(m.layout, 1e-3)
    mask = m.layout.trainable_mask()
    return m, codes, targets, amounts, l2, mask


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("measurement", [None, {"type": "ge", "noise": "cauchy", "hidden": 2}])
@pytest.mark.parametrize("batch", [128, 16])  # 16: enough minibatches that the core times 1 and 2 threads
def test_core_epoch_equals_the_python_loop(dtype, weighted, measurement, batch, rng):
    m, codes, targets, amounts, l2, mask = _setup(rng, measurement)
    train = np.sort(rng.choice(1300, 1000, replace=False)).astype(np.int64)
    weights = rng.integers(0, 3, 1300).astype(np.float64) if weighted else None
    if weighted:
        amounts = amounts * weights
        train = train[weights[train] > 0]
    out = {}
    for name, fn in (("python", _python_epoch), ("core", train_epoch)):
        for nt, work in ((1, None), (2, 0), (2, None)):
            mm = cisreg.Model(m.spec, m.theta.copy())
            opt = Adam(m.theta.size, learning_rate=0.02, mask=mask)
            erng = np.random.default_rng(3)
            before = _core.set_min_thread_work(work) if work is not None else None
            try:
                res = []
                for _ in range(3):  # several epochs: the step count and moments carry over
                    if fn is train_epoch:
                        res.append(fn(mm, codes, targets, amounts, train, erng, batch, opt, None, l2, nt, dtype,
                                      weights))
                    else:
                        res.append(fn(mm, codes, targets, amounts, train, erng, batch, opt, l2, nt, dtype, weights))
            finally:
                if before is not None:
                    _core.set_min_thread_work(before)
            out[(name, nt, work)] = (res, mm.theta.copy(), opt.m.copy(), opt.v.copy(), opt.t)
    ref = out[("python", 1, None)]
    assert ref[4] == 3 * math.ceil(len(train) / batch)
    for key, got in out.items():
        assert got[0] == ref[0], key
        for a, b in zip(got[1:4], ref[1:4]):
            assert np.array_equal(a, b), key
        assert got[4] == ref[4], key
    assert not np.array_equal(out[("core", 1, None)][1], m.theta)  # it moved


def test_divergence_is_reported(rng):
    m, codes, targets, amounts, l2, mask = _setup(rng)
    opt = Adam(m.theta.size, learning_rate=1e300, mask=mask)
    with pytest.raises(_Stop):
        for _ in range(5):
            train_epoch(m, codes, targets, amounts, np.arange(1300), np.random.default_rng(0), 100, opt, None, l2, 1,
                        "float64")


def test_bad_arguments_are_input_errors(rng):
    m, codes, targets, amounts, l2, _ = _setup(rng)
    P = m.theta.size
    mom = np.zeros(P)
    good = dict(model=m.core, codes=codes, targets=targets, theta=m.theta.copy(), adam_m=mom.copy(),
                adam_v=mom.copy(), adam_t=0, order=np.arange(1300, dtype=np.int64), batch_size=100,
                amounts=amounts, l2=l2)
    cases = [({"order": np.array([0, 1300], dtype=np.int64)}, "order\\[1\\]"),
             ({"order": np.arange(10, dtype=np.int32)}, "order: expected dtype int64"),
             ({"batch_size": 0}, "batch_size"),
             ({"amounts": amounts[:-1]}, "amounts"),
             ({"l2": l2[:-1]}, "l2"),
             ({"adam_m": mom[:-1]}, "adam_m"),
             ({"theta": np.zeros(P)[::-1]}, "theta"),
             ({"mask": np.ones(P, bool)}, "mask: expected dtype uint8")]
    for change, match in cases:
        with pytest.raises(cisreg.InputError, match=match):
            _core.adam_epoch(**{**good, **change})
    shared = np.zeros(P)
    with pytest.raises(cisreg.InputError, match="share memory"):
        _core.adam_epoch(**{**good, "adam_m": shared, "adam_v": shared})


def test_small_calls_run_on_one_thread_and_large_ones_on_several():
    """The thread policy: a lac minibatch of 500 rows is below the work that pays for a second
    thread, a full epoch of 10^5 rows is above it."""
    m = cisreg.Model(cisreg.preset("lac"))
    w = _core.row_work(m.core)
    assert 500 * w < 1 << 21 < 100_000 * w
