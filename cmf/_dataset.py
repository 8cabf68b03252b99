"""The one rating record of the toolkit: int32 triplets plus label maps.

Files (:mod:`cmf.io`), DataFrames, the synthetic generator
(:func:`cmf.datasets.make_ratings`), splits and the estimator's
``fit_ratings`` all hand ratings around as a :class:`RatingDataset`; its
``rows``, ``cols``, ``values`` and ``shape`` are the fields of the training
loop's :class:`~cmf._input.Triplets`, which :meth:`RatingDataset.triplets`
validates for a model's dtype. The file readers build on this module, never
the other way round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from cmf._input import Triplets, as_triplets
from cmf._labels import LabelMap
from cmf._losses import entry_weights

__all__ = ["RatingDataset", "as_dataset", "from_dataframe"]

# Column names recognised in a header or a DataFrame, lower-cased.
USER_NAMES = ("user", "userid", "user_id", "uid", "users", "customer", "customer_id")
ITEM_NAMES = ("item", "itemid", "item_id", "iid", "movie", "movieid", "movie_id", "items", "product", "product_id")
RATING_NAMES = ("rating", "ratings", "score", "value", "stars", "r")
TIME_NAMES = ("timestamp", "time", "ts")


def import_pandas() -> Any:
    """The pandas module, or an ImportError that says how to install it.

    Returns
    -------
    module
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("this needs pandas: pip install 'cmf-sgd[pandas]'") from None
    return pd


