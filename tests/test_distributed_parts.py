"""The worker-side pieces of cmf.dask (cmf._distributed), in one process, without Dask.

The reference for a tile run on slabs is the same blocks run by the local
blocked kernel on the whole model (itself checked against the NumPy
reference in test_blocks.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cmf import _distributed, _kernels
from cmf._train import blocks as _blocks, epochs as _training
from cmf._input import Triplets
from cmf.datasets import make_ratings


def _layout(d, G, k=8, itemsize=8):
    grid = _blocks.choose_grid(d.shape[0], d.shape[1], k, itemsize, cache_bytes=64 * 1024)
    return _distributed.Layout.make(d.shape, dataclasses.replace(grid, n_tiles=G))


def _config(dtype, **kw):
    params = dict(n_factors=8, learning_rate=0.02, regularization=0.05, bias_regularization=0.02, max_epochs=1,
                  tol=0.0, n_iter_no_change=5, init_std=0.1, biased=True, shuffle=True, patience=None,
                  dtype=np.dtype(dtype), blocked=True, n_threads=1)
    params.update(kw)
    return _training.TrainingConfig(**params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tile_on_slabs_equals_whole_grid(dtype):
    """Every tile of an epoch, run on its slabs with block keys, gives the whole-grid bits."""
    d = make_ratings(1500, 1100, 40_000, random_state=3, dtype=dtype)
    G = 3
    layout = _layout(d, G)
    assert layout.grid.n_row_blocks > G and layout.grid.n_col_blocks > G  # several blocks per tile
    config = _config(dtype)
    rng = np.random.default_rng(0)
    P = (rng.standard_normal((d.shape[0], 8)) * 0.1).astype(dtype)
    Q = (rng.standard_normal((d.shape[1], 8)) * 0.1).astype(dtype)
    b, c = np.zeros(d.shape[0], dtype), np.zeros(d.shape[1], dtype)
    whole = _training.FactorState(P.copy(), Q.copy(), b.copy(), c.copy(), 3.5)
    triplets = Triplets(d.rows, d.cols, d.values, d.shape)
    blocked = _blocks.partition(triplets, dataclasses.replace(layout.grid))
    call = _training.blocked_tile_call(whole, blocked, config)

    # Two input partitions, split and tiled as the workers do.
    parts = [_distributed.split_piece(_distributed.piece_from_arrays(r, c_, v, dtype, "test"), layout)
             for r, c_, v in zip(*(np.array_split(a, 2) for a in (d.rows, d.cols, d.values)))]
    tiles = {(I, J): _distributed.build_tile(layout, I, J, *(p[I * G + J] for p in parts))
             for I in range(G) for J in range(G)}
    assert sum(len(t.blocked) for t in tiles.values()) == len(d.values)

    schedule = _blocks.epoch_schedule(layout.grid, 42, 1)
    scratch = np.empty(blocked.max_block, np.int32)
    for stratum in schedule.strata:
        for blocks in stratum:
            I, J = layout.tile_of_blocks(blocks)
            r0, r1 = layout.row_range(I)
            c0, c1 = layout.col_range(J)
            rows = (P[r0:r1], b[r0:r1], None)
            cols = (Q[c0:c1], c[c0:c1], None)
            before = P[r0:r1].copy(), Q[c0:c1].copy()
            (P_t, b_t, _), (Q_t, c_t, _), sse = _distributed.run_tile(
                tiles[I, J], rows, cols, layout, config, 3.5, blocks, schedule.seed)
            # The inputs are left alone (Dask may run a task again) and the
            # outputs did change.
            np.testing.assert_array_equal(P[r0:r1], before[0])
            np.testing.assert_array_equal(Q[c0:c1], before[1])
            assert not np.array_equal(P_t, before[0])
            P[r0:r1], b[r0:r1], Q[c0:c1], c[c0:c1] = P_t, b_t, Q_t, c_t
            assert sse == call(blocks, schedule.seed, scratch)
    np.testing.assert_array_equal(P, whole.P)
    np.testing.assert_array_equal(Q, whole.Q)
    np.testing.assert_array_equal(b, whole.b)
    np.testing.assert_array_equal(c, whole.c)


def test_keys_change_only_the_order_inside_blocks():
    """With keys equal to the block numbers the keyed call is the plain one; other keys differ."""
    d = make_ratings(600, 500, 20_000, random_state=4, dtype=np.float64)
    grid = _blocks.choose_grid(*d.shape, 8, 8, cache_bytes=64 * 1024)
    blocked = _blocks.partition(Triplets(d.rows, d.cols, d.values, d.shape), grid)
    blocks = np.arange(grid.n_row_blocks * grid.n_col_blocks, dtype=np.int32)
    results = []
    for keys in (None, blocks, blocks + 1):
        state = _training.FactorState(np.full((d.shape[0], 8), 0.1), np.full((d.shape[1], 8), 0.1),
                                      np.zeros(d.shape[0]), np.zeros(d.shape[1]), 3.0)
        call = _training.blocked_tile_call(state, blocked, _config(np.float64))
        sse = call(blocks, 7, np.empty(blocked.max_block, np.int32), keys)
        results.append((sse, state.P.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][1], results[2][1])
    with pytest.raises(ValueError, match="keys"):
        _kernels.Model(state.P, state.Q, state.b, state.c, 3.0).blocks(
            _kernels.Params(learning_rate=0.01, regularization=0.0),
            _kernels.Blocked(blocked.block_ptr, blocked.local_rows, blocked.local_cols, blocked.values,
                             n_row_blocks=grid.n_row_blocks, n_col_blocks=grid.n_col_blocks,
                             row_block_size=grid.row_block_size, col_block_size=grid.col_block_size),
            blocks, 7, np.empty(blocked.max_block, np.int32), keys=blocks[:-1])


def test_split_keeps_input_order_within_tiles():
    d = make_ratings(900, 700, 10_000, random_state=5)
    layout = _layout(d, 2, itemsize=4)
    piece = _distributed.piece_from_arrays(d.rows, d.cols, d.values, "float32", "test")
    assert isinstance(piece, Triplets) and piece.shape is None  # a partition's matrix is not known yet
    parts = _distributed.split_piece(piece, layout)
    order = np.arange(len(d.values))
    seen = []
    for part in parts:
        # Positions of the part's entries in the input: increasing.
        key = part.rows.astype(np.int64) * d.shape[1] + part.cols
        position = order[np.isin(d.rows.astype(np.int64) * d.shape[1] + d.cols, key)]
        seen.append(len(part))
        assert np.array_equal(np.sort(position), position)
        np.testing.assert_array_equal(part.values, d.values[position])
    assert sum(seen) == len(d.values)


def test_read_file_formats_and_errors(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("# a comment\n0\t1\t4.5\t881250949\n2\t0\t3\t881250950\n")
    piece = _distributed.read_file(tsv, None, "float64")
    np.testing.assert_array_equal(piece.rows, [0, 2])
    np.testing.assert_array_equal(piece.cols, [1, 0])
    np.testing.assert_array_equal(piece.values, [4.5, 3.0])
    csv = tmp_path / "b.csv"
    csv.write_text("user,item,rating\n5,6,1.25\n")
    piece = _distributed.read_file(csv, ",", "float32")
    assert piece.values.dtype == np.float32 and piece.values[0] == 1.25 and piece.rows[0] == 5
    bad = tmp_path / "c.tsv"
    bad.write_text("1\t2\tnan\n")
    with pytest.raises(ValueError, match="finite"):
        _distributed.read_file(bad, None, "float64")
    frac = tmp_path / "d.tsv"
    frac.write_text("1.5\t2\t3\n")
    with pytest.raises(ValueError, match="whole numbers"):
        _distributed.read_file(frac, None, "float64")
    with pytest.raises(OSError, match="cannot read ratings file"):
        _distributed.read_file(tmp_path / "missing.tsv", None, "float64")


def test_piece_checks():
    with pytest.raises(ValueError, match="same length"):
        _distributed.piece_from_arrays([0, 1], [0], [1.0, 2.0], "float64", "chunk 3")
    with pytest.raises(ValueError, match="chunk 3: column indices must be >= 0"):
        _distributed.piece_from_arrays([0, 1], [0, -1], [1.0, 2.0], "float64", "chunk 3")
    with pytest.raises(ValueError, match="below 2\\*\\*31"):
        _distributed.piece_from_arrays([2**31], [0], [1.0], "float64", "chunk 3")
    with pytest.raises(TypeError, match="integers"):
        _distributed.piece_from_arrays(np.array(["a"]), [0], [1.0], "float64", "chunk 3")
