"""The work a Dask worker does for :mod:`cmf.dask`: read, split, tile and train.

Everything here is a plain function of plain data (NumPy arrays and small
dataclasses), so that Dask can ship it to a worker by reference, run it
again on another worker after a failure, and get the same bits. Nothing
here imports Dask.

The layout: the block grid of :mod:`cmf._train.blocks` is cut into ``G x G``
*tiles* (tile row ``I`` holds the row blocks ``row_bounds[I]:row_bounds[I+1]``,
tile column ``J`` the column blocks ``col_bounds[J]:col_bounds[J+1]``), the
tiles of the local blocked fit. Each tile's entries are partitioned into the
tile's own block grid, numbered row-major within the tile, and run with the
blocks' numbers in the whole grid as the seeds of their orders
(``cmf_sgd_blocks_keyed_*``), on slabs of the model whose row 0 is the
tile's first row and column: the same updates, in the same order, as the
local fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cmf._input import Triplets, all_finite, all_whole
from cmf._train import blocks as _blocks, exact as _exact
from cmf._train.config import TrainingConfig
from cmf._train.epochs import blocked_tile_call
from cmf._train.probe import select_probe
from cmf._train.state import FactorState, pad_factors, unpad_factors
from cmf._train.stats import index_counts


@dataclass(frozen=True)
class Layout:
    """Where every entry and every factor row goes.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, n_cols)``.
    grid : cmf._train.blocks.Grid
        The block grid; ``grid.n_tiles`` is G.
    row_bounds, col_bounds : ndarray of int64, shape (G + 1,)
        Tile boundaries in row and column blocks.
    """

    shape: tuple[int, int]
    grid: _blocks.Grid
    row_bounds: np.ndarray
    col_bounds: np.ndarray

    @classmethod
    def make(cls, shape: tuple[int, int], grid: _blocks.Grid) -> "Layout":
        """The layout of ``grid``'s tiles, as :func:`cmf._train.blocks.epoch_schedule` cuts them."""
        G = grid.n_tiles
        return cls(shape, grid, _blocks._ranges(grid.n_row_blocks, G), _blocks._ranges(grid.n_col_blocks, G))

    def row_range(self, I: int) -> tuple[int, int]:
        """First row and one past the last row of tile row ``I``."""
        size = self.grid.row_block_size
        return (int(self.row_bounds[I]) * size, min(int(self.row_bounds[I + 1]) * size, self.shape[0]))

    def col_range(self, J: int) -> tuple[int, int]:
        """First column and one past the last column of tile column ``J``."""
        size = self.grid.col_block_size
        return (int(self.col_bounds[J]) * size, min(int(self.col_bounds[J + 1]) * size, self.shape[1]))

    def tile_of_blocks(self, blocks: np.ndarray) -> tuple[int, int]:
        """The tile ``(I, J)`` that a schedule's block list belongs to."""
        first = int(blocks[0])
        R, C = divmod(first, self.grid.n_col_blocks)
        I = int(np.searchsorted(self.row_bounds, R, side="right")) - 1
        J = int(np.searchsorted(self.col_bounds, C, side="right")) - 1
        return I, J


@dataclass(frozen=True)
class Tile:
    """One tile's entries, partitioned into the tile's own block grid.

    Attributes
    ----------
    I, J : int
        Tile row and column.
    blocked : cmf._train.blocks.BlockedData
        Entries in blocks; local indices relative to the tile's first row
        and column.
    row_counts, col_counts : ndarray of int64
        Entries per row (column) of the tile's row (column) range.
    exact_sum : tuple of (int, int)
        The exact sum of the values (:mod:`cmf._train.exact`).
    square_sum : tuple of (int, int) or None
        The exact sum of their squares; None for float64 values beyond
        1e300 in magnitude, whose squares overflow.
    """

    I: int
    J: int
    blocked: _blocks.BlockedData
    row_counts: np.ndarray
    col_counts: np.ndarray
    exact_sum: _exact.ExactSum
    square_sum: _exact.ExactSum | None


# ----------------------------------------------------------------------
# Reading and checking the input partitions
# ----------------------------------------------------------------------
def _check_piece(rows: Any, cols: Any, values: Any, dtype: Any, where: str) -> Triplets:
    """Validate one partition's columns into Triplets (of no known shape yet) with a clear error."""
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values)
    if not (rows.ndim == cols.ndim == values.ndim == 1) or not (len(rows) == len(cols) == len(values)):
        raise ValueError(f"{where}: rows, cols and values must be 1-D and of the same length, "
                         f"got shapes {rows.shape}, {cols.shape}, {values.shape}")
    for name, a in (("row", rows), ("column", cols)):
        if a.dtype.kind == "f":
            if not (all_finite(a) and all_whole(a)):
                raise ValueError(f"{where}: {name} indices must be whole numbers")
        elif a.dtype.kind not in "iu" and a.size:
            raise TypeError(f"{where}: {name} indices must be integers, got dtype {a.dtype}")
        if a.size and a.min() < 0:
            raise ValueError(f"{where}: {name} indices must be >= 0, found {a.min()}")
        if a.size and a.max() > np.iinfo(np.int32).max:
            raise ValueError(f"{where}: {name} indices must be below 2**31, found {a.max()}")
    if values.dtype.kind not in "iuf" and values.size:
        raise TypeError(f"{where}: values must be numbers, got dtype {values.dtype}")
    values = values.astype(dtype, copy=False)
    if not all_finite(values):
        raise ValueError(f"{where}: values must be finite (found NaN or infinity in {dtype.name}); "
                         "drop or impute them first")
    # int32 halves what the tiling moves; indices are below 2**31 (checked).
    return Triplets(rows.astype(np.int32, copy=False), cols.astype(np.int32, copy=False), values, None)


