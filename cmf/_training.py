"""The training loop: epochs, visiting order, loss, convergence, early stopping.

This module drives the C kernel (through :mod:`cmf._kernels`) over validated
triplets. It knows nothing about masks, labels or files; the estimator in
:mod:`cmf.model` prepares the data and stores what this returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cmf import _blocks, _exact, _kernels
from cmf._input import Triplets
from cmf.exceptions import DivergenceError

# Updates per call into C. Between calls Python handles signals (Ctrl-C), so
# a chunk should take well under a second even with large n_factors.
CHUNK_SIZE = 1 << 18


@dataclass
class FactorState:
    """The parameters of a factorization, all in one dtype.

    Attributes
    ----------
    P : ndarray, shape (n_rows, k)
        Row (user) factors.
    Q : ndarray, shape (n_cols, k)
        Column (item) factors.
    b : ndarray, shape (n_rows,)
        Row biases (zeros for an unbiased model).
    c : ndarray, shape (n_cols,)
        Column biases (zeros for an unbiased model).
    mu : float
        Global offset.
    """

    P: np.ndarray
    Q: np.ndarray
    b: np.ndarray
    c: np.ndarray
    mu: float

    def copy(self) -> "FactorState":
        """Return a deep copy."""
        return FactorState(self.P.copy(), self.Q.copy(), self.b.copy(), self.c.copy(), self.mu)

    def copy_into(self, other: "FactorState") -> None:
        """Overwrite ``other``'s arrays with this state's values, allocating nothing."""
        np.copyto(other.P, self.P)
        np.copyto(other.Q, self.Q)
        np.copyto(other.b, self.b)
        np.copyto(other.c, self.c)
        other.mu = self.mu


@dataclass(frozen=True)
class TrainingConfig:
    """Validated hyperparameters of one fit."""

    n_factors: int
    learning_rate: float
    regularization: float
    bias_regularization: float
    max_epochs: int
    tol: float
    n_iter_no_change: int
    init_std: float
    biased: bool
    shuffle: bool
    patience: int | None
    dtype: np.dtype
    #: Cache-blocked epochs (see cmf._blocks); needs shuffle. False visits
    #: one global permutation per epoch (or stored order without shuffle).
    blocked: bool = False
    #: Threads running the tiles of a stratum (blocked epochs only).
    n_threads: int = 1
    #: AdaGrad step sizes per factor row and bias (see cmf.h, cmf_params).
    adaptive: bool = False


@dataclass
class TrainingResult:
    """What a fit produced.

    Attributes
    ----------
    state : FactorState
        The parameters to keep (the best epoch's when early stopping restored
        them).
    n_epochs : int
        Epochs run to completion.
    converged : bool
        Whether the tol criterion or early stopping ended training.
    history : dict of list
        Per epoch: ``epoch``, ``train_loss``, ``train_rmse``, ``val_rmse``
        (NaN without validation data) and ``seconds``.
    best_epoch : int or None
        The epoch whose parameters were restored by early stopping.
    """

    state: FactorState
    n_epochs: int = 0
    converged: bool = False
    history: dict[str, list[float]] = field(default_factory=lambda: empty_history())
    best_epoch: int | None = None


def empty_history() -> dict[str, list[float]]:
    """A fresh per-epoch history record with no epochs."""
    return {"epoch": [], "train_loss": [], "train_rmse": [], "val_rmse": [], "seconds": []}


def index_counts(index: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(index, minlength=n)`` without its int64 copy of the whole input.

    bincount converts int32 indices to int64 first (80 MB for 10 million
    entries); counting a chunk at a time bounds that copy.
    """
    counts = np.zeros(n, dtype=np.int64)
    for start in range(0, len(index), CHUNK_SIZE):
        counts += np.bincount(index[start:start + CHUNK_SIZE], minlength=n)
    return counts


def initial_state(data: Triplets, config: TrainingConfig, rng: np.random.Generator) -> FactorState:
    """Random factors N(0, init_std), zero biases, mu = mean of the observed values.

    Rows and columns without any observed entry get zero factors, so that
    the model predicts mu plus the other side's bias for them: they are
    never updated, and random factors would only add noise.
    """
    n_rows, n_cols = data.shape
    return initial_state_from_counts(
        data.shape,
        index_counts(data.rows, n_rows),
        index_counts(data.cols, n_cols),
        _exact.exact_mean(data.values),
        config,
        rng,
    )


