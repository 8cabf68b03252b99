"""Rating data as the input of ``fit_ratings`` and ``partial_fit``.

A data set read separately from the training data (a validation file, new
ratings) names its users and items by labels or by indices of its own; these
functions express it in the training data's terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._dataset import RatingDataset, as_dataset

__all__ = ["align", "index_array", "new_ratings"]


def new_ratings(data: Any, labelled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, items, ratings)`` of new ratings: labels for a labelled model, else indices.

    Parameters
    ----------
    data : RatingDataset, DataFrame or tuple
        The ratings; a tuple ``(users, items, ratings)`` is taken as given.
    labelled : bool
        Whether the model they are for has labels.

    Raises
    ------
    ValueError
        For no ratings or mismatched lengths.
    TypeError
        For unlabelled data given to a labelled model.
    """
    if isinstance(data, tuple) and len(data) == 3 and not hasattr(data, "rows"):
        users, items, values = (np.asarray(a) for a in data)
        if not len(users) == len(items) == len(values):
            raise ValueError(
                f"users, items and ratings must have the same length, got {len(users)}, {len(items)}, {len(values)}"
            )
        if len(values) == 0:
            raise ValueError("no ratings given")
        return users, items, values
    ds = as_dataset(data)
    if not isinstance(ds, RatingDataset) or len(ds) == 0:
        raise ValueError("no ratings given")
    if labelled and not ds.labelled:
        raise TypeError(
            "the model was fitted with labels: pass labelled ratings (a DataFrame, a loaded file or a tuple of labels)"
        )
    if ds.labelled:
        return ds.user_labels.labels[ds.rows], ds.item_labels.labels[ds.cols], ds.values
    return ds.rows, ds.cols, ds.values


def index_array(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` checked to be non-negative integer indices (of an unlabelled model)."""
    arr = np.asarray(values)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integer indices for a model fitted without labels, got {arr.dtype}")
    if len(arr) and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0")
    return arr


def align(valid: RatingDataset, train: RatingDataset) -> RatingDataset:
    """Express validation ratings in the training set's indices (dropping unknown labels), weights kept."""
    if train.labelled and valid.user_labels is train.user_labels and valid.item_labels is train.item_labels:
        return valid  # a split of the same data set
    if not (valid.labelled and train.labelled):
        if valid.labelled or train.labelled:
            raise ValueError("training and validation data must both be labelled or both be indices")
        if valid.rows.max(initial=-1) >= train.shape[0] or valid.cols.max(initial=-1) >= train.shape[1]:
            raise ValueError("validation data has indices outside the training data's shape")
        return RatingDataset(valid.rows, valid.cols, valid.values, train.shape, weights=valid.weights)
    rows = train.user_labels.lookup(valid.user_labels.labels[valid.rows])
    cols = train.item_labels.lookup(valid.item_labels.labels[valid.cols])
    keep = (rows >= 0) & (cols >= 0)
    return RatingDataset(rows[keep].astype(np.int32), cols[keep].astype(np.int32), valid.values[keep], train.shape,
                         train.user_labels, train.item_labels,
                         weights=None if valid.weights is None else valid.weights[keep])
