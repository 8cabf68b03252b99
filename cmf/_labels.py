"""Mapping arbitrary user and item labels to contiguous indices and back.

Rating files name users and items by strings or by large, sparse integers;
the model needs indices ``0 .. n - 1``. A :class:`LabelMap` holds the sorted
distinct labels; index ``j`` is the label at position ``j``. Both directions
are vectorised: labels to indices by binary search in the sorted labels,
indices to labels by fancy indexing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf import _reader
from cmf._checks import is_integer

__all__ = ["LabelCoder", "LabelMap", "as_label_array"]


def as_label_array(labels: Any, name: str = "labels") -> np.ndarray:
    """Labels as a 1-D array of int64 or of unicode strings.

    Only these two kinds are kept, so that label arrays can be saved in a
    ``.npz`` file without pickling and compared without surprises. Floats
    that are whole numbers become integers (pandas turns an int column with
    gaps into floats); any other object becomes its string form.

    Parameters
    ----------
    labels : array_like, shape (n,)
        The labels.
    name : str
        What to call them in error messages.

    Returns
    -------
    ndarray of int64 or str, shape (n,)

    Raises
    ------
    ValueError
        For a non 1-D input, NaN labels or non-integral float labels.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        raise TypeError(f"{name} must be integers or strings, got booleans")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint64 and len(arr) and arr.max() > np.iinfo(np.int64).max:
            return arr.astype(str)
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contain NaN or infinite values; every rating needs a user and an item")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integers or strings, got non-integral numbers such as {arr[arr != np.round(arr)][0]}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8")
    # object arrays (pandas string columns, mixed content)
    if len(arr) and all(is_integer(x) for x in arr):
        return arr.astype(np.int64)
    if any(x is None or (isinstance(x, float) and x != x) for x in arr):
        raise ValueError(f"{name} contain missing values (None or NaN); every rating needs a user and an item")
    return arr.astype(str)


