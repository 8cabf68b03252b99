"""Epoch sources: where an epoch's updates come from, behind one small interface.

An :class:`Epochs` object runs epoch after epoch on the training state in
place (``run(epoch) -> sse``) and is a context manager, so that what it
holds (a thread pool, futures on a cluster) is released however training
ends. :class:`PermutationEpochs` visits one global permutation per epoch
(or the stored order without shuffle), :class:`BlockedEpochs` the
cache-blocked schedule of :mod:`cmf._train.blocks`; :mod:`cmf.dask` runs
the same blocked schedule on a cluster. A :class:`TrainingData` (local
:class:`LocalData`, or the Dask fit's) says how big the data is, measures its
statistics and opens its epochs. Every epoch call into :mod:`cmf._kernels`
is made here.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Protocol

import numpy as np

from cmf import _kernels
from cmf._input import Triplets
from cmf._train import blocks as _blocks
from cmf._train.config import TrainingConfig
from cmf._train.interrupt import DeferredInterrupt
from cmf._train.probe import select_probe
from cmf._train.state import FactorState
from cmf._train.stats import DataStats, measure

__all__ = ["Epochs", "TrainingData", "PermutationEpochs", "BlockedEpochs", "LocalData", "run_epoch", "epoch_call",
           "blocked_tile_call", "chunk_updates", "training_grid", "draw_block_seed", "schedules_ahead", "CHUNK_SIZE"]

#: AdaGrad accumulators of rows and of columns, or (None, None) for plain SGD.
AdaGrad = tuple["np.ndarray | None", "np.ndarray | None"]

# Updates per call into C for n_factors <= 32. Between calls Python handles
# signals (Ctrl-C), so a chunk must take well under a second: measured on a
# loaded 2-core machine, 65536 random-access updates take about 40 ms at
# k = 16, and the time per update grows about linearly with k beyond 32,
# hence the scaling in chunk_updates (about 10-40 ms per chunk at any k,
# against a few microseconds of overhead per call).
CHUNK_SIZE = 1 << 16


def chunk_updates(n_factors: int) -> int:
    """Updates per call into C, so that one call takes a few tens of milliseconds."""
    return max(1, CHUNK_SIZE * 32 // max(int(n_factors), 32))


def training_grid(shape: tuple[int, int], n_entries: int, config: TrainingConfig) -> _blocks.Grid:
    """The block grid of a blocked fit (shared with cmf.dask, so both cut alike)."""
    return _blocks.choose_grid(shape[0], shape[1], config.n_factors, config.dtype.itemsize, n_entries=n_entries,
                               machine=config.machine_grid)


def draw_block_seed(rng: np.random.Generator) -> int:
    """The base seed of every blocked epoch's schedule, drawn after the initial factors."""
    return int(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))


def kernel_params(config: TrainingConfig) -> Any:
    """The C kernel's parameters (``cmf_params``), checked once; the step may change between epochs."""
    return _kernels.Params(
        learning_rate=config.learning_rate, regularization=config.regularization,
        bias_regularization=config.bias_regularization, update_biases=config.biased, adaptive=config.adaptive,
        loss=config.loss, l1_regularization=config.l1, nonnegative=config.nonnegative,
    )


def kernel_model(state: FactorState, config: TrainingConfig, adagrad: AdaGrad = (None, None),
                 params: Any = None) -> tuple[Any, Any]:
    """The C kernel's parameters (``params``, or new ones) and model over ``state``, reused by every call."""
    params = kernel_params(config) if params is None else params
    biases = (state.b, state.c) if config.biased else (None, None)
    model = _kernels.Model(state.P, state.Q, *biases, state.mu, row_adagrad=adagrad[0], col_adagrad=adagrad[1])
    return params, model


