"""LIBMF's other losses, sample weights, L1 and non-negative factors in the C epochs, against the NumPy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmf import _kernels
from cmf._reference import LOSSES, reference_epoch, reference_loss

N_ROWS, N_COLS, K, N = 7, 6, 5, 60
HYPER = dict(learning_rate=0.05, regularization=0.03, bias_regularization=0.02)
CLASSIFICATION = ("logistic", "hinge", "squared_hinge")


def problem(loss, dtype=np.float64, seed=0, k=K):
    """Random triplets (with repeats) whose values suit ``loss``, their weights, and a model state."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, N_ROWS, N).astype(np.int32)
    cols = rng.integers(0, N_COLS, N).astype(np.int32)
    if loss in CLASSIFICATION:
        values = rng.choice([-1.0, 1.0], N)
    elif loss == "kl":
        values = rng.uniform(0.0, 3.0, N)
        values[::7] = 0.0  # r log r at r = 0
    else:
        values = rng.uniform(1.0, 5.0, N)
    weights = rng.uniform(0.5, 2.0, N)
    P, Q = 0.5 * rng.standard_normal((N_ROWS, k)), 0.5 * rng.standard_normal((N_COLS, k))
    if loss == "kl":  # positive predictions: non-negative factors, no biases
        P, Q = np.abs(P) + 0.1, np.abs(Q) + 0.1
    b, c = 0.1 * rng.standard_normal(N_ROWS), 0.1 * rng.standard_normal(N_COLS)
    mu = 3.0 if loss in ("squared", "absolute") else 0.0
    return [rows, cols] + [a.astype(dtype) for a in (values, weights, P, Q, b, c)] + [mu]


def params(loss, biased, *, l1=0.0, nonnegative=False, **extra):
    return _kernels.Params(**HYPER, update_biases=biased, loss=loss, l1_regularization=l1,
                           nonnegative=nonnegative, **extra)


def kernel_plain(prob, loss, biased, order, *, weighted, l1=0.0, nonnegative=False):
    rows, cols, values, weights, P, Q, b, c, mu = prob
    P, Q, b, c = P.copy(), Q.copy(), b.copy(), c.copy()
    model = _kernels.Model(P, Q, b if biased else None, c if biased else None, mu)
    entries = _kernels.Entries(rows.astype(np.int32), cols.astype(np.int32), values, weights if weighted else None)
    total = model.epoch(params(loss, biased, l1=l1, nonnegative=nonnegative), entries, order)
    return P, Q, b, c, total


def blocked_run(prob, loss, biased, *, weighted, l1=0.0, nonnegative=False, seed=11):
    """A blocked epoch (2 x 2 blocks of 4 x 3) and the global entries in the order it visits them."""
    rows, cols, values, weights, P, Q, b, c, mu = prob
    P, Q, b, c = P.copy(), Q.copy(), b.copy(), c.copy()
    entries = _kernels.Entries(rows.astype(np.int32), cols.astype(np.int32), values, weights if weighted else None)
    blocked = _kernels.partition(entries, N_ROWS, N_COLS, 4, 3)
    n_blocks = blocked.n_row_blocks * blocked.n_col_blocks
    visit = np.array([3, 0, 2, 1], dtype=np.int32)[:n_blocks]
    model = _kernels.Model(P, Q, b if biased else None, c if biased else None, mu)
    total = model.blocks(params(loss, biased, l1=l1, nonnegative=nonnegative), blocked, visit, seed,
                         np.empty(blocked.max_block, np.int32))
    # The visiting order, from the blocks' layout and block_order, for the reference.
    order = []
    for block in visit:
        start, stop = blocked.block_ptr[block], blocked.block_ptr[block + 1]
        inside = np.empty(stop - start, np.int32)
        _kernels.block_order(seed, int(block), inside)
        order.extend(start + inside)
    block_of = np.repeat(np.arange(n_blocks), np.diff(blocked.block_ptr))
    g_rows = (block_of // blocked.n_col_blocks) * 4 + blocked.local_rows
    g_cols = (block_of % blocked.n_col_blocks) * 3 + blocked.local_cols
    w = blocked.weights if weighted else None
    return (P, Q, b, c, total), (g_rows, g_cols, blocked.values, w, np.array(order, dtype=np.int64))


def reference(prob, loss, biased, order, *, weighted, l1=0.0, nonnegative=False, entries=None):
    rows, cols, values, weights, P, Q, b, c, mu = prob
    if entries is not None:
        rows, cols, values, weights = entries
    rP, rQ, rb, rc = (a.astype(np.float64) for a in (P, Q, b, c))
    total = reference_epoch(
        rows, cols, values.astype(np.float64), rP, rQ, rb if biased else None, rc if biased else None, mu,
        **HYPER, order=order, loss=loss, weights=weights.astype(np.float64) if weighted and weights is not None
        else None, l1=l1, nonnegative=nonnegative,
    )
    return rP, rQ, rb, rc, total


def assert_close(got, want, start, atol, rtol_total):
    for a, e, name in zip(got[:4], want[:4], "PQbc"):
        np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=name)
    assert got[4] == pytest.approx(want[4], rel=rtol_total)
    assert np.max(np.abs(got[0] - start[4])) > 1e-3  # the epoch moved the factors well beyond the tolerance


