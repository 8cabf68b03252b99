"""The measure of progress that tells a stalled fit from a converged one (cmf._train.progress)."""

from __future__ import annotations

import numpy as np
import pytest

from cmf._train import progress
from cmf._train.state import FactorState


def _state(P, Q, b, c):
    return FactorState(np.array(P, dtype=np.float64), np.array(Q, dtype=np.float64), np.array(b, dtype=np.float64),
                       np.array(c, dtype=np.float64), 3.0)


def test_the_change_is_the_largest_relative_one_of_any_parameter():
    old = _state([[0.5, -2.0], [1.0, 0.0]], [[4.0, 0.0]], [0.0, 0.0], [0.0])
    # P: largest change 0.1 against a largest |P| of 2 -> 0.05; Q: 0.2 / 4 = 0.05;
    # b: 0.3 against the data's spread 2 -> 0.15; c unchanged.
    new = _state([[0.5, -2.0], [1.1, 0.0]], [[4.2, 0.0]], [0.0, -0.3], [0.0])
    assert progress.parameter_change(new, old, 2.0) == pytest.approx(0.15, rel=1e-12)
    new = _state([[0.5, -2.0], [1.1, 0.0]], [[4.0, 0.0]], [0.0, 0.0], [0.0])
    assert progress.parameter_change(new, old, 2.0) == pytest.approx(0.05, rel=1e-12)


def test_factors_that_stay_zero_do_not_count_and_zeros_that_move_count_fully():
    old = _state([[0.0]], [[0.0]], [0.0], [0.0])
    assert progress.parameter_change(old, old, 1.0) == 0.0
    assert progress.parameter_change(_state([[1e-30]], [[0.0]], [0.0], [0.0]), old, 1.0) == np.inf
    # Constant data (spread 0): biases that stay put are no change, not 0/0.
    assert progress.parameter_change(old, old, 0.0) == 0.0
    assert progress.parameter_change(_state([[0.0]], [[0.0]], [0.5], [0.0]), old, 0.0) == np.inf


def test_an_epoch_stalls_only_when_parameters_and_loss_stay_below_the_threshold():
    small = progress.STALL_THRESHOLD / 2
    assert progress.epoch_stalled(small, 100.0, None, rmse=1.0, scale=1.0)
    assert progress.epoch_stalled(small, 100.0, 100.0 * (1 + small), rmse=1.0, scale=1.0)
    assert not progress.epoch_stalled(2 * progress.STALL_THRESHOLD, 100.0, None, rmse=1.0, scale=1.0)
    assert not progress.epoch_stalled(small, 100.0, 100.0 * (1 + 2 * progress.STALL_THRESHOLD), rmse=1.0, scale=1.0)
    # Small steps of a model whose error is 1e-3 of the spread are not a stall ...
    assert not progress.epoch_stalled(small, 100.0, None, rmse=1e-3, scale=1.0)
    # ... nor is anything on constant data or with an exact fit.
    assert not progress.epoch_stalled(0.0, 0.0, None, rmse=0.0, scale=1.0)
    assert not progress.epoch_stalled(0.0, 1.0, None, rmse=1.0, scale=0.0)


def test_large_factor_matrices_are_compared_in_pieces(monkeypatch):
    monkeypatch.setattr(progress, "_CHUNK", 3)
    rng = np.random.default_rng(0)
    P = rng.standard_normal((10, 2))
    moved = P.copy()
    moved[7, 1] += 0.25
    old, new = _state(P, [[1.0]], [0.0], [0.0]), _state(moved, [[1.0]], [0.0], [0.0])
    assert progress.parameter_change(new, old, 1.0) == pytest.approx(0.25 / np.max(np.abs(P)), rel=1e-12)