def piece_from_arrays(rows: Any, cols: Any, values: Any, dtype: Any, where: str) -> Triplets:
    """Triplets from three array chunks (a chunk of Dask arrays)."""
    return _check_piece(rows, cols, values, np.dtype(dtype), where)


def piece_from_frame(frame: Any, columns: Sequence[Any], dtype: Any, where: str) -> Triplets:
    """Triplets from a pandas DataFrame partition and the names of its three columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{where}: no column(s) {missing}; the frame has {list(frame.columns)}")
    r, c, v = (frame[name].to_numpy() for name in columns)
    return _check_piece(r, c, v, np.dtype(dtype), where)


def read_file(path: str | os.PathLike[str], sep: str | None, dtype: Any) -> Triplets:
    """Read ``row col value [...]`` lines from a text file on the worker.

    Parameters
    ----------
    path : str or path-like
        A file every worker can read (a shared file system).
    sep : str or None
        Field separator; None splits on any whitespace (tabs, as MovieLens's
        ``u.data``); ``","`` for CSV. Lines starting with ``#`` are skipped,
        and so is a first line that is not numeric (a header). Columns after
        the third (a timestamp) are ignored.
    dtype : dtype
        Dtype of the values.

    Returns
    -------
    Triplets
    """
    where = os.fspath(path)
    try:
        with open(path) as fh:
            first = fh.readline()
    except OSError as exc:
        raise OSError(f"cannot read ratings file {where!r} on worker: {exc}") from exc
    fields = first.split(sep) if first.strip() else []
    skip = 0
    if fields and not first.lstrip().startswith("#"):
        try:
            [float(f) for f in fields[:3]]
        except ValueError:
            skip = 1  # a header line
    try:
        table = np.loadtxt(path, delimiter=sep, usecols=(0, 1, 2), skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{where}: cannot parse as 'row col value' lines: {exc}") from exc
    return _check_piece(table[:, 0], table[:, 1], table[:, 2], np.dtype(dtype), where)


def piece_stats(piece: Triplets) -> dict[str, Any]:
    """Entries, largest indices, value range and the exact sum of the values of a partition's Triplets."""
    n = len(piece)
    return {
        "n": n,
        "max_row": int(piece.rows.max()) if n else -1,
        "max_col": int(piece.cols.max()) if n else -1,
        "min": float(piece.values.min()) if n else np.inf,
        "max": float(piece.values.max()) if n else -np.inf,
        "exact_sum": _exact.exact_sum(piece.values),
    }


