"""Full-catalogue ranking metrics: a hand-computed case, a brute-force reference, baselines, evaluate and the CLI.

The reference (:func:`reference`) holds the whole users x items score
matrix and follows each metric's definition user by user in plain Python;
the block engine must agree with it at every block size.
"""

import json
import math

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf.cli import main
from cmf.io import load_ratings
from cmf.metrics import BASELINES, CATALOGUE_METRICS, catalogue_metrics
from cmf.model_selection import KFold, evaluate, train_test_split

pytestmark = pytest.mark.filterwarnings("ignore::cmf.ConvergenceWarning")  # short fits, on purpose

L3 = 1.0 / math.log2(3.0)  # the NDCG discount of rank 2


def reference(S, train, test, k, threshold=None):
    """Every metric by its definition, from the full score matrix ``S`` (users x items)."""
    n_users, n_items = S.shape
    tr_rows, tr_cols = np.asarray(train[0]), np.asarray(train[1])
    te_rows, te_cols, te_vals = (np.asarray(a) for a in test[:3])
    popularity = np.bincount(tr_cols, minlength=n_items)
    per_user, aucs, tops = [], [], []
    for u in range(n_users):
        seen = set(tr_cols[tr_rows == u].tolist())
        cand = [i for i in range(n_items) if i not in seen]
        rel = {int(i) for i, v in zip(te_cols[te_rows == u], te_vals[te_rows == u])
               if (threshold is None or v >= threshold) and i not in seen}
        if not rel:
            continue
        ranking = sorted(cand, key=lambda i: (-S[u, i], i))
        top = ranking[:k]
        tops.append(top)
        hits = [j for j, i in enumerate(top) if i in rel]
        dcg = sum(1.0 / math.log2(j + 2) for j in hits)
        idcg = sum(1.0 / math.log2(j + 2) for j in range(min(k, len(rel))))
        ap = sum((n + 1) / (j + 1) for n, j in enumerate(hits)) / min(k, len(rel))
        first = next(j for j, i in enumerate(ranking) if i in rel)
        per_user.append([len(hits) / k, len(hits) / len(rel), dcg / idcg, ap, 1.0 / (first + 1), float(bool(hits))])
        neg = [i for i in cand if i not in rel]
        if neg:
            wins = sum(1.0 if S[u, p] > S[u, n] else 0.5 if S[u, p] == S[u, n] else 0.0 for p in rel for n in neg)
            aucs.append(wins / (len(rel) * len(neg)))
    means = np.mean(per_user, axis=0)
    slots = [i for top in tops for i in top]
    return {"precision": means[0], "recall": means[1], "ndcg": means[2], "map": means[3], "mrr": means[4],
            "hit_rate": means[5], "auc": np.mean(aucs) if aucs else float("nan"),
            "coverage": len(set(slots)) / n_items, "popularity": np.mean(popularity[slots]),
            "users": len(per_user), "skipped_users": n_users - len(per_user)}


def assert_same(got, want):
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), name


