"""The training loop: epochs, visiting order, loss, convergence, early stopping.

This module drives the C kernel (through :mod:`cmf._kernels`) over validated
triplets. It knows nothing about masks, labels or files; the estimator in
:mod:`cmf.model` prepares the data and stores what this returns.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from cmf import _blocks, _exact, _kernels
from cmf._aligned import aligned_copy, aligned_empty, is_aligned, padded_width
from cmf._input import Triplets, all_finite
from cmf._interrupt import DeferredInterrupt
from cmf.exceptions import DivergenceError

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
        """Return a deep copy, its factor matrices 64-byte aligned (see :mod:`cmf._aligned`)."""
        return FactorState(aligned_copy(self.P), aligned_copy(self.Q), self.b.copy(), self.c.copy(), self.mu)

    def copy_into(self, other: "FactorState") -> None:
        """Overwrite ``other``'s arrays with this state's values, allocating nothing."""
        np.copyto(other.P, self.P)
        np.copyto(other.Q, self.Q)
        np.copyto(other.b, self.b)
        np.copyto(other.c, self.c)
        other.mu = self.mu


def pad_factors(state: FactorState, copy: bool = False) -> FactorState:
    """The state with factor rows padded by zeros to :func:`cmf._aligned.padded_width`, in aligned storage.

    Returns ``state`` itself when its rows need no padding and its factor
    matrices are aligned, unless ``copy``; the biases are never copied.

    Training runs on the padded state: a row of, say, 100 float32 factors
    (400 bytes) then takes 448, starts on a cache line and is 7 whole
    vector chunks, instead of straddling lines and ending in a masked chunk
    (a cache-resident epoch at k = 100 measured 35 ns per update, at 112
    26). The padding starts at zero and stays exactly zero: its updates are
    0 + (e * 0 - reg * 0), and it adds 0 * 0 to the dot products.
    """
    k = state.P.shape[1]
    width = padded_width(k)
    if width == k:
        if copy or not (is_aligned(state.P) and is_aligned(state.Q)):
            return FactorState(aligned_copy(state.P), aligned_copy(state.Q), state.b, state.c, state.mu)
        return state
    P = aligned_empty((state.P.shape[0], width), state.P.dtype)
    Q = aligned_empty((state.Q.shape[0], width), state.Q.dtype)
    P[:, k:] = 0
    Q[:, k:] = 0
    P[:, :k] = state.P
    Q[:, :k] = state.Q
    return FactorState(P, Q, state.b, state.c, state.mu)


def unpad_factors(state: FactorState, n_factors: int) -> FactorState:
    """The state with its factor matrices cut back to ``n_factors`` columns (itself when not padded)."""
    if state.P.shape[1] == n_factors:
        return state
    return FactorState(aligned_copy(state.P[:, :n_factors]), aligned_copy(state.Q[:, :n_factors]),
                       state.b, state.c, state.mu)


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
    data_scale : float
        :func:`data_scale` of the training values.
    """

    state: FactorState
    n_epochs: int = 0
    converged: bool = False
    history: dict[str, list[float]] = field(default_factory=lambda: empty_history())
    best_epoch: int | None = None
    data_scale: float = 1.0


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


def initial_state(
    data: Triplets, config: TrainingConfig, rng: np.random.Generator, scale: float | None = None
) -> FactorState:
    """Random factors N(0, init_std^2 * min(1, scale)), zero biases, mu = mean of the observed values.

    ``scale`` is :func:`data_scale` of the values around mu (computed when
    not given). Rows and columns without any observed entry get zero
    factors, so that the model predicts mu plus the other side's bias for
    them: they are never updated, and random factors would only add noise.
    """
    n_rows, n_cols = data.shape
    mean = exact_mean(data.values)
    if scale is None:
        scale = data_scale(data.values, mean if config.biased else 0.0)
    return initial_state_from_counts(
        data.shape, index_counts(data.rows, n_rows), index_counts(data.cols, n_cols), mean, config, rng, scale
    )