@dataclass(frozen=True, eq=False)
class RatingDataset:
    """Ratings as (user index, item index, rating) triplets with optional labels.

    Parameters
    ----------
    rows : ndarray of int32, shape (n,)
        User index of each rating.
    cols : ndarray of int32, shape (n,)
        Item index of each rating.
    values : ndarray of float32, shape (n,)
        The ratings.
    shape : tuple of int
        ``(n_users, n_items)``.
    user_labels, item_labels : LabelMap or None
        The original user and item labels (index ``j`` has label
        ``user_labels.labels[j]``); None when the data came as indices.
    source : str or None
        Where the data came from (a file name), for messages.
    timestamps : ndarray of int64, shape (n,), or None
        When each rating was given, if the source said (a rating file's or
        a DataFrame's timestamp column); subsets and splits keep it aligned,
        and the splits by time (:func:`cmf.model_selection.temporal_split`,
        :func:`~cmf.model_selection.leave_last_out`) need it.
    weights : ndarray, shape (n,), or None
        A sample weight per rating (finite, > 0), or None for all 1; a fit
        multiplies each rating's loss and gradient by it. Subsets and
        splits keep it aligned with the ratings (see
        :func:`cmf.io.load_ratings`'s ``weight_column``).

    Notes
    -----
    Splits (:func:`cmf.model_selection.train_test_split`, :class:`KFold`)
    keep ``shape`` and the label maps of the whole set, so a model fitted on
    a training part knows every user and item of the test part.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]
    user_labels: LabelMap | None = None
    item_labels: LabelMap | None = None
    source: str | None = None
    timestamps: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is not None:
            object.__setattr__(self, "weights", entry_weights(self.weights, len(self.values), np.float64,
                                                              "the ratings' weights"))
        if self.timestamps is None:
            return
        stamps = np.asarray(self.timestamps)
        if stamps.dtype == bool or not np.issubdtype(stamps.dtype, np.integer):
            raise TypeError(
                f"timestamps must be integers (such as seconds since 1970), got dtype {stamps.dtype}"
            )
        if stamps.shape != (len(self.values),):
            raise ValueError(f"timestamps must have one entry per rating ({len(self.values)}), got shape {stamps.shape}")
        object.__setattr__(self, "timestamps", stamps.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return int(len(self.values))

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``rows, cols, values, shape``, as the record make_ratings returned before."""
        return iter((self.rows, self.cols, self.values, self.shape))

    def __repr__(self) -> str:
        kind = "labelled" if self.labelled else "indexed"
        where = f", source={self.source!r}" if self.source else ""
        return f"RatingDataset({len(self)} ratings, {self.shape[0]} users x {self.shape[1]} items, {kind}{where})"

    @property
    def labelled(self) -> bool:
        """Whether the users and items carry labels of their own."""
        return self.user_labels is not None

    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return int(self.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return int(self.shape[1])

    @classmethod
    def from_labels(cls, users: Any, items: Any, ratings: Any, source: str | None = None, *,
                    timestamps: Any = None, weights: Any = None) -> "RatingDataset":
        """Build a data set from per-rating user and item labels.

        Parameters
        ----------
        users, items : array_like, shape (n,)
            Labels (integers or strings) of each rating's user and item.
        ratings : array_like of float, shape (n,)
            The ratings.
        source : str, optional
            Where they came from.
        timestamps : array_like of int, shape (n,), optional
            When each rating was given (such as seconds since 1970), for the
            splits by time.
        weights : array_like of float, shape (n,), optional
            A sample weight per rating (finite, > 0).

        Returns
        -------
        RatingDataset
            Labelled; indices follow the sorted order of the labels.
        """
        user_map, rows = LabelMap.fit(users, "user labels")
        item_map, cols = LabelMap.fit(items, "item labels")
        trip = as_triplets(rows, cols, np.asarray(ratings), shape=(len(user_map), len(item_map)), name="ratings")
        return cls(trip.rows, trip.cols, trip.values, trip.shape, user_map, item_map, source, timestamps, weights)

    def subset(self, index: Any) -> "RatingDataset":
        """The ratings at ``index`` (positions or a boolean mask), same shape and labels.

        Parameters
        ----------
        index : array_like of int or bool
            Which ratings to keep.

        Returns
        -------
        RatingDataset
        """
        return RatingDataset(
            self.rows[index], self.cols[index], self.values[index], self.shape,
            self.user_labels, self.item_labels, self.source,
            None if self.timestamps is None else self.timestamps[index],
            None if self.weights is None else self.weights[index],
        )

    def triplets(self, dtype: Any = np.float32) -> Triplets:
        """The ratings as validated triplets for the training loop.

        Parameters
        ----------
        dtype : dtype
            dtype of the values.

        Returns
        -------
        Triplets
            With the ratings' ``weights`` in ``dtype``, if any.
        """
        trip = as_triplets(self.rows, self.cols, self.values, shape=self.shape, dtype=dtype,
                           name="ratings", allow_empty=True)
        if self.weights is None:
            return trip
        return dataclasses.replace(trip, weights=entry_weights(self.weights, len(trip), trip.values.dtype,
                                                               "the ratings' weights"))

    def to_dataframe(self) -> Any:
        """The ratings as a pandas DataFrame: columns user, item, rating (labels if any), timestamp and weight if known.

        Returns
        -------
        pandas.DataFrame
        """
        pd = import_pandas()
        users = self.user_labels.labels[self.rows] if self.user_labels is not None else self.rows
        items = self.item_labels.labels[self.cols] if self.item_labels is not None else self.cols
        frame = {"user": users, "item": items, "rating": self.values}
        if self.timestamps is not None:
            frame["timestamp"] = self.timestamps
        if self.weights is not None:
            frame["weight"] = self.weights
        return pd.DataFrame(frame)


def as_dataset(data: Any) -> RatingDataset:
    """Coerce the forms of rating data the toolkit accepts into a RatingDataset.

    Parameters
    ----------
    data : RatingDataset, Triplets, pandas.DataFrame or tuple
        A data set (as :func:`cmf.io.load_ratings` and
        :func:`cmf.datasets.make_ratings` return); validated triplets; a
        DataFrame with user, item and rating columns (labelled); or a tuple
        ``(rows, cols, values)`` of zero-based indices (unlabelled).

    Returns
    -------
    RatingDataset

    Raises
    ------
    TypeError
        For anything else.
    """
    if isinstance(data, RatingDataset):
        return data
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return from_dataframe(data)
    if isinstance(data, Triplets) or (hasattr(data, "rows") and hasattr(data, "shape") and hasattr(data, "values")):
        trip = as_triplets(data.rows, data.cols, data.values, shape=data.shape, name="ratings")
        return RatingDataset(trip.rows, trip.cols, trip.values, trip.shape)
    if isinstance(data, tuple) and len(data) in (3, 4):
        shape = data[3] if len(data) == 4 else None
        trip = as_triplets(data[0], data[1], data[2], shape=shape, name="ratings")
        return RatingDataset(trip.rows, trip.cols, trip.values, trip.shape)
    raise TypeError(
        "ratings must be a RatingDataset (see cmf.io.load_ratings), a pandas DataFrame, the result of "
        f"cmf.datasets.make_ratings or a tuple (rows, cols, values); got {type(data).__name__}"
    )


def from_dataframe(df: Any, user: str | None = None, item: str | None = None, rating: str | None = None,
                   timestamp: str | bool | None = None, *, weight: str | None = None) -> RatingDataset:
    """A labelled :class:`RatingDataset` from a pandas DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        One rating per row.
    user, item, rating : str, optional
        Column names; by default the first column named like ``user``,
        ``userId``, ``user_id`` (and ``item``/``movieId``/``item_id``,
        ``rating``/``score``), case-insensitive.
    timestamp : str or False, optional
        The column saying when each rating was given: integers (such as
        seconds since 1970) or datetimes (kept as whole seconds since 1970,
        UTC). By default a column named ``timestamp``, ``time`` or ``ts`` if
        there is one; False reads none.
    weight : str, optional
        The column holding a sample weight per rating (finite, > 0); none
        is read unless named.

    Returns
    -------
    RatingDataset

    Raises
    ------
    KeyError
        If a column is missing.
    ValueError
        For missing values, non-numeric ratings or timestamps that are not
        integers or datetimes.
    """
    names = {str(c).lower(): c for c in df.columns}

    def pick(given: str | None, aliases: Sequence[str], role: str) -> Any:
        if given is not None:
            if given not in df.columns:
                raise KeyError(f"the DataFrame has no column {given!r}; its columns are {list(df.columns)}")
            return given
        for alias in aliases:
            if alias in names:
                return names[alias]
        raise KeyError(
            f"no {role} column in the DataFrame (columns {list(df.columns)}); pass {role}='<column name>'"
        )

    ucol = pick(user, USER_NAMES, "user")
    icol = pick(item, ITEM_NAMES, "item")
    rcol = pick(rating, RATING_NAMES, "rating")
    values = df[rcol].to_numpy()
    if values.dtype == object or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"column {rcol!r} must hold numeric ratings, got dtype {values.dtype}")
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"column {rcol!r} has a missing or infinite rating at row {bad}; drop it first")
    if timestamp is None:
        tcol = next((names[alias] for alias in TIME_NAMES if alias in names), None)
    elif timestamp is False:
        tcol = None
    else:
        tcol = pick(str(timestamp), TIME_NAMES, "timestamp")
    return RatingDataset.from_labels(
        df[ucol].to_numpy(), df[icol].to_numpy(), values.astype(np.float64), source="DataFrame",
        timestamps=None if tcol is None else _seconds(df[tcol], tcol),
        weights=None if weight is None else _weight_column(df, weight),
    )


