"""Sizes beyond 32 bits and requests beyond the machine's memory, without allocating them."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import cmf
from cmf import _kernels, _memory

INT32_MAX = 2**31 - 1


def small_model(**kw) -> cmf.MatrixFactorization:
    params = dict(n_factors=2, max_epochs=2, random_state=0)
    params.update(kw)
    return cmf.MatrixFactorization(**params)


def fit_quiet(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return model.fit_triplets(*args, **kwargs)


@pytest.mark.parametrize("shape", [(INT32_MAX + 1, 5), (5, 2**40), (2**63, 1)])
def test_shapes_beyond_int32_are_refused(shape):
    with pytest.raises(ValueError, match="too large"):
        small_model().fit_triplets([0], [0], [1.0], shape=shape)


@pytest.mark.parametrize("shape", [(2.5, 3), ("4", 3), (4,), (1, 2, 3), 7])
def test_shape_must_be_two_integers(shape):
    with pytest.raises(ValueError, match="shape must be a pair of integers"):
        small_model().fit_triplets([0], [0], [1.0], shape=shape)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_indices_beyond_int32_are_refused_not_wrapped(dtype):
    # 2**32 would wrap to 0 in int32: it must be refused, never cast.
    rows = np.array([0, 2**32], dtype=dtype)
    with pytest.raises(ValueError, match="too large|outside"):
        small_model().fit_triplets(rows, [0, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="outside the matrix"):
        small_model().fit_triplets(rows, [0, 1], [1.0, 2.0], shape=(3, 3))


@pytest.mark.parametrize("index", [2**32, 2**31, -(2**32), np.uint64(2**63)])
def test_predict_with_indices_beyond_int32_raises_index_error(index):
    model = fit_quiet(small_model(), [0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="outside the fitted matrix"):
        model.predict(np.array([index]), np.array([0]), unknown="error")


def test_python_integers_beyond_int64_raise_type_error():
    model = fit_quiet(small_model(), [0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="integer indices"):
        model.predict(2**70, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_order_indices_are_64_bit(dtype):
    # The visiting order is int64 end to end: 2**40 is out of range, not
    # truncated to a valid 32-bit index.
    rows = np.array([0, 1], np.int32)
    vals = np.array([1.0, 2.0], dtype)
    P, Q = np.zeros((2, 2), dtype), np.zeros((2, 2), dtype)
    b, c = np.zeros(2, dtype), np.zeros(2, dtype)
    for bad in (2**40, 2**32, -1, 2):
        order = np.array([0, bad], np.int64)
        with pytest.raises(IndexError):
            _kernels.Model(P, Q, b, c, 0.0).epoch(
                _kernels.Params(learning_rate=0.1, regularization=0.1, bias_regularization=0.1),
                _kernels.Entries(rows, rows, vals), order)


def test_an_impossible_fit_is_refused_before_allocating():
    # 2 * (2**31 - 1) * 101 * 4 bytes of factors alone: terabytes.
    model = small_model(n_factors=100)
    with pytest.raises(ValueError, match=r"needs about .* GiB of memory, more than this machine's"):
        model.fit_triplets([0, 1], [0, 1], [1.0, 2.0], shape=(INT32_MAX, INT32_MAX))
    assert not hasattr(model, "user_factors_")


def test_the_memory_guard_follows_the_limit(monkeypatch):
    rows, cols, values = [0, 999], [0, 999], [1.0, 2.0]
    need = _memory.fit_memory(1000, 1000, 2, 50, 4, blocked=True)  # the default: blocked epochs
    monkeypatch.setattr(_memory, "memory_limit", lambda: need - 1)
    with pytest.raises(ValueError, match="use fewer n_factors"):
        fit_quiet(small_model(n_factors=50), rows, cols, values)
    monkeypatch.setattr(_memory, "memory_limit", lambda: need)
    assert fit_quiet(small_model(n_factors=50), rows, cols, values).shape_ == (1000, 1000)
    monkeypatch.setattr(_memory, "memory_limit", lambda: None)  # unknown: nothing refused
    fit_quiet(small_model(n_factors=50), rows, cols, values)


def test_a_failed_memory_check_leaves_a_fitted_model_unchanged(monkeypatch):
    model = fit_quiet(small_model(), [0, 1], [0, 1], [1.0, 2.0])
    before = model.user_factors_
    monkeypatch.setattr(_memory, "memory_limit", lambda: 1)
    with pytest.raises(ValueError, match="memory"):
        fit_quiet(model, [0, 1], [0, 1], [1.0, 2.0])
    assert model.user_factors_ is before


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("patience", [None, 2])
@pytest.mark.parametrize("blocking, adaptive", [(True, False), (False, False), (True, True)])
def test_the_estimate_covers_what_a_fit_allocates(dtype, patience, blocking, adaptive):
    # Independent measurement: NumPy reports its buffers to tracemalloc.
    rng = np.random.default_rng(0)
    n_rows, n_cols, n, k = 3000, 2000, 20_000, 40
    rows, cols = rng.integers(0, n_rows, n), rng.integers(0, n_cols, n)
    values = rng.standard_normal(n)
    valid = (rows[:500], cols[:500], values[:500])
    model = small_model(n_factors=k, dtype=dtype, max_epochs=3, patience=patience, blocking=blocking,
                        adaptive=adaptive)
    tracemalloc.start()
    try:
        fit_quiet(model, rows, cols, values, shape=(n_rows, n_cols), validation=valid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    itemsize = np.dtype(dtype).itemsize
    inputs = n * (4 + 4 + itemsize) + 500 * (4 + 4 + itemsize)  # the validated triplets
    estimate = _memory.fit_memory(n_rows, n_cols, n, k, itemsize, n_validation=500,
                                  early_stopping=patience is not None, blocked=blocking, adaptive=adaptive)
    assert peak <= estimate + inputs
    assert estimate <= 3 * peak  # and not wildly pessimistic


def test_reconstruct_and_sparse_complete_check_memory(monkeypatch):
    model = fit_quiet(small_model(), [0, 1, 2], [0, 1, 3], [1.0, 2.0, 3.0])
    monkeypatch.setattr(_memory, "memory_limit", lambda: 16)
    with pytest.raises(ValueError, match="reconstruct"):
        model.reconstruct()
    with pytest.raises(ValueError, match="dense copy"):
        model.complete(sp.csr_matrix(([1.0], ([0], [0])), shape=(3, 4)))
    monkeypatch.setattr(_memory, "memory_limit", lambda: None)
    assert model.reconstruct().shape == (3, 4)


def test_kernel_refuses_sizes_beyond_int32_without_touching_memory():
    # An 8 GiB anonymous mapping that is never touched costs no RAM: the
    # kernel must refuse 2**31 rows or factors from the shape alone (its C
    # structs hold int32 sizes), before reading anything.
    import mmap

    try:
        buf = mmap.mmap(-1, (INT32_MAX + 1) * 4)
    except (OSError, ValueError, OverflowError):
        pytest.skip("no 8 GiB of address space for an untouched mapping")
    flat = np.frombuffer(buf, dtype=np.float32)
    idx = np.array([0], np.int32)
    out = np.zeros(1, np.float32)
    tall, wide = flat.reshape(INT32_MAX + 1, 1), flat.reshape(1, INT32_MAX + 1)
    with pytest.raises(ValueError, match=r"2\*\*31 - 1"):
        _kernels.Model(tall, np.zeros((2, 1), np.float32)).predict(idx, idx, out)
    with pytest.raises(ValueError, match=r"2\*\*31 - 1"):
        _kernels.Model(wide, wide).predict(idx, idx, out)