# ----------------------------------------------------------------------
# A 4-user example, computed by hand
# ----------------------------------------------------------------------
# Six items. Scores per user (higher first):
S4 = np.array([
    [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # user 0: item 0 best ... item 5 worst
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # user 1: the reverse
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # user 2: all tied (ranked by item index)
    [0.3, 0.1, 0.4, 0.1, 0.5, 0.9],  # user 3: has no test item
])
# Training: user 0 item 0; user 1 items 4, 5; user 2 item 1; user 3 items 1, 2, 3.
TRAIN4 = (np.array([0, 1, 1, 2, 3, 3, 3]), np.array([0, 4, 5, 1, 1, 2, 3]), np.ones(7), (4, 6))
# Test (ratings): user 0 items 2 (rated 2) and 5 (rated 5); user 1 item 3 (rated 4) and item 5, which
# user 1 also has in training (not a candidate, so never relevant); user 2 item 4 (rated 3).
TEST4 = (np.array([0, 0, 1, 1, 2]), np.array([2, 5, 3, 5, 4]), np.array([2.0, 5.0, 4.0, 5.0, 3.0]), (4, 6))


def test_four_users_by_hand():
    got = catalogue_metrics(lambda users: S4[users], TRAIN4, TEST4, k=2)
    # user 0: candidates ranked 1, 2, 3, 4, 5; relevant {2, 5} at ranks 2 and 5; top-2 = {1, 2}, one hit.
    #   precision 1/2, recall 1/2, NDCG (1/log2 3) / (1 + 1/log2 3), AP (1/2) / min(2, 2) = 1/4, RR 1/2, hit 1,
    #   AUC: negatives {1, 3, 4}; item 2 beats 3 and 4, item 5 beats none: 2 of 6 pairs = 1/3.
    # user 1: candidates 3, 2, 1, 0 (ranks 1-4); relevant {3} at rank 1; top-2 = {3, 2}.
    #   precision 1/2, recall 1, NDCG 1, AP 1/1 = 1, RR 1, hit 1, AUC 3 of 3 = 1.
    # user 2: candidates 0, 2, 3, 4, 5 (ties: by index); relevant {4} at rank 4; top-2 = {0, 2}.
    #   precision 0, recall 0, NDCG 0, AP 0, RR 1/4, hit 0, AUC: tied with all 4 negatives, 4 halves / 4 = 1/2.
    # user 3: no test item: skipped.
    assert got["users"] == 3 and got["skipped_users"] == 1
    assert got["precision"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert got["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert got["ndcg"] == pytest.approx((L3 / (1 + L3) + 1 + 0) / 3)
    assert got["map"] == pytest.approx((1 / 4 + 1 + 0) / 3)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 4) / 3)
    assert got["hit_rate"] == pytest.approx(2 / 3)
    assert got["auc"] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)
    # top-2 lists {1, 2}, {3, 2}, {0, 2}: items 0-3 of 6 shown.
    assert got["coverage"] == pytest.approx(4 / 6)
    # training counts: item 0: 1, item 1: 2 (users 2, 3), item 2: 1, item 3: 1; slots (2 + 1) + (1 + 1) + (1 + 1).
    assert got["popularity"] == pytest.approx(7 / 6)


def test_four_users_by_hand_with_a_threshold():
    got = catalogue_metrics(lambda users: S4[users], TRAIN4, TEST4, k=2, threshold=4)
    # Only ratings >= 4 are relevant: user 0 keeps item 5 (rank 5 of 5), user 1 item 3 (rank 1);
    # user 2's only test rating (3) is not relevant, so users 2 and 3 are skipped.
    # user 0: no hit; RR 1/5; AUC: item 5 below all 4 negatives = 0. user 1 as before.
    assert got["users"] == 2 and got["skipped_users"] == 2
    assert got["precision"] == pytest.approx((0 + 1 / 2) / 2)
    assert got["recall"] == pytest.approx((0 + 1) / 2)
    assert got["mrr"] == pytest.approx((1 / 5 + 1) / 2)
    assert got["auc"] == pytest.approx((0 + 1) / 2)
    assert got["coverage"] == pytest.approx(3 / 6)  # {1, 2} and {3, 2}


# ----------------------------------------------------------------------
# Against the brute-force reference
# ----------------------------------------------------------------------
def random_problem(seed, n_users=23, n_items=17, ties=False):
    rng = np.random.default_rng(seed)
    S = rng.integers(0, 4, (n_users, n_items)).astype(float) if ties else rng.normal(size=(n_users, n_items))
    rows, cols = np.nonzero(rng.random((n_users, n_items)) < 0.35)
    values = rng.integers(1, 6, len(rows)).astype(float)
    held = rng.random(len(rows)) < 0.3
    shape = (n_users, n_items)
    train = (rows[~held], cols[~held], values[~held], shape)
    test = (rows[held], cols[held], values[held], shape)
    return S, train, test


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_block_engine_matches_the_reference_at_every_block_size(ties, k):
    S, train, test = random_problem(k, ties=ties)
    want = reference(S, train, test, k)
    assert want["users"] > 15
    for batch_size in (1, 2, 5, 23, None):
        assert_same(catalogue_metrics(lambda users: S[users], train, test, k=k, batch_size=batch_size), want)


def test_threshold_matches_the_reference():
    S, train, test = random_problem(7, ties=True)
    want = reference(S, train, test, 5, threshold=4)
    assert_same(catalogue_metrics(lambda users: S[users], train, test, k=5, threshold=4, batch_size=3), want)


