"""Property-based tests of the public API with generated, often invalid, input.

Each call either succeeds with the right answer, checked against an
independent NumPy derivation of what the input means, or raises one of the
documented exceptions. An independent oracle decides beforehand which of
the two must happen. Derandomized, so every run (and CI) sees the same
examples.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cmf  # noqa: E402
from cmf import _kernels  # noqa: E402
from cmf._train import loop as _training  # noqa: E402

DOCUMENTED = (TypeError, ValueError, IndexError, cmf.NotFittedError, cmf.DivergenceError)
INT32_MAX = 2**31 - 1
FUZZ = settings(
    derandomize=True, database=None, deadline=None, max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOAT_DTYPES = ["float16", "float32", "float64"]
OTHER_DTYPES = ["bool", "object", "str", "complex128"]
INDEX_VALUES = st.one_of(
    st.integers(0, 6), st.integers(-3, -1), st.sampled_from([2**31 - 1, 2**31, 2**32, 2**40, 2**63 - 1])
)
VALUE_FLOATS = st.one_of(
    st.floats(-10, 10), st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -1e39, 1e-45, 0.0, 1e300])
)

DENSE_VALUES = st.one_of(
    st.integers(-2, 5).map(float), st.floats(-10, 10), st.just(np.nan), st.just(-1.0), VALUE_FLOATS
)


# ----------------------------------------------------------------------
# Array generation: dtype, memory layout, writeability
# ----------------------------------------------------------------------
def cast(values: list, dtype: str) -> np.ndarray | None:
    """``values`` as an array of ``dtype``; None when NumPy refuses the cast."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            if dtype == "str":
                return np.array([str(v) for v in values], dtype=str).reshape(np.shape(values))
            if dtype == "object":
                return np.array(values, dtype=object)
            arr = np.array(values, dtype=np.float64) if dtype in FLOAT_DTYPES + ["complex128"] else None
            if arr is not None:
                return arr.astype(dtype)
            big = np.array(values, dtype=object)
            info = np.iinfo(dtype) if dtype != "bool" else None
            if info is not None and any(not (info.min <= int(v) <= info.max) for v in big.ravel()):
                return None  # NumPy would wrap: not what a user would pass
            return np.array(values, dtype=np.float64 if dtype == "bool" else object).astype(dtype)
        except (OverflowError, ValueError, TypeError):
            return None


@st.composite
def laid_out(draw, arr: np.ndarray):
    """The same values as a list, or as an array that is non-contiguous,
    Fortran-ordered and/or read-only."""
    if arr.dtype != object and draw(st.booleans()) and arr.ndim <= 2 and arr.dtype.kind != "U":
        return arr.tolist()
    if draw(st.booleans()) and arr.size:
        # A strided view with the same values.
        big = np.repeat(arr, 2, axis=-1) if arr.ndim else arr
        arr = big[..., ::2] if arr.ndim else arr
    if arr.ndim == 2 and draw(st.booleans()):
        arr = np.asfortranarray(arr)
    if draw(st.booleans()):
        arr = arr.copy() if arr.base is None else arr
        arr.flags.writeable = False
    return arr


def plain(a) -> np.ndarray:
    return np.asarray(a)


def is_int_array(a: np.ndarray) -> bool:
    return a.dtype != bool and np.issubdtype(a.dtype, np.integer)


def is_number_array(a: np.ndarray) -> bool:
    return a.dtype != bool and (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating))


