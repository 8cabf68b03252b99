"""predict, reconstruct and complete on a fitted model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import cmf
from cmf._dataset import RatingDataset


@pytest.fixture
def with_empty_row_and_col(small_low_rank, make_model, fit_quiet):
    """A model fitted with row 4 and column 7 entirely unknown."""
    X = small_low_rank.X.copy()
    X[4, :] = np.nan
    X[:, 7] = np.nan
    return fit_quiet(make_model(), X), X


def test_scalar_pair_gives_a_python_float(fitted_small):
    value = fitted_small.predict(2, 3)
    assert type(value) is float
    m = fitted_small
    want = m.global_mean_ + m.user_bias_[2] + m.item_bias_[3] + m.user_factors_[2] @ m.item_factors_[3]
    assert value == pytest.approx(want, rel=1e-12)
    assert fitted_small.predict(np.int64(2), np.int32(3)) == value


def test_arrays_give_an_array_of_the_model_dtype(fitted_small):
    rows, cols = np.array([0, 5, 29]), np.array([19, 0, 3])
    out = fitted_small.predict(rows, cols)
    assert isinstance(out, np.ndarray) and out.shape == (3,) and out.dtype == np.float64
    for k in range(3):
        assert out[k] == fitted_small.predict(int(rows[k]), int(cols[k]))
    # Lists work and a scalar broadcasts against an array.
    np.testing.assert_array_equal(fitted_small.predict([0, 5, 29], [19, 0, 3]), out)
    np.testing.assert_array_equal(fitted_small.predict(5, [0, 1]), fitted_small.predict([5, 5], [0, 1]))


def test_float32_model_predicts_float32(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(dtype="float32"), small_low_rank.X)
    assert model.user_factors_.dtype == np.float32
    assert model.predict([0, 1], [1, 2]).dtype == np.float32


def test_row_and_column_without_observations_get_mean_plus_known_bias(with_empty_row_and_col):
    model, _ = with_empty_row_and_col
    # Never updated: zero factors and zero bias.
    assert not model.user_factors_[4].any() and model.user_bias_[4] == 0
    assert not model.item_factors_[7].any() and model.item_bias_[7] == 0
    cols = np.arange(20)
    np.testing.assert_array_equal(model.predict(4, cols), model.global_mean_ + model.item_bias_[cols])
    rows = np.arange(30)
    np.testing.assert_array_equal(model.predict(rows, 7), model.global_mean_ + model.user_bias_[rows])
    assert model.predict(4, 7) == model.global_mean_
    # Elsewhere the factors contribute.
    assert model.predict(3, 2) != model.global_mean_ + model.user_bias_[3] + model.item_bias_[2]


@pytest.mark.parametrize("rows,cols", [(30, 0), (0, 20), (-1, 0), (0, -1), ([0, 31], [0, 0]), (2**40, 0)])
def test_indices_outside_the_shape_raise_index_error(fitted_small, rows, cols):
    with pytest.raises(IndexError, match="outside the fitted matrix"):
        fitted_small.predict(rows, cols, unknown="error")
    with pytest.raises(IndexError, match="outside the fitted matrix"):
        fitted_small.predict(rows, cols, unknown="raise")  # the older name


@pytest.mark.parametrize("rows,cols", [(1.0, 2), (1, 2.0), (np.array([0.5]), np.array([1])), ([True], [1]),
                                       ("a", 1)])
def test_non_integer_indices_raise_type_error(fitted_small, rows, cols):
    with pytest.raises(TypeError, match="integer indices"):
        fitted_small.predict(rows, cols)


def test_predict_before_fit_raises_not_fitted():
    model = cmf.MatrixFactorization()
    for call in (lambda: model.predict(0, 0), model.reconstruct, lambda: model.complete(np.ones((2, 2)))):
        with pytest.raises(cmf.NotFittedError, match="not fitted yet"):
            call()


@pytest.mark.parametrize("biased", [True, False])
def test_reconstruct_equals_the_formula(small_low_rank, make_model, fit_quiet, biased):
    m = fit_quiet(make_model(biased=biased), small_low_rank.X)
    full = m.reconstruct()
    want = m.global_mean_ + m.user_bias_[:, None] + m.item_bias_[None, :] + m.user_factors_ @ m.item_factors_.T
    assert full.shape == (30, 20) and full.dtype == np.float64
    np.testing.assert_allclose(full, want, rtol=1e-12, atol=1e-12)
    rows, cols = np.nonzero(np.ones(full.shape, dtype=bool))
    np.testing.assert_allclose(full[rows, cols], m.predict(rows, cols), rtol=1e-12, atol=1e-12)


def _check_completed(model, X_given, completed, unknown, truth_obs):
    assert completed.shape == unknown.shape
    assert np.issubdtype(completed.dtype, np.floating)
    # Observed cells bit-identical to the input.
    np.testing.assert_array_equal(completed[~unknown], truth_obs[~unknown])
    rows, cols = np.nonzero(unknown)
    np.testing.assert_array_equal(completed[rows, cols], model.predict(rows, cols))
    assert np.all(np.isfinite(completed))


def test_complete_fills_only_unknown_cells_in_every_form(small_low_rank, make_model, fit_quiet):
    unknown = ~small_low_rank.observed
    values = small_low_rank.noisy
    model = fit_quiet(make_model(), small_low_rank.X)

    X_nan = np.where(unknown, np.nan, values)
    completed = model.complete(X_nan)
    _check_completed(model, X_nan, completed, unknown, values)
    assert not np.shares_memory(completed, X_nan) and np.isnan(X_nan).sum() == unknown.sum()

    X_sentinel = np.where(unknown, -99.0, values)
    _check_completed(model, X_sentinel, model.complete(X_sentinel, missing=-99.0), unknown, values)

    X_masked = np.where(unknown, 5.0, values)
    _check_completed(model, X_masked, model.complete(X_masked, mask=~unknown), unknown, values)
    _check_completed(model, X_masked, model.complete(X_masked, mask=lambda X: ~unknown), unknown, values)

    rows, cols = np.nonzero(~unknown)
    S = sp.csr_matrix((values[rows, cols], (rows, cols)), shape=values.shape)
    _check_completed(model, S, model.complete(S), unknown, values)


def test_complete_of_an_integer_matrix_with_sentinel(seed_matrix, make_model, fit_quiet):
    X = seed_matrix.astype(np.int64)
    X[0, 1] = X[2, 4] = -1
    model = fit_quiet(make_model(n_factors=2), X, missing=-1)
    completed = model.complete(X, missing=-1)
    assert completed.dtype == np.float64
    unknown = X == -1
    _check_completed(model, X, completed, unknown, X.astype(np.float64))


def test_complete_with_the_wrong_shape_raises(fitted_small):
    with pytest.raises(ValueError, match="fitted on shape"):
        fitted_small.complete(np.ones((3, 3)))


def test_unknown_fallback_predicts_mean_plus_the_known_side_bias(fitted_small):
    m = fitted_small
    n_rows, n_cols = m.shape_
    rows = np.array([2, n_rows, -1, 2, n_rows + 5, 2**40])
    cols = np.array([3, 3, 4, -7, n_cols, 1])
    got = m.predict(rows, cols, unknown="fallback")
    assert got.dtype == m.user_factors_.dtype and got.shape == (6,)
    assert got[0] == m.predict(2, 3)
    mu = m.global_mean_
    np.testing.assert_allclose(got[1:], [mu + m.item_bias_[3], mu + m.item_bias_[4], mu + m.user_bias_[2], mu, mu + m.item_bias_[1]],
                               rtol=1e-12)
    assert m.predict(n_rows, 3, unknown="fallback") == got[1]  # scalars stay scalars
    known = np.array([0, 1]), np.array([2, 3])
    np.testing.assert_array_equal(m.predict(*known, unknown="fallback"), m.predict(*known))
    with pytest.raises(TypeError):
        m.predict([0.5], [1], unknown="fallback")
    with pytest.raises(ValueError, match="unknown must be"):
        m.predict(0, 0, unknown="ignore")
    with pytest.raises(IndexError):
        m.predict(n_rows, 3, unknown="error")


def test_unknown_labels_fall_back_too():
    users, items = np.array(["a", "a", "b", "c"]), np.array([10, 20, 20, 30])
    data = RatingDataset.from_labels(users, items, np.array([5.0, 3.0, 4.0, 1.0]))
    model = cmf.MatrixFactorization(n_factors=2, max_epochs=2, dtype="float64", random_state=0)
    with pytest.warns(cmf.ConvergenceWarning):
        model.fit_ratings(data)
    got = model.predict(["a", "zz", "b", "zz"], [20, 20, 99, 99], unknown="fallback")
    mu, b, c = model.global_mean_, model.user_bias_, model.item_bias_
    np.testing.assert_allclose(got, [model.predict("a", 20), mu + c[1], mu + b[1], mu], rtol=1e-12)
    with pytest.raises(KeyError, match="unknown user 'zz'"):
        model.predict("zz", 20, unknown="error")
