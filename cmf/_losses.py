"""The training values and sample weights each loss accepts, checked before a fit.

The estimator's ``loss`` parameter (LIBMF's objectives, see
:class:`~cmf.MatrixFactorization`) decides what the observed values mean:
ratings for "squared" and "absolute", non-negative amounts for "kl", and
+1/-1 labels for the classification losses "logistic", "hinge" and
"squared_hinge" (0/1 labels are mapped to -1/+1 here, once, so that the
training loop sees only +1/-1). Sample weights come from the user in the
shape of the data they weight (a matrix of X's shape, one weight per
triplet or per rating) and leave here as one finite positive weight per
observed entry, in the entries' order (:attr:`cmf._input.Triplets.weights`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cmf._input import Triplets, _check_numeric, _is_sparse, all_finite

__all__ = [
    "CLASSIFICATION", "LOSSES", "RATING_LOSSES", "check_loss_data", "check_merged_labels", "check_rating_scale",
    "dense_weights", "entry_weights", "label_values", "predicts_ratings", "shown_values",
]

#: The accepted values of the ``loss`` parameter.
LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge")
#: The losses whose values are +1/-1 labels and whose predictions are decision values.
CLASSIFICATION = ("logistic", "hinge", "squared_hinge")
#: The losses whose predictions are ratings, clipped to ``rating_scale_``.
RATING_LOSSES = ("squared", "absolute")


def predicts_ratings(loss: str) -> bool:
    """Whether a model of this loss predicts ratings (clipped to a scale) rather than amounts or decision values."""
    return loss in RATING_LOSSES


def check_rating_scale(loss: str, rating_scale: Any) -> None:
    """Refuse a declared ``rating_scale`` with a loss whose predictions are not ratings.

    Raises
    ------
    ValueError
        For ``rating_scale`` not None with "kl" or a classification loss.
    """
    if rating_scale is not None and not predicts_ratings(loss):
        what = "non-negative amounts" if loss == "kl" else "decision values (their sign is the class)"
        raise ValueError(
            f"rating_scale={rating_scale!r} applies to ratings (loss='squared' or 'absolute'); a model with "
            f"loss={loss!r} predicts {what}, which are not clipped: leave rating_scale=None"
        )


def label_values(values: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether ``values`` are labels a classification loss takes (+1/-1, or 0/1), and their distinct values.

    Parameters
    ----------
    values : ndarray
        Finite values.

    Returns
    -------
    labels : bool
    distinct : ndarray
        The sorted distinct values (for messages and the 0/1 mapping).
    """
    distinct = np.unique(values)
    return bool(np.isin(distinct, (-1.0, 1.0)).all() or np.isin(distinct, (0.0, 1.0)).all()), distinct


def shown_values(distinct: np.ndarray) -> str:
    """The first few of sorted distinct values, for a message."""
    return ", ".join(f"{v:g}" for v in distinct[:5].tolist()) + (", ..." if len(distinct) > 5 else "")


def check_loss_data(data: Triplets, loss: str, name: str = "the training values") -> Triplets:
    """The entries with values fit for ``loss``: labels mapped to +1/-1, amounts checked >= 0.

    Parameters
    ----------
    data : Triplets
        Validated entries (values finite).
    loss : str
        One of :data:`LOSSES`.
    name : str
        What to call the values in messages.

    Returns
    -------
    Triplets
        ``data`` itself, or a copy whose 0/1 labels became -1/+1.

    Raises
    ------
    ValueError
        For a classification loss and values other than +1/-1 (or 0/1),
        saying how to threshold ratings; for "kl" and a negative value.
    """
    values = data.values
    if len(values) == 0:
        return data
    if loss == "kl":
        low = values.min()
        if low < 0:
            pos = int(np.argmin(values))
            raise ValueError(
                f"loss='kl' needs values >= 0 (amounts such as counts); {name} include {low.item():g} at position "
                f"{pos}; use loss='squared' for data that can be negative"
            )
        return data
    if loss not in CLASSIFICATION:
        return data
    labels, distinct = label_values(values)
    if labels and distinct.min() == 0:
        return dataclasses.replace(data, values=np.where(values > 0, 1, -1).astype(values.dtype))
    if labels:
        return data
    raise ValueError(
        f"loss={loss!r} trains on +1/-1 labels (0/1 is read as -1/+1), but {name} include "
        f"{shown_values(distinct)}; "
        "threshold ratings into labels first, e.g. np.where(R >= 4, 1, -1), or use loss='squared' for ratings"
    )


