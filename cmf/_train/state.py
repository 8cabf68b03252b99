"""The parameters being trained: factor state, padding, initial values, AdaGrad state.

Training runs on factor rows padded to :func:`cmf._aligned.padded_width`
(:func:`pad_factors`, applied once by the pipeline's setup) and the result is
cut back to ``n_factors`` columns once at the end (:func:`unpad_factors`),
for local and distributed fits alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cmf import _kernels
from cmf._aligned import aligned_copy, aligned_empty, is_aligned, padded_width
from cmf._input import Triplets
from cmf._train.config import TrainingConfig
from cmf._train.stats import DataStats, measure

__all__ = ["FactorState", "pad_factors", "unpad_factors", "initial_state", "initial_factors", "initial_std",
           "start_rows", "adagrad_state", "predict_pairs"]


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


def initial_state(
    data: Triplets, config: TrainingConfig, rng: np.random.Generator, scale: float | None = None
) -> FactorState:
    """Random factors N(0, init_std^2 * min(1, scale)), zero biases, mu = mean of the observed values.

    With ``config.nonnegative`` the factors are the absolute values of those
    draws; with a loss of ``ZERO_MEAN_LOSSES`` (KL, classification) mu is 0.

    ``scale`` is :func:`cmf._train.stats.data_scale` of the values around mu
    (computed when not given). Rows and columns without any observed entry
    get zero factors, so that the model predicts mu plus the other side's
    bias for them: they are never updated, and random factors would only add
    noise.
    """
    stats = measure(data, config.biased)
    if scale is not None:
        stats = replace(stats, scale=scale)
    return initial_factors(stats, config, rng)


# Values drawn per call into C by normal_rows: about 2 ms each, between
# which Python takes Ctrl-C.
DRAW_CHUNK = 1 << 20


def normal_rows(seed: int, first_row: int, n_rows: int, k: int, scale: float, dtype: np.dtype,
                width: int | None = None) -> np.ndarray:
    """An aligned ``(n_rows, width)`` array: ``scale`` times standard normals in the first ``k`` columns, zeros after.

    Row ``i`` holds the normals of stream ``first_row + i`` of ``seed``
    (``cmf_normal_rows_*`` in ``cmf.h`` defines them), drawn a chunk of
    rows per call into C: the values do not depend on the chunks, and
    Ctrl-C during the draws of a large model (2 billion values at 1M rows
    and k = 2048) is raised within milliseconds instead of after them all.

    Parameters
    ----------
    seed : int
        Unsigned 64-bit seed.
    first_row : int
        The stream of the first row.
    n_rows, k : int
        Rows, and normals per row.
    scale : float
        Multiplies every normal (in double, before rounding to float32).
    dtype : numpy.dtype
        float32 or float64.
    width : int, optional
        Columns of the array, ``>= k`` (default ``k``): the padding of
        :func:`pad_factors`, drawn in place.

    Returns
    -------
    ndarray
    """
    width = k if width is None else width
    out = aligned_empty((n_rows, width), dtype)
    step = max(1, DRAW_CHUNK // max(width, 1))
    for start in range(0, n_rows, step):
        _kernels.normal_rows(seed, first_row + start, k, scale, out[start:start + step])
    return out


def initial_std(init_std: float, scale: float) -> float:
    """The spread of the initial factors: ``init_std``, times ``sqrt(scale)`` for data that vary by less than 1.

    See :func:`cmf._train.stats.data_scale` for why.
    """
    return init_std * np.sqrt(min(1.0, scale))


def start_rows(F: np.ndarray, counts: np.ndarray, nonnegative: bool) -> None:
    """Make drawn factor rows a start, in place: folded to >= 0 for ``nonnegative``, zero where ``counts`` is 0.

    Projected SGD starts feasible from the same draws folded; a row with
    no entries is never updated, and random factors would only add noise
    to its predictions (mu plus the other side's bias without them).
    """
    if nonnegative:
        np.abs(F, out=F)
    F[np.asarray(counts) == 0] = 0


def initial_factors(stats: DataStats, config: TrainingConfig, rng: np.random.Generator, *,
                    padded: bool = False) -> FactorState:
    """:func:`initial_state` from the statistics of the data, however they were computed.

    ``stats.mean`` must be the correctly rounded mean of the values and
    ``stats.scale`` exact too (:mod:`cmf._train.stats`), so that neither
    depends on how the data was split (:mod:`cmf.dask`). One 64-bit seed
    drawn from ``rng`` gives the factors: row ``u`` of P is stream ``u`` of
    :func:`normal_rows`, row ``i`` of Q stream ``n_rows + i``. With
    ``padded`` the factor rows come padded as :func:`pad_factors` pads them.
    """
    n_rows, n_cols = stats.shape
    k, dtype = config.n_factors, config.dtype
    width = padded_width(k) if padded else k
    std = initial_std(config.init_std, stats.scale)
    seed = int(rng.integers(0, 1 << 64, dtype=np.uint64))
    P = normal_rows(seed, 0, n_rows, k, std, dtype, width)
    Q = normal_rows(seed, n_rows, n_cols, k, std, dtype, width)
    start_rows(P, stats.row_counts, config.nonnegative)
    start_rows(Q, stats.col_counts, config.nonnegative)
    # KL and the classification losses have no global mean: it stays 0.
    mu = float(stats.mean) if config.biased and not config.fixed_mean else 0.0
    return FactorState(P, Q, np.zeros(n_rows, dtype), np.zeros(n_cols, dtype), mu)


def adagrad_state(shape: tuple[int, int], config: TrainingConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """AdaGrad accumulators (all ones: 2 per row and per column) or (None, None) for plain SGD."""
    if not config.adaptive:
        return None, None
    return np.ones(2 * shape[0], dtype=config.dtype), np.ones(2 * shape[1], dtype=config.dtype)


def predict_pairs(state: FactorState, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Predictions for validated int32 index arrays, in the state's dtype.

    An unbiased model's biases and mu are zero, so one formula serves both.
    """
    out = np.empty(len(rows), dtype=state.P.dtype)
    _kernels.Model(state.P, state.Q, state.b, state.c, state.mu).predict(rows, cols, out)
    return out
