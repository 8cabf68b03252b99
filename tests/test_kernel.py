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


def epoch(model, rows, cols, values, order=None, *, biased=True, lr=0.1, reg=0.1, reg_b=0.1):
    """One kernel epoch of ``model`` (a ``_kernels.Model``) over the triplets; returns the SSE."""
    params = _kernels.Params(learning_rate=lr, regularization=reg, bias_regularization=reg_b, update_biases=biased)
    return model.epoch(params, _kernels.Entries(rows, cols, values), order)


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
    sse_kernel = epoch(
        _kernels.Model(kP, kQ, kb if biased else None, kc if biased else None, mu), rows, cols, values, order,
        biased=biased, lr=HYPER["learning_rate"], reg=HYPER["regularization"], reg_b=HYPER["bias_regularization"],
    )
    rP, rQ, rb, rc = (a.astype(ref_dtype) for a in (P, Q, b, c))
    sse_ref = reference_epoch(
        rows, cols, values.astype(ref_dtype), rP, rQ, rb if biased else None, rc if biased else None, mu,
        **HYPER, order=order,
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
    sse = epoch(_kernels.Model(P, Q, b, c, mu), rows, cols, values, np.empty(0, np.int64))
    assert sse == 0.0
    np.testing.assert_array_equal(P, P0)


def test_order_index_out_of_range_raises_index_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(IndexError, match="outside"):
        epoch(_kernels.Model(P, Q, b, c, mu), rows, cols, values, np.array([0, N], dtype=np.int64))


def test_row_index_outside_factors_raises_index_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    rows = rows.copy()
    rows[3] = N_ROWS
    with pytest.raises(IndexError, match="outside"):
        epoch(_kernels.Model(P, Q, b, c, mu), rows, cols, values)


def test_invalid_learning_rate_raises_value_error():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(ValueError):
        epoch(_kernels.Model(P, Q, b, c, mu), rows, cols, values, lr=-0.1)


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
    _kernels.Model(P, Q, b if biased else None, c if biased else None, mu).predict(rows, cols, out)
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
    _kernels.Model(P, Q, b, c, mu).predict(rows, cols, out)
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
        epoch(_kernels.Model(P, Q, b, c, mu), rows[:-1], cols, values)
    with pytest.raises(ValueError, match="same number"):
        epoch(_kernels.Model(P, Q[:, :2].copy(), b, c, mu), rows, cols, values)


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
        sse = epoch(_kernels.Model(P, Q, b, c, 0.1), rows, cols, values, order, lr=0.02, reg=0.05, reg_b=0.01)
        sse_ref = reference_epoch(rows, cols, values.astype(np.float64), *ref, 0.1, learning_rate=0.02, regularization=0.05,
                                  bias_regularization=0.01, order=order)
        tol = 1e-12 if dtype == np.float64 else 2e-5
        for got, want in zip((P, Q, b, c), ref):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        assert sse == pytest.approx(sse_ref, rel=tol)


def test_reference_reproduces_the_hand_computed_update():
    # The reference itself, against arithmetic done on paper: p = (1, 2),
    # q = (3, -1), r = 2, lr = 0.1, no penalty or biases gives e = 1,
    # p' = (1.3, 1.9) and q' = (3.1, -0.8).
    P, Q = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    sse = reference_epoch(np.array([0]), np.array([0]), np.array([2.0]), P, Q, None, None, 0.0,
                          learning_rate=0.1, regularization=0.0, bias_regularization=0.0)
    assert sse == 1.0
    np.testing.assert_allclose(P[0], [1.3, 1.9], rtol=1e-15)
    np.testing.assert_allclose(Q[0], [3.1, -0.8], rtol=1e-15)


# ----------------------------------------------------------------------
# The binding's objects check their arrays and sizes once, before any C call
# ----------------------------------------------------------------------
INT32_MAX = 2**31 - 1


def empty_blocked(n_row_blocks, n_col_blocks, block_ptr=None, dtype=np.float64):
    """Blocked entries with no entry, on a grid of the given block counts."""
    if block_ptr is None:
        block_ptr = np.zeros(n_row_blocks * n_col_blocks + 1, np.int64)
    u16 = np.empty(0, np.uint16)
    return _kernels.Blocked(block_ptr, u16, u16.copy(), np.empty(0, dtype), n_row_blocks=n_row_blocks,
                            n_col_blocks=n_col_blocks, row_block_size=1, col_block_size=1)


def test_block_counts_whose_product_exceeds_int32_are_refused():
    # 2**16 x 2**16 blocks: each count fits int32, their product does not.
    with pytest.raises(ValueError, match=r"n_row_blocks \* n_col_blocks"):
        empty_blocked(2**16, 2**16, block_ptr=np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="n_row_blocks"):
        empty_blocked(INT32_MAX + 1, 1, block_ptr=np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="n_col_blocks"):
        empty_blocked(1, -1, block_ptr=np.zeros(1, np.int64))


@pytest.mark.parametrize("length", [0, 6, 8])
def test_block_ptr_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError, match="block_ptr"):
        empty_blocked(2, 3, block_ptr=np.zeros(length, np.int64))


