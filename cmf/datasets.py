"""Built-in data: the 4x5 example matrix and a synthetic low-rank rating generator.

Nothing here reads the network: every data set is either written out in this
file or generated from a seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._dataset import RatingDataset
from cmf._low_rank_model import LowRankModel

__all__ = ["LowRankModel", "RatingData", "example_matrix", "make_ratings"]


# The name make_ratings' result had before it became the one rating record;
# kept so that code importing it keeps working.
RatingData = RatingDataset


def example_matrix() -> np.ndarray:
    """The fully known 4x5 matrix of the classic "my SGD does not converge" question.

    Returns
    -------
    ndarray of float64, shape (4, 5)
        Rows 0 and 2 are equal; the matrix has rank 3.
    """
    return np.array(
        [
            [3, 1, 1, 3, 1],
            [1, 2, 4, 1, 3],
            [3, 1, 1, 3, 1],
            [4, 3, 5, 4, 4],
        ],
        dtype=np.float64,
    )


def _distinct_pairs(
    n_rows: int, n_cols: int, n_ratings: int, popularity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n_ratings`` distinct (row, col) cells as int64 codes row * n_cols + col.

    Written to hold at most about three int64 arrays of ``n_ratings`` at a
    time (the 10 million rating set stays under 400 MB); the random stream
    is consumed exactly as by ``rng.integers`` followed by ``rng.choice(n_cols,
    p=popularity)`` on whole arrays, so the data do not depend on the chunking.
    """
    cdf = popularity.cumsum()
    cdf /= cdf[-1]
    codes = np.empty(0, dtype=np.int64)
    step = 1 << 20
    while len(codes) < n_ratings:
        # Draw a little more than is missing, since some draws repeat cells.
        want = int((n_ratings - len(codes)) * 1.1) + 16
        drawn = rng.integers(0, n_rows, size=want, dtype=np.int64)
        drawn *= n_cols
        # rng.choice(n_cols, p=popularity) is cdf.searchsorted(rng.random()):
        # the same uniforms, drawn and used a chunk at a time.
        for start in range(0, want, step):
            chunk = drawn[start:start + step]
            chunk += cdf.searchsorted(rng.random(len(chunk)), side="right")
        if len(codes):
            drawn = np.concatenate([codes, drawn])
        del codes
        drawn.sort()  # in place; then keep the first of each run, as np.unique
        first = np.empty(len(drawn), dtype=bool)
        first[:1] = True
        np.not_equal(drawn[1:], drawn[:-1], out=first[1:])
        codes = drawn[first]
        del drawn, first
    # Keep a random subset of the right size, then put it in random order.
    keep = rng.choice(len(codes), size=n_ratings, replace=False)
    return codes[keep]


def make_ratings(
    n_rows: int = 200_000,
    n_cols: int = 50_000,
    n_ratings: int = 10_000_000,
    *,
    rank: int = 16,
    mean: float = 3.5,
    bias_std: float = 0.3,
    factor_std: float = 0.447,
    noise_std: float = 0.5,
    popularity_offset: float = 10.0,
    dtype: Any = np.float32,
    random_state: int | np.random.Generator | None = 0,
    return_model: bool = False,
) -> RatingDataset | tuple[RatingDataset, LowRankModel]:
    """Generate a synthetic rating set from a known low-rank model.

    Rows (users) are drawn uniformly; columns (items) with popularity
    proportional to ``1 / (rank + popularity_offset)``, the ranks randomly
    permuted over item ids. Each of the ``n_ratings`` distinct cells gets

    ``value = mean + b_u + c_i + p_u . q_i + noise``

    with ``b, c ~ N(0, bias_std)``, ``P, Q ~ N(0, factor_std)`` of width
    ``rank`` and ``noise ~ N(0, noise_std)``. The defaults are the 10 million
    rating workload of the benchmarks. An estimator that knew the model
    would reach an RMSE of ``noise_std``; one that learns it from sparse data
    cannot, and ``return_model=True`` gives the model, whose
    :meth:`~LowRankModel.oracle_rmse` computes a floor that can be reached
    (about 0.60 for the defaults with 1% held out, where ``noise_std`` is 0.5).

    Parameters
    ----------
    n_rows, n_cols : int
        Matrix shape.
    n_ratings : int
        Number of distinct observed cells, at most ``n_rows * n_cols``.
    rank : int, default 16
        True rank of the interaction part.
    mean, bias_std, factor_std, noise_std : float
        Parameters of the generating model.
    popularity_offset : float, default 10
        Larger values make item popularity less skewed.
    dtype : dtype, default float32
        dtype of the values.
    random_state : int, Generator or None, default 0
        Seed; the same seed gives the same data.
    return_model : bool, default False
        Also return the generating model (as scikit-learn's
        ``make_regression(coef=True)`` returns its coefficients). The data
        are the same either way.

    Returns
    -------
    RatingDataset
        Unlabelled triplets in random order, and the shape; it also unpacks
        as ``rows, cols, values, shape``.
    LowRankModel
        The biases, factors and standard deviations the data were drawn
        from; only with ``return_model=True``.
    """
    if n_rows < 1 or n_cols < 1 or rank < 1:
        raise ValueError("n_rows, n_cols and rank must be >= 1")
    if not 1 <= n_ratings <= n_rows * n_cols:
        raise ValueError(f"n_ratings must be between 1 and n_rows * n_cols = {n_rows * n_cols}, got {n_ratings}")
    rng = np.random.default_rng(random_state)
    weights = 1.0 / (rng.permutation(n_cols) + popularity_offset)
    codes = _distinct_pairs(n_rows, n_cols, n_ratings, weights / weights.sum(), rng)
    rows = np.empty(n_ratings, dtype=np.int32)
    cols = np.empty(n_ratings, dtype=np.int32)
    for start in range(0, n_ratings, 1 << 20):  # bounded int64 temporaries
        rows[start:start + (1 << 20)], cols[start:start + (1 << 20)] = np.divmod(codes[start:start + (1 << 20)], n_cols)
    del codes

    b = rng.normal(0.0, bias_std, n_rows).astype(np.float32)
    c = rng.normal(0.0, bias_std, n_cols).astype(np.float32)
    P = rng.normal(0.0, factor_std, (n_rows, rank)).astype(np.float32)
    Q = rng.normal(0.0, factor_std, (n_cols, rank)).astype(np.float32)
    values = np.empty(n_ratings, dtype=dtype)
    step = 1 << 18  # bounded temporaries: chunk x rank floats at a time
    for start in range(0, n_ratings, step):
        r, k = rows[start:start + step], cols[start:start + step]
        dot = np.einsum("ij,ij->i", P[r], Q[k], dtype=np.float64)
        noise = rng.normal(0.0, noise_std, len(r))
        values[start:start + step] = mean + b[r] + c[k] + dot + noise
    data = RatingDataset(rows, cols, values, (int(n_rows), int(n_cols)))
    if not return_model:
        return data
    return data, LowRankModel(float(mean), b, c, P, Q, float(bias_std), float(factor_std), float(noise_std))
