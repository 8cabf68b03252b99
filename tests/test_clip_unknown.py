"""Predictions clipped to the rating scale, and what an unknown user or item gets.

The models here are fitted on ratings from 1 to 5 and then given a global
mean of 10 by hand, so that every raw prediction lies above the scale and
the clipped ones are known exactly: 5.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf._dataset import RatingDataset
from cmf.model_selection import evaluate

ROWS = np.array([0, 0, 1, 1, 2, 2, 3])
COLS = np.array([0, 1, 1, 2, 0, 2, 3])
VALUES = np.array([1.0, 5.0, 3.0, 4.0, 2.0, 5.0, 4.0])


def fitted(labelled: bool = False, **params) -> cmf.MatrixFactorization:
    model = cmf.MatrixFactorization(n_factors=2, max_epochs=3, dtype="float64", random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        if labelled:
            users, items = np.array(["u0", "u1", "u2", "u3"]), np.array([10, 20, 30, 40])
            return model.fit_ratings(RatingDataset.from_labels(users[ROWS], items[COLS], VALUES))
        return model.fit_triplets(ROWS, COLS, VALUES)


def raw(model: cmf.MatrixFactorization, rows, cols) -> np.ndarray:
    """The unclipped predictions, from the parameters."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    return (model.global_mean_ + model.user_bias_[rows] + model.item_bias_[cols]
            + np.sum(model.user_factors_[rows] * model.item_factors_[cols], axis=1))


def test_the_fitted_scale_is_the_training_range_and_predictions_are_clipped_to_it():
    model = fitted()
    assert model.rating_scale_ == (1.0, 5.0)
    model.global_mean_ = 10.0
    rows, cols = np.array([0, 3, 2]), np.array([3, 0, 1])
    np.testing.assert_array_equal(model.predict(rows, cols), [5.0, 5.0, 5.0])
    np.testing.assert_allclose(model.predict(rows, cols, clip=False), raw(model, rows, cols), rtol=1e-12)
    assert model.predict(1, 1) == 5.0
    model.global_mean_ = -10.0
    assert model.predict(1, 1) == 1.0


def test_reconstruct_and_complete_are_unclipped_unless_asked():
    model = fitted()
    model.global_mean_ = 10.0
    rows, cols = np.nonzero(np.ones((4, 4), dtype=bool))
    full = model.reconstruct()
    np.testing.assert_allclose(full.ravel(), raw(model, rows, cols), rtol=1e-12)
    assert (full > 5).all()
    np.testing.assert_array_equal(model.reconstruct(clip=True), np.full((4, 4), 5.0))
    X = np.full((4, 4), np.nan)
    X[0, 0] = 1.0
    assert (model.complete(X)[1:, :] > 5).all()
    filled = model.complete(X, clip=True)
    assert filled[0, 0] == 1.0 and (filled.ravel()[1:] == 5.0).all()


@pytest.mark.parametrize("many", [False, True])
def test_recommend_clips_the_scores_but_ranks_by_the_raw_ones(many):
    model = fitted(rating_scale=(1, 5))
    model.global_mean_ = 10.0
    raw_scores = raw(model, np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)).reshape(4, 4)
    user = [2, 3] if many else 2
    items, scores = model.recommend(user, n=4, exclude_seen=False, shrinkage=0)
    want = np.argsort(-raw_scores[np.atleast_1d(user)], axis=1, kind="stable")
    np.testing.assert_array_equal(np.atleast_2d(items), want)
    np.testing.assert_array_equal(scores, np.full(np.shape(items), 5.0))
    unclipped_items, unclipped = model.recommend(user, n=4, exclude_seen=False, clip=False, shrinkage=0)
    np.testing.assert_array_equal(unclipped_items, items)
    np.testing.assert_allclose(np.atleast_2d(unclipped), np.take_along_axis(raw_scores[np.atleast_1d(user)], want,
                                                                              axis=1), rtol=1e-12)
    assert cmf.recommend.recommend(model, user, n=4, exclude_seen=False, shrinkage=0)[1].max() == 5.0


