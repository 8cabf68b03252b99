"""Recovery of a known low-rank matrix from a fraction of its entries."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rank3_matrix_recovered_from_30_percent(low_rank_factory, dtype):
    # 300x200, rank 3, N(0, 1) factors (entries of variance 3), noise 0.1,
    # 30% observed. Scored on the 70% never shown to the model.
    lr = low_rank_factory(300, 200, rank=3, fraction=0.3, noise=0.1, seed=0)
    rows, cols, values = lr.triplets(observed=True)
    model = cmf.MatrixFactorization(
        n_factors=3, learning_rate=0.02, regularization=0.02, max_epochs=200, tol=1e-4,
        dtype=dtype, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values, shape=lr.truth.shape)
    h_rows, h_cols, h_values = lr.triplets(observed=False)
    pred = model.predict(h_rows, h_cols).astype(np.float64)
    held_out = np.sqrt(np.mean((pred - h_values) ** 2))
    assert held_out < 0.15
    # Against the noiseless truth the error is below the noise level.
    assert np.sqrt(np.mean((pred - lr.truth[h_rows, h_cols]) ** 2)) < 0.1
    # A model that knows nothing (the mean) is far worse: the test has teeth.
    assert np.sqrt(np.mean((values.mean() - h_values) ** 2)) > 1.0


def test_dense_nan_form_recovers_too(low_rank_factory):
    lr = low_rank_factory(300, 200, rank=3, fraction=0.3, noise=0.1, seed=1)
    model = cmf.MatrixFactorization(
        n_factors=3, learning_rate=0.02, regularization=0.02, max_epochs=200, tol=1e-4, random_state=1,
    ).fit(lr.X)
    completed = model.complete(lr.X)
    hidden = ~lr.observed
    assert np.sqrt(np.mean((completed[hidden] - lr.noisy[hidden]) ** 2)) < 0.15
    np.testing.assert_array_equal(completed[lr.observed], lr.X[lr.observed])


def test_float32_and_float64_fits_agree(low_rank_factory):
    # Different precisions start from different random draws, yet on a
    # well-determined problem they reach the same completion.
    lr = low_rank_factory(300, 200, rank=3, fraction=0.3, noise=0.1, seed=2)
    rows, cols, values = lr.triplets()
    h_rows, h_cols, _ = lr.triplets(observed=False)
    preds = {}
    for dtype in ("float32", "float64"):
        model = cmf.MatrixFactorization(n_factors=3, learning_rate=0.02, regularization=0.02, max_epochs=200,
                                        tol=1e-4, dtype=dtype, random_state=0)
        model.fit_triplets(rows, cols, values, shape=lr.truth.shape)
        preds[dtype] = model.predict(h_rows, h_cols).astype(np.float64)
    assert preds["float32"].dtype == np.float64
    gap = np.sqrt(np.mean((preds["float32"] - preds["float64"]) ** 2))
    assert gap < 0.05, gap