def epoch_call(
    state: FactorState, data: Triplets, config: TrainingConfig, adagrad: AdaGrad = (None, None), params: Any = None
) -> Callable[[np.ndarray | None, Callable[[], None] | None], float]:
    """The function ``call(order, between_chunks)`` that runs one SGD pass over ``data`` on ``state``.

    The kernel's objects are built here, once per fit. A pass visits
    ``order`` (the stored order if None) in chunks of :func:`chunk_updates`
    updates, so that Python can react to signals between calls into C; the
    result is the same as one call. ``between_chunks``, when given, is
    called after every chunk (it may raise to stop). ``params`` (from
    :func:`kernel_params`) lets the caller change the step between passes.
    """
    params, model = kernel_model(state, config, adagrad, params)
    entries = _kernels.Entries(data.rows, data.cols, data.values, data.weights)
    chunk = chunk_updates(config.n_factors)

    def call(order: np.ndarray | None, between_chunks: Callable[[], None] | None = None) -> float:
        n = len(data) if order is None else len(order)
        sse = 0.0
        for start in range(0, n, chunk):
            sse += model.epoch(params, entries, order, start, min(start + chunk, n))
            if between_chunks is not None:
                between_chunks()
        return sse

    return call


def run_epoch(
    state: FactorState,
    data: Triplets,
    order: np.ndarray | None,
    config: TrainingConfig,
    between_chunks: Callable[[], None] | None = None,
    adagrad: AdaGrad = (None, None),
) -> float:
    """One SGD pass over ``data`` in ``order`` (stored order if None); returns the SSE.

    :func:`epoch_call` for a single pass (fits build the call once instead).
    """
    return epoch_call(state, data, config, adagrad)(order, between_chunks)


def blocked_tile_call(
    state: FactorState,
    blocked: _blocks.BlockedData,
    config: TrainingConfig,
    adagrad: AdaGrad = (None, None),
    params: Any = None,
) -> _blocks.TileCall:
    """The function ``call(blocks, seed, scratch, keys=None, *, check=None)`` that runs one tile's blocks.

    A tile's blocks are cut into *pieces*, calls of about
    :func:`chunk_updates` entries (at least one block: blocks are not cut),
    so that no single call into C runs long; the parameters are the same as
    with one call, since the blocks are visited in the same order either
    way, and the pieces are a function of the blocks' sizes and
    ``n_factors`` only, so the tile's sum of squared errors is too.
    ``check``, when given, is called before every piece but the first (it
    may raise to abandon the tile): that is how Ctrl-C stops a blocked
    epoch within one piece (for BlockedRunner). ``params`` (from
    :func:`kernel_params`) lets the caller change the step between epochs.
    The call also has ``tiles`` and ``chunk`` (see
    :data:`cmf._train.blocks.TileCall`): several whole tiles in one call
    into C, for a single thread.
    """
    g = blocked.grid
    chunk = chunk_updates(config.n_factors)
    sizes = np.diff(blocked.block_ptr)
    params, model = kernel_model(state, config, adagrad, params)
    kernel_blocked = _kernels.Blocked(
        blocked.block_ptr, blocked.local_rows, blocked.local_cols, blocked.values, n_row_blocks=g.n_row_blocks,
        n_col_blocks=g.n_col_blocks, row_block_size=g.row_block_size, col_block_size=g.col_block_size,
        weights=blocked.weights,
    )

    kernel = model.blocks
    max_block = blocked.max_block

    def call(blocks: np.ndarray, seed: int, scratch: np.ndarray, keys: np.ndarray | None = None, *,
             check: Callable[[], None] | None = None) -> float:
        # keys: the blocks' numbers in a larger grid when ``blocked`` is one
        # tile of it on a slab of the model (cmf.dask); None for the whole grid.
        if len(blocks) * max_block <= chunk:
            # Small tile (the usual case): one call, no bookkeeping, so that
            # threads hold the GIL as briefly as possible.
            return kernel(params, kernel_blocked, blocks, seed, scratch, keys)
        counts = sizes[blocks]
        # Group consecutive blocks by which chunk-sized window their first
        # entry falls in: each call runs about ``chunk`` updates.
        window = (np.cumsum(counts) - counts) // chunk
        bounds = [0, *(np.flatnonzero(np.diff(window)) + 1).tolist(), len(blocks)]
        sse = 0.0
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if check is not None and start > 0:
                check()
            sse += kernel(params, kernel_blocked, blocks[start:stop], seed, scratch,
                          None if keys is None else keys[start:stop])
        return sse

    # Several whole tiles in one call into C, for BlockedRunner's single
    # thread (each tile's sum as ``call`` gives it for a tile of at most
    # ``chunk`` entries).
    call.tiles = functools.partial(model.tiles, params, kernel_blocked)  # type: ignore[attr-defined]
    call.chunk = chunk  # type: ignore[attr-defined]
    return call