def representable(values: np.ndarray, dtype: str) -> bool:
    """Finite, and still finite once cast to the model's dtype."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = values.astype(np.float64)
        return bool(np.isfinite(v).all() and np.isfinite(values.astype(dtype)).all())


@contextmanager
def recorded_training():
    """Capture the triplets handed to the training loop."""
    seen = []
    real = _training.train

    def spy(data, *args, **kwargs):
        seen.append(data)
        return real(data, *args, **kwargs)

    with mock.patch.object(_training, "train", spy), warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        yield seen


def accepted(kind: str, result, values: np.ndarray) -> bool:
    """Valid input must fit; only data on a huge scale may diverge instead."""
    if kind == "error" and isinstance(result, cmf.DivergenceError):
        assert np.abs(values.astype(np.float64)).max() > 100, f"diverged on small data: {result}"
        assert "divide the values by" in str(result)  # the remedy is named
        return False
    assert kind == "ok", f"valid input refused: {result!r}"
    return True


def quick(dtype: str) -> cmf.MatrixFactorization:
    return cmf.MatrixFactorization(n_factors=2, max_epochs=2, learning_rate=0.01, dtype=dtype, random_state=0)


def outcome(call):
    """('ok', result) or ('error', exception); anything undocumented propagates."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no silent overflow
            return "ok", call()
    except DOCUMENTED as exc:
        return "error", exc


# ----------------------------------------------------------------------
# fit_triplets
# ----------------------------------------------------------------------
TRIPLET_CORRUPTIONS = [
    "negative index", "index beyond int32", "float indices", "bool indices", "object indices",
    "nan value", "inf value", "float32 overflow", "string values", "complex values", "bool values",
    "length mismatch", "2-D", "empty", "shape too small", "shape beyond int32", "shape not integral",
    "shape of three", "zero shape",
]


