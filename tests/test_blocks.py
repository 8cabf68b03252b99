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


def _schedule_by_definition(grid, seed, epoch):
    """The schedule as the blocks module describes it, one tile at a time (an independent reference)."""
    rng = np.random.default_rng([seed, epoch])
    G = grid.n_tiles
    row_bounds = (np.arange(G + 1) * grid.n_row_blocks) // G
    col_bounds = (np.arange(G + 1) * grid.n_col_blocks) // G
    # Inside each tile row (column), its blocks in the order of their random keys.
    row_keys, col_keys = rng.random(grid.n_row_blocks), rng.random(grid.n_col_blocks)
    row_order = np.concatenate([a + np.argsort(row_keys[a:b], kind="stable")
                                for a, b in zip(row_bounds[:-1], row_bounds[1:])])
    col_order = np.concatenate([a + np.argsort(col_keys[a:b], kind="stable")
                                for a, b in zip(col_bounds[:-1], col_bounds[1:])])

    def tile(a, b):
        rows = row_order[row_bounds[a]:row_bounds[a + 1]]
        cols = col_order[col_bounds[b]:col_bounds[b + 1]]
        return np.array([r * grid.n_col_blocks + c for r in rows for c in cols], dtype=np.int32)

    alpha, beta, gamma = rng.permutation(G), rng.permutation(G), rng.permutation(G)
    strata = [[tile(alpha[j], beta[(j + gamma[s]) % G]) for j in range(G)] for s in range(G)]
    return strata, int(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))


@pytest.mark.parametrize("grid", [
    _blocks.Grid(4, 5, 1, 1, 1),      # the seed matrix's grid: one block, one tile
    _blocks.Grid(3, 3, 1, 6, 1),
    _blocks.Grid(236, 236, 4, 8, 4),  # MovieLens 100K at k = 100
    _blocks.Grid(7, 5, 5, 9, 3),
    _blocks.Grid(7, 5, 2, 9, 2),
    _blocks.Grid(1, 1, 13, 4, 4),
])
def test_epoch_schedule_is_its_definition(grid):
    # The schedule is computed every epoch, so it is written for speed
    # (cached per-grid layout, tiles as slices of one array, no draws for a
    # one-tile grid); its blocks, their order and the block seed are the
    # ones its definition gives, so the fits keep their bits.
    for seed in (0, 5, 2**62 + 3):
        for epoch in (1, 2, 17):
            schedule = _blocks.epoch_schedule(grid, seed, epoch)
            strata, block_seed = _schedule_by_definition(grid, seed, epoch)
            assert schedule.seed == block_seed
            assert [len(tiles) for tiles in schedule.strata] == [len(tiles) for tiles in strata]
            for tiles, expected in zip(schedule.strata, strata):
                for got, want in zip(tiles, expected):
                    assert got.dtype == np.int32
                    np.testing.assert_array_equal(got, want)


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
        model = cmf.MatrixFactorization(n_factors=8, learning_rate=0.02, regularization=0.01, max_epochs=15,
                                        tol=0, blocking=blocking, n_threads=1, random_state=0, dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            model.fit_triplets(rows, cols, values, shape=shape)
        curves[blocking] = np.array(model.history_["train_rmse"])
    grid = _blocks.choose_grid(*shape, 8, 8)
    assert grid.n_row_blocks >= 4 and grid.n_col_blocks >= 4
    # Both learn the matrix (noise 0.1) and the blocked curve tracks the
    # random-order one epoch by epoch.
    assert curves[True][-1] < 0.2 and curves[False][-1] < 0.2
    np.testing.assert_allclose(curves[True], curves[False], rtol=0.05)


def test_blocked_training_diverges_cleanly():
    rows, cols, values, shape = low_rank_ratings()
    model = cmf.MatrixFactorization(n_factors=8, learning_rate=50.0, max_epochs=5, blocking=True, random_state=0)
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate"):
        model.fit_triplets(rows, cols, values * 1e3, shape=shape)
    assert np.all(np.isfinite(model.user_factors_))


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

    def fit():
        model = cmf.MatrixFactorization(n_factors=4, max_epochs=3, tol=0, n_threads=2, random_state=1,
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
