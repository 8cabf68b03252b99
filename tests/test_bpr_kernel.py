"""The BPR epoch of the C core (cmf_bpr_* in cmf.h) against a NumPy transcription of its documented rules.

The reference here re-implements the sampler's generator (splitmix64 keyed
by seed, epoch and block), the per-epoch layout of the positives in random
blocks and the step, from the text of cmf.h, in Python integers and float64.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cmf import _kernels
from cmf.exceptions import DivergenceError

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _next(state: int) -> tuple[int, int]:
    state = (state + GOLDEN) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def _mix(h: int, v: int) -> int:
    return _next((h + v * GOLDEN) & M64)[1]


def _key(seed: int, epoch: int, tag: int, index: int) -> int:
    h = _mix(seed ^ 0xD1B54A32D192ED03, epoch & M64)
    return _mix(_mix(h, tag), index & 0xFFFFFFFF)


def _scale(draw32: int, n: int) -> int:
    return (draw32 * n) >> 32


def ref_stream(seed: int, epoch: int, block: int):
    state = _key(seed, epoch, 2, block)
    while True:
        state, z = _next(state)
        yield z


def ref_layout(indptr, indices, n_cols, n_blocks, seed, epoch):
    """block_ptr, rows, cols, item_ptr, items, weighted_ptr, weighted as cmf.h defines them (stable grouping)."""
    n_rows = len(indptr) - 1
    user_block = np.array([_scale(_key(seed, epoch, 0, u) >> 32, n_blocks) for u in range(n_rows)], dtype=np.int64)
    item_block = np.array([_scale(_key(seed, epoch, 1, i) >> 32, n_blocks) for i in range(n_cols)], dtype=np.int64)
    items = np.argsort(item_block, kind="stable").astype(np.int32)
    item_ptr = np.concatenate([[0], np.cumsum(np.bincount(item_block, minlength=n_blocks))])
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(indptr))
    block = user_block[rows] * n_blocks + item_block[indices]
    order = np.argsort(block, kind="stable")
    block_ptr = np.concatenate([[0], np.cumsum(np.bincount(block, minlength=n_blocks * n_blocks))])
    weighted = indices[np.argsort(item_block[indices], kind="stable")].astype(np.int32)
    weighted_ptr = np.concatenate([[0], np.cumsum(np.bincount(item_block[indices], minlength=n_blocks))])
    return block_ptr, rows[order], indices[order].astype(np.int32), item_ptr, items, weighted_ptr, weighted


def ref_step(P, Q, c, u, i, j, lr, reg, reg_b):
    """One BPR step in float64, every right-hand side from the old values; returns x."""
    pu, qi, qj = P[u].copy(), Q[i].copy(), Q[j].copy()
    x = pu @ (qi - qj) + (c[i] - c[j] if c is not None else 0.0)
    g = 1.0 / (1.0 + np.exp(x))
    P[u] = pu + lr * (g * (qi - qj) - reg * pu)
    Q[i] = qi + lr * (g * pu - reg * qi)
    Q[j] = qj + lr * (-g * pu - reg * qj)
    if c is not None:
        ci, cj = c[i], c[j]
        c[i] = ci + lr * (g - reg_b * ci)
        c[j] = cj + lr * (-g - reg_b * cj)
    return x


def ref_blocks(P, Q, c, indptr, indices, layout, seed, epoch, blocks, *, lr, reg, reg_b, reject=True, tries=10,
               popularity=False):
    """The samples of ``blocks`` as cmf.h describes them; returns (loss, n_samples, n_correct, n_skipped)."""
    block_ptr, rows, cols, item_ptr, items, weighted_ptr, weighted = layout
    if popularity:  # negatives drawn among the items of the positives
        item_ptr, items = weighted_ptr, weighted
    n_blocks = len(item_ptr) - 1
    loss, n_samples, n_correct, n_skipped = 0.0, 0, 0, 0
    for block in blocks:
        start, n = block_ptr[block], block_ptr[block + 1] - block_ptr[block]
        first, m = item_ptr[block % n_blocks], item_ptr[block % n_blocks + 1] - item_ptr[block % n_blocks]
        draws = ref_stream(seed, epoch, int(block))
        for _ in range(n):
            r = next(draws)
            e = start + _scale(r >> 32, n)
            u, i = int(rows[e]), int(cols[e])
            liked = set(indices[indptr[u]:indptr[u + 1]].tolist())
            j = -1
            for attempt in range(tries):
                if attempt > 0:
                    r = next(draws)
                candidate = int(items[first + _scale(r & 0xFFFFFFFF, m)])
                if candidate == i or (reject and candidate in liked):
                    continue
                j = candidate
                break
            if j < 0:
                n_skipped += 1
                continue
            x = ref_step(P, Q, c, u, i, j, lr, reg, reg_b)
            n_samples += 1
            n_correct += x > 0
            loss += np.log1p(np.exp(-x))
    return loss, n_samples, n_correct, n_skipped


def csr(n_rows, n_cols, density, seed):
    """Random positives by user, sorted, with some empty users."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_rows, n_cols)) < density
    dense[0] = False
    indptr = np.concatenate([[0], np.cumsum(dense.sum(axis=1))]).astype(np.int64)
    return indptr, np.nonzero(dense)[1].astype(np.int32)