def check_merged_labels(data: Triplets, loss: str) -> None:
    """Refuse the mean of disagreeing +1/-1 labels (``duplicates="mean"``), which is no label.

    Raises
    ------
    ValueError
        For a classification loss and a merged value other than +1/-1.
    """
    if loss not in CLASSIFICATION or len(data) == 0:
        return
    bad = np.flatnonzero(np.abs(data.values) != 1)
    if len(bad):
        pos = int(bad[0])
        raise ValueError(
            f"duplicates='mean' averaged the repeated +1/-1 labels of (row {int(data.rows[pos])}, column "
            f"{int(data.cols[pos])}) into {data.values[pos].item():g}, which is no label for loss={loss!r}; "
            "pass duplicates='last' or 'keep' (each label its own observation)"
        )


def entry_weights(weights: Any, n: int, dtype: np.dtype, name: str = "sample_weight") -> np.ndarray:
    """One weight per entry, checked: a 1-D array of ``n`` finite numbers > 0 in ``dtype``.

    Parameters
    ----------
    weights : array_like, shape (n,)
        The weights, in the entries' order.
    n : int
        The number of entries.
    dtype : dtype
        The values' dtype (the weights are stored in it).
    name : str
        What to call the weights in messages.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    TypeError
        For non-numeric weights.
    ValueError
        For a wrong shape, or a weight that is not finite or not > 0.
    """
    w = np.asarray(weights)
    _check_numeric(w, name)
    if w.shape != (n,):
        raise ValueError(f"{name} must hold one weight per observed entry, shape ({n},), got shape {w.shape}")
    if not all_finite(w):
        pos = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"{name} has a NaN or infinite weight at position {pos}; weights must be finite and > 0")
    if n and w.min() <= 0:
        pos = int(np.argmin(w))
        raise ValueError(
            f"{name} has the weight {w[pos].item():g} at position {pos}; weights must be > 0 "
            "(leave an entry out of the data instead of giving it weight 0)"
        )
    with np.errstate(over="ignore", under="ignore"):
        out = np.ascontiguousarray(w, dtype=dtype)
    if not (all_finite(out) and (n == 0 or out.min() > 0)):
        raise ValueError(f"{name} has weights out of the range of {np.dtype(dtype).name}; "
                         "rescale them or use dtype='float64'")
    return out


def dense_weights(weights: Any, data: Triplets, dtype: np.dtype) -> np.ndarray:
    """The weights of ``fit(X, sample_weight=W)``: W, of X's shape, read at the observed cells.

    Parameters
    ----------
    weights : array_like or scipy.sparse matrix, shape of X
        A weight for every observed cell of X (what unobserved cells hold
        is ignored), as scikit-learn's ``sample_weight`` has one per sample.
    data : Triplets
        The observed entries of X.
    dtype : dtype
        The values' dtype.

    Returns
    -------
    ndarray, shape (len(data),)

    Raises
    ------
    ValueError
        For a W of another shape, or a bad weight at an observed cell
        (named by its row and column).
    """
    sparse = _is_sparse(weights)
    if not sparse:
        weights = np.asarray(weights)
    if tuple(weights.shape) != tuple(data.shape or ()):
        raise ValueError(
            f"sample_weight has shape {tuple(weights.shape)} but X has shape {data.shape}: pass one weight per "
            "cell of X (cells not observed are ignored)"
        )
    w = np.asarray(weights.tocsr()[data.rows, data.cols]).reshape(-1) if sparse else weights[data.rows, data.cols]
    try:
        return entry_weights(w, len(data), dtype)
    except ValueError as exc:
        bad = ~np.isfinite(w) | (w <= 0) if np.issubdtype(np.asarray(w).dtype, np.number) else None
        if bad is None or not bad.any():
            raise
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"sample_weight is {w[pos].item():g} at the observed cell (row {int(data.rows[pos])}, column "
            f"{int(data.cols[pos])}); weights of observed cells must be finite and > 0"
        ) from exc
