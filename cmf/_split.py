"""Splitting ratings into a training and a test set, or into folds.

Kept below :mod:`cmf.model_selection` (which re-exports
:func:`train_test_split` and :class:`KFold`) so that the estimator, which
splits off validation data in ``fit_ratings``, and the searches can use
them without importing the machinery built on top of the estimator.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from cmf._checks import is_integer
from cmf._dataset import RatingDataset, as_dataset

__all__ = ["KFold", "folds_of", "train_test_split"]


def _n_test(test_size: Any, n: int) -> int:
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError("test_size must be a fraction or a count, not a bool")
    if is_integer(test_size):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = int(round(test_size * n))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size={test_size!r} leaves {n_test} of {n} ratings for testing; need 1 to {n - 1}")
    return n_test


def train_test_split(
    data: Any,
    test_size: float | int = 0.2,
    *,
    leave_k_out: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> tuple[RatingDataset, RatingDataset]:
    """Split ratings into a training and a test set.

    Random split: ``perm = default_rng(random_state).permutation(n)``; the
    first ``n - n_test`` positions of ``perm`` are the training rows and the
    rest the test rows, in that order. With ``random_state=0`` and
    ``test_size=0.2`` on MovieLens 100K this is the benchmark split.

    Per-user leave-k-out (``leave_k_out=k``): ``k`` random ratings of every
    user who has more than ``k`` go to the test set; users with ``k`` or
    fewer ratings stay wholly in training.

    Parameters
    ----------
    data : RatingDataset, DataFrame or tuple
        The ratings.
    test_size : float or int, default 0.2
        Fraction (or number) of ratings to test on; ignored with
        ``leave_k_out``.
    leave_k_out : int, optional
        Hold out this many ratings per user instead.
    random_state : int, Generator or None
        Seed.

    Returns
    -------
    train, test : RatingDataset
        Both keep the full shape and labels, so a model fitted on ``train``
        can score ``test``.
    """
    data = as_dataset(data)
    rng = np.random.default_rng(random_state)
    n = len(data)
    if leave_k_out is None:
        perm = rng.permutation(n)
        cut = n - _n_test(test_size, n)
        return data.subset(perm[:cut]), data.subset(perm[cut:])
    if not is_integer(leave_k_out) or leave_k_out < 1:
        raise ValueError(f"leave_k_out must be a positive integer, got {leave_k_out!r}")
    # a random key per rating, sorted within each user: the first k are held out
    order = np.lexsort((rng.random(n), data.rows))
    rows = data.rows[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if n else np.zeros(0, int)
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    held = (rank < leave_k_out) & (np.repeat(counts, counts) > leave_k_out)
    if not held.any():
        raise ValueError(f"no user has more than {leave_k_out} ratings: nothing to hold out")
    return data.subset(np.sort(order[~held])), data.subset(np.sort(order[held]))


class KFold:
    """K-fold cross-validation over ratings.

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds, at least 2.
    shuffle : bool, default True
        Shuffle the ratings before cutting them into folds.
    random_state : int, Generator or None
        Seed of the shuffle.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: Any = None) -> None:
        if not is_integer(n_splits) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, random_state={self.random_state!r})"

    def get_n_splits(self) -> int:
        """Number of folds.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, data: Any) -> Iterator[tuple[RatingDataset, RatingDataset]]:
        """Yield ``(train, test)`` data sets, one per fold.

        Parameters
        ----------
        data : RatingDataset, DataFrame or tuple
            The ratings.

        Yields
        ------
        train, test : RatingDataset
            Every rating is in exactly one test set.
        """
        data = as_dataset(data)
        n = len(data)
        if n < self.n_splits:
            raise ValueError(f"cannot cut {n} ratings into {self.n_splits} folds")
        index = np.random.default_rng(self.random_state).permutation(n) if self.shuffle else np.arange(n)
        bounds = np.linspace(0, n, self.n_splits + 1).astype(np.int64)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            test = np.zeros(n, dtype=bool)
            test[index[lo:hi]] = True
            yield data.subset(~test), data.subset(test)


def folds_of(cv: Any, random_state: Any) -> KFold:
    """The folds that a ``cv`` argument asks for.

    Parameters
    ----------
    cv : int or KFold
        A number of folds or the folds themselves.
    random_state : int, Generator or None
        Seed of the shuffle when ``cv`` is a number.

    Returns
    -------
    KFold
    """
    if isinstance(cv, KFold):
        return cv
    if is_integer(cv):
        return KFold(int(cv), random_state=random_state)
    raise TypeError(f"cv must be a number of folds or a KFold, got {cv!r}")