def initial_state_from_counts(
    shape: tuple[int, int],
    row_counts: np.ndarray,
    col_counts: np.ndarray,
    mean: float,
    config: TrainingConfig,
    rng: np.random.Generator,
    scale: float,
) -> FactorState:
    """:func:`initial_state` from the entries per row and column, their mean and scale.

    For data that is not in one place (:mod:`cmf.dask`): ``mean`` must be
    the correctly rounded mean of the values (:func:`exact_mean`) and
    ``scale`` come from :func:`scale_from_square_sum`, so that neither
    depends on how the data was split.
    """
    n_rows, n_cols = shape
    k, dtype = config.n_factors, config.dtype
    std = config.init_std * np.sqrt(min(1.0, scale))
    # Drawn straight into aligned arrays: the same values as without ``out``.
    P = rng.standard_normal((n_rows, k), dtype=dtype, out=aligned_empty((n_rows, k), dtype))
    P *= dtype.type(std)
    Q = rng.standard_normal((n_cols, k), dtype=dtype, out=aligned_empty((n_cols, k), dtype))
    Q *= dtype.type(std)
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


def scale_hint(scale: float) -> str:
    """Advice for data far from unit scale, or "" when the scale is unremarkable.

    SGD with one learning rate is not scale-free: the biases move by about
    ``learning_rate * error`` per update, the factor products by about
    ``learning_rate * error * |q|^2``, and the penalty weighs against errors
    squared. The defaults suit values that vary by about 1 around their
    mean; far from that, fits diverge (large scale) or the penalty
    dominates and convergence is slow (tiny scale).
    """
    if scale == 0.0 or 0.1 <= scale <= 10.0:
        return ""
    return (
        f" The observed values vary by about {scale:.3g} around their mean, while the default "
        "learning_rate and regularization suit values that vary by about 1: divide the values by "
        f"{scale:.3g} before fitting and multiply the predictions back."
    )


def data_scale(values: np.ndarray, mu: float) -> float:
    """Root mean square of ``values - mu``, the spread the factors must explain.

    For data that vary by less than 1 the initial factors are drawn with
    standard deviation ``init_std * sqrt(scale)``, so that the initial
    products p_u . q_i stay a small fraction of the data's spread: with
    values of order 1e-6, factors of order 0.1 would start as noise ten
    thousand times the signal and take hundreds of epochs to shrink. From a
    spread of 1 up, ``init_std`` is used as given, as in other SGD
    factorization libraries, so that their settings carry over. The scale
    is 0 when every value equals mu; the factors then start (and stay) at
    zero and the model is exactly mu.
    """
    # The squared deviations are summed exactly, in chunks (bounded
    # temporaries): the result depends neither on the order of the values
    # nor on how they are split, so a distributed fit (cmf.dask) computes
    # the same bits from its pieces with square_deviation_sum.
    with np.errstate(over="ignore", invalid="ignore"):
        total = square_deviation_sum(values, mu)
        if total is not None:
            return scale_from_square_sum(total, len(values), mu)
        # Values near the float64 limit: square after dividing by the largest.
        centred = values.astype(np.float64) - mu
        top = max(float(np.max(np.abs(centred))), np.finfo(np.float64).tiny)
        scale = top * float(np.sqrt(np.mean((centred / top) ** 2)))
    return scale if np.isfinite(scale) else float(np.finfo(np.float64).max)


def square_deviation_sum(values: np.ndarray, mu: float) -> _exact.ExactSum | None:
    """Exact sum of ``(values - mu)**2`` (each square rounded to float64), or None on overflow."""
    step = 1 << 20
    sums = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(values), step):
            # In place: one temporary per chunk. Squares are >= 0 unless
            # NaN or infinite, and max() propagates NaN, so the largest
            # square tells whether all are finite.
            squares = values[start:start + step].astype(np.float64)
            np.subtract(squares, mu, out=squares)
            np.multiply(squares, squares, out=squares)
            if not np.isfinite(np.max(squares)):
                return None
            sums.append(_exact.exact_sum(squares))
    return _exact.merge_sums(sums)


def scale_from_square_sum(total: _exact.ExactSum, n: int, mu: float) -> float:
    """:func:`data_scale` from the exact sum of squared deviations of ``n`` values around ``mu``."""
    scale = float(np.sqrt(_exact.mean_of_sum(total, n)))
    if scale <= 8 * np.finfo(np.float64).eps * abs(mu):
        return 0.0  # only the rounding of mu: the data are constant
    return scale


def exact_mean(values: np.ndarray) -> float:
    """The correctly rounded mean of ``values``, independent of their order (0 for no values)."""
    if len(values) and values.min() == values.max():
        return float(values[0])  # constant data: exactly that value
    if not all_finite(values):
        return robust_mean(values)
    return _exact.exact_mean(values)


