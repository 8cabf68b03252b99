"""Ctrl-C stops a fit or a search within a fraction of a second, whatever the model size and thread count.

The fits here are big on purpose: one epoch takes several seconds (about 6 s
on a 2-core AMD EPYC), all of it in one tile, so that a fit that checked for
Ctrl-C only after a whole tile or stratum would take seconds to stop. The
bounds are generous (2 s) for noisy machines; the measured times are printed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import blocks as _blocks, epochs as _epochs, state as _state
from cmf._train.config import training_config
from cmf._train.stats import DataStats
from cmf._train.interrupt import DeferredInterrupt, cancelled_by
from cmf.model_selection import GridSearch, RandomSearch, tune

BOUND = 2.0  # seconds from SIGINT to KeyboardInterrupt; the target is 0.5
DELAY = 0.5  # seconds into the first epoch when SIGINT is sent
SIDE = 2048  # the data: a dense SIDE x SIDE square of entries
N_FACTORS = 2048

needs_main_thread_sigint = pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="the test runner replaced the SIGINT handler",
)


def dense_square():
    rows = np.repeat(np.arange(SIDE, dtype=np.int32), SIDE)
    cols = np.tile(np.arange(SIDE, dtype=np.int32), SIDE)
    values = np.sin(rows * 0.01) + np.cos(cols * 0.03)
    return rows, cols, values


def estimator(**kw) -> cmf.MatrixFactorization:
    params = dict(n_factors=N_FACTORS, learning_rate=0.001, max_epochs=2, tol=0.0, dtype="float32",
                  random_state=0, blocking=True)
    return cmf.MatrixFactorization(**{**params, **kw})


class SigintInFirstEpoch:
    """Sends SIGINT to this process DELAY seconds after the first blocked epoch starts (in any thread)."""

    def __init__(self, monkeypatch) -> None:
        self.sent: float | None = None
        self._timer: threading.Timer | None = None
        real_run = _epochs.BlockedEpochs.run

        def run(epochs, *args):
            if self._timer is None:
                self._timer = threading.Timer(DELAY, self._send)
                self._timer.start()
            return real_run(epochs, *args)

        monkeypatch.setattr(_epochs.BlockedEpochs, "run", run)

    def _send(self) -> None:
        self.sent = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    def latency(self) -> float:
        """Seconds from SIGINT until now."""
        assert self.sent is not None, "KeyboardInterrupt came before SIGINT was sent"
        return time.perf_counter() - self.sent


@needs_main_thread_sigint
@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_fit_whose_epoch_is_one_huge_tile_stops_promptly(monkeypatch, n_threads):
    # Every entry in one tile of a 2 x 2 grid of tiles over a 2 SIDE square
    # matrix: the whole epoch is one tile, and with two threads one stratum
    # is that tile and an empty one.
    grid = _blocks.Grid(64, 64, 2 * SIDE // 64, 2 * SIDE // 64, 2)
    monkeypatch.setattr(_epochs, "training_grid", lambda shape, n_entries, config: grid)
    rows, cols, values = dense_square()
    sigint = SigintInFirstEpoch(monkeypatch)
    model = estimator(n_threads=n_threads, duplicates="error")
    with pytest.raises(KeyboardInterrupt):
        model.fit_triplets(rows, cols, values, shape=(2 * SIDE, 2 * SIDE))
    latency = sigint.latency()
    print(f"n_threads={n_threads}: KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert latency < BOUND
    # Interrupted in the first epoch: nothing to keep.
    assert not hasattr(model, "n_epochs_")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


SEARCHES = {
    "GridSearch": lambda data: GridSearch(estimator(duplicates="error"), {"regularization": [0.1, 0.2, 0.3]},
                                          n_jobs=2, refit=False).fit(data),
    "RandomSearch": lambda data: RandomSearch(estimator(duplicates="error"), {"regularization": [0.1, 0.2]},
                                              n_iter=3, n_jobs=2, refit=False, random_state=0).fit(data),
    "tune": lambda data: tune(data, 3, estimator=estimator(duplicates="error"), space={"regularization": [0.1, 0.2]},
                              min_epochs=1, max_epochs=2, n_jobs=2, refit=False),
}


@needs_main_thread_sigint
@pytest.mark.parametrize("search", SEARCHES)
def test_a_search_with_fits_in_threads_stops_promptly(monkeypatch, search):
    data = dense_square()
    sigint = SigintInFirstEpoch(monkeypatch)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        SEARCHES[search](data)
    latency = sigint.latency()
    print(f"{search}(n_jobs=2): KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert latency < BOUND
    # The fits stopped: their threads are gone, none runs on in the background.
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_a_fit_in_a_cancelled_thread_stops_like_an_interrupted_one():
    rows, cols, values = (a[:5000] for a in dense_square())
    cancel = threading.Event()
    outcome = {}

    def fit() -> None:
        model = estimator(n_factors=4, max_epochs=1000, duplicates="error")
        stop_after_3 = lambda row: cancel.set() if row["epoch"] == 3 else None  # noqa: E731
        try:
            with cancelled_by(cancel):
                model.fit_ratings((rows, cols, values), callback=stop_after_3)
        except KeyboardInterrupt:
            outcome["epochs"] = model.n_epochs_
        outcome["done"] = True

    thread = threading.Thread(target=fit)
    thread.start()
    thread.join(60)
    assert outcome == {"epochs": 3, "done": True}


class _SlowTiles:
    """A fake tile call: instant in the calling thread, 10 s of 10 ms pieces in a pool thread."""

    def __init__(self) -> None:
        self.pool_thread_started = threading.Event()

    def __call__(self, blocks, seed, scratch, *, check=None) -> float:
        if threading.current_thread() is threading.main_thread():
            # Leave the long tile to the pool thread, then wait for it.
            assert self.pool_thread_started.wait(10)
            return 0.0
        self.pool_thread_started.set()
        for _ in range(1000):
            check()
            time.sleep(0.01)
        return 0.0


@needs_main_thread_sigint
def test_ctrl_c_while_the_calling_thread_waits_for_the_pool_stops_within_a_piece():
    grid = _blocks.Grid(1, 1, 2, 2, 2)
    blocked = _blocks.BlockedData(grid, np.arange(5, dtype=np.int64), np.zeros(4, np.uint16), np.zeros(4, np.uint16),
                                  np.zeros(4), max_block=1)
    # Two strata of two one-block tiles; the first never ends.
    schedule = _blocks.EpochSchedule(np.array([0, 3, 1, 2], np.int32), np.arange(5, dtype=np.int64), seed=0)
    tiles = _SlowTiles()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        with _blocks.BlockedRunner(blocked, 2) as runner, DeferredInterrupt() as interrupt:
            started = time.perf_counter()
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                runner.run_epoch(tiles, schedule, between=interrupt.check, stopping=lambda: interrupt.pending)
            elapsed = time.perf_counter() - started
    finally:
        timer.cancel()
    assert tiles.pool_thread_started.is_set()
    assert elapsed < BOUND


class SigintDuringFirstDraw:
    """Stands in for ``_kernels.normal_rows``: SIGINT arrives while its first call runs; counts the values drawn."""

    def __init__(self) -> None:
        self.drawn, self.draw = 0, _kernels.normal_rows

    def __call__(self, seed, first_row, k, scale, out):
        self.draw(seed, first_row, k, scale, out)
        first = self.drawn == 0
        self.drawn += out.size
        if first:
            # Delivered at the next bytecode: as if it came during that draw.
            os.kill(os.getpid(), signal.SIGINT)


@needs_main_thread_sigint
def test_ctrl_c_while_a_large_model_is_drawn_stops_within_one_chunk(monkeypatch):
    # 3 million x 2 rows and columns of 64 factors: 384M values, about a
    # second of drawing in one call; in chunks the interrupt lands after the first.
    n, k = 3_000_000, 64
    stats = DataStats((n, 2), 2, np.ones(n, np.int64), np.ones(2, np.int64), 0.0, 1.0)
    config = training_config(cmf.MatrixFactorization(n_factors=k).get_params())
    draws = SigintDuringFirstDraw()
    monkeypatch.setattr(_state._kernels, "normal_rows", draws)
    with pytest.raises(KeyboardInterrupt):
        _state.initial_factors(stats, config, np.random.default_rng(0))
    assert 0 < draws.drawn <= _state.DRAW_CHUNK < n * k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_drawing_in_chunks_gives_the_values_of_one_draw(monkeypatch, dtype):
    whole = np.empty((103, 8), dtype)
    _kernels.normal_rows(3, 10, 7, 0.5, whole)
    monkeypatch.setattr(_state, "DRAW_CHUNK", 8 * 5)
    drawn = _state.normal_rows(3, 10, 103, 7, 0.5, np.dtype(dtype), width=8)
    np.testing.assert_array_equal(drawn, whole)
    assert drawn.dtype == dtype and drawn.shape == (103, 8)
