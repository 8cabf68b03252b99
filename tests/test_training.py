"""Training loop: validation history, early stopping, convergence, divergence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf._input import as_triplets
from cmf._train import loop
from cmf._train.config import _CHECKS, OPTIONAL_PARAMETERS, TrainingConfig, training_config
from cmf._train.epochs import BlockedEpochs, LocalData, PermutationEpochs
from cmf._train.interrupt import DeferredInterrupt
from cmf._train.state import adagrad_state, initial_state, pad_factors


def _rmse(model, rows, cols, values):
    """The validation RMSE recomputed from model.predict, in float64."""
    err = model.predict(rows, cols).astype(np.float64) - values
    return float(np.sqrt(np.mean(err * err)))


def test_history_has_one_row_per_epoch_with_validation(small_low_rank, make_model, fit_quiet):
    validation = small_low_rank.triplets(observed=False)
    model = fit_quiet(make_model(max_epochs=12, tol=0.0), small_low_rank.X, validation=validation)
    assert model.n_epochs_ == 12
    assert model.history_["epoch"] == list(range(1, 13))
    for key in ("train_loss", "train_rmse", "val_rmse", "seconds"):
        assert len(model.history_[key]) == 12
        assert np.all(np.isfinite(model.history_[key]))
    # Without patience the model is the last epoch's: its RMSE is the last entry.
    assert _rmse(model, *validation) == pytest.approx(model.history_["val_rmse"][-1], rel=1e-12)
    assert model.best_epoch_ is None


def test_history_without_validation_has_nan_val_rmse(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(max_epochs=3), small_low_rank.X)
    assert len(model.history_["val_rmse"]) == 3 and np.all(np.isnan(model.history_["val_rmse"]))


def test_validation_as_a_matrix_equals_validation_as_triplets(small_low_rank, make_model, fit_quiet):
    held = np.where(small_low_rank.observed, np.nan, small_low_rank.noisy)
    a = fit_quiet(make_model(max_epochs=5), small_low_rank.X, validation=held)
    b = fit_quiet(make_model(max_epochs=5), small_low_rank.X, validation=small_low_rank.triplets(observed=False))
    np.testing.assert_allclose(a.history_["val_rmse"], b.history_["val_rmse"], rtol=1e-12)


def test_early_stopping_restores_the_best_epoch(small_low_rank, make_model, fit_quiet):
    # Ten factors and no penalty on 360 entries overfit: the validation RMSE
    # reaches a minimum and rises again, and patience stops training.
    validation = small_low_rank.triplets(observed=False)
    model = make_model(n_factors=10, regularization=0.0, learning_rate=0.05, max_epochs=300, tol=0.0,
                       n_iter_no_change=300, patience=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.ConvergenceWarning)
        model.fit(small_low_rank.X, validation=validation)
    history = model.history_["val_rmse"]
    best = int(np.argmin(history))
    assert model.converged_
    assert model.n_epochs_ == best + 1 + 3  # stopped after `patience` epochs without improvement
    assert model.best_epoch_ == best + 1
    assert history[-1] > history[best]
    assert _rmse(model, *validation) == pytest.approx(min(history), rel=1e-12)


def test_patience_without_validation_raises(small_low_rank, make_model):
    with pytest.raises(ValueError, match="patience needs validation"):
        make_model(patience=2).fit(small_low_rank.X)


def test_max_epochs_without_convergence_warns(small_low_rank, make_model):
    with pytest.warns(cmf.ConvergenceWarning, match="max_epochs=3"):
        model = make_model(max_epochs=3, tol=1e-3).fit(small_low_rank.X)
    assert not model.converged_ and model.n_epochs_ == 3


def test_training_loss_decreases_overall(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(max_epochs=40), small_low_rank.X)
    loss = model.history_["train_loss"]
    assert loss[-1] < 0.5 * loss[0]


def test_divergence_raises_named_error_and_leaves_the_model_unfitted(seed_matrix):
    model = cmf.MatrixFactorization(n_factors=2, learning_rate=1e3, random_state=0, dtype="float64")
    with pytest.raises(cmf.DivergenceError) as info:
        model.fit(seed_matrix)
    err = info.value
    assert err.epoch == 1
    assert "epoch 1" in str(err)
    assert "smaller learning_rate" in str(err)
    assert isinstance(err, ArithmeticError)
    # A failed fit stores nothing: the model is as unfitted as before.
    assert not model.__sklearn_is_fitted__()
    with pytest.raises(cmf.NotFittedError):
        model.predict(np.arange(4), np.arange(4))
    assert err.history["epoch"] == []  # no epoch finished


def test_divergence_later_records_the_finite_epochs_on_the_error(seed_matrix):
    # With learning_rate 1 the first epoch is finite, the second is not:
    # the error's history holds the first epoch, the model nothing.
    model = cmf.MatrixFactorization(n_factors=2, learning_rate=1.0, random_state=0, dtype="float64")
    with pytest.raises(cmf.DivergenceError) as info:
        model.fit(seed_matrix)
    epoch = info.value.epoch
    assert epoch >= 2 and f"epoch {epoch}" in str(info.value)
    history = info.value.history
    assert history["epoch"] == [float(e) for e in range(1, epoch)]
    assert np.all(np.isfinite(history["train_loss"])) and history["kept"] == [1.0] * (epoch - 1)
    assert not model.__sklearn_is_fitted__()


def test_divergence_history_is_that_of_the_run_stopped_before_it(seed_matrix):
    params = dict(n_factors=2, learning_rate=1.0, random_state=0, dtype="float64", tol=0.0)
    diverged = cmf.MatrixFactorization(**params)
    with pytest.raises(cmf.DivergenceError) as info:
        diverged.fit(seed_matrix)
    last_finite = info.value.epoch - 1
    with pytest.warns(cmf.ConvergenceWarning):
        stopped = cmf.MatrixFactorization(**params, max_epochs=last_finite).fit(seed_matrix)
    assert info.value.history.keys() == stopped.history_.keys()
    for key in ("epoch", "train_loss", "train_rmse", "learning_rate", "kept"):
        assert info.value.history[key] == stopped.history_[key], key


def test_convergence_warning_points_at_the_callers_line(small_low_rank, make_model):
    with pytest.warns(cmf.ConvergenceWarning) as record:
        make_model(max_epochs=2).fit(small_low_rank.X)
    assert record[0].filename == __file__


# ----------------------------------------------------------------------
# The pipeline of cmf._train: why it stopped, one config table, epoch sources
# ----------------------------------------------------------------------


def _train(X, validation=None, **params):
    model = cmf.MatrixFactorization(**{"n_factors": 2, "dtype": "float64", "random_state": 0, **params})
    config = model._config()
    rows, cols = np.nonzero(~np.isnan(X))
    data = as_triplets(rows, cols, X[rows, cols], shape=X.shape, dtype=config.dtype)
    valid = None if validation is None else as_triplets(*validation, shape=X.shape, dtype=config.dtype)
    return loop.train(data, valid, config, 0)


def test_the_loop_says_it_ran_out_of_epochs(small_low_rank):
    result = _train(small_low_rank.X, max_epochs=3, tol=0.0)
    assert (result.stopped, result.converged, result.n_epochs, result.error) == (loop.MAX_EPOCHS, False, 3, None)


def test_the_loop_says_it_converged(small_low_rank):
    result = _train(small_low_rank.X, max_epochs=200, tol=0.5, n_iter_no_change=1)
    assert (result.stopped, result.converged, result.error) == (loop.CONVERGED, True, None)
    assert result.n_epochs < 200


def test_the_loop_says_it_stopped_early(small_low_rank):
    result = _train(small_low_rank.X, small_low_rank.triplets(observed=False), n_factors=10, regularization=0.0,
                    learning_rate=0.05, max_epochs=300, tol=0.0, n_iter_no_change=300, patience=3)
    assert (result.stopped, result.converged, result.error) == (loop.EARLY_STOPPED, True, None)
    assert result.n_epochs == result.best_epoch + 3


def test_the_loop_returns_a_divergence_with_the_last_finite_epoch(seed_matrix):
    result = _train(seed_matrix, learning_rate=1.0, tol=0.0)
    assert result.stopped == loop.DIVERGED and not result.converged
    assert isinstance(result.error, cmf.DivergenceError)
    assert not hasattr(result.error, "result")  # nothing rides on the exception
    assert result.n_epochs == result.error.epoch - 1 == len(result.history["epoch"])
    assert result.state.P.shape == (4, 2)  # cut back from the padded rows
    assert np.all(np.isfinite(result.state.P)) and np.all(np.isfinite(result.state.Q))


def test_the_loop_returns_an_interruption_with_the_last_complete_epoch(small_low_rank, monkeypatch):
    real_penalty, calls = loop.penalty, []

    def penalty(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_penalty(*args)

    monkeypatch.setattr(loop, "penalty", penalty)
    # A constant step: one penalty per epoch (the bold driver also takes the start's).
    result = _train(small_low_rank.X, max_epochs=10, tol=0.0, learning_rate=0.01)
    assert result.stopped == loop.INTERRUPTED and isinstance(result.error, KeyboardInterrupt)
    assert result.n_epochs == 2 and result.state.P.shape[1] == 2


def test_every_training_parameter_is_checked_once_in_the_table():
    names = {name for _, name, _ in _CHECKS}
    # The estimator may lack the optional ones (their default is "off").
    assert names | {"random_state", "verbose"} == set(cmf.MatrixFactorization._param_names()) | set(OPTIONAL_PARAMETERS)
    assert {field for field, _, _ in _CHECKS} == set(TrainingConfig.__dataclass_fields__)
    model = cmf.MatrixFactorization(n_factors=3, blocking=False, n_threads=2, patience=4)
    assert training_config(model.get_params()) == model._config()


@pytest.mark.parametrize("blocking,kind", [(True, BlockedEpochs), (False, PermutationEpochs)])
def test_local_epoch_sources_share_one_interface(small_low_rank, blocking, kind):
    rows, cols, values = small_low_rank.triplets()
    model = cmf.MatrixFactorization(n_factors=2, dtype="float64", blocking=blocking, n_threads=2)
    config = model._config()
    data = as_triplets(rows, cols, values, shape=small_low_rank.X.shape, dtype=config.dtype)
    rng = np.random.default_rng(0)
    state = pad_factors(initial_state(data, config, rng))
    with DeferredInterrupt() as interrupt:
        epochs = LocalData(data).epochs(state, config, rng, adagrad_state(data.shape, config), interrupt)
        assert type(epochs) is kind
        with epochs:
            sse = [epochs.run(epoch, 0.01, 0.01) for epoch in (1, 2)]
    assert sse[1] < sse[0]
    if kind is BlockedEpochs:
        assert epochs.runner._pool is None  # released on leaving


@pytest.mark.parametrize("n_factors", [5, 16])  # padded rows, and rows that need no padding
def test_publishing_a_fit_freezes_its_factors_without_copying_them(small_low_rank, monkeypatch, n_factors):
    # A copy at publishing would double the factors' memory at the end of a
    # large fit; the training arrays are the fit's own, so they are frozen.
    results = []
    real_train = loop.train

    def train(*args, **kwargs):
        results.append(real_train(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(loop, "train", train)
    model = cmf.MatrixFactorization(n_factors=n_factors, max_epochs=3, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit(small_low_rank.X)
    state = results[0].state
    for published, trained in ((model.user_factors_, state.P), (model.item_factors_, state.Q),
                               (model.user_bias_, state.b), (model.item_bias_, state.c)):
        assert np.shares_memory(published, trained)
        assert not published.flags.writeable
        with pytest.raises(ValueError):
            published[0] = 0
