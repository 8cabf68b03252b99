"""Cache-blocked SGD epochs: the block grid, the per-epoch schedule and the threads.

The entries are sorted once per fit into a grid of blocks of rows x columns
(:func:`partition`), sized so that the factor rows of one block fit in the
CPU's L2 cache. The grid is grouped into ``G x G`` *tiles*; an epoch is
``G`` *strata*, each a set of ``G`` tiles no two of which share a row range
or a column range (the stratified scheme of DSGD / FPSGD). Tiles of one
stratum touch disjoint parts of the model, so they run on any number of
threads in any order and give the same bits; strata run one after the
other. Every order is a function of the seed and the epoch number only:

- which tiles form each stratum and in which order the strata come: from a
  splitmix64 stream seeded with ``(seed, epoch)``, in C
  (``cmf_epoch_schedule``);
- the order of the blocks inside a tile: a shuffled order of its row blocks,
  and for each a shuffled order of its column blocks (the same stream);
- the order of the entries inside a block: computed in C from
  ``(epoch seed, block)`` (``cmf_block_order``).

So the result is bit-identical for a given seed whatever ``n_threads`` is.

This module is long because the grid, the partition, the schedule and the runner are one algorithm whose invariants
(which tiles form a stratum, which thread may touch which rows) are easiest
to check side by side; the epoch source that drives them is
:class:`cmf._train.epochs.BlockedEpochs`.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from cmf import _kernels
from cmf._input import Triplets
from cmf._train import dataflow as _dataflow

# The cache budget and the tile count of the default grid. They are fixed,
# not read from the machine, so that a seed gives the same bits on every
# machine whatever its cache size and core count (``blocking="machine"``
# opts into a grid sized for this machine instead). 1 MiB is the per-core
# L2 of current x86 and arm64 server cores (512 KiB on some: blocks then
# spill to L3, still far better than a random order).
GRID_CACHE_BYTES = 1 << 20
# L2 size assumed by ``blocking="machine"`` when the OS does not report one.
DEFAULT_L2_BYTES = GRID_CACHE_BYTES


def tiles_for_cpus(n_cpus: int | None) -> int:
    """Largest tile grid ``G`` suited to a machine with ``n_cpus`` logical CPUs.

    Used by ``blocking="machine"`` only. ``G`` tiles per stratum bound how
    many threads share a stratum's work, and every stratum sweeps all the
    row factors, which costs when they exceed the cache: on the
    10M-rating set at k = 64 (2 cores), 8 tiles take 29.3 ns per update
    with one thread and 15.9 with two, 4 tiles 27.9 and 14.2
    (benchmarks/README.md). So ``G`` is the power of two at least twice the
    CPU count (two tiles per thread for load balance), between 4 and 16.

    Parameters
    ----------
    n_cpus : int or None
        ``os.cpu_count()``; None counts as 2.

    Returns
    -------
    int
    """
    want = 2 * max(1, n_cpus or 2)
    return min(16, max(4, 1 << (want - 1).bit_length()))


# Tiles per side of the default grid. Every stratum sweeps all the row
# factors, so fewer tiles are faster (W2, k=64, 2 cores: 4 tiles 27.9 / 14.2
# ns per update with 1 / 2 threads, 8 tiles 29.3 / 15.9), but a stratum has
# only this many independent tiles: more threads than this share no work
# (``blocking="machine"`` takes up to 16 on machines with more cores).
MAX_TILES = 4
# Smallest block side: below this the per-block overhead dominates.
MIN_BLOCK_SIZE = 64
# Largest block side: a block of distinct pairs then holds at most
# 46340**2 < 2**31 entries, the most a block's order can index in C.
MAX_BLOCK_SIDE = 46340
# Fewest entries worth a tile of its own (one call into C, ~20 us of Python).
MIN_TILE_ENTRIES = 4096
# Entries one block may hold (cmf_block_order numbers them with int32_t).
MAX_BLOCK_ENTRIES = 2**31 - 1


def l2_cache_bytes() -> int:
    """Per-core L2 cache size in bytes, as reported by the OS, or a safe default.

    Returns
    -------
    int
        The size from ``sysconf`` (Linux) or sysfs, else ``DEFAULT_L2_BYTES``.
    """
    try:
        size = os.sysconf("SC_LEVEL2_CACHE_SIZE")
        if size and size > 0:
            return int(size)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as fh:
            text = fh.read().strip()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:].upper(), 1)
        return int(text.rstrip("KkMm")) * scale
    except (OSError, ValueError):
        return DEFAULT_L2_BYTES


@dataclass(frozen=True)
class Grid:
    """A block grid over an ``(n_rows, n_cols)`` matrix.

    Attributes
    ----------
    row_block_size, col_block_size : int
        Rows and columns per block.
    n_row_blocks, n_col_blocks : int
        Blocks along each side (``ceil(n / block_size)``).
    n_tiles : int
        ``G``: tiles per side, and the number of tiles in a stratum.
    """

    row_block_size: int
    col_block_size: int
    n_row_blocks: int
    n_col_blocks: int
    n_tiles: int


def choose_grid(
    n_rows: int,
    n_cols: int,
    n_factors: int,
    itemsize: int,
    cache_bytes: int | None = None,
    n_entries: int | None = None,
    *,
    machine: bool = False,
) -> Grid:
    """Choose block sizes so that one block's factor rows fill half a cache budget.

    A block of ``s`` rows and ``s`` columns touches at most ``2 s`` factor
    rows of ``n_factors * itemsize`` bytes; half the budget is left for the
    entries, the biases and everything else. The same side for rows and
    columns minimises the factor traffic per epoch for a given cache budget.
    When ``n_entries`` is given and the matrix is small enough for a few
    blocks, the side shrinks further so that a stratum still has several
    tiles of at least ``MIN_TILE_ENTRIES`` entries for the threads to share.
    The grid never depends on the number of threads, and by default not on
    the machine either: the budget is ``GRID_CACHE_BYTES`` and the tiles
    per side at most ``MAX_TILES``.

    Parameters
    ----------
    n_rows, n_cols : int
        Matrix shape.
    n_factors : int
        Latent dimension k.
    itemsize : int
        Bytes per factor (4 or 8).
    cache_bytes : int, optional
        The cache budget; ``GRID_CACHE_BYTES`` when omitted (this machine's
        L2 size with ``machine=True``).
    n_entries : int, optional
        Number of entries (ratings) the grid will hold.
    machine : bool, default False
        Size the grid for this machine: the budget from its L2 cache and
        the tile limit from its CPU count (:func:`tiles_for_cpus`). Faster
        on some machines; the same seed then gives other bits on machines
        with another L2 size or CPU count.

    Returns
    -------
    Grid
    """
    if cache_bytes is None:
        cache_bytes = l2_cache_bytes() if machine else GRID_CACHE_BYTES
    max_tiles = tiles_for_cpus(os.cpu_count()) if machine else MAX_TILES
    side = (int(cache_bytes) // 2) // (2 * n_factors * itemsize)
    if n_entries is not None and min(n_rows, n_cols) > 0:
        tiles = min(max_tiles, math.isqrt(max(n_entries, 0) // MIN_TILE_ENTRIES))
        if tiles > 1:
            side = min(side, -(-min(n_rows, n_cols) // tiles))
    side = int(min(max(side, MIN_BLOCK_SIZE), MAX_BLOCK_SIDE, _kernels.MAX_BLOCK_SIZE))
    row_size = min(side, max(n_rows, 1))
    col_size = min(side, max(n_cols, 1))
    n_row_blocks = _kernels.n_blocks(n_rows, row_size)
    n_col_blocks = _kernels.n_blocks(n_cols, col_size)
    n_tiles = max(1, min(max_tiles, n_row_blocks, n_col_blocks))
    return Grid(row_size, col_size, n_row_blocks, n_col_blocks, n_tiles)


@dataclass(frozen=True)
class BlockedData:
    """Entries sorted into a grid of blocks (the output of :func:`partition`).

    Attributes
    ----------
    grid : Grid
    block_ptr : ndarray of int64, shape (n_row_blocks * n_col_blocks + 1,)
        Block ``b`` holds entries ``block_ptr[b]:block_ptr[b + 1]``.
    local_rows, local_cols : ndarray of uint16, shape (n,)
        Row and column of each entry relative to its block's first ones.
    values : ndarray of float32 or float64, shape (n,)
    max_block : int
        Entries in the largest block (the scratch length one thread needs).
    weights : ndarray of the values' dtype, shape (n,), or None
        Each entry's weight, permuted with the values (None: all 1).
    """

    grid: Grid
    block_ptr: np.ndarray
    local_rows: np.ndarray
    local_cols: np.ndarray
    values: np.ndarray
    max_block: int
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def global_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of every entry in block order (for tests and checks)."""
        g = self.grid
        block = np.repeat(np.arange(g.n_row_blocks * g.n_col_blocks), np.diff(self.block_ptr))
        rows = (block // g.n_col_blocks) * g.row_block_size + self.local_rows
        cols = (block % g.n_col_blocks) * g.col_block_size + self.local_cols
        return rows.astype(np.int32), cols.astype(np.int32)


def partition(data: Triplets, grid: Grid) -> BlockedData:
    """Sort triplets into the blocks of ``grid`` (counting sort in C, O(n)).

    Uses 8 bytes per entry in float32 (two uint16 local indices and the
    value) and 12 in float64: less than the int32 triplets it copies.

    Parameters
    ----------
    data : Triplets
    grid : Grid

    Returns
    -------
    BlockedData

    Raises
    ------
    ValueError
        When one block would hold more than ``MAX_BLOCK_ENTRIES`` entries
        (only possible with pairs repeated that often).
    """
    n_rows, n_cols = data.shape
    entries = _kernels.Entries(data.rows, data.cols, data.values, data.weights)
    kb = _kernels.partition(entries, n_rows, n_cols, grid.row_block_size, grid.col_block_size)
    if kb.max_block > MAX_BLOCK_ENTRIES:
        raise ValueError(
            f"one block of {grid.row_block_size} rows x {grid.col_block_size} columns holds {kb.max_block:,} "
            f"ratings, more than the {MAX_BLOCK_ENTRIES:,} a block can hold: the data repeat (row, column) "
            "pairs that often. Merge the repeats (duplicates='mean' or 'last') or pass blocking=False")
    return BlockedData(grid, kb.block_ptr, kb.local_rows, kb.local_cols, kb.values, kb.max_block, kb.weights)


def _ranges(n: int, parts: int) -> np.ndarray:
    """Boundaries splitting ``range(n)`` into ``parts`` contiguous near-equal ranges."""
    return (np.arange(parts + 1, dtype=np.int64) * n) // parts


@dataclass(frozen=True, eq=False)
class EpochSchedule:
    """The visiting order of one epoch (computed by ``cmf_epoch_schedule``).

    Attributes
    ----------
    blocks : ndarray of int32, shape (n_row_blocks * n_col_blocks,)
        Every block once, in the order a single thread visits them: the
        tiles one after the other, stratum after stratum.
    tile_starts : ndarray of int64, shape (G * G + 1,)
        Tile ``j`` of stratum ``s`` is
        ``blocks[tile_starts[s * G + j]:tile_starts[s * G + j + 1]]``.
    seed : int
        Unsigned 64-bit seed of the orders inside the blocks.
    """

    blocks: np.ndarray
    tile_starts: np.ndarray
    seed: int

    @functools.cached_property
    def strata(self) -> list[list[np.ndarray]]:
        """``strata[s][t]``: the block list of the t-th tile of stratum s (views of ``blocks``).

        Tiles of one stratum share no row or column block.
        """
        starts = self.tile_starts.tolist()
        G = math.isqrt(len(starts) - 1)
        return [[self.blocks[starts[s * G + j]:starts[s * G + j + 1]] for j in range(G)] for s in range(G)]

    def block_sequence(self) -> np.ndarray:
        """All blocks in the order a single thread visits them."""
        return self.blocks


def epoch_schedule(grid: Grid, seed: int, epoch: int) -> EpochSchedule:
    """The order of the blocks in an epoch, a pure function of ``(seed, epoch)`` and the grid.

    Tile row ``a`` is the row blocks ``_ranges(n_row_blocks, G)[a]`` up
    to the next bound, tile column ``b`` likewise; the strata form a Latin
    square drawn from three random permutations of the ``G`` tile rows,
    tile columns and strata; a tile visits its row blocks in a shuffled
    order (one per tile row, shared by its tiles) and, for each, its
    column blocks in a shuffled order (one per tile column). The draws
    come from a splitmix64 stream seeded from ``(seed, epoch)``; cmf.h
    (``cmf_epoch_schedule``) defines them exactly.

    Parameters
    ----------
    grid : Grid
    seed : int
        Non-negative base seed of the fit (below ``2**64``).
    epoch : int
        Epoch number.

    Returns
    -------
    EpochSchedule
    """
    blocks, tile_starts, block_seed = _kernels.epoch_schedule(seed, epoch, grid.n_row_blocks, grid.n_col_blocks,
                                                              grid.n_tiles)
    return EpochSchedule(blocks, tile_starts, block_seed)


def epoch_sse(tile_sums: Iterable[float]) -> float:
    """An epoch's sum of squared errors from its tiles' sums, as every blocked fit adds them.

    Correctly rounded (:func:`math.fsum`), so the same bits whatever the
    order in which the tiles ran or were grouped into calls: one thread,
    several, or the tiles of a Dask cluster.
    """
    return math.fsum(tile_sums)


def largest_first(tiles: list[np.ndarray], block_len: np.ndarray) -> list[int]:
    """The order in which the threads take the tiles of a stratum: most entries first.

    With threads taking the next tile as they become free, a stratum then
    ends at most about one small tile after the ideal (on the 10M-rating
    set at 2 threads, a simulated 1.7% above the ideal instead of 3.4% in
    the schedule's order). Tiles of a stratum are independent, so this
    order changes no result.

    Parameters
    ----------
    tiles : list of ndarray of int32
        Each tile's block numbers.
    block_len : ndarray of int64
        Entries per block.

    Returns
    -------
    list of int
        Tile positions by decreasing number of entries, ties in schedule order.
    """
    sizes = [int(block_len[blocks].sum()) for blocks in tiles]
    return sorted(range(len(tiles)), key=lambda t: -sizes[t])


#: ``tile_call(blocks, seed, scratch, *, check=None) -> sse``: runs the kernel on one tile's block list in
#: pieces, calling ``check()`` between them (:func:`cmf._train.epochs.blocked_tile_call`). It may also have
#: ``tiles(blocks, tile_starts, seed, scratch, sse, *, first, max_entries) -> end``, which runs the tiles
#: ``first:end`` that hold at most ``max_entries`` entries together in one call into C (each tile's sum
#: into ``sse``; ``Model.tiles``), and ``chunk``, the entries such a call should hold at most; without
#: them one thread runs the tiles one call each.
TileCall = Callable[..., float]


class BlockedRunner:
    """Runs blocked epochs on a model with a fixed number of threads.

    With one thread every tile runs on the calling thread, as many
    consecutive small tiles per call into C as hold at most a chunk of
    entries (``tile_call.tiles``); with more, the calling thread and
    ``n_threads - 1`` pool threads run the epoch's tiles (the C kernel
    releases the GIL) stratum after stratum, each stratum's tiles with the
    most entries first, and a thread free for a tile of the next stratum
    need not wait for the rest of this one: only for the tiles that share
    its rows or columns (:mod:`cmf._train.dataflow`), so the bits are those
    of one thread. Each tile's sum of squared errors is stored in its slot
    and the slots are added correctly rounded (:func:`epoch_sse`), so the
    loss does not depend on the thread count either.

    A stop (Ctrl-C, a cancelled search, a kernel error in another thread)
    is taken between two pieces of a tile (a call into C of a few tens of
    milliseconds, see :func:`cmf._train.epochs.blocked_tile_call`) by every
    thread, so an epoch is abandoned within about one piece whatever the
    size of the model and the number of threads.

    Parameters
    ----------
    blocked : BlockedData
    n_threads : int
        At least 1.
    """

    def __init__(self, blocked: BlockedData, n_threads: int) -> None:
        self.blocked = blocked
        self.n_threads = max(1, min(int(n_threads), blocked.grid.n_tiles))
        self._scratch = [np.empty(max(blocked.max_block, 1), dtype=np.int32) for _ in range(self.n_threads)]
        self._block_len = np.diff(blocked.block_ptr)
        self._tile_sse = np.empty(blocked.grid.n_tiles ** 2)  # the single thread's sums of the tiles
        # The same sums read as Python floats without a call into NumPy,
        # whose code an epoch has pushed out of the CPU caches.
        self._tile_sums = memoryview(self._tile_sse)
        # The calling thread runs tiles too, so a stratum costs one hand-off
        # per extra thread (tens of microseconds each on a busy machine).
        self._pool = (ThreadPoolExecutor(self.n_threads - 1, thread_name_prefix="cmf-sgd")
                      if self.n_threads > 1 else None)

    def close(self) -> None:
        """Stop the worker threads (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> "BlockedRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_epoch(
        self,
        tile_call: TileCall,
        schedule: EpochSchedule,
        between: Callable[[], None] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> float:
        """Run every stratum of ``schedule``; return the epoch's sum of squared errors.

        Parameters
        ----------
        tile_call : TileCall
            Runs the kernel on one tile's block list, in pieces.
        schedule : EpochSchedule
        between : callable, optional
            Called on the calling thread between two pieces, after every
            tile (one thread: after every call into C) and after every
            stratum; it may raise (e.g. a deferred Ctrl-C) to abandon the
            epoch.
        stopping : callable, optional
            Read by the pool threads between two pieces (from any thread):
            True when ``between`` would raise. They then leave their tiles,
            so that the calling thread, if it is waiting for them, gets to
            call ``between`` within about one piece.

        Returns
        -------
        float
        """
        if self._pool is None:
            return self._run_alone(tile_call, schedule, between)
        return self._run_threads(tile_call, schedule, between, stopping)

    def _run_alone(self, tile_call: TileCall, schedule: EpochSchedule, between: Callable[[], None] | None) -> float:
        """One thread: the tiles in order, as many consecutive ones per call into C as fill a chunk."""
        scratch, seed = self._scratch[0], schedule.seed
        blocks, starts = schedule.blocks, schedule.tile_starts
        tiles = getattr(tile_call, "tiles", None)
        if tiles is None:  # one call per tile
            sums = []
            for stratum in schedule.strata:
                for tile in stratum:
                    sums.append(tile_call(tile, seed, scratch, check=between))
                    if between is not None:
                        between()
            return epoch_sse(sums)
        chunk = tile_call.chunk  # type: ignore[attr-defined]
        sse = self._tile_sse  # each tile's sum in its slot
        n_tiles, t = len(sse), 0
        while t < n_tiles:
            # As many tiles as hold at most a chunk of entries, in one call.
            end = tiles(blocks, starts, seed, scratch, sse, first=t, max_entries=chunk)
            if end == t:  # tile t alone holds more: in pieces of its blocks
                sse[t] = tile_call(blocks[starts[t]:starts[t + 1]], seed, scratch, check=between)
                end = t + 1
            if between is not None:
                between()
            t = end
        return epoch_sse(self._tile_sums)

    def _run_threads(self, tile_call: TileCall, schedule: EpochSchedule, between: Callable[[], None] | None,
                     stopping: Callable[[], bool] | None) -> float:
        """Several threads: the tiles in sequence (stratum after stratum, each largest first), no barriers."""
        G, grid = len(schedule.strata), self.blocked.grid
        # A tile's row (column) range: that of its first block's row (column).
        row_bounds, col_bounds = _ranges(grid.n_row_blocks, G), _ranges(grid.n_col_blocks, G)
        tiles, slots, row_ranges, col_ranges = [], [], [], []
        for s, stratum in enumerate(schedule.strata):
            for t in largest_first(stratum, self._block_len):
                row_block, col_block = divmod(int(stratum[t][0]), grid.n_col_blocks)
                tiles.append(stratum[t])
                slots.append(s * G + t)
                row_ranges.append(int(np.searchsorted(row_bounds, row_block, side="right")) - 1)
                col_ranges.append(int(np.searchsorted(col_bounds, col_block, side="right")) - 1)
        sse = np.zeros(G * G)
        assert self._pool is not None
        _dataflow.run_tiles(tile_call, tiles, _dataflow.dependencies(row_ranges, col_ranges), slots, sse, schedule.seed,
                            self._scratch, self._pool, between=between, stopping=stopping)
        return epoch_sse(sse.tolist())
