"""The model a synthetic rating set was drawn from, and how well anyone can hope to fit it.

:func:`cmf.datasets.make_ratings` draws ratings from a known low-rank model;
with ``return_model=True`` it also returns that model as a
:class:`LowRankModel`. Besides the noise-free values, the model gives an
*achievable floor*: the noise standard deviation is what an estimator that
knew every parameter would reach, but no estimator learns the parameters
exactly from a finite sample, and on sparse data the gap is large (with 50
ratings a user and rank 16, estimating a user's 17 numbers adds about a third
to the noise variance). :meth:`LowRankModel.oracle_rmse` computes a floor that
accounts for it: the held-out RMSE of an oracle that is *given* one side of the
model exactly (every item's bias and factors, say) and estimates the other side
in the best way possible, the posterior mean under the generating prior. An
estimator that must learn both sides has less information than the oracle, so
its expected error cannot be lower; the larger of the two sides' oracles is the
tighter floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LowRankModel"]

# Entries per chunk when accumulating the normal equations: a chunk holds
# (rank + 1)^2 doubles per entry, 150 MB at rank 16 (also the peak memory
# of oracle_rmse beyond its inputs and one estimate per row).
_CHUNK = 1 << 16


@dataclass(frozen=True, eq=False, repr=False)
class LowRankModel:
    """The generating model of :func:`cmf.datasets.make_ratings`.

    A rating of row ``u`` and column ``i`` is
    ``mean + row_bias[u] + col_bias[i] + row_factors[u] @ col_factors[i]``
    plus Gaussian noise of standard deviation ``noise_std``; the biases were
    drawn from N(0, ``bias_std``) and the factors from N(0, ``factor_std``).

    Parameters
    ----------
    mean : float
        The global mean.
    row_bias, col_bias : ndarray of float32, shape (n_rows,) and (n_cols,)
        The biases.
    row_factors, col_factors : ndarray of float32, shape (n_rows, rank) and (n_cols, rank)
        The factors.
    bias_std, factor_std, noise_std : float
        Standard deviations of the prior the biases and factors were drawn
        from, and of the noise.
    """

    mean: float
    row_bias: np.ndarray
    col_bias: np.ndarray
    row_factors: np.ndarray
    col_factors: np.ndarray
    bias_std: float
    factor_std: float
    noise_std: float

    def __repr__(self) -> str:
        return (f"LowRankModel(shape={self.shape}, rank={self.row_factors.shape[1]}, mean={self.mean:g}, "
                f"bias_std={self.bias_std:g}, factor_std={self.factor_std:g}, noise_std={self.noise_std:g})")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``."""
        return len(self.row_bias), len(self.col_bias)

    def expected(self, rows: Any, cols: Any) -> np.ndarray:
        """The noise-free values of the given cells.

        Parameters
        ----------
        rows, cols : array_like of int, shape (n,)
            Cell indices.

        Returns
        -------
        ndarray of float64, shape (n,)
            ``mean + row_bias[rows] + col_bias[cols] + row_factors[rows] . col_factors[cols]``.
        """
        rows, cols = self._indices(rows, cols)
        dot = np.einsum("ij,ij->i", self.row_factors[rows], self.col_factors[cols], dtype=np.float64)
        return self.mean + self.row_bias[rows].astype(np.float64) + self.col_bias[cols] + dot

    def oracle_rmse(self, train: Any, test: Any, *, side: str = "rows") -> float:
        """Held-out RMSE of the best estimate of one side given the other side exactly: a floor for any estimator.

        The oracle knows ``mean`` and every bias and factor of the other side.
        For each row (``side="rows"``) it takes the posterior mean of the row's
        bias and factors given the row's training ratings, under the prior the
        model was drawn from (independent normals) and Gaussian noise of
        ``noise_std``: a ridge regression of the row's ratings on the known
        column factors, with penalties ``noise_std**2 / bias_std**2`` and
        ``noise_std**2 / factor_std**2``. A row without training ratings is
        predicted from the prior mean (bias and factors 0). No estimator that
        has to learn both sides does better in expectation, since it knows
        less than the oracle and the posterior mean is the best estimate
        under squared loss.

        Parameters
        ----------
        train, test : tuple of array_like
            ``(rows, cols, values)`` of the training and held-out ratings
            (a :class:`~cmf.datasets.RatingDataset` unpacks so).
        side : {"rows", "cols"}, default "rows"
            The side the oracle estimates; the other side is given.

        Returns
        -------
        float
            The oracle's RMSE on ``test``.
        """
        if side not in ("rows", "cols"):
            raise ValueError(f"side must be 'rows' or 'cols', got {side!r}")
        (train_rows, train_cols, train_values), (test_rows, test_cols, test_values) = (
            self._ratings(train, "train"), self._ratings(test, "test"))
        if side == "rows":
            own, given = (train_rows, test_rows), (train_cols, test_cols)
            own_bias, given_bias, given_factors = self.row_bias, self.col_bias, self.col_factors
        else:
            own, given = (train_cols, test_cols), (train_rows, test_rows)
            own_bias, given_bias, given_factors = self.col_bias, self.row_bias, self.row_factors
        rank = given_factors.shape[1]
        # Prior precision relative to the noise's, per parameter: the ridge penalties.
        penalty = self.noise_std**2 * np.array([self.bias_std**-2] + [self.factor_std**-2] * rank)
        estimate = np.zeros((len(own_bias), rank + 1))  # an index without ratings keeps the prior mean, 0
        # Sorted by the estimated side, a chunk holds whole runs of one index
        # but its last, which may go on in the next chunk: each chunk's normal
        # equations are summed per run (reduceat; np.add.at would be some 50x
        # slower) and solved, the last run's carried over. Memory stays one
        # chunk's, not one (rank + 1)^2 matrix per row.
        order = np.argsort(own[0], kind="stable")
        carry: tuple[int, np.ndarray, np.ndarray] | None = None
        for start in range(0, len(order), _CHUNK):
            part = order[start:start + _CHUNK]
            index = own[0][part]
            runs = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
            design = _design(given_factors, given[0][part])
            target = train_values[part] - self.mean - given_bias[given[0][part]].astype(np.float64)
            gram = np.add.reduceat(design[:, :, None] * design[:, None, :], runs, axis=0)
            moment = np.add.reduceat(design * target[:, None], runs, axis=0)
            owners = index[runs]
            if carry is not None and carry[0] == owners[0]:
                gram[0] += carry[1]
                moment[0] += carry[2]
            elif carry is not None:
                estimate[carry[0]] = _solve(carry[1][None], carry[2][None], penalty)[0]
            carry = (int(owners[-1]), gram[-1], moment[-1])
            estimate[owners[:-1]] = _solve(gram[:-1], moment[:-1], penalty)
        if carry is not None:
            estimate[carry[0]] = _solve(carry[1][None], carry[2][None], penalty)[0]
        design = _design(given_factors, given[1])
        predicted = (self.mean + given_bias[given[1]].astype(np.float64)
                     + np.einsum("ij,ij->i", design, estimate[own[1]]))
        return float(np.sqrt(np.mean((test_values - predicted) ** 2)))

    def _indices(self, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.asarray(rows), np.asarray(cols)
        if rows.shape != cols.shape or rows.ndim != 1:
            raise ValueError(f"rows and cols must be 1-D arrays of the same length, got shapes {rows.shape} and {cols.shape}")
        for name, index, size in (("rows", rows, self.shape[0]), ("cols", cols, self.shape[1])):
            if index.dtype.kind not in "iu":
                raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
            if len(index) and (index.min() < 0 or index.max() >= size):
                raise ValueError(f"{name} must lie in [0, {size}), the model's shape {self.shape}")
        return rows, cols

    def _ratings(self, ratings: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            rows, cols, values = ratings[:3] if isinstance(ratings, tuple) else tuple(ratings)[:3]
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be (rows, cols, values) or a RatingDataset") from None
        rows, cols = self._indices(rows, cols)
        values = np.asarray(values, dtype=np.float64)
        if values.shape != rows.shape:
            raise ValueError(f"{name}: values must have one entry per (row, col), got {len(values)} for {len(rows)}")
        if name == "test" and not len(values):
            raise ValueError("test holds no ratings: the RMSE of nothing is undefined")
        return rows, cols, values


def _solve(gram: np.ndarray, moment: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The ridge solutions ``(gram + diag(penalty))^-1 moment``, one per leading index."""
    gram = gram.copy()
    gram[:, np.arange(len(penalty)), np.arange(len(penalty))] += penalty
    return np.linalg.solve(gram, moment[:, :, None])[:, :, 0]


def _design(factors: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows ``[1, factors[j]]`` for each ``j`` in ``index``: the regressors of the bias and the factors."""
    design = np.empty((len(index), factors.shape[1] + 1))
    design[:, 0] = 1.0
    design[:, 1:] = factors[index]
    return design
