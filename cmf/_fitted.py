"""The fitted state of a model as one immutable snapshot.

:class:`~cmf.MatrixFactorization` keeps everything ``fit`` produced in a
single :class:`Fitted` object and replaces it with one attribute
assignment. A reader (``predict`` in another thread) takes the object once
and uses only it, so it sees either the old model or the new one, never old
row factors next to new column factors. The arrays are marked read-only so
that nothing can change a snapshot after it is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cmf._training import FactorState

__all__ = ["Fitted", "freeze"]


@dataclass(frozen=True)
class Fitted:
    """Everything a fit produced.

    Attributes
    ----------
    state : FactorState
        Factors, biases and global mean; arrays read-only.
    shape : tuple of int
        ``(n_rows, n_cols)``.
    n_epochs : int
        Epochs run.
    converged : bool
        Whether ``tol`` or early stopping ended training.
    best_epoch : int or None
        The epoch restored by early stopping.
    history : dict of list
        Per-epoch records.
    """

    state: FactorState
    shape: tuple[int, int]
    n_epochs: int
    converged: bool
    best_epoch: int | None
    history: dict[str, list[float]]


def _read_only(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.flags.writeable:
        if arr.base is not None or not arr.flags.owndata:
            # Never change the flags of an array someone else may own.
            arr = arr.copy()
        arr.setflags(write=False)
    return arr


def freeze(state: FactorState, **fields: Any) -> Fitted:
    """Build a :class:`Fitted` whose arrays cannot be written.

    Parameters
    ----------
    state : FactorState
        Arrays owned by the caller (a finished fit); marked read-only in
        place, or copied first when they are views of other arrays.
    **fields
        The other attributes of :class:`Fitted`.

    Returns
    -------
    Fitted
    """
    frozen = FactorState(
        _read_only(state.P), _read_only(state.Q), _read_only(state.b), _read_only(state.c), float(state.mu)
    )
    return Fitted(state=frozen, **fields)