class Epochs(Protocol):
    """Runs the epochs of one fit on its state, in place; a context manager.

    Entering acquires what the epochs need (a thread pool, slabs of the
    model on a cluster); leaving releases it, however training ended.
    """

    def __enter__(self) -> "Epochs": ...

    def __exit__(self, *exc_info: object) -> None: ...

    def run(self, epoch: int, learning_rate: float, next_learning_rate: float) -> float:
        """Run epoch ``epoch`` (from 1) at step ``learning_rate`` on the state; return its sum of squared errors.

        ``next_learning_rate`` is the step of the next epoch should the
        caller keep this one: a source may start on it early.
        """
        ...

    def rollback(self) -> None:
        """The caller has put the state back to before the last epoch: drop any work that started from it."""
        ...


class TrainingData(Protocol):
    """Training data wherever it lives: its size, its statistics, its epochs.

    ``shape`` and ``n_entries`` are those of the matrix and its entries (as
    in :class:`~cmf._train.stats.DataStats`); ``resident_entries`` counts the
    entries this process holds (0 when a cluster holds them), which is what
    the memory check counts.
    """

    shape: tuple[int, int]
    n_entries: int
    resident_entries: int

    def statistics(self, biased: bool, offset: float | None) -> DataStats:
        """The data's :class:`~cmf._train.stats.DataStats` (see :func:`cmf._train.stats.measure`)."""
        ...

    def epochs(self, state: FactorState, config: TrainingConfig, rng: np.random.Generator, adagrad: AdaGrad,
               interrupt: DeferredInterrupt) -> Epochs:
        """The epochs on ``state``; ``rng`` has drawn the initial factors already."""
        ...

    def probe(self, fraction: float) -> Triplets:
        """The entries of :func:`cmf._train.probe.select_probe` with share ``fraction``, here on the client."""
        ...


class PermutationEpochs:
    """Each epoch visits one global permutation of the entries (the stored order without shuffle).

    Ctrl-C is checked between chunks of :func:`chunk_updates` updates.
    """

    def __init__(self, data: Triplets, state: FactorState, config: TrainingConfig, rng: np.random.Generator,
                 adagrad: AdaGrad, interrupt: DeferredInterrupt) -> None:
        self.rng, self.interrupt = rng, interrupt
        self.order = np.arange(len(data), dtype=np.int64) if config.shuffle else None
        self.params = kernel_params(config)
        self.call = epoch_call(state, data, config, adagrad, self.params)

    def __enter__(self) -> "PermutationEpochs":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.order = None

    def rollback(self) -> None:
        """Nothing to drop: each epoch starts from the state as it is."""

    def run(self, epoch: int, learning_rate: float, next_learning_rate: float) -> float:
        """Run one epoch at ``learning_rate`` in a fresh order drawn from ``rng``; return the SSE."""
        self.params.learning_rate = learning_rate
        if self.order is not None:
            self.rng.shuffle(self.order)
        return self.call(self.order, self.interrupt.check)


# Blocks of all the epochs' schedules computed together (see schedules_ahead).
SCHEDULE_BATCH_BLOCKS = 1 << 12
# Most epochs whose schedules are computed together: a fit that stops
# early has computed at most this many less one for nothing (each a few
# microseconds).
MAX_SCHEDULES_AHEAD = 32


