"""The probe: a fixed sample of the training entries on which the bold driver judges each epoch.

The bold driver (:mod:`cmf._train.schedule`) needs the loss of the model an
epoch leaves behind. The sum of squared errors SGD collects on its way
through an epoch is not that: each error is measured just after updates
that fitted the entries visited before it, and with a large step that
tracking makes the sum look better than the model it ends with, by a
factor of two on data that vary by about 5 around their mean, and ever
more so as the step grows, so that a driver trusting it keeps a step far
too large. The probe is evaluated on the model after the epoch instead.

It holds every entry of a data set of up to :data:`PROBE_SIZE` entries (the
loss is then exact) and about that many of a larger one: those whose
(row, column) pair hashes below a threshold. A hash of the pair, not of the
position, picks the same entries in whatever order and however partitioned
the data arrive (a local fit and :mod:`cmf.dask` judge alike), and the
entries are summed sorted by (row, column, value), so the loss has the same
bits everywhere.
"""

from __future__ import annotations

import numpy as np

from cmf import _kernels
from cmf._input import Triplets
from cmf._train.objective import entry_losses
from cmf._train.state import FactorState

__all__ = ["PROBE_SIZE", "probe_fraction", "select_probe", "merge_probes", "ProbeLoss"]

#: Entries in the probe of a large data set: its evaluation costs about
#: 1% of a 10M-entry epoch, and sums enough squared errors that an epoch's
#: gain or loss shows above the sample's quirks.
PROBE_SIZE = 1 << 14

# Entries hashed per step: bounds the temporaries to a few MB however
# large the data.
_HASH_CHUNK = 1 << 20


def probe_fraction(n_entries: int, size: int = PROBE_SIZE) -> float:
    """The share of the entries the probe takes: 1 up to ``size`` entries, ``size / n`` above."""
    return 1.0 if n_entries <= size else size / n_entries


def _pair_hash(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A 64-bit mix (splitmix64's finaliser) of each (row, column) pair, as uint64."""
    with np.errstate(over="ignore"):
        x = (rows.astype(np.uint64) << np.uint64(32)) | cols.astype(np.uint64)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def select_probe(data: Triplets, fraction: float, row_offset: int = 0, col_offset: int = 0) -> Triplets:
    """The entries of ``data`` in the probe of share ``fraction``, as global indices, sorted.

    Parameters
    ----------
    data : Triplets
        Entries (rows and columns relative to ``row_offset``, ``col_offset``).
    fraction : float
        :func:`probe_fraction` of the whole data set (1 takes every entry).
    row_offset, col_offset : int
        Added to the indices (a tile of :mod:`cmf.dask` holds local ones).

    Returns
    -------
    Triplets
        Sorted by (row, column, value); ``shape`` is ``data.shape``.
    """
    n = len(data)
    if fraction >= 1.0:
        keep = np.arange(n)
    else:
        # Below this, a uniform 64-bit hash falls with probability fraction.
        threshold = np.uint64(min(int(fraction * 2.0**64), 2**64 - 1))
        keep = np.concatenate([
            start + np.flatnonzero(_pair_hash(data.rows[start:start + _HASH_CHUNK] + np.int64(row_offset),
                                              data.cols[start:start + _HASH_CHUNK] + np.int64(col_offset))
                                   < threshold)
            for start in range(0, n, _HASH_CHUNK)
        ] or [np.empty(0, np.int64)])
    rows = (data.rows[keep].astype(np.int64) + row_offset).astype(np.int32)
    cols = (data.cols[keep].astype(np.int64) + col_offset).astype(np.int32)
    weights = None if data.weights is None else data.weights[keep]
    return _sorted(Triplets(rows, cols, data.values[keep], data.shape, weights))


def merge_probes(parts: list[Triplets], shape: tuple[int, int], dtype: np.dtype) -> Triplets:
    """The probes of the parts of a data set (its tiles) as one, sorted as :func:`select_probe` sorts."""
    if not parts:
        return Triplets(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, dtype), shape)
    return _sorted(Triplets(np.concatenate([p.rows for p in parts]), np.concatenate([p.cols for p in parts]),
                            np.concatenate([p.values for p in parts]).astype(dtype, copy=False), shape))


def _sorted(probe: Triplets) -> Triplets:
    if probe.weights is None:
        order = np.lexsort((probe.values, probe.cols, probe.rows))
        return Triplets(probe.rows[order], probe.cols[order], probe.values[order], probe.shape)
    order = np.lexsort((probe.weights, probe.values, probe.cols, probe.rows))
    return Triplets(probe.rows[order], probe.cols[order], probe.values[order], probe.shape, probe.weights[order])


class ProbeLoss:
    """The summed loss of a state over all entries, estimated on a probe; built once per fit.

    The kernel's model over ``state`` and the buffers are made here once:
    the state is updated in place, epoch after epoch, so each call only
    predicts the probe's entries (in C) and sums their squared errors in
    double, in the probe's order.

    Parameters
    ----------
    state : FactorState
        The parameters being trained (read at each call).
    probe : Triplets
        From :func:`select_probe` or :func:`merge_probes`.
    n_entries : int
        Entries of the whole data set.

    Attributes
    ----------
    loss : str
        The loss summed, "squared" unless set (:func:`cmf._train.objective.entry_losses`);
        each entry's times its weight when the probe has weights.
    """

    def __init__(self, state: FactorState, probe: Triplets, n_entries: int) -> None:
        self.probe, self.loss = probe, "squared"
        self.scale = n_entries / max(len(probe), 1)
        self.model = _kernels.Model(state.P, state.Q, state.b, state.c, state.mu)
        self.predicted = np.empty(len(probe), dtype=state.P.dtype)
        self.errors = np.empty(len(probe), dtype=np.float64)
        self.values = probe.values.astype(np.float64)

    def __call__(self) -> float:
        """The estimate for the state as it is now (exact when the probe holds every entry)."""
        if len(self.probe) == 0:
            return 0.0
        self.model.predict(self.probe.rows, self.probe.cols, self.predicted)
        if self.loss != "squared" or self.probe.weights is not None:
            losses = entry_losses(self.loss, self.values, self.predicted)
            if self.probe.weights is not None:
                losses *= self.probe.weights
            return float(np.sum(losses)) * self.scale
        np.subtract(self.predicted, self.values, out=self.errors)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.einsum("i,i->", self.errors, self.errors)) * self.scale
