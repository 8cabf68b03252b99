"""Gibbs sampling of Bayesian probabilistic matrix factorization (BPMF).

The model of Salakhutdinov and Mnih (ICML 2008): a rating minus the global
mean is ``u . v`` plus Gaussian noise of precision ``alpha``; the rows of
each side have a Gaussian prior whose mean and precision have a
Normal-Wishart hyperprior (``mu0 = 0``, ``beta0 = 2``, ``nu0 = k``,
``W0 = I``). A sweep draws the user side's hyperparameters, every user row
given the items, the item side's hyperparameters, every item row given the
users and, with ``noise_precision="auto"``, ``alpha`` from its Gamma
posterior. The row draws run in C (:func:`cmf._kernels.gibbs_rows`), split
across threads by row range; every random number is drawn here, by one
NumPy generator in a fixed order, so the result does not depend on the
number of threads.

The prediction is the mean over the kept sweeps of ``mu + U_s[u] . V_s[i]``,
which is the dot product of the kept samples laid side by side and scaled by
``1 / sqrt(S)``: :func:`sample` returns exactly that, a factorization with
``S * k`` factors and zero biases, which the estimator publishes as its
fitted value.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from cmf import _kernels
from cmf._checks import integer, real
from cmf._input import Triplets
from cmf._memory import check_allocation
from cmf._train.config import _duplicates, _n_threads, _rating_scale
from cmf._train.state import FactorState, predict_pairs
from cmf._train.stats import index_counts

__all__ = ["GibbsConfig", "gibbs_config", "sample", "draw_hyperparameters", "by_row"]

#: The hyperprior of the rows' mean and precision (the paper's choice).
BETA0 = 2.0
#: The Gamma(shape, rate) prior of the noise precision with ``noise_precision="auto"``: weak (worth
#: two ratings), so that the data decide.
NOISE_SHAPE0, NOISE_RATE0 = 1.0, 1.0
#: The spread of the starting factors, for ratings whose standard deviation is 1; it grows with
#: the square root of the ratings' (see :func:`sample`).
INIT_STD = 0.1


@dataclass(frozen=True)
class GibbsConfig:
    """Validated parameters of one Gibbs fit."""

    n_factors: int
    n_samples: int
    burn_in: int
    keep_every: int
    #: A fixed noise precision, or None to sample it each sweep ("auto").
    noise_precision: float | None
    n_threads: int
    rating_scale: tuple[float, float] | None
    duplicates: str | None
    #: The shared input checks read these: the factors are always float64 and
    #: sampling has no early stopping.
    dtype = np.dtype(np.float64)
    patience = None

    @property
    def kept(self) -> range:
        """The (0-based) sweeps whose samples the prediction averages."""
        return range(self.burn_in, self.n_samples, self.keep_every)

    @property
    def factor_columns(self) -> int:
        """Columns of the published factor matrices: ``n_factors`` per kept sample."""
        return self.n_factors * len(self.kept)


def gibbs_config(params: Mapping[str, Any]) -> GibbsConfig:
    """Check the estimator's parameters once.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter and what it accepts.
    """
    n_samples = integer(params["n_samples"], "n_samples", minimum=1)
    burn_in = integer(params["burn_in"], "burn_in", minimum=0)
    if burn_in >= n_samples:
        raise ValueError(f"burn_in ({burn_in}) must be below n_samples ({n_samples}): no sample would be kept; "
                         "raise n_samples or lower burn_in")
    noise = params["noise_precision"]
    if isinstance(noise, str):
        if noise != "auto":
            raise ValueError(f"noise_precision must be a positive number or 'auto', got {noise!r}")
        noise = None
    else:
        noise = real(noise, "noise_precision", 0.0, strict=True, hint=" (or 'auto' to sample it)")
    return GibbsConfig(
        n_factors=integer(params["n_factors"], "n_factors", minimum=1),
        n_samples=n_samples,
        burn_in=burn_in,
        keep_every=integer(params["keep_every"], "keep_every", minimum=1),
        noise_precision=noise,
        # the same checks as MatrixFactorization's parameters of the same names
        n_threads=_n_threads(params["n_threads"], params),
        rating_scale=_rating_scale(params["rating_scale"], params),
        duplicates=_duplicates(params["duplicates"], params),
    )


@dataclass(frozen=True)
class Rows:
    """One side's entries grouped by row (CSR): the input of a half sweep."""

    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int32: the other side's row of each entry
    values: np.ndarray  # float64: rating minus the global mean
    #: Row boundaries of the threads' ranges, chosen to give each about as many entries.
    bounds: tuple[int, ...]


