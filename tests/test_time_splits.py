"""Splits by time (a global cut-off, each user's latest ratings) and the timestamps they need.

The expected splits are written out by hand or computed by a per-user
pure-Python reference, never taken from the code under test.
"""

import warnings

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf.datasets import make_ratings
from cmf.io import RatingDataset, load_ratings
from cmf.model_selection import GridSearch, cross_validate, leave_last_out, temporal_split

# (user, item, rating, timestamp), one per line of a file; ties at 40 and 70.
LINES = [
    ("a", 1, 4.0, 10),
    ("a", 2, 3.0, 40),
    ("b", 1, 5.0, 20),
    ("b", 3, 2.0, 40),
    ("c", 2, 1.0, 30),
    ("c", 3, 4.0, 50),
    ("a", 3, 2.0, 25),
    ("d", 1, 3.0, 60),   # d's only rating
    ("e", 1, 4.0, 70),
    ("e", 2, 5.0, 70),   # same time as the line before: the later line is the later rating
]


def _data(lines=LINES):
    users, items, values, stamps = zip(*lines)
    return RatingDataset.from_labels(np.array(users), np.array(items), np.array(values),
                                     timestamps=np.array(stamps))


def _records(part):
    """The ratings of a split as (user, item, rating, timestamp) tuples, in order."""
    users = part.user_labels.labels[part.rows].tolist()
    items = part.item_labels.labels[part.cols].tolist()
    return list(zip(users, items, part.values.tolist(), part.timestamps.tolist()))


def _lines(*numbers):
    return [LINES[n] for n in numbers]


# ----------------------------------------------------------------------
# temporal_split
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, test_lines", [
    # 10 ratings, 0.2: the 2nd latest timestamp (70) is the cut-off
    ({}, (8, 9)),
    ({"test_size": 0.2}, (8, 9)),
    # 1: the latest timestamp (70) is shared by two ratings: both are tested
    ({"test_size": 1}, (8, 9)),
    ({"test_size": 3}, (7, 8, 9)),
    ({"test_size": 4}, (5, 7, 8, 9)),
    # 5: the 5th latest is 40, which two ratings share: 6 are tested
    ({"test_size": 5}, (1, 3, 5, 7, 8, 9)),
    ({"test_size": 0.5}, (1, 3, 5, 7, 8, 9)),
    # a cut-off: the ratings at or after it are tested
    ({"cutoff": 30}, (1, 3, 4, 5, 7, 8, 9)),
    ({"cutoff": 31}, (1, 3, 5, 7, 8, 9)),
    ({"cutoff": np.int64(70)}, (8, 9)),
])
def test_temporal_split_holds_out_the_latest_ratings(kwargs, test_lines):
    train, test = temporal_split(_data(), **kwargs)
    train_lines = [n for n in range(len(LINES)) if n not in test_lines]
    assert _records(test) == _lines(*test_lines)
    assert _records(train) == _lines(*train_lines)
    assert train.shape == test.shape == (5, 3)
    assert train.user_labels is test.user_labels  # the same label maps, as the other splits


def test_temporal_split_works_on_indices_and_dataframes():
    pd = pytest.importorskip("pandas")
    rows, cols = np.array([0, 1, 2, 0]), np.array([1, 0, 1, 0])
    data = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), np.ones(4, np.float32), (3, 2),
                         timestamps=np.array([4, 1, 3, 2]))
    train, test = temporal_split(data, cutoff=3)
    assert train.rows.tolist() == [1, 0] and test.rows.tolist() == [0, 2]
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [5, 5, 6], "rating": [1.0, 2.0, 3.0],
                          "timestamp": [300, 100, 200]})
    train, test = temporal_split(frame, 1)
    assert train.user_labels.labels[train.rows].tolist() == [2, 3]
    assert test.user_labels.labels[test.rows].tolist() == [1]


def test_temporal_split_errors():
    data = _data()
    with pytest.raises(ValueError, match="not both"):
        temporal_split(data, 0.2, cutoff=30)
    with pytest.raises(ValueError, match=r"leaves 0 of 10 ratings for training .* from 10 to 70"):
        temporal_split(data, cutoff=10)
    with pytest.raises(ValueError, match="and 0 for testing"):
        temporal_split(data, cutoff=71)
    with pytest.raises(TypeError, match="cutoff must be an integer timestamp"):
        temporal_split(data, cutoff=30.5)
    with pytest.raises(ValueError, match="test_size"):
        temporal_split(data, 1.5)
    same_time = _data([(u, i, r, 5) for u, i, r, _ in LINES])
    with pytest.raises(ValueError, match="leaves 0 of 10 ratings for training"):
        temporal_split(same_time)  # every rating at the cut-off's time


