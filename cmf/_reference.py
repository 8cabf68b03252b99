"""The SGD epoch in a few lines of NumPy: the executable specification.

This is what the C kernel in ``src_c/`` must compute, written for clarity
and tested against it. It is far too slow for real use (one Python step per
observed entry) and is not part of the public API.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LOSSES", "reference_epoch", "reference_loss"]

#: The losses of the epoch, in the order of the C enum (``CMF_LOSS_*`` in cmf.h).
LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge")


def reference_loss(loss: str, r: float, pred: float) -> tuple[float, float]:
    """``(z, ell)`` of one entry: the negative derivative of the loss in the prediction, and the loss.

    Parameters
    ----------
    loss : str
        One of :data:`LOSSES`.
    r, pred : float
        The observed value and the prediction.

    Returns
    -------
    tuple of float
        ``z`` (what the update multiplies in place of the squared loss's
        error ``r - pred``) and the loss value ``ell``.
    """
    if loss == "squared":
        return r - pred, (r - pred) ** 2
    if loss == "absolute":
        d = r - pred
        return float(np.sign(d)), abs(d)
    if loss == "kl":
        if r == 0:  # r log r is 0 at r = 0
            return -1.0, pred
        return r / pred - 1.0, r * math.log(r / pred) - r + pred
    margin = r * pred
    if loss == "logistic":
        # log(1 + exp(-m)) without overflow for either sign of m.
        ell = math.log1p(math.exp(-margin)) if margin > 0 else -margin + math.log1p(math.exp(margin))
        return r / (1.0 + math.exp(margin)) if margin < 700 else 0.0, ell
    if loss == "hinge":
        return (r, 1.0 - margin) if margin < 1 else (0.0, 0.0)
    if loss == "squared_hinge":
        slack = max(0.0, 1.0 - margin)
        return r * slack, slack * slack
    raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")


def reference_epoch(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    b: np.ndarray | None,
    c: np.ndarray | None,
    mu: float,
    *,
    learning_rate: float,
    regularization: float,
    bias_regularization: float,
    order: np.ndarray | None = None,
    loss: str = "squared",
    weights: np.ndarray | None = None,
    l1: float = 0.0,
    nonnegative: bool = False,
) -> float:
    """Run one SGD epoch in place, in float64 arithmetic, and return the summed loss.

    For each visited entry (u, i, r) of weight w, with
    ``pred = mu + b[u] + c[i] + P[u] @ Q[i]`` and ``z, ell = reference_loss(loss, r, pred)``
    (for the squared loss ``z = e = r - pred`` and ``ell = e^2``)::

        z, ell = w * z, w * ell
        b[u] += lr * (z - reg_b * b[u])
        c[i] += lr * (z - reg_b * c[i])
        P[u], Q[i] = (P[u] + lr * (z * Q[i] - reg * P[u]),
                      Q[i] + lr * (z * P[u] - reg * Q[i]))   # both from old values
        P[u], Q[i] = soft_threshold(P[u], lr * l1), soft_threshold(Q[i], lr * l1)   # when l1 > 0
        P[u], Q[i] = max(P[u], 0), max(Q[i], 0)                                     # when nonnegative

    Parameters
    ----------
    rows, cols, values : ndarray, shape (n,)
        The observed entries.
    P, Q : ndarray, shapes (n_rows, k) and (n_cols, k)
        Factors, updated in place.
    b, c : ndarray or None
        Biases, updated in place; None for an unbiased model.
    mu : float
        Global offset.
    learning_rate, regularization, bias_regularization : float
        Step size and penalties.
    order : ndarray of int, optional
        Visiting order; stored order when None.
    loss : str, default "squared"
        One of :data:`LOSSES`.
    weights : ndarray, shape (n,), optional
        Weight of each entry (all 1 when None).
    l1 : float, default 0.0
        L1 penalty on the factors (a soft threshold of ``learning_rate * l1`` after each step).
    nonnegative : bool, default False
        Clamp the updated factors at 0 after each step.

    Returns
    -------
    float
        Sum of the (weighted) losses seen before each update (the SSE for the squared loss).
    """
    total = 0.0
    visit = range(len(values)) if order is None else order
    for j in visit:
        u, i, r = rows[j], cols[j], float(values[j])
        pred = mu + float(np.dot(P[u].astype(np.float64), Q[i].astype(np.float64)))
        if b is not None:
            pred += float(b[u]) + float(c[i])
        z, ell = reference_loss(loss, r, pred)
        if weights is not None:
            z, ell = float(weights[j]) * z, float(weights[j]) * ell
        total += ell
        if b is not None:
            b[u] = b[u] + learning_rate * (z - bias_regularization * b[u])
            c[i] = c[i] + learning_rate * (z - bias_regularization * c[i])
        p_old = P[u].astype(np.float64)
        q_old = Q[i].astype(np.float64)
        p_new = p_old + learning_rate * (z * q_old - regularization * p_old)
        q_new = q_old + learning_rate * (z * p_old - regularization * q_old)
        if l1 > 0:
            p_new = np.sign(p_new) * np.maximum(np.abs(p_new) - learning_rate * l1, 0.0)
            q_new = np.sign(q_new) * np.maximum(np.abs(q_new) - learning_rate * l1, 0.0)
        if nonnegative:
            p_new, q_new = np.maximum(p_new, 0.0), np.maximum(q_new, 0.0)
        P[u] = p_new
        Q[i] = q_new
    return total
