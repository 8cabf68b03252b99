"""The figures that judge a model of each loss, as LIBMF's ``mf-predict -e`` reports them.

A model trained with ``loss="squared"`` is judged by RMSE, ``"absolute"``
by MAE, ``"kl"`` by the generalized KL divergence, ``"logistic"`` by the
log loss and the accuracy, and the hinge losses by the accuracy: each the
mean over the test entries of what LIBMF's ``calc_rmse``, ``calc_mae``,
``calc_gkl``, ``calc_logloss`` and ``calc_accuracy`` add up. Public through
:mod:`cmf.metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LOSS_METRICS", "accuracy", "kl_divergence", "labels", "logloss", "pair"]

#: The metrics :func:`cmf.model_selection.evaluate` reports by default for each loss, the first the main one.
LOSS_METRICS = {
    "squared": ("rmse", "mae"),
    "absolute": ("mae", "rmse"),
    "kl": ("kl",),
    "logistic": ("logloss", "accuracy"),
    "hinge": ("accuracy",),
    "squared_hinge": ("accuracy",),
}


def pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as flat float64 arrays of one length, finite and not empty (scalars: length 1)."""
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    if len(t) == 0:
        raise ValueError("y_true and y_pred are empty: nothing to score")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("y_true and y_pred must be finite numbers")
    return t, p


def labels(y_true: Any) -> np.ndarray:
    """+1/-1 labels as float64, from +1/-1 or 0/1 (0 read as -1).

    Parameters
    ----------
    y_true : array_like
        The labels.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        For any other value, saying how to threshold ratings.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    if np.isin(t, (-1.0, 1.0)).all():
        return t
    if np.isin(t, (0.0, 1.0)).all():
        return np.where(t > 0, 1.0, -1.0)
    raise ValueError("y_true must hold +1/-1 (or 0/1) labels; threshold ratings first, e.g. np.where(r >= 4, 1, -1)")


def logloss(y_true: Any, y_pred: Any) -> float:
    """Mean logistic loss of decision values: :math:`\\log(1 + e^{-y z})`, LIBMF's ``-e 10``.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        Labels, +1/-1 (or 0/1).
    y_pred : array_like of float, shape (n,)
        Decision values :math:`z` (what a ``loss="logistic"`` model predicts;
        the probability of +1 is :math:`1 / (1 + e^{-z})`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(logloss([1, -1], [0.0, 0.0]), 6)    # log 2
    0.693147
    """
    t, p = pair(y_true, y_pred)
    return float(np.mean(np.logaddexp(0.0, -labels(t) * p)))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of entries whose decision value has the label's sign, LIBMF's ``-e 11``.

    An entry counts when :math:`y z > 0`: a decision value of exactly 0 is
    wrong for both classes, as in LIBMF.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        Labels, +1/-1 (or 0/1).
    y_pred : array_like of float, shape (n,)
        Decision values.

    Returns
    -------
    float
    """
    t, p = pair(y_true, y_pred)
    return float(np.mean(labels(t) * p > 0))


def kl_divergence(y_true: Any, y_pred: Any) -> float:
    """Mean generalized KL divergence :math:`r \\log(r / \\hat r) - r + \\hat r`, LIBMF's ``-e 2``.

    With :math:`r \\log r = 0` at :math:`r = 0`; infinite where
    :math:`\\hat r \\le 0 < r`.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Observed amounts, >= 0.
    y_pred : array_like of float, shape (n,)
        Predictions, >= 0.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For a negative value or prediction.
    """
    r, p = pair(y_true, y_pred)
    if r.min() < 0 or p.min() < 0:
        raise ValueError("the generalized KL divergence needs y_true and y_pred >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(r / p), 0.0) - r + p
    return float(np.mean(terms))