def by_row(rows: np.ndarray, other: np.ndarray, values: np.ndarray, n: int, n_parts: int = 1) -> Rows:
    """Group entries by ``rows`` (stable) into :class:`Rows`, with ``n_parts`` thread ranges."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(index_counts(rows, n), out=indptr[1:])
    targets = np.linspace(0, indptr[-1], n_parts + 1)[1:-1]
    inner = np.searchsorted(indptr, targets).tolist()
    bounds = tuple(sorted({0, n, *(min(max(b, 0), n) for b in inner)}))
    return Rows(indptr, np.ascontiguousarray(other[order], dtype=np.int32),
                np.ascontiguousarray(values[order], dtype=np.float64), bounds)


def wishart(df: float, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Wishart(df, scale) draw by Bartlett's decomposition."""
    k = scale.shape[0]
    chol = np.linalg.cholesky(scale)
    a = np.tril(rng.standard_normal((k, k)), -1)
    a[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    la = chol @ a
    return la @ la.T


def draw_hyperparameters(X: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a side's prior mean and precision from their Normal-Wishart posterior given its rows ``X``."""
    n, k = X.shape
    mean = X.mean(axis=0)
    centred = X - mean
    spread = centred.T @ centred / n
    beta = BETA0 + n
    inverse_scale = np.eye(k) + n * spread + (BETA0 * n / beta) * np.outer(mean, mean)
    scale = np.linalg.inv(inverse_scale)
    precision = wishart(k + n, (scale + scale.T) / 2, rng)
    # mu ~ N(n mean / beta, (beta precision)^-1), through the Cholesky factor of beta precision.
    chol = np.linalg.cholesky(beta * precision)
    mu = n * mean / beta + np.linalg.solve(chol.T, rng.standard_normal(k))
    return mu, precision


@dataclass
class GibbsOutcome:
    """What :func:`sample` returns, in the shape the estimator publishes (see ``MatrixFactorization._store``)."""

    state: FactorState
    n_epochs: int
    history: dict[str, list[float]]
    converged: bool = True
    best_epoch: int | None = None


class _HalfSweep:
    """Draws every row of one side, its row ranges on a thread pool."""

    def __init__(self, rows: Rows, pool: ThreadPoolExecutor | None) -> None:
        self.rows = rows
        self.pool = pool

    def __call__(self, out: np.ndarray, other: np.ndarray, prior: tuple[np.ndarray, np.ndarray],
                 alpha: float, normals: np.ndarray) -> None:
        r = self.rows
        mean, precision = prior

        def draw(begin: int, end: int) -> None:
            _kernels.gibbs_rows(r.indptr, r.indices, r.values, other, out, mean=mean, precision=precision,
                                noise_precision=alpha, normals=normals, begin=begin, end=end)

        ranges = list(zip(r.bounds[:-1], r.bounds[1:]))
        if self.pool is None or len(ranges) == 1:
            for begin, end in ranges:
                draw(begin, end)
        else:
            for future in [self.pool.submit(draw, begin, end) for begin, end in ranges]:
                future.result()


def _rmse(pred: np.ndarray, truth: np.ndarray, scale: tuple[float, float] | None) -> float:
    if scale is not None:
        pred = np.clip(pred, *scale)
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def sample(
    data: Triplets, valid: Triplets | None, config: GibbsConfig, rng: np.random.Generator, *,
    scale: tuple[float, float] | None = None, report: Callable[[dict[str, float]], None] | None = None,
) -> GibbsOutcome:
    """Run the chain; return the averaged model as one factorization (see the module docstring).

    Parameters
    ----------
    data : Triplets
        The training ratings (any float dtype; used in float64).
    valid : Triplets or None
        Held-out ratings: ``val_rmse`` of the history is the RMSE of the
        running posterior mean on them (of the current sample during burn-in).
    config : GibbsConfig
    rng : numpy.random.Generator
        The only source of random numbers.
    scale : (float, float), optional
        Range the validation predictions are clipped to.
    report : callable, optional
        Called with each sweep's history row.

    Returns
    -------
    GibbsOutcome
        ``state`` has ``n_factors * len(config.kept)`` factor columns and
        zero biases. A row or column without training entries is drawn from
        its side's prior every sweep, so its prediction is the posterior
        mean too: the global mean plus about the other side's offset from
        the prior mean (on W1, test items missing from training are
        predicted better so than by the global mean: 0.8950 against 0.8970).
    """
    n_users, n_items = data.shape
    k, kept = config.n_factors, config.kept
    width = config.factor_columns
    # The samples are kept one after the other (contiguous writes) and laid
    # side by side once at the end: twice their size at the peak.
    check_allocation(16 * width * (n_users + n_items), f"{len(kept)} kept samples of {k} factors",
                     "keep fewer samples: raise keep_every or burn_in, or lower n_samples")
    values = data.values.astype(np.float64)
    mu = float(values.mean())
    resid = values - mu
    users = by_row(data.rows, data.cols, resid, n_users, config.n_threads)
    items = by_row(data.cols, data.rows, resid, n_items, config.n_threads)
    # Starting factors in proportion to the ratings' scale: the pull of the
    # data on a row against that of the prior, alpha |v|^2 / Lambda, goes as
    # init^4 / scale^2, so that a chain on ratings times 10 would otherwise
    # start (and stay) near the zero factors of the prior.
    init = INIT_STD * math.sqrt(float(np.std(resid)) or 1.0)
    U = rng.normal(0.0, init, (n_users, k))
    V = rng.normal(0.0, init, (n_items, k))
    user_samples, item_samples = np.empty((len(kept), n_users, k)), np.empty((len(kept), n_items, k))
    zero_u, zero_i = np.zeros(n_users), np.zeros(n_items)
    alpha = config.noise_precision
    history: dict[str, list[float]] = {
        "epoch": [], "train_loss": [], "train_rmse": [], "val_rmse": [], "seconds": [], "noise_precision": []}
    val_sum = None if valid is None else np.zeros(len(valid))
    start = time.perf_counter()
    weight = 1.0 / math.sqrt(len(kept))
    n_kept = 0
    with ThreadPoolExecutor(config.n_threads) if config.n_threads > 1 else nullcontext() as pool:
        draw_users, draw_items = _HalfSweep(users, pool), _HalfSweep(items, pool)
        sse = float(resid @ resid)
        for sweep in range(config.n_samples):
            if config.noise_precision is None:
                alpha = rng.gamma(NOISE_SHAPE0 + len(resid) / 2, 1.0 / (NOISE_RATE0 + sse / 2))
            draw_users(U, V, draw_hyperparameters(U, rng), alpha, rng.standard_normal((n_users, k)))
            draw_items(V, U, draw_hyperparameters(V, rng), alpha, rng.standard_normal((n_items, k)))
            sample = FactorState(U, V, zero_u, zero_i, 0.0)
            err = resid - predict_pairs(sample, data.rows, data.cols)
            sse = float(err @ err)
            keep = sweep in kept
            if keep:
                np.multiply(U, weight, out=user_samples[n_kept])
                np.multiply(V, weight, out=item_samples[n_kept])
                n_kept += 1
            val_rmse = math.nan
            if valid is not None:
                current = predict_pairs(sample, valid.rows, valid.cols)
                if keep:
                    val_sum += current
                val_rmse = _rmse(mu + (val_sum / n_kept if n_kept else current), valid.values, scale)
            row = {"epoch": float(sweep + 1), "train_loss": sse, "train_rmse": math.sqrt(sse / len(resid)),
                   "val_rmse": val_rmse, "seconds": time.perf_counter() - start, "noise_precision": float(alpha)}
            for key, value in row.items():
                history[key].append(value)
            if report is not None:
                report(row)
    P = user_samples.transpose(1, 0, 2).reshape(n_users, width)
    del user_samples
    Q = item_samples.transpose(1, 0, 2).reshape(n_items, width)
    state = FactorState(P, Q, zero_u, zero_i, mu)
    return GibbsOutcome(state=state, n_epochs=config.n_samples, history=history)

