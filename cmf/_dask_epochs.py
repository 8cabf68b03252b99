"""The epochs of a distributed fit (:mod:`cmf.dask`) on the client: data statistics and the epoch runner.

:class:`_ClusterData` is the Dask fit's :class:`cmf._train.epochs.TrainingData`:
its statistics come from the tiles the workers hold, and its epochs are an
:class:`_EpochRunner`, which submits the strata of every epoch to the
workers, collects the model into the client's state after each epoch and
recovers from lost workers. The training loop (:mod:`cmf._train.loop`) is
the local fit's. Imported only by :mod:`cmf.dask`, which checks that Dask is
installed.

This module is long because the runner's parts (submitting an epoch ahead,
collecting it, taking it back when the step schedule undoes it, recovering
from a lost worker) all move the same slabs and futures, and read best
side by side.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import distributed
import numpy as np
from distributed import Client

from cmf import _distributed
from cmf._distributed import Layout
from cmf._input import Triplets
from cmf._train import blocks as _blocks, exact as _exact
from cmf._train.config import TrainingConfig
from cmf._train.epochs import AdaGrad, draw_block_seed
from cmf._train.interrupt import DeferredInterrupt
from cmf._train.probe import merge_probes
from cmf._train.state import FactorState
from cmf._train.stats import DataStats, scale_from_sums

# Seconds between checks for lost workers and Ctrl-C while waiting for Dask,
# and the most one attempt to place the rating tiles waits.
_POLL_SECONDS, _LOCATE_SECONDS = 0.25, 30.0


class WorkerLostError(RuntimeError):
    """Workers kept failing during a distributed fit; it stopped instead of guessing.

    The model is left as it was before the fit.
    """


# Public as cmf.dask.WorkerLostError.
WorkerLostError.__module__ = "cmf.dask"


def _live_workers(client: "Client") -> list[str]:
    """Addresses of the workers alive now (asks the scheduler)."""
    return sorted(client.nthreads())


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
        #: (smallest, largest) rating, set by cmf.dask.fit: the fitted rating_scale_.
        self.value_range: tuple[float, float] | None = None

    def statistics(self, biased: bool, offset: float | None) -> DataStats:
        """Counts, exact mean and spread from the tile summaries (exact sums: no pass over the tiles)."""
        row_counts, col_counts, mean = _totals(self.summaries, self.layout)
        mu = offset if offset is not None else (mean if biased else 0.0)
        if any(s["square_sum"] is None for s in self.summaries):
            raise ValueError("the ratings are too large to square in float64; rescale them before fitting")
        total = _exact.merge_sums(s["exact_sum"] for s in self.summaries)
        squares = _exact.merge_sums(s["square_sum"] for s in self.summaries)
        scale = scale_from_sums(total, squares, self.n_entries, mu)
        return DataStats(self.shape, self.n_entries, row_counts, col_counts, mean, scale)

    def probe(self, fraction: float) -> Triplets:
        """The probe's entries (:mod:`cmf._train.probe`), picked on the workers tile by tile and merged here."""
        parts = self.client.gather(self.client.map(_distributed.tile_probe, list(self.tiles.values()),
                                                   layout=self.layout, fraction=fraction, pure=False))
        dtype = parts[0].values.dtype if parts else np.dtype(np.float64)
        return merge_probes(parts, self.shape, dtype)

    def epochs(self, state: FactorState, config: TrainingConfig, rng: np.random.Generator, adagrad: AdaGrad,
               interrupt: DeferredInterrupt) -> "_EpochRunner":
        """The runner of the epochs on the cluster; the block seed is drawn here, after the initial factors.

        Ctrl-C is taken while the client waits for the strata; ``state``
        keeps the last completed epoch (it changes only once all is in hand).
        """
        self.runner = _EpochRunner(self.client, self.tiles, self.layout, config, state, adagrad,
                                   seed=draw_block_seed(rng), max_recoveries=self.max_recoveries,
                                   interrupt=interrupt)
        return self.runner


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
                 max_recoveries: int, interrupt: DeferredInterrupt | None = None) -> None:
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
        self.interrupt = interrupt
        self.recoveries = 0
        self.G = layout.grid.n_tiles
        self.moved_bytes: list[int] = []      # between workers, per epoch
        self.gathered_bytes: list[int] = []   # to the client, per epoch
        self.scattered_bytes = 0               # client to workers (start and recoveries)
        self.epoch_seconds: list[float] = []
        # Submitted, not yet collected: epoch -> (outputs, bytes moved, step).
        self.pending: dict[int, tuple[list[Any], int, float]] = {}
        #: The step of the epoch being run and of the next (see run).
        self.rates: dict[int, float] = {}
        self.row_slabs: dict[int, Any] = {}
        self.col_slabs: dict[int, Any] = {}
        self.where_rows: dict[int, str] = {}
        self.where_cols: dict[int, str] = {}
        self._locate_tiles()
        self._scatter_slabs()

    # -- placement -------------------------------------------------------
    def _locate_tiles(self) -> None:
        # Bounded: a rebuild of lost tiles that never ends is an error (the
        # recovery retries until its own deadline), not a hang.
        self._wait(list(self.tiles.values()), set(), deadline=time.monotonic() + _LOCATE_SECONDS)
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
    def run(self, epoch: int, learning_rate: float, next_learning_rate: float) -> float:
        """Run epoch ``epoch`` at ``learning_rate`` on the cluster (see :meth:`epoch_sse`); return the SSE.

        The next epoch, submitted early, runs at ``next_learning_rate``; if
        the step turns out otherwise, it is dropped and submitted again.
        """
        self.rates = {epoch: learning_rate, epoch + 1: next_learning_rate}
        return self.epoch_sse(epoch)

    def rollback(self) -> None:
        """The client's state was put back to before the last epoch: drop what ran on, send the state again."""
        self._drop_pending()
        self._scatter_slabs()

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
                if epoch in self.pending and self.pending[epoch][2] != self._rate(epoch):
                    self._drop_pending()  # submitted early at a step the schedule did not take
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
        rate = self._rate(epoch)
        config = dataclasses.replace(self.config, learning_rate=rate)
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
                    config, self.state.mu, blocks, schedule.seed,
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
        self.pending[epoch] = (outputs, moved, rate)

    def _collect(self, epoch: int) -> float:
        """Wait for ``epoch``'s slabs and errors, copy them into ``state``; return the SSE."""
        client, L, G = self.client, self.layout, self.G
        outputs, moved, _ = self.pending[epoch]
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
        self.moved_bytes.append(int(moved))
        self.gathered_bytes.append(sum(_nbytes(v) for v in values[:2 * G]) + 8 * G * G)
        # The tiles' sums added as the local fit adds them.
        return _blocks.epoch_sse([float(v) for v in values[2 * G:]])

    def _rate(self, epoch: int) -> float:
        """The step of ``epoch``: as :meth:`run` was told, else the configured one."""
        return self.rates.get(epoch, self.config.learning_rate)

    def _drop_pending(self) -> None:
        """Forget the submitted epochs; Dask releases their tasks."""
        self.pending.clear()

    def _wait(self, futures: list[Any], used: set[str], deadline: float | None = None) -> None:
        """Wait for ``futures``; raise _Lost as soon as a worker they need is gone, or at ``deadline``."""
        while True:
            try:
                distributed.wait(futures, timeout=_POLL_SECONDS)
                return
            except (TimeoutError, distributed.TimeoutError):
                pass
            if self.interrupt is not None:
                self.interrupt.check()
            for future in futures:
                if future.status == "error":
                    future.result()  # raises the task's own error (divergence, ...)
                if future.status in ("cancelled", "lost"):
                    raise _Lost(f"result {future.key} was lost")
            missing = used - set(_live_workers(self.client))
            if missing:
                raise _Lost(f"worker(s) {sorted(missing)} left the cluster")
            if deadline is not None and time.monotonic() > deadline:
                raise _Lost("Dask did not finish the tasks in time")

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
