"""Scorers for full-catalogue evaluation: a fitted model and the two baselines.

A scorer is a function of a block of user indices returning their scores
of every item, ``(len(users), n_items)`` in float64, higher is better.
:func:`cmf.metrics.catalogue_metrics` ranks the catalogue by them.

The baselines are fitted on the training data in closed form:

- ``most_popular``: an item's score is its number of training interactions,
  the same for every user.
- ``bias_only``: the regularised baseline predictor of Koren (2010),
  :math:`\\mu + b_u + b_i` with
  :math:`b_i = \\sum_{u \\in R(i)} (r_{ui} - \\mu) / (\\lambda_i + |R(i)|)` and then
  :math:`b_u = \\sum_{i \\in R(u)} (r_{ui} - \\mu - b_i) / (\\lambda_u + |R(u)|)`,
  :math:`\\lambda_i = 25`, :math:`\\lambda_u = 10`. The estimator cannot fit
  it (``n_factors`` is at least 1), and one pass of sums is exact here.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cmf._ranking import SHRINKAGE, ranking

__all__ = ["BASELINES", "baseline_scorer", "bias_only", "model_scorer"]

BASELINES = ("most_popular", "bias_only")

# Shrinkage of the item and user biases towards zero, in ratings (Koren 2010, section 2.1).
ITEM_SHRINKAGE = 25.0
USER_SHRINKAGE = 10.0

Scorer = Callable[[np.ndarray], np.ndarray]


def bias_only(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> tuple[float, np.ndarray, np.ndarray]:
    """The shrunk global mean, user and item biases (see the module docstring).

    Parameters
    ----------
    rows, cols : ndarray of int
        User and item index of each training rating.
    values : ndarray of float
        The ratings.
    shape : tuple of int
        ``(n_users, n_items)``.

    Returns
    -------
    mu : float
    user_bias : ndarray of float64, shape (n_users,)
    item_bias : ndarray of float64, shape (n_items,)
    """
    values = np.asarray(values, dtype=np.float64)
    mu = float(values.mean()) if len(values) else 0.0
    n_users, n_items = shape
    item_bias = np.bincount(cols, weights=values - mu, minlength=n_items) / (
        ITEM_SHRINKAGE + np.bincount(cols, minlength=n_items))
    user_bias = np.bincount(rows, weights=values - mu - item_bias[cols], minlength=n_users) / (
        USER_SHRINKAGE + np.bincount(rows, minlength=n_users))
    return mu, user_bias, item_bias


def baseline_scorer(name: str, train: Any, shape: tuple[int, int]) -> Scorer:
    """A baseline fitted on ``train`` (anything with ``rows``, ``cols``, ``values``).

    Parameters
    ----------
    name : {"most_popular", "bias_only"}
        Which baseline.
    train : RatingDataset
        The training ratings.
    shape : tuple of int
        ``(n_users, n_items)`` to score.

    Returns
    -------
    callable
        The scorer.

    Raises
    ------
    ValueError
        For another name.
    """
    if name == "most_popular":
        counts = np.bincount(train.cols, minlength=shape[1]).astype(np.float64)
        return lambda users: np.broadcast_to(counts, (len(users), shape[1]))
    if name == "bias_only":
        mu, user_bias, item_bias = bias_only(train.rows, train.cols, train.values, shape)
        return lambda users: (mu + user_bias[users])[:, None] + item_bias
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def model_scorer(model: Any, shrinkage: float = SHRINKAGE) -> tuple[Scorer, tuple[int, int]]:
    """The ranking scores of a fitted :class:`~cmf.MatrixFactorization`, in float64.

    The scores are :math:`\\mu + b_u + w_i (c_i + p_u \\cdot q_i)` with
    :math:`w_i = n_i / (n_i + \\mathrm{shrinkage})` for an item :math:`n_i`
    users rated in training, of one fitted state (read once, so a refit in
    another thread does not mix two fits), unclipped: the order in which
    :func:`cmf.recommend.recommend` ranks items with the same
    ``shrinkage``. ``shrinkage=0`` scores the predicted ratings.

    Parameters
    ----------
    model : MatrixFactorization
        Fitted.
    shrinkage : float, default :data:`cmf.recommend.SHRINKAGE`
        As for :func:`cmf.recommend.recommend`.

    Returns
    -------
    scorer : callable
    shape : tuple of int
        The model's ``(n_users, n_items)``.
    """
    fitted = model._snapshot()
    items = ranking(fitted, candidates=None, exclude=None, min_support=0, shrinkage=shrinkage)
    state = fitted.state
    P, Q = state.P.astype(np.float64), items.Q.astype(np.float64)
    b, c, mu = state.b.astype(np.float64), items.c.astype(np.float64), float(state.mu)

    def score(users: np.ndarray) -> np.ndarray:
        out = P[users] @ Q.T
        out += c
        out += (b[users] + mu)[:, None]
        return out

    return score, (P.shape[0], Q.shape[0])
