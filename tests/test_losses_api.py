"""The losses of MatrixFactorization as users reach them: parameters, values, predictions, scores, files.

Training itself is checked against the NumPy reference epoch
(``cmf._reference``, float64) on small cases; predictions and scores
against NumPy formulas written out here.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
import zipfile

import numpy as np
import pytest

import cmf
from cmf.metrics import accuracy, kl_divergence, logloss
from cmf.model_selection import evaluate

LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge")
CLASSIFICATION = ("logistic", "hinge", "squared_hinge")


def _quiet_fit(model, *args, method="fit", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return getattr(model, method)(*args, **kwargs)


def _labels(seed=0, shape=(12, 9), fraction=0.7):
    """A +1/-1 matrix of rank 2 with NaN where unobserved."""
    rng = np.random.default_rng(seed)
    signs = np.sign(rng.standard_normal((shape[0], 2)) @ rng.standard_normal((shape[1], 2)).T)
    signs[signs == 0] = 1
    return np.where(rng.random(shape) < fraction, signs, np.nan)


def _counts(seed=0, shape=(12, 9), fraction=0.7):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 1.0, (shape[0], 2)) @ rng.gamma(2.0, 1.0, (shape[1], 2)).T
    return np.where(rng.random(shape) < fraction, rng.poisson(rates).astype(float), np.nan)


def _kwargs(loss):
    """Parameters a loss needs (kl: non-negative factors, no biases)."""
    return dict(nonnegative=True, biased=False) if loss == "kl" else {}


def _model(loss="squared", **params):
    base = dict(n_factors=2, max_epochs=3, learning_rate=0.02, dtype="float64", random_state=0)
    return cmf.MatrixFactorization(**{**base, **_kwargs(loss), "loss": loss, **params})


# ----------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------
def test_defaults_and_repr_and_params_round_trip():
    model = cmf.MatrixFactorization()
    params = model.get_params()
    assert (params["loss"], params["l1"], params["nonnegative"]) == ("squared", 0.0, False)
    assert repr(model) == "MatrixFactorization()"
    model = cmf.MatrixFactorization(loss="kl", l1=0.01, nonnegative=True, biased=False)
    assert repr(model) == "MatrixFactorization(biased=False, loss='kl', l1=0.01, nonnegative=True)"
    other = cmf.MatrixFactorization().set_params(loss="hinge", l1=0.5, nonnegative=True)
    assert (other.loss, other.l1, other.nonnegative) == ("hinge", 0.5, True)
    assert cmf.MatrixFactorization(**other.get_params()).get_params() == other.get_params()


def test_clone_keeps_the_loss_parameters():
    from cmf._search import clone

    model = cmf.MatrixFactorization(loss="logistic", l1=0.1, nonnegative=True)
    copy = clone(model, {}, 1)
    assert (copy.loss, copy.l1, copy.nonnegative) == ("logistic", 0.1, True)
    sklearn_base = pytest.importorskip("sklearn.base")
    copy = sklearn_base.clone(model)
    assert (copy.loss, copy.l1, copy.nonnegative) == ("logistic", 0.1, True)


@pytest.mark.parametrize("params, match", [
    (dict(loss="poisson"), "loss"),
    (dict(loss="kl"), "nonnegative"),
    (dict(l1=-0.1), "l1"),
])
def test_bad_parameters_raise_and_leave_a_fitted_model_as_it_was(params, match):
    X = _labels()
    model = _quiet_fit(_model("logistic"), X)
    before = model.user_factors_.copy()
    model.set_params(**params)
    with pytest.raises(ValueError, match=match):
        model.fit(X)
    np.testing.assert_array_equal(model.user_factors_, before)
    assert model.get_params()["loss"] == params.get("loss", "logistic")


# ----------------------------------------------------------------------
# Values each loss accepts
# ----------------------------------------------------------------------
@pytest.mark.parametrize("loss", CLASSIFICATION)
def test_zero_one_labels_train_as_minus_one_plus_one(loss):
    X = _labels()
    pm = _quiet_fit(_model(loss), X)
    zero_one = _quiet_fit(_model(loss), np.where(X > 0, 1.0, np.where(X < 0, 0.0, np.nan)))
    np.testing.assert_array_equal(pm.user_factors_, zero_one.user_factors_)
    np.testing.assert_array_equal(pm.item_bias_, zero_one.item_bias_)


@pytest.mark.parametrize("loss", CLASSIFICATION)
def test_ratings_are_refused_by_a_classification_loss_with_the_fix(loss):
    X = np.array([[1.0, 5.0], [3.0, np.nan]])
    model = _model(loss)
    with pytest.raises(ValueError, match=r"\+1/-1 labels.*1, 3, 5.*np.where\(R >= 4, 1, -1\)"):
        model.fit(X)
    assert not cmf.MatrixFactorization.__sklearn_is_fitted__(model)
    with pytest.raises(ValueError, match="validation values include"):
        model.fit(np.array([[1.0, -1.0], [1.0, np.nan]]), validation=([1], [1], [4.0]))


def test_kl_refuses_negative_values_and_a_rating_scale():
    with pytest.raises(ValueError, match=r"loss='kl' needs values >= 0.*-2 at position 1"):
        _model("kl").fit_triplets([0, 1], [0, 1], [1.0, -2.0])
    with pytest.raises(ValueError, match="rating_scale.*leave rating_scale=None"):
        _model("kl", rating_scale=(0, 5)).fit_triplets([0, 1], [0, 1], [1.0, 2.0])


def test_mean_of_disagreeing_labels_is_refused_and_agreeing_ones_merge():
    rows, cols = [0, 0, 1, 1], [0, 0, 1, 1]
    with pytest.raises(ValueError, match=r"duplicates='mean' averaged.*\(row 0, column 0\) into 0.*'last'"):
        _model("logistic", duplicates="mean").fit_triplets(rows, cols, [1, -1, 1, 1])
    merged = _quiet_fit(_model("logistic", duplicates="mean"), [0, 1], [0, 1], [1, 1], method="fit_triplets")
    again = _quiet_fit(_model("logistic", duplicates="mean"), rows, cols, [1, 1, 1, 1], method="fit_triplets")
    np.testing.assert_array_equal(merged.user_factors_, again.user_factors_)


# ----------------------------------------------------------------------
# Predictions
# ----------------------------------------------------------------------
def _numpy_prediction(model, rows, cols):
    return (model.global_mean_ + model.user_bias_[rows] + model.item_bias_[cols]
            + np.sum(model.user_factors_[rows] * model.item_factors_[cols], axis=1))


@pytest.mark.parametrize("loss", CLASSIFICATION)
def test_classification_predicts_unclipped_decision_values(loss):
    X = _labels()
    model = _quiet_fit(_model(loss, max_epochs=30, learning_rate=0.1), X)
    assert model.rating_scale_ is None and model.global_mean_ == 0.0
    rows, cols = np.nonzero(np.ones(X.shape, bool))
    got = model.predict(rows, cols)
    np.testing.assert_allclose(got, _numpy_prediction(model, rows, cols), rtol=1e-12, atol=1e-12)
    big = _quiet_fit(_model(loss, init_std=3.0, max_epochs=1, learning_rate=1e-9), X)
    assert np.abs(big.predict(rows, cols)).max() > 1  # not clipped to the labels' range


def test_kl_predicts_the_non_negative_product():
    X = _counts()
    model = _quiet_fit(_model("kl", max_epochs=20), X)
    assert model.rating_scale_ is None and model.global_mean_ == 0.0
    assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()
    rows, cols = np.nonzero(np.ones(X.shape, bool))
    got = model.predict(rows, cols)
    np.testing.assert_allclose(got, np.sum(model.user_factors_[rows] * model.item_factors_[cols], axis=1),
                               rtol=1e-12)
    assert got.min() >= 0


def test_absolute_predictions_are_clipped_to_the_rating_scale():
    X = np.array([[1.0, 5.0, 3.0], [4.0, np.nan, 2.0]])
    model = _quiet_fit(_model("absolute", rating_scale=(1, 5), init_std=5.0), X)
    assert model.rating_scale_ == (1.0, 5.0)
    rows, cols = np.nonzero(np.ones(X.shape, bool))
    np.testing.assert_allclose(model.predict(rows, cols), np.clip(_numpy_prediction(model, rows, cols), 1, 5),
                               rtol=1e-12)


# ----------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------
def test_metric_functions_against_hand_computed_values():
    y, z = np.array([1, -1, 1, -1]), np.array([2.0, 0.5, 0.0, -1.0])
    signs = y
    assert logloss(y, z) == logloss((y + 1) // 2, z) and accuracy(y, z) == accuracy((y + 1) // 2, z)  # 0/1 labels
    assert logloss(y, z) == pytest.approx(np.mean(np.log(1 + np.exp(-signs * z))), rel=1e-12)
    assert accuracy(y, z) == 0.5  # 2 right; a decision value of 0 is wrong for both classes (LIBMF)
    assert logloss([1], [-800.0]) == pytest.approx(800.0)  # no overflow
    r, p = np.array([0.0, 2.0, 3.0]), np.array([0.5, 1.0, 3.0])
    assert kl_divergence(r, p) == pytest.approx((0.5 + (2 * np.log(2) - 2 + 1) + 0.0) / 3, rel=1e-12)
    with pytest.raises(ValueError, match="threshold ratings"):
        accuracy([1, 4], [0.1, 0.2])
    with pytest.raises(ValueError, match=">= 0"):
        kl_divergence([1.0], [-0.5])


@pytest.mark.parametrize("loss, expected", [
    ("squared", ("rmse", "mae")), ("absolute", ("mae", "rmse")), ("kl", ("kl",)),
    ("logistic", ("logloss", "accuracy")), ("hinge", ("accuracy",)), ("squared_hinge", ("accuracy",)),
])
def test_evaluate_reports_the_figures_of_the_loss(loss, expected):
    X = _counts() if loss in ("kl", "squared", "absolute") else _labels()
    rows, cols = np.nonzero(~np.isnan(X))
    values = X[rows, cols]
    train = (rows[::2], cols[::2], values[::2], X.shape)
    test = (rows[1::2], cols[1::2], values[1::2], X.shape)
    model = _quiet_fit(_model(loss, max_epochs=10), train, method="fit_ratings")
    scores = evaluate(model, test)
    assert tuple(scores) == expected + (("kl_skipped_pairs",) if loss == "kl" else ())
    raw = _numpy_prediction(model, test[0], test[1])
    truth = test[2]
    if loss == "kl":  # the pairs of a user and an item with training ratings (see the next test)
        assert scores["kl_skipped_pairs"] == 0
        assert np.isin(test[0], train[0]).all() and np.isin(test[1], train[1]).all()
    if model.rating_scale_ is not None:
        raw = np.clip(raw, *model.rating_scale_)
    signs = np.where(truth > 0, 1.0, -1.0)
    numpy_figures = {
        "rmse": lambda: np.sqrt(np.mean((truth - raw) ** 2)),
        "mae": lambda: np.mean(np.abs(truth - raw)),
        "kl": lambda: np.mean(np.where(truth > 0, truth * np.log(np.where(truth > 0, truth, 1) / raw), 0)
                              - truth + raw),
        "logloss": lambda: np.mean(np.log1p(np.exp(-signs * raw))),
        "accuracy": lambda: np.mean(signs * raw > 0),
    }
    for name in expected:
        assert scores[name] == pytest.approx(numpy_figures[name](), rel=1e-10, abs=1e-12)


def test_kl_leaves_out_and_counts_the_pairs_without_training_ratings():
    # A kl model has no biases nor mean: a user or item without training
    # ratings keeps zero factors and is predicted 0, whose divergence from
    # a positive amount is infinite. evaluate scores the other pairs and
    # counts those, where it returned inf (with NumPy's warning) before.
    X = _counts(seed=3, shape=(14, 10), fraction=0.8)
    rows, cols = np.nonzero(~np.isnan(X))
    values = X[rows, cols]
    test_mask = np.arange(len(rows)) % 2 == 1
    # User 13 and item 9 are rated in the test part only.
    test_mask |= (rows == 13) | (cols == 9)
    train = (rows[~test_mask], cols[~test_mask], values[~test_mask], X.shape)
    test = (rows[test_mask], cols[test_mask], values[test_mask], X.shape)
    model = _quiet_fit(_model("kl", max_epochs=10), train, method="fit_ratings")
    cold = ~np.isin(test[0], train[0]) | ~np.isin(test[1], train[1])
    assert cold.sum() >= 2 and (test[2][cold] > 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning reaches the user
        scores = evaluate(model, test)
    assert scores["kl_skipped_pairs"] == cold.sum()
    raw = _numpy_prediction(model, test[0], test[1])
    assert (raw[cold] == 0).all() and (raw[~cold] > 0).all()
    r, p = test[2][~cold], raw[~cold]
    expected = np.mean(np.where(r > 0, r * np.log(np.where(r > 0, r, 1) / p), 0) - r + p)
    assert scores["kl"] == pytest.approx(expected, rel=1e-10)
    # A model with biases predicts such pairs from its mean: every pair counts.
    squared = _quiet_fit(_model("squared", max_epochs=10), train, method="fit_ratings")
    both = evaluate(squared, test, metrics=("kl",))
    assert both["kl_skipped_pairs"] == 0 and np.isfinite(both["kl"])
    # Every pair without training ratings: nothing to score.
    only_cold = tuple(a[cold] for a in test[:3]) + (X.shape,)
    assert evaluate(model, only_cold)["kl_skipped_pairs"] == cold.sum() and np.isnan(evaluate(model, only_cold)["kl"])


# ----------------------------------------------------------------------
# Model files
# ----------------------------------------------------------------------
def test_loss_parameters_round_trip_through_a_model_file(tmp_path):
    model = _quiet_fit(_model("logistic", l1=0.001), _labels())
    path = model.save(tmp_path / "m.npz")
    loaded = cmf.MatrixFactorization.load(path)
    assert (loaded.loss, loaded.l1, loaded.nonnegative) == ("logistic", 0.001, False)
    assert loaded.rating_scale_ is None
    np.testing.assert_array_equal(loaded.predict([0, 1], [2, 3]), model.predict([0, 1], [2, 3]))


def test_a_file_without_the_loss_parameters_loads_with_the_defaults(tmp_path):
    model = _quiet_fit(_model("squared"), np.array([[1.0, 2.0], [3.0, 4.0]]))
    path = model.save(tmp_path / "m.npz")
    with np.load(path) as archive:
        members = {name: archive[name] for name in archive.files}
    meta = json.loads(str(members["meta"]))
    for key in ("loss", "l1", "nonnegative"):
        del meta["params"][key]  # as a file written before these parameters
    members["meta"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    np.savez(old, **members)
    assert zipfile.is_zipfile(old)
    loaded = cmf.MatrixFactorization.load(old)
    assert (loaded.loss, loaded.l1, loaded.nonnegative) == ("squared", 0.0, False)
    np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)


def test_cross_validate_reports_the_figures_of_the_loss():
    X = _labels(shape=(20, 15))
    rows, cols = np.nonzero(~np.isnan(X))
    data = (rows, cols, X[rows, cols])
    result = cmf.model_selection.cross_validate(_model("hinge"), data, cv=2, random_state=0)
    assert set(result) - {"fit_time", "test_time", "n_epochs"} == {"test_accuracy"}
    plain = cmf.model_selection.cross_validate(_model("squared"), data, cv=2, random_state=0)
    assert set(plain) - {"fit_time", "test_time", "n_epochs"} == {"test_rmse", "test_mae"}


# ----------------------------------------------------------------------
# Training against the NumPy reference epoch
# ----------------------------------------------------------------------
@pytest.mark.parametrize("loss, l1, nonnegative, weighted", [
    ("squared", 0.0, False, True),
    ("absolute", 0.0, False, True),
    ("kl", 0.0, True, True),
    ("logistic", 0.01, False, True),
    ("hinge", 0.0, True, False),
    ("squared_hinge", 0.05, False, True),
    ("squared", 0.02, True, False),
])
def test_a_fit_runs_the_reference_epochs_from_its_initial_state(loss, l1, nonnegative, weighted):
    from cmf._input import as_triplets
    from cmf._reference import reference_epoch
    from cmf._train.state import initial_state

    X = _counts(seed=4) if loss in ("kl", "squared", "absolute") else _labels(seed=4)
    rows, cols = np.nonzero(~np.isnan(X))
    values = X[rows, cols]
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(values)) if weighted else None
    # KL at a constant step of 0.03 diverges from about half of the random
    # starts on these counts (r / r_hat with some r_hat near 0); at 0.01 from few.
    lr, reg, reg_b, epochs = 0.01 if loss == "kl" else 0.03, 0.05, 0.02, 3
    params = dict(learning_rate=lr, regularization=reg, bias_regularization=reg_b, max_epochs=epochs,
                  shuffle=False, random_state=5, l1=l1, nonnegative=nonnegative)
    model = _quiet_fit(_model(loss, **params), rows, cols, values, shape=X.shape, sample_weight=weights,
                       method="fit_triplets")
    assert model.n_epochs_ == epochs

    data = as_triplets(rows, cols, values, shape=X.shape, dtype=np.float64)
    if weighted:  # mu is then the weighted mean
        data = dataclasses.replace(data, weights=weights)
    state = initial_state(data, model._config(), np.random.default_rng(5))
    if weighted and loss in ("squared", "absolute"):  # the losses whose mu is the mean
        assert state.mu == pytest.approx(np.average(values, weights=weights), rel=1e-14)
    P, Q = state.P.astype(np.float64), state.Q.astype(np.float64)
    b, c = (state.b.astype(np.float64), state.c.astype(np.float64)) if model.biased else (None, None)
    for _ in range(epochs):
        reference_epoch(rows, cols, values.astype(np.float64), P, Q, b, c, state.mu, learning_rate=lr,
                        regularization=reg, bias_regularization=reg_b, loss=loss, weights=weights, l1=l1,
                        nonnegative=nonnegative)
    np.testing.assert_allclose(model.user_factors_, P, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=1e-12, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(model.user_bias_, b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.item_bias_, c, rtol=1e-12, atol=1e-12)
    assert model.global_mean_ == state.mu


def test_fold_in_refuses_a_model_whose_loss_it_does_not_solve():
    model = _quiet_fit(_model("logistic"), _labels())
    with pytest.raises(ValueError, match="loss='logistic'.*partial_fit"):
        model.fold_in([0, 1], [1, -1])
    counts = _quiet_fit(_model("squared", nonnegative=True), _counts())
    with pytest.raises(ValueError, match="nonnegative=True"):
        counts.fold_in([0, 1], [1.0, 2.0])
    plain = _quiet_fit(_model("squared"), _counts())
    assert plain.fold_in([0, 1], [1.0, 2.0]).factors.shape == (2,)
