"""The training state's factor matrices start on 64-byte boundaries.

NumPy's large arrays start 16 bytes past a page, which splits every 64-byte
vector access of the kernel over two cache lines; cmf._aligned allocates
the training state aligned, and must not change any value.
"""

import numpy as np
import pytest

from cmf import _aligned, _kernels
from cmf._train import state as _training
from cmf._input import Triplets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 5), (1, 1), (3, 7), (1000, 64), (50_000, 16)])
def test_aligned_empty_is_aligned_contiguous_and_of_the_asked_shape(shape, dtype):
    a = _aligned.aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    if a.size:  # an empty array has no data to align
        assert a.ctypes.data % _aligned.ALIGNMENT == 0
    assert _aligned.is_aligned(a)


def test_aligned_copy_keeps_values_and_is_independent():
    rng = np.random.default_rng(3)
    big = rng.standard_normal((100_000, 64), dtype=np.float32)
    view = big[1:]  # 256 bytes further: same alignment as big, whatever it is
    copy = _aligned.aligned_copy(view)
    assert _aligned.is_aligned(copy)
    np.testing.assert_array_equal(copy, view)
    copy[0, 0] += 1
    assert copy[0, 0] != view[0, 0]
    # A transposed (non-contiguous) input comes out contiguous too.
    t = _aligned.aligned_copy(big[:10].T)
    assert _aligned.is_aligned(t)
    np.testing.assert_array_equal(t, big[:10].T)


def test_initial_state_is_aligned_and_has_the_unaligned_draws_values():
    config = _training.TrainingConfig(
        n_factors=24, learning_rate=0.01, regularization=0.1, bias_regularization=0.02, max_epochs=1,
        tol=0.0, n_iter_no_change=1, init_std=0.1, biased=True, shuffle=True, patience=None,
        dtype=np.dtype(np.float32))
    rows = np.array([0, 1, 2, 4], dtype=np.int32)
    cols = np.array([0, 1, 2, 2], dtype=np.int32)
    data = Triplets(rows, cols, np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), (5, 3))
    state = _training.initial_state(data, config, np.random.default_rng(7), scale=1.0)
    assert _aligned.is_aligned(state.P) and _aligned.is_aligned(state.Q)
    # The same streams drawn into plain arrays: P's rows, then Q's, scaled by init_std.
    seed = int(np.random.default_rng(7).integers(0, 1 << 64, dtype=np.uint64))
    P, Q = np.empty((5, 24), np.float32), np.empty((3, 24), np.float32)
    _kernels.normal_rows(seed, 0, 24, 0.1, P)
    _kernels.normal_rows(seed, 5, 24, 0.1, Q)
    P[3] = 0  # row 3 has no entry
    np.testing.assert_array_equal(state.P, P)
    np.testing.assert_array_equal(state.Q, Q)
    copy = state.copy()
    assert _aligned.is_aligned(copy.P) and _aligned.is_aligned(copy.Q)
    np.testing.assert_array_equal(copy.P, state.P)
