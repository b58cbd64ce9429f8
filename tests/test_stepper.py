"""The epoch in the core (_core.adam_epoch, behind cisreg.training.loop.train_epoch) against the
loop it replaces: one kernel call and one Adam step per minibatch in Python. The same
steps, bit for bit, in both precisions, with row weights, for any thread count and for
every thread policy; divergence and bad arguments are reported, never silent."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cisreg
from cisreg import _core
from cisreg.training.adam import Adam
from cisreg.training.loop import l2_vector, train_epoch
from cisreg.training.stepper import StopFit
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
            raise StopFit("diverged")
        grad /= len(rows)  # per row (variant): the penalty does not depend on the reads per variant
        grad += l2 * theta
        opt.step(theta, grad)
        if not np.all(np.isfinite(theta)):
            raise StopFit("diverged")
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
    with pytest.raises(StopFit):
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


class _ScriptedStepper:
    """A back end whose validation losses are given: the loop's decisions, without kernels."""

    def __init__(self, model, losses, fail_at=None, interrupt_at=None):
        self.model, self.opt = model, Adam(model.theta.size)
        self.losses, self.fail_at, self.interrupt_at = list(losses), fail_at, interrupt_at
        self.epoch, self._best, self.synced = 0, None, 0

    def start(self, best_theta):
        self._best = best_theta.copy()

    def step_epoch(self, rng, batch_size):
        self.epoch += 1
        if self.epoch == self.fail_at:
            raise StopFit("diverged")
        if self.epoch == self.interrupt_at:
            raise KeyboardInterrupt
        self.model.theta[:] = self.epoch  # the parameters of epoch e are all e
        return 10.0, 5.0

    def val_loss(self):
        return self.losses[self.epoch - 1]

    def keep_best(self):
        self._best[:] = self.model.theta

    def best(self):
        return self._best

    def sync(self):
        self.synced += 1


@pytest.mark.parametrize(("losses", "fail", "intr", "best", "run", "reason"), [
    ([5, 4, 3, 3.5, 3.2, 3.1, 3.3], None, None, 3, 5, "early_stopping"),  # patience 2
    ([5, 4, 3, 2, 1, 0.5, 0.4], None, None, 7, 7, "max_epochs"),
    ([5, 4, 3, 2, 1, 0.5, 0.4], 4, None, 3, 3, "diverged at epoch 4"),
    ([5, 4, 3, 2, 1, 0.5, 0.4], None, 3, 2, 2, "interrupted at epoch 2"),
    ([5, 4, float("nan"), 2, 1, 0.5, 0.4], None, None, 2, 3, "diverged at epoch 4"),
])
def test_the_one_loop_decides_for_every_back_end(losses, fail, intr, best, run, reason, tmp_path):
    """run_epochs over any stepper: early stopping, the epoch limit, divergence (raised, or a
    non-finite validation loss) and interrupts keep the best epoch's parameters; checkpoints
    ask the back end for its state first."""
    from cisreg.training.stepper import run_epochs

    m = cisreg.Model(cisreg.preset("lac"))
    st = _ScriptedStepper(m, losses, fail, intr)
    settings = {"epochs": 7, "patience": 2, "batch_size": 10, "learning_rate": 0.1, "seed": 0}
    res = run_epochs(st, rng=np.random.default_rng(0), settings=settings, reads_val=1.0, checkpoint_every=2,
                     checkpoint_dir=tmp_path / "ck")
    assert res.best_epoch == best and res.epochs_run == run and reason in res.stop_reason
    assert np.all(m.theta == best)
    assert res.diverged == reason.startswith("diverged") and res.interrupted == reason.startswith("interrupted")
    assert st.synced == (run - (run % 2)) // 2 + (1 if res.stop_reason in ("early_stopping", "max_epochs")
                                                   and run % 2 else 0)


def test_early_stopping_watches_at_most_val_max_rows(monkeypatch):
    """A large validation split is watched on evenly spaced rows (a cheap pass per epoch); the
    fit is the same as a fit whose validation split is those rows."""
    import cisreg.training.loop as loop

    data = cisreg.load_example("lac-sortseq")
    monkeypatch.setattr(loop, "VAL_MAX_ROWS", 1000)
    val = data.indices("validation")
    kept = val[:: -(-len(val) // 1000)]
    assert 900 < len(kept) <= 1000
    res = cisreg.fit(data, "lac", epochs=2, n_threads=1, quiet=True, seed=0)
    monkeypatch.setattr(loop, "VAL_MAX_ROWS", 10**9)
    split = np.asarray(data.split).copy()
    dropped = np.setdiff1d(val, kept)
    split[dropped] = 2  # the other validation rows become test rows
    sub = cisreg.Dataset(x=data.x, codes=data.codes, alphabet=data.alphabet, counts=data.counts, y=None,
                         split=split, source=data.source)
    ref = cisreg.fit(sub, "lac", epochs=2, n_threads=1, quiet=True, seed=0)
    assert res.history["val_nll"] == ref.history["val_nll"]
    np.testing.assert_array_equal(res.model.theta, ref.model.theta)
