"""Full-catalogue ranking metrics, computed a block of users at a time.

For every test user the scorer's scores of the whole catalogue are ranked,
the user's training items left out, and each metric is read off the ranks
of the user's relevant test items. A block of users is scored, sorted and
dropped before the next, so memory holds a few ``block x n_items`` arrays,
never a users x items matrix. :func:`cmf.metrics.catalogue_metrics` is the
public entry point and defines the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from cmf._seen import SeenItems

__all__ = ["CatalogueData", "catalogue_data", "rank_catalogue"]

# Entries per block (users x items). A block holds about six arrays of this
# many 8-byte entries (scores, order, sorted scores, ranks, tie bounds), so
# 2**19 entries keep a block near 25 MB.
BLOCK_ENTRIES = 1 << 19

Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class CatalogueData:
    """What the ranking needs besides the scores.

    Attributes
    ----------
    seen : SeenItems
        Each user's training items (left out of their ranking).
    relevant : SeenItems
        Each user's relevant test items that are not training items.
    popularity : ndarray of float64, shape (n_items,)
        Training interactions per item.
    """

    seen: SeenItems
    relevant: SeenItems
    popularity: np.ndarray

    @property
    def n_items(self) -> int:
        """Catalogue size."""
        return len(self.popularity)


def catalogue_data(train: Any, test: Any, shape: tuple[int, int], threshold: float | None) -> CatalogueData:
    """Index the training and relevant test items by user.

    Parameters
    ----------
    train, test : RatingDataset
        Training and test interactions, indices within ``shape``.
    shape : tuple of int
        ``(n_users, n_items)`` of the scorer.
    threshold : float or None
        A test rating at least this is relevant; None: every test interaction.

    Returns
    -------
    CatalogueData
        A test item the user also has in training is not relevant: it is
        not a candidate, as the protocol leaves training items out.
    """
    n_items = shape[1]
    seen = SeenItems.from_pairs(train.rows, train.cols, shape)
    keep = np.ones(len(test.values), dtype=bool) if threshold is None else test.values >= threshold
    rows, cols = test.rows[keep], test.cols[keep]
    known = seen.rows().astype(np.int64) * n_items + seen.indices  # sorted, one per pair
    codes = rows.astype(np.int64) * n_items + cols
    at = np.minimum(np.searchsorted(known, codes), max(len(known) - 1, 0))
    fresh = known[at] != codes if len(known) else np.ones(len(codes), dtype=bool)
    relevant = SeenItems.from_pairs(rows[fresh], cols[fresh], shape)
    return CatalogueData(seen, relevant, np.bincount(train.cols, minlength=n_items).astype(np.float64))


def rank_catalogue(score: Scorer, data: CatalogueData, *, k: int, batch_size: int | None = None) -> dict[str, float]:
    """The metrics of :func:`cmf.metrics.catalogue_metrics` for one scorer.

    Parameters
    ----------
    score : callable
        ``score(users)`` returns the ``(len(users), n_items)`` scores of a
        block of user indices (higher is better).
    data : CatalogueData
        Training items, relevant test items and item popularity.
    k : int
        Cut-off.
    batch_size : int, optional
        Users per block (default: about ``2**19 / n_items``).

    Returns
    -------
    dict
        Metric name to value (see :func:`cmf.metrics.catalogue_metrics`).
    """
    n_items = data.n_items
    n_rel = np.diff(data.relevant.indptr)
    users = np.flatnonzero(n_rel > 0)
    step = batch_size or max(1, BLOCK_ENTRIES // max(n_items, 1))
    per_user = np.zeros((6, len(users)))  # precision, recall, ndcg, map, mrr, hit
    auc = np.full(len(users), np.nan)
    shown = np.zeros(n_items, dtype=bool)
    slots, slot_popularity = 0, 0.0
    for start in range(0, len(users), step):
        block = users[start:start + step]
        ranked = _rank_block(score, block, data, k)
        per_user[:, start:start + len(block)] = ranked.metrics
        auc[start:start + len(block)] = ranked.auc
        shown[ranked.top] = True
        slots += len(ranked.top)
        slot_popularity += float(data.popularity[ranked.top].sum())
    means = per_user.mean(axis=1) if len(users) else np.full(6, np.nan)
    has_auc = np.isfinite(auc)
    return {
        "precision": float(means[0]), "recall": float(means[1]), "ndcg": float(means[2]),
        "map": float(means[3]), "mrr": float(means[4]), "hit_rate": float(means[5]),
        "auc": float(auc[has_auc].mean()) if has_auc.any() else float("nan"),
        "coverage": float(shown.sum() / n_items) if len(users) else float("nan"),
        "popularity": slot_popularity / slots if slots else float("nan"),
        "users": len(users), "skipped_users": len(n_rel) - len(users),
    }


@dataclass(frozen=True, eq=False)
class _Ranked:
    metrics: np.ndarray  # (6, block): precision, recall, ndcg, map, mrr, hit
    auc: np.ndarray      # (block,), NaN where every candidate is relevant
    top: np.ndarray      # the items of the block's top-k lists, concatenated


def _rank_block(score: Scorer, block: np.ndarray, data: CatalogueData, k: int) -> _Ranked:
    n_items = data.n_items
    scores = np.array(score(block), dtype=np.float64)  # a copy: the seen items are overwritten
    if scores.shape != (len(block), n_items):
        raise ValueError(f"the scorer returned shape {scores.shape} for {len(block)} users; "
                         f"expected ({len(block)}, {n_items}), one score per item")
    if not np.all(np.isfinite(scores)):
        raise ValueError("the scorer returned NaN or infinite scores; check the model or the scoring function")
    seen_rows, seen_cols = _pairs(data.seen, block)
    scores[seen_rows, seen_cols] = -np.inf  # after every candidate, since candidates are finite
    n_cand = n_items - np.diff(data.seen.indptr)[block]
    # Best first; ties broken by the smaller item index (a stable sort), as recommend does.
    order = np.argsort(-scores, axis=1, kind="stable")
    ordered = np.take_along_axis(scores, order, axis=1)
    position = np.broadcast_to(np.arange(n_items), scores.shape)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, position, axis=1)
    rows, cols = _pairs(data.relevant, block)
    r = rank[rows, cols]
    first, after = _tie_bounds(ordered, rows, r)
    top = order[:, :k][position[:, :k] < n_cand[:, None]]
    return _Ranked(_ranking_metrics(rows, r, len(block), k), _auc(rows, (first + after - 1) / 2.0, n_cand),
                   top)


def _pairs(csr: SeenItems, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in block, item) of every entry of the block's users."""
    counts = csr.indptr[block + 1] - csr.indptr[block]
    total = int(counts.sum())
    starts = np.repeat(csr.indptr[block] - np.cumsum(counts) + counts, counts)
    return np.repeat(np.arange(len(block)), counts), csr.indices[starts + np.arange(total)]