@pytest.mark.parametrize("split", [temporal_split, leave_last_out])
def test_splits_by_time_need_timestamps_and_say_how_to_get_them(split, tmp_path):
    path = tmp_path / "u.data"
    path.write_text("1\t10\t4\t5\n2\t10\t3\t6\n1\t20\t5\t7\n")
    no_time = load_ratings(path, columns=(0, 1, 2))
    with pytest.raises(ValueError, match=r"no timestamps: read a file with a timestamp column .*columns=\(user, "
                                         r"item, rating, timestamp\).*RatingDataset\(\.\.\., timestamps=\.\.\.\)"):
        split(no_time)
    with pytest.raises(ValueError, match="u.data"):  # the file is named
        split(no_time)
    with pytest.raises(ValueError, match="no timestamps"):
        split(make_ratings(10, 10, 50, random_state=0))
    assert split(load_ratings(path))  # read with its timestamps, it splits


# ----------------------------------------------------------------------
# leave_last_out
# ----------------------------------------------------------------------
def test_leave_last_out_by_hand():
    train, test = leave_last_out(_data())
    # a: 40 (line 1); b: 40 (line 3); c: 50 (line 5); d has one rating: kept in training;
    # e: two at 70, the later line (9) is the later rating
    assert _records(test) == _lines(1, 3, 5, 9)
    assert _records(train) == _lines(0, 2, 4, 6, 7, 8)
    train, test = leave_last_out(_data(), k=2)
    # only a (3 ratings) has more than 2: its two latest, lines 1 and 6
    assert _records(test) == _lines(1, 6)


def _reference_last_k(users, stamps, k):
    """Positions of each user's k latest ratings (by time, then position), users with more than k only."""
    held = []
    for user in set(users.tolist()):
        mine = [j for j in range(len(users)) if users[j] == user]
        if len(mine) > k:
            held += sorted(mine, key=lambda j: (stamps[j], j))[-k:]
    return sorted(held)


@pytest.mark.parametrize("seed, k", [(0, 1), (1, 2), (2, 3), (3, 1)])
def test_leave_last_out_matches_a_per_user_reference_with_tied_timestamps(seed, k):
    rng = np.random.default_rng(seed)
    n = 400
    users, items = rng.integers(0, 40, n), rng.integers(0, 30, n)
    stamps = rng.integers(0, 12, n)  # few distinct times: many ties within a user
    data = RatingDataset.from_labels(users, items, rng.normal(3, 1, n), timestamps=stamps)
    train, test = leave_last_out(data, k)
    held = _reference_last_k(users, stamps, k)
    kept = [j for j in range(n) if j not in set(held)]
    assert list(zip(test.user_labels.labels[test.rows], test.timestamps, test.values)) == \
        list(zip(users[held], stamps[held], data.values[held]))
    assert list(zip(train.user_labels.labels[train.rows], train.item_labels.labels[train.cols], train.timestamps)) == \
        list(zip(users[kept], items[kept], stamps[kept]))


def test_leave_last_out_errors():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        leave_last_out(_data(), k=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        leave_last_out(_data(), k=1.0)
    with pytest.raises(ValueError, match="no user has more than 3 ratings"):
        leave_last_out(_data(), k=3)


# ----------------------------------------------------------------------
# As folds of cross_validate and the searches
# ----------------------------------------------------------------------
def test_time_splits_are_folds_of_cross_validate_and_of_a_search():
    rng = np.random.default_rng(0)
    gen = make_ratings(40, 30, 600, rank=2, noise_std=0.1, random_state=0)
    data = RatingDataset(gen.rows, gen.cols, gen.values, gen.shape, timestamps=rng.integers(0, 1000, 600))
    est = MatrixFactorization(n_factors=2, max_epochs=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_validate(est, data, cv=[temporal_split(data), leave_last_out(data)])
        manual = []
        for train, test in (temporal_split(data), leave_last_out(data)):
            model = MatrixFactorization(n_factors=2, max_epochs=10, random_state=0).fit_ratings(train)
            manual.append(np.sqrt(np.mean((model.predict(test.rows, test.cols) - test.values) ** 2)))
        search = GridSearch(est, {"regularization": [0.01, 0.1]}, cv=[temporal_split(data)], refit=False).fit(data)
    np.testing.assert_allclose(scores["test_rmse"], manual, rtol=1e-6)
    assert len(search.results_) == 2 and all(len(r["split_scores"]) == 1 for r in search.results_)
    with pytest.raises(TypeError, match=r"pass a list of pairs, such as cv=\[temporal_split\(data\)\]"):
        cross_validate(est, data, cv=temporal_split(data))
    with pytest.raises(TypeError, match="cv as a list must hold"):
        cross_validate(est, data, cv=[data])
    with pytest.raises(ValueError, match="empty"):
        cross_validate(est, data, cv=[])