def _weight_column(df: Any, name: str) -> np.ndarray:
    """A DataFrame's weight column as float64 (checked by the data set)."""
    if name not in df.columns:
        raise KeyError(f"the DataFrame has no column {name!r}; its columns are {list(df.columns)}")
    weights = df[name].to_numpy()
    if weights.dtype == object or weights.dtype == bool or not np.issubdtype(weights.dtype, np.number):
        raise ValueError(f"column {name!r} must hold numeric weights, got dtype {weights.dtype}")
    return weights.astype(np.float64)


def _seconds(column: Any, name: Any) -> np.ndarray:
    """A DataFrame's timestamp column as int64: integers as they are, datetimes as seconds since 1970 (UTC)."""
    pd = import_pandas()
    fix = "pass timestamp=False to read none (or timestamp='<column>' to name another)"
    if column.isna().any():
        bad = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise ValueError(f"column {name!r} has a missing timestamp at row {bad}; drop it first, or {fix}")
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        if getattr(column.dt, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return column.to_numpy(dtype="datetime64[s]").astype(np.int64)
    stamps = column.to_numpy()
    if stamps.dtype == bool or not np.issubdtype(stamps.dtype, np.number):
        raise ValueError(f"column {name!r} must hold integer timestamps or datetimes, got dtype {stamps.dtype}; "
                         f"convert it with pandas.to_datetime, or {fix}")
    if np.issubdtype(stamps.dtype, np.floating) and np.any(stamps != np.round(stamps)):
        raise ValueError(f"column {name!r} holds timestamps that are not whole numbers; round them, or {fix}")
    return stamps.astype(np.int64)
