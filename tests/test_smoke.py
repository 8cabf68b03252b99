import numpy as np

import cmf


def test_seed_matrix_two_unknowns_is_completed():
    X = cmf.datasets.example_matrix() if hasattr(cmf, "datasets") else None
    from cmf.datasets import example_matrix

    X = example_matrix()
    X[0, 1] = X[2, 4] = np.nan
    model = cmf.MatrixFactorization(
        n_factors=2, learning_rate=0.05, regularization=0.001, max_epochs=20000, tol=1e-5,
        dtype="float64", random_state=0,
    ).fit(X)
    assert model.converged_
    observed = ~np.isnan(X)
    rows, cols = np.nonzero(observed)
    assert np.sqrt(np.mean((model.predict(rows, cols) - X[observed]) ** 2)) < 0.05