def initial_state_from_counts(
    shape: tuple[int, int],
    row_counts: np.ndarray,
    col_counts: np.ndarray,
    mean: float,
    config: TrainingConfig,
    rng: np.random.Generator,
) -> FactorState:
    """:func:`initial_state` from the entries per row and column and their mean.

    For data that is not in one place (:mod:`cmf.dask`): ``mean`` must be
    the correctly rounded mean of the values (:func:`cmf._exact.exact_mean`)
    so that it does not depend on how the data was split.
    """
    n_rows, n_cols = shape
    k, dtype = config.n_factors, config.dtype
    P = rng.standard_normal((n_rows, k), dtype=dtype)
    P *= dtype.type(config.init_std)
    Q = rng.standard_normal((n_cols, k), dtype=dtype)
    Q *= dtype.type(config.init_std)
    P[np.asarray(row_counts) == 0] = 0
    Q[np.asarray(col_counts) == 0] = 0
    mu = float(mean) if config.biased else 0.0
    return FactorState(P, Q, np.zeros(n_rows, dtype), np.zeros(n_cols, dtype), mu)


def training_grid(shape: tuple[int, int], n_entries: int, config: TrainingConfig) -> _blocks.Grid:
    """The block grid of a blocked fit (shared with cmf.dask, so both cut alike)."""
    return _blocks.choose_grid(shape[0], shape[1], config.n_factors, config.dtype.itemsize, n_entries=n_entries)


def draw_block_seed(rng: np.random.Generator) -> int:
    """The base seed of every blocked epoch's schedule, drawn after the initial factors."""
    return int(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))