def factors(n_rows, n_cols, k, dtype, seed=3):
    rng = np.random.default_rng(seed)
    return ((0.3 * rng.standard_normal((n_rows, k))).astype(dtype),
            (0.3 * rng.standard_normal((n_cols, k))).astype(dtype),
            (0.1 * rng.standard_normal(n_cols)).astype(dtype))


def strata(n_blocks):
    """The stratified schedule: stratum s runs blocks (R, (R + s) mod B)."""
    return [np.array([r * n_blocks + (r + s) % n_blocks for r in range(n_blocks)], dtype=np.int32)
            for s in range(n_blocks)]


def kernel_epoch(P, Q, c, data, params, seed, epoch, n_threads=1):
    """Lay out and run one epoch; a stratum's blocks are shared by ``n_threads`` threads, the stats summed in order."""
    data.layout(seed, epoch)
    model = _kernels.Model(P, Q, np.zeros(P.shape[0], P.dtype), c) if c is not None else _kernels.Model(P, Q)
    totals = np.zeros(4)
    with ThreadPoolExecutor(n_threads) as pool:
        for blocks in strata(data.n_blocks):
            for got in pool.map(lambda block: data.run(params, model, seed, epoch, blocks[block:block + 1]),
                                range(len(blocks))):
                totals += got
    return totals


def test_draws_follow_the_documented_generator():
    for seed, epoch, block in ((0, 0, 0), (2**63 + 5, 7, 3), (123, -1, 46339)):
        want = ref_stream(seed, epoch, block)
        assert _kernels.bpr_draws(seed, epoch, block, 5).tolist() == [next(want) for _ in range(5)]


@pytest.mark.parametrize("n_blocks", [1, 3])
def test_layout_matches_reference(n_blocks):
    indptr, indices = csr(23, 17, 0.3, seed=1)
    data = _kernels.Interactions(indptr, indices, 17, n_blocks, weighted=True)
    data.layout(99, 4)
    got = (data.block_ptr, data.rows, data.cols, data.item_ptr, data.items, data.weighted_ptr, data.weighted)
    for got, want in zip(got, ref_layout(indptr, indices, 17, n_blocks, 99, 4), strict=True):
        np.testing.assert_array_equal(got, want)


