r"""Using a fitted factorization as a recommender.

Functions of a fitted :class:`~cmf.MatrixFactorization`: top-N
recommendation (:func:`recommend`), the most similar items or users
(:func:`similar_items`, :func:`similar_users`), a new user's parameters
solved without retraining (:func:`fold_in`) and the training curves
(:func:`plot_history`). The estimator has a method of the same name for
each; both take labels for a model fitted from labelled data
(:meth:`~cmf.MatrixFactorization.fit_ratings`) and indices otherwise.

:func:`recommend` ranks among candidate items, leaves out excluded items
and items rated by fewer than ``min_support`` users, and by default shrinks
the bias and factors of an item rated by few users (``shrinkage``), so that
a handful of enthusiastic ratings do not put an obscure item at the top of
every list; ``shrinkage=0`` ranks by the predicted ratings.

Each function reads the model's fitted state once, so it answers from one
fit even while another thread refits the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from cmf._checks import integer, real
from cmf._fitted import Fitted
from cmf._ranking import SCORE_BLOCK, SHRINKAGE, needs_no_ratings, ranking, similar, top_k, user_exclusions

__all__ = ["FoldIn", "fold_in", "plot_history", "recommend", "similar_items", "similar_users", "solve_fold_in"]

class FoldIn(NamedTuple):
    """The result of :func:`fold_in`.

    Attributes
    ----------
    bias : float
        The new user's bias :math:`b` (0 for an unbiased model).
    factors : ndarray, shape (n_factors,)
        The new user's factors :math:`p`.
    user : label, int or None
        The user's label (or index) when it was added to the model, else None.
    """

    bias: float
    factors: np.ndarray
    user: Any


def recommend(
    model: Any, user: Any, n: int = 10, *, exclude_seen: bool = True, candidates: Any = None, exclude: Any = None,
    min_support: int = 0, shrinkage: float = SHRINKAGE, clip: bool = True, batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The ``n`` best items for a user or many users.

    Items are ranked by the predicted rating with the item's part shrunk
    towards the user's mean by how many users rated it,

    .. math::
        s_{ui} = \mu + b_u + \frac{n_i}{n_i + \beta}\,(c_i + p_u \cdot q_i),

    where :math:`n_i` is the number of users who rated item :math:`i` in
    training and :math:`\beta` is ``shrinkage``. An item rated by a
    handful of users is known only by a noisy bias and factors, and the
    model's per-rating penalty does not shrink them any more than a
    popular item's; :math:`\beta = 25` is the damping of item means in
    Koren's baseline predictors (a prior worth 25 ratings). On MovieLens
    100K it takes the share of the default model's top-10 slots given to
    items with fewer than 20 ratings from about 40% to 0
    (``benchmarks/popularity.py``), and does not change ``predict``.
    ``shrinkage=0`` ranks by the predictions themselves. The scores are
    ranked unclipped and then clipped to the model's ``rating_scale_``.

    Users are scored a block at a time (at most about 4 million scores in
    memory), never as a full users x items matrix, and only over the items
    that may be returned.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    user : label, int or array_like
        One user or a 1-D array of users (labels for a model fitted from
        labelled data, indices otherwise).
    n : int, default 10
        Number of items per user.
    exclude_seen : bool, default True
        Leave out the items each user rated in the training data.
    candidates : array_like or set, optional
        Rank only these items (labels or indices, as the model uses); no
        other item is returned.
    exclude : array_like, set or mapping, optional
        Items never returned: a collection for every user, or a mapping
        from user to that user's collection.
    min_support : int, default 0
        Leave out items rated by fewer than this many users in training.
    shrinkage : float, default 25
        :math:`\beta` above; 0 ranks by the predicted ratings.
    clip : bool, default True
        Clip the returned scores to ``rating_scale_`` (no effect when it is
        None). The ranking never changes.
    batch_size : int, optional
        Users per block; chosen from the number of items when omitted.

    Returns
    -------
    items : ndarray
        For one user, shape (m,) with ``m <= n`` (fewer when fewer items
        are left); for many, shape (n_users, min(n, n_items)), a row per
        user, padded with -1 (or "" for string labels) where a user has
        fewer items left.
    scores : ndarray
        The scores :math:`s_{ui}` (the predicted ratings when
        ``shrinkage=0``), best first; padding is NaN.

    Raises
    ------
    NotFittedError
        Before ``fit``.
    KeyError
        For an unknown user, or an unknown item in ``candidates`` or
        ``exclude`` (leave such items out).
    ValueError
        For ``n < 1`` or a negative ``min_support`` or ``shrinkage``;
        for ``exclude_seen``, ``min_support`` or ``shrinkage`` on a model
        that does not know its training ratings (fitted by :mod:`cmf.dask`
        or read from a file without them): pass ``exclude_seen=False``,
        ``min_support=0`` and ``shrinkage=0``.
    """
    fitted: Fitted = model._snapshot()
    n = integer(n, "n", minimum=1)
    min_support = integer(min_support, "min_support", minimum=0)
    shrinkage = real(shrinkage, "shrinkage", 0.0)
    single = np.ndim(user) == 0
    users = np.atleast_1d(fitted.encode(user, 0))
    if users.ndim != 1:
        raise ValueError(f"user must be a label or a 1-D array, got shape {np.shape(user)}")
    if fitted.seen_source is None:
        needs_no_ratings(exclude_seen=exclude_seen, shrinkage=shrinkage, min_support=min_support)
    seen = fitted.seen if exclude_seen else None
    per_user = isinstance(exclude, Mapping)
    rank = ranking(fitted, candidates=candidates, exclude=None if per_user else exclude,
                   min_support=min_support, shrinkage=shrinkage)
    own = user_exclusions(fitted, exclude, users) if per_user else None
    k = min(n, fitted.shape[1])
    width = min(k, len(rank.cols))
    step = batch_size or max(1, SCORE_BLOCK // max(len(rank.cols), 1))
    top = np.full((len(users), k), -1, dtype=np.int64)
    best = np.full((len(users), k), np.nan, dtype=np.float64)
    for start in range(0, len(users), step):
        block = users[start:start + step]
        if width == 0:
            break
        scores = rank.scores(fitted.state, block)
        if seen is not None:
            rank.drop(scores, seen.indptr[block], seen.indptr[block + 1] - seen.indptr[block], seen.indices)
        if own is not None:
            here = own[0][start:start + len(block) + 1]
            rank.drop(scores, here[:-1], np.diff(here), own[1])
        cols, vals = top_k(scores, width)
        top[start:start + step, :width], best[start:start + step, :width] = rank.cols[cols], vals
    pad = ~np.isfinite(best)
    top[pad], best[pad] = -1, np.nan
    if clip and fitted.rating_scale is not None:
        np.clip(best, *fitted.rating_scale, out=best)
    if single:
        keep = ~pad[0]
        return fitted.decode(top[0][keep], 1), best[0][keep]
    return fitted.decode(top, 1), best


def similar_items(model: Any, item: Any, n: int = 10, *, min_support: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` items whose factors have the highest cosine similarity to an item's.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    item : label, int or array_like
        One item or a 1-D array of items.
    n : int, default 10
        How many, not counting the item itself.
    min_support : int, default 0
        Leave out items rated by fewer than this many users in training
        (their factors are mostly their random start); needs a model that
        knows its training ratings.

    Returns
    -------
    items, similarities : ndarray
        As for :func:`recommend`, padded where fewer items are left;
        similarities lie in [-1, 1] (0 for an item whose factors are all
        zero).
    """
    fitted: Fitted = model._snapshot()
    min_support = integer(min_support, "min_support", minimum=0)
    keep = None
    if min_support > 0:
        keep = ranking(fitted, candidates=None, exclude=None, min_support=min_support, shrinkage=0.0).cols
    return similar(fitted, item, n, axis=1, keep=keep)


def similar_users(model: Any, user: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` users whose factors have the highest cosine similarity to a user's.

    :func:`similar_items` for the rows of the model: ``user`` is one user
    (label or index, as the model uses) or a 1-D array of them, and ``n``
    (default 10) counts the most similar users besides the user itself.

    Returns
    -------
    users, similarities : ndarray
        As for :func:`similar_items`.
    """
    return similar(model._snapshot(), user, n, axis=0)


def fold_in(model: Any, items: Any, ratings: Any, *, add: bool = False, user: Any = None) -> FoldIn:
    r"""Solve a new user's bias and factors exactly, the item parameters fixed.

    For the user's :math:`n` ratings :math:`r_j` of items :math:`j`, this
    minimises the model's objective restricted to that user,

    .. math::
        \sum_j (r_j - \mu - c_j - b - p \cdot q_j)^2
        + \lambda n \|p\|^2 + \lambda_b n b^2 ,

    a ridge regression: with :math:`\theta = (b, p)`, rows
    :math:`x_j = (1, q_j)`, targets :math:`y_j = r_j - \mu - c_j` and
    :math:`D = \mathrm{diag}(\lambda_b, \lambda, \ldots, \lambda)`,
    setting the gradient to zero gives
    :math:`(X^\top X + n D)\,\theta = X^\top y`. An unbiased model drops
    the bias column. When that system is singular (no penalty and fewer
    ratings than factors) the minimum-norm least-squares solution is
    returned.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model; its ``regularization``, ``bias_regularization`` and
        ``biased`` parameters define the problem.
    items : array_like, shape (n,)
        Items the user rated (labels or indices, as the model uses); an
        item may repeat.
    ratings : array_like of float, shape (n,)
        The ratings.
    add : bool, default False
        Also append the user to the model, so that ``predict`` and
        :func:`recommend` know it (its rated items count as seen). The new
        parameters, label and seen items are published together, and
        concurrent calls each add their own user.
    user : label, optional
        The new user's label when adding to a labelled model (default:
        one more than the largest integer label; required for string
        labels). Ignored for an unlabelled model, where the new user's
        index is the next row.

    Returns
    -------
    FoldIn
        ``(bias, factors, user)``.

    Raises
    ------
    KeyError
        For an unknown item.
    ValueError
        For empty or mismatched input, non-finite ratings, or a label
        already in use.
    """
    fitted: Fitted = model._snapshot()
    cols = np.atleast_1d(fitted.encode(items, 1))
    values = np.atleast_1d(np.asarray(ratings, dtype=np.float64))
    if cols.ndim != 1 or values.ndim != 1 or len(cols) != len(values):
        raise ValueError(
            f"items and ratings must be 1-D and of the same length, got {np.shape(items)} and {np.shape(ratings)}"
        )
    if len(values) == 0:
        raise ValueError("fold_in needs at least one rating")
    if not np.all(np.isfinite(values)):
        raise ValueError("ratings must be finite numbers")
    params = model.get_params()
    state = fitted.state
    bias, factors = solve_fold_in(
        state.Q[cols].astype(np.float64), state.c[cols].astype(np.float64), values, float(state.mu),
        real(params["regularization"], "regularization", 0.0),
        real(params["bias_regularization"], "bias_regularization", 0.0), bool(params["biased"]),
    )
    if not add:
        return FoldIn(bias, factors, None)
    # The new row is appended to whatever model is current when it is
    # published (not to the snapshot read above), so concurrent adds all land.
    added = model._update_fitted(lambda current: current.with_user(bias, factors, cols, user))
    return FoldIn(bias, factors, added)


def solve_fold_in(
    Q: np.ndarray, c: np.ndarray, r: np.ndarray, mu: float, reg: float, reg_b: float, biased: bool
) -> tuple[float, np.ndarray]:
    """The ridge solution for one user's bias and factors (see :func:`fold_in`), in float64.

    Parameters
    ----------
    Q : ndarray, shape (n, k)
        Factors of the rated items.
    c : ndarray, shape (n,)
        Their biases.
    r : ndarray, shape (n,)
        The ratings.
    mu : float
        Global mean.
    reg, reg_b : float
        Penalties on factors and bias.
    biased : bool
        Whether the model has biases.

    Returns
    -------
    bias : float
    factors : ndarray of float64, shape (k,)
    """
    n, k = Q.shape
    X, y, penalty = Q, r, np.full(k, reg)
    if biased:  # one more unknown, the bias: a column of ones with its own penalty
        X, y, penalty = np.hstack([np.ones((n, 1)), Q]), r - mu - c, np.r_[reg_b, penalty]
    A = X.T @ X + n * np.diag(penalty)
    rhs = X.T @ y
    try:
        theta = np.linalg.solve(A, rhs)
        if not np.all(np.isfinite(theta)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        theta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    if biased:
        return float(theta[0]), theta[1:]
    return 0.0, theta


def plot_history(model: Any, ax: Any = None, path: str | os.PathLike[str] | None = None) -> Any:
    """Draw the training (and validation) RMSE per epoch.

    Needs matplotlib (``pip install 'cmf-sgd[plot]'``). Draws one line for
    the training RMSE, one for the validation RMSE when there was
    validation data, and a dotted vertical line at the best epoch when
    early stopping restored it.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    path : str or path-like, optional
        Also save the figure to this file (PNG, SVG, PDF, by extension).

    Returns
    -------
    matplotlib.axes.Axes
    """
    fitted: Fitted = model._snapshot()
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plot_history needs matplotlib: pip install 'cmf-sgd[plot]'") from None
    if ax is None:
        # A bare Figure needs no GUI backend and no global pyplot state.
        ax = Figure(figsize=(6, 4)).add_subplot()
    history = fitted.history
    epochs = np.asarray(history["epoch"])
    ax.plot(epochs, history["train_rmse"], label="training RMSE")
    val = np.asarray(history["val_rmse"], dtype=float)
    if np.isfinite(val).any():
        ax.plot(epochs, val, label="validation RMSE")
    if fitted.best_epoch is not None:
        ax.axvline(fitted.best_epoch, linestyle=":", color="gray", label=f"best epoch ({fitted.best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.legend()
    if path is not None:
        ax.figure.savefig(path)
    return ax