CASES = [(loss, biased) for loss in LOSSES for biased in (True, False) if not (loss == "kl" and biased)]
OPTIONS = [dict(), dict(l1=0.5), dict(nonnegative=True), dict(l1=0.5, nonnegative=True)]


@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "l1", "nonneg", "l1+nonneg"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss,biased", CASES)
def test_float64_plain_epoch_equals_reference(loss, biased, weighted, options):
    if loss == "kl":
        options = {**options, "nonnegative": True}
    prob = problem(loss)
    order = np.random.default_rng(1).permutation(N).astype(np.int64)
    got = kernel_plain(prob, loss, biased, order, weighted=weighted, **options)
    want = reference(prob, loss, biased, order, weighted=weighted, **options)
    assert_close(got, want, prob, 1e-12, 1e-12)
    if options.get("nonnegative"):
        assert got[0].min() >= 0 and got[1].min() >= 0
    if options.get("l1"):  # the threshold zeroed some coordinates (the reference agrees at 1e-12)
        assert np.count_nonzero(want[0] == 0) + np.count_nonzero(want[1] == 0) > 0


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss,biased", CASES)
def test_float64_blocked_epoch_equals_reference(loss, biased, weighted):
    options = dict(l1=0.01, nonnegative=True) if loss == "kl" else dict(l1=0.01)
    prob = problem(loss)
    got, entries = blocked_run(prob, loss, biased, weighted=weighted, **options)
    order = entries[4]
    assert sorted(order.tolist()) == list(range(N))  # every entry once
    want = reference(prob, loss, biased, order, weighted=weighted, entries=entries[:4], **options)
    assert_close(got, want, prob, 1e-12, 1e-12)


def test_the_partition_permutes_the_weights_with_the_values():
    rows, cols, values, weights, *_ = problem("squared")
    entries = _kernels.Entries(rows.astype(np.int32), cols.astype(np.int32), values, weights)
    blocked = _kernels.partition(entries, N_ROWS, N_COLS, 4, 3)
    # Values are distinct: each one names its entry.
    where = {v: t for t, v in enumerate(values.tolist())}
    np.testing.assert_array_equal(blocked.weights, weights[[where[v] for v in blocked.values.tolist()]])
    assert _kernels.partition(_kernels.Entries(rows.astype(np.int32), cols.astype(np.int32), values),
                              N_ROWS, N_COLS, 4, 3).weights is None


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_epochs_agree_with_the_reference_to_float32_precision(loss):
    prob = problem(loss, dtype=np.float32)
    nonneg = loss == "kl"
    order = np.random.default_rng(2).permutation(N).astype(np.int64)
    got = kernel_plain(prob, loss, True if loss != "kl" else False, order, weighted=True, l1=0.01,
                       nonnegative=nonneg)
    want = reference(prob, loss, loss != "kl", order, weighted=True, l1=0.01, nonnegative=nonneg)
    assert_close(got, want, prob, 2e-5, 1e-5)
    got_b, entries = blocked_run(prob, loss, loss != "kl", weighted=True, l1=0.01, nonnegative=nonneg)
    want_b = reference(prob, loss, loss != "kl", entries[4], weighted=True, l1=0.01, nonnegative=nonneg,
                       entries=entries[:4])
    assert_close(got_b, want_b, prob, 2e-5, 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [5, 16, 37])