def test_block_ptr_must_partition_the_entries():
    with pytest.raises(ValueError, match="block_ptr"):
        empty_blocked(1, 2, block_ptr=np.array([1, 0, 0], np.int64))
    with pytest.raises(ValueError, match="block_ptr"):
        _kernels.Blocked(np.array([0, 2, 1], np.int64), np.zeros(1, np.uint16), np.zeros(1, np.uint16),
                         np.zeros(1), n_row_blocks=1, n_col_blocks=2, row_block_size=1, col_block_size=1)
    with pytest.raises(ValueError, match="block_size"):
        _kernels.Blocked(np.zeros(2, np.int64), np.empty(0, np.uint16), np.empty(0, np.uint16), np.empty(0),
                         n_row_blocks=1, n_col_blocks=1, row_block_size=_kernels.MAX_BLOCK_SIZE + 1,
                         col_block_size=1)


def test_partition_sizes_beyond_int32_are_refused():
    rows, cols, values, *_ = problem(np.float64)
    entries = _kernels.Entries(rows, cols, values)
    for n_rows, n_cols in ((INT32_MAX + 1, N_COLS), (N_ROWS, 2**40), (-1, N_COLS)):
        with pytest.raises(ValueError, match=r"2\*\*31 - 1"):
            _kernels.partition(entries, n_rows, n_cols, 4, 4)
    with pytest.raises(ValueError, match="block_size"):
        _kernels.partition(entries, N_ROWS, N_COLS, 0, 4)
    with pytest.raises(ValueError, match=r"2\*\*31 - 1"):
        _kernels.n_blocks(INT32_MAX + 1, 1)
    with pytest.raises(ValueError, match=r"2\*\*31 - 1"):
        _kernels.block_order(1, INT32_MAX + 1, np.empty(3, np.int32))
    with pytest.raises(TypeError):
        _kernels.partition((rows, cols, values), N_ROWS, N_COLS, 4, 4)


def test_a_grid_that_does_not_cover_the_model_is_refused():
    _, _, _, P, Q, b, c, mu = problem(np.float64)
    model = _kernels.Model(P, Q, b, c, mu)
    params = _kernels.Params(learning_rate=0.1, regularization=0.1)
    with pytest.raises(ValueError, match="cover"):
        model.blocks(params, empty_blocked(N_ROWS - 1, N_COLS), np.zeros(1, np.int32), 1, np.empty(1, np.int32))


@pytest.mark.parametrize("which", range(6))
def test_a_model_with_mismatched_dtypes_is_refused(which):
    _, _, _, P, Q, b, c, mu = problem(np.float64)
    arrays = [P, Q, b, c, 2 * np.ones(2 * N_ROWS), 2 * np.ones(2 * N_COLS)]
    arrays[which] = arrays[which].astype(np.float32)
    with pytest.raises(ValueError, match="dtype"):
        _kernels.Model(*arrays[:4], mu, row_adagrad=arrays[4], col_adagrad=arrays[5])


def test_a_model_of_another_precision_than_its_entries_is_refused():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    model = _kernels.Model(P.astype(np.float32), Q.astype(np.float32))
    with pytest.raises(TypeError):
        model.epoch(_kernels.Params(learning_rate=0.1, regularization=0.1, update_biases=False),
                    _kernels.Entries(rows, cols, values))
    with pytest.raises(ValueError, match="float32 or float64"):
        _kernels.Model(P.astype(np.float16), Q.astype(np.float16))
    with pytest.raises(ValueError, match="float32 or float64"):
        _kernels.Entries(rows, cols, values.astype(np.int64))


