"""Constructor parameters: defaults, get_params/set_params, repr."""

from __future__ import annotations

import numpy as np
import pytest

import cmf

DEFAULTS = dict(
    n_factors=100, learning_rate="auto", schedule="auto", regularization=0.1, bias_regularization=0.02, max_epochs=200, tol=1e-4,
    n_iter_no_change=5, init_std=0.1, biased=True, shuffle=True, patience=None, dtype="float32",
    blocking="auto", adaptive=False, loss="squared", l1=0.0, nonnegative=False, duplicates=None, rating_scale=None,
    n_threads=None, random_state=None, verbose=0,
)


def test_defaults():
    assert cmf.MatrixFactorization().get_params() == DEFAULTS


def test_init_only_stores_and_is_keyword_only():
    # Invalid values are accepted by __init__ and rejected by fit.
    model = cmf.MatrixFactorization(n_factors=-3)
    assert model.n_factors == -3
    with pytest.raises(TypeError):
        cmf.MatrixFactorization(10)  # positional


def test_get_params_set_params_round_trip():
    params = dict(DEFAULTS, n_factors=4, learning_rate=0.3, dtype="float64", random_state=7, patience=3,
                  biased=False, blocking=False, adaptive=True, n_threads=2)
    model = cmf.MatrixFactorization(**params)
    assert model.get_params() == params
    other = cmf.MatrixFactorization().set_params(**model.get_params())
    assert other.get_params() == params
    assert cmf.MatrixFactorization(**other.get_params()).get_params() == params


def test_set_params_returns_self_and_takes_effect_at_the_next_fit(seed_matrix, fit_quiet):
    model = cmf.MatrixFactorization(n_factors=2, max_epochs=3, dtype="float64", random_state=0)
    assert model.set_params(n_factors=3) is model
    fit_quiet(model, seed_matrix)
    assert model.user_factors_.shape == (4, 3)
    model.set_params(n_factors=1)
    assert model.user_factors_.shape == (4, 3)  # unchanged until refit
    fit_quiet(model, seed_matrix)
    assert model.user_factors_.shape == (4, 1)


def test_set_params_with_an_unknown_name_raises():
    model = cmf.MatrixFactorization()
    with pytest.raises(ValueError, match="invalid parameter 'n_components'"):
        model.set_params(n_components=3)
    assert model.get_params() == DEFAULTS


def test_repr_shows_the_changed_parameters():
    assert repr(cmf.MatrixFactorization()) == "MatrixFactorization()"
    text = repr(cmf.MatrixFactorization(n_factors=8, dtype="float64"))
    assert text == "MatrixFactorization(n_factors=8, dtype='float64')"
    assert "random_state=Generator" in repr(cmf.MatrixFactorization(random_state=np.random.default_rng(0)))

