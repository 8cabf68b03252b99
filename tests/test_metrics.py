"""Metrics against hand-computed cases."""

import math

import numpy as np
import pytest

from cmf.metrics import mae, ndcg_at_k, precision_at_k, ranking_metrics, recall_at_k, rmse


def test_rmse_and_mae_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse(3.0, 3.0) == 0.0


@pytest.mark.parametrize("fn", [rmse, mae])
def test_error_metrics_reject_bad_input(fn):
    with pytest.raises(ValueError, match="same length"):
        fn([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="finite"):
        fn([1, np.nan], [1, 2])


# Two users. User "a": four test items, true ratings 5, 2, 4, 1 and
# predictions 4.5, 4.0, 3.0, 1.0, so the ranking by prediction is
# items 0, 1, 2, 3 and relevant (>= 3.5) items are 0 and 2.
# User "b": two test items, true 1 and 5, predicted 5 and 2: ranked 0, 1,
# relevant only item 1.
USERS = ["a", "a", "a", "a", "b", "b"]
TRUE = [5, 2, 4, 1, 1, 5]
PRED = [4.5, 4.0, 3.0, 1.0, 5.0, 2.0]


def test_precision_at_2_by_hand():
    # a: top-2 = items 0, 1 -> 1 hit of 2; b: top-2 = both -> 1 hit of 2
    assert precision_at_k(USERS, TRUE, PRED, k=2) == pytest.approx((0.5 + 0.5) / 2)


def test_recall_at_2_by_hand():
    # a: 1 of 2 relevant found; b: 1 of 1
    assert recall_at_k(USERS, TRUE, PRED, k=2) == pytest.approx((0.5 + 1.0) / 2)


def test_ndcg_at_2_by_hand():
    # a: hit at rank 1 -> DCG 1; ideal: two hits 1 + 1/log2(3)
    # b: hit at rank 2 -> DCG 1/log2(3); ideal: 1
    a = 1 / (1 + 1 / math.log2(3))
    b = 1 / math.log2(3)
    assert ndcg_at_k(USERS, TRUE, PRED, k=2) == pytest.approx((a + b) / 2)


def test_precision_divides_by_items_ranked_when_fewer_than_k():
    # k=10 but b has 2 items: precision 1/2; a has 4 items with 2 relevant: 2/4
    assert precision_at_k(USERS, TRUE, PRED, k=10) == pytest.approx((0.5 + 0.5) / 2)
    assert recall_at_k(USERS, TRUE, PRED, k=10) == pytest.approx(1.0)


def test_threshold_changes_relevance():
    # threshold 5: a relevant {0}, found at rank 1; b relevant {1}, found at rank 2 (k=1: missed)
    out = ranking_metrics(USERS, TRUE, PRED, k=1, threshold=5)
    assert out["precision"] == pytest.approx((1 + 0) / 2)
    assert out["recall"] == pytest.approx((1 + 0) / 2)
    assert out["ndcg"] == pytest.approx((1 + 0) / 2)
    assert out["users"] == 2


def test_users_without_relevant_items_are_left_out_of_recall_and_ndcg():
    out = ranking_metrics(["a", "a", "b"], [5, 1, 1], [1.0, 2.0, 3.0], k=1)
    # a: top-1 is item 1 (irrelevant) -> precision 0, recall 0, ndcg 0; b: no relevant item
    assert out["precision"] == 0.0 and out["recall"] == 0.0 and out["ndcg"] == 0.0
    none = ranking_metrics(["a"], [1], [1.0], k=1)
    assert math.isnan(none["recall"]) and math.isnan(none["ndcg"])


def test_ties_keep_input_order():
    out = ranking_metrics([0, 0], [1, 5], [3.0, 3.0], k=1)
    assert out["precision"] == 0.0  # the first of the tied items is ranked first


def test_ranking_matches_a_per_user_loop_on_random_data():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 20, 500)
    true = rng.integers(1, 6, 500).astype(float)
    pred = true + rng.normal(0, 1.5, 500)
    k = 5
    precision, recall, ndcg = [], [], []
    for u in np.unique(users):
        sel = np.flatnonzero(users == u)
        order = sel[np.argsort(-pred[sel], kind="stable")]
        top = order[:k]
        rel = true[order] >= 3.5
        hits = np.sum(true[top] >= 3.5)
        precision.append(hits / len(top))
        if rel.any():
            recall.append(hits / rel.sum())
            dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top) if true[i] >= 3.5)
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, rel.sum())))
            ndcg.append(dcg / idcg)
    out = ranking_metrics(users, true, pred, k=k)
    assert out["precision"] == pytest.approx(np.mean(precision))
    assert out["recall"] == pytest.approx(np.mean(recall))
    assert out["ndcg"] == pytest.approx(np.mean(ndcg))


def test_ranking_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        ranking_metrics([0], [1], [1], k=0)
    with pytest.raises(ValueError, match="one entry per rating"):
        ranking_metrics([0, 1], [1], [1])
