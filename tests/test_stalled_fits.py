"""A learning rate too small to move the model is reported, never called converged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf._input import as_triplets
from cmf._train import loop
from cmf._train.state import FactorState


def _fit(X, **params):
    """Fit with ``params``; return the model and the texts of its ConvergenceWarnings."""
    model = cmf.MatrixFactorization(**{"n_factors": 3, "random_state": 0, **params})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X)
    return model, [str(w.message) for w in record if issubclass(w.category, cmf.ConvergenceWarning)]


def _mean_rmse(X):
    """RMSE of predicting every observed cell by the mean of the observed cells (NumPy)."""
    values = X[~np.isnan(X)]
    return float(np.sqrt(np.mean((values - values.mean()) ** 2)))


def _fit_rmse(model, X):
    rows, cols = np.nonzero(~np.isnan(X))
    err = model.predict(rows, cols).astype(np.float64) - X[rows, cols]
    return float(np.sqrt(np.mean(err * err)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("learning_rate", [1e-12, 5e-324])
def test_a_learning_rate_too_small_to_move_the_model_is_not_converged(small_low_rank, dtype, learning_rate):
    model, warned = _fit(small_low_rank.X, learning_rate=learning_rate, dtype=dtype)
    # The model is no better than the mean (a trained one is several times
    # better): it never moved from its start. The random start may happen
    # to beat the mean by a hair, hence the 1%.
    assert _fit_rmse(model, small_low_rank.X) > 0.99 * _mean_rmse(small_low_rank.X)
    assert not model.converged_
    assert len(warned) == 1
    assert "no progress" in warned[0] and f"learning_rate={learning_rate:g} is too small to move it" in warned[0]
    assert "Increase learning_rate" in warned[0]
    assert ("float32 rounds" in warned[0]) == (dtype == "float32")
    # It stops where the tol rule would: after n_iter_no_change + 1 epochs.
    assert model.n_epochs_ == 6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_with_tol_zero_a_stalled_fit_stops_instead_of_running_to_max_epochs(small_low_rank, dtype):
    model, warned = _fit(small_low_rank.X, learning_rate=1e-12, dtype=dtype, tol=0.0, max_epochs=100,
                         n_iter_no_change=4)
    assert not model.converged_ and model.n_epochs_ == 5
    assert len(warned) == 1 and "no progress" in warned[0] and "max_epochs" not in warned[0]


def test_a_stalled_fit_that_runs_out_of_epochs_says_why(small_low_rank):
    # Not "increase max_epochs": more epochs would not help.
    model, warned = _fit(small_low_rank.X, learning_rate=1e-12, max_epochs=2)
    assert not model.converged_ and model.n_epochs_ == 2
    assert len(warned) == 1 and "no progress: in 2 epochs" in warned[0] and "max_epochs" not in warned[0]


def test_a_stalled_fit_with_patience_is_not_early_stopped_as_converged(small_low_rank):
    held = np.where(small_low_rank.observed, np.nan, small_low_rank.noisy)
    model = cmf.MatrixFactorization(n_factors=3, learning_rate=5e-324, patience=1, tol=0.0, random_state=0)
    with pytest.warns(cmf.ConvergenceWarning, match="no progress"):
        model.fit(small_low_rank.X, validation=held)
    assert not model.converged_


def test_the_loop_says_it_stalled(small_low_rank):
    model = cmf.MatrixFactorization(n_factors=2, dtype="float64", random_state=0, learning_rate=1e-12)
    config = model._config()
    rows, cols, values = small_low_rank.triplets()
    data = as_triplets(rows, cols, values, shape=small_low_rank.X.shape, dtype=config.dtype)
    result = loop.train(data, None, config, 0)
    assert (result.stopped, result.converged, result.n_epochs, result.error) == (loop.STALLED, False, 6, None)
    text = loop.convergence_message(config, result.data_scale, stopped=result.stopped, n_epochs=result.n_epochs)
    assert text.startswith("training made no progress: in 6 epochs")


def test_a_slow_but_moving_fit_is_not_called_stalled(small_low_rank):
    # Per epoch this moves the biases by about 1e-4 of the data's spread:
    # slow, but progress; it runs out of epochs as before.
    model, warned = _fit(small_low_rank.X, learning_rate=1e-5, dtype="float64", tol=0.0, max_epochs=8)
    assert not model.converged_ and model.n_epochs_ == 8
    assert len(warned) == 1 and "max_epochs=8" in warned[0]


def test_continuing_an_almost_exact_fit_is_converged_not_stalled(low_rank_factory):
    # Noiseless rank-1 data fitted without a penalty: continued, the errors,
    # and with them SGD's steps, are tiny because nothing is left to learn.
    data = low_rank_factory(12, 10, rank=1, fraction=1.0, noise=0.0, seed=3)
    model, warned = _fit(data.X, n_factors=1, learning_rate=0.05, regularization=0.0, bias_regularization=0.0,
                         tol=1e-3, dtype="float64", max_epochs=2000)
    assert model.converged_ and not warned
    assert _fit_rmse(model, data.X) < 1e-3 * _mean_rmse(data.X)
    config = model._config()
    rows, cols = np.nonzero(~np.isnan(data.X))
    triplets = as_triplets(rows, cols, data.X[rows, cols], shape=data.X.shape, dtype=config.dtype)
    start = FactorState(model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_,
                        model.global_mean_)
    result = loop.train(triplets, None, config, 0, start=start)
    assert (result.stopped, result.converged) == (loop.CONVERGED, True)
