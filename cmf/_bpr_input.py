"""Checks of the index input of :class:`cmf.BPR`: (user, item) pairs and user indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._checks import integer
from cmf._input import INT32_MAX

__all__ = ["indices", "pairs"]


def indices(values: Any, name: str, size: int) -> np.ndarray:
    """``values`` as int64 indices in ``[0, size)``, or ValueError naming ``name``."""
    array = np.asarray(values)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer indices, got dtype {array.dtype}")
    array = array.astype(np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(f"{name} must be indices in [0, {size}), got values from {array.min()} to {array.max()}")
    return array


def pairs(rows: Any, cols: Any, shape: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Checked (user, item) indices and the matrix shape (by default one more than the largest indices)."""
    r, c = indices(rows, "rows", INT32_MAX), indices(cols, "cols", INT32_MAX)
    if r.shape != c.shape:
        raise ValueError(f"rows and cols must have the same length, got {r.shape[0]} and {c.shape[0]}")
    if shape is None:
        if r.size == 0:
            raise ValueError("no interaction given: pass some pairs (and shape=(n_users, n_items))")
        shape = (int(r.max()) + 1, int(c.max()) + 1)
    if len(shape) != 2:
        raise ValueError(f"shape must be (n_users, n_items), got {shape!r}")
    n_rows, n_cols = integer(shape[0], "shape[0]", 1), integer(shape[1], "shape[1]", 1)
    return (indices(r, "rows", n_rows).astype(np.int32), indices(c, "cols", n_cols).astype(np.int32),
            (n_rows, n_cols))
