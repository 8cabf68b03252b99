"""Validation and conversion of user input into contiguous triplets.

Every form of data that cmf accepts (a dense array with a missing-value
marker, a boolean mask or a predicate, a SciPy sparse matrix, or triplets)
passes through this module once and comes out as three C-contiguous arrays:
int32 row indices, int32 column indices and values in the model's dtype.
Nothing below this module checks user input again.
"""

from __future__ import annotations

import operator
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Triplets", "dense_to_triplets", "as_triplets", "to_triplets", "check_pairs"]

INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Triplets:
    """Observed entries as parallel arrays, already validated.

    Attributes
    ----------
    rows, cols : ndarray of int32, shape (n,)
        Row and column index of each entry.
    values : ndarray of float32 or float64, shape (n,)
        The observed values, finite.
    shape : tuple of int or None
        ``(n_rows, n_cols)`` of the matrix; None only for a piece of a matrix whose shape
        is not known yet (a partition read by a Dask worker, :mod:`cmf._distributed`).
    weights : ndarray of the values' dtype, shape (n,), or None
        Each entry's weight (finite, > 0) on its loss and gradient; None: all 1, as without.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int] | None
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _is_sparse(X: Any) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array; never imports SciPy (0.3 s on a first fit).

    No SciPy sparse object exists before ``scipy.sparse`` is imported.
    """
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and bool(sp.issparse(X))


def _check_numeric(values: np.ndarray, name: str) -> None:
    if values.dtype == bool or not (
        np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    ):
        raise TypeError(
            f"{name} must hold numbers (integers or floats), got dtype "
            f"{values.dtype}; convert it first, e.g. with np.asarray({name}, dtype=float)"
        )


# Values per pass of all_finite: a 64 KiB mask, reused from the allocator's
# cache, instead of one the size of the input.
_FINITE_CHUNK = 1 << 16


def all_finite(values: np.ndarray) -> bool:
    """Whether every value of a 1-D array is finite (integers always are).

    Checked a chunk at a time: ``np.isfinite(values).all()`` would allocate
    a mask as long as the input, and on the 10M-rating set the first touch
    of those 10 MB cost more (about 40 ms) than the check (under 3 ms).
    """
    if not np.issubdtype(values.dtype, np.inexact):
        return True
    return all(bool(np.isfinite(values[i:i + _FINITE_CHUNK]).all())
               for i in range(0, values.shape[0], _FINITE_CHUNK))


def all_whole(values: np.ndarray) -> bool:
    """Whether every value of a finite 1-D array is a whole number (integers always are).

    Checked a chunk at a time, as :func:`all_finite`.
    """
    if not np.issubdtype(values.dtype, np.inexact):
        return True
    return all(bool(np.array_equal(chunk, np.floor(chunk)))
               for chunk in (values[i:i + _FINITE_CHUNK] for i in range(0, values.shape[0], _FINITE_CHUNK)))


def _finite_values(values: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """Cast observed values to ``dtype`` and check that all are finite."""
    _check_numeric(values, name)
    if not all_finite(values):
        bad = ~np.isfinite(values)
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN or infinite observed value(s) "
            f"(first at position {first}); mark unknown entries as missing "
            "instead, or remove them"
        )
    # Values beyond the dtype's range become inf in the cast; the check below
    # reports them with a fix, so NumPy's RuntimeWarning would only be noise.
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(values, dtype=dtype)
    # Finite values stay finite unless the cast narrowed them.
    if out.dtype.itemsize < values.dtype.itemsize and not all_finite(out):
        raise ValueError(
            f"{name} has values too large for {np.dtype(dtype).name} "
            f"(largest magnitude {np.max(np.abs(values.astype(np.float64))):.3g}); "
            "use dtype='float64' or rescale the data"
        )
    return out


