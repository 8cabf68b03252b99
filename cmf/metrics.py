"""Accuracy and ranking metrics for rating predictions.

The error of each prediction: :func:`rmse` and :func:`mae` for ratings,
and for the other losses of :class:`~cmf.MatrixFactorization`
:func:`kl_divergence`, :func:`logloss` and :func:`accuracy`
(:data:`LOSS_METRICS` names each loss's).

Two ranking protocols:

- held-out (:func:`ranking_metrics`, :func:`precision_at_k`, ...), the usual
  one for explicit ratings: for each user, that user's held-out items are
  ranked by predicted rating; an item is relevant when its true rating is
  at least ``threshold``. Each metric is the mean over users (users without
  a relevant item are left out of recall and NDCG, which are undefined for
  them). It says how well the model orders what the user rated, not what
  it would recommend.
- full catalogue (:func:`catalogue_metrics`), the protocol of cornac,
  RecBole and Elliot: for each test user, every item the user did not
  interact with in training is ranked, as ``recommend`` ranks them, and the
  user's test items are the relevant ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._baselines import BASELINES, baseline_scorer, model_scorer
from cmf._ranking import SHRINKAGE
from cmf._catalogue import catalogue_data, rank_catalogue
from cmf._checks import integer, is_integer, real
from cmf._dataset import RatingDataset, as_dataset
from cmf._loss_metrics import LOSS_METRICS, accuracy, kl_divergence, logloss
from cmf._loss_metrics import pair as _pair

__all__ = [
    "BASELINES", "CATALOGUE_METRICS", "LOSS_METRICS", "accuracy", "catalogue_metrics", "kl_divergence", "logloss",
    "mae", "ndcg_at_k", "precision_at_k", "ranking_metrics", "recall_at_k", "rmse",
]

#: The metrics :func:`catalogue_metrics` returns, besides the user counts.
CATALOGUE_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc", "coverage", "popularity")


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


def catalogue_metrics(
    scorer: Any, train: Any, test: Any, *, k: int = 10, threshold: float | None = None,
    batch_size: int | None = None, shrinkage: float = SHRINKAGE,
) -> dict[str, float]:
    r"""Ranking metrics over the full catalogue, the protocol of cornac, RecBole and Elliot.

    For each test user :math:`u`, every item :math:`u` did not interact
    with in ``train`` is a candidate; the candidates are ranked by score,
    best first, ties broken by the smaller item index (as ``recommend``
    does). The relevant items :math:`R_u` are the user's test items (those
    rated at least ``threshold`` when given) that are candidates. With
    :math:`T_u` the top ``k`` candidates and :math:`\mathrm{rank}_i` the
    1-based rank of item :math:`i`:

    - precision@k :math:`|T_u \cap R_u| / k` (``k`` even when fewer
      candidates are left, as RecBole and cornac divide);
    - recall@k :math:`|T_u \cap R_u| / |R_u|`;
    - NDCG@k :math:`\sum_{i \in T_u \cap R_u} 1/\log_2(\mathrm{rank}_i + 1)`
      over its largest value :math:`\sum_{r=1}^{\min(k, |R_u|)} 1/\log_2(r + 1)`;
    - MAP@k: :math:`\sum_{i \in T_u \cap R_u} P_u(\mathrm{rank}_i) / \min(k, |R_u|)`,
      :math:`P_u(r)` the precision of the top :math:`r` (RecBole's
      truncated average precision);
    - MRR: :math:`1 / \min_{i \in R_u} \mathrm{rank}_i` over the whole
      ranking, not truncated at ``k``;
    - hit rate@k: 1 when :math:`T_u \cap R_u` is not empty;
    - AUC: the share of (relevant, non-relevant candidate) pairs in which
      the relevant item scores higher, ties counting half, per user over
      all of that user's candidates; users whose candidates are all
      relevant have none and are left out of this mean only;
    - coverage: the share of the catalogue that appears in at least one
      user's top ``k``;
    - popularity: the mean number of training interactions of the items in
      the top-``k`` lists (every list slot counts once).

    The per-user metrics are averaged over the scored users, those with at
    least one relevant item. The scores are computed a block of users at a
    time and never held for all users at once.

    Parameters
    ----------
    scorer : MatrixFactorization, BPR, str or callable
        A fitted model (ranked as ``recommend`` ranks, see ``shrinkage``;
        a :class:`cmf.BPR` by its ``scores``); a baseline
        fitted on ``train`` here, ``"most_popular"`` (score: the item's
        training interactions) or ``"bias_only"`` (the global mean plus
        user and item biases in closed form, each a mean residual shrunk
        towards zero as by Koren (2010): item biases by 25 ratings, then
        user biases by 10); or a
        function taking an array of user indices and returning their
        ``(len(users), n_items)`` scores, higher is better.
    train : RatingDataset or tuple
        The interactions the scorer was fitted on (left out of each user's
        candidates; their counts are the item popularity).
    test : RatingDataset or tuple
        The held-out interactions, indexed as ``train`` (two parts of one
        data set, as :func:`cmf.model_selection.train_test_split` returns,
        or a test file read beside its training file by
        :class:`cmf.model_selection.PredefinedFolds`: its interactions of
        users or items that only it names cannot be ranked and are left out).
    k : int, default 10
        Cut-off.
    threshold : float, optional
        A test rating at least this is relevant. By default every test
        interaction is, as in the implicit-feedback protocol: the question
        is which items a user will pick, not how they will rate them.
    batch_size : int, optional
        Users per block (default: about 500,000 scores per block).
    shrinkage : float, default :data:`cmf.recommend.SHRINKAGE`
        For a model: rank as :func:`cmf.recommend.recommend` does with this
        ``shrinkage`` (a rarely rated item's bias and factors weighted by
        ``n / (n + shrinkage)``); 0 ranks by the predicted rating.
        Baselines and functions ignore it.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg``, ``map``, ``mrr``, ``hit_rate``,
        ``auc``, ``coverage``, ``popularity`` (NaN when no user is scored),
        ``users`` (users scored) and ``skipped_users`` (users with no
        relevant candidate: no test item, none at the threshold, or every
        test item already a training item).

    Raises
    ------
    ValueError
        For ``k < 1``, an unknown baseline, data outside the scorer's users
        or items, data labelled differently from the model, or a scorer
        returning the wrong shape or non-finite scores.
    TypeError
        For a scorer that is none of the above.

    Examples
    --------
    >>> train, test = train_test_split(data, 0.2, random_state=0)       # doctest: +SKIP
    >>> model = MatrixFactorization().fit_ratings(train)                 # doctest: +SKIP
    >>> catalogue_metrics(model, train, test)["precision"]               # doctest: +SKIP
    >>> catalogue_metrics("most_popular", train, test)["precision"]      # doctest: +SKIP
    """
    k = integer(k, "k", minimum=1)
    threshold = None if threshold is None else real(threshold, "threshold")
    if batch_size is not None:
        batch_size = integer(batch_size, "batch_size", minimum=1)
    train, test = as_dataset(train), as_dataset(test)
    test = _known_to(train, test)
    _same_labels(train, test, "train", "test")
    if isinstance(scorer, str):
        shape = (max(train.shape[0], test.shape[0]), max(train.shape[1], test.shape[1]))
        score = baseline_scorer(scorer, train, shape)
    elif hasattr(scorer, "_snapshot"):
        score, shape = model_scorer(scorer, real(shrinkage, "shrinkage", minimum=0.0))
        _same_labels(train, scorer, "the data", "the model")
    elif hasattr(scorer, "scores") and hasattr(scorer, "shape_"):  # a ranking model, such as cmf.BPR
        score, shape = scorer.scores, scorer.shape_
        _same_labels(train, scorer, "the data", "the model")
    elif callable(scorer):
        shape = (max(train.shape[0], test.shape[0]), max(train.shape[1], test.shape[1]))
        score = scorer
    else:
        raise TypeError(f"scorer must be a fitted model, one of {', '.join(BASELINES)} or a function of user "
                        f"indices returning their scores; got {type(scorer).__name__}")
    for name, data in (("train", train), ("test", test)):
        if data.shape[0] > shape[0] or data.shape[1] > shape[1]:
            raise ValueError(f"{name} has shape {data.shape} but the scorer knows {shape[0]} users and {shape[1]} "
                             "items: score a split of the data it was fitted on")
    return rank_catalogue(score, catalogue_data(train, test, shape, threshold), k=k, batch_size=batch_size)


def _known_to(train: RatingDataset, test: RatingDataset) -> RatingDataset:
    """``test`` without the interactions of users or items that only it labels.

    A test file read beside its training file (:class:`cmf.model_selection.PredefinedFolds`)
    keeps the training file's label indices and numbers the labels only it
    has after them. Those interactions cannot be ranked (an item the
    training data lacks is not in the catalogue; a user it lacks has no
    factors), so they are left out, as cornac and RecBole leave them out.
    Any other difference of labels is left to :func:`_same_labels` to refuse.
    """
    if (test.shape[0] <= train.shape[0] and test.shape[1] <= train.shape[1]) or not (train.labelled and test.labelled):
        return test
    for ours, theirs in ((train.user_labels, test.user_labels), (train.item_labels, test.item_labels)):
        if ours is None or theirs is None:
            return test
        ours, theirs = np.asarray(ours.labels), np.asarray(theirs.labels)
        if len(theirs) < len(ours) or not np.array_equal(ours, theirs[:len(ours)]):
            return test
    keep = (test.rows < train.shape[0]) & (test.cols < train.shape[1])
    return RatingDataset(test.rows[keep], test.cols[keep], test.values[keep], train.shape, train.user_labels,
                         train.item_labels, test.source, None if test.timestamps is None else test.timestamps[keep])


def _same_labels(data: RatingDataset, other: Any, name: str, other_name: str) -> None:
    """Refuse two labelled sources whose indices mean different users or items."""
    mine = (data.user_labels, data.item_labels)
    if isinstance(other, RatingDataset):
        theirs = (other.user_labels, other.item_labels)
    else:
        theirs = (other.user_labels_, other.item_labels_)
    for axis, (a, b) in enumerate(zip(mine, theirs)):
        if a is None or b is None or a is b:
            continue
        a_labels = getattr(a, "labels", a)
        b_labels = getattr(b, "labels", b)
        if not np.array_equal(np.asarray(a_labels), np.asarray(b_labels)):
            raise ValueError(
                f"{name} and {other_name} label their {('users', 'items')[axis]} differently; "
                "score splits of the data the model was fitted on (cmf.model_selection.train_test_split)"
            )