def adagrad_state(shape: tuple[int, int], config: TrainingConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """AdaGrad accumulators (all ones: 2 per row and per column) or (None, None) for plain SGD."""
    if not config.adaptive:
        return None, None
    return np.ones(2 * shape[0], dtype=config.dtype), np.ones(2 * shape[1], dtype=config.dtype)


def run_epoch(
    state: FactorState,
    data: Triplets,
    order: np.ndarray | None,
    config: TrainingConfig,
    adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> float:
    """One SGD pass over ``data`` in ``order`` (stored order if None); returns the SSE.

    The pass is cut into chunks so that Python can react to signals between
    calls into C; the result is the same as one call. ``adagrad`` holds the
    accumulators of :func:`adagrad_state` when ``config.adaptive``.
    """
    n = len(data) if order is None else len(order)
    bias_args = (state.b, state.c) if config.biased else (None, None)
    sse = 0.0
    for start in range(0, n, CHUNK_SIZE):
        stop = min(start + CHUNK_SIZE, n)
        if order is None:
            rows, cols, values = data.rows[start:stop], data.cols[start:stop], data.values[start:stop]
            chunk_order = None
        else:
            rows, cols, values = data.rows, data.cols, data.values
            chunk_order = order[start:stop]
        sse += _kernels.sgd_epoch(
            rows, cols, values, state.P, state.Q, *bias_args, state.mu,
            config.learning_rate, config.regularization, config.bias_regularization,
            config.biased, chunk_order, config.adaptive, *adagrad,
        )
    return sse


def blocked_tile_call(
    state: FactorState,
    blocked: _blocks.BlockedData,
    config: TrainingConfig,
    adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Callable[[np.ndarray, int, np.ndarray], float]:
    """The function that runs the kernel on one tile's blocks (for BlockedRunner).

    A tile's blocks are cut into calls of about CHUNK_SIZE entries, so that
    Python can react to signals between them; the result is the same as one
    call, since the blocks are visited in the same order either way.
    """
    g = blocked.grid
    sizes = np.diff(blocked.block_ptr)
    bias_args = (state.b, state.c) if config.biased else (None, None)

    def kernel(blocks: np.ndarray, seed: int, scratch: np.ndarray, keys: np.ndarray | None) -> float:
        return _kernels.sgd_blocks(
            blocked.local_rows, blocked.local_cols, blocked.values, blocked.block_ptr,
            g.n_row_blocks, g.n_col_blocks, g.row_block_size, g.col_block_size,
            state.P, state.Q, *bias_args, state.mu,
            config.learning_rate, config.regularization, config.bias_regularization,
            config.biased, blocks, seed, scratch, config.adaptive, *adagrad, keys,
        )

    def call(blocks: np.ndarray, seed: int, scratch: np.ndarray, keys: np.ndarray | None = None) -> float:
        # keys: the blocks' numbers in a larger grid when ``blocked`` is one
        # tile of it on a slab of the model (cmf.dask); None for the whole grid.
        if len(blocks) * blocked.max_block <= CHUNK_SIZE:
            # Small tile (the usual case): one call, no bookkeeping, so that
            # threads hold the GIL as briefly as possible.
            return kernel(blocks, seed, scratch, keys)
        counts = sizes[blocks]
        # Group consecutive blocks by which CHUNK_SIZE window their first
        # entry falls in: each call runs about CHUNK_SIZE updates.
        window = (np.cumsum(counts) - counts) // CHUNK_SIZE
        bounds = [0, *(np.flatnonzero(np.diff(window)) + 1).tolist(), len(blocks)]
        sse = 0.0
        for start, stop in zip(bounds[:-1], bounds[1:]):
            sse += kernel(blocks[start:stop], seed, scratch, None if keys is None else keys[start:stop])
        return sse

    return call


def predict_pairs(state: FactorState, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Predictions for validated int32 index arrays, in the state's dtype.

    An unbiased model's biases and mu are zero, so one formula serves both.
    """
    out = np.empty(len(rows), dtype=state.P.dtype)
    _kernels.predict(rows, cols, state.P, state.Q, state.b, state.c, state.mu, out)
    return out


def rmse(state: FactorState, data: Triplets) -> float:
    """Root mean squared error of the model on ``data``, accumulated in double."""
    err = predict_pairs(state, data.rows, data.cols).astype(np.float64)
    err -= data.values
    return float(np.sqrt(np.mean(err * err)))


def penalty(state: FactorState, row_counts: np.ndarray, col_counts: np.ndarray, config: TrainingConfig) -> float:
    """The regularisation part of the objective.

    Each observed entry (u, i) contributes ``reg * (|p_u|^2 + |q_i|^2)`` and
    ``reg_b * (b_u^2 + c_i^2)``, which is the objective SGD's per-entry
    updates descend; summed, row u's terms weigh by its number of entries.
    """
    # One einsum per term: it casts buffer by buffer (no float64 copy of the
    # factors) and, unlike ``@``, never calls a threaded BLAS, whose worker
    # threads cost more than the sum itself on a busy machine.
    total = config.regularization * (
        np.einsum("i,ij,ij->", row_counts, state.P, state.P, dtype=np.float64)
        + np.einsum("i,ij,ij->", col_counts, state.Q, state.Q, dtype=np.float64)
    )
    if config.biased:
        total += config.bias_regularization * (
            np.einsum("i,i,i->", row_counts, state.b, state.b, dtype=np.float64)
            + np.einsum("i,i,i->", col_counts, state.c, state.c, dtype=np.float64)
        )
    return float(total)


def train(
    data: Triplets,
    validation: Triplets | None,
    config: TrainingConfig,
    rng: np.random.Generator,
    report: Callable[[dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Fit a factorization to ``data``.

    Parameters
    ----------
    data : Triplets
        Training entries.
    validation : Triplets or None
        Held-out entries scored (RMSE) after every epoch.
    config : TrainingConfig
        Hyperparameters.
    rng : numpy.random.Generator
        Source of the initial factors and of every epoch's order.
    report : callable, optional
        Called after each epoch with that epoch's history row.

    Returns
    -------
    TrainingResult

    Raises
    ------
    DivergenceError
        If an epoch's loss is not finite. Its ``result`` attribute holds the
        state after the last finite epoch.
    KeyboardInterrupt
        Re-raised after restoring the last completed epoch; the partial
        result is attached as ``result``.
    """
    state = initial_state(data, config, rng)
    result = TrainingResult(state=state)
    adagrad = adagrad_state(data.shape, config)
    runner = None
    if config.blocked and config.shuffle:
        # The base seed of every epoch's schedule, drawn after the initial
        # factors so that those stay what the seed always gave.
        block_seed = draw_block_seed(rng)
        grid = training_grid(data.shape, len(data), config)
        blocked = _blocks.partition(data, grid)
        runner = _blocks.BlockedRunner(blocked, config.n_threads)
        tile_call = blocked_tile_call(state, blocked, config, adagrad)

        def epoch_sse(epoch: int) -> float:
            return runner.run_epoch(tile_call, _blocks.epoch_schedule(grid, block_seed, epoch))

    else:
        order = np.arange(len(data), dtype=np.int64) if config.shuffle else None

        def epoch_sse(epoch: int) -> float:
            if order is not None:
                rng.shuffle(order)
            return run_epoch(state, data, order, config, adagrad)

    row_counts = index_counts(data.rows, data.shape[0]).astype(np.float64)
    col_counts = index_counts(data.cols, data.shape[1]).astype(np.float64)
    try:
        return train_loop(len(data), row_counts, col_counts, validation, config, report, state, result, epoch_sse)
    finally:
        if runner is not None:
            runner.close()


def train_loop(
    n_entries: int,
    row_counts: np.ndarray,
    col_counts: np.ndarray,
    validation: Triplets | None,
    config: TrainingConfig,
    report: Callable[[dict[str, float]], None] | None,
    state: FactorState,
    result: TrainingResult,
    epoch_sse: Callable[[int], float],
) -> TrainingResult:
    """The epoch loop of :func:`train`; ``epoch_sse(epoch)`` runs one epoch in place.

    Also drives the distributed fit (:mod:`cmf.dask`), whose ``epoch_sse``
    runs the epoch on a cluster and writes the result into ``state``.
    ``row_counts`` and ``col_counts`` (float64) are the training entries per
    row and column, ``n_entries`` their total.
    """
    last_good = state.copy()
    best: FactorState | None = None
    best_val = np.inf
    epochs_since_best = 0
    best_loss = np.inf
    epochs_without_progress = 0

    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        try:
            sse = epoch_sse(epoch)
            loss = sse + penalty(state, row_counts, col_counts, config)
            if not np.isfinite(loss):
                raise DivergenceError("non-finite loss")
        except DivergenceError:
            last_good.copy_into(state)
            err = DivergenceError(
                f"SGD diverged at epoch {epoch}: the training loss became NaN or infinite. "
                f"Use a smaller learning_rate (now {config.learning_rate:g}), a larger "
                "regularization, or rescale the data; the model keeps the parameters of "
                f"epoch {epoch - 1}.",
                epoch=epoch,
            )
            err.result = result  # type: ignore[attr-defined]
            raise err from None
        except KeyboardInterrupt as interrupt:
            last_good.copy_into(state)
            interrupt.result = result  # type: ignore[attr-defined]
            raise

        val_rmse = rmse(state, validation) if validation is not None else np.nan
        row = {
            "epoch": float(epoch),
            "train_loss": loss,
            "train_rmse": float(np.sqrt(sse / n_entries)),
            "val_rmse": val_rmse,
            "seconds": time.perf_counter() - started,
        }
        for key, value in row.items():
            result.history[key].append(value)
        result.n_epochs = epoch
        state.copy_into(last_good)
        if report is not None:
            report(row)

        if config.patience is not None and validation is not None:
            if val_rmse < best_val:
                best_val, epochs_since_best = val_rmse, 0
                result.best_epoch = epoch
                if best is None:
                    best = state.copy()
                else:
                    state.copy_into(best)
            else:
                epochs_since_best += 1
                if epochs_since_best >= config.patience:
                    result.converged = True
                    break

        # SGD's loss is noisy from one epoch to the next, so one small or
        # negative step is no proof of convergence: stop only after
        # n_iter_no_change epochs in a row without a relative improvement of
        # tol over the best loss so far.
        if loss < best_loss * (1.0 - config.tol):
            epochs_without_progress = 0
        else:
            epochs_without_progress += 1
        best_loss = min(best_loss, loss)
        if loss == 0.0 or epochs_without_progress >= config.n_iter_no_change:
            result.converged = True
            break

    # With early stopping the model is the best validation epoch's, however
    # training ended (patience, tol or max_epochs).
    if best is not None and result.best_epoch != result.n_epochs:
        best.copy_into(state)
    return result
