"""The step-size schedule: the bold driver against a NumPy transcription, its roll-back, threads and the probe."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import cmf
from cmf._input import Triplets, as_triplets
from cmf._train import blocks as _blocks
from cmf._train.probe import PROBE_SIZE, merge_probes, probe_fraction, select_probe
from cmf._train.schedule import CUT, GROWTH, MAX_CUTS, StepSize
from cmf._train.state import initial_state

REG, REG_B = 0.05, 0.02


def sgd_epoch(rows, cols, values, P, Q, b, c, mu, lr):
    """One plain SGD pass in the given order, float64, both factor rows from their old values."""
    for u, i, r in zip(rows, cols, values):
        e = r - (mu + b[u] + c[i] + P[u] @ Q[i])
        b[u] += lr * (e - REG_B * b[u])
        c[i] += lr * (e - REG_B * c[i])
        p_old = P[u].copy()
        P[u] += lr * (e * Q[i] - REG * P[u])
        Q[i] += lr * (e * p_old - REG * Q[i])


def objective(rows, cols, values, P, Q, b, c, mu):
    """Squared errors plus each entry's penalties, as the model's docstring writes the objective."""
    with np.errstate(over="ignore", invalid="ignore"):
        err = values - (mu + b[rows] + c[cols] + np.einsum("ij,ij->i", P[rows], Q[cols]))
        return float(np.sum(err * err) + REG * np.sum((P[rows] ** 2).sum(1) + (Q[cols] ** 2).sum(1))
                     + REG_B * np.sum(b[rows] ** 2 + c[cols] ** 2))


def bold_driver(rows, cols, values, params, mu, lr, n_epochs):
    """The bold driver written out: keep an epoch that does not raise the loss (step x 1.05), else undo it (x 0.5).

    The loss is the objective after the epoch; the first epoch is compared
    with the loss of the starting point.
    """
    params = [a.astype(np.float64) for a in params]
    kept_params = [a.copy() for a in params]
    best = objective(rows, cols, values, *params, mu)  # the bar for the first epoch: the start
    rates, kept = [], []
    for _ in range(n_epochs):
        rates.append(lr)
        with np.errstate(over="ignore", invalid="ignore"):
            sgd_epoch(rows, cols, values, *params, mu, lr)
        loss = objective(rows, cols, values, *params, mu)
        if math.isfinite(loss) and loss <= best:
            best, lr = loss, lr * 1.05
            kept_params = [a.copy() for a in params]
            kept.append(1.0)
        else:
            params, lr = [a.copy() for a in kept_params], lr * 0.5
            kept.append(0.0)
    return params, rates, kept


def small_problem(seed=0, n_rows=20, n_cols=15, k=3):
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n_rows, k)) @ rng.standard_normal((k, n_cols)) + 3.0
    rows, cols = np.nonzero(rng.random(R.shape) < 0.6)
    order = rng.permutation(len(rows))
    return rows[order], cols[order], R[rows, cols][order]


def test_bold_driver_matches_its_numpy_transcription_through_roll_backs():
    rows, cols, values = small_problem()
    # A first step far too large: the driver must undo epochs and cut it.
    params = dict(n_factors=3, learning_rate=0.4, schedule="bold_driver", regularization=REG,
                  bias_regularization=REG_B, shuffle=False, dtype="float64", max_epochs=25, tol=0, random_state=5)
    model = cmf.MatrixFactorization(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values)
    data = as_triplets(rows, cols, values, dtype=np.float64)
    start = initial_state(data, model._config(), np.random.default_rng(5))
    expected, rates, kept = bold_driver(rows, cols, values, [start.P, start.Q, start.b, start.c], start.mu,
                                        0.4, 25)
    assert 0.0 in kept and kept[-5:].count(1.0) >= 1  # it undid epochs and went on
    assert model.history_["kept"] == kept
    np.testing.assert_allclose(model.history_["learning_rate"], rates, rtol=1e-12)
    for name, want in zip(("user_factors_", "item_factors_", "user_bias_", "item_bias_"), expected):
        np.testing.assert_allclose(getattr(model, name), want, rtol=1e-9, atol=1e-12, err_msg=name)


class RisingEpochs:
    """An epoch source that adds its epoch number to P and whose third epoch raises the loss (see LOSSES)."""

    def __init__(self, state):
        self.state, self.calls, self.rollbacks = state, [], 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def run(self, epoch, learning_rate, next_learning_rate):
        self.calls.append((epoch, learning_rate, self.state.P.copy()))
        self.state.P += epoch
        return 0.0

    def rollback(self):
        self.rollbacks += 1


# The loss after each epoch (no penalty: regularization 0): the third rises.
LOSSES = [10.0, 8.0, 50.0, 7.0, 6.0]


def test_a_rising_epoch_is_rolled_back_and_the_step_halved(monkeypatch):
    from cmf._train import epochs as _epochs, loop as _loop

    rows, cols, values = small_problem(1)
    sources = []

    def epochs(self, state, config, rng, adagrad, interrupt):
        sources.append(RisingEpochs(state))
        return sources[-1]

    monkeypatch.setattr(_epochs.LocalData, "epochs", epochs)
    class PlannedLoss:
        """The loss of the start (20), then that after each epoch."""

        def __init__(self, state, probe, n_entries):
            pass

        def __call__(self):
            return ([20.0] + LOSSES)[len(sources[0].calls)]

    monkeypatch.setattr(_loop, "ProbeLoss", PlannedLoss)
    model = cmf.MatrixFactorization(n_factors=3, learning_rate=0.02, schedule="bold_driver", regularization=0,
                                    bias_regularization=0, max_epochs=5, tol=0, dtype="float64", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values)
    calls = sources[0].calls
    assert [c[1] for c in calls] == pytest.approx([0.02, 0.02 * GROWTH, 0.02 * GROWTH**2,
                                                   0.02 * GROWTH**2 * CUT, 0.02 * GROWTH**3 * CUT])
    assert model.history_["kept"] == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert model.history_["train_loss"] == LOSSES
    # Epoch 4 started from epoch 2's parameters (the start plus 1 + 2), not epoch 3's (plus 3 more).
    start = calls[0][2]
    np.testing.assert_array_equal(calls[3][2], start + 1 + 2)
    assert sources[0].rollbacks == 1
    # The model is epoch 5's: plus 1 + 2 + 4 + 5 (padding columns included in the source's view).
    np.testing.assert_array_equal(model.user_factors_, (start + 1 + 2 + 4 + 5)[:, :3])


def _planned_fit(monkeypatch, losses, fitted=None, **params):
    """Fit with epochs that add their number to P and the given loss after each (the start's is 20).

    ``fitted``, a list, receives the model and the list of epoch sources
    before the fit, for a fit that raises.
    """
    from cmf._train import epochs as _epochs, loop as _loop

    rows, cols, values = small_problem(1)
    sources = []

    def epochs(self, state, config, rng, adagrad, interrupt):
        sources.append(RisingEpochs(state))
        return sources[-1]

    class PlannedLoss:
        def __init__(self, state, probe, n_entries):
            pass

        def __call__(self):
            return ([20.0] + losses)[len(sources[0].calls)]

    monkeypatch.setattr(_epochs.LocalData, "epochs", epochs)
    monkeypatch.setattr(_loop, "ProbeLoss", PlannedLoss)
    model = cmf.MatrixFactorization(n_factors=3, learning_rate=0.02, schedule="bold_driver", regularization=0,
                                    bias_regularization=0, max_epochs=len(losses), dtype="float64",
                                    random_state=0, **params)
    if fitted is not None:
        fitted.append((model, sources))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values)
    return model, sources[0]


def test_epochs_undone_for_a_rise_within_tol_end_in_convergence_not_divergence(monkeypatch):
    # At a minimum every epoch raises the loss a little, at any step (a
    # logistic fit gets there within tens of epochs): after the two kept
    # epochs, every one rises by less than tol = 1e-3 of the loss 10, 22
    # epochs in a row, more than MAX_CUTS. Each is undone, and 5 of them
    # (n_iter_no_change) in a row without progress is convergence.
    flat = [10.0 + 0.5e-3 * 0.5**j for j in range(MAX_CUTS + 2)]
    model, source = _planned_fit(monkeypatch, [12.0, 10.0, *flat], tol=1e-3, n_iter_no_change=5)
    assert model.converged_ and model.n_epochs_ == 2 + 5
    assert model.history_["kept"] == [1.0, 1.0] + [0.0] * 5
    assert source.rollbacks == 5
    start = source.calls[0][2]
    np.testing.assert_array_equal(model.user_factors_, (start + 1 + 2)[:, :3])  # epoch 2's model


def test_epochs_undone_for_a_rise_beyond_tol_still_end_in_divergence(monkeypatch):
    # The same, rising by 2 tol each time: the step is cut MAX_CUTS times, then the fit diverges.
    rising = [10.0 * (1 + 2e-3)] * (MAX_CUTS + 2)
    fitted = []
    with pytest.raises(cmf.DivergenceError, match=f"{MAX_CUTS} epochs in a row") as info:
        _planned_fit(monkeypatch, [12.0, 10.0, *rising], fitted, tol=1e-3, n_iter_no_change=5)
    # Every epoch run is in the error's history, the one that gave up
    # included (it was missing: 21 epochs for an error at epoch 22).
    model, sources = fitted[0]
    history = info.value.history
    assert info.value.epoch == 2 + MAX_CUTS == len(history["epoch"])
    assert history["kept"] == [1.0, 1.0] + [0.0] * MAX_CUTS
    assert history["train_loss"] == [12.0, 10.0] + rising[:MAX_CUTS]
    assert history["learning_rate"][-1] == pytest.approx(0.02 * GROWTH**2 * CUT**(MAX_CUTS - 1))
    # Training rolled back to epoch 2's parameters; the failed fit stored none of it.
    np.testing.assert_array_equal(sources[0].state.P, sources[0].calls[0][2] + 1 + 2)
    assert not model.__sklearn_is_fitted__()


@pytest.mark.parametrize("losses", [[25.0, math.inf, 21.0], [math.nan]])
def test_a_fit_that_keeps_no_epoch_fails_as_a_divergence(monkeypatch, losses):
    # Every epoch raises the loss above the start's 20 and is undone, fewer
    # than MAX_CUTS of them: training is still at its random start, which is
    # no fit. Before, this returned that start as a fitted model, with a
    # warning that blamed a learning rate too small to move it; then it
    # raised but stored the start; now the model stays unfitted.
    fitted = []
    n = len(losses)
    with pytest.raises(cmf.DivergenceError) as info:
        _planned_fit(monkeypatch, losses, fitted)
    model, sources = fitted[0]
    rate = 0.02 * CUT**n  # halved after each epoch
    assert str(info.value).startswith(f"SGD diverged: {'all 3 epochs' if n == 3 else 'the only epoch run'} raised "
                                      "the training loss")
    assert f"(now {rate:.3g})" in str(info.value) and "raise max_epochs" in str(info.value)
    assert info.value.epoch == n and n < MAX_CUTS
    assert info.value.history["kept"] == [0.0] * n and len(info.value.history["epoch"]) == n
    assert sources[0].rollbacks == n
    # Training ended at its start (P before the first epoch, biases zero), which the model did not take.
    np.testing.assert_array_equal(sources[0].state.P, sources[0].calls[0][2])
    assert not sources[0].state.b.any() and not sources[0].state.c.any()
    assert not model.__sklearn_is_fitted__()
    with pytest.raises(cmf.NotFittedError):
        model.predict([0], [0])


def test_a_fit_that_keeps_an_epoch_after_undoing_the_first_stands(monkeypatch):
    # The first epoch rises and is undone, the second is kept: an ordinary fit, stopped at max_epochs.
    fitted = []
    with pytest.raises(cmf.ConvergenceWarning, match="max_epochs=2"):  # _planned_fit makes it an error
        _planned_fit(monkeypatch, [25.0, 15.0], fitted)
    model, sources = fitted[0]
    assert model.history_["kept"] == [0.0, 1.0] and model.n_epochs_ == 2
    np.testing.assert_array_equal(model.user_factors_, (sources[0].calls[0][2] + 2)[:, :3])  # epoch 2 on the start


def test_step_size_counts_a_flat_rise_apart_from_a_cut():
    step = StepSize(0.1, adaptive=True, reference=10.0)
    assert not step.keep(10.001, tol=1e-3) and step.flat and step.cuts == 0 and step.rate == pytest.approx(0.05)
    assert not step.keep(10.02, tol=1e-3) and not step.flat and step.cuts == 1
    assert not step.keep(math.inf, tol=1e-3) and not step.flat and step.cuts == 2
    assert not step.keep(10.001) and not step.flat and step.cuts == 3  # tol = 0: any rise counts
    assert step.keep(9.0, tol=1e-3) and not step.flat and step.cuts == 0 and step.reference == 9.0


class ShrinkingEpochs(RisingEpochs):
    """Each epoch halves P, which brings predictions nearer a validation set of zeros."""

    def run(self, epoch, learning_rate, next_learning_rate):
        self.calls.append((epoch, learning_rate, self.state.P.copy()))
        self.state.P *= 0.5
        return 0.0


def test_an_undone_epoch_does_not_use_up_early_stopping_patience(monkeypatch):
    # Epoch 3 raises the loss and is undone; its validation RMSE is epoch 2's.
    # It says nothing about the model, so patience=1 must not stop there.
    from cmf._train import epochs as _epochs, loop as _loop

    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, 20, 200), rng.integers(0, 15, 200)
    sources = []

    def epochs(self, state, config, rng_, adagrad, interrupt):
        sources.append(ShrinkingEpochs(state))
        return sources[-1]

    class PlannedLoss:
        def __init__(self, state, probe, n_entries):
            pass

        def __call__(self):
            return ([20.0] + LOSSES)[len(sources[0].calls)]

    monkeypatch.setattr(_epochs.LocalData, "epochs", epochs)
    monkeypatch.setattr(_loop, "ProbeLoss", PlannedLoss)
    model = cmf.MatrixFactorization(n_factors=3, learning_rate=0.02, schedule="bold_driver", biased=False,
                                    regularization=0, bias_regularization=0, max_epochs=5, tol=0, patience=1, duplicates="keep",
                                    dtype="float64", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, rng.standard_normal(200), shape=(20, 15),
                           validation=(rows[:50], cols[:50], np.zeros(50)))
    assert model.history_["kept"] == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert model.n_epochs_ == 5 and model.best_epoch_ == 5


def test_step_size_rules():
    step = StepSize(0.1, adaptive=True)
    assert step.keep(10.0) and step.rate == pytest.approx(0.1 * GROWTH)
    assert step.next_if_kept() == pytest.approx(0.1 * GROWTH**2)
    assert not step.keep(10.5) and step.rate == pytest.approx(0.1 * GROWTH * CUT)
    assert step.divergence(3) is None
    assert not step.keep(math.nan) and not step.keep(math.inf)
    assert step.keep(10.0)  # equal to the last kept loss: kept
    for _ in range(MAX_CUTS):
        assert not step.keep(11.0)
    assert "halved after each" in " ".join(step.divergence(30))
    constant = StepSize(0.01, adaptive=False)
    assert constant.keep(5.0) and constant.keep(50.0) and constant.rate == 0.01
    assert not constant.keep(math.nan) and "smaller learning_rate" in " ".join(constant.divergence(2))


def test_a_constant_step_is_exactly_the_learning_rate_given():
    rows, cols, values = small_problem(2)
    model = cmf.MatrixFactorization(n_factors=3, learning_rate=0.01, max_epochs=7, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values)
    assert model.history_["learning_rate"] == [0.01] * 7
    assert model.history_["kept"] == [1.0] * 7


def ratings(n_rows=900, n_cols=700, n=40_000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_rows, n), rng.integers(0, n_cols, n), rng.normal(3.5, 1.0, n), (n_rows, n_cols)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_default_schedule_is_bit_identical_for_any_thread_count(monkeypatch, dtype):
    monkeypatch.setattr(_blocks, "GRID_CACHE_BYTES", 16 << 10)  # several tiles per stratum
    rows, cols, values, shape = ratings()
    assert _blocks.choose_grid(*shape, 12, 4).n_tiles >= 4
    fits = []
    for n_threads in (1, 2):
        # A large first step, so that epochs are undone along the way.
        model = cmf.MatrixFactorization(n_factors=12, learning_rate=0.3, schedule="bold_driver", max_epochs=12,
                                        n_threads=n_threads, dtype=dtype, random_state=3, duplicates="keep")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            fits.append(model.fit_triplets(rows, cols, values, shape=shape))
    one, two = fits
    assert 0.0 in one.history_["kept"]
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(one.__getattribute__(name), two.__getattribute__(name), err_msg=name)
    for key in ("train_loss", "learning_rate", "kept"):
        assert one.history_[key] == two.history_[key]


def test_the_probe_is_the_same_entries_in_any_order_and_partition():
    rng = np.random.default_rng(0)
    n = 10 * PROBE_SIZE
    rows = rng.integers(0, 5000, n).astype(np.int32)
    cols = rng.integers(0, 3000, n).astype(np.int32)
    values = rng.random(n)
    fraction = probe_fraction(n)
    assert fraction == pytest.approx(0.1)
    whole = select_probe(Triplets(rows, cols, values, (5000, 3000)), fraction)
    assert abs(len(whole) - PROBE_SIZE) < 5 * np.sqrt(PROBE_SIZE)  # a binomial draw around the size
    key = np.lexsort((whole.values, whole.cols, whole.rows))
    assert np.array_equal(key, np.arange(len(whole)))  # sorted
    # Shuffled and cut into two "tiles" with local indices: the same probe.
    order = rng.permutation(n)
    top = rows[order] < 2500
    parts = [select_probe(Triplets(rows[order][m] - off, cols[order][m], values[order][m], None), fraction, off, 0)
             for m, off in ((top, 0), (~top, 2500))]
    merged = merge_probes(parts, (5000, 3000), np.dtype(np.float64))
    for name in ("rows", "cols", "values"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    # Up to PROBE_SIZE entries the probe is every entry.
    small = select_probe(Triplets(rows[:100], cols[:100], values[:100], (5000, 3000)), probe_fraction(100))
    assert len(small) == 100