def test_weights_of_one_give_exactly_the_unweighted_bits(dtype, k):
    # Weighted entries take the generic update; unweighted squared ones the
    # grouped fast path. All-one weights must not change a bit.
    prob = problem("squared", dtype=dtype, k=k)
    prob[3] = np.ones(N, dtype)
    order = np.random.default_rng(3).permutation(N).astype(np.int64)
    for loss in ("squared", "logistic"):
        plain = kernel_plain(prob, loss, True, order, weighted=False)
        ones = kernel_plain(prob, loss, True, order, weighted=True)
        for a, e in zip(plain, ones):
            np.testing.assert_array_equal(a, e)
        blocked, _ = blocked_run(prob, loss, True, weighted=False)
        blocked_ones, _ = blocked_run(prob, loss, True, weighted=True)
        for a, e in zip(blocked, blocked_ones):
            np.testing.assert_array_equal(a, e)


def test_the_squared_default_is_the_grouped_epoch_bit_for_bit():
    prob = problem("squared")
    rows, cols, values, _, P, Q, b, c, mu = prob
    runs = []
    for p in (_kernels.Params(**HYPER), params("squared", True)):
        P1, Q1, b1, c1 = P.copy(), Q.copy(), b.copy(), c.copy()
        sse = _kernels.Model(P1, Q1, b1, c1, mu).epoch(p, _kernels.Entries(rows.astype(np.int32),
                                                                           cols.astype(np.int32), values))
        runs.append((P1, Q1, b1, c1, sse))
    for a, e in zip(*runs):
        np.testing.assert_array_equal(a, e)
    assert params("squared", True).loss == "squared" and _kernels.Params(**HYPER).l1_regularization == 0.0


def test_the_reference_losses_by_hand():
    # z and ell at hand-picked points (cmf.h, "Other losses").
    assert reference_loss("squared", 3.0, 1.0) == (2.0, 4.0)
    assert reference_loss("absolute", 1.0, 3.0) == (-1.0, 2.0)
    assert reference_loss("absolute", 2.0, 2.0) == (0.0, 0.0)
    assert reference_loss("kl", 2.0, 1.0) == pytest.approx((1.0, 2 * math.log(2) - 1))
    assert reference_loss("kl", 0.0, 0.5) == (-1.0, 0.5)
    assert reference_loss("logistic", 1.0, 0.0) == pytest.approx((0.5, math.log(2)))
    assert reference_loss("logistic", -1.0, 800.0) == (-1.0, 800.0)  # no overflow at a large margin
    assert reference_loss("logistic", 1.0, 800.0) == (0.0, 0.0)
    assert reference_loss("hinge", -1.0, 0.5) == (-1.0, 1.5)
    assert reference_loss("hinge", 1.0, 2.0) == (0.0, 0.0)
    assert reference_loss("squared_hinge", 1.0, 0.25) == (0.75, 0.5625)


