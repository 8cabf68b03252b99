"""The pieces every hyperparameter search shares: copies of an estimator, threads, sampling.

:class:`cmf.model_selection.GridSearch`, :class:`~cmf.model_selection.RandomSearch`
and :func:`cmf.model_selection.tune` all fit many copies of one template
estimator, in parallel threads, and refit the winner on all the data. Those
steps live here, below both, so that neither search module imports the
other.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from cmf._checks import is_integer
from cmf._dataset import RatingDataset
from cmf._train.interrupt import cancelled_by
from cmf.exceptions import ConvergenceWarning

__all__ = ["clone", "n_workers", "refit_best", "run_all", "sample"]


def clone(estimator: Any, params: dict[str, Any], n_jobs: int) -> Any:
    """A new, unfitted estimator with ``estimator``'s parameters updated by ``params``.

    Parameters
    ----------
    estimator : MatrixFactorization
        The template.
    params : dict
        Parameters to change.
    n_jobs : int
        Fits that will run at once; above 1 each copy trains with one
        thread unless ``params`` says otherwise, so that the parallelism is
        over fits, not inside each.

    Returns
    -------
    MatrixFactorization
    """
    merged = {**estimator.get_params(), **params}
    if n_jobs > 1 and "n_threads" in merged and "n_threads" not in params:
        merged["n_threads"] = 1
    return type(estimator)(**merged)


def n_workers(n_jobs: int | None) -> int:
    """The number of threads that ``n_jobs`` asks for.

    Parameters
    ----------
    n_jobs : int or None
        A positive count, -1 for one per core, or None for one.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For anything else.
    """
    if n_jobs is None:
        return 1
    if n_jobs == -1:
        return os.cpu_count() or 1
    if not is_integer(n_jobs) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 (all cores) or None, got {n_jobs!r}")
    return int(n_jobs)


def run_all(tasks: list[Callable[[], Any]], n_jobs: int) -> list[Any]:
    """Run callables, in threads when ``n_jobs > 1``, and return their results in order.

    The SGD epoch runs in C with the GIL released, so threads use several
    cores while sharing the rating arrays without copying them. Convergence
    warnings are silenced: early stopping and epoch caps are intended here.

    When the calling thread gets ``KeyboardInterrupt`` (Ctrl-C) or a task
    fails, the tasks not started are dropped and the fits running in the
    threads stop at their next safe point (within a fraction of a second,
    see :func:`cmf._train.interrupt.cancelled_by`); then the exception is
    raised again.

    Parameters
    ----------
    tasks : list of callable
        Functions of no argument.
    n_jobs : int
        Threads at most.

    Returns
    -------
    list
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if n_jobs == 1 or len(tasks) == 1:
            return [task() for task in tasks]
        cancel = threading.Event()

        def cancellable(task: Callable[[], Any]) -> Any:
            with cancelled_by(cancel):
                return task()

        pool = ThreadPoolExecutor(max_workers=min(n_jobs, len(tasks)))
        try:
            futures = [pool.submit(cancellable, task) for task in tasks]
            return [future.result() for future in futures]
        except BaseException:
            cancel.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def sample(dist: Any, rng: np.random.Generator) -> Any:
    """One value drawn from a search-space entry.

    Parameters
    ----------
    dist : list, scipy.stats distribution or callable
        A non-empty list (drawn uniformly), an object with an
        ``rvs(random_state=...)`` method, or a function of a Generator.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    object
        A Python scalar where the draw was a NumPy one.

    Raises
    ------
    TypeError
        For any other ``dist``.
    """
    if hasattr(dist, "rvs"):
        value = dist.rvs(random_state=rng)
    elif callable(dist):
        value = dist(rng)
    elif isinstance(dist, (list, tuple)) and dist:
        value = dist[int(rng.integers(len(dist)))]
    else:
        raise TypeError(f"a distribution must be a non-empty list, a scipy.stats distribution or a callable, got {dist!r}")
    return value.item() if isinstance(value, np.generic) else value


def refit_best(estimator: Any, params: dict[str, Any], epochs: int, data: RatingDataset) -> Any:
    """Fit the chosen parameters on all the data for the epochs early stopping found best.

    Parameters
    ----------
    estimator : MatrixFactorization
        The template.
    params : dict
        The chosen parameters.
    epochs : int
        Epochs to train (no early stopping: there is no held-out data).
    data : RatingDataset
        All the ratings.

    Returns
    -------
    MatrixFactorization
        Fitted.
    """
    model = clone(estimator, {**params, "max_epochs": epochs, "patience": None}, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit_ratings(data)
