"""Bayesian matrix factorization by Gibbs sampling: the C row draw, the sweep, the estimator.

The references are NumPy transcriptions of the conditional posterior (the
precision, its Cholesky factor, the mean by ``np.linalg.solve``), the mean
of a Wishart distribution, and per-sample predictions taken from chains cut
short (a chain whose burn-in leaves only its last sweep publishes that
sweep's sample itself).
"""

import numpy as np
import pytest

from cmf import _kernels


def _csr(rng, n_rows, n_other, density=0.4):
    """Random entries grouped by row, with every row and column holding at least one."""
    mask = rng.random((n_rows, n_other)) < density
    mask[np.arange(n_rows), rng.integers(0, n_other, n_rows)] = True
    mask[rng.integers(0, n_rows, n_other), np.arange(n_other)] = True
    rows, cols = np.nonzero(mask)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return rows.astype(np.int32), cols.astype(np.int32), indptr


def _spd(rng, k):
    a = rng.standard_normal((k, k))
    return a @ a.T + k * np.eye(k)


def _numpy_rows(indptr, indices, values, other, mean, precision, alpha, normals):
    """The conditional posterior draw of every row, transcribed from the paper."""
    out = np.empty_like(normals)
    for r in range(len(indptr) - 1):
        idx = slice(indptr[r], indptr[r + 1])
        Y = other[indices[idx]]
        post = precision + alpha * Y.T @ Y
        chol = np.linalg.cholesky(post)
        mu = np.linalg.solve(post, precision @ mean + alpha * Y.T @ values[idx])
        out[r] = mu + np.linalg.solve(chol.T, normals[r])
    return out


def test_c_row_draw_matches_numpy():
    rng = np.random.default_rng(3)
    n, m, k = 30, 25, 6
    _, cols, indptr = _csr(rng, n, m)
    values = rng.standard_normal(len(cols))
    other, mean, precision = rng.standard_normal((m, k)), rng.standard_normal(k), _spd(rng, k)
    normals = rng.standard_normal((n, k))
    out = np.zeros((n, k))
    _kernels.gibbs_rows(indptr, cols, values, other, out, mean=mean, precision=precision,
                        noise_precision=1.7, normals=normals)
    expected = _numpy_rows(indptr, cols, values, other, mean, precision, 1.7, normals)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_c_row_draw_of_a_row_without_entries_is_a_prior_draw():
    # No entries: x = mu + L^-T z with Lambda = L L^T.
    rng = np.random.default_rng(4)
    k = 4
    precision, mean, z = _spd(rng, k), rng.standard_normal(k), rng.standard_normal((1, k))
    out = np.zeros((1, k))
    _kernels.gibbs_rows(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros((3, k)), out,
                        mean=mean, precision=precision, noise_precision=1.0, normals=z)
    expected = mean + np.linalg.solve(np.linalg.cholesky(precision).T, z[0])
    np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-12)


def test_c_row_draw_by_ranges_gives_the_same_bits():
    rng = np.random.default_rng(5)
    n, m, k = 40, 20, 5
    _, cols, indptr = _csr(rng, n, m)
    args = (indptr, cols, rng.standard_normal(len(cols)), rng.standard_normal((m, k)))
    kw = dict(mean=np.zeros(k), precision=_spd(rng, k), noise_precision=2.0, normals=rng.standard_normal((n, k)))
    whole, parts = np.zeros((n, k)), np.zeros((n, k))
    _kernels.gibbs_rows(*args, whole, **kw)
    for begin, end in ((17, 40), (0, 3), (3, 17)):
        _kernels.gibbs_rows(*args, parts, begin=begin, end=end, **kw)
    assert np.array_equal(whole, parts)


def test_c_row_draw_errors():
    k = 2
    good = dict(mean=np.zeros(k), precision=np.eye(k), noise_precision=1.0, normals=np.zeros((1, k)))
    indptr, cols, values, other = np.array([0, 1], np.int64), np.array([0], np.int32), np.ones(1), np.ones((1, k))
    with pytest.raises(IndexError):
        _kernels.gibbs_rows(indptr, np.array([1], np.int32), values, other, np.zeros((1, k)), **good)
    with pytest.raises(ValueError, match="positive definite|parameter"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, precision=-5 * np.eye(k)))
    with pytest.raises(ValueError, match="parameter"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, noise_precision=0.0))
    with pytest.raises(ValueError, match="indptr"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((2, k)), **good)
    with pytest.raises(ValueError, match="columns"):
        _kernels.gibbs_rows(indptr, cols, values, np.ones((1, 3)), np.zeros((1, k)), **good)
    with pytest.raises(ValueError, match="normals"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, normals=np.zeros((2, k))))
