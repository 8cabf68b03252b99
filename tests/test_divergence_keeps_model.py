"""A fit that raises DivergenceError leaves the model exactly as it was, fitted or not.

Every test snapshots the fitted attributes before the failing call
(conftest's ``snapshot``: deep copies) and compares them bit for bit after
it, together with predictions, labels and recommendations computed before.
The failed run's record rides on the error instead (``history``), checked
against a run of the same seed stopped by ``max_epochs`` just before the
divergence.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import cmf
from cmf._dataset import RatingDataset
from cmf._train.schedule import MAX_CUTS

# float64, one seed, no tol stop: on the seed's 4x5 matrix a constant step
# of 0.05 fits and 1.0 keeps at least one epoch, then diverges.
SEED_PARAMS = dict(n_factors=2, random_state=0, dtype="float64", tol=0.0)
GOOD_RATE, BAD_RATE = 0.05, 1.0


def _quiet(model, method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return getattr(model, method)(*args, **kwargs)


def _seed_args(X, method):
    """``X`` in the form ``method`` takes: a matrix, triplets, or a labelled DataFrame."""
    rows, cols = np.nonzero(~np.isnan(X))
    if method == "fit":
        return (X,)
    if method == "fit_triplets":
        return (rows, cols, X[rows, cols])
    return (_frame(rows, cols, X[rows, cols]),)


def _frame(rows, cols, values, prefix=""):
    return pd.DataFrame({"user": [f"{prefix}u{r}" for r in rows], "item": [f"{prefix}i{c}" for c in cols],
                         "rating": values})


def _random_ratings(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 30, n), rng.integers(0, 20, n), rng.integers(1, 6, n).astype(float)


def _everything(model, snapshot):
    """What a caller can see of a fitted model: attributes, labels, scale, predictions, recommendations."""
    n_rows, n_cols = model.shape_
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    users = np.arange(n_rows) if model.user_labels_ is None else model.user_labels_
    return dict(
        state=snapshot(model),
        labels=(None if model.user_labels_ is None else list(model.user_labels_),
                None if model.item_labels_ is None else list(model.item_labels_)),
        scale=model.rating_scale_,
        predictions=model.predict(rows, cols).copy() if model.user_labels_ is None else model.predict(
            model.user_labels_[rows], model.item_labels_[cols]).copy(),
        recommended=[np.asarray(part).copy() for part in model.recommend(users[0], n=3)],
    )


def _assert_unchanged(before, after, assert_same_state):
    assert_same_state(before["state"], after["state"])  # bit for bit, seconds included
    assert before["labels"] == after["labels"] and before["scale"] == after["scale"]
    np.testing.assert_array_equal(after["predictions"], before["predictions"], strict=True)
    for got, want in zip(after["recommended"], before["recommended"]):
        np.testing.assert_array_equal(got, want, strict=True)


def _assert_unfitted(model):
    assert not model.__sklearn_is_fitted__()
    with pytest.raises(cmf.NotFittedError):
        model.predict([0], [0])
    with pytest.raises(cmf.NotFittedError):
        model.user_factors_


# ----------------------------------------------------------------------
# A constant step whose loss turns non-finite
# ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fit", "fit_triplets", "fit_ratings"])
def test_a_fitted_model_refitted_with_a_diverging_step_is_left_as_it_was(seed_matrix, method, snapshot,
                                                                         assert_same_state):
    args = _seed_args(seed_matrix, method)
    model = _quiet(cmf.MatrixFactorization(**SEED_PARAMS, learning_rate=GOOD_RATE, max_epochs=10), method, *args)
    assert model.n_epochs_ == 10 and np.all(np.isfinite(model.user_factors_))
    before = _everything(model, snapshot)
    model.set_params(learning_rate=BAD_RATE, max_epochs=50)
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        getattr(model, method)(*args)
    _assert_unchanged(before, _everything(model, snapshot), assert_same_state)
    error = info.value
    assert error.epoch >= 2 and str(error).startswith(f"SGD diverged at epoch {error.epoch}:")
    assert str(error).endswith("the model is left as it was before the fit.")
    # The failed run's record is the error's: its kept epochs, as the same
    # fit stopped by max_epochs just before the divergence records them.
    kept = error.epoch - 1
    stopped = _quiet(cmf.MatrixFactorization(**SEED_PARAMS, learning_rate=BAD_RATE, max_epochs=kept), method, *args)
    assert error.history.keys() == stopped.history_.keys()
    for key in ("epoch", "train_loss", "train_rmse", "learning_rate", "kept"):
        assert error.history[key] == stopped.history_[key], key


def test_a_labelled_model_keeps_its_labels_and_scale_when_a_refit_on_other_data_diverges(small_low_rank, snapshot,
                                                                                           assert_same_state):
    # The failing data have other users, items, shape and scale (values of
    # about 1e3 with a step of 10): none of it may reach the model.
    rows, cols = np.nonzero(~np.isnan(small_low_rank.X))
    first = _frame(rows, cols, small_low_rank.X[rows, cols])
    model = _quiet(cmf.MatrixFactorization(n_factors=2, learning_rate=0.02, max_epochs=5, random_state=0),
                   "fit_ratings", first)
    before = _everything(model, snapshot)
    other = _frame(rows[:200] + 5, cols[:200], 1e3 * small_low_rank.X[rows[:200], cols[:200]], prefix="x")
    model.set_params(learning_rate=10.0)
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        model.fit_ratings(other)
    _assert_unchanged(before, _everything(model, snapshot), assert_same_state)
    assert model.user_labels_[0] == "u0"
    assert info.value.epoch == 1 and info.value.history["epoch"] == []


@pytest.mark.parametrize("method", ["fit", "fit_triplets", "fit_ratings", "partial_fit"])
def test_an_unfitted_model_stays_unfitted_after_a_divergence(seed_matrix, method):
    # partial_fit on an unfitted model is fit_ratings.
    args = _seed_args(seed_matrix, "fit_ratings" if method == "partial_fit" else method)
    model = cmf.MatrixFactorization(**SEED_PARAMS, learning_rate=BAD_RATE, max_epochs=50)
    with pytest.raises(cmf.DivergenceError) as info:
        getattr(model, method)(*args)
    _assert_unfitted(model)
    assert info.value.epoch >= 2 and len(info.value.history["epoch"]) == info.value.epoch - 1


def test_partial_fit_that_diverges_adds_no_users_items_or_epochs(snapshot, assert_same_state):
    # The new batch brings new users and items: a kept failure would have
    # grown the model to them and added them to the seen items.
    rows, cols, values = _random_ratings()
    model = _quiet(cmf.MatrixFactorization(n_factors=4, learning_rate=0.02, max_epochs=5, random_state=0,
                                           duplicates="keep"), "fit_ratings", _frame(rows, cols, values))
    before = _everything(model, snapshot)
    batch = _frame(np.r_[rows[:50], 30 + rows[:50]], np.r_[cols[:50], 20 + cols[:50]], 1e3 * values[:100])
    model.set_params(learning_rate=10.0)
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        model.partial_fit(batch, epochs=3)
    _assert_unchanged(before, _everything(model, snapshot), assert_same_state)
    assert model.shape_ == (30, 20)
    with pytest.raises(KeyError):
        model.predict(["u30"], ["i0"], unknown="error")
    assert info.value.epoch == 1


# ----------------------------------------------------------------------
# The bold driver giving up: weights of 1e9 make every epoch rise
# ----------------------------------------------------------------------
@pytest.mark.parametrize("max_epochs, said", [(5, "all 5 epochs raised"), (100, f"{MAX_CUTS} epochs in a row")])
def test_a_fitted_model_is_left_as_it_was_when_the_bold_driver_gives_up(max_epochs, said, snapshot,
                                                                        assert_same_state):
    rows, cols, values = _random_ratings()
    model = _quiet(cmf.MatrixFactorization(n_factors=4, max_epochs=10, random_state=0, dtype="float64",
                                           duplicates="keep"), "fit_triplets", rows, cols, values)
    before = _everything(model, snapshot)
    model.set_params(max_epochs=max_epochs)
    with pytest.raises(cmf.DivergenceError, match=said) as info:
        model.fit_triplets(rows, cols, values, sample_weight=np.full(len(values), 1e9))
    _assert_unchanged(before, _everything(model, snapshot), assert_same_state)
    assert "the model is left as it was before the fit." in str(info.value)
    # Every epoch of the failed run was undone, and each is on the error's record.
    assert info.value.history["kept"] == [0.0] * info.value.epoch and info.value.epoch <= max_epochs


@pytest.mark.parametrize("max_epochs", [5, 100])
def test_an_unfitted_model_stays_unfitted_when_the_bold_driver_gives_up(max_epochs):
    rows, cols, values = _random_ratings()
    model = cmf.MatrixFactorization(n_factors=4, max_epochs=max_epochs, random_state=0, duplicates="keep")
    with pytest.raises(cmf.DivergenceError):
        model.fit_triplets(rows, cols, values, sample_weight=np.full(len(values), 1e9))
    _assert_unfitted(model)


def test_partial_fit_left_as_it_was_when_the_bold_driver_gives_up(snapshot, assert_same_state):
    rows, cols, values = _random_ratings()
    model = _quiet(cmf.MatrixFactorization(n_factors=4, max_epochs=10, random_state=0, dtype="float64",
                                           duplicates="keep"), "fit_triplets", rows, cols, values)
    before = _everything(model, snapshot)
    batch = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), values, (30, 20),
                          weights=np.full(len(values), 1e9))
    with pytest.raises(cmf.DivergenceError, match=f"{MAX_CUTS} epochs in a row, up to epoch {MAX_CUTS},") as info:
        model.partial_fit(batch, epochs=MAX_CUTS + 5)
    _assert_unchanged(before, _everything(model, snapshot), assert_same_state)
    assert model.n_epochs_ == 10 and len(model.history_["epoch"]) == 10
    assert info.value.epoch == MAX_CUTS and info.value.history["kept"] == [0.0] * MAX_CUTS


# ----------------------------------------------------------------------
# Ctrl-C is not a failure: an interrupted fit keeps the epochs done
# ----------------------------------------------------------------------
def test_an_interrupted_refit_still_keeps_its_epochs(seed_matrix, monkeypatch):
    from cmf._train import loop

    model = _quiet(cmf.MatrixFactorization(**SEED_PARAMS, learning_rate=GOOD_RATE, max_epochs=10), "fit", seed_matrix)
    real_penalty, calls = loop.penalty, []

    def interrupt_in_epoch_3(*args, **kwargs):
        calls.append(None)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_penalty(*args, **kwargs)

    monkeypatch.setattr(loop, "penalty", interrupt_in_epoch_3)
    model.set_params(max_epochs=50, random_state=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(seed_matrix)
    monkeypatch.undo()
    # The interrupted run's two epochs are the model: the same as a run of 2.
    two = _quiet(cmf.MatrixFactorization(**{**SEED_PARAMS, "random_state": 1}, learning_rate=GOOD_RATE,
                                         max_epochs=2), "fit", seed_matrix)
    assert model.n_epochs_ == 2
    np.testing.assert_array_equal(model.user_factors_, two.user_factors_)
