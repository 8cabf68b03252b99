"""Cache-blocked epochs: the partition, the schedule and the blocked kernel against the reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import blocks as _blocks
from cmf._input import as_triplets
from cmf._reference import reference_epoch

HYPER = dict(learning_rate=0.05, regularization=0.03, bias_regularization=0.02)


def random_triplets(n_rows=23, n_cols=17, n=600, dtype=np.float64, seed=0):
    """Triplets with repeated pairs, in random order, on a shape no block size divides."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, n).astype(np.int32)
    cols = rng.integers(0, n_cols, n).astype(np.int32)
    values = rng.uniform(1, 5, n).astype(dtype)
    return as_triplets(rows, cols, values, shape=(n_rows, n_cols), dtype=dtype)


def grid_for(shape, row_size, col_size, n_tiles=None):
    nrb = _kernels.n_blocks(shape[0], row_size)
    ncb = _kernels.n_blocks(shape[1], col_size)
    return _blocks.Grid(row_size, col_size, nrb, ncb, n_tiles or min(nrb, ncb))


def random_state(shape, k, dtype, seed=1):
    rng = np.random.default_rng(seed)
    P = (0.5 * rng.standard_normal((shape[0], k))).astype(dtype)
    Q = (0.5 * rng.standard_normal((shape[1], k))).astype(dtype)
    b = (0.3 * rng.standard_normal(shape[0])).astype(dtype)
    c = (0.3 * rng.standard_normal(shape[1])).astype(dtype)
    return P, Q, b, c


def visiting_order(blocked, blocks, seed):
    """Indices into the blocked arrays in the order the kernel visits them."""
    parts = []
    for block in blocks:
        start, stop = blocked.block_ptr[block], blocked.block_ptr[block + 1]
        order = np.empty(stop - start, dtype=np.int32)
        _kernels.block_order(seed, int(block), order)
        parts.append(start + order.astype(np.int64))
    return np.concatenate(parts)


def kernel_blocked(blocked, block_ptr=None):
    """The kernel's view of a BlockedData (optionally with another block_ptr)."""
    g = blocked.grid
    return _kernels.Blocked(
        blocked.block_ptr if block_ptr is None else block_ptr, blocked.local_rows, blocked.local_cols,
        blocked.values, n_row_blocks=g.n_row_blocks, n_col_blocks=g.n_col_blocks,
        row_block_size=g.row_block_size, col_block_size=g.col_block_size,
    )


def run_blocks(blocked, blocks, seed, state, mu, biased):
    P, Q, b, c = state
    model = _kernels.Model(P, Q, b if biased else None, c if biased else None, mu)
    return model.blocks(
        _kernels.Params(**HYPER, update_biases=biased), kernel_blocked(blocked),
        np.asarray(blocks, dtype=np.int32), seed, np.empty(max(blocked.max_block, 1), dtype=np.int32),
    )