def _tie_bounds(ordered: np.ndarray, rows: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First position of the tie group at position ``r`` of row ``rows``, and one past its last.

    Tied scores stand next to each other in a sorted row, so a group starts
    where the value changes: a running maximum of those starts gives every
    position its group's first, a running minimum from the right its end.
    """
    n = ordered.shape[1]
    position = np.arange(n)
    starts = np.ones(ordered.shape, dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    ends = np.ones(ordered.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    after = np.minimum.accumulate(np.where(ends, position + 1, n)[:, ::-1], axis=1)[:, ::-1]
    return first[rows, r], after[rows, r]


def _ranking_metrics(rows: np.ndarray, r: np.ndarray, n: int, k: int) -> np.ndarray:
    """Per-user precision, recall, NDCG, MAP (all @k), reciprocal rank and hit, from relevant ranks."""
    order = np.lexsort((r, rows))
    rows, r = rows[order], r[order]
    n_rel = np.bincount(rows, minlength=n)
    first = np.r_[0, np.cumsum(n_rel)[:-1]]
    nth = np.arange(len(r)) - first[rows] + 1  # 1-based order of each relevant item within its user
    inside = r < k
    hits = np.bincount(rows, weights=inside, minlength=n)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = np.bincount(rows, weights=np.where(inside, discount[np.minimum(r, k - 1)], 0.0), minlength=n)
    idcg = np.cumsum(discount)[np.minimum(n_rel, k) - 1]
    ap = np.bincount(rows, weights=np.where(inside, nth / (r + 1.0), 0.0), minlength=n) / np.minimum(n_rel, k)
    rr = 1.0 / (r[first] + 1.0)
    return np.stack([hits / k, hits / n_rel, dcg / idcg, ap, rr, hits > 0])


def _auc(rows: np.ndarray, mid: np.ndarray, n_cand: np.ndarray) -> np.ndarray:
    """Per-user AUC from each relevant item's mid-rank among the candidates (ties count half)."""
    n_pos = np.bincount(rows, minlength=len(n_cand)).astype(np.float64)
    n_neg = n_cand - n_pos
    # sum of mid-ranks = negatives ranked above positives (+ half the ties) + the positive pairs
    above = np.bincount(rows, weights=mid, minlength=len(n_cand)) - n_pos * (n_pos - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_neg > 0, 1.0 - above / (n_pos * n_neg), np.nan)
