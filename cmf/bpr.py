"""Ranking from implicit feedback: :class:`BPR`, matrix factorization by Bayesian personalised ranking.

A separate estimator from :class:`cmf.MatrixFactorization` because its
contract differs: it learns from interactions (which items each user
picked), not from ratings, and its scores order a user's items without
estimating any rating. So it has no ``predict`` and nothing is clipped or
shrunk: :meth:`BPR.scores` and :meth:`BPR.recommend` rank by
:math:`p_u \\cdot q_i + c_i`. The epoch runs in C (``cmf_bpr_*`` in
``cmf.h``); :mod:`cmf._train.pairwise` schedules it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cmf import _bpr_files
from cmf._bpr_input import Checked, checked, indices, pairs
from cmf._bpr_stopping import EarlyStopping, Stop, ranking_data, split_validation
from cmf._checks import integer, real
from cmf._dataset import as_dataset
from cmf._labels import LabelMap
from cmf._ranking import SCORE_BLOCK, ranges, top_k
from cmf._seen import SeenItems
from cmf._train.pairwise import PairwiseState, train_pairwise
from cmf.exceptions import NotFittedError

__all__ = ["BPR"]

_PARAMS = ("n_factors", "learning_rate", "regularization", "bias_regularization", "item_biases", "n_epochs",
           "negatives", "reject_positives", "max_tries", "n_blocks", "n_threads", "dtype", "random_state")


class BPR:
    r"""Matrix factorization for implicit feedback by Bayesian personalised ranking (Rendle et al. 2009).

    Learns scores :math:`s(u, i) = p_u \cdot q_i + c_i` that put each
    user's positive items (those the user interacted with) above the
    others, by SGD on sampled triples: a positive ``(u, i)`` and an item
    ``j`` drawn uniformly at random (again if ``u`` interacted with it),
    stepping along the gradient of :math:`\ln \sigma(s(u, i) - s(u, j))`
    with L2 penalties. Every epoch runs as many samples as there are
    positives, in C. The result depends only on the data, the parameters
    and ``random_state``: the same bits at any ``n_threads``.

    The negatives are drawn uniformly by default, as in Rendle et al.: every
    unseen item is pushed down alike, so the popular items, which many
    users pick, rise to the top. ``negatives="popularity"`` draws them as
    often as they are picked (as implicit's BPR does), which pushes popular
    items down and spreads the recommendations over more of the catalogue.

    Parameters
    ----------
    n_factors : int, default 64
        Latent dimension.
    learning_rate : float, default 0.01
        SGD step size (implicit's default).
    regularization : float, default 0.01
        L2 penalty on the factors (implicit's default).
    bias_regularization : float, default 0.01
        L2 penalty on the item biases.
    item_biases : bool, default True
        Whether each item has a bias :math:`c_i` (a popularity term).
    n_epochs : int, default 100
        Epochs to run, or at most with ``fit_ratings(validation=...)``,
        which stops early on held-out NDCG (a ranking loss does not say when
        the ranking stops improving).
    negatives : {"uniform", "popularity"}, default "uniform"
        How the negatives are drawn: every item alike, or in proportion to
        its number of interactions.
    reject_positives : bool, default True
        Whether a sampled negative the user interacted with is drawn again.
    max_tries : int, default 10
        Draws of a negative per sample before it is skipped (a user who
        interacted with most items).
    n_blocks : int, default 4
        The epoch runs on a ``n_blocks x n_blocks`` grid of random blocks
        of users and items (see ``cmf.h``), which keeps the rows it touches
        in cache and lets up to ``n_blocks`` threads work at once. Part of
        the model's definition: another value gives other samples.
    n_threads : int, default 1
        Threads of the epoch (at most ``n_blocks`` are used).
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Precision of the parameters.
    random_state : int or None, default None
        Seed of the initial factors and of the sampler.

    Attributes
    ----------
    user_factors_ : ndarray, shape (n_users, n_factors)
    item_factors_ : ndarray, shape (n_items, n_factors)
    item_bias_ : ndarray, shape (n_items,)
        Zero when ``item_biases`` is False.
    history_ : dict of list
        Per epoch: ``epoch``, ``correct`` (share of samples ranked right before their step), ``skipped``
        (and ``val_ndcg`` with validation). ``best_epoch_``: the epoch kept by early stopping, else None.
    shape_ : tuple of int
        ``(n_users, n_items)``.

    Examples
    --------
    >>> import cmf
    >>> model = cmf.BPR(n_factors=8, n_epochs=5, random_state=0)
    >>> model = model.fit_pairs([0, 0, 1, 2], [0, 1, 1, 2], shape=(3, 4))
    >>> items, scores = model.recommend(0, n=2)
    >>> items.shape
    (2,)
    """

    def __init__(self, n_factors: int = 64, *, learning_rate: float = 0.01, regularization: float = 0.01,
                 bias_regularization: float = 0.01, item_biases: bool = True, n_epochs: int = 100,
                 negatives: str = "uniform", reject_positives: bool = True, max_tries: int = 10,
                 n_blocks: int = 4, n_threads: int = 1, dtype: Any = np.float32,
                 random_state: int | None = None) -> None:
        self.n_factors, self.learning_rate, self.regularization = n_factors, learning_rate, regularization
        self.bias_regularization, self.item_biases, self.n_epochs = bias_regularization, item_biases, n_epochs
        self.negatives = negatives
        self.reject_positives, self.max_tries, self.n_blocks = reject_positives, max_tries, n_blocks
        self.n_threads, self.dtype, self.random_state = n_threads, dtype, random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn expects."""
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params: Any) -> "BPR":
        """Set constructor parameters; unknown names raise ValueError."""
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} of BPR; known: {', '.join(_PARAMS)}")
        self.__dict__.update(params)
        return self

    def __repr__(self) -> str:
        return f"BPR({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def fit(self, X: Any, *, threshold: float | None = None) -> "BPR":
        """Fit on a users x items matrix whose non-zero entries are the interactions.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix, shape (n_users, n_items)
            Dense: entries that are neither 0 nor NaN are interactions.
            Sparse: the stored entries that are neither 0 nor NaN.
        threshold : float, optional
            Keep only entries of at least this value (ratings to positives).

        Returns
        -------
        BPR
            self, fitted.
        """
        if hasattr(X, "tocoo"):
            coo = X.tocoo()
            rows, cols, values, shape = coo.row, coo.col, np.asarray(coo.data, np.float64), coo.shape
        else:
            dense = np.asarray(X, dtype=np.float64)
            if dense.ndim != 2:
                raise ValueError(f"X must be a 2-D matrix of users x items, got {dense.ndim} dimensions")
            rows, cols = np.nonzero(~np.isnan(dense) & (dense != 0))
            values, shape = dense[rows, cols], dense.shape
        keep = (values != 0) & ~np.isnan(values)
        if threshold is None:
            return self.fit_pairs(rows[keep], cols[keep], shape=shape)
        return self.fit_pairs(rows[keep], cols[keep], values[keep], shape=shape, threshold=threshold)

    def fit_pairs(self, rows: Any, cols: Any, values: Any = None, *, shape: tuple[int, int] | None = None,
                  threshold: float | None = None) -> "BPR":
        """Fit on interactions given as (user, item) index pairs, or on ratings with a threshold.

        Parameters
        ----------
        rows, cols : array-like of int
            User and item index of each interaction; repeated pairs count once.
        values : array-like of float, optional
            Ratings, one per pair; then ``threshold`` says which are positives.
        shape : (int, int), optional
            ``(n_users, n_items)``; by default one more than the largest indices.
        threshold : float, optional
            With ``values``: the pairs rated at least this are the positives.

        Returns
        -------
        BPR
            self, fitted.

        Raises
        ------
        ValueError
            For indices that are negative, not integers or outside ``shape``; ``values`` without
            ``threshold`` (or the reverse); no positive at all; a parameter out of range.
        """
        return self._fit(rows, cols, values, shape, threshold)

    def _fit(self, rows: Any, cols: Any, values: Any, shape: Any, threshold: float | None, *,
             maps: tuple[LabelMap, LabelMap] | None = None, stopping: dict[str, Any] | None = None) -> "BPR":
        config = self._config()
        rows, cols, shape = pairs(rows, cols, shape)
        if (values is None) != (threshold is None):
            raise ValueError("pass values and threshold together (ratings of at least threshold are the "
                             "positives), or neither (every pair is a positive)")
        if values is not None:
            values = np.asarray(values, dtype=np.float64).ravel()
            if values.shape != rows.shape:
                raise ValueError(f"values must have one entry per pair, got {values.shape[0]} for {rows.shape[0]}")
            keep = values >= real(threshold, "threshold")
            rows, cols = rows[keep], cols[keep]
        if len(rows) == 0:
            raise ValueError("no positive interaction to learn from" +
                             (f" (no value is >= threshold {threshold:g})" if values is not None else ""))
        positives = SeenItems.from_pairs(rows, cols, shape)
        stopper = None if stopping is None else ranking_data(positives, shape, threshold, stopping)
        return self._train(config, positives, shape, maps, stopper)

    def fit_ratings(self, data: Any, *, threshold: float | None = None, validation: Any = None, patience: int = 25,
                    check_every: int = 5, k: int = 10) -> "BPR":
        """Fit on a data set of interactions or ratings, keeping its user and item labels.

        After a fit on labelled data (read by :func:`cmf.io.load_ratings` or
        from a DataFrame), :meth:`recommend` takes user labels and returns
        item labels, and :meth:`save` keeps them; :meth:`scores` still takes
        indices, the positions in :attr:`user_labels_` (those of
        :func:`cmf.metrics.catalogue_metrics` on splits of the same data).

        Parameters
        ----------
        data : RatingDataset, pandas.DataFrame, RatingData or tuple
            The interactions (see :func:`cmf.io.as_dataset`); their shape, and
            so the users and items the model knows, is the data set's, also
            for a split of a larger one.
        threshold : float, optional
            The ratings of at least this are the positives; by default every
            row is (the ratings are ignored). The same threshold picks the
            relevant validation items.
        validation : RatingDataset, float or None
            Held-out interactions of the same users and items (a split of
            the same data), or a fraction of ``data`` to hold out at random
            (seeded by ``random_state``). Then every ``check_every`` epochs the
            model ranks the full catalogue for the validation users (their
            training items left out) and the fit stops once ``patience``
            epochs passed without a better NDCG@``k``; the factors of the best
            check are kept, ``n_epochs_`` and ``best_epoch_`` are its epoch and
            ``history_["val_ndcg"]`` holds the checks (NaN in between).
        patience, check_every, k : int, default 25, 5, 10
            Early stopping, with ``validation`` only; the patience outlasts the first
            epochs, flat while the small factors grow (about 25 on MovieLens 100K).

        Returns
        -------
        self : BPR
            Fitted, with ``user_labels_`` and ``item_labels_`` (None for data without labels).

        Raises
        ------
        ValueError
            As :meth:`fit_pairs`; the model is left as it was.
        """
        data, stopping = split_validation(as_dataset(data), validation, self.random_state, k=k, patience=patience,
                                          check_every=check_every)
        values = None if threshold is None else data.values
        maps = (data.user_labels, data.item_labels) if data.labelled else None
        return self._fit(data.rows, data.cols, values, data.shape, threshold, maps=maps, stopping=stopping)

    def _train(self, config: Checked, positives: SeenItems, shape: tuple[int, int],
               maps: tuple[LabelMap, LabelMap] | None, stopper: Any) -> "BPR":
        rng = np.random.default_rng(self.random_state)
        k, dtype = config.n_factors, np.dtype(self.dtype)
        # implicit's start: factors uniform in +-0.5 / k, biases zero.
        state = PairwiseState(((rng.random((shape[0], k)) - 0.5) / k).astype(dtype),
                              ((rng.random((shape[1], k)) - 0.5) / k).astype(dtype), np.zeros(shape[1], dtype))
        seed = int(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))
        n_epochs, best = config.schedule.n_epochs, None
        if stopper is None:
            history = train_pairwise(state, positives, config.params, config.schedule, seed)
        else:
            stopping = EarlyStopping(state, *stopper)
            try:
                train_pairwise(state, positives, config.params, config.schedule, seed, on_epoch=stopping)
            except Stop:
                pass
            history, n_epochs = stopping.history(), stopping.restore()
            best = n_epochs
        self.history_, self.best_epoch_ = history, best
        self.user_factors_, self.item_factors_, self.item_bias_ = state.P, state.Q, state.c
        self.shape_, self.n_epochs_ = (int(shape[0]), int(shape[1])), n_epochs
        self._positives, self._maps = positives, maps
        return self

    def _config(self) -> Checked:
        return checked(self.get_params())

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise NotFittedError("this BPR model is not fitted yet: call fit or fit_pairs first, or BPR.load")

    def scores(self, users: Any) -> np.ndarray:
        """Scores :math:`p_u \\cdot q_i + c_i` of ``users`` (indices) for every item, shape (len(users), n_items).

        Higher is better; the values are not ratings. Suitable as the scorer of
        :func:`cmf.metrics.catalogue_metrics`.
        """
        self._check_fitted()
        users = indices(users, "users", self.shape_[0])
        P = self.user_factors_[users].astype(np.float64)  # only the rows asked for
        return P @ self.item_factors_.T.astype(np.float64) + self.item_bias_.astype(np.float64)

    @property
    def user_labels_(self) -> np.ndarray | None:
        """User labels (after :meth:`fit_ratings` on labelled data), or None; index ``j`` is ``user_labels_[j]``."""
        maps = getattr(self, "_maps", None)
        return None if maps is None else maps[0].labels

    @property
    def item_labels_(self) -> np.ndarray | None:
        """Item labels (after :meth:`fit_ratings` on labelled data), or None."""
        maps = getattr(self, "_maps", None)
        return None if maps is None else maps[1].labels

    def recommend(self, user: Any, n: int = 10, *, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best items of a user (or of each of several users), best first.

        Parameters
        ----------
        user : label, int or array-like
            User label(s) for a model fitted on labelled data
            (:meth:`fit_ratings`), else user index or indices.
        n : int, default 10
        exclude_seen : bool, default True
            Leave out the items the user interacted with in training.

        Returns
        -------
        items, scores : ndarray
            Shape (n,) for one user, (len(user), n) for several; ties go to the
            smaller item index. Items are labels for a labelled fit, else
            indices. When fewer items are left, scores are NaN and items -1
            (an empty string for string labels).

        Raises
        ------
        KeyError
            For a user label the model does not know.
        """
        self._check_fitted()
        single = np.ndim(user) == 0
        maps = self._maps
        if maps is None:
            users = indices(np.atleast_1d(user), "user", self.shape_[0])
        else:
            users = maps[0].to_index(np.atleast_1d(user), name="user").astype(np.int64)
        n = integer(n, "n", 1)
        k = min(n, self.shape_[1])
        step = max(1, SCORE_BLOCK // max(self.shape_[1], 1))  # a block of users at a time, never all scores
        # n columns: beyond the k items there are, -1 and NaN
        items, best = np.full((len(users), n), -1, dtype=np.int64), np.full((len(users), n), np.nan)
        for start in range(0, len(users), step):
            block = users[start:start + step]
            scores = self.scores(block)
            if exclude_seen:
                indptr = self._positives.indptr
                counts = indptr[block + 1] - indptr[block]
                seen = self._positives.indices[ranges(indptr[block], counts)]
                scores[np.repeat(np.arange(len(block)), counts), seen] = -np.inf
            items[start:start + step, :k], best[start:start + step, :k] = top_k(scores, k)
        gone = np.isneginf(best) | (items < 0)  # seen items, when fewer unseen ones are left
        items[gone], best[gone] = -1, np.nan
        if maps is not None:
            labels = maps[1].labels[np.maximum(items, 0)]
            labels[gone] = "" if labels.dtype.kind == "U" else -1
            items = labels
        return (items[0], best[0]) if single else (items, best)

    # ------------------------------------------------------------------
    # Files (:mod:`cmf._bpr_files`)
    # ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted model to ``path`` (``.npz`` appended when missing), atomically; return the file name.

        The file keeps the user and item labels of a fit on labelled data.
        """
        self._check_fitted()
        return _bpr_files.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "BPR":
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is missing, not a BPR model file of this format, or inconsistent.
        """
        return _bpr_files.load(cls, path)
