"""Adaptive (AdaGrad) step sizes against a NumPy transcription of the rule in cmf.h."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import blocks as _blocks
from cmf._input import as_triplets

N_ROWS, N_COLS, K, N = 9, 7, 5, 80
LR, REG, REG_B = 0.1, 0.03, 0.02
PARAMS = _kernels.Params(learning_rate=LR, regularization=REG, bias_regularization=REG_B, adaptive=True)


def adagrad_reference(rows, cols, values, P, Q, b, c, mu, G_row, G_col, order):
    """The AdaGrad epoch, written out in float64 one entry at a time.

    For entry (u, i, r) with e = r - (mu + b_u + c_i + p_u . q_i):
    g_b = e - reg_b b_u; H_u += g_b^2; b_u += lr / sqrt(H_u) g_b (same for c_i);
    g_p = e q_i - reg p_u, g_q = e p_u - reg q_i (old p_u, q_i);
    G_u += |g_p|^2 / k; G_i += |g_q|^2 / k; p_u += lr / sqrt(G_u) g_p; q_i += lr / sqrt(G_i) g_q.
    """
    sse = 0.0
    k = P.shape[1]
    for j in order:
        u, i, r = rows[j], cols[j], float(values[j])
        e = r - (mu + b[u] + c[i] + P[u] @ Q[i])
        sse += e * e
        if b is not None:
            gb, gc = e - REG_B * b[u], e - REG_B * c[i]
            G_row[2 * u + 1] += gb * gb
            G_col[2 * i + 1] += gc * gc
            b[u] += LR / np.sqrt(G_row[2 * u + 1]) * gb
            c[i] += LR / np.sqrt(G_col[2 * i + 1]) * gc
        gp = e * Q[i] - REG * P[u]
        gq = e * P[u] - REG * Q[i]
        G_row[2 * u] += gp @ gp / k
        G_col[2 * i] += gq @ gq / k
        P[u] = P[u] + LR / np.sqrt(G_row[2 * u]) * gp
        Q[i] = Q[i] + LR / np.sqrt(G_col[2 * i]) * gq
    return sse


def problem(seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, N_ROWS, N).astype(np.int32)
    cols = rng.integers(0, N_COLS, N).astype(np.int32)
    values = rng.uniform(1, 5, N)
    P = 0.5 * rng.standard_normal((N_ROWS, K))
    Q = 0.5 * rng.standard_normal((N_COLS, K))
    b = 0.3 * rng.standard_normal(N_ROWS)
    c = 0.3 * rng.standard_normal(N_COLS)
    G_row = 1 + rng.random(2 * N_ROWS)
    G_col = 1 + rng.random(2 * N_COLS)
    return rows, cols, values, P, Q, b, c, G_row, G_col


def test_adaptive_epoch_equals_the_reference():
    rows, cols, values, *start = problem()
    order = np.random.default_rng(1).integers(0, N, 2 * N).astype(np.int64)  # with repeats
    got = [a.copy() for a in start]
    model = _kernels.Model(*got[:4], 3.0, row_adagrad=got[4], col_adagrad=got[5])
    sse = model.epoch(PARAMS, _kernels.Entries(rows, cols, values), order)
    want = [a.copy() for a in start]
    sse_ref = adagrad_reference(rows, cols, values, *want[:4], 3.0, *want[4:], order)
    for a, w, name in zip(got, want, ["P", "Q", "b", "c", "G_row", "G_col"]):
        np.testing.assert_allclose(a, w, rtol=1e-12, atol=1e-12, err_msg=name)
    assert sse == pytest.approx(sse_ref, rel=1e-12)
    assert np.all(got[4] >= start[4]) and np.any(got[4] > start[4])  # accumulators only grow


def test_adaptive_blocked_epoch_equals_the_reference_in_the_same_order():
    rows, cols, values, *start = problem(2)
    data = as_triplets(rows, cols, values, shape=(N_ROWS, N_COLS), dtype=np.float64)
    grid = _blocks.Grid(3, 3, 3, 3, 3)
    blocked = _blocks.partition(data, grid)
    blocks = np.arange(9, dtype=np.int32)[::-1].copy()
    got = [a.copy() for a in start]
    model = _kernels.Model(*got[:4], 3.0, row_adagrad=got[4], col_adagrad=got[5])
    kernel_blocked = _kernels.Blocked(blocked.block_ptr, blocked.local_rows, blocked.local_cols, blocked.values,
                                      n_row_blocks=3, n_col_blocks=3, row_block_size=3, col_block_size=3)
    sse = model.blocks(PARAMS, kernel_blocked, blocks, 77, np.empty(blocked.max_block, np.int32))
    order = []
    for block in blocks:
        lo, hi = blocked.block_ptr[block], blocked.block_ptr[block + 1]
        within = np.empty(hi - lo, np.int32)
        _kernels.block_order(77, int(block), within)
        order.extend(lo + within)
    g_rows, g_cols = blocked.global_indices()
    want = [a.copy() for a in start]
    sse_ref = adagrad_reference(g_rows, g_cols, blocked.values, *want[:4], 3.0, *want[4:], order)
    for a, w in zip(got, want):
        np.testing.assert_allclose(a, w, rtol=1e-12, atol=1e-12)
    assert sse == pytest.approx(sse_ref, rel=1e-12)


def test_adaptive_needs_accumulators_of_the_right_length():
    rows, cols, values, P, Q, b, c, G_row, G_col = problem()
    with pytest.raises(ValueError, match="2 \\* n_rows"):
        _kernels.Model(P, Q, b, c, 3.0, row_adagrad=G_row[:-1], col_adagrad=G_col)
    with pytest.raises(ValueError, match="adaptive"):
        _kernels.Model(P, Q, b, c, 3.0).epoch(PARAMS, _kernels.Entries(rows, cols, values))


def test_adaptive_steps_cope_with_the_data_scale():
    # Ratings scaled by 100: plain SGD with a step that suits unit-scale data
    # diverges; the adaptive steps stay bounded (about learning_rate per
    # update, whatever the gradient's scale), so the loss falls every epoch.
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 200, 20_000)
    cols = rng.integers(0, 100, 20_000)
    truth = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 100))
    values = 100 * (truth[rows, cols] + 0.05 * rng.standard_normal(20_000))
    params = dict(n_factors=3, learning_rate=0.05, regularization=0.01, max_epochs=60, tol=0, random_state=0)
    with pytest.raises(cmf.DivergenceError):
        cmf.MatrixFactorization(**params).fit_triplets(rows, cols, values, shape=(200, 100))
    model = cmf.MatrixFactorization(adaptive=True, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values, shape=(200, 100))
    loss = np.array(model.history_["train_loss"])
    assert np.all(np.isfinite(loss)) and np.all(np.diff(loss) < 0)
    rmse = np.sqrt(np.mean((model.predict(rows, cols) - values) ** 2))
    assert rmse < 0.8 * np.std(values)  # well below predicting the mean
