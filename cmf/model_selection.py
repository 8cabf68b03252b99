"""Splitting rating data, cross-validation and hyperparameter search.

Every function takes rating data in any form :func:`cmf.io.as_dataset`
accepts (a loaded file, a DataFrame, the output of
:func:`cmf.datasets.make_ratings`, a tuple of index arrays). Parallel work
runs in threads: the SGD epoch runs in C with the GIL released, so threads
use several cores while sharing the rating arrays without copying them.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Sequence

import numpy as np

from cmf._checks import is_integer
from cmf._dataset import RatingDataset, as_dataset
from cmf._evaluation import evaluate_catalogue, evaluate_held_out
from cmf._search import clone, n_workers, refit_best, run_all, sample
from cmf._folds import PredefinedFolds
from cmf._split import KFold, folds_of, leave_last_out, temporal_split, train_test_split
from cmf._tune import Choices, LogRange, TuneResult, default_space, log_uniform, tune
from cmf.exceptions import DivergenceError

__all__ = [
    "Choices",
    "GridSearch",
    "KFold",
    "LogRange",
    "PredefinedFolds",
    "RandomSearch",
    "TuneResult",
    "cross_validate",
    "default_space",
    "evaluate",
    "leave_last_out",
    "log_uniform",
    "temporal_split",
    "train_test_split",
    "tune",
]


# ----------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------
def evaluate(
    model: Any,
    data: Any,
    *,
    metrics: Sequence[str] | None = None,
    k: int = 10,
    threshold: float | None = None,
    clip: bool | tuple[float, float] | None = True,
    protocol: str = "held_out",
    train: Any = None,
    baselines: Sequence[str] = (),
    batch_size: int | None = None,
) -> dict[str, float]:
    """Score a fitted model on held-out ratings.

    Parameters
    ----------
    model : MatrixFactorization or BPR
        Fitted (a :class:`cmf.BPR` ranks only: ``protocol="catalogue"``).
    data : RatingDataset or tuple
        Held-out ratings: a split of the data the model was fitted on, or
        (``protocol="held_out"`` only) a separately read labelled file
        (matched by label; unknown users and items are predicted as the
        global mean plus the known side's bias).
    metrics : sequence of str, optional
        With ``protocol="held_out"``, any of ``rmse``, ``mae``,
        ``precision``, ``recall``, ``ndcg``, ``kl``
        (:func:`cmf.metrics.kl_divergence`), ``logloss`` and ``accuracy``
        (:func:`cmf.metrics.logloss`, :func:`cmf.metrics.accuracy`: of the
        decision values, for +1/-1 data); by default those that judge the
        model's ``loss`` (:data:`cmf.metrics.LOSS_METRICS`): ``rmse`` and
        ``mae`` for "squared", ``mae`` and ``rmse`` for "absolute", ``kl``
        for "kl", ``logloss`` and ``accuracy`` for "logistic", ``accuracy``
        for "hinge" and "squared_hinge". With ``"catalogue"``, any of
        :data:`cmf.metrics.CATALOGUE_METRICS` (default all).
    k : int, default 10
        Cut-off of the ranking metrics.
    threshold : float, optional
        A true rating at least this is relevant. Default: 3.5 for
        ``held_out`` (explicit ratings); every test interaction for
        ``catalogue`` (see :func:`cmf.metrics.catalogue_metrics`).
    clip : bool or (low, high), default True
        True scores the predictions clipped to the model's
        ``rating_scale_``, as :meth:`~cmf.MatrixFactorization.predict`
        returns them (and as Surprise scores); False or None scores them
        unclipped; a pair ``(low, high)`` clips them to that range instead.
        Clipping applies to ``rmse`` and ``mae``: the ranking metrics rank
        by the unclipped predictions, as ``recommend`` does, so that
        clipping never ties or reorders items.
    protocol : {"held_out", "catalogue"}, default "held_out"
        ``held_out`` ranks only each user's held-out items
        (:func:`cmf.metrics.ranking_metrics`); ``catalogue`` ranks every
        item the user did not interact with in ``train``, as ``recommend``
        does (:func:`cmf.metrics.catalogue_metrics`).
    train : RatingDataset or tuple, optional
        The data the model was fitted on; needed by ``catalogue``.
    baselines : sequence of str, default ()
        With ``catalogue``, also score these baselines fitted on ``train``
        (``"most_popular"``, ``"bias_only"``): their metrics are returned
        as ``"<baseline>.<metric>"``.
    batch_size : int, optional
        Users per block of the ``catalogue`` scores.

    Returns
    -------
    dict
        Metric name to value; ``catalogue`` adds ``users`` and
        ``skipped_users`` (see :func:`cmf.metrics.catalogue_metrics`).
        ``kl`` of a model without biases (every ``loss="kl"`` model) leaves
        out the pairs whose user or item has no training ratings, or is
        unknown: such a model predicts them 0, for want of a global mean,
        which makes a positive value's divergence infinite. Their count is
        ``kl_skipped_pairs`` (0 for a biased model); ``kl`` is NaN when
        every pair is left out.

    Raises
    ------
    ValueError
        For an unknown protocol, metric or baseline, a metric of the other
        protocol, or ``catalogue`` without ``train``.
    """
    if protocol == "catalogue":
        return evaluate_catalogue(model, data, train, metrics, baselines, k=k, threshold=threshold,
                                  batch_size=batch_size)
    if protocol != "held_out":
        raise ValueError(f"protocol must be 'held_out' or 'catalogue', got {protocol!r}")
    if train is not None or baselines:
        raise ValueError("train and baselines belong to protocol='catalogue'; pass it, or leave them out")
    if not hasattr(model, "predict"):
        raise ValueError(f"a {type(model).__name__} model ranks items and predicts no rating: pass "
                         "protocol='catalogue' and train=<the data it was fitted on>")
    return evaluate_held_out(model, data, metrics, k=k, threshold=threshold, clip=clip)


def cross_validate(
    estimator: Any,
    data: Any,
    *,
    cv: Any = 5,
    metrics: Sequence[str] | None = None,
    k: int = 10,
    threshold: float = 3.5,
    n_jobs: int | None = None,
    random_state: Any = None,
) -> dict[str, np.ndarray]:
    """Fit and score a model on each fold of a K-fold split (or of the folds given).

    Parameters
    ----------
    estimator : MatrixFactorization
        Unfitted template; each fold fits a fresh copy with its parameters.
    data : RatingDataset, DataFrame, tuple or None
        The ratings; None with :class:`PredefinedFolds`, which read their own.
    cv : int, KFold, PredefinedFolds or list of (train, test) pairs, default 5
        Folds: a number of shuffled folds, a splitter, or the pairs
        themselves, such as ``[temporal_split(data)]`` or
        ``[leave_last_out(data, k=1)]``.
    metrics : sequence of str, optional
        As for :func:`evaluate`; by default those of the estimator's
        ``loss`` (``rmse`` and ``mae`` for the squared error).
    k, threshold
        For the ranking metrics.
    n_jobs : int, optional
        Folds fitted in parallel threads (-1: one per core).
    random_state : int, Generator or None
        Seed of the folds when ``cv`` is a number.

    Returns
    -------
    dict of ndarray
        ``test_<metric>`` for each metric, ``fit_time``, ``test_time`` and
        ``n_epochs``, one entry per fold.
    """
    folds = list(folds_of(cv, random_state).split(data))
    jobs = n_workers(n_jobs)

    def one(train: RatingDataset, test: RatingDataset) -> dict[str, float]:
        model = clone(estimator, {}, jobs)
        started = time.perf_counter()
        model.fit_ratings(train)
        fitted = time.perf_counter()
        scores = evaluate(model, test, metrics=metrics, k=k, threshold=threshold)
        return {**{f"test_{m}": v for m, v in scores.items()}, "fit_time": fitted - started,
                "test_time": time.perf_counter() - fitted, "n_epochs": model.n_epochs_}

    rows = run_all([lambda tr=tr, te=te: one(tr, te) for tr, te in folds], jobs)
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


# ----------------------------------------------------------------------
# Search
# ----------------------------------------------------------------------
def _fit_and_score(
    estimator: Any, params: dict[str, Any], train: RatingDataset, valid: RatingDataset,
    metric: str, patience: int, n_jobs: int,
) -> dict[str, Any]:
    """One configuration on one split, with early stopping on the validation set."""
    model = clone(estimator, {**params, "patience": patience}, n_jobs)
    started = time.perf_counter()
    try:
        model.fit_ratings(train, validation=valid)
        score = evaluate(model, valid, metrics=(metric,))[metric]
        epochs = model.best_epoch_ or model.n_epochs_
        error = None
    except (DivergenceError, ValueError, TypeError) as exc:
        score, epochs, error = math.inf, 0, str(exc)
    return {"score": score, "epochs": epochs, "seconds": time.perf_counter() - started, "error": error}


class _Search:
    """Shared machinery of :class:`GridSearch` and :class:`RandomSearch`."""

    def __init__(
        self, estimator: Any, *, cv: Any = None, validation: float = 0.1, metric: str = "rmse",
        patience: int = 5, n_jobs: int | None = None, refit: bool = True, random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.cv = cv
        self.validation = validation
        self.metric = metric
        self.patience = patience
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state

    def _candidates(self) -> list[dict[str, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, data: Any) -> "_Search":
        """Score every candidate and refit the best on all the data.

        Parameters
        ----------
        data : RatingDataset, DataFrame or tuple
            The ratings.

        Returns
        -------
        self
            With ``best_params_``, ``best_score_``, ``results_`` (a list of
            dicts, one per candidate: the parameters, ``mean_<metric>``,
            ``std_<metric>``, ``split_scores``, ``epochs``, ``seconds``,
            ``rank``, ``error``) and ``best_estimator_``.

        Raises
        ------
        ValueError
            For an unknown metric or parameter name, or when every candidate
            failed.
        """
        if self.metric not in ("rmse", "mae"):
            raise ValueError(f"metric must be 'rmse' or 'mae' (lower is better), got {self.metric!r}")
        valid_names = set(self.estimator.get_params())
        candidates = self._candidates()
        for params in candidates:
            unknown = set(params) - valid_names
            if unknown:
                raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {type(self.estimator).__name__}")
        data = as_dataset(data)
        if self.cv is not None:
            splits = list(folds_of(self.cv, self.random_state).split(data))
        else:
            splits = [train_test_split(data, self.validation, random_state=self.random_state)]
        jobs = n_workers(self.n_jobs)
        tasks = [
            (c, s, lambda p=params, tr=tr, va=va: _fit_and_score(self.estimator, p, tr, va, self.metric, self.patience, jobs))
            for c, params in enumerate(candidates) for s, (tr, va) in enumerate(splits)
        ]
        outcomes = run_all([t[2] for t in tasks], jobs)
        results = []
        for c, params in enumerate(candidates):
            runs = [o for (ci, _, _), o in zip(tasks, outcomes) if ci == c]
            scores = np.array([r["score"] for r in runs])
            errors = [r["error"] for r in runs if r["error"]]
            results.append({
                **params,
                f"mean_{self.metric}": float(np.mean(scores)),
                f"std_{self.metric}": float(np.std(scores)) if np.isfinite(scores).all() else math.inf,
                "split_scores": scores.tolist(),
                "epochs": int(round(np.mean([r["epochs"] for r in runs]))),
                "seconds": float(sum(r["seconds"] for r in runs)),
                "error": errors[0] if errors else None,
            })
        means = np.array([r[f"mean_{self.metric}"] for r in results])
        if not np.isfinite(means).any():
            raise ValueError(f"every candidate failed; the first error: {results[0]['error']}")
        for rank, idx in enumerate(np.argsort(means, kind="stable"), 1):
            results[idx]["rank"] = rank
        best = int(np.argmin(means))
        self.results_ = results
        self.best_params_ = dict(candidates[best])
        self.best_score_ = float(means[best])
        self.best_epochs_ = max(1, results[best]["epochs"])
        if self.refit:
            self.best_estimator_ = refit_best(self.estimator, self.best_params_, self.best_epochs_, data)
        return self


class GridSearch(_Search):
    """Exhaustive search over a grid of parameters, with early stopping.

    Every configuration is fitted with ``patience``-epoch early stopping on
    held-out data (each fold of ``cv``, or a random ``validation`` fraction),
    so a poor configuration stops as soon as its validation error stops
    improving. The best one is refitted on all the data for the number of
    epochs early stopping found best.

    Parameters
    ----------
    estimator : MatrixFactorization
        Template; its other parameters are kept.
    param_grid : dict of list, or list of such dicts
        Parameter names mapped to the values to try.
    cv : int, KFold, PredefinedFolds or list of (train, test) pairs, optional
        Cross-validate (or score on the pairs given, such as
        ``[temporal_split(data)]``); otherwise one random validation split.
    validation : float, default 0.1
        Fraction held out when ``cv`` is None.
    metric : {"rmse", "mae"}, default "rmse"
        What to minimise.
    patience : int, default 5
        Early-stopping patience in epochs.
    n_jobs : int, optional
        Fits run in this many threads (-1: one per core).
    refit : bool, default True
        Fit the best configuration on all the data (``best_estimator_``).
    random_state : int, Generator or None
        Seed of the splits.

    Examples
    --------
    >>> search = GridSearch(MatrixFactorization(), {"n_factors": [32, 64],
    ...                     "regularization": [0.05, 0.1]}, n_jobs=-1)  # doctest: +SKIP
    >>> search.fit(data).best_params_                                    # doctest: +SKIP
    """

    def __init__(self, estimator: Any, param_grid: Any, **kwargs: Any) -> None:
        super().__init__(estimator, **kwargs)
        self.param_grid = param_grid

    def _candidates(self) -> list[dict[str, Any]]:
        grids = self.param_grid if isinstance(self.param_grid, (list, tuple)) else [self.param_grid]
        out = []
        for grid in grids:
            if not isinstance(grid, dict) or not grid:
                raise TypeError("param_grid must be a non-empty dict of lists (or a list of such dicts)")
            names = list(grid)
            for name in names:
                if isinstance(grid[name], (str, bytes)) or not hasattr(grid[name], "__iter__"):
                    raise TypeError(f"param_grid[{name!r}] must be a list of values, got {grid[name]!r}")
            out.extend(dict(zip(names, values)) for values in itertools.product(*(list(grid[n]) for n in names)))
        return out


class RandomSearch(_Search):
    """Random search over parameter distributions, with early stopping.

    Parameters
    ----------
    estimator : MatrixFactorization
        Template.
    param_distributions : dict
        Parameter names mapped to a list (sampled uniformly), an object with
        an ``rvs(random_state=...)`` method (a ``scipy.stats`` distribution
        such as ``loguniform(1e-3, 1e-1)``) or a callable taking a NumPy
        Generator.
    n_iter : int, default 20
        Number of configurations.
    **kwargs
        As for :class:`GridSearch` (``cv``, ``validation``, ``metric``,
        ``patience``, ``n_jobs``, ``refit``, ``random_state``).
    """

    def __init__(self, estimator: Any, param_distributions: dict[str, Any], n_iter: int = 20, **kwargs: Any) -> None:
        super().__init__(estimator, **kwargs)
        self.param_distributions = param_distributions
        self.n_iter = n_iter

    def _candidates(self) -> list[dict[str, Any]]:
        if not isinstance(self.param_distributions, dict) or not self.param_distributions:
            raise TypeError("param_distributions must be a non-empty dict")
        if not is_integer(self.n_iter) or self.n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {self.n_iter!r}")
        rng = np.random.default_rng(self.random_state)
        return [{name: sample(dist, rng) for name, dist in self.param_distributions.items()} for _ in range(self.n_iter)]
