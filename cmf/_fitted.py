"""The fitted model as one immutable value: parameters, labels, seen items.

:class:`~cmf.MatrixFactorization` keeps everything a fit produced in a
single :class:`Fitted` and replaces it with one attribute assignment. A
reader (``predict`` or ``recommend`` in another thread) takes the value once
and uses only it, so it sees either the old model or the new one, never old
row factors next to new column factors or new factors next to old labels.
The arrays are marked read-only so that nothing can change a value after it
is published.

The value also answers everything that depends on the fit alone: prediction
(an unknown user or item falls back, in C, to the global mean plus the known
side's bias), labels to indices and back, and the members it adds to a model
file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmf._input import check_pairs
from cmf._labels import LabelMap
from cmf._seen import SeenItems, SeenSource
from cmf._train.config import TrainingConfig
from cmf._train.state import FactorState, initial_std, normal_rows, predict_pairs, start_rows
from cmf._train.stats import DataStats

__all__ = ["Fitted"]

#: Names of the model file members that belong to a fit besides its parameters.
USER_LABELS, ITEM_LABELS, SEEN_INDPTR, SEEN_INDICES = "user_labels", "item_labels", "seen_indptr", "seen_indices"

# The unknown-id policies of predict; "raise" is the older name of "error".
_UNKNOWN = ("fallback", "skip", "error", "raise")


def _read_only(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.flags.writeable:
        if arr.base is not None or not arr.flags.owndata:
            # Never change the flags of an array someone else may own.
            arr = arr.copy()
        arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Fitted:
    """Everything a fit produced.

    Building one marks the parameter arrays read-only (in place for arrays
    the caller owns outright, else on a copy).

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
    user_map, item_map : LabelMap or None
        The labels of the rows and columns, for a fit on labelled data.
    seen_source : SeenSource or None
        The items each user rated in training, if known.
    rating_scale : (float, float) or None
        The ``(low, high)`` predictions are clipped to: the declared
        ``rating_scale``, else the range of the training ratings; None for
        a model file written before it was stored (no clipping).
    """

    state: FactorState
    shape: tuple[int, int]
    n_epochs: int
    converged: bool
    best_epoch: int | None
    history: dict[str, list[float]]
    user_map: LabelMap | None = None
    item_map: LabelMap | None = None
    seen_source: SeenSource | None = None
    rating_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        s = self.state
        frozen = FactorState(_read_only(s.P), _read_only(s.Q), _read_only(s.b), _read_only(s.c), float(s.mu))
        object.__setattr__(self, "state", frozen)
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))

    def replace(self, **changes: Any) -> "Fitted":
        """A copy with some fields changed (arrays frozen again)."""
        return dataclasses.replace(self, **changes)

    @property
    def seen(self) -> SeenItems | None:
        """The items each user rated in training, or None if unknown."""
        return None if self.seen_source is None else self.seen_source.get()

    @property
    def item_counts(self) -> np.ndarray | None:
        """How many distinct users rated each item in training, or None if unknown.

        Counted from the seen items, so it is known exactly when they are
        (not for a fit by :mod:`cmf.dask`, nor for a model file without them).
        """
        return None if self.seen_source is None else self.seen_source.item_counts(self.shape[1])

    @property
    def maps(self) -> tuple[LabelMap | None, LabelMap | None]:
        """``(user_map, item_map)``."""
        return self.user_map, self.item_map

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def predict(self, rows: Any, cols: Any, unknown: str = "fallback", clip: bool = True) -> Any:
        """Predictions at (row, column) pairs given as labels or indices.

        The whole of :meth:`cmf.MatrixFactorization.predict`, which documents
        the arguments, the result and the errors. Under "fallback" and
        "skip" an unknown label or an index outside the shape becomes index
        -1, which the C predict answers with the global mean plus the known
        side's bias; "skip" then writes NaN there.
        """
        if not (isinstance(unknown, str) and unknown in _UNKNOWN):
            raise ValueError(f"unknown must be 'fallback', 'skip' or 'error', got {unknown!r}")
        if unknown in ("error", "raise"):
            if self.user_map is not None:
                rows, cols = self.user_map.to_index(rows, name="user"), self.item_map.to_index(cols, name="item")
            r, c, scalar = check_pairs(rows, cols, self.shape)
        else:
            r, c, scalar = self._known_or_minus_one(rows, cols)
        out = predict_pairs(self.state, r, c)
        if clip and self.rating_scale is not None:
            np.clip(out, *self.rating_scale, out=out)
        if unknown == "skip":
            out[(r < 0) | (c < 0)] = np.nan
        return float(out[0]) if scalar else out

    def is_known(self, rows: Any, cols: Any) -> Any:
        """Whether the model knows both the user and the item of each pair.

        See :meth:`cmf.MatrixFactorization.is_known`.
        """
        r, c, scalar = self._known_or_minus_one(rows, cols)
        known = (r >= 0) & (c >= 0)
        return bool(known[0]) if scalar else known

    def _known_or_minus_one(self, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """Checked int32 indices of pairs of labels or indices, -1 for an unknown one."""
        if self.user_map is not None:
            rows, cols = self.user_map.lookup(rows), self.item_map.lookup(cols)
        return _fallback_pairs(rows, cols, self.shape)

    # ------------------------------------------------------------------
    # Labels <-> indices
    # ------------------------------------------------------------------
    def encode(self, values: Any, axis: int) -> np.ndarray:
        """Labels (or indices, for an unlabelled fit) of ``axis`` (0 users, 1 items) to checked indices.

        Raises
        ------
        KeyError
            For an unknown label or an index outside the shape.
        TypeError
            For non-integer indices of an unlabelled fit.
        """
        label_map = self.maps[axis]
        what = ("user", "item")[axis]
        if label_map is not None:
            return label_map.to_index(values, name=what)
        arr = np.asarray(values)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"{what}s must be integer indices for a model fitted without labels, got {arr.dtype}; "
                "fit with fit_ratings() on labelled data to use labels"
            )
        size = self.shape[axis]
        flat = arr.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= size):
            bad = flat[(flat < 0) | (flat >= size)][0]
            raise KeyError(f"unknown {what} {int(bad)}: the model has {what}s 0 to {size - 1}")
        return arr.astype(np.int64)

    def decode(self, indices: np.ndarray, axis: int) -> np.ndarray:
        """Indices to labels (unchanged for an unlabelled fit); -1 marks padding."""
        label_map = self.maps[axis]
        if label_map is None:
            return indices
        labels = label_map.labels
        out = labels[np.maximum(indices, 0)]
        pad = indices < 0
        if pad.any():
            out = out.copy()
            out[pad] = "" if labels.dtype.kind == "U" else -1
        return out

    # ------------------------------------------------------------------
    # Changes: a new user, more rows for partial_fit
    # ------------------------------------------------------------------
    def with_user(self, bias: float, factors: np.ndarray, cols: np.ndarray, user: Any) -> tuple["Fitted", Any]:
        """This fit with one more user (row) appended, and that user's label or index.

        Parameters
        ----------
        bias, factors
            The new user's parameters.
        cols : ndarray of int
            The items the user rated (they count as seen).
        user : label or None
            The new label for a labelled fit (None: one more than the
            largest integer label); ignored for an unlabelled fit.

        Raises
        ------
        ValueError
            For a label already in use, or None with string labels.
        """
        user_map = self.user_map
        if user_map is not None:
            if user is None:
                if user_map.labels.dtype.kind == "U":
                    raise ValueError("the model's user labels are strings: pass user='<new label>'")
                user = int(user_map.labels.max()) + 1 if len(user_map) else 0
            if user_map.contains(user).any():
                raise ValueError(f"user {user!r} is already in the model; use partial_fit to add ratings")
            user_map = user_map.extend([user])[0]
        else:
            user = self.shape[0]
        s = self.state
        dtype = s.P.dtype
        state = FactorState(
            np.ascontiguousarray(np.vstack([s.P, factors.astype(dtype)[None, :]])), s.Q,
            np.concatenate([s.b, np.array([bias], dtype=dtype)]), s.c, s.mu,
        )
        seen = self.seen
        return self.replace(
            state=state, shape=(self.shape[0] + 1, self.shape[1]), user_map=user_map,
            seen_source=None if seen is None else SeenSource(items=seen.with_user(cols)),
        ), user

    def grown(self, shape: tuple[int, int], config: TrainingConfig, rng: np.random.Generator,
              stats: DataStats) -> FactorState:
        """A writable copy of the parameters, with random rows for new users and items.

        New rows start as those of a fresh fit of the grown shape on the
        new ratings would (:func:`cmf._train.state.initial_factors`): in
        the model's dtype, from the same streams (user ``u``: stream ``u``,
        item ``i``: stream ``n_users + i`` of a seed drawn from ``rng``),
        N(0, ``init_std``) scaled by ``sqrt(stats.scale)`` for ratings
        that vary by less than 1, folded to >= 0 for a non-negative model,
        and zero for a row without ratings in ``stats``. New biases are
        zero; the global mean stays.

        Parameters
        ----------
        shape : tuple of int
            The grown ``(n_rows, n_cols)``.
        config : TrainingConfig
            Gives ``init_std`` and ``nonnegative``.
        rng : numpy.random.Generator
            Draws the seed.
        stats : DataStats
            Of the new ratings in the grown shape, measured around the
            model's offset (as the continued fit measures them).

        Returns
        -------
        FactorState
        """
        s = self.state
        dtype = s.P.dtype
        seed = int(rng.integers(0, 1 << 64, dtype=np.uint64))
        std = initial_std(config.init_std, stats.scale)

        def grow(F: np.ndarray, n: int, first_stream: int, counts: np.ndarray) -> np.ndarray:
            old, k = F.shape
            extra = normal_rows(seed, first_stream + old, n - old, k, std, dtype)
            start_rows(extra, counts[old:], config.nonnegative)
            return np.ascontiguousarray(np.concatenate([F, extra]))

        def pad(v: np.ndarray, n: int) -> np.ndarray:
            return np.concatenate([v, np.zeros(n - len(v), dtype=dtype)])

        return FactorState(grow(s.P, shape[0], 0, stats.row_counts), grow(s.Q, shape[1], shape[0], stats.col_counts),
                           pad(s.b, shape[0]), pad(s.c, shape[1]), float(s.mu))

    # ------------------------------------------------------------------
    # Model file members
    # ------------------------------------------------------------------
    def members(self) -> dict[str, np.ndarray]:
        """The file members besides the parameters: labels and seen items (plain arrays)."""
        out: dict[str, np.ndarray] = {}
        if self.user_map is not None:
            out[USER_LABELS] = self.user_map.labels
        if self.item_map is not None:
            out[ITEM_LABELS] = self.item_map.labels
        seen = self.seen
        if seen is not None:
            out[SEEN_INDPTR], out[SEEN_INDICES] = seen.indptr, seen.indices
        return out

    def with_members(self, files: dict[str, np.ndarray]) -> "Fitted":
        """This fit with the labels and seen items read from a model file (other members ignored).

        Raises
        ------
        ValueError
            For members that do not match the shape.
        """
        maps = []
        for name, size, what in ((USER_LABELS, self.shape[0], "user"), (ITEM_LABELS, self.shape[1], "item")):
            labels = files.get(name)
            if labels is not None and (labels.ndim != 1 or len(labels) != size or labels.dtype.kind not in "iU"):
                raise ValueError(f"model file is inconsistent: {what} labels do not match the stored shape")
            maps.append(None if labels is None else LabelMap(labels))
        seen = None
        if SEEN_INDPTR in files and SEEN_INDICES in files:
            items = SeenItems(files[SEEN_INDPTR].astype(np.int64), files[SEEN_INDICES].astype(np.int32))
            items.check(self.shape)
            seen = SeenSource(items=items)
        return self.replace(user_map=maps[0], item_map=maps[1], seen_source=seen)


def _fallback_pairs(rows: Any, cols: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Like :func:`check_pairs`, but an index outside ``shape`` becomes -1, which the C predict
    answers with the global mean plus the other side's bias."""
    r, c = np.asarray(rows), np.asarray(cols)
    outside = []
    for arr, size in ((r, shape[0]), (c, shape[1])):
        is_int = arr.dtype != bool and np.issubdtype(arr.dtype, np.integer)
        outside.append((arr < 0) | (arr >= size) if is_int else np.zeros(arr.shape, dtype=bool))
    # Checked as in-range placeholders (types, broadcasting), then marked unknown.
    r, c, scalar = check_pairs(np.where(outside[0], 0, r) if outside[0].any() else r,
                               np.where(outside[1], 0, c) if outside[1].any() else c, shape)
    mask_r, mask_c = np.broadcast_arrays(np.atleast_1d(outside[0]), np.atleast_1d(outside[1]))
    if mask_r.any():  # r is then a new array (np.where), never the caller's
        r[mask_r.reshape(-1)] = -1
    if mask_c.any():
        c[mask_c.reshape(-1)] = -1
    return r, c, scalar
