"""The objective: the loss of each entry under every loss an epoch can minimise, vectorised, and the penalty.

The C epochs sum these losses on their way through an epoch (cmf.h, "Other
losses"); the bold driver's probe (:mod:`cmf._train.probe`) needs them for
the model an epoch leaves, over many entries at once. The squared loss
keeps its own summation there (its bits are pinned by the reproducibility
tests), so these functions serve the other losses and weighted entries.
:func:`penalty` is the regularisation part, summed in C.
"""

from __future__ import annotations

import math

import numpy as np

from typing import Any

from cmf import _kernels
from cmf._input import Triplets
from cmf._train.config import TrainingConfig
from cmf._train.state import FactorState, predict_pairs

__all__ = ["entry_losses", "held_out_rmse", "root_mean", "penalty", "penalty_model"]


def entry_losses(loss: str, values: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The loss of each entry, in float64.

    Parameters
    ----------
    loss : str
        One of :data:`cmf._train.config.LOSSES`.
    values, predictions : ndarray, shape (n,)
        Observed values and the model's predictions.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``ell(r, pred)`` of each entry: NaN or infinite where the loss is
        (a KL prediction <= 0 for a positive value), which the caller
        judges as divergence.
    """
    r = np.asarray(values, dtype=np.float64)
    pred = np.asarray(predictions, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if loss == "squared":
            return (r - pred) ** 2
        if loss == "absolute":
            return np.abs(r - pred)
        if loss == "kl":
            positive = r > 0
            safe_r = np.where(positive, r, 1.0)
            return np.where(positive, safe_r * np.log(safe_r / pred) - r + pred, pred)
        margin = r * pred
        if loss == "logistic":
            return np.logaddexp(0.0, -margin)
        slack = np.maximum(0.0, 1.0 - margin)
        if loss == "hinge":
            return slack
        if loss == "squared_hinge":
            return slack * slack
    raise ValueError(f"unknown loss {loss!r}")


def held_out_rmse(state: FactorState, data: Triplets, loss: str = "squared") -> float:
    """The figure early stopping watches on held-out ``data``, as ``train_rmse`` is computed.

    The root mean squared error, accumulated in double, for the squared
    loss without weights; with another loss or weights, the square root of
    the mean (weighted) loss per entry, so that early stopping follows the
    loss being minimised (the root changes no comparison).

    Parameters
    ----------
    state : FactorState
    data : Triplets
        The validation entries (values already in the loss's form: +1/-1
        for a classification loss).
    loss : str
        One of :data:`cmf._train.config.LOSSES`.

    Returns
    -------
    float
    """
    predicted = predict_pairs(state, data.rows, data.cols)
    if loss == "squared" and data.weights is None:
        err = predicted.astype(np.float64)
        err -= data.values
        return float(np.sqrt(np.mean(err * err)))
    losses = entry_losses(loss, data.values, predicted)
    if data.weights is not None:
        losses *= data.weights
    return float(np.sqrt(np.mean(losses)))


def root_mean(total: float, n: int) -> float:
    """``sqrt(total / n)`` as ``float(np.sqrt(total / n))`` gives it: an epoch's ``train_rmse`` from its loss.

    :func:`math.sqrt` rounds as NumPy does (correctly), without NumPy's
    dispatch for one number, which costs microseconds after an epoch has
    pushed it out of the CPU caches. A negative mean (loss terms rounded
    below zero) goes to NumPy, which gives NaN with a warning where
    :func:`math.sqrt` would raise.

    Parameters
    ----------
    total : float
        The summed loss (NaN or infinite after a diverged epoch).
    n : int
        Entries summed.

    Returns
    -------
    float
    """
    mean = total / n
    return math.sqrt(mean) if not mean < 0 else float(np.sqrt(mean))


def penalty(state: FactorState, row_counts: np.ndarray, col_counts: np.ndarray, config: TrainingConfig,
            model: Any = None) -> float:
    """The regularisation part of the objective.

    Each observed entry (u, i) contributes ``reg * (|p_u|^2 + |q_i|^2)``, ``reg_b * (b_u^2 + c_i^2)``
    and ``l1 * (|p_u|_1 + |q_i|_1)``, which is the objective SGD's per-entry updates descend; summed,
    row u's terms weigh by its number of entries (``row_counts``, float64). Summed in C in a fixed order
    (``cmf_penalty_*``, ``cmf_penalty_l1_*``, see cmf.h); NaN or infinite when the parameters are or the
    sum overflows, which the caller reports as divergence. ``model``: :func:`penalty_model` of ``state``,
    built once per fit (else here).
    """
    if model is None:
        model = penalty_model(state, config)
    return model.penalty(row_counts, col_counts, config.regularization, config.bias_regularization, config.l1)


def penalty_model(state: FactorState, config: TrainingConfig) -> Any:
    """The C kernel's read-only view of ``state`` that :func:`penalty` sums (biases only when fitted)."""
    biases = (state.b, state.c) if config.biased else (None, None)
    return _kernels.Model(state.P, state.Q, *biases, state.mu)