def test_non_contiguous_arrays_are_refused():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    for bad in (np.asfortranarray(np.repeat(P, 2, axis=1)), np.repeat(P, 2, axis=1)[:, ::2]):
        with pytest.raises(ValueError, match="C-contiguous"):
            _kernels.Model(bad, Q, b, c, mu)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.Model(P, Q, np.repeat(b, 2)[::2], c, mu)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.Entries(np.repeat(rows, 2)[::2], cols, values)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.Entries(rows, cols, np.repeat(values, 2)[::2])


def test_model_shapes_are_checked_once():
    _, _, _, P, Q, b, c, mu = problem(np.float64)
    with pytest.raises(ValueError, match="row_bias"):
        _kernels.Model(P, Q, b[:-1], c, mu)
    with pytest.raises(ValueError, match="together"):
        _kernels.Model(P, Q, b, None, mu)
    with pytest.raises(ValueError, match="dimension"):
        _kernels.Model(P.ravel(), Q, b, c, mu)
    with pytest.raises(ValueError, match="same number"):
        _kernels.Model(P[:, :0].copy(), Q[:, :0].copy())
    with pytest.raises(TypeError):
        _kernels.Model(P.tolist(), Q)


def test_epoch_bounds_and_what_the_model_can_update_are_checked_before_the_c_call():
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    P0 = P.copy()
    entries = _kernels.Entries(rows, cols, values)
    params = _kernels.Params(learning_rate=0.1, regularization=0.1, bias_regularization=0.1)
    model = _kernels.Model(P, Q, b, c, mu)
    order = np.arange(N, dtype=np.int64)
    for start, stop in ((-1, 3), (3, 2), (0, N + 1)):
        with pytest.raises(ValueError, match="start"):
            model.epoch(params, entries, None, start, stop)
        with pytest.raises(ValueError, match="start"):
            model.epoch(params, entries, order, start, stop)
    with pytest.raises(ValueError, match="update_biases"):
        _kernels.Model(P, Q, None, None, mu).epoch(params, entries)
    with pytest.raises(ValueError, match="adaptive"):
        model.epoch(_kernels.Params(learning_rate=0.1, regularization=0.1, adaptive=True), entries)
    frozen = P.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _kernels.Model(frozen, Q, b, c, mu).epoch(params, entries)
    np.testing.assert_array_equal(P, P0)  # nothing ran
    out = np.empty(N)
    _kernels.Model(frozen, Q, b, c, mu).predict(rows, cols, out)  # a read-only model still predicts


def test_a_chunk_of_entries_equals_the_same_chunk_of_their_order():
    # start:stop in stored order and order[start:stop] of an identity order
    # visit the same entries: the same bits.
    rows, cols, values, P, Q, b, c, mu = problem(np.float64)
    params = _kernels.Params(learning_rate=0.05, regularization=0.03, bias_regularization=0.02)
    entries = _kernels.Entries(rows, cols, values)
    states = [[a.copy() for a in (P, Q, b, c)] for _ in range(2)]
    first = _kernels.Model(*states[0], mu).epoch(params, entries, None, 5, 31)
    second = _kernels.Model(*states[1], mu).epoch(params, entries, np.arange(N, dtype=np.int64), 5, 31)
    assert first == second
    for x, y in zip(*states):
        np.testing.assert_array_equal(x, y)


def test_params_are_checked_by_the_c_core_and_read_back():
    with pytest.raises(ValueError, match="learning_rate"):
        _kernels.Params(learning_rate=0.0, regularization=0.1)
    with pytest.raises(ValueError, match="regularization"):
        _kernels.Params(learning_rate=0.1, regularization=np.nan)
    with pytest.raises(TypeError):
        _kernels.Params(0.1, 0.1)  # keyword-only
    p = _kernels.Params(learning_rate=0.1, regularization=0.2, bias_regularization=0.3, adaptive=True)
    assert (p.learning_rate, p.regularization, p.bias_regularization, p.update_biases, p.adaptive) == (
        0.1, 0.2, 0.3, True, True)
