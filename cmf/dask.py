"""Fit a :class:`cmf.MatrixFactorization` on a Dask cluster (``pip install cmf-sgd[dask]``).

Distributed stratified SGD (DSGD, Gemulla et al., KDD 2011) with cmf's C
kernel. The rating matrix is cut into a ``G x G`` grid of tiles (``G``, the
``n_tiles`` argument, defaults to the number of worker threads); the ratings are
read by the workers, sorted into their tiles once, and stay there. An epoch
is ``G`` strata; the ``G`` tiles of a stratum share no row and no column, so
they run in parallel, one Dask task each, on the worker that holds the
tile's ratings. Only slabs of the factor matrices travel: the slabs of the
larger side stay with their tiles and those of the smaller side move from
stratum to stratum. After each epoch the model is collected on the client,
where the loss, the validation RMSE, early stopping and the history are
computed by the same code as :meth:`cmf.MatrixFactorization.fit`; that copy
is also the checkpoint a lost worker is recovered from.

The schedule, the blocks and the orders inside the blocks are those of the
local blocked fit: for the same ``random_state`` and the same grid (a local
fit whose tile count is ``n_tiles``), the factors are the same bits.

Examples
--------
>>> from distributed import Client, LocalCluster                          # doctest: +SKIP
>>> import cmf, cmf.dask                                                   # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))      # doctest: +SKIP
>>> model = cmf.MatrixFactorization(n_factors=64, random_state=0)         # doctest: +SKIP
>>> cmf.dask.fit(model, ["ratings-1.tsv", "ratings-2.tsv"], client=client)  # doctest: +SKIP
>>> model.predict([0, 1], [10, 20])                                        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

import numpy as np

try:
    import dask
    import distributed
    from distributed import Client
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "cmf.dask needs Dask's distributed scheduler: pip install 'cmf-sgd[dask]' "
        "(or pip install 'dask[distributed]')"
    ) from exc

from cmf import _distributed
from cmf._checks import is_integer
from cmf._distributed import Layout
from cmf._train import blocks as _blocks, exact as _exact
from cmf._train.config import TrainingConfig, training_config
from cmf._train.epochs import AdaGrad, draw_block_seed, training_grid
from cmf._train.interrupt import DeferredInterrupt
from cmf._train.state import FactorState
from cmf._train.stats import DataStats, scale_from_square_sum
from cmf.exceptions import DivergenceError
from cmf.model import MatrixFactorization

__all__ = ["WorkerLostError", "fit"]

# Seconds between checks that the workers a stratum runs on are alive.
_POLL_SECONDS = 0.5


class WorkerLostError(RuntimeError):
    """Workers kept failing during a distributed fit; it stopped instead of guessing.

    The model is left as it was before the fit.
    """


def fit(
    model: MatrixFactorization,
    data: Any,
    *,
    client: "Client | None" = None,
    shape: tuple[int, int] | None = None,
    columns: Sequence[Any] | None = None,
    sep: str | None = None,
    validation: Any = None,
    n_tiles: int | None = None,
    max_recoveries: int = 3,
) -> MatrixFactorization:
    """Fit ``model`` to ratings held by a Dask cluster.

    Parameters
    ----------
    model : MatrixFactorization
        The estimator whose parameters to use (``n_factors``,
        ``learning_rate``, ``max_epochs``, ``tol``, ``patience``,
        ``random_state``, ...); fitted in place. ``blocking`` must be
        "auto" or True and ``shuffle`` True (DSGD visits blocks);
        ``n_threads`` is ignored: each worker runs one tile at a time per
        thread Dask gives it.
    data : dask DataFrame, tuple of 3 dask arrays, or list of paths
        The ratings: a Dask DataFrame with row, column and value columns
        (see ``columns``); a tuple ``(rows, cols, values)`` of 1-D Dask
        arrays; or a list of text files (``row col value`` per line, see
        ``sep``) that every worker can read, one partition per file.
        Indices are zero-based integers.
    client : distributed.Client, optional
        The cluster to use; the current default client when omitted.
    shape : tuple of int, optional
        ``(n_rows, n_cols)``; one past the largest indices when omitted.
    columns : sequence of 3 names, optional
        The row, column and value columns of a DataFrame; its first three
        columns when omitted.
    sep : str, optional
        Field separator of the files; whitespace when omitted, "," for CSV.
    validation : tuple of array_like, optional
        Held-out ``(rows, cols, values)`` on the client, scored after every
        epoch (needed for ``patience``).
    n_tiles : int, optional
        G, tiles per side of the grid: a stratum is G tasks, so G at least
        the number of worker threads keeps every thread busy; more tiles
        balance uneven tiles better but move more. The number of worker
        threads when omitted, capped by the number of blocks per side.
    max_recoveries : int, default 3
        Lost workers survived per fit; after that :class:`WorkerLostError`.

    Returns
    -------
    MatrixFactorization
        ``model``, fitted: an ordinary estimator (predict, save, ...). Its
        ``distributed_`` attribute records the run: workers, tiles, bytes
        moved per epoch and recoveries.

    Raises
    ------
    ValueError, TypeError, KeyError, OSError
        For invalid data (raised from the worker that found it) or
        parameters; the model is left as it was.
    DivergenceError
        If SGD diverges; the model keeps the last finite epoch.
    WorkerLostError
        If workers kept dying (more than ``max_recoveries`` times) or none
        is left.
    """
    config = training_config(model.get_params())
    if not (config.blocked and config.shuffle):
        raise ValueError("the distributed fit runs blocked, shuffled epochs: use blocking='auto' or True "
                         "and shuffle=True")
    if not is_integer(max_recoveries) or max_recoveries < 0:
        raise ValueError(f"max_recoveries must be an integer >= 0, got {max_recoveries!r}")
    client = _get_client(client)
    workers = _live_workers(client)
    if not workers:
        raise WorkerLostError("the Dask cluster has no workers; start some or wait for them")
    futures: list[distributed.Future] = []
    tiles: dict[tuple[int, int], distributed.Future] = {}
    try:
        pieces = _source_futures(client, data, columns, sep, config.dtype)
        futures += pieces
        stats = client.gather(client.map(_distributed.piece_stats, pieces, pure=False))
        n = sum(s["n"] for s in stats)
        if n == 0:
            raise ValueError("no ratings: the data has no entries")
        shape = _shape(shape, stats)
        grid = training_grid(shape, n, config)
        G = sum(client.nthreads().values()) if n_tiles is None else int(n_tiles)
        if G < 1:
            raise ValueError(f"n_tiles must be >= 1, got {n_tiles}")
        G = max(1, min(G, grid.n_row_blocks, grid.n_col_blocks))
        layout = Layout.make(shape, dataclasses.replace(grid, n_tiles=G))
        tiles = _build_tiles(client, pieces, layout, workers)
        futures += list(tiles.values())
        summaries = client.gather(client.map(_distributed.tile_summary, list(tiles.values()), pure=False))
        del pieces
        futures = list(tiles.values())  # drop the pieces: Dask keeps their lineage for recovery
        cluster = _ClusterData(client, tiles, layout, summaries, max_recoveries)
        started = time.perf_counter()
        try:
            model._fit_source(cluster, validation, config)
        except (DivergenceError, KeyboardInterrupt):
            if cluster.runner is not None and cluster.runner.epoch_seconds:  # a partial model was kept
                model.distributed_ = cluster.runner.summary(summaries, time.perf_counter() - started)
            raise
        assert cluster.runner is not None
        model.distributed_ = cluster.runner.summary(summaries, time.perf_counter() - started)
    finally:
        # Dropping the last reference to a future releases it on the
        # cluster (Client.cancel on chains of dependent keys can trip an
        # assertion in the scheduler); running tasks finish and are freed.
        futures.clear()
        tiles.clear()
    return model


class _ClusterData:
    """Ratings held in tiles on a Dask cluster, as the training pipeline sees them.

    Implements :class:`cmf._train.epochs.TrainingData`: the statistics come
    from the tiles (exact, so the same bits as a local fit's), the epochs
    are an :class:`_EpochRunner`.
    """

    def __init__(self, client: "Client", tiles: dict[tuple[int, int], "distributed.Future"], layout: Layout,
                 summaries: list[dict[str, Any]], max_recoveries: int) -> None:
        self.client, self.tiles, self.layout = client, tiles, layout
        self.summaries, self.max_recoveries = summaries, max_recoveries
        self.shape = layout.shape
        self.n_entries = sum(s["n"] for s in summaries)
        self.resident_entries = 0  # the workers hold them
        self.runner: _EpochRunner | None = None

    def statistics(self, biased: bool, offset: float | None) -> DataStats:
        """Counts and exact mean from the tile summaries; the spread summed exactly tile by tile."""
        row_counts, col_counts, mean = _totals(self.summaries, self.layout)
        mu = offset if offset is not None else (mean if biased else 0.0)
        squares = self.client.gather(self.client.map(_distributed.tile_square_deviation, list(self.tiles.values()),
                                                     mu=mu, pure=False))
        if any(s is None for s in squares):
            raise ValueError("the ratings are too large to square in float64; rescale them before fitting")
        scale = scale_from_square_sum(_exact.merge_sums(squares), self.n_entries, mu)
        return DataStats(self.shape, self.n_entries, row_counts, col_counts, mean, scale)

    def epochs(self, state: FactorState, config: TrainingConfig, rng: np.random.Generator, adagrad: AdaGrad,
               interrupt: DeferredInterrupt) -> "_EpochRunner":
        """The runner of the epochs on the cluster; the block seed is drawn here, after the initial factors.

        Ctrl-C is taken at the end of an epoch (``interrupt`` is not checked
        inside one: the strata run on the cluster).
        """
        self.runner = _EpochRunner(self.client, self.tiles, self.layout, config, state, adagrad,
                                   seed=draw_block_seed(rng), max_recoveries=self.max_recoveries)
        return self.runner


# ----------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------
def _get_client(client: Any) -> "Client":
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError(
                "no Dask client: pass client=distributed.Client(...) (a LocalCluster or "
                "Client('tcp://scheduler:8786'))"
            ) from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def _live_workers(client: "Client") -> list[str]:
    """Addresses of the workers alive now (asks the scheduler)."""
    return sorted(client.nthreads())


def _source_futures(client: "Client", data: Any, columns: Sequence[Any] | None, sep: str | None,
                    dtype: np.dtype) -> list["distributed.Future"]:
    """One future per input partition, each checked :class:`cmf._input.Triplets` of no known shape yet."""
    import dask.array as da

    delayed = dask.delayed(_distributed.piece_from_arrays, pure=True)
    if isinstance(data, tuple) and len(data) == 3 and all(isinstance(a, da.Array) for a in data):
        rows, cols, values = data
        if not (rows.ndim == cols.ndim == values.ndim == 1):
            raise ValueError("rows, cols and values must be 1-D Dask arrays")
        if not (rows.shape[0] == cols.shape[0] == values.shape[0]):
            raise ValueError(f"rows, cols and values have different lengths: "
                             f"{rows.shape[0]}, {cols.shape[0]}, {values.shape[0]}")
        cols, values = cols.rechunk(rows.chunks), values.rechunk(rows.chunks)
        parts = [
            delayed(r, c, v, dtype.name, f"chunk {i} of the Dask arrays")
            for i, (r, c, v) in enumerate(zip(rows.to_delayed().ravel(), cols.to_delayed().ravel(),
                                              values.to_delayed().ravel()))
        ]
    elif _is_dask_frame(data):
        names = list(data.columns[:3]) if columns is None else list(columns)
        if len(names) != 3:
            raise ValueError(f"columns must name 3 columns (row, column, value), got {columns!r}")
        frame = dask.delayed(_distributed.piece_from_frame, pure=True)
        parts = [frame(p, names, dtype.name, f"partition {i} of the DataFrame")
                 for i, p in enumerate(data.to_delayed())]
    elif isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        read = dask.delayed(_distributed.read_file, pure=True)
        parts = [read(os.fspath(p), sep, dtype.name) for p in data]
    else:
        raise TypeError(
            "data must be a Dask DataFrame, a tuple (rows, cols, values) of Dask arrays, or a non-empty "
            f"list of file paths; got {type(data).__name__}"
        )
    return client.compute(parts)


def _is_dask_frame(data: Any) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # the dataframe extra (pandas) is not installed
        return False
    return isinstance(data, dd.DataFrame)


def _shape(shape: Any, stats: list[dict[str, Any]]) -> tuple[int, int]:
    max_row = max(s["max_row"] for s in stats)
    max_col = max(s["max_col"] for s in stats)
    if shape is None:
        return (max_row + 1, max_col + 1)
    try:
        n_rows, n_cols = (int(x) for x in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of integers (n_rows, n_cols), got {shape!r}") from None
    if max_row >= n_rows or max_col >= n_cols:
        raise ValueError(f"an entry lies outside shape {(n_rows, n_cols)}: the largest row index is "
                         f"{max_row}, the largest column index {max_col}")
    if n_rows > np.iinfo(np.int32).max or n_cols > np.iinfo(np.int32).max:
        raise ValueError("n_rows and n_cols must be below 2**31")
    return (n_rows, n_cols)


def _owner(layout: Layout, I: int, J: int, workers: list[str]) -> str:
    """The worker that gets tile (I, J): the larger factor side stays put.

    With more rows than columns, every tile of tile row I goes to one
    worker, so that row slab I never moves and only the (smaller) column
    slabs travel; otherwise the other way round.
    """
    fixed = I if layout.shape[0] >= layout.shape[1] else J
    return workers[fixed % len(workers)]


def _build_tiles(client: "Client", pieces: list["distributed.Future"], layout: Layout,
                 workers: list[str]) -> dict[tuple[int, int], "distributed.Future"]:
    G = layout.grid.n_tiles
    splits = client.map(_distributed.split_piece, pieces, layout=layout, pure=False)
    tiles = {}
    for I in range(G):
        for J in range(G):
            parts = [client.submit(_distributed.part_of, s, I * G + J, pure=False) for s in splits]
            # Loose restriction: after a worker is lost, Dask rebuilds its
            # tiles from their sources on whichever worker is left.
            tiles[I, J] = client.submit(
                _distributed.build_tile, layout, I, J, *parts, workers=[_owner(layout, I, J, workers)],
                allow_other_workers=True, pure=False,
            )
    distributed.wait(list(tiles.values()))
    for future in tiles.values():
        if future.status == "error":
            future.result()  # raise the worker's error (bad index, ...)
    return tiles


def _totals(summaries: list[dict[str, Any]], layout: Layout) -> tuple[np.ndarray, np.ndarray, float]:
    """Global entries per row and column, and the exact mean of the values."""
    n_rows, n_cols = layout.shape
    row_counts = np.zeros(n_rows, dtype=np.int64)
    col_counts = np.zeros(n_cols, dtype=np.int64)
    for s in summaries:
        r0, r1 = layout.row_range(s["I"])
        c0, c1 = layout.col_range(s["J"])
        row_counts[r0:r1] += s["row_counts"]
        col_counts[c0:c1] += s["col_counts"]
    total = _exact.merge_sums(s["exact_sum"] for s in summaries)
    return row_counts, col_counts, _exact.mean_of_sum(total, sum(s["n"] for s in summaries))


# ----------------------------------------------------------------------
# Epochs
# ----------------------------------------------------------------------
class _Lost(Exception):
    """A worker the epoch depends on is gone."""


# Errors that mean "a worker went away", as opposed to errors of the task
# itself (a divergence, bad data), which are raised to the caller.
_LOST_ERRORS: tuple[type[BaseException], ...] = tuple(
    error
    for error in (
        distributed.scheduler.KilledWorker,
        getattr(distributed.client, "FutureCancelledError", None),
        getattr(distributed.client, "FuturesCancelledError", None),  # several at once (2024.12+)
        distributed.comm.CommClosedError,
        OSError,
    )
    if isinstance(error, type)
)


class _EpochRunner:
    """Runs the strata of each epoch on the cluster and writes the model into ``state``.

    The epoch source of distributed fits (:class:`cmf._train.epochs.Epochs`):
    the client's ``state`` always holds the model after the last completed
    epoch; it is the checkpoint from which an epoch is run again, with the
    same schedule and so the same bits, when a worker is lost. Leaving the
    context drops what is still running and the slabs.
    """

    def __init__(self, client: "Client", tiles: dict[tuple[int, int], "distributed.Future"], layout: Layout,
                 config: TrainingConfig, state: FactorState, adagrad: AdaGrad, *, seed: int,
                 max_recoveries: int) -> None:
        self.client = client
        self.tiles = tiles
        self.layout = layout
        self.config = config
        self.state = state
        # AdaGrad accumulators (two per row and column) or (None, None); the
        # client keeps them with the model as part of the checkpoint.
        self.adagrad = adagrad
        self.seed = seed
        self.max_recoveries = max_recoveries
        self.recoveries = 0
        self.G = layout.grid.n_tiles
        self.moved_bytes: list[int] = []      # between workers, per epoch
        self.gathered_bytes: list[int] = []   # to the client, per epoch
        self.scattered_bytes = 0               # client to workers (start and recoveries)
        self.epoch_seconds: list[float] = []
        # Submitted, not yet collected: epoch -> (outputs, bytes moved).
        self.pending: dict[int, tuple[list[Any], int]] = {}
        self.row_slabs: dict[int, Any] = {}
        self.col_slabs: dict[int, Any] = {}
        self.where_rows: dict[int, str] = {}
        self.where_cols: dict[int, str] = {}
        self._locate_tiles()
        self._scatter_slabs()

    # -- placement -------------------------------------------------------
    def _locate_tiles(self) -> None:
        distributed.wait(list(self.tiles.values()))
        who = self.client.who_has(list(self.tiles.values()))
        self.holder = {}
        for key, future in self.tiles.items():
            places = sorted(who.get(future.key, ()))
            if future.status != "finished" or not places:
                raise _Lost(f"tile {key} is not in memory")
            self.holder[key] = places[0]

    def _scatter_slabs(self) -> None:
        """Send the client's model, cut into slabs, to the workers that use them first."""
        st, L = self.state, self.layout
        # Slabs travel without the rows' padding (run_tile pads them again).
        k = self.config.n_factors
        P, Q = st.P[:, :k], st.Q[:, :k]
        self.row_slabs.clear()
        self.col_slabs.clear()
        for I in range(self.G):
            r0, r1 = L.row_range(I)
            where = self.holder[I, 0 if L.shape[0] >= L.shape[1] else I]
            slab = (P[r0:r1].copy(), st.b[r0:r1].copy(), _cut(self.adagrad[0], r0, r1))
            self.row_slabs[I] = self.client.scatter(slab, workers=[where], hash=False)
            self.where_rows[I] = where
            self.scattered_bytes += _nbytes(slab)
        for J in range(self.G):
            c0, c1 = L.col_range(J)
            where = self.holder[J if L.shape[0] >= L.shape[1] else 0, J]
            slab = (Q[c0:c1].copy(), st.c[c0:c1].copy(), _cut(self.adagrad[1], c0, c1))
            self.col_slabs[J] = self.client.scatter(slab, workers=[where], hash=False)
            self.where_cols[J] = where
            self.scattered_bytes += _nbytes(slab)
        self.row_nbytes = {I: _slab_nbytes(P, st.b, self.adagrad[0], *L.row_range(I)) for I in range(self.G)}
        self.col_nbytes = {J: _slab_nbytes(Q, st.c, self.adagrad[1], *L.col_range(J)) for J in range(self.G)}

    def __enter__(self) -> "_EpochRunner":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # -- one epoch ------------------------------------------------------
    def run(self, epoch: int) -> float:
        """Run epoch ``epoch`` on the cluster (see :meth:`epoch_sse`); return the SSE."""
        return self.epoch_sse(epoch)

    def epoch_sse(self, epoch: int) -> float:
        """Run epoch ``epoch``; write the model into ``state``; return the SSE.

        The next epoch's tasks are submitted before this one is collected:
        they depend only on the slabs on the workers, so the workers go on
        while the client collects the model and computes the loss. If
        training stops after this epoch, :meth:`release` drops them.
        """
        while True:
            started = time.perf_counter()
            try:
                for e in (epoch, epoch + 1):
                    if e <= self.config.max_epochs and e not in self.pending:
                        self._submit(e)
                sse = self._collect(epoch)
            except _Lost as lost:
                self._drop_pending()
                self._recover(lost)
                continue
            self.epoch_seconds.append(time.perf_counter() - started)
            return sse

    def _submit(self, epoch: int) -> None:
        """Submit every stratum of ``epoch`` after the slabs submitted so far."""
        schedule = _blocks.epoch_schedule(self.layout.grid, self.seed, epoch)
        client, L, G = self.client, self.layout, self.G
        moved = 0
        sse_futures = np.empty((G, G), dtype=object)
        for s, tiles in enumerate(schedule.strata):
            for t, blocks in enumerate(tiles):
                I, J = L.tile_of_blocks(blocks)
                w = self.holder[I, J]
                moved += self.row_nbytes[I] * (self.where_rows[I] != w)
                moved += self.col_nbytes[J] * (self.where_cols[J] != w)
                run = client.submit(
                    _distributed.run_tile, self.tiles[I, J], self.row_slabs[I], self.col_slabs[J], L,
                    self.config, self.state.mu, blocks, schedule.seed,
                    key=f"cmf-dsgd-e{epoch}-s{s}-t{t}-{_token()}", workers=[w], allow_other_workers=False,
                )
                self.row_slabs[I] = client.submit(_distributed.item, run, 0, workers=[w], pure=False)
                self.col_slabs[J] = client.submit(_distributed.item, run, 1, workers=[w], pure=False)
                sse_futures[s, t] = client.submit(_distributed.item, run, 2, workers=[w], pure=False)
                self.where_rows[I] = self.where_cols[J] = w
        outputs = [self.row_slabs[I] for I in range(G)] + [self.col_slabs[J] for J in range(G)]
        outputs += list(sse_futures.ravel())
        # Only the epoch's last slabs and the tile errors are kept: the
        # intermediate slabs are freed on the workers as soon as the next
        # stratum has used them.
        self.pending[epoch] = (outputs, moved)

    def _collect(self, epoch: int) -> float:
        """Wait for ``epoch``'s slabs and errors, copy them into ``state``; return the SSE."""
        client, L, G = self.client, self.layout, self.G
        outputs, moved = self.pending[epoch]
        try:
            self._wait(outputs, set(self.holder.values()))
            values = client.gather(outputs)
        except _LOST_ERRORS as exc:
            raise _Lost(f"{type(exc).__name__}: {exc}") from exc
        del self.pending[epoch]
        # Only now, with every slab in hand, does the client's model change.
        st = self.state
        for I, (P, b, A) in enumerate(values[:G]):
            r0, r1 = L.row_range(I)
            st.P[r0:r1, :P.shape[1]] = P
            st.b[r0:r1] = b
            if A is not None:
                self.adagrad[0][2 * r0:2 * r1] = A
        for J, (Q, c, B) in enumerate(values[G:2 * G]):
            c0, c1 = L.col_range(J)
            st.Q[c0:c1, :Q.shape[1]] = Q
            st.c[c0:c1] = c
            if B is not None:
                self.adagrad[1][2 * c0:2 * c1] = B
        # The same (G, G) array summed the same way as the local fit's.
        sse = np.array(values[2 * G:], dtype=np.float64).reshape(G, G)
        self.moved_bytes.append(int(moved))
        self.gathered_bytes.append(sum(_nbytes(v) for v in values[:2 * G]) + 8 * G * G)
        return float(sse.sum())

    def _drop_pending(self) -> None:
        """Forget the submitted epochs; Dask releases their tasks."""
        self.pending.clear()

    def _wait(self, futures: list[Any], used: set[str]) -> None:
        """Wait for ``futures``; raise _Lost as soon as a worker they need is gone."""
        while True:
            try:
                distributed.wait(futures, timeout=_POLL_SECONDS)
                return
            except (TimeoutError, distributed.TimeoutError):
                pass
            for future in futures:
                if future.status == "error":
                    future.result()  # raises the task's own error (divergence, ...)
                if future.status in ("cancelled", "lost"):
                    raise _Lost(f"result {future.key} was lost")
            missing = used - set(_live_workers(self.client))
            if missing:
                raise _Lost(f"worker(s) {sorted(missing)} left the cluster")

    def _recover(self, lost: _Lost) -> None:
        """Re-place the tiles (Dask rebuilds lost ones) and re-send the checkpoint."""
        self.recoveries += 1
        if self.recoveries > self.max_recoveries:
            raise WorkerLostError(
                f"a worker was lost {self.recoveries} times during the fit (last: {lost}); the fit stops "
                f"rather than continue on a shrinking cluster. Raise max_recoveries (now "
                f"{self.max_recoveries}) or check the workers' logs and memory limits."
            ) from lost
        deadline = time.monotonic() + 120.0
        while True:
            if not _live_workers(self.client):
                if time.monotonic() > deadline:
                    raise WorkerLostError("no Dask worker is left to continue the fit") from lost
                time.sleep(_POLL_SECONDS)
                continue
            try:
                self._locate_tiles()
                break
            except (_Lost, *_LOST_ERRORS):
                if any(f.status == "cancelled" for f in self.tiles.values()):
                    raise WorkerLostError(
                        "the ratings held by the lost worker cannot be rebuilt: Dask no longer knows how to "
                        "compute them (was the input scattered to the workers rather than loaded by them?). "
                        "Load the ratings with Dask (files, read_parquet, from_array) so that they can be "
                        "recomputed, or rerun the fit."
                    ) from lost
                if time.monotonic() > deadline:
                    raise WorkerLostError("the rating tiles could not be rebuilt on the remaining workers") \
                        from lost
                time.sleep(_POLL_SECONDS)
        self._scatter_slabs()

    def release(self) -> None:
        """Drop what is still running and the slabs: Dask frees them on the workers."""
        self._drop_pending()
        self.row_slabs.clear()
        self.col_slabs.clear()

    def summary(self, summaries: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        """The record stored as ``model.distributed_``."""
        return {
            "n_workers": len(set(self.holder.values())),
            "n_tiles": self.G,
            "grid": dataclasses.asdict(self.layout.grid),
            "tile_bytes": int(sum(s["nbytes"] for s in summaries)),
            "moved_bytes": list(self.moved_bytes),
            "gathered_bytes": list(self.gathered_bytes),
            "scattered_bytes": int(self.scattered_bytes),
            "epoch_seconds": list(self.epoch_seconds),
            "recoveries": self.recoveries,
            "seconds": seconds,
        }


def _nbytes(value: Any) -> int:
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 8))


def _slab_nbytes(F: np.ndarray, bias: np.ndarray, acc: np.ndarray | None, lo: int, hi: int) -> int:
    return int(F[lo:hi].nbytes + bias[lo:hi].nbytes + (0 if acc is None else acc[2 * lo:2 * hi].nbytes))


def _cut(acc: np.ndarray | None, lo: int, hi: int) -> np.ndarray | None:
    """The AdaGrad accumulators of rows lo:hi (two per row), or None."""
    return None if acc is None else acc[2 * lo:2 * hi].copy()


_counter = iter(range(1 << 62))


def _token() -> str:
    """A unique suffix for task keys (readable on the dashboard, never reused)."""
    return f"{os.getpid()}-{next(_counter)}-{time.monotonic_ns()}"