def test_evaluate_scores_clipped_predictions_like_surprise():
    model = fitted()
    model.global_mean_ = 10.0
    test = RatingDataset(ROWS.astype(np.int32), COLS.astype(np.int32), VALUES, (4, 4))
    clipped_rmse = np.sqrt(np.mean((5.0 - VALUES) ** 2))
    raw_rmse = np.sqrt(np.mean((raw(model, ROWS, COLS) - VALUES) ** 2))
    assert evaluate(model, test)["rmse"] == pytest.approx(clipped_rmse, rel=1e-12)
    assert evaluate(model, test, clip=False)["rmse"] == pytest.approx(raw_rmse, rel=1e-12)
    assert evaluate(model, test, clip=(1, 4))["mae"] == pytest.approx(np.mean(np.abs(4.0 - VALUES)), rel=1e-12)


# ---------------------------------------------------------------- unknown users and items
def test_unknown_ids_fall_back_by_default_skip_to_nan_or_raise():
    model = fitted()
    mu, b, c = model.global_mean_, model.user_bias_, model.item_bias_
    rows, cols = np.array([1, 9, 1, 9]), np.array([2, 2, 9, 9])
    got = model.predict(rows, cols, clip=False)
    np.testing.assert_allclose(got[1:], [mu + c[2], mu + b[1], mu], rtol=1e-12)
    np.testing.assert_allclose(got[0], raw(model, [1], [2])[0], rtol=1e-12)
    skipped = model.predict(rows, cols, unknown="skip", clip=False)
    assert skipped[0] == got[0] and np.isnan(skipped[1:]).all()
    assert np.isnan(model.predict(9, 0, unknown="skip"))
    with pytest.raises(IndexError, match="outside the fitted matrix"):
        model.predict(rows, cols, unknown="error")
    with pytest.raises(ValueError, match="unknown must be 'fallback', 'skip' or 'error'"):
        model.predict(rows, cols, unknown="ignore")


def test_unknown_labels_fall_back_skip_or_raise_a_key_error():
    model = fitted(labelled=True)
    mu, c = model.global_mean_, model.item_bias_
    got = model.predict(["u1", "nobody"], [30, 30], clip=False)
    np.testing.assert_allclose(got[1], mu + c[2], rtol=1e-12)
    assert np.isnan(model.predict(["u1", "nobody"], [30, 30], unknown="skip")[1])
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        model.predict(["u1", "nobody"], [30, 30], unknown="error")


def test_is_known_flags_the_pairs_that_fall_back():
    model = fitted()
    np.testing.assert_array_equal(model.is_known([0, 4, 3, -1, 2], [0, 0, 4, 1, 3]),
                                  [True, False, False, False, True])
    assert model.is_known(0, 0) is True and model.is_known(0, 7) is False
    with pytest.raises(TypeError):
        model.is_known([0.5], [0])
    labelled = fitted(labelled=True)
    np.testing.assert_array_equal(labelled.is_known(["u0", "u0", "x"], [10, 99, 10]), [True, False, False])
    with pytest.raises(cmf.NotFittedError):
        cmf.MatrixFactorization().is_known(0, 0)


def test_evaluate_ranks_by_the_unclipped_predictions():
    # With the global mean at 10 both of user 0's predictions clip to 5; the
    # item with the higher raw prediction is given second and is the only
    # relevant one, so ranking by clipped values (ties in input order) would
    # put the irrelevant one first.
    model = fitted()
    model.global_mean_ = 10.0
    cols = np.array([0, 1], dtype=np.int32)
    cols = cols[np.argsort(raw(model, [0, 0], cols))]  # raw-lower first
    test = RatingDataset(np.zeros(2, dtype=np.int32), cols, np.array([1.0, 5.0]), (4, 4))
    assert evaluate(model, test, metrics=("precision",), k=1, threshold=3)["precision"] == 1.0
