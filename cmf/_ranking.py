"""Ranking items for :mod:`cmf.recommend`: which items may be returned, their scores, the most similar rows.

The items a call may return (its candidates, less its exclusions and the
items below its minimum support) are chosen once per call, as the sorted
column indices :attr:`Ranking.cols`; the scores of a block of users are then
computed for those columns only, so a small candidate set costs little.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmf._checks import integer
from cmf._fitted import Fitted
from cmf._train.state import FactorState

__all__ = ["SCORE_BLOCK", "SHRINKAGE", "Ranking", "item_indices", "needs_no_ratings", "ranges", "ranking", "similar", "top_k",
           "user_exclusions"]

# Upper bound on the number of scores held at once by the batched functions
# (users x items per chunk): 4 Mi floats, 16 MB in float32.
SCORE_BLOCK = 1 << 22

#: The default ``shrinkage`` of :func:`cmf.recommend.recommend`: an item's bias and factors
#: count for n / (n + 25) when n users rated it (Koren's damping of item means).
SHRINKAGE = 25.0


@dataclass(frozen=True)
class Ranking:
    """The items one call may return, and their side of the scores.

    Attributes
    ----------
    cols : ndarray of int64
        Indices of the items that may be returned, ascending.
    position : ndarray of int64 or None
        Item index -> its position in ``cols``, -1 for an item left out;
        None when ``cols`` is every item.
    Q, c : ndarray
        The factors and biases of ``cols``, each times its shrinkage factor
        ``n_i / (n_i + shrinkage)``: the model's own arrays when every item
        is ranked without shrinkage, else computed once per call.
    """

    cols: np.ndarray
    position: np.ndarray | None
    Q: np.ndarray
    c: np.ndarray

    def scores(self, state: FactorState, users: np.ndarray) -> np.ndarray:
        r"""Scores of ``users`` (indices) for the items ``cols``, shape (len(users), len(cols)).

        :math:`\mu + b_u + w_i c_i + p_u \cdot (w_i q_i)`, with :math:`w_i = 1`
        without shrinkage (the predictions, computed as ``predict`` does).
        """
        out = state.P[users] @ self.Q.T
        out += self.c
        out += (state.b[users] + out.dtype.type(state.mu))[:, None]
        return out

    def drop(self, scores: np.ndarray, starts: np.ndarray, counts: np.ndarray, indices: np.ndarray) -> None:
        """Set to -inf the scores of row ``r``'s items ``indices[starts[r]:starts[r] + counts[r]]``."""
        rows = np.repeat(np.arange(len(counts)), counts)
        cols = indices[ranges(starts, counts)]
        if self.position is not None:
            cols = self.position[cols]
            rows, cols = rows[cols >= 0], cols[cols >= 0]
        scores[rows, cols] = -np.inf


def ranking(fitted: Fitted, *, candidates: Any, exclude: Any, min_support: int, shrinkage: float) -> Ranking:
    """The items a call of ``recommend`` may return, and their shrinkage.

    ``exclude`` here is the part that applies to every user (an array, or
    None); per-user exclusions are dropped from each block's scores.

    Raises
    ------
    KeyError
        For an item in ``candidates`` or ``exclude`` the model does not know.
    ValueError
        When ``min_support`` or ``shrinkage`` need item counts the model does not have.
    """
    n_items = fitted.shape[1]
    counts = fitted.item_counts if (min_support > 0 or shrinkage > 0) else None
    if counts is None:
        needs_no_ratings(shrinkage=shrinkage, min_support=min_support)
    keep = np.ones(n_items, dtype=bool)
    if candidates is not None:
        keep[:] = False
        keep[item_indices(fitted, candidates, "candidates")] = True
    if exclude is not None:
        keep[item_indices(fitted, exclude, "exclude")] = False
    if min_support > 0:
        keep &= counts >= min_support
    everything = bool(keep.all())
    cols = np.arange(n_items) if everything else np.flatnonzero(keep)
    position = None
    if not everything:
        position = np.full(n_items, -1, dtype=np.int64)
        position[cols] = np.arange(len(cols))
    state = fitted.state
    Q, c = (state.Q, state.c) if everything else (state.Q[cols], state.c[cols])
    if shrinkage > 0:
        chosen = counts[cols].astype(np.float64)
        weight = (chosen / (chosen + shrinkage)).astype(Q.dtype)
        Q, c = Q * weight[:, None], c * weight
    return Ranking(cols, position, Q, c)


