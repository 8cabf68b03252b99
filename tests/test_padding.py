"""Training runs on factor rows padded with zeros to a multiple of 16.

The padding must change nothing but rounding: it starts at zero, stays
exactly zero through every update, and the fitted model exposes exactly
``n_factors`` columns. Checked against the NumPy reference epoch on the
unpadded factors.
"""

import numpy as np
import pytest

import cmf
from cmf import _aligned, _kernels
from cmf._train import state as _training
from cmf._reference import reference_epoch


@pytest.mark.parametrize("k, width", [(1, 16), (15, 16), (16, 16), (17, 32), (64, 64), (100, 112), (130, 144)])
def test_padded_width_rounds_up_to_the_lanes(k, width):
    assert _aligned.padded_width(k) == width


def test_pad_then_unpad_gives_back_the_same_values_aligned():
    rng = np.random.default_rng(0)
    P = rng.standard_normal((7, 20)).astype(np.float32)
    Q = rng.standard_normal((5, 20)).astype(np.float32)
    state = _training.FactorState(P, Q, np.zeros(7, np.float32), np.zeros(5, np.float32), 1.0)
    padded = _training.pad_factors(state)
    assert padded.P.shape == (7, 32) and padded.Q.shape == (5, 32)
    assert _aligned.is_aligned(padded.P) and _aligned.is_aligned(padded.Q)
    assert not padded.P[:, 20:].any() and not padded.Q[:, 20:].any()
    back = _training.unpad_factors(padded, 20)
    np.testing.assert_array_equal(back.P, P)
    np.testing.assert_array_equal(back.Q, Q)
    assert back.P.flags.c_contiguous and _aligned.is_aligned(back.P)
    # Nothing to pad: the same arrays unless a copy is asked for.
    whole = _training.FactorState(_aligned.aligned_copy(P[:, :16]), _aligned.aligned_copy(Q[:, :16]),
                                  state.b, state.c, 1.0)
    assert _training.pad_factors(whole) is whole
    copied = _training.pad_factors(whole, copy=True)
    assert copied.P is not whole.P
    np.testing.assert_array_equal(copied.P, whole.P)


@pytest.mark.parametrize("k", [5, 20, 37])
def test_a_padded_epoch_equals_the_reference_on_unpadded_factors_and_keeps_the_padding_zero(k):
    rng = np.random.default_rng(k)
    n_rows, n_cols, n = 30, 25, 400
    rows = rng.integers(0, n_rows, n).astype(np.int32)
    cols = rng.integers(0, n_cols, n).astype(np.int32)
    values = rng.uniform(1, 5, n)
    P = rng.normal(0, 0.1, (n_rows, k))
    Q = rng.normal(0, 0.1, (n_cols, k))
    b, c, mu = np.zeros(n_rows), np.zeros(n_cols), 3.0
    order = rng.permutation(n).astype(np.int64)
    state = _training.pad_factors(_training.FactorState(P.copy(), Q.copy(), b.copy(), c.copy(), mu))
    width = state.P.shape[1]
    assert width > k
    for _ in range(3):
        _kernels.Model(state.P, state.Q, state.b, state.c, mu).epoch(
            _kernels.Params(learning_rate=0.05, regularization=0.1, bias_regularization=0.02),
            _kernels.Entries(rows, cols, values), order)
    rP, rQ, rb, rc = P.copy(), Q.copy(), b.copy(), c.copy()
    for _ in range(3):
        reference_epoch(rows, cols, values, rP, rQ, rb, rc, mu,
                       learning_rate=0.05, regularization=0.1, bias_regularization=0.02, order=order)
    assert np.all(state.P[:, k:] == 0) and np.all(state.Q[:, k:] == 0)
    np.testing.assert_allclose(state.P[:, :k], rP, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.Q[:, :k], rQ, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.b, rb, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::cmf.ConvergenceWarning")
def test_a_fit_exposes_exactly_n_factors_columns_and_predicts_from_them():
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 50, 2000), rng.integers(0, 40, 2000)
    values = rng.uniform(1, 5, 2000)
    model = cmf.MatrixFactorization(n_factors=20, max_epochs=5, tol=0.0, random_state=0, n_threads=1)
    model.fit_triplets(rows, cols, values, shape=(50, 40))
    P, Q = model.user_factors_, model.item_factors_
    assert P.shape == (50, 20) and Q.shape == (40, 20)
    assert P.flags.c_contiguous and Q.flags.c_contiguous
    expected = model.global_mean_ + model.user_bias_[rows] + model.item_bias_[cols] + np.einsum(
        "ij,ij->i", P[rows].astype(np.float64), Q[cols].astype(np.float64))
    np.testing.assert_allclose(model.predict(rows, cols), expected, rtol=1e-5)
