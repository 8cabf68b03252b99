"""Training by pairwise ranking (BPR) on implicit feedback: the epochs, their schedule and their threads.

An epoch lays the positives out in a ``B x B`` grid of random blocks (in C,
:meth:`cmf._kernels.Interactions.layout`) and runs the ``B`` strata of the
grid one after the other: stratum ``s`` holds the blocks ``(R, (R + s) mod
B)``, which share no user and no item, so that its blocks may run on
several threads at once. Each block's samples are a pure function of the
seed, the epoch and the block, and the statistics are summed in block order,
so the factors and the history are the same bits at any thread count.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from cmf import _kernels
from cmf._seen import SeenItems

__all__ = ["PairwiseState", "Schedule", "strata", "train_pairwise"]


def strata(n_blocks: int) -> list[np.ndarray]:
    """The blocks of each stratum, ``R * B + (R + s) mod B`` for ``R = 0 .. B-1``, as int32 arrays."""
    r = np.arange(n_blocks, dtype=np.int64)
    return [(r * n_blocks + (r + s) % n_blocks).astype(np.int32) for s in range(n_blocks)]


@dataclass(frozen=True)
class Schedule:
    """How a BPR fit runs: epochs, the ``n_blocks x n_blocks`` grid, threads (at most ``n_blocks`` work)."""

    n_epochs: int
    n_blocks: int
    n_threads: int


@dataclass
class PairwiseState:
    """The parameters a BPR fit updates in place: user factors ``P``, item factors ``Q``, item biases ``c``."""

    P: np.ndarray
    Q: np.ndarray
    c: np.ndarray


def train_pairwise(
    state: PairwiseState, positives: SeenItems, params: Any, schedule: Schedule, seed: int,
    *, on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, list[float]]:
    """Run ``schedule.n_epochs`` BPR epochs on ``state`` in place; return the per-epoch history.

    Parameters
    ----------
    state : PairwiseState
        C-contiguous arrays of one floating dtype; ``c`` is used only when ``params.update_biases``.
    positives : SeenItems
        Each user's positive items, sorted and distinct.
    params : cmf._kernels.BprParams
        The step's hyperparameters, checked.
    schedule : Schedule
    seed : int
        The sampler's seed, in ``[0, 2**64)``.
    on_epoch : callable, optional
        Called with each epoch's record.

    Returns
    -------
    dict of list
        ``epoch``, ``correct`` (share of samples ranked right before their step) and
        ``skipped`` (samples without a negative in ``max_tries`` draws).

    Raises
    ------
    cmf.DivergenceError
        If the scores became NaN or infinite (the arrays then hold that epoch's values).
    """
    n_rows = state.P.shape[0]
    # Model() takes both biases or neither: the user biases are a dummy the kernel never reads.
    biases = (np.zeros(n_rows, state.P.dtype), state.c) if params.update_biases else (None, None)
    model = _kernels.Model(state.P, state.Q, *biases)
    data = _kernels.Interactions(positives.indptr, positives.indices, state.Q.shape[0], schedule.n_blocks,
                                 weighted=params.negatives == "popularity")
    order = [[blocks[b:b + 1] for b in range(len(blocks))] for blocks in strata(schedule.n_blocks)]
    history: dict[str, list[float]] = {"epoch": [], "correct": [], "skipped": []}
    n_threads = min(schedule.n_threads, schedule.n_blocks)
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _Serial() as pool:
        for epoch in range(schedule.n_epochs):
            data.layout(seed, epoch)
            totals = np.zeros(4)
            for stratum in order:
                for got in pool.map(lambda block: data.run(params, model, seed, epoch, block), stratum):
                    totals += got  # in block order, whichever thread ran the block
            _, n_samples, n_correct, n_skipped = totals
            record = {"epoch": epoch + 1, "correct": n_correct / max(n_samples, 1.0), "skipped": n_skipped}
            for key, value in record.items():
                history[key].append(float(value))
            if on_epoch is not None:
                on_epoch(record)
    return history


class _Serial:
    """The part of an executor :func:`train_pairwise` uses, on the calling thread."""

    def __enter__(self) -> "_Serial":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return [fn(item) for item in items]
