"""The SGD epoch in a few lines of NumPy: the executable specification.

This is what the C kernel in ``src_c/`` must compute, written for clarity
and tested against it. It is far too slow for real use (one Python step per
observed entry) and is not part of the public API.
"""

from __future__ import annotations

import numpy as np


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
) -> float:
    """Run one SGD epoch in place, in float64 arithmetic, and return the SSE.

    For each visited entry (u, i, r), with ``e = r - (mu + b[u] + c[i] + P[u] @ Q[i])``::

        b[u] += lr * (e - reg_b * b[u])
        c[i] += lr * (e - reg_b * c[i])
        P[u], Q[i] = (P[u] + lr * (e * Q[i] - reg * P[u]),
                      Q[i] + lr * (e * P[u] - reg * Q[i]))   # both from old values

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

    Returns
    -------
    float
        Sum of squared errors seen before each update.
    """
    sse = 0.0
    visit = range(len(values)) if order is None else order
    for j in visit:
        u, i, r = rows[j], cols[j], float(values[j])
        pred = mu + float(np.dot(P[u].astype(np.float64), Q[i].astype(np.float64)))
        if b is not None:
            pred += float(b[u]) + float(c[i])
        e = r - pred
        sse += e * e
        if b is not None:
            b[u] = b[u] + learning_rate * (e - bias_regularization * b[u])
            c[i] = c[i] + learning_rate * (e - bias_regularization * c[i])
        p_old = P[u].astype(np.float64)
        q_old = Q[i].astype(np.float64)
        P[u] = p_old + learning_rate * (e * q_old - regularization * p_old)
        Q[i] = q_old + learning_rate * (e * p_old - regularization * q_old)
    return sse
