"""Checks of the input of :class:`cmf.BPR`: its parameters, (user, item) pairs and user indices."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from cmf import _kernels
from cmf._checks import integer, real
from cmf._input import INT32_MAX
from cmf._train.pairwise import Schedule

__all__ = ["Checked", "checked", "indices", "pairs"]


class Checked(NamedTuple):
    """The checked parameters of a fit."""

    n_factors: int
    params: Any  # cmf._kernels.BprParams
    schedule: Schedule


def checked(p: dict[str, Any]) -> Checked:
    """The parameters of a :class:`cmf.BPR` (``get_params()``), checked; ValueError or TypeError naming one."""
    if np.dtype(p["dtype"]) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {p['dtype']!r}")
    if not (p["random_state"] is None or isinstance(p["random_state"], (int, np.integer))):
        raise TypeError(f"random_state must be an int or None, got {p['random_state']!r}")
    n_blocks = integer(p["n_blocks"], "n_blocks", 1)
    if n_blocks > 46340:
        raise ValueError(f"n_blocks must be <= 46340, got {n_blocks}")
    if p["negatives"] not in ("uniform", "popularity"):
        raise ValueError(f"negatives must be 'uniform' or 'popularity', got {p['negatives']!r}")
    params = _kernels.BprParams(
        learning_rate=real(p["learning_rate"], "learning_rate", 0.0, strict=True),
        regularization=real(p["regularization"], "regularization", 0.0),
        bias_regularization=real(p["bias_regularization"], "bias_regularization", 0.0),
        update_biases=bool(p["item_biases"]), reject_positives=bool(p["reject_positives"]),
        max_tries=integer(p["max_tries"], "max_tries", 1), negatives=str(p["negatives"]))
    schedule = Schedule(integer(p["n_epochs"], "n_epochs", 0), n_blocks, integer(p["n_threads"], "n_threads", 1))
    return Checked(integer(p["n_factors"], "n_factors", 1), params, schedule)


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
