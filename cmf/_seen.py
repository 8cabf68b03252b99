"""The items each user rated in training, for ``recommend(exclude_seen=True)``.

A fit keeps its training pairs (:class:`SeenSource`) and indexes them by user
(:class:`SeenItems`, CSR) only when first asked, as most fits never are. The
same index gives each item's number of raters, which ``recommend`` needs for
``min_support`` and ``shrinkage``: it is counted from the index, so a model
file stores nothing more for it and every file that keeps its seen items has
it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SeenItems", "SeenSource", "seen_source"]


@dataclass(frozen=True, eq=False)
class SeenItems:
    """The distinct items each user rated in training, row by row (CSR).

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
        User ``u``'s items are ``indices[indptr[u]:indptr[u + 1]]``.
    indices : ndarray of int32
        Item indices, sorted within each user.
    """

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_pairs(cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> "SeenItems":
        """Index (user, item) pairs, repeats counted once."""
        n_rows, n_cols = shape
        codes = rows.astype(np.int64) * n_cols + cols
        # A sort and a mask, not np.unique: NumPy 2.3+ finds the distinct
        # values of a plain np.unique call with a hash table, which took 14 s
        # for 10M distinct int64 keys where this takes 0.8 s.
        codes.sort()
        if len(codes) > 1:
            codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes // n_cols, minlength=n_rows), out=indptr[1:])
        return cls(indptr, (codes % n_cols).astype(np.int32))

    def check(self, shape: tuple[int, int]) -> None:
        """Raise ValueError unless these arrays index a matrix of ``shape``."""
        indptr, indices = self.indptr, self.indices
        if (indptr.shape != (shape[0] + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
                or indptr[-1] != len(indices) or (len(indices) and (indices.min() < 0 or indices.max() >= shape[1]))):
            raise ValueError("model file is inconsistent: the seen-items arrays do not match the stored shape")

    def rows(self) -> np.ndarray:
        """The user of each entry of ``indices`` (int32)."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int32), np.diff(self.indptr))

    def with_user(self, cols: np.ndarray) -> "SeenItems":
        """These seen items and one more user who rated ``cols``."""
        new = np.unique(cols).astype(np.int32)
        return SeenItems(np.append(self.indptr, self.indptr[-1] + len(new)), np.concatenate([self.indices, new]))


class SeenSource:
    """The seen items of a fit, indexed from its training pairs on first use.

    Building the index costs a sort of all training pairs, which most fits
    never need, so it waits for the first ``recommend``; a lock makes racing
    first uses build it once, and every caller gets the same arrays.

    Parameters
    ----------
    rows, cols : ndarray of int, optional
        The training pairs (copied, so that later changes to the caller's
        arrays do not change what counts as seen).
    shape : tuple of int
        The fitted shape.
    items : SeenItems, optional
        An index built already (instead of the pairs).
    """

    def __init__(self, rows: Any = None, cols: Any = None, shape: tuple[int, int] = (0, 0), *,
                 items: SeenItems | None = None) -> None:
        self._pairs = None if items is not None else (np.array(rows, dtype=np.int32), np.array(cols, dtype=np.int32))
        self._shape = shape
        self._items = items
        self._counts: np.ndarray | None = None
        self._lock = threading.Lock()

    def get(self) -> SeenItems:
        """The index, built by the first caller."""
        items = self._items
        if items is None:
            with self._lock:
                if self._items is None:
                    self._items = SeenItems.from_pairs(*self._pairs, self._shape)
                    self._pairs = None
                items = self._items
        return items

    def item_counts(self, n_items: int) -> np.ndarray:
        """How many distinct users rated each item in training (int64, read-only), counted once."""
        counts = self._counts
        if counts is None:
            counts = np.bincount(self.get().indices, minlength=n_items).astype(np.int64)
            counts.setflags(write=False)
            self._counts = counts  # racing first callers count the same numbers
        return counts

    def __getstate__(self) -> dict[str, Any]:
        return {"items": self.get()}  # a lock cannot be pickled; the index can

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(items=state["items"])  # type: ignore[misc]


def seen_source(seen: Any, shape: tuple[int, int]) -> SeenSource | None:
    """A :class:`SeenSource` from the training pairs (anything with ``rows`` and
    ``cols``), a built ``(indptr, indices)`` pair or :class:`SeenItems`, a
    SeenSource (returned as is), or None (unknown)."""
    if seen is None or isinstance(seen, SeenSource):
        return seen
    if isinstance(seen, SeenItems):
        return SeenSource(items=seen)
    if isinstance(seen, tuple):
        return SeenSource(items=SeenItems(*seen))
    return SeenSource(seen.rows, seen.cols, shape)