def _ranking_scores(model, counts, shrinkage):
    """mu + b_u + w_i (c_i + p_u . q_i), w_i = n_i / (n_i + shrinkage), in float64 from the public attributes."""
    weight = counts / (counts + shrinkage) if shrinkage else np.ones_like(counts)
    item_side = (model.user_factors_.astype(np.float64) @ model.item_factors_.T.astype(np.float64)
                 + model.item_bias_.astype(np.float64))
    return model.global_mean_ + model.user_bias_.astype(np.float64)[:, None] + weight * item_side


def test_a_fitted_model_is_ranked_as_recommend_ranks_it():
    S, train, test = random_problem(3, n_users=40, n_items=30)
    model = MatrixFactorization(n_factors=4, max_epochs=30, random_state=0).fit_triplets(*train[:3], shape=train[3])
    counts = np.bincount(train[1], minlength=train[3][1]).astype(np.float64)
    for shrinkage in (0.0, 25.0, 3.0):  # 0: the predicted ratings; 25: recommend's default
        want = reference(_ranking_scores(model, counts, shrinkage), train, test, 5)
        for batch_size in (1, 7, None):
            kwargs = {} if shrinkage == 25.0 else {"shrinkage": shrinkage}
            assert_same(catalogue_metrics(model, train, test, k=5, batch_size=batch_size, **kwargs), want)


def test_baselines_match_their_definitions():
    _, train, test = random_problem(11, n_users=30, n_items=20)
    rows, cols, values, (n_users, n_items) = train
    counts = np.bincount(cols, minlength=n_items).astype(float)
    assert_same(catalogue_metrics("most_popular", train, test, k=4),
                reference(np.tile(counts, (n_users, 1)), train, test, 4))
    # Koren's baseline, one rating at a time: item biases shrunk by 25, then user biases by 10.
    mu = values.mean()
    b_item = np.array([sum(values[cols == i] - mu) / (25 + np.sum(cols == i)) for i in range(n_items)])
    b_user = np.array([sum(values[rows == u] - mu - b_item[cols[rows == u]]) / (10 + np.sum(rows == u))
                       for u in range(n_users)])
    assert_same(catalogue_metrics("bias_only", train, test, k=4),
                reference(mu + b_user[:, None] + b_item[None, :], train, test, 4))


# ----------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------
def test_a_user_who_saw_every_item_is_skipped():
    # user 0 has every item in training (and item 1 again in test); user 1 has item 0 in training, item 2 in test.
    train = (np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0]), np.ones(4), (2, 3))
    test = (np.array([0, 1]), np.array([1, 2]), np.ones(2), (2, 3))
    got = catalogue_metrics(lambda users: np.tile([3.0, 2.0, 1.0], (len(users), 1)), train, test, k=5)
    assert got["users"] == 1 and got["skipped_users"] == 1
    # user 1: candidates 1, 2 (k = 5 is larger); item 2 at rank 2: precision 1/5 (divided by k), recall 1,
    # NDCG 1/log2(3), AP (1/2) / min(5, 1), RR 1/2, AUC 0 (below item 1); list {1, 2}, each trained by user 0 once.
    assert got["precision"] == pytest.approx(1 / 5)
    assert got["recall"] == 1.0 and got["hit_rate"] == 1.0 and got["auc"] == 0.0
    assert got["ndcg"] == pytest.approx(L3) and got["map"] == pytest.approx(1 / 2) and got["mrr"] == 0.5
    assert got["coverage"] == pytest.approx(2 / 3) and got["popularity"] == 1.0


def test_every_candidate_relevant_leaves_auc_undefined():
    train = (np.array([0]), np.array([0]), np.ones(1), (1, 3))
    test = (np.array([0, 0]), np.array([1, 2]), np.ones(2), (1, 3))
    got = catalogue_metrics(lambda users: np.tile([1.0, 2.0, 3.0], (len(users), 1)), train, test, k=2)
    assert got["precision"] == 1.0 and got["ndcg"] == pytest.approx(1.0) and math.isnan(got["auc"])