class LabelMap:
    """A bijection between distinct labels and the indices ``0 .. n - 1``.

    Parameters
    ----------
    labels : array_like, shape (n,)
        Distinct labels in index order (int or str). Use :meth:`fit` to
        build a map from labels with repeats.

    Attributes
    ----------
    labels : ndarray of int64 or str, shape (n,)
        ``labels[j]`` is the label of index ``j``.

    Examples
    --------
    >>> labels, idx = LabelMap.fit(["bob", "ann", "bob"])
    >>> labels.labels.tolist(), idx.tolist()
    (['ann', 'bob'], [1, 0, 1])
    >>> labels.to_index(["bob"]).tolist()
    [1]
    """

    def __init__(self, labels: Any) -> None:
        self.labels = as_label_array(labels)
        # The labels stay in index order; a sort permutation makes the
        # reverse lookup a binary search (labels from fit are sorted already,
        # labels appended later are not).
        self._order = np.argsort(self.labels, kind="stable")
        self._sorted = self.labels[self._order]
        if len(self._sorted) > 1 and np.any(self._sorted[1:] == self._sorted[:-1]):
            dup = self._sorted[1:][self._sorted[1:] == self._sorted[:-1]][0]
            raise ValueError(f"labels must be distinct; {dup!r} appears more than once")

    @classmethod
    def fit(cls, values: Any, name: str = "labels") -> tuple["LabelMap", np.ndarray]:
        """Build a map from labels with repeats and encode them.

        Parameters
        ----------
        values : array_like, shape (n,)
            One label per rating.
        name : str
            What to call them in error messages.

        Returns
        -------
        LabelMap
            The sorted distinct labels.
        ndarray of int32, shape (n,)
            The index of each value.
        """
        arr = as_label_array(values, name)
        uniq, inverse = np.unique(arr, return_inverse=True)
        if len(uniq) > np.iinfo(np.int32).max:
            raise ValueError(f"too many distinct {name}: {len(uniq)} (at most 2**31 - 1)")
        return cls(uniq), inverse.reshape(-1).astype(np.int32)

    def __len__(self) -> int:
        return int(len(self.labels))

    def __repr__(self) -> str:
        return f"LabelMap({len(self)} labels, dtype={self.labels.dtype})"

    def _coerce(self, values: Any) -> np.ndarray:
        arr = np.asarray(values)
        if self.labels.dtype.kind == "U" and arr.dtype.kind != "U":
            # An int label asked of a string map ("42" vs 42) is the same label.
            arr = as_label_array(np.atleast_1d(arr)).astype(str).reshape(arr.shape)
        elif self.labels.dtype.kind != "U" and arr.dtype.kind in "USO":
            try:
                arr = arr.astype(np.int64)
            except (TypeError, ValueError):
                return np.full(arr.shape, None, dtype=object)  # none of them can match
        return arr

    def lookup(self, values: Any) -> np.ndarray:
        """Indices of the labels, with -1 for unknown ones.

        Parameters
        ----------
        values : scalar or array_like
            Labels.

        Returns
        -------
        ndarray of int64, the shape of ``values``
        """
        arr = self._coerce(values)
        flat = np.atleast_1d(arr).reshape(-1)
        out = np.full(flat.shape, -1, dtype=np.int64)
        if len(self) == 0 or flat.dtype == object:
            return out.reshape(arr.shape)
        pos = np.searchsorted(self._sorted, flat)
        pos_clipped = np.minimum(pos, len(self) - 1)
        found = self._sorted[pos_clipped] == flat
        out[found] = self._order[pos_clipped[found]]
        return out.reshape(arr.shape)

    def contains(self, values: Any) -> np.ndarray:
        """Whether each label is known.

        Parameters
        ----------
        values : scalar or array_like
            Labels.

        Returns
        -------
        ndarray of bool
        """
        return self.lookup(values) >= 0

    def to_index(self, values: Any, name: str = "label") -> np.ndarray:
        """Indices of known labels.

        Parameters
        ----------
        values : scalar or array_like
            Labels, all known.
        name : str
            What to call them in the error message.

        Returns
        -------
        ndarray of int64, the shape of ``values``

        Raises
        ------
        KeyError
            Naming the first unknown label.
        """
        idx = self.lookup(values)
        if np.any(idx < 0):
            bad = np.atleast_1d(np.asarray(values))[np.atleast_1d(idx) < 0][0]
            raise KeyError(f"unknown {name} {_plain(bad)!r}: it does not occur in the data the model was fitted on")
        return idx

    def to_label(self, indices: Any) -> np.ndarray:
        """Labels of indices.

        Parameters
        ----------
        indices : int or array_like of int
            Indices in ``0 .. len - 1``.

        Returns
        -------
        ndarray
            The labels, the shape of ``indices``.

        Raises
        ------
        IndexError
            For an index out of range.
        """
        idx = np.asarray(indices)
        if len(idx.reshape(-1)) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} labels")
        return self.labels[idx]

    def extend(self, values: Any) -> tuple["LabelMap", np.ndarray]:
        """A new map with the unknown labels of ``values`` appended, and their indices.

        Known labels keep their index; new ones get ``len(self), len(self) +
        1, ...`` in order of first appearance.

        Parameters
        ----------
        values : array_like
            Labels, known or new.

        Returns
        -------
        LabelMap
            The extended map (``self`` if nothing is new).
        ndarray of int32
            The index of each value in the extended map.
        """
        arr = as_label_array(np.atleast_1d(values))
        if len(self) and arr.dtype.kind != self.labels.dtype.kind:
            # keep one kind of label: strings absorb ints, not the reverse
            if self.labels.dtype.kind == "U":
                arr = arr.astype(str)
            else:
                raise TypeError(
                    f"new labels are {arr.dtype} but the model's labels are integers; use integer labels"
                )
        idx = self.lookup(arr)
        new = idx < 0
        if not new.any():
            return self, idx.astype(np.int32)
        uniq, first = np.unique(arr[new], return_index=True)
        fresh = uniq[np.argsort(first, kind="stable")]
        extended = LabelMap(np.concatenate([self.labels, fresh]))
        return extended, extended.lookup(arr).astype(np.int32)