def test_one_hand_computed_logistic_update_with_weight_l1_and_clamp():
    # p = (1, 2), q = (0.5, -1), r = 1, no biases, mu 0: pred = -1.5, margin -1.5,
    # z = 1 / (1 + e^-1.5), ell = log(1 + e^1.5); weight 2 doubles both.
    # p <- p + lr (2z q - reg p), then threshold lr * l1 = 0.01, then clamp.
    lr, reg, l1, w = 0.1, 0.2, 0.1, 2.0
    z = w / (1.0 + math.exp(-1.5))
    p_new = [1 + lr * (z * 0.5 - reg * 1), 2 + lr * (z * -1 - reg * 2)]
    q_new = [0.5 + lr * (z * 1 - reg * 0.5), -1 + lr * (z * 2 - reg * -1)]
    shrink = [[max(x - 0.01, 0.0) if x > 0 else 0.0 for x in v] for v in (p_new, q_new)]
    P, Q = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]])
    p = _kernels.Params(learning_rate=lr, regularization=reg, update_biases=False, loss="logistic",
                        l1_regularization=l1, nonnegative=True)
    total = _kernels.Model(P, Q).epoch(p, _kernels.Entries(np.zeros(1, np.int32), np.zeros(1, np.int32),
                                                           np.ones(1), np.array([w])))
    assert total == pytest.approx(w * math.log1p(math.exp(1.5)), rel=1e-15)
    np.testing.assert_allclose(P[0], shrink[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(Q[0], shrink[1], rtol=0, atol=1e-15)
    assert Q[0, 0] > 0 and Q[0, 1] == 0.0  # -1 + ... stayed negative and was clamped


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_penalty_with_l1_equals_numpy(dtype):
    rng = np.random.default_rng(4)
    P, Q = rng.standard_normal((9, 7)).astype(dtype), rng.standard_normal((5, 7)).astype(dtype)
    b, c = rng.standard_normal(9).astype(dtype), rng.standard_normal(5).astype(dtype)
    w, v = rng.integers(1, 9, 9).astype(np.float64), rng.integers(1, 9, 5).astype(np.float64)
    model = _kernels.Model(P, Q, b, c, 0.0)
    l2 = model.penalty(w, v, 0.1, 0.05)
    P64, Q64 = P.astype(np.float64), Q.astype(np.float64)
    want_l1 = 0.3 * (w @ np.abs(P64).sum(axis=1) + v @ np.abs(Q64).sum(axis=1))
    assert model.penalty(w, v, 0.1, 0.05, 0.3) == pytest.approx(l2 + want_l1, rel=1e-12)
    assert model.penalty(w, v, 0.1, 0.05, 0.0) == l2  # l1 = 0: the L2 sum's bits
    want_l2 = 0.1 * (w @ (P64 ** 2).sum(axis=1) + v @ (Q64 ** 2).sum(axis=1)) + 0.05 * (w @ b.astype(float) ** 2
                                                                                          + v @ c.astype(float) ** 2)
    assert l2 == pytest.approx(want_l2, rel=1e-5 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError):
        model.penalty(w, v, 0.1, 0.05, -1.0)


@pytest.mark.parametrize("bad", [dict(loss="quadratic"), dict(l1_regularization=-0.1),
                                 dict(l1_regularization=math.nan), dict(l1_regularization=math.inf),
                                 dict(adaptive=True, loss="hinge"), dict(adaptive=True, l1_regularization=0.1),
                                 dict(adaptive=True, nonnegative=True)])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        _kernels.Params(learning_rate=0.1, regularization=0.1, **bad)


def test_bad_weights_and_weights_with_adaptive_are_refused():
    rows, cols, values = np.zeros(3, np.int32), np.zeros(3, np.int32), np.ones(3)
    with pytest.raises(ValueError, match="weights"):
        _kernels.Entries(rows, cols, values, np.ones(2))
    with pytest.raises(ValueError, match="weights"):
        _kernels.Entries(rows, cols, values, np.ones(3, np.float32))
    P, Q = np.ones((1, 2)), np.ones((1, 2))
    model = _kernels.Model(P, Q, row_adagrad=np.ones(2), col_adagrad=np.ones(2))
    adaptive = _kernels.Params(learning_rate=0.1, regularization=0.1, update_biases=False, adaptive=True)
    with pytest.raises(ValueError, match="adaptive"):
        model.epoch(adaptive, _kernels.Entries(rows, cols, values, np.ones(3)))
    np.testing.assert_array_equal(P, 1.0)  # refused before any update


def test_kl_with_a_non_positive_prediction_diverges_instead_of_going_on():
    P, Q = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])  # pred = 0 for r = 2
    p = _kernels.Params(learning_rate=0.1, regularization=0.0, update_biases=False, loss="kl", nonnegative=True)
    with pytest.raises(Exception, match="diverged"):
        _kernels.Model(P, Q).epoch(p, _kernels.Entries(np.zeros(1, np.int32), np.zeros(1, np.int32),
                                                       np.array([2.0])))


@pytest.mark.parametrize("k", [5, 16, 40])
def test_every_instruction_set_variant_gives_the_same_bits_for_the_generic_update(k):
    prob = problem("logistic", dtype=np.float32, k=k)
    rows, cols, values, weights, P, Q, b, c, mu = prob
    entries = _kernels.Entries(rows, cols, values, weights)
    blocked = _kernels.partition(entries, N_ROWS, N_COLS, 4, 3)
    visit = np.arange(blocked.n_row_blocks * blocked.n_col_blocks, dtype=np.int32)
    runs = []
    for variant in _kernels.simd_variants():
        state = [P.copy(), Q.copy(), b.copy(), c.copy()]
        p = params("logistic", True, l1=0.2, nonnegative=True, simd_variant=variant)
        total = _kernels.Model(*state, mu).blocks(p, blocked, visit, 5, np.empty(blocked.max_block, np.int32))
        runs.append((*state, total))
    for other in runs[1:]:
        for a, e in zip(runs[0], other):
            np.testing.assert_array_equal(a, e)
