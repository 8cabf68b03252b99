"""Ratings on any scale: a sensible fit, or DivergenceError naming the remedy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf

DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def low_rank():
    """A rank-3 matrix with row offsets, half observed, as triplets."""
    rng = np.random.default_rng(8)
    n_rows, n_cols = 60, 40
    R = rng.standard_normal((n_rows, 3)) @ rng.standard_normal((3, n_cols)) + rng.standard_normal(n_rows)[:, None]
    rows, cols = np.nonzero(rng.random(R.shape) < 0.5)
    return rows, cols, R[rows, cols]


def fit(rows, cols, values, dtype, **kw):
    model = cmf.MatrixFactorization(n_factors=5, dtype=dtype, random_state=0, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values)
    return model, [w for w in caught if issubclass(w.category, cmf.ConvergenceWarning)]


def rmse(model, rows, cols, values) -> float:
    return float(np.sqrt(np.mean((model.predict(rows, cols).astype(np.float64) - values) ** 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transform", ["unit", "negative", "shifted by 1e6"])
def test_unit_spread_in_any_location_converges(low_rank, dtype, transform):
    rows, cols, values = low_rank
    values = {"unit": values, "negative": -values - 5.0, "shifted by 1e6": values + 1e6}[transform]
    # float32 holds 1e6 + x to within 0.06, far below the spread of x.
    model, warned = fit(rows, cols, values, dtype)
    assert model.converged_ and not warned
    assert rmse(model, rows, cols, values) < 0.3 * np.std(values)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("constant", [3.0, -7.0, 0.0, 1e-6, 1e6])
def test_constant_data_is_fitted_exactly_at_once(low_rank, dtype, constant):
    rows, cols, _ = low_rank
    values = np.full(len(rows), constant)
    model, warned = fit(rows, cols, values, dtype)
    assert model.converged_ and model.n_epochs_ == 1 and not warned
    # Every cell, observed or not, predicts the constant.
    np.testing.assert_allclose(model.reconstruct(), constant, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e3, 1e6])
def test_the_default_step_adapts_to_a_large_scale(low_rank, dtype, scale):
    # The bold driver halves a step that raises the loss until it suits the
    # data's scale: values a thousand or a million times larger converge as
    # well as unit ones.
    rows, cols, values = low_rank
    model, warned = fit(rows, cols, scale * values, dtype)
    assert model.converged_ and not warned
    assert rmse(model, rows, cols, scale * values) < 0.3 * scale * np.std(values)
    assert min(model.history_["learning_rate"]) < 0.05 / 2**6  # it was cut to fit


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_default_step_names_the_remedy_where_it_cannot_cope(low_rank, dtype):
    # At a billion no step the driver tries within its 20 halvings stops
    # the loss from rising: the error says how to rescale.
    rows, cols, values = low_rank
    with pytest.raises(cmf.DivergenceError, match="halved after each") as info:
        fit(rows, cols, 1e9 * values, dtype)
    assert "divide the values by" in str(info.value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e3, 1e6])
def test_a_constant_step_on_large_scales_diverges_with_the_remedy(low_rank, dtype, scale):
    rows, cols, values = low_rank
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        fit(rows, cols, scale * values, dtype, learning_rate=0.01)
    assert "divide the values by" in str(info.value)
    # Following the advice works: rescale, fit, scale the predictions back.
    spread = float(np.sqrt(np.mean((values - values.mean()) ** 2))) * scale
    model, warned = fit(rows, cols, scale * values / spread, dtype)
    assert model.converged_ and not warned
    back = model.predict(rows, cols).astype(np.float64) * spread
    assert np.sqrt(np.mean((back - scale * values) ** 2)) < 0.3 * scale * np.std(values)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e-6, 1e-3])
def test_tiny_scales_give_no_worse_than_the_mean(low_rank, dtype, scale):
    # With the default penalty (0.1) far above the signal, the objective's
    # minimum has (almost) zero factors: the model is mean plus biases. The
    # initial factors, scaled to the data, must not leave noise larger than
    # the data itself (unscaled 0.1 factors did: RMSE 1.3 times the spread).
    rows, cols, values = low_rank
    values = scale * values
    model, warned = fit(rows, cols, values, dtype)
    trivial = float(np.sqrt(np.mean((values - values.mean()) ** 2)))
    assert rmse(model, rows, cols, values) <= trivial
    assert np.isfinite(model.reconstruct()).all()
    if not model.converged_:
        assert warned and "divide the values by" in str(warned[0].message)
    # The advice makes it a proper fit.
    model, warned = fit(rows, cols, values / trivial, dtype)
    assert model.converged_ and not warned
    assert rmse(model, rows, cols, values / trivial) < 0.3


def test_initial_factors_shrink_with_the_square_root_of_a_small_spread(low_rank):
    rows, cols, values = low_rank
    values = values / np.sqrt(np.mean((values - values.mean()) ** 2))  # spread exactly 1
    stds = {}
    for scale in (1e-4, 1.0, 100.0):
        model, _ = fit(rows, cols, scale * values, "float64", max_epochs=1, learning_rate=1e-12)
        stds[scale] = np.std(model.user_factors_[np.unique(rows)])
    # init_std as given from a spread of 1 up (as other libraries use it) ...
    np.testing.assert_allclose(stds[1.0], 0.1, rtol=0.1)
    np.testing.assert_allclose(stds[100.0], stds[1.0], rtol=1e-6)
    # ... and times sqrt(spread) below.
    np.testing.assert_allclose(stds[1e-4] / stds[1.0], np.sqrt(1e-4), rtol=1e-6)
