"""Parallel SGD: the result does not depend on the number of threads."""

from __future__ import annotations

import threading
import time
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


def _row_and_col_blocks(tile, grid):
    return set((tile // grid.n_col_blocks).tolist()), set((tile % grid.n_col_blocks).tolist())


def _sequence(schedule, block_len):
    """The tiles in the order one thread runs them: stratum after stratum, each largest first."""
    return [tiles[t] for tiles in schedule.strata for t in _blocks.largest_first(tiles, block_len)]


class _Recorder:
    """A tile call that records when each tile starts and ends (``delay`` seconds for tiles in ``slow``)."""

    def __init__(self, slow=(), delay=0.0):
        self.lock = threading.Lock()
        self.events = []  # (time, "start" | "end", tile key)
        self.active: set[int] = set()
        self.overlaps = []
        self.slow, self.delay = {int(t.sum()) * 1000 + len(t) for t in slow}, delay

    @staticmethod
    def key(blocks):
        return int(blocks.sum()) * 1000 + len(blocks)

    def __call__(self, blocks, seed, scratch, check=None):
        key = self.key(blocks)
        with self.lock:
            self.overlaps.extend((key, other) for other in self.active)
            self.active.add(key)
            self.events.append((time.perf_counter(), "start", key))
        time.sleep(self.delay if key in self.slow else 0.002)
        with self.lock:
            self.active.discard(key)
            self.events.append((time.perf_counter(), "end", key))
        return float(len(blocks))


def _run(grid, schedule, tile_call, n_threads=2):
    empty = np.zeros(grid.n_row_blocks * grid.n_col_blocks + 1, np.int64)
    with _blocks.BlockedRunner(_blocks.BlockedData(grid, empty, *([np.empty(0)] * 3), 1), n_threads) as runner:
        return runner.run_epoch(tile_call, schedule)


def test_threads_run_tiles_concurrently_on_disjoint_blocks_in_the_sequence_order(small_cache):
    # Tiles that run at the same time share no row or column block; tiles
    # that share one run in the order of the one-thread sequence (so every
    # thread count gives the same bits); and two threads do overlap.
    grid = small_cache
    for epoch in (1, 2, 3):
        schedule = _blocks.epoch_schedule(grid, seed=1, epoch=epoch)
        tiles = {_Recorder.key(t): t for stratum in schedule.strata for t in stratum}
        assert len(tiles) == grid.n_tiles ** 2  # the keys tell the tiles apart
        recorder = _Recorder()
        assert _run(grid, schedule, recorder) == grid.n_row_blocks * grid.n_col_blocks
        assert recorder.overlaps
        for a, b in recorder.overlaps:
            rows_a, cols_a = _row_and_col_blocks(tiles[a], grid)
            rows_b, cols_b = _row_and_col_blocks(tiles[b], grid)
            assert not rows_a & rows_b and not cols_a & cols_b
        when = {(kind, key): t for t, kind, key in recorder.events}
        sequence = [_Recorder.key(t) for t in _sequence(schedule, np.zeros(10**6, np.int64))]
        for i, early in enumerate(sequence):
            rows_i, cols_i = _row_and_col_blocks(tiles[early], grid)
            for late in sequence[i + 1:]:
                rows_j, cols_j = _row_and_col_blocks(tiles[late], grid)
                if rows_i & rows_j or cols_i & cols_j:
                    assert when["end", early] <= when["start", late]


def test_a_slow_tile_holds_back_only_the_tiles_that_share_its_rows_or_columns(small_cache):
    # With a barrier after each stratum the other thread would wait for the
    # slow tile; without, it runs the next stratum's tiles that need none
    # of the slow tile's rows and columns meanwhile.
    grid = small_cache
    schedule = _blocks.epoch_schedule(grid, seed=2, epoch=1)
    slow = schedule.strata[0][0]
    recorder = _Recorder(slow=[slow], delay=0.3)
    _run(grid, schedule, recorder)
    when = {(kind, key): t for t, kind, key in recorder.events}
    slow_rows, slow_cols = _row_and_col_blocks(slow, grid)
    free = [t for t in schedule.strata[1]
            if not (_row_and_col_blocks(t, grid)[0] & slow_rows or _row_and_col_blocks(t, grid)[1] & slow_cols)]
    assert free
    assert any(when["start", _Recorder.key(t)] < when["end", _Recorder.key(slow)] for t in free)


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
