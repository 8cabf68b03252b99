"""The C kernel against the NumPy reference epoch and the prediction formula."""

from __future__ import annotations

import numpy as np
import pytest

from cmf import _kernels
from cmf._train import epochs as _training
from cmf._input import as_triplets
from cmf._reference import reference_epoch

N_ROWS, N_COLS, K, N = 7, 6, 4, 40
HYPER = dict(learning_rate=0.05, regularization=0.03, bias_regularization=0.02)


def problem(dtype, seed=0):
    """Random triplets (with repeated pairs) and a random model state."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, N_ROWS, N).astype(np.int32)
    cols = rng.integers(0, N_COLS, N).astype(np.int32)
    values = rng.uniform(1, 5, N).astype(dtype)
    P = (0.5 * rng.standard_normal((N_ROWS, K))).astype(dtype)
    Q = (0.5 * rng.standard_normal((N_COLS, K))).astype(dtype)
    b = (0.3 * rng.standard_normal(N_ROWS)).astype(dtype)
    c = (0.3 * rng.standard_normal(N_COLS)).astype(dtype)
    mu = float(values.astype(np.float64).mean())
    return rows, cols, values, P, Q, b, c, mu


def orders(kind, seed=1):
    rng = np.random.default_rng(seed)
    if kind == "stored":
        return None
    if kind == "permutation":
        return rng.permutation(N).astype(np.int64)
    if kind == "repeated":  # indices visited several times, some never
        return rng.integers(0, N, 2 * N).astype(np.int64)
    raise AssertionError(kind)


def run_both(dtype, biased, order, ref_dtype=None):
    """Run one epoch with the kernel and the reference from the same state."""
    rows, cols, values, P, Q, b, c, mu = problem(dtype)
    ref_dtype = ref_dtype or dtype
    kP, kQ, kb, kc = P.copy(), Q.copy(), b.copy(), c.copy()
    sse_kernel = _kernels.sgd_epoch(
        rows, cols, values, kP, kQ, kb if biased else None, kc if biased else None, mu,
        HYPER["learning_rate"], HYPER["regularization"], HYPER["bias_regularization"], biased, order,
    )
    rP, rQ, rb, rc = (a.astype(ref_dtype) for a in (P, Q, b, c))
    sse_ref = reference_epoch(
        rows, cols, values.astype(ref_dtype), rP, rQ, rb if biased else None, rc if biased else None, mu,
        HYPER["learning_rate"], HYPER["regularization"], HYPER["bias_regularization"], order,
    )
    return (kP, kQ, kb, kc, sse_kernel), (rP, rQ, rb, rc, sse_ref), (P, Q, b, c)


@pytest.mark.parametrize("order_kind", ["stored", "permutation", "repeated"])
@pytest.mark.parametrize("biased", [True, False])
def test_float64_epoch_equals_reference(biased, order_kind):
    kernel, ref, start = run_both(np.float64, biased, orders(order_kind))
    for got, want, name in zip(kernel[:4], ref[:4], "PQbc"):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)
    assert kernel[4] == pytest.approx(ref[4], rel=1e-12)
    # The epoch did something: factors moved well beyond the tolerance.
    assert np.max(np.abs(kernel[0] - start[0])) > 1e-3
    if not biased:  # an unbiased epoch leaves the bias arrays alone
        np.testing.assert_array_equal(kernel[2], start[2])
        np.testing.assert_array_equal(kernel[3], start[3])


@pytest.mark.parametrize("order_kind", ["stored", "permutation", "repeated"])
@pytest.mark.parametrize("biased", [True, False])
def test_float32_epoch_agrees_to_float32_precision(biased, order_kind):
    # The reference runs in float64 from the same float32 start.
    kernel, ref, _ = run_both(np.float32, biased, orders(order_kind), ref_dtype=np.float64)
    for got, want, name in zip(kernel[:4], ref[:4], "PQbc"):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
    assert kernel[4] == pytest.approx(ref[4], rel=1e-5)


def test_empty_order_changes_nothing():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    P0 = P.copy()
    sse = _kernels.sgd_epoch(rows, cols, values, P, Q, b, c, mu, 0.1, 0.1, 0.1, True, np.empty(0, np.int64))
    assert sse == 0.0
    np.testing.assert_array_equal(P, P0)


def test_order_index_out_of_range_raises_index_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(IndexError, match="outside"):
        _kernels.sgd_epoch(rows, cols, values, P, Q, b, c, mu, 0.1, 0.1, 0.1, True,
                           np.array([0, N], dtype=np.int64))


def test_row_index_outside_factors_raises_index_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    rows = rows.copy()
    rows[3] = N_ROWS
    with pytest.raises(IndexError, match="outside"):
        _kernels.sgd_epoch(rows, cols, values, P, Q, b, c, mu, 0.1, 0.1, 0.1, True)


def test_invalid_learning_rate_raises_value_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(ValueError):
        _kernels.sgd_epoch(rows, cols, values, P, Q, b, c, mu, -0.1, 0.1, 0.1, True)


def test_chunked_training_epoch_equals_one_reference_epoch(monkeypatch):
    # run_epoch cuts an epoch into chunks of CHUNK_SIZE updates; the result
    # must not depend on where the cuts fall.
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    data = as_triplets(rows, cols, values, shape=(N_ROWS, N_COLS), dtype=np.float64)
    config = _training.TrainingConfig(
        n_factors=K, max_epochs=1, tol=0.0, n_iter_no_change=1, init_std=0.1, biased=True, shuffle=True,
        patience=None, dtype=np.dtype(np.float64), **HYPER,
    )
    order = orders("permutation")
    monkeypatch.setattr(_training, "CHUNK_SIZE", 7)
    state = _training.FactorState(P.copy(), Q.copy(), b.copy(), c.copy(), mu)
    sse = _training.run_epoch(state, data, order, config)
    rP, rQ, rb, rc = P.copy(), Q.copy(), b.copy(), c.copy()
    sse_ref = reference_epoch(rows, cols, values, rP, rQ, rb, rc, mu, **HYPER, order=order)
    for got, want in ((state.P, rP), (state.Q, rQ), (state.b, rb), (state.c, rc)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert sse == pytest.approx(sse_ref, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("biased", [True, False])
def test_predict_equals_numpy_formula(dtype, biased):
    _, _, _, P, Q, b, c, mu = problem(dtype)
    rng = np.random.default_rng(5)
    rows = rng.integers(0, N_ROWS, 50).astype(np.int32)
    cols = rng.integers(0, N_COLS, 50).astype(np.int32)
    out = np.empty(50, dtype=dtype)
    _kernels.predict(rows, cols, P, Q, b if biased else None, c if biased else None, mu, out)
    P64, Q64, b64, c64 = (a.astype(np.float64) for a in (P, Q, b, c))
    want = mu + np.einsum("ij,ij->i", P64[rows], Q64[cols])
    if biased:
        want += b64[rows] + c64[cols]
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_out_of_range_falls_back_to_mean_and_known_bias(dtype):
    _, _, _, P, Q, b, c, mu = problem(dtype)
    rows = np.array([N_ROWS, -1, 2, 2, N_ROWS, 2**31 - 1], dtype=np.int32)
    cols = np.array([3, 3, N_COLS, -5, N_COLS, 1], dtype=np.int32)
    out = np.empty(len(rows), dtype=dtype)
    _kernels.predict(rows, cols, P, Q, b, c, mu, out)
    want = np.array([
        mu + float(c[3]),  # unknown row: mean + column bias
        mu + float(c[3]),  # negative row index is unknown too
        mu + float(b[2]),  # unknown column: mean + row bias
        mu + float(b[2]),
        mu,                # both unknown
        mu + float(c[1]),
    ])
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_mismatched_lengths_raise_value_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(ValueError, match="same length"):
        _kernels.sgd_epoch(rows[:-1], cols, values, P, Q, b, c, mu, 0.1, 0.1, 0.1, True)
    with pytest.raises(ValueError, match="same number"):
        _kernels.sgd_epoch(rows, cols, values, P, Q[:, :2].copy(), b, c, mu, 0.1, 0.1, 0.1, True)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16, 33, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_matches_reference_for_any_factor_count(k, dtype):
    # Odd and large k catch unrolled or vectorised loops that mishandle a
    # remainder; one row or column catches repeated updates of the same row.
    rng = np.random.default_rng(k)
    for n_rows, n_cols in ((1, 5), (5, 1), (9, 8)):
        n = 25
        rows = rng.integers(0, n_rows, n).astype(np.int32)
        cols = rng.integers(0, n_cols, n).astype(np.int32)
        values = rng.uniform(-2, 2, n).astype(dtype)
        P = (rng.standard_normal((n_rows, k)) / np.sqrt(k)).astype(dtype)
        Q = (rng.standard_normal((n_cols, k)) / np.sqrt(k)).astype(dtype)
        b = rng.standard_normal(n_rows).astype(dtype)
        c = rng.standard_normal(n_cols).astype(dtype)
        order = rng.permutation(n).astype(np.int64)
        ref = [a.astype(np.float64) for a in (P, Q, b, c)]
        sse = _kernels.sgd_epoch(rows, cols, values, P, Q, b, c, 0.1, 0.02, 0.05, 0.01, True, order)
        sse_ref = reference_epoch(rows, cols, values.astype(np.float64), *ref, 0.1, 0.02, 0.05, 0.01, order)
        tol = 1e-12 if dtype == np.float64 else 2e-5
        for got, want in zip((P, Q, b, c), ref):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        assert sse == pytest.approx(sse_ref, rel=tol)


def test_reference_reproduces_the_hand_computed_update():
    # The reference itself, against arithmetic done on paper: p = (1, 2),
    # q = (3, -1), r = 2, lr = 0.1, no penalty or biases gives e = 1,
    # p' = (1.3, 1.9) and q' = (3.1, -0.8).
    P, Q = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    sse = reference_epoch(np.array([0]), np.array([0]), np.array([2.0]), P, Q, None, None, 0.0, 0.1, 0.0, 0.0)
    assert sse == 1.0
    np.testing.assert_allclose(P[0], [1.3, 1.9], rtol=1e-15)
    np.testing.assert_allclose(Q[0], [3.1, -0.8], rtol=1e-15)
