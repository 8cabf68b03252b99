"""The fitted state of a model as one immutable snapshot.

:class:`~cmf.MatrixFactorization` keeps everything ``fit`` produced in a
single :class:`Fitted` object and replaces it with one attribute
assignment. A reader (``predict`` in another thread) takes the object once
and uses only it, so it sees either the old model or the new one, never old
row factors next to new column factors. The arrays are marked read-only so
that nothing can change a snapshot after it is published.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from cmf._train.state import FactorState

__all__ = ["Fitted", "freeze", "pinned", "pinned_snapshot", "consistent"]

F = TypeVar("F", bound=Callable[..., Any])


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
    extras : dict
        What else belongs to this fit (user and item labels, the items each
        user saw, caches derived from them), published with the parameters.
    """

    state: FactorState
    shape: tuple[int, int]
    n_epochs: int
    converged: bool
    best_epoch: int | None
    history: dict[str, list[float]]
    extras: dict[str, Any] = field(default_factory=dict)


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


# Per thread: the snapshot each model is pinned to while one of its methods
# runs (model id -> (model, Fitted)).
_PINS = threading.local()


def pinned_snapshot(model: Any) -> Fitted | None:
    """The snapshot ``model`` is pinned to in this thread, if any."""
    pins = getattr(_PINS, "pins", None)
    entry = None if pins is None else pins.get(id(model))
    return None if entry is None else entry[1]


def repin(model: Any, fitted: Fitted) -> None:
    """Move this thread's pin of ``model`` (if any) to ``fitted``, its new snapshot."""
    pins = getattr(_PINS, "pins", None)
    if pins is not None and id(model) in pins:
        pins[id(model)] = (model, fitted)


@contextmanager
def pinned(model: Any, fitted: Fitted) -> Iterator[Fitted]:
    """Within the block, every read of ``model``'s fitted state in this thread sees ``fitted``."""
    pins = getattr(_PINS, "pins", None)
    if pins is None:
        pins = _PINS.pins = {}
    if id(model) in pins:  # a nested call keeps the outer pin
        yield pins[id(model)][1]
        return
    pins[id(model)] = (model, fitted)
    try:
        yield fitted
    finally:
        del pins[id(model)]


def consistent(method: F) -> F:
    """Run ``method`` on one snapshot of the model, however many attributes it reads.

    A method that reads several fitted attributes (factors, biases, labels,
    seen items) through several calls would otherwise see a concurrent refit's
    new model half-way through.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with pinned(self, self._snapshot()):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