# ----------------------------------------------------------------------
# Tiling (once per fit)
# ----------------------------------------------------------------------
def split_piece(piece: Triplets, layout: Layout) -> list[Triplets]:
    """Cut a partition's Triplets by tile; element ``I * G + J`` goes to tile ``(I, J)``.

    Each part keeps the entries in their input order (a stable sort), so
    that a tile built from the parts of every partition, concatenated in
    partition order, holds its entries in the order of the whole input.
    """
    g = layout.grid
    G = g.n_tiles
    n_rows, n_cols = layout.shape
    if len(piece) and (piece.rows.max() >= n_rows or piece.cols.max() >= n_cols):
        raise ValueError(f"an entry lies outside the shape {layout.shape}: the largest row is "
                         f"{piece.rows.max()}, the largest column {piece.cols.max()}")
    I = np.searchsorted(layout.row_bounds, piece.rows // g.row_block_size, side="right") - 1
    J = np.searchsorted(layout.col_bounds, piece.cols // g.col_block_size, side="right") - 1
    tile = I * G + J
    order = np.argsort(tile, kind="stable")
    bounds = np.searchsorted(tile[order], np.arange(G * G + 1))
    parts = []
    for t in range(G * G):
        idx = order[bounds[t]:bounds[t + 1]]
        parts.append(Triplets(piece.rows[idx], piece.cols[idx], piece.values[idx], None))
    return parts


def part_of(parts: list[Triplets], index: int) -> Triplets:
    """Element ``index`` of :func:`split_piece`'s result (a task of its own)."""
    return parts[index]


def build_tile(layout: Layout, I: int, J: int, *parts: Triplets) -> Tile:
    """Concatenate a tile's parts (in partition order) and partition them into blocks."""
    r0, r1 = layout.row_range(I)
    c0, c1 = layout.col_range(J)
    dtype = parts[0].values.dtype if parts else np.dtype(np.float64)
    rows = np.concatenate([p.rows for p in parts]) - r0 if parts else np.empty(0, np.int64)
    cols = np.concatenate([p.cols for p in parts]) - c0 if parts else np.empty(0, np.int64)
    values = np.concatenate([p.values for p in parts]) if parts else np.empty(0, dtype)
    shape = (r1 - r0, c1 - c0)
    g = layout.grid
    local = _blocks.Grid(
        g.row_block_size, g.col_block_size,
        int(layout.row_bounds[I + 1] - layout.row_bounds[I]),
        int(layout.col_bounds[J + 1] - layout.col_bounds[J]),
        1,
    )
    data = Triplets(rows.astype(np.int32), cols.astype(np.int32), values, shape)
    blocked = _blocks.partition(data, local)
    sums = _exact.exact_sums(values)
    return Tile(
        I, J, blocked,
        index_counts(data.rows, shape[0]),
        index_counts(data.cols, shape[1]),
        _exact.exact_sum(values) if sums is None else sums[0],
        None if sums is None else sums[1],
    )


def tile_summary(tile: Tile) -> dict[str, Any]:
    """What the client needs of a tile: its counts, size and exact sums."""
    return {
        "I": tile.I,
        "J": tile.J,
        "n": len(tile.blocked),
        "nbytes": int(tile.blocked.local_rows.nbytes + tile.blocked.local_cols.nbytes
                      + tile.blocked.values.nbytes + tile.blocked.block_ptr.nbytes),
        "row_counts": tile.row_counts,
        "col_counts": tile.col_counts,
        "exact_sum": tile.exact_sum,
        "square_sum": tile.square_sum,
    }


def tile_probe(tile: Tile, layout: Layout, fraction: float) -> Triplets:
    """The tile's entries in the probe of share ``fraction`` (:func:`cmf._train.probe.select_probe`)."""
    rows, cols = tile.blocked.global_indices()
    r0, _ = layout.row_range(tile.I)
    c0, _ = layout.col_range(tile.J)
    return select_probe(Triplets(rows, cols, tile.blocked.values, None), fraction, r0, c0)


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
def run_tile(
    tile: Tile,
    row_slab: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    col_slab: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    layout: Layout,
    config: TrainingConfig,
    mu: float,
    blocks: np.ndarray,
    seed: int,
) -> tuple[tuple[Any, ...], tuple[Any, ...], float]:
    """Run one tile of a stratum on copies of its factor slabs.

    Parameters
    ----------
    tile : Tile
    row_slab, col_slab : tuple of ndarray
        ``(P_slab, b_slab, A_slab)`` and ``(Q_slab, c_slab, A_slab)`` of the
        tile's row and column ranges, ``A_slab`` the AdaGrad accumulators
        (two per row) or None. They are not modified: a task's inputs must
        stay valid for Dask to run it again.
    layout : Layout
    config : cmf._train.config.TrainingConfig
    mu : float
        The model's global offset.
    blocks : ndarray of int32
        The tile's blocks in visiting order, numbered in the whole grid (a
        tile of :func:`cmf._train.blocks.epoch_schedule`).
    seed : int
        The epoch's seed of the orders inside the blocks.

    Returns
    -------
    tuple
        The updated row slab, column slab and the tile's sum of squared
        errors, as the local blocked fit computes it.
    """
    g = layout.grid
    n_local_cols = int(layout.col_bounds[tile.J + 1] - layout.col_bounds[tile.J])
    R, C = np.divmod(blocks.astype(np.int64), g.n_col_blocks)
    local = ((R - layout.row_bounds[tile.I]) * n_local_cols + (C - layout.col_bounds[tile.J])).astype(np.int32)
    b, A = (None if a is None else a.copy() for a in row_slab[1:])
    c, B = (None if a is None else a.copy() for a in col_slab[1:])
    # Factor rows aligned and padded as in the local fit (the same bits),
    # cut back for the trip to the next worker.
    state = pad_factors(FactorState(row_slab[0], col_slab[0], b, c, mu), copy=True)
    call = blocked_tile_call(state, tile.blocked, config, (A, B))
    scratch = np.empty(max(tile.blocked.max_block, 1), dtype=np.int32)
    sse = call(local, seed, scratch, np.ascontiguousarray(blocks, dtype=np.int32))
    state = unpad_factors(state, config.n_factors)
    return (state.P, b, A), (state.Q, c, B), sse


def item(result: tuple[Any, ...], index: int) -> Any:
    """Element ``index`` of a task's tuple result (a task of its own, so only it moves)."""
    return result[index]
