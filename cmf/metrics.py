"""Accuracy and ranking metrics for rating predictions.

The ranking metrics follow the usual protocol for explicit ratings: for each
user, that user's held-out items are ranked by predicted rating; an item is
relevant when its true rating is at least ``threshold``. Each metric is the
mean over users (users without a relevant item are left out of recall and
NDCG, which are undefined for them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._checks import is_integer

__all__ = ["mae", "ndcg_at_k", "precision_at_k", "ranking_metrics", "recall_at_k", "rmse"]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1) if np.ndim(y_true) else np.atleast_1d(np.asarray(y_true, dtype=np.float64))
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1) if np.ndim(y_pred) else np.atleast_1d(np.asarray(y_pred, dtype=np.float64))
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    if len(t) == 0:
        raise ValueError("y_true and y_pred are empty: nothing to score")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("y_true and y_pred must be finite numbers")
    return t, p


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error.

    Parameters
    ----------
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.

    Returns
    -------
    float

    Examples
    --------
    >>> rmse([1, 2, 3], [1, 2, 5])
    1.1547005383792515
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error.

    Parameters
    ----------
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.

    Returns
    -------
    float
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def ranking_metrics(
    users: Any, y_true: Any, y_pred: Any, *, k: int = 10, threshold: float = 3.5
) -> dict[str, float]:
    """Precision@k, recall@k and NDCG@k in one pass.

    For user :math:`u` with held-out items ranked by prediction (ties broken
    by input order), let :math:`T_u` be the top :math:`\\min(k, n_u)` items
    and :math:`R_u` the items with true rating ``>= threshold``. Then
    precision is :math:`|T_u \\cap R_u| / |T_u|`, recall
    :math:`|T_u \\cap R_u| / |R_u|`, and NDCG is
    :math:`\\sum_{j \\in T_u \\cap R_u} 1/\\log_2(\\mathrm{rank}_j + 1)`
    divided by its largest possible value
    :math:`\\sum_{r=1}^{\\min(k, |R_u|)} 1/\\log_2(r + 1)` (binary relevance).

    Parameters
    ----------
    users : array_like, shape (n,)
        The user of each rating (any labels or indices).
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.
    k : int, default 10
        Cut-off.
    threshold : float, default 3.5
        A true rating at least this is relevant.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg`` (NaN when no user has a relevant
        item, for recall and NDCG), ``users`` (number of users scored).
    """
    t, p = _pair(y_true, y_pred)
    u = np.asarray(users).reshape(-1)
    if len(u) != len(t):
        raise ValueError(f"users must have one entry per rating, got {len(u)} for {len(t)} ratings")
    if not is_integer(k) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    _, group = np.unique(u, return_inverse=True)
    group = group.reshape(-1)
    # by user, then by prediction (best first), then by input position
    order = np.lexsort((np.arange(len(t)), -p, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, counts)  # 0-based rank within the user
    relevant = t[order] >= threshold
    in_top = rank < k
    n_users = len(starts)
    hits = np.bincount(g, weights=relevant & in_top, minlength=n_users)
    n_top = np.minimum(counts, k)
    n_rel = np.bincount(g, weights=relevant, minlength=n_users)
    gain = np.where(relevant & in_top, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg = np.bincount(g, weights=gain, minlength=n_users)
    discounts = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))
    has_rel = n_rel > 0
    idcg = np.where(has_rel, discounts[np.minimum(n_rel, k).astype(int) - 1], 1.0)
    return {
        "precision": float(np.mean(hits / n_top)),
        "recall": float(np.mean(hits[has_rel] / n_rel[has_rel])) if has_rel.any() else float("nan"),
        "ndcg": float(np.mean(dcg[has_rel] / idcg[has_rel])) if has_rel.any() else float("nan"),
        "users": int(n_users),
    }


def precision_at_k(users: Any, y_true: Any, y_pred: Any, *, k: int = 10, threshold: float = 3.5) -> float:
    """Mean over users of the share of relevant items among the top k predicted.

    See :func:`ranking_metrics` for the exact definition.

    Parameters
    ----------
    users : array_like, shape (n,)
        The user of each rating.
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.
    k : int, default 10
        Cut-off.
    threshold : float, default 3.5
        A true rating at least this is relevant.

    Returns
    -------
    float
    """
    return ranking_metrics(users, y_true, y_pred, k=k, threshold=threshold)["precision"]


def recall_at_k(users: Any, y_true: Any, y_pred: Any, *, k: int = 10, threshold: float = 3.5) -> float:
    """Mean over users (with a relevant item) of the share of relevant items found in the top k.

    See :func:`ranking_metrics` for the exact definition.

    Parameters
    ----------
    users : array_like, shape (n,)
        The user of each rating.
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.
    k : int, default 10
        Cut-off.
    threshold : float, default 3.5
        A true rating at least this is relevant.

    Returns
    -------
    float
    """
    return ranking_metrics(users, y_true, y_pred, k=k, threshold=threshold)["recall"]


def ndcg_at_k(users: Any, y_true: Any, y_pred: Any, *, k: int = 10, threshold: float = 3.5) -> float:
    """Mean over users (with a relevant item) of the normalised discounted cumulative gain at k.

    See :func:`ranking_metrics` for the exact definition.

    Parameters
    ----------
    users : array_like, shape (n,)
        The user of each rating.
    y_true, y_pred : array_like of float, shape (n,)
        True and predicted ratings.
    k : int, default 10
        Cut-off.
    threshold : float, default 3.5
        A true rating at least this is relevant.

    Returns
    -------
    float
    """
    return ranking_metrics(users, y_true, y_pred, k=k, threshold=threshold)["ndcg"]