def test_no_user_to_score_gives_nan():
    train = (np.array([0, 1]), np.array([0, 1]), np.ones(2), (2, 2))
    test = (np.array([0]), np.array([0]), np.ones(1), (2, 2))  # a training pair again: not a candidate
    got = catalogue_metrics("most_popular", train, test)
    assert got["users"] == 0 and got["skipped_users"] == 2
    assert all(math.isnan(got[m]) for m in CATALOGUE_METRICS)


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    ({"k": 0}, ValueError, "k must be >= 1"),
    ({"k": 2.5}, TypeError, "k must be an integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"threshold": float("nan")}, ValueError, "threshold must be finite"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        catalogue_metrics("most_popular", TRAIN4, TEST4, **kwargs)


def test_bad_scorers_are_named():
    with pytest.raises(ValueError, match="unknown baseline 'random'; choose from most_popular, bias_only"):
        catalogue_metrics("random", TRAIN4, TEST4)
    with pytest.raises(TypeError, match="scorer must be a fitted model"):
        catalogue_metrics(42, TRAIN4, TEST4)
    with pytest.raises(ValueError, match=r"returned shape \(3, 5\) for 3 users; expected \(3, 6\)"):
        catalogue_metrics(lambda users: np.zeros((len(users), 5)), TRAIN4, TEST4)
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        catalogue_metrics(lambda users: np.full((len(users), 6), np.nan), TRAIN4, TEST4)


def test_data_outside_the_model_is_refused():
    _, train, test = random_problem(1)
    model = MatrixFactorization(n_factors=2, max_epochs=5, random_state=0).fit_triplets(*train[:3], shape=train[3])
    bigger = (test[0], test[1], test[2], (train[3][0], train[3][1] + 1))
    with pytest.raises(ValueError, match="the scorer knows 23 users and 17 items: score a split"):
        catalogue_metrics(model, train, bigger)


def test_differently_labelled_data_is_refused():
    data = load_like([(1, 10, 4), (1, 11, 3), (2, 10, 5), (2, 12, 2), (3, 11, 4), (3, 12, 1)])
    # item 9 comes first in other's labels, so its indices mean other items than data's
    # (labels that only extend data's, as a test file read beside its training file, are accepted)
    other = load_like([(1, 10, 4), (1, 9, 3), (2, 10, 5), (2, 12, 2), (3, 11, 4), (3, 12, 1)])
    model = MatrixFactorization(n_factors=2, max_epochs=5, random_state=0).fit_ratings(data)
    with pytest.raises(ValueError, match="label their items differently"):
        catalogue_metrics(model, data, other)


def load_like(triples):
    from cmf._dataset import RatingDataset

    users, items, ratings = zip(*triples)
    return RatingDataset.from_labels(np.array(users), np.array(items), np.array(ratings, dtype=float))


# ----------------------------------------------------------------------
# evaluate()
# ----------------------------------------------------------------------
def test_evaluate_catalogue_returns_the_model_and_the_baselines():
    _, train, test = random_problem(5, n_users=30, n_items=20)
    model = MatrixFactorization(n_factors=3, max_epochs=20, random_state=0).fit_triplets(*train[:3], shape=train[3])
    got = evaluate(model, test, protocol="catalogue", train=train, baselines=BASELINES, k=4)
    assert set(got) == {f"{p}{m}" for p in ("", "most_popular.", "bias_only.")
                        for m in (*CATALOGUE_METRICS, "users", "skipped_users")}
    counts = np.bincount(train[1], minlength=20).astype(float)
    want = reference(np.tile(counts, (30, 1)), train, test, 4)
    assert got["most_popular.precision"] == pytest.approx(want["precision"], rel=1e-12)
    assert got["most_popular.auc"] == pytest.approx(want["auc"], rel=1e-12)
    assert evaluate(model, test, protocol="catalogue", train=train, metrics=("ndcg",)).keys() == {
        "ndcg", "users", "skipped_users"}


def test_evaluate_keeps_the_held_out_protocol_by_default():
    _, train, test = random_problem(5, n_users=30, n_items=20)
    model = MatrixFactorization(n_factors=3, max_epochs=20, random_state=0).fit_triplets(*train[:3], shape=train[3])
    default = evaluate(model, test, metrics=("rmse", "precision"))
    assert default == evaluate(model, test, metrics=("rmse", "precision"), protocol="held_out", threshold=3.5)
    assert set(evaluate(model, test)) == {"rmse", "mae"}


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "full"}, "protocol must be 'held_out' or 'catalogue', got 'full'"),
    ({"protocol": "catalogue"}, "needs the training data"),
    ({"protocol": "catalogue", "train": "TRAIN", "metrics": ("rmse",)}, r"\['rmse'\] \(protocol='held_out' has them\)"),
    ({"metrics": ("mrr",)}, r"\['mrr'\] \(protocol='catalogue' has them\)"),
    ({"baselines": ("most_popular",)}, "belong to protocol='catalogue'"),
    ({"protocol": "catalogue", "train": "TRAIN", "baselines": ("itemknn",)}, "unknown baseline 'itemknn'"),
])
def test_evaluate_names_bad_protocol_arguments(kwargs, match):
    _, train, test = random_problem(5, n_users=30, n_items=20)
    model = MatrixFactorization(n_factors=3, max_epochs=5, random_state=0).fit_triplets(*train[:3], shape=train[3])
    kwargs = {key: (train if value == "TRAIN" else value) for key, value in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        evaluate(model, test, **kwargs)


def test_catalogue_on_a_labelled_split():
    from cmf.datasets import make_ratings

    gen = make_ratings(50, 30, 500, rank=2, random_state=0)
    data = load_like(list(zip(gen.rows * 2 + 1, gen.cols + 100, np.round(gen.values))))
    train, test = train_test_split(data, 0.2, random_state=0)
    model = MatrixFactorization(n_factors=2, max_epochs=10, random_state=0).fit_ratings(train)
    full = _ranking_scores(model, np.bincount(train.cols, minlength=train.shape[1]).astype(np.float64), 25.0)
    as_tuple = lambda d: (d.rows, d.cols, d.values, d.shape)  # noqa: E731
    assert_same(catalogue_metrics(model, train, test, k=5), reference(full, as_tuple(train), as_tuple(test), 5))


# ----------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------
def test_cli_catalogue_protocol(tmp_path, capsys, monkeypatch):
    from cmf.datasets import make_ratings

    monkeypatch.chdir(tmp_path)
    gen = make_ratings(40, 30, 600, rank=2, random_state=1)
    path = tmp_path / "u.data"
    path.write_text("".join(f"{r + 1}\t{c + 1}\t{int(v)}\t0\n"
                            for r, c, v in zip(gen.rows, gen.cols, np.clip(np.round(gen.values), 1, 5))))
    args = ["evaluate", str(path), "--factors", "2", "--epochs", "10", "--seed", "3", "--folds", "2",
            "--protocol", "catalogue", "-k", "5"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "catalogue" and out["threshold"] is None
    assert set(out["metrics"]) == {*CATALOGUE_METRICS, "users", "skipped_users"}
    assert set(out["baselines"]) == set(BASELINES)
    # The most-popular baseline on the command line's own folds, against the reference.
    data = load_ratings(str(path))
    for fold, (train, test) in enumerate(KFold(2, random_state=3).split(data)):
        counts = np.bincount(train.cols, minlength=data.shape[1]).astype(float)
        want = reference(np.tile(counts, (data.shape[0], 1)), (train.rows, train.cols),
                         (test.rows, test.cols, test.values), 5)
        for m in ("precision", "ndcg", "map", "mrr", "auc", "coverage", "popularity", "users"):
            assert out["baselines"]["most_popular"][m]["folds"][fold] == pytest.approx(want[m], rel=1e-12), m
    assert main([*args, "--baselines", "bias_only"]) == 0
    text = capsys.readouterr().out
    assert "MAP@5" in text and "MRR" in text and "bias_only" in text and "most_popular" not in text


def test_cli_baselines_need_the_catalogue_protocol(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.data"
    path.write_text("1\t1\t4\t0\n1\t2\t3\t0\n2\t1\t5\t0\n2\t2\t2\t0\n")
    assert main(["evaluate", str(path), "--folds", "2", "--baselines", "most_popular"]) == 1
    assert "--baselines compares rankings of the full catalogue: pass --protocol catalogue" in capsys.readouterr().err