def test_step_on_2x3_example_matches_formula_and_gradient():
    """User 0 likes items 0 and 1 of 3, so every negative is item 2; two samples."""
    P = np.array([[0.1, -0.2], [0.3, 0.4]])
    Q = np.array([[0.5, 0.1], [-0.3, 0.2], [0.2, -0.4]])
    c = np.array([0.05, -0.1, 0.2])
    indptr, indices = np.array([0, 2, 2], np.int64), np.array([0, 1], np.int32)
    lr, reg, reg_b = 0.1, 0.01, 0.02
    data = _kernels.Interactions(indptr, indices, 3, 1)
    data.layout(5, 0)
    rP, rQ, rc = P.copy(), Q.copy(), c.copy()
    # The positives the C sampler draws (a draw whose negative is not item 2
    # is followed by another), then the step written out by hand.
    draws = iter(_kernels.bpr_draws(5, 0, 0, 60).tolist())
    for _ in range(2):
        r = next(draws)
        i = int(data.cols[_scale(r >> 32, 2)])
        while data.items[_scale(r & 0xFFFFFFFF, 3)] != 2:
            r = next(draws)
        pu, qi, qj = rP[0].copy(), rQ[i].copy(), rQ[2].copy()
        x = pu @ (qi - qj) + rc[i] - rc[2]
        # g is d ln sigmoid(x) / dx; the factor gradient checked by central differences.
        g = 1.0 / (1.0 + np.exp(x))
        h = 1e-6
        numeric = [(np.log(1 / (1 + np.exp(-(pu + h * e) @ (qi - qj) - rc[i] + rc[2])))
                    - np.log(1 / (1 + np.exp(-(pu - h * e) @ (qi - qj) - rc[i] + rc[2])))) / (2 * h)
                   for e in np.eye(2)]
        np.testing.assert_allclose(g * (qi - qj), numeric, rtol=0, atol=1e-9)
        rP[0] = pu + lr * (g * (qi - qj) - reg * pu)
        rQ[i] = qi + lr * (g * pu - reg * qi)
        rQ[2] = qj + lr * (-g * pu - reg * qj)
        rc[i], rc[2] = rc[i] + lr * (g - reg_b * rc[i]), rc[2] + lr * (-g - reg_b * rc[2])
    params = _kernels.BprParams(learning_rate=lr, regularization=reg, bias_regularization=reg_b)
    loss, n, correct, skipped = data.run(params, _kernels.Model(P, Q, np.zeros(2), c), 5, 0,
                                         np.array([0], np.int32))
    assert (n, skipped) == (2, 0)
    np.testing.assert_allclose(P, rP, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Q, rQ, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c, rc, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(P[1], [0.3, 0.4])  # a user without samples is untouched


@pytest.mark.parametrize("biased, reject, n_blocks, negatives", [
    (True, True, 1, "uniform"), (True, True, 3, "uniform"), (False, False, 2, "uniform"),
    (True, True, 3, "popularity"), (True, False, 1, "popularity")])
def test_epoch_matches_numpy_transcription(biased, reject, n_blocks, negatives):
    indptr, indices = csr(30, 20, 0.25, seed=2)
    P, Q, c = factors(30, 20, 5, np.float64)
    c = c if biased else None
    hyper = dict(lr=0.05, reg=0.01, reg_b=0.02)
    params = _kernels.BprParams(learning_rate=0.05, regularization=0.01, bias_regularization=0.02,
                                update_biases=biased, reject_positives=reject, max_tries=3, compute_loss=True,
                                negatives=negatives)
    data = _kernels.Interactions(indptr, indices, 20, n_blocks, weighted=negatives == "popularity")
    rP, rQ = P.copy(), Q.copy()
    rc = None if c is None else c.copy()
    for epoch in range(2):
        got = kernel_epoch(P, Q, c, data, params, 11, epoch)
        layout = ref_layout(indptr, indices, 20, n_blocks, 11, epoch)
        want = np.zeros(4)
        for blocks in strata(n_blocks):
            want += ref_blocks(rP, rQ, rc, indptr, indices, layout, 11, epoch, blocks, reject=reject, tries=3,
                               popularity=negatives == "popularity", **hyper)
        np.testing.assert_array_equal(got[1:], want[1:])
        assert got[0] == pytest.approx(want[0], rel=1e-12)
    assert want[1] > 0
    np.testing.assert_allclose(P, rP, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Q, rQ, rtol=0, atol=1e-12)
    if biased:
        np.testing.assert_allclose(c, rc, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_give_the_same_bits(dtype):
    indptr, indices = csr(60, 40, 0.2, seed=4)
    params = _kernels.BprParams(learning_rate=0.05, regularization=0.01, bias_regularization=0.01)
    runs = []
    for n_threads in (1, 2):
        P, Q, c = factors(60, 40, 8, dtype)
        data = _kernels.Interactions(indptr, indices, 40, 4)
        stats = [kernel_epoch(P, Q, c, data, params, 7, epoch, n_threads) for epoch in range(3)]
        runs.append((P, Q, c, stats))
    for a, b in zip(runs[0][:3], runs[1][:3]):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(runs[0][3], runs[1][3])


def test_bad_input_is_refused():
    indptr = np.array([0, 2, 3], np.int64)
    with pytest.raises(IndexError):  # items of a user not increasing
        _kernels.Interactions(indptr, np.array([1, 0, 2], np.int32), 3, 1).layout(0, 0)
    with pytest.raises(IndexError):  # an item outside the catalogue
        _kernels.Interactions(indptr, np.array([0, 1, 3], np.int32), 3, 1).layout(0, 0)
    with pytest.raises(ValueError, match="indptr"):
        _kernels.Interactions(np.array([0, 2, 4], np.int64), np.array([0, 1, 2], np.int32), 3, 1)
    with pytest.raises(ValueError, match="n_blocks"):
        _kernels.Interactions(indptr, np.array([0, 1, 2], np.int32), 3, 0)
    for bad in (dict(learning_rate=0.0, regularization=0.0), dict(learning_rate=0.1, regularization=-1.0),
                dict(learning_rate=0.1, regularization=0.0, max_tries=0)):
        with pytest.raises(ValueError, match="invalid parameter"):
            _kernels.BprParams(**bad)
    data = _kernels.Interactions(indptr, np.array([0, 1, 2], np.int32), 3, 1)
    data.layout(0, 0)
    params = _kernels.BprParams(learning_rate=0.1, regularization=0.0, update_biases=False)
    P, Q, _ = factors(2, 3, 2, np.float64)
    with pytest.raises(IndexError):  # a block outside the 1 x 1 grid
        data.run(params, _kernels.Model(P, Q), 0, 0, np.array([1], np.int32))
    with pytest.raises(ValueError, match="invalid parameter"):  # a model of another shape
        data.run(params, _kernels.Model(P[:1].copy(), Q), 0, 0, np.array([0], np.int32))
    with pytest.raises(ValueError, match="col_bias"):
        data.run(_kernels.BprParams(learning_rate=0.1, regularization=0.0), _kernels.Model(P, Q), 0, 0,
                 np.array([0], np.int32))
    with pytest.raises(ValueError, match="negatives must be"):
        _kernels.BprParams(learning_rate=0.1, regularization=0.0, negatives="popular")
    popular = _kernels.BprParams(learning_rate=0.1, regularization=0.0, update_biases=False, negatives="popularity")
    with pytest.raises(ValueError, match="missing"):  # a layout made without the weighted items
        data.run(popular, _kernels.Model(P, Q), 0, 0, np.array([0], np.int32))
    with pytest.raises(DivergenceError):
        data.run(params, _kernels.Model(np.full_like(P, np.inf), Q), 0, 0, np.array([0], np.int32))