def _plain(x: Any) -> Any:
    """A NumPy scalar as the Python value, for readable messages."""
    return x.item() if isinstance(x, np.generic) else x


class LabelCoder:
    """Numbers the labels of one column as they stream past, chunk by chunk.

    Integer ids go through the C hash table of ``cmf_factorize_i64`` (one
    pass, O(n), codes in order of first appearance); once a field of the
    column is not a canonical integer the coder switches to text, where each
    chunk's distinct byte strings are found with :func:`numpy.unique` and
    numbered through a dict (work per distinct label, not per line). The
    labels seen so far as integers carry over as their text, which is the
    text they had in the file. :meth:`finish` turns first-appearance codes
    into indices in sorted label order, as :meth:`LabelMap.fit` gives.

    A hash table beats sorting each chunk and merging: it coded the 10M
    user ids of benchmarks/io_bench.py's file in 0.08 s, where
    ``np.unique(..., return_inverse=True)`` took 2.2 s, and it needs 16
    bytes per distinct id instead of the sort's copies of the column.
    """

    _START = 1 << 16

    def __init__(self) -> None:
        self.text = False
        self._slots = np.full(self._START, -1, dtype=np.int32)
        self._distinct = np.empty(self._START // 2, dtype=np.int64)
        self._n = 0
        self._codes_of: dict[bytes, int] = {}
        self._texts: list[bytes] = []

    def __len__(self) -> int:
        return len(self._texts) if self.text else self._n

    def code_ints(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Write the codes of int64 ids into ``codes`` (int32; the coder must not have switched to text)."""
        done = 0
        while True:
            n_done, self._n = _reader.factorize(ids[done:], self._slots, self._distinct, self._n, codes[done:])
            done += n_done
            if done == len(ids):
                return
            self._grow()

    def _grow(self) -> None:
        if 2 * len(self._slots) > 1 << 32:
            raise ValueError("too many distinct labels (at most 2**31 - 1)")
        old = self._distinct[: self._n]
        self._slots = np.full(2 * len(self._slots), -1, dtype=np.int32)
        self._distinct = np.empty(len(self._slots) // 2, dtype=np.int64)
        # Inserting the old ids in code order gives each its old code.
        _, self._n = _reader.factorize(old, self._slots, self._distinct, 0, np.empty(len(old), dtype=np.int32))

    def to_text(self) -> None:
        """From now on, labels are text; the integers seen so far keep their codes."""
        if not self.text:
            self._texts = [str(i).encode("ascii") for i in self._distinct[: self._n].tolist()]
            self._codes_of = {t: code for code, t in enumerate(self._texts)}
            self._slots = self._distinct = np.empty(0, dtype=np.int64)
            self.text = True

    def code_texts(self, texts: np.ndarray) -> tuple[np.ndarray, bytes | None]:
        """Codes of a bytes array (dtype ``S``), and the first label that is not UTF-8 (or None)."""
        uniq, inverse = np.unique(texts, return_inverse=True)
        codes_of, known = self._codes_of, self._texts
        mapped = np.empty(len(uniq), dtype=np.int32)
        for j, key in enumerate(uniq.tolist()):
            code = codes_of.get(key)
            if code is None:
                try:
                    key.decode("utf-8")
                except UnicodeDecodeError:
                    return mapped, key
                code = codes_of[key] = len(known)
                known.append(key)
            mapped[j] = code
        return mapped[inverse.reshape(-1)], None

    def finish(self) -> tuple[LabelMap, np.ndarray]:
        """The label map (sorted labels) and ``rank``: ``rank[code]`` is the code's index in it."""
        if self.text:
            labels = np.array([t.decode("utf-8") for t in self._texts], dtype=str)
        else:
            labels = self._distinct[: self._n].copy()
        order = np.argsort(labels, kind="stable")
        rank = np.empty(len(labels), dtype=np.int32)
        rank[order] = np.arange(len(labels), dtype=np.int32)
        return LabelMap(labels[order]), rank
