"""save/load and pickle round trips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import cmf

ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def _assert_same_model(a, b):
    assert a.get_params() == b.get_params()
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
    for name in ("global_mean_", "n_epochs_", "converged_", "best_epoch_"):
        assert getattr(a, name) == getattr(b, name), name
    assert tuple(a.shape_) == tuple(b.shape_)
    assert a.history_.keys() == b.history_.keys()
    for key in a.history_:
        np.testing.assert_array_equal(np.asarray(a.history_[key]), np.asarray(b.history_[key]), err_msg=key)
    rows, cols = np.nonzero(np.ones(a.shape_, dtype=bool))
    np.testing.assert_array_equal(a.predict(rows, cols), b.predict(rows, cols), strict=True)
    np.testing.assert_array_equal(a.reconstruct(), b.reconstruct(), strict=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, small_low_rank, make_model, fit_quiet, dtype):
    model = fit_quiet(make_model(dtype=dtype), small_low_rank.X, validation=small_low_rank.triplets(False))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = cmf.MatrixFactorization.load(path)
    assert type(loaded) is cmf.MatrixFactorization
    _assert_same_model(model, loaded)


def test_save_load_round_trip_with_early_stopping(tmp_path, small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(patience=2, n_factors=10, regularization=0.0, learning_rate=0.05, max_epochs=300,
                                 tol=0.0, n_iter_no_change=300),
                      small_low_rank.X, validation=small_low_rank.triplets(False))
    assert model.best_epoch_ is not None
    model.save(tmp_path / "m.npz")
    _assert_same_model(model, cmf.MatrixFactorization.load(tmp_path / "m.npz"))


def test_pickle_round_trip(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(), small_low_rank.X)
    _assert_same_model(model, pickle.loads(pickle.dumps(model)))


def test_unfitted_model_pickles_and_cannot_be_saved(tmp_path):
    model = cmf.MatrixFactorization(n_factors=7)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.get_params() == model.get_params()
    with pytest.raises(cmf.NotFittedError):
        model.save(tmp_path / "x.npz")


def test_loading_a_file_that_is_not_a_model_raises(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a cmf model"):
        cmf.MatrixFactorization.load(path)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable cmf model"):
        cmf.MatrixFactorization.load(text)
