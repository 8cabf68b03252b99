"""Early stopping of :class:`cmf.BPR` on held-out interactions, by NDCG@k of the full catalogue.

A ranking loss does not say when the ranking stops improving, so every
``check_every`` epochs the current factors rank each validation user's
catalogue (training items left out, as :func:`cmf.metrics.catalogue_metrics`
ranks it) and the fit ends once ``patience`` epochs have passed without a
better NDCG@k; the factors of the best check are put back.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cmf._catalogue import CatalogueData, catalogue_data
from cmf._checks import integer
from cmf._dataset import RatingDataset, as_dataset
from cmf._ranking import SCORE_BLOCK, ranges, top_k
from cmf._seen import SeenItems
from cmf._split import train_test_split

__all__ = ["EarlyStopping", "Stop", "ranking_data", "split_validation"]


def split_validation(data: RatingDataset, validation: Any, seed: Any, *, k: int, patience: int,
                     check_every: int) -> tuple[RatingDataset, dict[str, Any] | None]:
    """The training part and the early-stopping settings (None without ``validation``), checked.

    ``validation`` is held-out data of the same users and items, or a
    fraction of ``data`` to hold out at random (seeded by ``seed``).
    """
    if validation is None:
        return data, None
    if isinstance(validation, float):
        data, validation = train_test_split(data, validation, random_state=seed)
    validation = as_dataset(validation)
    if validation.shape != data.shape:
        raise ValueError(f"validation must hold the same users and items as data (a split of the same data set), "
                         f"got shape {validation.shape} for {data.shape}")
    return data, {"valid": validation, "k": integer(k, "k", 1), "patience": integer(patience, "patience", 1),
                  "check_every": integer(check_every, "check_every", 1)}


def ranking_data(positives: SeenItems, shape: tuple[int, int], threshold: float | None,
                 settings: dict[str, Any]) -> tuple[CatalogueData, int, int, int]:
    """The arguments of :class:`EarlyStopping` after the state: the ranking's data, ``k``, ``patience``, ``check_every``.

    Each validation user's candidates are the items that are not among the
    user's positives (those :meth:`cmf.BPR.recommend` leaves out).
    """
    known = RatingDataset(positives.rows(), positives.indices, np.ones(len(positives.indices)), shape)
    data = catalogue_data(known, settings["valid"], shape, threshold)
    return data, settings["k"], settings["patience"], settings["check_every"]


class Stop(Exception):
    """Raised from the epoch callback to end the epochs."""


class EarlyStopping:
    """The epoch callback of a BPR fit with validation data: it scores, keeps the best factors, and stops.

    Parameters
    ----------
    state : PairwiseState
        The factors being trained (changed in place by the epochs).
    data : CatalogueData
        Training items per user and the relevant validation items.
    k, patience, check_every : int
        Cut-off of NDCG@k; epochs without a better score before stopping;
        epochs between scores.
    """

    def __init__(self, state: Any, data: CatalogueData, k: int, patience: int, check_every: int) -> None:
        self.state, self.data = state, data
        self.k, self.patience, self.check_every = k, patience, check_every
        self.records: list[dict[str, float]] = []
        self.best, self.best_epoch, self.saved = -math.inf, 0, None

    def __call__(self, record: dict[str, float]) -> None:
        epoch = int(record["epoch"])
        self.records.append({**record, "val_ndcg": math.nan})
        if epoch % self.check_every:
            return
        score = ndcg(self.state, self.data, self.k)
        self.records[-1]["val_ndcg"] = score
        if score > self.best:
            self.best, self.best_epoch = score, epoch
            self.saved = (self.state.P.copy(), self.state.Q.copy(), self.state.c.copy())
        elif epoch - self.best_epoch >= self.patience:
            raise Stop

    def history(self) -> dict[str, list[float]]:
        """Every epoch run: ``epoch``, ``correct``, ``skipped`` and ``val_ndcg`` (NaN between checks)."""
        keys = ("epoch", "correct", "skipped", "val_ndcg")
        return {key: [float(r[key]) for r in self.records] for key in keys}

    def restore(self) -> int:
        """Put the best check's factors back in the state; return its epoch (that of the last epoch without one)."""
        if self.saved is None:
            return len(self.records)
        for target, best in zip((self.state.P, self.state.Q, self.state.c), self.saved):
            np.copyto(target, best)
        return self.best_epoch


def ndcg(state: Any, data: CatalogueData, k: int) -> float:
    """NDCG@k of :func:`cmf.metrics.catalogue_metrics` for the scores ``P Q' + c``, from each user's top k only.

    The full ranking that the other metrics need (MRR, AUC) is not
    computed: a block of users' scores, their training items set to
    -inf, and the k best of the rest (ties to the smaller index, as there).
    """
    P, Q, c = (np.asarray(a, dtype=np.float64) for a in (state.P, state.Q, state.c))
    n_items, seen, relevant = data.n_items, data.seen, data.relevant
    n_relevant = np.diff(relevant.indptr)
    users = np.flatnonzero(n_relevant > 0)
    k = min(k, n_items)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)
    total = 0.0
    for start in range(0, len(users), max(1, SCORE_BLOCK // max(n_items, 1))):
        block = users[start:start + max(1, SCORE_BLOCK // max(n_items, 1))]
        scores = P[block] @ Q.T + c
        row = np.arange(len(block))
        counts = seen.indptr[block + 1] - seen.indptr[block]
        scores[np.repeat(row, counts), seen.indices[ranges(seen.indptr[block], counts)]] = -np.inf
        top, values = top_k(scores, k)
        counts = n_relevant[block]
        wanted = np.repeat(row, counts) * n_items + relevant.indices[ranges(relevant.indptr[block], counts)]
        hit = np.isin(row[:, None] * n_items + top, wanted) & np.isfinite(values)
        total += float(((hit * discount).sum(axis=1) / ideal[np.minimum(counts, k) - 1]).sum())
    return total / len(users) if len(users) else math.nan