def schedules_ahead(grid: _blocks.Grid) -> int:
    """How many epochs' schedules :class:`BlockedEpochs` computes at a time.

    A schedule is one call into C, but right after an epoch, whose data
    pushed Python's own code and objects out of the CPU caches, the Python
    around it costs several times what it costs warm (on MovieLens 100K at
    k = 100, a loaded 2-core machine: 24 us of Python per epoch around the
    tiles with a schedule per epoch, 16 with eight at a time); computed
    several at a time, only the first of each batch pays that. It is still
    about 30 us there on an AMD EPYC host, against 5 for each further one,
    so a batch holds up to :data:`MAX_SCHEDULES_AHEAD` (a 20-epoch fit
    pays it once; eight at a time, three times). Schedules are functions
    of the seed and the epoch number, so when they are computed changes no
    result. Large grids, whose epochs take far longer than their schedule,
    get fewer at a time, down to one (they would only hold memory).
    """
    return max(1, min(MAX_SCHEDULES_AHEAD, SCHEDULE_BATCH_BLOCKS // (grid.n_row_blocks * grid.n_col_blocks)))


class BlockedEpochs:
    """Cache-blocked epochs: entries partitioned once, strata of tiles run on a thread pool.

    The base seed of every epoch's schedule is drawn from ``rng`` here,
    after the initial factors, so that those stay what the seed always
    gave. Ctrl-C is checked between pieces of tiles, in every thread
    (see :meth:`cmf._train.blocks.BlockedRunner.run_epoch`).
    """

    def __init__(self, data: Triplets, state: FactorState, config: TrainingConfig, rng: np.random.Generator,
                 adagrad: AdaGrad, interrupt: DeferredInterrupt) -> None:
        self.seed = draw_block_seed(rng)
        self.grid = training_grid(data.shape, len(data), config)
        self.blocked = _blocks.partition(data, self.grid)
        self.params = kernel_params(config)
        self.tile_call = blocked_tile_call(state, self.blocked, config, adagrad, self.params)
        self.runner = _blocks.BlockedRunner(self.blocked, config.n_threads)
        self.interrupt = interrupt
        # What the pool threads read between pieces: made once, not every epoch.
        self.stopping = lambda: interrupt.pending
        self.max_epochs = config.max_epochs
        self.ahead = schedules_ahead(self.grid)
        self._schedules: dict[int, _blocks.EpochSchedule] = {}

    def __enter__(self) -> "BlockedEpochs":
        self.runner.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.runner.__exit__(*exc_info)

    def rollback(self) -> None:
        """Nothing to drop: each epoch starts from the state as it is."""

    def schedule(self, epoch: int) -> _blocks.EpochSchedule:
        """Epoch ``epoch``'s schedule; on a miss, also those of the next epochs (:func:`schedules_ahead`)."""
        schedule = self._schedules.get(epoch)
        if schedule is None:
            last = max(epoch, min(epoch + self.ahead - 1, self.max_epochs))
            self._schedules = {e: _blocks.epoch_schedule(self.grid, self.seed, e) for e in range(epoch, last + 1)}
            schedule = self._schedules[epoch]
        return schedule

    def run(self, epoch: int, learning_rate: float, next_learning_rate: float) -> float:
        """Run the strata of epoch ``epoch``'s schedule at ``learning_rate``; return the SSE."""
        self.params.learning_rate = learning_rate
        return self.runner.run_epoch(self.tile_call, self.schedule(epoch), between=self.interrupt.check,
                                     stopping=self.stopping)


class LocalData:
    """Training data held in this process as :class:`~cmf._input.Triplets`."""

    def __init__(self, data: Triplets) -> None:
        self.data = data
        self.shape = data.shape
        self.n_entries = self.resident_entries = len(data)

    def statistics(self, biased: bool, offset: float | None) -> DataStats:
        """:func:`cmf._train.stats.measure` of the entries."""
        return measure(self.data, biased, offset)

    def probe(self, fraction: float) -> Triplets:
        """:func:`cmf._train.probe.select_probe` of the entries."""
        return select_probe(self.data, fraction)

    def epochs(self, state: FactorState, config: TrainingConfig, rng: np.random.Generator, adagrad: AdaGrad,
               interrupt: DeferredInterrupt) -> Epochs:
        """Blocked epochs when ``config`` asks for them (and shuffles), else permutation epochs."""
        if config.adaptive and self.data.weights is not None:
            raise ValueError("adaptive=True does not support sample weights; pass adaptive=False or no weights")
        kind = BlockedEpochs if config.blocked and config.shuffle else PermutationEpochs
        return kind(self.data, state, config, rng, adagrad, interrupt)
