"""cmf.BPR, the estimator for implicit feedback: fitting inputs, recommendations, files, threads and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import cmf
from cmf.metrics import catalogue_metrics

# Two tastes: users 0-99 pick among items 0-5, users 100-199 among items 6-11.
N_USERS, N_ITEMS = 200, 12


def clustered(seed=0, per_user=4):
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(N_USERS):
        first = 0 if u < N_USERS // 2 else N_ITEMS // 2
        rows += [u] * per_user
        cols += list(first + rng.choice(N_ITEMS // 2, per_user, replace=False))
    return np.array(rows), np.array(cols)


def small(**params):
    return cmf.BPR(**{"n_factors": 4, "n_epochs": 60, "learning_rate": 0.05, "random_state": 0, **params})


def state(model):
    return model.user_factors_, model.item_factors_, model.item_bias_


def test_recommends_the_unseen_items_of_the_users_taste():
    rows, cols = clustered()
    model = small().fit_pairs(rows, cols, shape=(N_USERS, N_ITEMS))
    items, scores = model.recommend(np.arange(N_USERS), n=2)
    for u in range(N_USERS):
        taste = range(0, 6) if u < N_USERS // 2 else range(6, 12)
        assert set(items[u]) <= set(taste) - set(cols[rows == u])
        assert scores[u, 0] >= scores[u, 1]
    # A held-out check through the full-catalogue metrics: each user's unseen items of its taste are relevant.
    test_rows = np.repeat(np.arange(N_USERS), 6)
    test_cols = np.concatenate([np.arange(6) if u < N_USERS // 2 else np.arange(6, 12) for u in range(N_USERS)])
    fresh = ~np.isin(test_rows * N_ITEMS + test_cols, rows * N_ITEMS + cols)
    got = catalogue_metrics(model.scores, (rows, cols, np.ones(len(rows)), (N_USERS, N_ITEMS)),
                            (test_rows[fresh], test_cols[fresh], np.ones(fresh.sum()), (N_USERS, N_ITEMS)), k=2)
    assert got["precision"] == 1.0


def test_scores_are_factors_dot_plus_item_bias():
    rows, cols = clustered()
    model = small().fit_pairs(rows, cols)
    P, Q, c = (a.astype(np.float64) for a in state(model))
    np.testing.assert_allclose(model.scores([3, 20]), P[[3, 20]] @ Q.T + c, rtol=1e-12)
    items, scores = model.recommend(3, n=N_ITEMS)
    seen = set(cols[rows == 3].tolist())
    want = sorted((i for i in range(N_ITEMS) if i not in seen), key=lambda i: (-(P[3] @ Q[i] + c[i]), i))
    assert items[:len(want)].tolist() == want
    assert (items[len(want):] == -1).all() and np.isnan(scores[len(want):]).all()
    assert len(set(model.recommend(3, n=N_ITEMS, exclude_seen=False)[0].tolist())) == N_ITEMS


def test_same_bits_at_any_thread_count_and_for_the_same_seed():
    rows, cols = clustered()
    runs = [small(n_blocks=3, n_threads=t).fit_pairs(rows, cols) for t in (1, 2, 3, 1)]
    for other in runs[1:]:
        for a, b in zip(state(runs[0]), state(other)):
            assert a.tobytes() == b.tobytes()
        assert other.history_ == runs[0].history_
    changed = small(n_blocks=2).fit_pairs(rows, cols)
    assert changed.user_factors_.tobytes() != runs[0].user_factors_.tobytes()


def test_inputs_ratings_with_threshold_matrix_and_sparse_agree_with_pairs():
    rows, cols = clustered()
    rng = np.random.default_rng(5)
    ratings = rng.integers(1, 6, len(rows)).astype(float)
    liked = ratings >= 4
    want = small().fit_pairs(rows[liked], cols[liked], shape=(N_USERS, N_ITEMS))
    dense = np.full((N_USERS, N_ITEMS), np.nan)
    dense[rows, cols] = ratings
    scipy_sparse = pytest.importorskip("scipy.sparse")
    for got in (small().fit_pairs(rows, cols, ratings, shape=(N_USERS, N_ITEMS), threshold=4),
                small().fit(dense, threshold=4),
                small().fit(scipy_sparse.csr_matrix((ratings, (rows, cols)), shape=(N_USERS, N_ITEMS)), threshold=4)):
        for a, b in zip(state(want), state(got)):
            assert a.tobytes() == b.tobytes()
    binary = np.zeros((N_USERS, N_ITEMS))
    binary[rows, cols] = 1
    # Stored zeros and NaNs of a sparse matrix are no interactions.
    free = np.argwhere(binary == 0)[:2]
    stored = scipy_sparse.coo_matrix((np.concatenate([np.ones(len(rows)), [0.0, np.nan]]),
                                      (np.concatenate([rows, free[:, 0]]), np.concatenate([cols, free[:, 1]]))),
                                     shape=binary.shape)
    for a, b in zip(state(small().fit(binary)), state(small().fit(stored))):
        assert a.tobytes() == b.tobytes()
    repeated = np.concatenate([rows, rows[:5]]), np.concatenate([cols, cols[:5]])  # a repeated pair counts once
    for a, b in zip(state(small().fit(binary)), state(small().fit_pairs(*repeated, shape=binary.shape))):
        assert a.tobytes() == b.tobytes()


def test_popularity_negatives_push_popular_items_down():
    rows, cols = clustered()
    keep = (cols != 0) | (rows % 4 == 0)  # item 0 picked by a quarter of its users, items 1-5 by all that drew them
    rows, cols = rows[keep], cols[keep]
    assert np.bincount(cols)[0] * 4 < np.bincount(cols)[1:].min()
    uniform = small().fit_pairs(rows, cols, shape=(N_USERS, N_ITEMS))
    popular = small(negatives="popularity").fit_pairs(rows, cols, shape=(N_USERS, N_ITEMS))
    # The rare item's bias lies below the others' with either; far less so when
    # the popular items are drawn as negatives more often.
    gaps = [np.delete(m.item_bias_, 0).mean() - m.item_bias_[0] for m in (uniform, popular)]
    assert 0 < gaps[1] < 0.75 * gaps[0]
    with pytest.raises(ValueError, match="negatives must be 'uniform' or 'popularity'"):
        small(negatives="popular").fit_pairs(rows, cols)


def test_float64_and_no_biases():
    rows, cols = clustered()
    model = small(dtype=np.float64, item_biases=False).fit_pairs(rows, cols)
    assert model.user_factors_.dtype == np.float64
    assert not model.item_bias_.any()
    assert model.history_["epoch"] == list(map(float, range(1, 61)))
    assert 0.5 < model.history_["correct"][-1] <= 1.0


def test_save_and_load_round_trip(tmp_path):
    rows, cols = clustered()
    model = small(dtype=np.float64).fit_pairs(rows, cols)
    path = model.save(tmp_path / "bpr")
    assert path.endswith("bpr.npz")
    back = cmf.BPR.load(tmp_path / "bpr")
    for a, b in zip(state(model), state(back)):
        np.testing.assert_array_equal(a, b)
    assert back.get_params() == model.get_params() | {"dtype": "float64"}
    assert back.history_ == model.history_
    np.testing.assert_array_equal(back.recommend(4, 3)[0], model.recommend(4, 3)[0])
    other = cmf.MatrixFactorization(n_factors=2, max_epochs=2, random_state=0)
    other.fit_triplets(rows, cols, np.ones(len(rows)))
    other.save(tmp_path / "mf")
    with pytest.raises(ValueError, match="not a readable BPR model file"):
        cmf.BPR.load(tmp_path / "mf.npz")
    with pytest.raises(ValueError, match="does not exist"):
        cmf.BPR.load(tmp_path / "missing")


def test_bad_input_names_the_problem():
    rows, cols = clustered()
    with pytest.raises(cmf.NotFittedError):
        small().recommend(0)
    with pytest.raises(ValueError, match=r"rows must be indices in \[0, 3\)"):
        small().fit_pairs(rows, cols, shape=(3, N_ITEMS))
    with pytest.raises(ValueError, match="rows must be indices"):
        small().fit_pairs([-1, 0], [0, 1])
    with pytest.raises(ValueError, match="integer indices"):
        small().fit_pairs([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="values and threshold together"):
        small().fit_pairs(rows, cols, np.ones(len(rows)))
    with pytest.raises(ValueError, match="no value is >= threshold 6"):
        small().fit_pairs(rows, cols, np.ones(len(rows)), threshold=6)
    with pytest.raises(ValueError, match="same length"):
        small().fit_pairs([0, 1], [0])
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        small(learning_rate=0).fit_pairs(rows, cols)
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        small(n_blocks=0).fit_pairs(rows, cols)
    with pytest.raises(TypeError, match="n_factors must be an integer"):
        small(n_factors=2.5).fit_pairs(rows, cols)
    with pytest.raises(ValueError, match="dtype"):
        small(dtype=np.int32).fit_pairs(rows, cols)
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        small().set_params(alpha=1)
    model = small().fit_pairs(rows, cols)
    with pytest.raises(ValueError, match=r"user must be indices in \[0, 200\)"):
        model.recommend(200)
