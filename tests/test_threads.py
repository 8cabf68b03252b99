"""Parallel SGD: the result does not depend on the number of threads."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import cmf
from cmf._train import blocks as _blocks


def ratings(n_rows=900, n_cols=700, n=40_000, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, n)
    cols = rng.integers(0, n_cols, n)
    values = rng.normal(3.5, 1.0, n)
    return rows, cols, values, (n_rows, n_cols)


def fit(n_threads, dtype="float32", **params):
    rows, cols, values, shape = ratings()
    model = cmf.MatrixFactorization(n_factors=12, learning_rate=0.01, max_epochs=4, tol=0, n_threads=n_threads,
                                    random_state=3, dtype=dtype, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return model.fit_triplets(rows, cols, values, shape=shape)


@pytest.fixture
def small_cache(monkeypatch):
    # Make the grid fine enough for several tiles per stratum on test data.
    monkeypatch.setattr(_blocks, "GRID_CACHE_BYTES", 16 << 10)
    rows, cols, values, shape = ratings()
    grid = _blocks.choose_grid(*shape, 12, 4)
    assert grid.n_tiles >= 4
    return grid


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_result_is_bit_identical_for_any_thread_count(small_cache, dtype):
    reference = fit(1, dtype)
    for n_threads in (2, 3, 4, 7):
        other = fit(n_threads, dtype)
        for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
            np.testing.assert_array_equal(getattr(other, name), getattr(reference, name), err_msg=name)
        assert other.history_["train_loss"] == reference.history_["train_loss"]
    # blocking="auto" is blocking=True here; and the seed matters.
    explicit = fit(2, dtype, blocking=True)
    np.testing.assert_array_equal(explicit.user_factors_, reference.user_factors_)
    changed = cmf.MatrixFactorization(n_factors=12, learning_rate=0.01, max_epochs=4, tol=0, n_threads=2,
                                      random_state=4, dtype=dtype)
    rows, cols, values, shape = ratings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        changed.fit_triplets(rows, cols, values, shape=shape)
    assert not np.array_equal(changed.user_factors_, reference.user_factors_)


def test_threads_really_run_tiles_concurrently_on_disjoint_blocks(small_cache):
    # Record which tiles run at the same time: they must share no row or
    # column block, and with two threads some must overlap in time.
    grid = small_cache
    schedule = _blocks.epoch_schedule(grid, seed=1, epoch=1)
    active: set[int] = set()
    lock = threading.Lock()
    overlaps = []
    both_started = threading.Barrier(2, timeout=5)

    tile_ids = {id(t): (s, j) for s, tiles in enumerate(schedule.strata) for j, t in enumerate(tiles)}

    def tile_call(blocks, seed, scratch, check=None):
        key = id(blocks)
        with lock:
            for other in active:
                overlaps.append((key, other))
            active.add(key)
        try:
            both_started.wait()
        except threading.BrokenBarrierError:
            pass
        with lock:
            active.discard(key)
        return float(len(blocks))

    empty = np.zeros(grid.n_row_blocks * grid.n_col_blocks + 1, np.int64)
    runner = _blocks.BlockedRunner(_blocks.BlockedData(grid, empty, *([np.empty(0)] * 3), 1), 2)
    try:
        total = runner.run_epoch(tile_call, schedule)
    finally:
        runner.close()
    assert total == grid.n_row_blocks * grid.n_col_blocks
    assert overlaps
    for a, b in overlaps:
        (sa, ja), (sb, jb) = tile_ids[a], tile_ids[b]
        assert sa == sb  # never two strata at once
        ta, tb = schedule.strata[sa][ja], schedule.strata[sb][jb]
        assert not set((ta // grid.n_col_blocks).tolist()) & set((tb // grid.n_col_blocks).tolist())
        assert not set((ta % grid.n_col_blocks).tolist()) & set((tb % grid.n_col_blocks).tolist())


def test_threads_take_the_largest_tiles_first(small_cache):
    # Block b holds b entries, so the tiles of a stratum differ in size.
    grid = small_cache
    n_blocks = grid.n_row_blocks * grid.n_col_blocks
    block_len = np.arange(n_blocks, dtype=np.int64)
    schedule = _blocks.epoch_schedule(grid, seed=4, epoch=2)
    for tiles in schedule.strata:
        sizes = [int(t.sum()) for t in tiles]
        order = _blocks.largest_first(tiles, block_len)
        assert sorted(order) == list(range(len(tiles)))
        assert [sizes[t] for t in order] == sorted(sizes, reverse=True)
    tiles = [np.array([1]), np.array([0, 1]), np.array([2])]
    assert _blocks.largest_first(tiles, np.array([3, 0, 3])) == [1, 2, 0]  # sizes 0, 3, 3: ties in order

    # Run with two threads: every tile once, its sum in its own slot.
    started: list[int] = []
    lock = threading.Lock()

    def tile_call(blocks, seed, scratch, check=None):
        with lock:
            started.append(int(blocks.sum()))
        return float(blocks.sum())

    block_ptr = np.concatenate([[0], np.cumsum(block_len)])
    runner = _blocks.BlockedRunner(_blocks.BlockedData(grid, block_ptr, *([np.empty(0)] * 3), 1), 2)
    try:
        total = runner.run_epoch(tile_call, schedule)
    finally:
        runner.close()
    assert total == n_blocks * (n_blocks - 1) / 2
    assert sorted(started) == sorted(int(t.sum()) for tiles in schedule.strata for t in tiles)


def test_n_threads_is_validated():
    rows, cols, values, shape = ratings(50, 40, 500)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n_threads"):
            cmf.MatrixFactorization(n_threads=bad).fit_triplets(rows, cols, values, shape=shape)
    with pytest.raises(TypeError, match="n_threads"):
        cmf.MatrixFactorization(n_threads=1.5).fit_triplets(rows, cols, values, shape=shape)
