"""Several threads run one epoch's tiles with no barrier between strata.

An epoch is a fixed sequence of tiles: stratum after stratum, each
stratum's tiles largest first (:mod:`cmf._train.blocks`). One thread
running that sequence gives the reference bits. Several threads give the
same bits when every tile starts only after the tiles before it in the
sequence that share its row range or its column range have finished: each
tile then reads exactly the factors it would read in the sequence, and
tiles that run at the same time touch disjoint parts of the model.

Within a stratum that is the DSGD independence. Across strata it replaces
a barrier, which made every thread wait for the slowest tile of each
stratum, with a wait for the two tiles a tile depends on (the last earlier
tile of its row range and that of its column range). On a shared machine a
thread slowed by another process, or a tile slower per update than its
size suggests, then delays only the tiles that need its rows. Like LIBMF's
scheduler, a free thread takes the first tile it may run; unlike it, tiles
that share rows or columns always run in the sequence's order, so the
result does not depend on timing.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, wait
from typing import Callable

import numpy as np

__all__ = ["dependencies", "run_tiles", "Abandoned"]


class Abandoned(Exception):
    """A pool thread leaves its tile between two pieces: the epoch is being abandoned."""


def dependencies(row_ranges: list[int], col_ranges: list[int]) -> list[tuple[int, int]]:
    """For each tile of a sequence, the positions of the tiles it must wait for.

    Parameters
    ----------
    row_ranges, col_ranges : list of int
        Each tile's row range and column range (its tile row and tile
        column), in sequence order.

    Returns
    -------
    list of (int, int)
        For tile ``i``: the position of the last earlier tile with the same
        row range and that of the last earlier tile with the same column
        range, -1 where there is none.
    """
    last_row: dict[int, int] = {}
    last_col: dict[int, int] = {}
    after = []
    for i, (a, b) in enumerate(zip(row_ranges, col_ranges)):
        after.append((last_row.get(a, -1), last_col.get(b, -1)))
        last_row[a] = last_col[b] = i
    return after


def run_tiles(
    tile_call: Callable[..., float],
    tiles: list[np.ndarray],
    after: list[tuple[int, int]],
    slots: list[int],
    out: np.ndarray,
    seed: int,
    scratches: list[np.ndarray],
    pool: Executor,
    *,
    between: Callable[[], None] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> None:
    """Run ``tiles`` on the calling thread and ``len(scratches) - 1`` pool threads; tile ``i``'s SSE to ``out[slots[i]]``.

    Parameters
    ----------
    tile_call : callable
        ``tile_call(blocks, seed, scratch, check=...) -> sse`` (see
        :data:`cmf._train.blocks.TileCall`).
    tiles : list of ndarray of int32
        The block lists, in sequence order.
    after : list of (int, int)
        :func:`dependencies` of the sequence.
    slots : list of int
        Where each tile's sum of squared errors goes in ``out``.
    out : ndarray of float64
        Written at ``slots``.
    seed : int
        The epoch's seed of the orders inside blocks.
    scratches : list of ndarray
        One scratch array per thread, the calling thread's first.
    pool : Executor
        Runs the other threads' loops.
    between : callable, optional
        Called on the calling thread between two pieces and whenever it
        waits or finishes; it may raise (a deferred Ctrl-C) to abandon the
        epoch.
    stopping : callable, optional
        Read by the pool threads between two pieces: True when ``between``
        would raise. They then leave their tiles.
    """
    n = len(tiles)
    done = [False] * n
    taken = [False] * n
    state = {"first": 0, "stop": False}
    # Looking further than two strata ahead cannot find a tile that may run
    # while no nearer one may (its dependencies come first in the sequence).
    window = 2 * max(1, int(np.sqrt(n)))
    ready = threading.Condition()

    def ready_tile() -> int | None:  # under ``ready``
        first = state["first"]
        while first < n and taken[first]:
            first += 1
        state["first"] = first
        for i in range(first, min(n, first + window)):
            if not taken[i]:
                a, b = after[i]
                if (a < 0 or done[a]) and (b < 0 or done[b]):
                    return i
        return None

    def leave_if_stopped() -> None:  # a pool thread's check between two pieces
        if state["stop"] or (stopping is not None and stopping()):
            raise Abandoned

    def check() -> None:  # the calling thread's: it also takes the stop
        if between is not None:
            between()
        leave_if_stopped()

    def stop() -> None:
        with ready:
            state["stop"] = True
            ready.notify_all()

    def worker(scratch: np.ndarray, check: Callable[[], None], calling: bool) -> None:
        while True:
            with ready:
                while True:
                    if state["stop"]:
                        return
                    i = ready_tile()
                    if i is not None or state["first"] >= n:
                        break
                    # Waiting, the calling thread still runs its signal
                    # handlers, which make ``stopping()`` true; the pool
                    # threads then leave within a piece and wake it.
                    ready.wait()
                if i is None:
                    return
                taken[i] = True
            try:
                out[slots[i]] = tile_call(tiles[i], seed, scratch, check=check)
            except Abandoned:
                stop()
                return
            except BaseException:
                stop()
                raise
            with ready:
                done[i] = True
                ready.notify_all()
            if calling and between is not None:
                between()

    futures = [pool.submit(worker, scratch, leave_if_stopped, False) for scratch in scratches[1:]]
    try:
        worker(scratches[0], check, True)
        wait(futures)
        for future in futures:
            future.result()  # re-raise a kernel error (divergence, ...)
        if between is not None:
            between()
    except BaseException:
        # A kernel error, or Ctrl-C: let the running pieces finish (each
        # takes milliseconds) so that nothing writes the model once we
        # return.
        stop()
        wait(futures)
        raise
    if not all(done):
        raise RuntimeError("an epoch's tiles were abandoned without an error or an interrupt")  # pragma: no cover
