"""The penalty of the objective in C (``Model.penalty``, ``cmf_penalty_*``) against NumPy in float64."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from cmf import _kernels
from cmf._train.config import TrainingConfig
from cmf._train.loop import penalty, penalty_model
from cmf._train.state import FactorState, pad_factors


TOLERANCE = {np.float32: 1e-5, np.float64: 1e-13}


def sse_baseline_numpy() -> bool:
    """Whether NumPy's einsum here adds as the C penalty does: x86-64 built for a baseline without FMA."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        baseline = np.show_config(mode="dicts")["SIMD Extensions"]["baseline"]
    except Exception:  # an older NumPy's config: unknown
        return False
    return not any(name in ("FMA3", "AVX2", "X86_V3", "X86_V4") or name.startswith("AVX512") for name in baseline)


def numpy_penalty(P, Q, b, c, w, v, reg, reg_b):
    """The same sum, every term in float64, by NumPy (an independent transcription)."""
    P, Q, w, v = P.astype(np.float64), Q.astype(np.float64), np.asarray(w, np.float64), np.asarray(v, np.float64)
    total = reg * (np.sum(w * np.sum(P * P, axis=1)) + np.sum(v * np.sum(Q * Q, axis=1)))
    if b is not None:
        b, c = b.astype(np.float64), c.astype(np.float64)
        total += reg_b * (np.sum(w * b * b) + np.sum(v * c * c))
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 7, 8, 9, 100, 112])
@pytest.mark.parametrize("biased", [True, False])
def test_penalty_matches_numpy(dtype, k, biased):
    rng = np.random.default_rng(k)
    P = rng.standard_normal((13, k)).astype(dtype)
    Q = rng.standard_normal((21, k)).astype(dtype)
    b = rng.standard_normal(13).astype(dtype) if biased else None
    c = rng.standard_normal(21).astype(dtype) if biased else None
    w = rng.integers(0, 9, 13).astype(np.float64)
    v = rng.integers(0, 9, 21).astype(np.float64)
    got = _kernels.Model(P, Q, b, c).penalty(w, v, 0.03, 0.7)
    # Each row's squares are summed in the factors' precision (see cmf.h).
    assert got == pytest.approx(numpy_penalty(P, Q, b, c, w, v, 0.03, 0.7), rel=TOLERANCE[dtype])


def test_penalty_of_hand_computed_case():
    # P rows (1, 2), (3, 4) weighted 2 and 1; Q row (0.5, 0.25) weighted 4:
    # 0.5 * (2 * 5 + 25 + 4 * 0.3125) + 2 * (2 * 0.01 + 0.04 + 4 * 0.09).
    P, Q = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, 0.25]])
    b, c = np.array([0.1, 0.2]), np.array([-0.3])
    model = _kernels.Model(P, Q, b, c)
    assert model.penalty(np.array([2.0, 1.0]), np.array([4.0]), 0.5, 2.0) == pytest.approx(18.125 + 0.84, rel=1e-15)
    assert model.penalty(np.array([2.0, 1.0]), np.array([4.0]), 0.5, 0.0) == 18.125


def test_penalty_reports_non_finite_parameters_as_its_value():
    P = np.array([[np.inf, 0.0]], dtype=np.float32)
    Q = np.array([[1.0, 0.0]], dtype=np.float32)
    assert np.isinf(_kernels.Model(P, Q).penalty(np.ones(1), np.ones(1), 0.1, 0.0))
    P[0, 0] = np.nan
    assert np.isnan(_kernels.Model(P, Q).penalty(np.ones(1), np.ones(1), 0.1, 0.0))
    # A row's squares are summed in float32, as they were in NumPy: they overflow there.
    P[0, 0] = 3e38
    assert np.isinf(_kernels.Model(P, Q).penalty(np.ones(1), np.ones(1), 1.0, 0.0))


def test_penalty_rejects_bad_arguments():
    model = _kernels.Model(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="row_weights and col_weights must have 2 and 4"):
        model.penalty(np.ones(3), np.ones(4), 0.1, 0.1)
    with pytest.raises(ValueError):
        model.penalty(np.ones(2), np.ones(4), -0.1, 0.1)
    with pytest.raises(ValueError):
        model.penalty(np.ones(2), np.ones(4), 0.1, np.nan)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_loops_penalty_on_padded_factors_is_that_of_the_unpadded_ones(dtype):
    rng = np.random.default_rng(3)
    state = FactorState(rng.standard_normal((5, 10)).astype(dtype), rng.standard_normal((6, 10)).astype(dtype),
                        rng.standard_normal(5).astype(dtype), rng.standard_normal(6).astype(dtype), 3.0)
    padded = pad_factors(state, copy=True)
    assert padded.P.shape[1] > 10
    counts_r, counts_c = rng.integers(1, 5, 5).astype(np.float64), rng.integers(1, 5, 6).astype(np.float64)
    for biased in (True, False):
        config = TrainingConfig(n_factors=10, learning_rate=0.01, regularization=0.05, bias_regularization=0.2,
                                max_epochs=1, tol=0.0, n_iter_no_change=1, init_std=0.1, biased=biased,
                                shuffle=False, patience=None, dtype=np.dtype(dtype))
        expected = numpy_penalty(state.P, state.Q, state.b if biased else None, state.c, counts_r, counts_c,
                                 0.05, 0.2)
        assert penalty(padded, counts_r, counts_c, config) == pytest.approx(expected, rel=TOLERANCE[dtype])
        view = penalty_model(padded, config)
        assert penalty(padded, counts_r, counts_c, config, view) == penalty(padded, counts_r, counts_c, config)


def einsum_penalty(P, Q, b, c, w, v, reg, reg_b):
    """The penalty as the training loop summed it in NumPy before it moved to C."""
    total = reg * (np.einsum("i,i->", w, np.einsum("ij,ij->i", P, P), dtype=np.float64)
                   + np.einsum("i,i->", v, np.einsum("ij,ij->i", Q, Q), dtype=np.float64))
    if b is not None:
        total += reg_b * (np.einsum("i,i,i->", w, b, b, dtype=np.float64)
                          + np.einsum("i,i,i->", v, c, c, dtype=np.float64))
    return float(total)


@pytest.mark.skipif(not sse_baseline_numpy(), reason="NumPy's einsum adds in another order on this build")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (5, 17), (943, 112), (9000, 16), (20000, 5)])
def test_penalty_keeps_the_bits_of_the_numpy_sum(dtype, shape):
    # The losses, hence the bold driver's decisions, kept their bits when
    # the sum moved to C: the same additions in the same order (cmf.h).
    # 9000 and 20000 rows cross NumPy's 8192-entry buffers.
    rng = np.random.default_rng(shape[0])
    m, k = shape
    scale = 10.0 ** rng.uniform(-2, 2, (m, 1))
    P, Q = (rng.standard_normal((m, k)) * scale).astype(dtype), (rng.standard_normal((m, k)) * scale).astype(dtype)
    b, c = rng.standard_normal(m).astype(dtype), rng.standard_normal(m).astype(dtype)
    w, v = rng.integers(0, 30, m).astype(np.float64), rng.integers(0, 30, m).astype(np.float64)
    for biases in ((b, c), (None, None)):
        got = _kernels.Model(P, Q, *biases).penalty(w, v, 0.02, 0.05)
        assert got == einsum_penalty(P, Q, *biases, w, v, 0.02, 0.05)
