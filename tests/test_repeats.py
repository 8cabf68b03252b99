"""Repeated (row, column) pairs, found in C (cmf_find_repeats), against NumPy.

The expected numbers come from ``np.unique`` over the pairs, or from a plain
loop over the ratings, never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from cmf import _kernels
from cmf._data_policy import count_repeats, resolve_duplicates
from cmf._input import Triplets


def triplets(rows, cols, shape, values=None) -> Triplets:
    rows = np.asarray(rows, dtype=np.int32)
    cols = np.asarray(cols, dtype=np.int32)
    if values is None:
        values = np.arange(len(rows), dtype=np.float32)
    return Triplets(rows, cols, np.asarray(values), shape)


def numpy_count(rows, cols) -> int:
    pairs = np.stack([np.asarray(rows, np.int64), np.asarray(cols, np.int64)], axis=1)
    return len(pairs) - len(np.unique(pairs, axis=0)) if len(pairs) else 0


def first_and_last_by_loop(rows, cols):
    """For each position, the first and last position of its pair, by a dictionary."""
    first_seen, last_seen = {}, {}
    for p, pair in enumerate(zip(rows.tolist(), cols.tolist())):
        first_seen.setdefault(pair, p)
        last_seen[pair] = p
    pairs = list(zip(rows.tolist(), cols.tolist()))
    return np.array([first_seen[q] for q in pairs]), np.array([last_seen[q] for q in pairs])


def random_case(seed, n, shape, *, sort_rows=False):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, shape[0], n).astype(np.int32)
    cols = rng.integers(0, shape[1], n).astype(np.int32)
    if sort_rows:
        rows.sort()
    return rows, cols


CASES = [
    (0, 5000, (50, 40)),          # many repeats
    (1, 5000, (5000, 4000)),      # few repeats
    (2, 3000, (1, 30)),           # one row
    (3, 3000, (30, 1)),           # one column
    (4, 2000, (70_000, 70_000)),  # row * n_cols overflows int32
]


@pytest.mark.parametrize("seed, n, shape", CASES)
@pytest.mark.parametrize("sort_rows", [False, True])
def test_count_matches_numpy(seed, n, shape, sort_rows):
    rows, cols = random_case(seed, n, shape, sort_rows=sort_rows)
    assert count_repeats(triplets(rows, cols, shape)) == numpy_count(rows, cols)


def test_count_of_large_ids_in_a_huge_sparse_shape():
    # Ids near 2**31: the work space follows the number of ratings, not the shape.
    top = 2**31 - 1
    rows = np.array([top - 1, 5, top - 1, 0, 5, top - 1], np.int32)
    cols = np.array([top - 2, 7, top - 2, top - 2, 7, 3], np.int32)
    assert numpy_count(rows, cols) == 2
    assert count_repeats(triplets(rows, cols, (top, top))) == 2


def test_count_of_empty_one_and_sorted_data():
    assert count_repeats(triplets([], [], (0, 0))) == 0
    assert count_repeats(triplets([], [], (3, 4))) == 0
    assert count_repeats(triplets([2], [3], (3, 4))) == 0
    assert count_repeats(triplets([0, 0, 1, 2], [0, 1, 1, 3], (3, 4))) == 0  # sorted, distinct
    assert count_repeats(triplets([0, 0, 1, 1], [1, 1, 1, 1], (3, 4))) == 2
    assert count_repeats(triplets([1, 0, 1], [3, 3, 3], (2, 4))) == 1


@pytest.mark.parametrize("seed, n, shape", CASES[:4])
@pytest.mark.parametrize("sort_rows", [False, True])
def test_first_and_last_of_every_pair(seed, n, shape, sort_rows):
    rows, cols = random_case(seed, n, shape, sort_rows=sort_rows)
    want_first, want_last = first_and_last_by_loop(rows, cols)
    first, last = np.empty(n, np.int64), np.empty(n, np.int64)
    count = _kernels.find_repeats(rows, cols, shape[0], shape[1], first, last)
    assert count == numpy_count(rows, cols) == np.count_nonzero(want_first != np.arange(n))
    np.testing.assert_array_equal(first, want_first)
    np.testing.assert_array_equal(last, want_last)


def test_find_repeats_refuses_bad_input_and_leaves_the_outputs():
    rows = np.array([0, 1, 1], np.int32)
    first = np.full(3, -7, np.int64)
    with pytest.raises(IndexError):
        _kernels.find_repeats(rows, rows, 1, 2, first)  # row 1 outside one row
    with pytest.raises(IndexError):
        _kernels.find_repeats(rows, np.array([0, -1, 0], np.int32), 2, 2, first)
    np.testing.assert_array_equal(first, [-7, -7, -7])
    with pytest.raises(ValueError, match="same length"):
        _kernels.find_repeats(rows, rows[:2], 2, 2)
    with pytest.raises(ValueError, match="first has length 2, expected 3"):
        _kernels.find_repeats(rows, rows, 2, 2, first[:2])
    with pytest.raises(ValueError, match="n_rows"):
        _kernels.find_repeats(rows, rows, -1, 2)
    assert _kernels.find_repeats(np.empty(0, np.int32), np.empty(0, np.int32), 0, 0) == 0


def policy_by_loop(rows, cols, values, policy):
    """"last": each pair's last rating at its position; "mean": the float64 mean at the first's."""
    first, last = first_and_last_by_loop(rows, cols)
    positions = np.arange(len(rows))
    if policy == "last":
        keep = positions[last == positions]
        return rows[keep], cols[keep], values[keep]
    keep = positions[first == positions]
    means = [np.mean(values[first == f].astype(np.float64)) for f in keep]
    return rows[keep], cols[keep], np.array(means).astype(values.dtype)


@pytest.mark.parametrize("policy", ["last", "mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_last_and_mean_match_a_loop(policy, dtype):
    rows, cols = random_case(7, 3000, (40, 30))
    values = np.random.default_rng(8).uniform(1, 5, len(rows)).astype(dtype)
    data = triplets(rows, cols, (40, 30), values)
    got, n_repeats = resolve_duplicates(data, policy, str)
    assert n_repeats == numpy_count(rows, cols)
    want = policy_by_loop(rows, cols, values, policy)
    np.testing.assert_array_equal(got.rows, want[0])
    np.testing.assert_array_equal(got.cols, want[1])
    np.testing.assert_allclose(got.values, want[2], rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert got.values.dtype == dtype


def test_error_names_the_first_repeat_in_a_huge_sparse_shape():
    top = 2**31 - 1
    data = triplets([top - 1, 3, 3, top - 1], [0, top - 1, top - 1, 0], (top, top))
    with pytest.raises(ValueError, match=r"^2 ratings repeat .* the first is at position 2 \(at 2\)"):
        resolve_duplicates(data, "error", lambda pos: f"at {pos}")