def needs_no_ratings(**given: Any) -> None:
    """Raise, naming every option to change, when a model without its training ratings is asked to use them."""
    off = {"exclude_seen": False, "shrinkage": 0, "min_support": 0}
    fixes = [f"{name}={off[name]}" for name, value in given.items() if value]
    if fixes:
        raise ValueError("this model does not know its training ratings (fitted by cmf.dask, or read from a model "
                         f"file without them), which {' and '.join(n for n, v in given.items() if v)} need; pass "
                         f"{' and '.join(fixes)}")


def item_indices(fitted: Fitted, items: Any, name: str) -> np.ndarray:
    """Indices of a 1-D collection of items (labels or indices, as the model uses).

    Raises
    ------
    KeyError
        Naming the first unknown item and how many there are.
    ValueError
        For anything but a 1-D collection.
    """
    if isinstance(items, (set, frozenset)):
        items = list(items)
    arr = np.asarray(items)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D collection of items, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    item_map = fitted.item_map
    if item_map is not None:
        idx = item_map.lookup(arr)
    elif arr.dtype != bool and np.issubdtype(arr.dtype, np.integer):
        idx = np.where((arr >= 0) & (arr < fitted.shape[1]), arr, -1).astype(np.int64)
    else:
        raise TypeError(f"{name} must hold integer item indices for a model fitted without labels, got {arr.dtype}")
    unknown = idx < 0
    if unknown.any():
        first = arr[unknown][0]
        raise KeyError(
            f"{name} holds {int(unknown.sum()):,} item(s) the model does not know, such as {first.item()!r}: "
            "leave them out: only items the model was trained on can be ranked"
        )
    return idx


def user_exclusions(fitted: Fitted, exclude: Mapping[Any, Any], users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user exclusions as CSR rows aligned with ``users`` (indices): ``(indptr, indices)``.

    Users of the mapping that are not asked for are ignored; their items
    must still be known.
    """
    by_user: dict[int, np.ndarray] = {}
    for who, items in exclude.items():
        u = int(fitted.encode(who, 0))
        idx = item_indices(fitted, items, f"exclude[{who!r}]")
        by_user[u] = np.concatenate([by_user[u], idx]) if u in by_user else idx
    rows = [by_user.get(int(u), np.zeros(0, dtype=np.int64)) for u in users]
    indptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    return indptr, np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)


def similar(
    fitted: Fitted, who: Any, n: int, axis: int, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` rows of factors (``axis`` 0 users, 1 items) most cosine-similar to each of ``who``.

    ``keep`` (indices) limits the answers to those rows; padding as in ``recommend``.
    """
    n = integer(n, "n", minimum=1)
    single = np.ndim(who) == 0
    idx = np.atleast_1d(fitted.encode(who, axis))
    F = (fitted.state.P, fitted.state.Q)[axis].astype(np.float64)
    norms = np.linalg.norm(F, axis=1)
    unit = F / np.where(norms > 0, norms, 1.0)[:, None]
    k = min(n, len(F) - 1)
    if k < 1:
        raise ValueError("there is only one row of factors: nothing to compare it with")
    step = max(1, SCORE_BLOCK // len(F))
    top = np.empty((len(idx), k), dtype=np.int64)
    best = np.empty((len(idx), k))
    dropped = None if keep is None else np.setdiff1d(np.arange(len(F)), keep)
    for start in range(0, len(idx), step):
        block = idx[start:start + step]
        sims = unit[block] @ unit.T
        sims[np.arange(len(block)), block] = -np.inf  # not similar to itself
        if dropped is not None:
            sims[:, dropped] = -np.inf
        top[start:start + step], best[start:start + step] = top_k(sims, k)
    pad = ~np.isfinite(best)
    top[pad], best[pad] = -1, np.nan
    if single:
        return fitted.decode(top[0][~pad[0]], axis), best[0][~pad[0]]
    return fitted.decode(top, axis), best


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's k largest entries, largest first."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    # Best first; ties broken by the smaller index, so results are reproducible.
    order = np.lexsort((part, -vals), axis=1) if vals.size else np.zeros_like(part)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1).astype(np.float64)


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start s and count n, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(total)