@st.composite
def triplet_input(draw):
    """Valid triplets with zero, one or two corruptions applied."""
    n = draw(st.integers(1, 6))
    rows = [draw(st.integers(0, 5)) for _ in range(n)]
    cols = [draw(st.integers(0, 5)) for _ in range(n)]
    vals = [draw(st.floats(-10, 10)) for _ in range(n)]
    r_dtype, c_dtype = draw(st.sampled_from(INT_DTYPES)), draw(st.sampled_from(INT_DTYPES))
    v_dtype = draw(st.sampled_from(FLOAT_DTYPES * 2 + INT_DTYPES[:4]))
    shape = draw(st.one_of(st.none(), st.tuples(st.integers(6, 9), st.integers(6, 9))))
    reshape = None
    corruptions = draw(st.lists(st.sampled_from(TRIPLET_CORRUPTIONS), max_size=2))
    corruptions.sort(key=lambda what: what == "empty")  # emptying comes last
    at = draw(st.integers(0, n - 1))
    for what in corruptions:
        if what == "negative index":
            rows[at], r_dtype = -draw(st.integers(1, 3)), draw(st.sampled_from(["int8", "int32", "int64"]))
        elif what == "index beyond int32":
            cols[at], c_dtype = draw(st.sampled_from([2**31, 2**32, 2**40, 2**63 - 1])), "int64"
        elif what == "float indices":
            r_dtype = draw(st.sampled_from(FLOAT_DTYPES))
        elif what == "bool indices":
            c_dtype = "bool"
        elif what == "object indices":
            r_dtype = "object"
        elif what in ("nan value", "inf value", "float32 overflow"):
            vals[at] = {"nan value": np.nan, "inf value": -np.inf, "float32 overflow": 1e39}[what]
            v_dtype = "float64"
        elif what in ("string values", "complex values", "bool values"):
            v_dtype = {"string values": "str", "complex values": "complex128", "bool values": "bool"}[what]
        elif what == "length mismatch":
            vals.append(1.0)
        elif what == "2-D":
            reshape = draw(st.sampled_from(["rows", "cols", "vals"]))
        elif what == "empty":
            rows, cols, vals = [], [], []
            r_dtype, c_dtype, v_dtype = draw(st.sampled_from([("int64", "int64", "float64"), ("float64",) * 3]))
        elif what == "shape too small":
            shape = (1, 1) if max(rows + [0]) >= 1 or max(cols + [0]) >= 1 else (1, 0)
        elif what == "shape beyond int32":
            shape = (draw(st.sampled_from([INT32_MAX + 1, 2**40])), 6)
        elif what == "shape not integral":
            shape = (6.5, 6)
        elif what == "shape of three":
            shape = (6, 6, 6)
        elif what == "zero shape":
            shape = (0, 6)
    arrays = []
    for name, values, dtype in (("rows", rows, r_dtype), ("cols", cols, c_dtype), ("vals", vals, v_dtype)):
        arr = cast(values, dtype)
        if arr is None:  # the value does not fit the dtype: keep the value
            arr = np.array(values, dtype=object) if values else np.array([], dtype=np.float64)
        if reshape == name:
            arr = arr.reshape(1, -1)
        arrays.append(draw(laid_out(arr)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return arrays, shape, dtype


def triplets_should_fit(rows, cols, vals, shape, dtype) -> tuple[bool, tuple[int, int] | None]:
    """Independent decision: is this valid input, and what is its shape?"""
    r, c, v = plain(rows), plain(cols), plain(vals)
    if r.ndim != 1 or c.ndim != 1 or v.ndim != 1 or not (len(r) == len(c) == len(v)) or len(v) == 0:
        return False, None
    if not (is_int_array(r) and is_int_array(c) and is_number_array(v)):
        return False, None
    if not representable(v, dtype):
        return False, None
    ri, ci = r.astype(object), c.astype(object)  # exact Python ints
    if min(ri) < 0 or min(ci) < 0:
        return False, None
    if shape is None:
        want = (int(max(ri)) + 1, int(max(ci)) + 1)
    else:
        if len(shape) != 2 or not all(isinstance(s, (int, np.integer)) for s in shape):
            return False, None
        want = (int(shape[0]), int(shape[1]))
        if max(ri) >= want[0] or max(ci) >= want[1]:
            return False, None
    if not (1 <= want[0] <= INT32_MAX and 1 <= want[1] <= INT32_MAX):
        return False, None
    need = cmf._memory.fit_memory(want[0], want[1], len(v), 2, np.dtype(dtype).itemsize)
    limit = cmf._memory.memory_limit()
    if limit is not None and need > limit:
        return False, None
    return True, want


@FUZZ
@given(triplet_input())
def test_fit_triplets(case):
    (rows, cols, vals), shape, dtype = case
    valid, want_shape = triplets_should_fit(rows, cols, vals, shape, dtype)
    model = quick(dtype)
    with recorded_training() as seen:
        kind, result = outcome(lambda: model.fit_triplets(rows, cols, vals, shape=shape))
    event(f"valid={valid} outcome={kind}")
    if not valid:
        assert kind == "error", "invalid input was accepted"
        return
    fitted_ok = accepted(kind, result, plain(vals))
    data = seen[0]
    np.testing.assert_array_equal(data.rows, plain(rows).astype(np.int64))
    np.testing.assert_array_equal(data.cols, plain(cols).astype(np.int64))
    np.testing.assert_array_equal(data.values, plain(vals).astype(dtype))
    assert data.rows.dtype == np.int32 and data.values.dtype == np.dtype(dtype)
    if fitted_ok:
        assert model.shape_ == want_shape
        assert np.isfinite(model.predict(data.rows, data.cols)).all()


# ----------------------------------------------------------------------
# fit on dense matrices, with missing markers and masks
# ----------------------------------------------------------------------
@st.composite
def dense_input(draw):
    ndim = draw(st.sampled_from([2] * 8 + [1, 3]))
    shape = tuple(draw(st.integers(0 if ndim == 2 and draw(st.integers(0, 9)) == 0 else 1, 4)) for _ in range(ndim))
    size = int(np.prod(shape))
    values = [draw(DENSE_VALUES) for _ in range(size)]
    dtype = draw(st.sampled_from(FLOAT_DTYPES * 3 + INT_DTYPES[:4] + OTHER_DTYPES))
    X = cast(np.array(values, dtype=np.float64).reshape(shape).tolist(), dtype)
    if X is None:
        X = np.array(values, dtype=np.float64).reshape(shape)
    X = X.reshape(shape)
    how = draw(st.sampled_from(["nan"] * 3 + ["sentinel", "none", "mask", "mask", "predicate", "bad mask", "int mask"]))
    kwargs = {}
    if how == "sentinel":
        kwargs["missing"] = -1
    elif how == "none":
        kwargs["missing"] = None
    elif how == "mask":
        m = np.array([draw(st.booleans()) for _ in range(size)], dtype=bool).reshape(shape)
        kwargs["mask"] = draw(laid_out(m))
    elif how == "predicate":
        kwargs["mask"] = lambda x: x >= 0
    elif how == "bad mask":
        kwargs["mask"] = np.ones(tuple(s + 1 for s in shape), dtype=bool)
    elif how == "int mask":
        kwargs["mask"] = np.ones(shape, dtype=np.int64)
    return draw(laid_out(X)), kwargs, draw(st.sampled_from(["float32", "float64"]))


def observed_cells(X: np.ndarray, kwargs: dict) -> np.ndarray | None:
    """The oracle's own reading of which cells are observed; None if invalid."""
    mask = kwargs.get("mask")
    if mask is not None:
        if callable(mask):
            with np.errstate(invalid="ignore"):
                return np.asarray(X >= 0, dtype=bool)
        m = plain(mask)
        return m if (m.dtype == bool and m.shape == X.shape) else None
    missing = kwargs.get("missing", np.nan)
    if missing is None:
        return np.ones(X.shape, dtype=bool)
    if isinstance(missing, float) and np.isnan(missing):
        return ~np.isnan(X) if np.issubdtype(X.dtype, np.floating) else np.ones(X.shape, dtype=bool)
    return X != missing


@FUZZ
@given(dense_input())
def test_fit_dense(case):
    X, kwargs, dtype = case
    A = plain(X)
    valid = A.ndim == 2 and A.size > 0 and is_number_array(A)
    if valid:
        observed = observed_cells(A, kwargs)
        valid = observed is not None and bool(observed.any()) and representable(A[observed], dtype)
    model = quick(dtype)
    with recorded_training() as seen:
        kind, result = outcome(lambda: model.fit(X, **kwargs))
    event(f"valid={valid} outcome={kind}")
    if not valid:
        assert kind == "error", "invalid input was accepted"
        return
    fitted_ok = accepted(kind, result, A[observed])
    data = seen[0]
    rows, cols = np.nonzero(observed)
    np.testing.assert_array_equal(data.rows, rows)
    np.testing.assert_array_equal(data.cols, cols)
    np.testing.assert_array_equal(data.values, A[observed].astype(dtype))
    if fitted_ok:
        assert model.shape_ == A.shape
        assert np.isfinite(model.reconstruct()).all()


@FUZZ
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_fit_sparse_matches_its_stored_entries(n_rows, n_cols, data):
    nnz = data.draw(st.integers(0, n_rows * n_cols))
    cells = data.draw(st.permutations(range(n_rows * n_cols)))[:nnz]
    values = [data.draw(VALUE_FLOATS) for _ in cells]
    fmt = data.draw(st.sampled_from(["csr", "csc", "coo"]))
    M = sp.coo_matrix(
        (np.array(values, dtype=np.float64), (np.array(cells, dtype=int) // n_cols, np.array(cells, dtype=int) % n_cols)),
        shape=(n_rows, n_cols),
    ).asformat(fmt)
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    valid = nnz > 0 and representable(np.array(values), dtype)
    model = quick(dtype)
    with recorded_training() as seen:
        kind, result = outcome(lambda: model.fit(M))
    if not valid:
        assert kind == "error"
        return
    accepted(kind, result, np.array(values))
    got = sp.coo_matrix((seen[0].values.astype(np.float64), (seen[0].rows, seen[0].cols)), shape=(n_rows, n_cols))
    np.testing.assert_array_equal(got.toarray(), M.toarray().astype(dtype).astype(np.float64))
    assert seen[0].values.size == nnz  # explicit zeros are observed too


# ----------------------------------------------------------------------
# predict and complete on a fitted model
# ----------------------------------------------------------------------
SHAPE = (4, 5)


@pytest.fixture(scope="module", params=["float32", "float64"])
def fitted(request):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(SHAPE)
    X[0, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(n_factors=3, max_epochs=20, dtype=request.param, random_state=0).fit(X)


def expected_predictions(model, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    P = model.user_factors_.astype(np.float64)
    Q = model.item_factors_.astype(np.float64)
    return (model.global_mean_ + model.user_bias_.astype(np.float64)[r] + model.item_bias_.astype(np.float64)[c]
            + np.einsum("ij,ij->i", P[r], Q[c]))


PAIR_CORRUPTIONS = ["row too large", "negative", "beyond int32", "float", "bool", "object", "2-D",
                    "length mismatch", "huge python int"]


@st.composite
def pair_input(draw):
    """Valid (row, column) pairs, scalars or arrays, with zero or more corruptions."""
    scalar = draw(st.integers(0, 3)) == 0
    n = 1 if scalar else draw(st.integers(0, 5))
    rows = [draw(st.integers(0, SHAPE[0] - 1)) for _ in range(n)]
    cols = [draw(st.integers(0, SHAPE[1] - 1)) for _ in range(n)]
    dtypes = [draw(st.sampled_from(INT_DTYPES)), draw(st.sampled_from(INT_DTYPES))]
    shapes = [None, None]
    corruptions = draw(st.lists(st.sampled_from(PAIR_CORRUPTIONS), max_size=2)) if n else []
    side = draw(st.integers(0, 1))
    target = rows if side == 0 else cols
    for what in corruptions:
        if what == "row too large":
            rows[0] = SHAPE[0]
        elif what == "negative":
            target[0], dtypes[side] = -1, "int64"
        elif what == "beyond int32":
            target[0], dtypes[side] = draw(st.sampled_from([2**31, 2**32, 2**63 - 1])), "int64"
        elif what in ("float", "bool", "object"):
            dtypes[side] = {"float": "float64", "bool": "bool", "object": "object"}[what]
        elif what == "2-D" and not scalar:
            shapes[side] = (1, -1)
        elif what == "length mismatch" and not scalar:
            target.append(0)
        elif what == "huge python int":
            target[0], dtypes[side] = 2**70, "object"

    def build(values, dtype, shape):
        if scalar:
            return values[0] if dtype in ("object", "int64") else np.dtype(dtype).type(values[0])
        arr = cast(values, dtype)
        if arr is None:
            arr = np.array(values, dtype=object)
        if shape is not None:
            arr = arr.reshape(shape)
        return draw(laid_out(arr))

    return build(rows, dtypes[0], shapes[0]), build(cols, dtypes[1], shapes[1])


@FUZZ
@given(pair_input())
def test_predict(fitted, pairs):
    rows, cols = pairs
    r, c = (a.astype(np.int64) if a.size == 0 and a.dtype.kind in "fO" else a for a in (plain(rows), plain(cols)))
    valid = (
        (is_int_array(r) or r.dtype == object and r.ndim == 0 and isinstance(rows, int) and -2**63 <= rows < 2**63)
        and (is_int_array(c) or c.dtype == object and c.ndim == 0 and isinstance(cols, int) and -2**63 <= cols < 2**63)
    )
    if valid:
        try:
            rb, cb = np.broadcast_arrays(np.atleast_1d(r), np.atleast_1d(c))
        except ValueError:
            valid = False
        else:
            ro, co = rb.astype(object), cb.astype(object)
            valid = rb.ndim == 1 and all(0 <= x < SHAPE[0] for x in ro) and all(0 <= x < SHAPE[1] for x in co)
    kind, result = outcome(lambda: fitted.predict(rows, cols, unknown="error", clip=False))
    event(f"valid={valid} outcome={kind}")
    if not valid:
        assert kind == "error", "invalid pairs were accepted"
        return
    assert kind == "ok", f"valid pairs refused: {result!r}"
    want = expected_predictions(fitted, rb.astype(np.int64), cb.astype(np.int64))
    tol = 1e-5 if fitted.user_factors_.dtype == np.float32 else 1e-12
    if r.ndim == 0 and c.ndim == 0:
        assert isinstance(result, float)
        assert result == pytest.approx(want[0], rel=tol, abs=tol)
    else:
        assert result.dtype == fitted.user_factors_.dtype and result.shape == want.shape
        np.testing.assert_allclose(result, want, rtol=tol, atol=tol)


@st.composite
def complete_input(draw):
    shape = draw(st.sampled_from([SHAPE] * 6 + [(5, 4), (4,), (0, 0)]))
    size = int(np.prod(shape))
    values = [draw(DENSE_VALUES) for _ in range(size)]
    dtype = draw(st.sampled_from(FLOAT_DTYPES * 2 + INT_DTYPES[:4] + ["bool", "object", "str"]))
    X = cast(np.array(values, dtype=np.float64).reshape(shape).tolist(), dtype)
    if X is None:
        X = np.array(values, dtype=np.float64).reshape(shape)
    X = X.reshape(shape)
    how = draw(st.sampled_from(["nan", "sentinel", "mask", "predicate"]))
    kwargs = {}
    if how == "sentinel":
        kwargs["missing"] = -1
    elif how == "mask":
        kwargs["mask"] = np.array([draw(st.booleans()) for _ in range(size)], dtype=bool).reshape(shape)
    elif how == "predicate":
        kwargs["mask"] = lambda x: x >= 0
    return draw(laid_out(X)), kwargs


@FUZZ
@given(complete_input())
def test_complete(fitted, case):
    X, kwargs = case
    A = plain(X)
    valid = A.shape == SHAPE and is_number_array(A)
    kind, result = outcome(lambda: fitted.complete(X, **kwargs))
    event(f"valid={valid} outcome={kind}")
    if not valid:
        assert kind == "error", "invalid X was accepted"
        return
    assert kind == "ok", f"valid X refused: {result!r}"
    observed = observed_cells(A, kwargs)
    assert result.shape == SHAPE and np.issubdtype(result.dtype, np.floating)
    # Observed cells are returned exactly as given (NaN stays NaN).
    np.testing.assert_array_equal(result[observed], A[observed].astype(result.dtype))
    rows, cols = np.nonzero(~observed)
    tol = 1e-5 if fitted.user_factors_.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(result[rows, cols], expected_predictions(fitted, rows, cols), rtol=tol, atol=tol)
    assert not np.shares_memory(result, A)


@pytest.mark.parametrize("method", ["predict", "complete", "reconstruct", "save"])
def test_unfitted_model_raises_not_fitted(method):
    model = cmf.MatrixFactorization()
    args = {"predict": (0, 0), "complete": (np.ones(SHAPE),), "reconstruct": (), "save": ("never-written.npz",)}
    with pytest.raises(cmf.NotFittedError):
        getattr(model, method)(*args[method])


@FUZZ
@given(triplet_input())
def test_validation_triplets(case):
    # Held-out data goes through the same checks, against the training shape.
    (rows, cols, vals), _, dtype = case
    shape = (6, 6)
    valid, _ = triplets_should_fit(rows, cols, vals, shape, dtype)
    train_r, train_c = np.arange(6), np.arange(6)[::-1].copy()
    model = quick(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        kind, result = outcome(lambda: model.fit_triplets(
            train_r, train_c, np.linspace(1, 2, 6), shape=shape, validation=(rows, cols, vals)))
    event(f"valid={valid} outcome={kind}")
    if not valid:
        assert kind == "error", "invalid validation data was accepted"
        return
    assert kind == "ok", f"valid validation data refused: {result!r}"
    # The recorded validation RMSE is the model's RMSE on exactly those entries.
    v = plain(vals).astype(dtype).astype(np.float64)
    pred = model.predict(plain(rows).astype(np.int64), plain(cols).astype(np.int64)).astype(np.float64)
    assert model.history_["val_rmse"][-1] == pytest.approx(np.sqrt(np.mean((pred - v) ** 2)), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("dtype", [bool, np.complex128])
def test_complete_refuses_sparse_matrices_of_non_numbers(fitted, dtype):
    X = sp.csr_matrix(np.ones(SHAPE)).astype(dtype)
    with pytest.raises(TypeError, match="numbers"):
        fitted.complete(X)


# ----------------------------------------------------------------------
# The private kernel bindings (cmf._kernels): every array is checked once,
# when the model, entries or blocked entries are built
# ----------------------------------------------------------------------
KERNEL_SPOILS = [None, "dtype", "layout", "length", "read-only"]
KERNEL_ARRAYS = ["P", "Q", "b", "c", "rows", "cols", "values"]


@st.composite
def kernel_case(draw):
    """A small model and entries, one of their arrays perhaps spoilt, and the expected refusal."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n_rows, n_cols, k, n = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    index = st.lists(st.one_of(st.integers(0, 4), st.integers(-2, -1), st.just(INT32_MAX)), min_size=n, max_size=n)
    arrays = {
        "P": rng.standard_normal((n_rows, k)).astype(dtype), "Q": rng.standard_normal((n_cols, k)).astype(dtype),
        "b": np.zeros(n_rows, dtype), "c": np.zeros(n_cols, dtype),
        "rows": np.array(draw(index), np.int32), "cols": np.array(draw(index), np.int32),
        "values": rng.uniform(-2, 2, n).astype(dtype),
    }
    spoil, target = draw(st.sampled_from(KERNEL_SPOILS)), draw(st.sampled_from(KERNEL_ARRAYS))
    a = arrays[target]
    refused = spoil in ("dtype", "length")
    if spoil == "dtype":
        other = {"float32": "float64", "float64": "float32", "int32": "int64"}[str(a.dtype)]
        arrays[target] = a.astype(other)
    elif spoil == "length":
        arrays[target] = np.concatenate([a, a[:1] if len(a) else np.zeros((1, *a.shape[1:]), a.dtype)])
    elif spoil == "layout":
        arrays[target] = np.repeat(a, 2, axis=-1)[..., ::2]
        refused = not arrays[target].flags.c_contiguous
    elif spoil == "read-only":
        a.flags.writeable = False
    return arrays, spoil, target, refused


@FUZZ
@given(kernel_case())
def test_kernel_bindings_refuse_bad_arrays_and_run_on_good_ones(case):
    arrays, spoil, target, refused = case
    P, Q, b, c, rows, cols, values = (arrays[name] for name in KERNEL_ARRAYS)
    kind, built = outcome(lambda: (_kernels.Model(P, Q, b, c, 0.5), _kernels.Entries(rows, cols, values)))
    event(f"kernel {spoil} {target}: {kind}")
    params = _kernels.Params(learning_rate=0.01, regularization=0.1, bias_regularization=0.1)
    if (spoil, target) == ("dtype", "values"):  # entries valid alone, of the other precision than the model
        assert kind == "ok", built
        with pytest.raises(TypeError):
            built[0].epoch(params, built[1])
        return
    if refused:
        assert kind == "error" and isinstance(built, ValueError), built
        return
    assert kind == "ok", built
    model, entries = built
    n_rows, n_cols = P.shape[0], Q.shape[0]
    inside = bool(np.all((rows >= 0) & (rows < n_rows) & (cols >= 0) & (cols < n_cols)))
    before = [a.copy() for a in (P, Q, b, c)]
    kind, sse = outcome(lambda: model.epoch(params, entries))
    if spoil == "read-only" and target in "PQbc":
        assert kind == "error" and "read-only" in str(sse)
    elif inside or len(values) == 0:
        assert kind == "ok" and np.isfinite(sse) and sse >= 0, sse
    else:  # an empty model has no factor arrays at all: refused as such
        assert kind == "error" and isinstance(sse, ValueError if 0 in P.shape + Q.shape else IndexError), sse
    if kind == "error":  # a refused epoch changes nothing
        for got, want in zip((P, Q, b, c), before):
            np.testing.assert_array_equal(got, want)
    out = np.empty(len(rows), P.dtype)
    model.predict(rows, cols, out)  # unknown rows and columns fall back: never an error
    assert np.all(np.isfinite(out))
    kind, blocked = outcome(lambda: _kernels.partition(entries, n_rows, n_cols, 2, 3))
    assert kind == ("ok" if inside or len(values) == 0 else "error"), blocked
    if kind == "ok":
        assert len(blocked) == len(values) and blocked.block_ptr[-1] == len(values)
        assert blocked.n_row_blocks == -(-n_rows // 2) and blocked.n_col_blocks == -(-n_cols // 3)