def robust_mean(values: np.ndarray) -> float:
    """The float64 mean of ``values``, without overflow for values near the float64 limit."""
    if len(values) and values.min() == values.max():
        return float(values[0])  # exact for constant data, where rounding would leave residuals
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(values, dtype=np.float64))
        if not np.isfinite(mean):
            top = float(np.max(np.abs(values)))
            mean = top * float(np.mean(values / top, dtype=np.float64))
    return mean


def adagrad_state(shape: tuple[int, int], config: TrainingConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """AdaGrad accumulators (all ones: 2 per row and per column) or (None, None) for plain SGD."""
    if not config.adaptive:
        return None, None
    return np.ones(2 * shape[0], dtype=config.dtype), np.ones(2 * shape[1], dtype=config.dtype)


def kernel_model(
    state: FactorState, config: TrainingConfig, adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
) -> tuple[Any, Any]:
    """The C kernel's parameters and model over ``state`` (checked once, reused by every call)."""
    params = _kernels.Params(
        learning_rate=config.learning_rate, regularization=config.regularization,
        bias_regularization=config.bias_regularization, update_biases=config.biased, adaptive=config.adaptive,
    )
    bias_args = (state.b, state.c) if config.biased else (None, None)
    model = _kernels.Model(state.P, state.Q, *bias_args, state.mu, row_adagrad=adagrad[0], col_adagrad=adagrad[1])
    return params, model


def epoch_call(
    state: FactorState,
    data: Triplets,
    config: TrainingConfig,
    adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Callable[[np.ndarray | None, Callable[[], None] | None], float]:
    """The function ``call(order, between_chunks)`` that runs one SGD pass over ``data``.

    The kernel's objects are built here, once; see :func:`run_epoch`.
    """
    params, model = kernel_model(state, config, adagrad)
    entries = _kernels.Entries(data.rows, data.cols, data.values)
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
    adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> float:
    """One SGD pass over ``data`` in ``order`` (stored order if None); returns the SSE.

    The pass is cut into chunks so that Python can react to signals between
    calls into C; the result is the same as one call. ``between_chunks``,
    when given, is called after every chunk (it may raise to stop).
    ``adagrad`` holds the accumulators of :func:`adagrad_state` when
    ``config.adaptive``.
    """
    return epoch_call(state, data, config, adagrad)(order, between_chunks)


def blocked_tile_call(
    state: FactorState,
    blocked: _blocks.BlockedData,
    config: TrainingConfig,
    adagrad: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Callable[[np.ndarray, int, np.ndarray], float]:
    """The function that runs the kernel on one tile's blocks (for BlockedRunner).

    A tile's blocks are cut into calls of about :func:`chunk_updates`
    entries, so that no single call into C runs long; the result is the same
    as one call, since the blocks are visited in the same order either way.
    """
    g = blocked.grid
    chunk = chunk_updates(config.n_factors)
    sizes = np.diff(blocked.block_ptr)
    params, model = kernel_model(state, config, adagrad)
    kernel_blocked = _kernels.Blocked(
        blocked.block_ptr, blocked.local_rows, blocked.local_cols, blocked.values, n_row_blocks=g.n_row_blocks,
        n_col_blocks=g.n_col_blocks, row_block_size=g.row_block_size, col_block_size=g.col_block_size,
    )

    def kernel(blocks: np.ndarray, seed: int, scratch: np.ndarray, keys: np.ndarray | None) -> float:
        return model.blocks(params, kernel_blocked, blocks, seed, scratch, keys)

    def call(blocks: np.ndarray, seed: int, scratch: np.ndarray, keys: np.ndarray | None = None) -> float:
        # keys: the blocks' numbers in a larger grid when ``blocked`` is one
        # tile of it on a slab of the model (cmf.dask); None for the whole grid.
        if len(blocks) * blocked.max_block <= chunk:
            # Small tile (the usual case): one call, no bookkeeping, so that
            # threads hold the GIL as briefly as possible.
            return kernel(blocks, seed, scratch, keys)
        counts = sizes[blocks]
        # Group consecutive blocks by which chunk-sized window their first
        # entry falls in: each call runs about ``chunk`` updates.
        window = (np.cumsum(counts) - counts) // chunk
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
    _kernels.Model(state.P, state.Q, state.b, state.c, state.mu).predict(rows, cols, out)
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
    # Squared row norms in the factors' own dtype (k terms each: relative
    # error ~k float ulps, far below what the loss is used for), then one
    # float64 sum weighted by the counts: 2 ms instead of 20 for the 10M-
    # rating set at k = 64. einsum, unlike ``@``, never calls a threaded
    # BLAS, whose worker threads cost more than the sum itself on a busy
    # machine. Overflow here means divergence, which the caller reports; no
    # warning.
    with np.errstate(over="ignore", invalid="ignore"):
        total = config.regularization * (
            np.einsum("i,i->", row_counts, np.einsum("ij,ij->i", state.P, state.P), dtype=np.float64)
            + np.einsum("i,i->", col_counts, np.einsum("ij,ij->i", state.Q, state.Q), dtype=np.float64)
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
    start: FactorState | None = None,
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
    start : FactorState, optional
        Continue from these parameters instead of a random initial state
        (shapes must match ``data.shape`` and ``config``). They are copied,
        never changed.

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
    # A copy of ``start``: it is usually a published (read-only) snapshot
    # that concurrent readers may still be using.
    # The counts, the mean and the scale are each computed once per fit
    # (the exact mean and the counts are full passes over the data).
    row_counts = index_counts(data.rows, data.shape[0])
    col_counts = index_counts(data.cols, data.shape[1])
    if start is None:
        mean = exact_mean(data.values)
        scale = data_scale(data.values, mean if config.biased else 0.0)
        state = pad_factors(initial_state_from_counts(data.shape, row_counts, col_counts, mean, config, rng, scale))
    else:
        # Factors copied once, padded on the way; biases copied.
        state = pad_factors(FactorState(start.P, start.Q, start.b.copy(), start.c.copy(), start.mu), copy=True)
        scale = data_scale(data.values, state.mu)
    result = TrainingResult(state=state, data_scale=scale)
    row_counts = row_counts.astype(np.float64)
    col_counts = col_counts.astype(np.float64)
    adagrad = adagrad_state(data.shape, config)
    with DeferredInterrupt() as interrupt, _epoch_runner(data, config, rng, state, adagrad, interrupt) as epoch_sse:
        return train_loop(len(data), row_counts, col_counts, validation, config, report, state, result, epoch_sse,
                          interrupt)


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
    interrupt: DeferredInterrupt | None = None,
) -> TrainingResult:
    """The epoch loop of :func:`train`; ``epoch_sse(epoch)`` runs one epoch on ``state`` in place.

    Also drives the distributed fit (:mod:`cmf.dask`), whose ``epoch_sse``
    runs the epoch on a cluster and writes the result into ``state``.
    ``row_counts`` and ``col_counts`` (float64) are the training entries per
    row and column, ``n_entries`` their total. Without ``interrupt`` one is
    set up here (Ctrl-C deferred to the end of the current step).

    ``state`` may have rows padded by :func:`pad_factors`; the state of the
    result returned, or attached to a DivergenceError or KeyboardInterrupt
    as ``exc.result``, is always cut back to ``config.n_factors`` columns.
    """
    if interrupt is None:
        with DeferredInterrupt() as own:
            return train_loop(n_entries, row_counts, col_counts, validation, config, report, state, result,
                              epoch_sse, own)
    try:
        last_good = state.copy()
        tracker = _Progress()
        for epoch in range(1, config.max_epochs + 1):
            if _run_one_epoch(epoch, state, last_good, n_entries, epoch_sse, config, result, interrupt,
                              row_counts, col_counts, validation, report, tracker):
                break
        # A Ctrl-C during the last epoch's bookkeeping: that epoch is
        # complete, so stop with it.
        _raise_if_interrupted(interrupt, result)
        # With early stopping the model is the best validation epoch's,
        # however training ended (patience, tol or max_epochs).
        if tracker.best is not None and result.best_epoch != result.n_epochs:
            tracker.best.copy_into(state)
    except (DivergenceError, KeyboardInterrupt) as exc:
        partial = getattr(exc, "result", None)
        if partial is not None:
            partial.state = unpad_factors(partial.state, config.n_factors)
        raise
    result.state = unpad_factors(result.state, config.n_factors)
    return result


@contextmanager
def _epoch_runner(
    data: Triplets,
    config: TrainingConfig,
    rng: np.random.Generator,
    state: FactorState,
    adagrad: tuple[np.ndarray | None, np.ndarray | None],
    interrupt: DeferredInterrupt,
) -> Iterator[Callable[[int], float]]:
    """Yield ``epoch_sse(epoch)``, which runs one epoch on ``state`` in place.

    Blocked epochs partition the entries once and run strata of tiles on a
    thread pool (closed on exit); otherwise each epoch visits one global
    permutation (or the stored order without shuffle). Ctrl-C is checked
    between calls into C (chunks, or strata), in the main thread.
    """
    if config.blocked and config.shuffle:
        # The base seed of every epoch's schedule, drawn after the initial
        # factors so that those stay what the seed always gave.
        block_seed = draw_block_seed(rng)
        grid = training_grid(data.shape, len(data), config)
        blocked = _blocks.partition(data, grid)
        tile_call = blocked_tile_call(state, blocked, config, adagrad)
        with _blocks.BlockedRunner(blocked, config.n_threads) as runner:
            yield lambda epoch: runner.run_epoch(
                tile_call, _blocks.epoch_schedule(grid, block_seed, epoch), between=interrupt.check
            )
        return
    order = np.arange(len(data), dtype=np.int64) if config.shuffle else None
    call = epoch_call(state, data, config, adagrad)

    def epoch_sse(epoch: int) -> float:
        if order is not None:
            rng.shuffle(order)
        return call(order, interrupt.check)

    yield epoch_sse


@dataclass
class _Progress:
    """Convergence and early-stopping bookkeeping across epochs."""

    best: FactorState | None = None
    best_val: float = np.inf
    epochs_since_best: int = 0
    best_loss: float = np.inf
    epochs_without_progress: int = 0


def _raise_if_interrupted(interrupt: DeferredInterrupt, result: TrainingResult) -> None:
    """Raise a pending Ctrl-C with the last completed epoch attached."""
    if interrupt.pending:
        interrupt.pending = False
        exc = KeyboardInterrupt()
        exc.result = result  # type: ignore[attr-defined]
        raise exc


def _run_one_epoch(
    epoch: int,
    state: FactorState,
    last_good: FactorState,
    n_entries: int,
    epoch_sse: Callable[[int], float],
    config: TrainingConfig,
    result: TrainingResult,
    interrupt: DeferredInterrupt,
    row_counts: np.ndarray,
    col_counts: np.ndarray,
    validation: Triplets | None,
    report: Callable[[dict[str, float]], None] | None,
    tracker: _Progress,
) -> bool:
    """Run epoch ``epoch`` and record it; return True when training should stop.

    On divergence or Ctrl-C the working state is restored from
    ``last_good`` (the previous epoch) before the exception propagates with
    ``result`` attached.
    """
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
            "regularization, or rescale the data (e.g. to unit variance); the model keeps the "
            f"parameters of epoch {epoch - 1}.{scale_hint(result.data_scale)}",
            epoch=epoch,
        )
        err.result = result  # type: ignore[attr-defined]
        raise err from None
    except KeyboardInterrupt as exc:
        last_good.copy_into(state)
        exc.result = result  # type: ignore[attr-defined]
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
    # Ctrl-C during the bookkeeping above was deferred; the epoch is now
    # complete and recorded, so stop here with it.
    _raise_if_interrupted(interrupt, result)

    if config.patience is not None and validation is not None:
        if val_rmse < tracker.best_val:
            tracker.best_val, tracker.epochs_since_best = val_rmse, 0
            result.best_epoch = epoch
            if tracker.best is None:
                tracker.best = state.copy()
            else:
                state.copy_into(tracker.best)
        else:
            tracker.epochs_since_best += 1
            if tracker.epochs_since_best >= config.patience:
                result.converged = True
                return True

    # SGD's loss is noisy from one epoch to the next, so one small or
    # negative step is no proof of convergence: stop only after
    # n_iter_no_change epochs in a row without a relative improvement of
    # tol over the best loss so far.
    if loss < tracker.best_loss * (1.0 - config.tol):
        tracker.epochs_without_progress = 0
    else:
        tracker.epochs_without_progress += 1
    tracker.best_loss = min(tracker.best_loss, loss)
    if loss == 0.0 or tracker.epochs_without_progress >= config.n_iter_no_change:
        result.converged = True
        return True
    return False