# ----------------------------------------------------------------------
# Partition
# ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes", [(5, 4), (1, 1), (23, 17), (7, 100)])
def test_partition_keeps_every_entry_once_inside_its_block(dtype, sizes):
    data = random_triplets(dtype=dtype)
    grid = grid_for(data.shape, *sizes)
    blocked = _blocks.partition(data, grid)

    ptr = blocked.block_ptr
    assert ptr[0] == 0 and ptr[-1] == len(data)
    assert np.all(np.diff(ptr) >= 0)
    assert blocked.values.dtype == dtype
    assert blocked.max_block == np.diff(ptr).max()

    rows, cols = blocked.global_indices()
    block = np.repeat(np.arange(grid.n_row_blocks * grid.n_col_blocks), np.diff(ptr))
    # Block bounds: each entry lies in its block's row and column range.
    assert np.all(rows // grid.row_block_size == block // grid.n_col_blocks)
    assert np.all(cols // grid.col_block_size == block % grid.n_col_blocks)
    assert np.all(blocked.local_rows < grid.row_block_size)
    assert np.all(blocked.local_cols < grid.col_block_size)

    # Every entry exactly once: the same multiset of (row, col, value).
    def sorted_triplets(r, c, v):
        key = np.lexsort((v, c, r))
        return r[key], c[key], v[key]

    for got, want in zip(sorted_triplets(rows, cols, blocked.values),
                         sorted_triplets(data.rows, data.cols, data.values)):
        np.testing.assert_array_equal(got, want)

    # The sort is stable: within a block, entries keep their input order.
    input_block = (data.rows // grid.row_block_size) * grid.n_col_blocks + data.cols // grid.col_block_size
    expected = np.argsort(input_block, kind="stable")
    np.testing.assert_array_equal(rows, data.rows[expected])
    np.testing.assert_array_equal(cols, data.cols[expected])
    np.testing.assert_array_equal(blocked.values, data.values[expected])


def test_partition_of_an_index_outside_the_shape_raises():
    data = random_triplets()
    with pytest.raises(IndexError):
        # Shape one row too small for the data.
        _kernels.partition(_kernels.Entries(data.rows, data.cols, data.values), 20, 17, 4, 4)


def test_partition_rejects_block_sizes_beyond_16_bit_local_indices():
    with pytest.raises(ValueError, match="block_size"):
        _kernels.n_blocks(10, _kernels.MAX_BLOCK_SIZE + 1)


# ----------------------------------------------------------------------
# The order inside a block
# ----------------------------------------------------------------------
def test_block_order_is_a_permutation_fixed_by_seed_and_block():
    def order(seed, block, n=1000):
        out = np.empty(n, dtype=np.int32)
        _kernels.block_order(seed, block, out)
        return out

    first = order(7, 3)
    np.testing.assert_array_equal(np.sort(first), np.arange(1000))
    np.testing.assert_array_equal(order(7, 3), first)
    assert not np.array_equal(order(8, 3), first)
    assert not np.array_equal(order(7, 4), first)
    # Not a near-identity: few entries stay in place (expected about one).
    assert np.sum(first == np.arange(1000)) < 10


# ----------------------------------------------------------------------
# The blocked kernel against the NumPy reference
# ----------------------------------------------------------------------
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("k", [1, 5, 16, 37])
def test_blocked_epoch_equals_the_reference_epoch_in_the_same_order(biased, k):
    data = random_triplets(dtype=np.float64)
    grid = grid_for(data.shape, 5, 4)
    blocked = _blocks.partition(data, grid)
    blocks = np.random.default_rng(3).permutation(grid.n_row_blocks * grid.n_col_blocks)
    seed, mu = 12345, 3.0
    start = random_state(data.shape, k, np.float64)

    kernel = tuple(a.copy() for a in start)
    sse = run_blocks(blocked, blocks, seed, kernel, mu, biased)

    ref = tuple(a.copy() for a in start)
    rows, cols = blocked.global_indices()
    sse_ref = reference_epoch(rows, cols, blocked.values, ref[0], ref[1], ref[2] if biased else None,
                              ref[3] if biased else None, mu, **HYPER,
                              order=visiting_order(blocked, blocks, seed))
    for got, want, name in zip(kernel, ref, "PQbc"):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)
    assert sse == pytest.approx(sse_ref, rel=1e-12)
    assert np.max(np.abs(kernel[0] - start[0])) > 1e-3  # the epoch did move the factors


def test_blocked_epoch_on_a_model_beyond_the_prefetch_threshold_equals_the_reference():
    # Factors over 2 MiB switch on the prefetching of factor rows and of the
    # next row band, and blocks of hundreds of entries are gathered in
    # several batches: none of that may change a bit of the arithmetic.
    data = random_triplets(n_rows=3000, n_cols=40, n=5000, dtype=np.float64, seed=4)
    grid = grid_for(data.shape, 500, 20)
    blocked = _blocks.partition(data, grid)
    assert blocked.max_block > 3 * 64
    blocks = np.random.default_rng(5).permutation(grid.n_row_blocks * grid.n_col_blocks)
    start = random_state(data.shape, 100, np.float64)
    assert start[0].nbytes + start[1].nbytes > 2 << 20

    kernel = tuple(a.copy() for a in start)
    sse = run_blocks(blocked, blocks, 77, kernel, 3.0, True)
    ref = tuple(a.copy() for a in start)
    rows, cols = blocked.global_indices()
    sse_ref = reference_epoch(rows, cols, blocked.values, *ref, 3.0, **HYPER,
                              order=visiting_order(blocked, blocks, 77))
    for got, want, name in zip(kernel, ref, "PQbc"):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)
    assert sse == pytest.approx(sse_ref, rel=1e-12)


def test_blocked_float32_epoch_agrees_with_the_float64_reference():
    data = random_triplets(dtype=np.float32)
    grid = grid_for(data.shape, 6, 6)
    blocked = _blocks.partition(data, grid)
    blocks = np.arange(grid.n_row_blocks * grid.n_col_blocks)
    start = random_state(data.shape, 40, np.float32)
    kernel = tuple(a.copy() for a in start)
    sse = run_blocks(blocked, blocks, 99, kernel, 3.0, True)
    ref = tuple(a.astype(np.float64) for a in start)
    rows, cols = blocked.global_indices()
    sse_ref = reference_epoch(rows, cols, blocked.values.astype(np.float64), *ref, 3.0, **HYPER,
                              order=visiting_order(blocked, blocks, 99))
    for got, want in zip(kernel, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert sse == pytest.approx(sse_ref, rel=1e-5)


def test_blocked_kernel_rejects_bad_blocks_and_short_scratch():
    data = random_triplets()
    grid = grid_for(data.shape, 5, 4)
    blocked = _blocks.partition(data, grid)
    P, Q, b, c = random_state(data.shape, 3, np.float64)
    g = grid
    model = _kernels.Model(P, Q, b, c, 3.0)
    args = (_kernels.Params(learning_rate=0.01, regularization=0.01, bias_regularization=0.01), kernel_blocked(blocked))
    scratch = np.empty(blocked.max_block, dtype=np.int32)
    with pytest.raises(IndexError):
        model.blocks(*args, np.array([g.n_row_blocks * g.n_col_blocks], np.int32), 1, scratch)
    with pytest.raises(ValueError):
        model.blocks(*args, np.arange(3, dtype=np.int32), 1, scratch[:1])
    bad_ptr = blocked.block_ptr.copy()
    bad_ptr[1], bad_ptr[2] = bad_ptr[2], bad_ptr[1] - 1
    with pytest.raises(ValueError, match="block_ptr"):
        kernel_blocked(blocked, bad_ptr)
    np.testing.assert_array_equal(P, random_state(data.shape, 3, np.float64)[0])  # nothing ran


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_several_tiles_in_one_call_equal_one_call_per_tile(dtype):
    data = random_triplets(dtype=dtype)
    grid = grid_for(data.shape, 5, 4, n_tiles=3)
    blocked = _blocks.partition(data, grid)
    schedule = _blocks.epoch_schedule(grid, seed=8, epoch=2)
    params = _kernels.Params(**HYPER, update_biases=True)
    scratch = np.empty(blocked.max_block, dtype=np.int32)
    one, per_tile = random_state(data.shape, 5, dtype), random_state(data.shape, 5, dtype)
    sse = np.full(9, -1.0)
    model = _kernels.Model(*one, 3.0)
    args = (params, kernel_blocked(blocked), schedule.blocks, schedule.tile_starts, schedule.seed, scratch, sse)
    # The tiles that hold at most 100 entries together, then the rest.
    sizes = [int(np.diff(blocked.block_ptr)[tile].sum()) for tiles in schedule.strata for tile in tiles]
    fit = int(np.searchsorted(np.cumsum(sizes), 100, side="right"))
    assert 0 < fit < 9
    assert model.tiles(*args, max_entries=100) == fit
    assert model.tiles(*args, first=fit) == 9
    reference = _kernels.Model(*per_tile, 3.0)
    expected = [reference.blocks(params, kernel_blocked(blocked), tile, schedule.seed, scratch)
                for tiles in schedule.strata for tile in tiles]
    assert sse.tolist() == expected
    for got, want in zip(one, per_tile):
        np.testing.assert_array_equal(got, want)
    # A first tile larger than the budget: nothing runs.
    assert model.tiles(*args, first=0, stop=9, max_entries=sizes[0] - 1) == 0
    for got, want in zip(one, per_tile):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="sse"):
        model.tiles(*args[:-1], sse[:3])
    with pytest.raises(ValueError, match="tile_starts"):
        model.tiles(*args[:2], schedule.blocks[:-1], *args[3:])
    with pytest.raises(IndexError):
        model.tiles(*args[:2], schedule.blocks + 1000, *args[3:])


# ----------------------------------------------------------------------
# Grid and schedule
# ----------------------------------------------------------------------
def test_grid_fits_one_blocks_factors_in_half_the_cache_and_shrinks_with_k():
    cache = 1 << 20
    sizes = []
    for k in (8, 32, 64, 128):
        grid = _blocks.choose_grid(200_000, 50_000, k, 4, cache_bytes=cache)
        footprint = (grid.row_block_size + grid.col_block_size) * k * 4
        assert footprint <= cache // 2
        assert grid.n_row_blocks * grid.row_block_size >= 200_000
        assert grid.n_col_blocks * grid.col_block_size >= 50_000
        sizes.append(grid.row_block_size)
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    small = _blocks.choose_grid(4, 5, 2, 8, cache_bytes=cache)
    assert (small.n_row_blocks, small.n_col_blocks, small.n_tiles) == (1, 1, 1)


@pytest.mark.parametrize("shape_blocks", [(7, 5), (16, 16), (40, 3)])
def test_epoch_schedule_visits_every_block_once_in_conflict_free_strata(shape_blocks):
    nrb, ncb = shape_blocks
    grid = _blocks.Grid(10, 10, nrb, ncb, min(nrb, ncb, _blocks.MAX_TILES))
    schedule = _blocks.epoch_schedule(grid, seed=5, epoch=3)
    np.testing.assert_array_equal(np.sort(schedule.block_sequence()), np.arange(nrb * ncb))
    assert len(schedule.strata) == grid.n_tiles
    for tiles in schedule.strata:
        row_sets = [set((t // ncb).tolist()) for t in tiles]
        col_sets = [set((t % ncb).tolist()) for t in tiles]
        for a in range(len(tiles)):
            for b in range(a + 1, len(tiles)):
                assert not row_sets[a] & row_sets[b]
                assert not col_sets[a] & col_sets[b]
    same = _blocks.epoch_schedule(grid, seed=5, epoch=3)
    np.testing.assert_array_equal(same.block_sequence(), schedule.block_sequence())
    assert same.seed == schedule.seed
    other = _blocks.epoch_schedule(grid, seed=5, epoch=4)
    assert not np.array_equal(other.block_sequence(), schedule.block_sequence())


_MASK64 = (1 << 64) - 1


class _SplitMix64:
    """splitmix64 in Python integers, with cmf.h's bounded draw and shuffle (an independent reference)."""

    def __init__(self, state):
        self.state = state & _MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def draw(self, n):
        """Uniform in [0, n): multiply-shift on the top 32 bits, rejecting the biased low products."""
        while True:
            m = (self.next() >> 32) * n
            if m % 2**32 >= (2**32 - n) % n:
                return m >> 32

    def shuffle(self, values):
        """Inside-out Fisher-Yates."""
        out = []
        for i, v in enumerate(values):
            out.append(v)
            if i > 0:
                j = self.draw(i + 1)
                out[i], out[j] = out[j], v
        return out


def test_reference_splitmix64_matches_the_published_stream():
    # splitmix64 from state 0 (Vigna's reference implementation).
    rng = _SplitMix64(0)
    assert [rng.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def _schedule_by_definition(grid, seed, epoch):
    """The schedule as cmf.h defines it, one tile at a time: strata of block lists and the block seed."""
    rng = _SplitMix64(seed ^ 0x243F6A8885A308D3)
    rng = _SplitMix64(rng.next() ^ epoch)
    rng = _SplitMix64(rng.next())
    G = grid.n_tiles
    alpha, beta, gamma = rng.shuffle(range(G)), rng.shuffle(range(G)), rng.shuffle(range(G))
    row_bounds = [a * grid.n_row_blocks // G for a in range(G + 1)]
    col_bounds = [b * grid.n_col_blocks // G for b in range(G + 1)]
    rows = [rng.shuffle(range(row_bounds[a], row_bounds[a + 1])) for a in range(G)]
    cols = [rng.shuffle(range(col_bounds[b], col_bounds[b + 1])) for b in range(G)]
    block_seed = rng.next()

    def tile(a, b):
        return [r * grid.n_col_blocks + c for r in rows[a] for c in cols[b]]

    strata = [[tile(alpha[j], beta[(j + gamma[s]) % G]) for j in range(G)] for s in range(G)]
    return strata, block_seed


@pytest.mark.parametrize("grid", [
    _blocks.Grid(4, 5, 1, 1, 1),      # the seed matrix's grid: one block, one tile
    _blocks.Grid(3, 3, 1, 6, 1),
    _blocks.Grid(236, 236, 4, 8, 4),  # MovieLens 100K at k = 100
    _blocks.Grid(7, 5, 5, 9, 3),
    _blocks.Grid(7, 5, 2, 9, 2),
    _blocks.Grid(1, 1, 13, 4, 4),
    _blocks.Grid(1, 1, 40, 33, 16),
])
def test_epoch_schedule_is_its_definition(grid):
    for seed in (0, 5, 2**62 + 3, 2**64 - 1):
        for epoch in (1, 2, 17, 1000):
            schedule = _blocks.epoch_schedule(grid, seed, epoch)
            strata, block_seed = _schedule_by_definition(grid, seed, epoch)
            assert schedule.seed == block_seed
            assert [[tile.tolist() for tile in tiles] for tiles in schedule.strata] == strata
            assert schedule.blocks.dtype == np.int32 and schedule.tile_starts.dtype == np.int64
            sizes = [len(tile) for tiles in strata for tile in tiles]
            assert schedule.tile_starts.tolist() == np.concatenate([[0], np.cumsum(sizes)]).tolist()
            assert schedule.blocks.tolist() == [b for tiles in strata for tile in tiles for b in tile]


def test_epoch_schedule_of_a_fixed_small_grid():
    # 3 x 5 blocks, 2 tiles per side: tile rows hold row blocks 0 | 1, 2,
    # tile columns column blocks 0, 1 | 2, 3, 4. Checkable by hand: stratum 0
    # is tile (0, 0), row order [0] x column order [1, 0], then tile (1, 1),
    # rows [1, 2] x columns [4, 2, 3]; stratum 1 is tile (0, 1) then (1, 0),
    # with the same row and column orders. The draws are the definition's
    # (pinned so that a change of it shows; the C tests pin the same case).
    schedule = _blocks.epoch_schedule(_blocks.Grid(1, 1, 3, 5, 2), seed=1, epoch=2)
    assert schedule.tile_starts.tolist() == [0, 2, 8, 11, 15]
    assert schedule.blocks.tolist() == [1, 0, 9, 7, 8, 14, 12, 13, 4, 2, 3, 6, 5, 11, 10]
    assert schedule.seed == 0xBEFE892A6FEA4980


def test_epoch_schedule_refuses_grids_it_cannot_tile():
    with pytest.raises(ValueError):
        _blocks.epoch_schedule(_blocks.Grid(1, 1, 3, 5, 4), seed=1, epoch=1)  # 4 tiles, 3 row blocks
    with pytest.raises(ValueError):
        _kernels.epoch_schedule(1, 1, 300, 300, _kernels.MAX_TILES + 1)
    with pytest.raises(ValueError):
        _kernels.epoch_schedule(1, 1, 65536, 65536, 1)
    blocks, tile_starts, _ = _kernels.epoch_schedule(1, 1, 0, 7, 1)
    assert blocks.tolist() == [] and tile_starts.tolist() == [0, 0]


# ----------------------------------------------------------------------
# Training with blocks
# ----------------------------------------------------------------------
def low_rank_ratings(n_rows=600, n_cols=400, rank=4, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n_rows, rank)) / np.sqrt(rank)
    Q = rng.standard_normal((n_cols, rank))
    mask = rng.random((n_rows, n_cols)) < density
    rows, cols = np.nonzero(mask)
    perm = rng.permutation(len(rows))
    rows, cols = rows[perm], cols[perm]
    values = 3 + np.einsum("ij,ij->i", P[rows], Q[cols]) + 0.1 * rng.standard_normal(len(rows))
    return rows, cols, values, (n_rows, n_cols)


def test_blocked_training_converges_as_well_as_a_global_permutation(monkeypatch):
    # A small cache forces a real grid (several blocks per side) on small data.
    monkeypatch.setattr(_blocks, "GRID_CACHE_BYTES", 16 << 10)
    rows, cols, values, shape = low_rank_ratings()
    curves = {}
    for blocking in (True, False):
        # Mean curves of three seeds: where the loss falls fastest, one
        # seed's curve is a few epochs' noise away from another's (up to
        # about 7% with either order), which the mean evens out.
        runs = []
        for seed in range(3):
            model = cmf.MatrixFactorization(n_factors=8, learning_rate=0.02, regularization=0.01, max_epochs=15,
                                            tol=0, blocking=blocking, n_threads=1, random_state=seed,
                                            dtype="float64")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cmf.ConvergenceWarning)
                model.fit_triplets(rows, cols, values, shape=shape)
            runs.append(model.history_["train_rmse"])
        curves[blocking] = np.mean(runs, axis=0)
    grid = _blocks.choose_grid(*shape, 8, 8)
    assert grid.n_row_blocks >= 4 and grid.n_col_blocks >= 4
    # Both learn the matrix (noise 0.1) and the blocked curve tracks the
    # random-order one epoch by epoch.
    assert curves[True][-1] < 0.2 and curves[False][-1] < 0.2
    np.testing.assert_allclose(curves[True], curves[False], rtol=0.05)


def test_blocked_training_diverges_cleanly():
    rows, cols, values, shape = low_rank_ratings()
    model = cmf.MatrixFactorization(n_factors=8, learning_rate=50.0, max_epochs=5, blocking=True, random_state=0)
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        model.fit_triplets(rows, cols, values * 1e3, shape=shape)
    assert not model.__sklearn_is_fitted__()  # a failed fit stores nothing
    assert np.all(np.isfinite(info.value.history["train_loss"])) and len(info.value.history["epoch"]) < 5


def test_blocking_parameter_is_validated():
    rows, cols, values, shape = low_rank_ratings(50, 40)
    with pytest.raises(ValueError, match="blocking"):
        cmf.MatrixFactorization(blocking="sometimes").fit_triplets(rows, cols, values, shape=shape)
    with pytest.raises(ValueError, match="shuffle"):
        cmf.MatrixFactorization(blocking=True, shuffle=False).fit_triplets(rows, cols, values, shape=shape)


def test_cutting_tiles_into_short_calls_changes_nothing(monkeypatch):
    # Large tiles are run in calls of about CHUNK_SIZE entries (so Ctrl-C is
    # seen between them); the result must not depend on where the cuts fall.
    from cmf._train import epochs as _training

    monkeypatch.setattr(_blocks, "GRID_CACHE_BYTES", 16 << 10)
    rows, cols, values, shape = low_rank_ratings(300, 200)

    def fit(n_threads=2):
        model = cmf.MatrixFactorization(n_factors=4, max_epochs=3, tol=0, n_threads=n_threads, random_state=1,
                                        dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            return model.fit_triplets(rows, cols, values, shape=shape)

    whole = fit()
    monkeypatch.setattr(_training, "CHUNK_SIZE", 7)
    cut = fit()
    np.testing.assert_array_equal(cut.user_factors_, whole.user_factors_)
    np.testing.assert_array_equal(cut.item_bias_, whole.item_bias_)
    # The loss is summed per call, so only its last bits may differ.
    np.testing.assert_allclose(cut.history_["train_loss"], whole.history_["train_loss"], rtol=1e-14)
    # One thread cuts the tiles larger than a chunk the same way: the same bits, loss included.
    alone = fit(n_threads=1)
    np.testing.assert_array_equal(alone.user_factors_, cut.user_factors_)
    np.testing.assert_array_equal(alone.item_bias_, cut.item_bias_)
    assert alone.history_["train_loss"] == cut.history_["train_loss"]


def test_tile_limit_is_a_power_of_two_twice_the_cpus_between_4_and_16():
    # Hand-computed: 2 x CPUs rounded up to a power of two, clamped to [4, 16].
    expected = {None: 4, 1: 4, 2: 4, 3: 8, 4: 8, 5: 16, 8: 16, 64: 16}
    assert {n: _blocks.tiles_for_cpus(n) for n in expected} == expected


def test_blocked_epochs_compute_schedules_in_batches_each_once(monkeypatch, seed_matrix):
    from cmf._train import epochs as _epochs

    computed = []
    real = _blocks.epoch_schedule

    def counting(grid, seed, epoch):
        computed.append(epoch)
        return real(grid, seed, epoch)

    monkeypatch.setattr(_blocks, "epoch_schedule", counting)

    def fit(max_epochs):
        model = cmf.MatrixFactorization(n_factors=2, max_epochs=max_epochs, tol=0, n_iter_no_change=max_epochs,
                                        random_state=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            return model.fit(seed_matrix)

    # Eight at a time, each epoch once, none past max_epochs.
    batched = fit(20)
    assert computed == list(range(1, 21))
    assert batched.n_epochs_ == 20
    # The same bits as computing each epoch's schedule when it starts.
    computed.clear()
    monkeypatch.setattr(_epochs, "schedules_ahead", lambda grid: 1)
    one_by_one = fit(20)
    assert computed == list(range(1, 21))
    np.testing.assert_array_equal(batched.user_factors_, one_by_one.user_factors_)
    np.testing.assert_array_equal(batched.item_factors_, one_by_one.item_factors_)
    assert batched.history_["train_loss"] == one_by_one.history_["train_loss"]


def test_schedules_ahead_shrinks_with_the_grid():
    from cmf._train.epochs import MAX_SCHEDULES_AHEAD, schedules_ahead

    assert schedules_ahead(_blocks.Grid(4, 5, 1, 1, 1)) == MAX_SCHEDULES_AHEAD
    assert schedules_ahead(_blocks.Grid(236, 236, 4, 8, 4)) == MAX_SCHEDULES_AHEAD
    assert schedules_ahead(_blocks.Grid(64, 64, 64, 32, 4)) == 2
    assert schedules_ahead(_blocks.Grid(1024, 1024, 2000, 500, 4)) == 1