def _index_array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        # np.asarray([]) is float64; an empty list is no type error, and the
        # caller reports the empty data with a better message.
        return arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must be an array of integers, got dtype {arr.dtype}; "
            f"convert it with np.asarray({name}).astype(np.int64) if its values are whole numbers"
        )
    return arr


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        # operator.index, not int(): a shape of (2.5, 3) is a mistake, not (2, 3).
        n_rows, n_cols = (operator.index(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of integers (n_rows, n_cols), got {shape!r}") from None
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"shape must be positive, got {(n_rows, n_cols)}")
    if n_rows > INT32_MAX or n_cols > INT32_MAX:
        raise ValueError(
            f"shape {(n_rows, n_cols)} is too large: at most {INT32_MAX} rows and columns are supported"
        )
    return n_rows, n_cols


def as_triplets(
    rows: Any,
    cols: Any,
    values: Any,
    *,
    shape: Any = None,
    dtype: Any = np.float32,
    name: str = "values",
    allow_empty: bool = False,
) -> Triplets:
    """Validate triplets and convert them to contiguous int32/float arrays.

    Parameters
    ----------
    rows, cols : array_like of int, shape (n,)
        Row and column indices, zero-based, non-negative.
    values : array_like of float, shape (n,)
        Observed values; must be finite.
    shape : tuple of int, optional
        ``(n_rows, n_cols)``. Inferred as one past the largest index when
        omitted.
    dtype : dtype, default float32
        dtype of the returned values.
    name : str, default "values"
        What to call the data in error messages.
    allow_empty : bool, default False
        Whether zero entries are acceptable.

    Returns
    -------
    Triplets
        The validated entries.

    Raises
    ------
    TypeError
        For non-integer indices or non-numeric values.
    ValueError
        For mismatched lengths, empty data, negative or out-of-range indices,
        or non-finite values.
    """
    r = _index_array(rows, "rows")
    c = _index_array(cols, "cols")
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {v.shape}")
    if not (len(r) == len(c) == len(v)):
        raise ValueError(
            f"rows, cols and {name} must have the same length, got {len(r)}, {len(c)} and {len(v)}"
        )
    if len(v) == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: at least one observed entry is needed to fit")
    v = _finite_values(v, np.dtype(dtype), name)
    for arr, label in ((r, "rows"), (c, "cols")):
        if len(arr) and arr.min() < 0:
            raise ValueError(f"{label} has negative indices (smallest {int(arr.min())}); indices start at 0")
    if shape is None:
        if len(v) == 0:
            raise ValueError("shape is needed when there are no entries")
        shape = (int(r.max()) + 1, int(c.max()) + 1)
    n_rows, n_cols = _check_shape(shape)
    for arr, label, size in ((r, "rows", n_rows), (c, "cols", n_cols)):
        if len(arr) and arr.max() >= size:
            raise ValueError(
                f"{label} has index {int(arr.max())}, outside the matrix of shape {(n_rows, n_cols)}; "
                "pass a larger shape or fix the indices"
            )
    return Triplets(
        np.ascontiguousarray(r, dtype=np.int32),
        np.ascontiguousarray(c, dtype=np.int32),
        v,
        (n_rows, n_cols),
    )


def _observed_mask(X: np.ndarray, missing: Any, mask: Any) -> np.ndarray:
    """The boolean array of observed cells of a dense X."""
    if mask is None:
        if missing is None:
            return np.ones(X.shape, dtype=bool)
        # np.floating too: np.float32('nan') is not a Python float, and
        # X != nan would mark every cell observed.
        if isinstance(missing, (float, np.floating)) and np.isnan(missing):
            return ~np.isnan(X) if np.issubdtype(X.dtype, np.floating) else np.ones(X.shape, dtype=bool)
        if not np.isscalar(missing):
            raise TypeError(f"missing must be a scalar marker such as np.nan or -1, got {type(missing).__name__}")
        return X != missing
    if callable(mask):
        return _mask_from_predicate(X, mask)
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(
            f"mask must be a boolean array (True = observed) or a callable, got dtype {m.dtype}"
        )
    if m.shape != X.shape:
        raise ValueError(f"mask has shape {m.shape} but X has shape {X.shape}; they must match")
    return m


def _mask_from_predicate(X: np.ndarray, predicate: Callable[..., Any]) -> np.ndarray:
    """Apply ``predicate`` to the whole array, or cell by cell if it is scalar-only."""
    try:
        result = np.asarray(predicate(X))
        if result.shape == X.shape and result.dtype == bool:
            return result
    except (TypeError, ValueError):
        pass
    # A predicate written for single values (``if x >= 0: ...``) does not
    # broadcast; apply it to every cell instead.
    cell = np.frompyfunc(lambda x: bool(predicate(x)), 1, 1)
    return np.asarray(cell(X), dtype=bool)


def dense_to_triplets(
    X: Any,
    *,
    missing: Any = np.nan,
    mask: Any = None,
    dtype: Any = np.float32,
) -> Triplets:
    """Observed cells of a dense 2-D array as triplets.

    Parameters
    ----------
    X : array_like, shape (n_rows, n_cols)
        The matrix. Cells are observed unless marked by ``missing`` or
        ``mask``.
    missing : scalar, default np.nan
        The value that marks an unknown cell (NaN, or a sentinel such as -1).
        Ignored when ``mask`` is given.
    mask : ndarray of bool or callable, optional
        True where a cell is observed, or a predicate applied to X (to the
        whole array if it broadcasts, else cell by cell) that returns such an
        array.
    dtype : dtype, default float32
        dtype of the returned values.

    Returns
    -------
    Triplets
        The observed cells, in row-major order.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D matrix, got {X.ndim} dimension(s) with shape {X.shape}; "
            "for (row, column, value) data use fit_triplets"
        )
    _check_numeric(X, "X")
    if X.size == 0:
        raise ValueError(f"X is empty (shape {X.shape}): at least one observed entry is needed to fit")
    observed = _observed_mask(X, missing, mask)
    if not observed.any():
        raise ValueError(
            "no observed entries: every cell of X is marked missing; check the missing marker or mask"
        )
    rows, cols = np.nonzero(observed)
    return as_triplets(rows, cols, X[observed], shape=X.shape, dtype=dtype, name="X")


def _sparse_to_triplets(X: Any, dtype: Any) -> Triplets:
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D matrix, got shape {X.shape}")
    coo = X.tocoo(copy=True)
    if coo.nnz == 0:
        raise ValueError("X has no stored entries: a sparse X's stored entries are its observed ones")
    # Row-major order, as a dense X gives, whatever the format or the order
    # stored (so that every form of one matrix trains alike). The sort is
    # stable and repeated entries are not summed: each is a rating, in the
    # order stored, and the estimator's duplicates policy decides what they do.
    row, col, data = coo.row, coo.col, coo.data
    keys = row.astype(np.int64) * coo.shape[1] + col
    if np.any(keys[1:] < keys[:-1]):
        order = np.argsort(keys, kind="stable")
        row, col, data = row[order], col[order], data[order]
    return as_triplets(row, col, data, shape=coo.shape, dtype=dtype, name="X")


def to_triplets(X: Any, *, missing: Any = np.nan, mask: Any = None, dtype: Any = np.float32) -> Triplets:
    """Observed entries of a dense array or a SciPy sparse matrix/array.

    Parameters
    ----------
    X : array_like or scipy.sparse matrix/array, shape (n_rows, n_cols)
        Dense: unknown cells marked by ``missing`` or ``mask``. Sparse: the
        stored entries are the observed ones (explicit zeros included, and
        repeated entries each kept, in stored order).
    missing, mask
        See :func:`dense_to_triplets`; not allowed with sparse input.
    dtype : dtype, default float32
        dtype of the returned values.

    Returns
    -------
    Triplets
    """
    if _is_sparse(X):
        if mask is not None:
            raise ValueError("mask cannot be combined with a sparse X: its stored entries are the observed ones")
        return _sparse_to_triplets(X, dtype)
    return dense_to_triplets(X, missing=missing, mask=mask, dtype=dtype)


def check_pairs(rows: Any, cols: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate (row, column) pairs for prediction.

    Parameters
    ----------
    rows, cols : int or array_like of int
        Indices into a fitted model of the given shape.
    shape : tuple of int
        The fitted ``(n_rows, n_cols)``.

    Returns
    -------
    rows, cols : ndarray of int32
        Flat, contiguous copies.
    scalar : bool
        True when both inputs were scalars.
    """
    r = np.asarray(rows)
    c = np.asarray(cols)
    # np.asarray([]) is float64: an empty list holds no wrong indices.
    r = r.astype(np.int64) if r.size == 0 and r.dtype.kind in "fO" else r
    c = c.astype(np.int64) if c.size == 0 and c.dtype.kind in "fO" else c
    scalar = r.ndim == 0 and c.ndim == 0
    for arr, label in ((r, "rows"), (c, "cols")):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"{label} must be integer indices, got dtype {arr.dtype}; convert with .astype(int)"
            )
    r, c = np.broadcast_arrays(np.atleast_1d(r), np.atleast_1d(c))
    if r.ndim != 1:
        raise ValueError(f"rows and cols must be scalars or 1-D arrays, got shape {r.shape}")
    for arr, label, size in ((r, "rows", shape[0]), (c, "cols", shape[1])):
        if len(arr) and (arr.min() < 0 or arr.max() >= size):
            bad = arr[(arr < 0) | (arr >= size)][0]
            raise IndexError(
                f"{label} index {int(bad)} is outside the fitted matrix of shape {shape} "
                f"(valid: 0 to {size - 1})"
            )
    return (
        np.ascontiguousarray(r, dtype=np.int32),
        np.ascontiguousarray(c, dtype=np.int32),
        scalar,
    )
