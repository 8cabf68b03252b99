"""The exact, order-independent mean (cmf._train.exact) against Python's Fractions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cmf._train.exact import exact_mean, exact_sum, mean_of_sum, merge_sums


def _reference_mean(values: np.ndarray) -> float:
    # float(Fraction) rounds correctly: the reference is the exact mean rounded once.
    return float(sum(map(Fraction, values.astype(np.float64).tolist())) / len(values))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e-30, 1e30])
def test_exact_mean_is_the_correctly_rounded_mean(dtype, scale):
    rng = np.random.default_rng(0)
    # Mixed signs and magnitudes, more values than one internal chunk.
    values = (rng.standard_normal(300_000) * np.exp(rng.uniform(-10, 10, 300_000)) * scale).astype(dtype)
    assert exact_mean(values) == _reference_mean(values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ratings_on_a_grid(dtype):
    """Half-star ratings 0.5 to 5 (the float32 fast path) and their negatives."""
    rng = np.random.default_rng(2)
    values = (rng.integers(1, 11, 400_000) * 0.5 * rng.choice([-1, 1], 400_000)).astype(dtype)
    assert exact_mean(values) == _reference_mean(values)
    values = (rng.integers(1, 6, 400_000) + rng.random(400_000) * 1e-3).astype(dtype)
    assert exact_mean(values) == _reference_mean(values)


def test_cancellation_and_special_cases():
    assert exact_mean(np.array([1e300, 1.0, -1e300])) == 1.0 / 3.0
    assert exact_mean(np.array([0.1, 0.2, 0.3])) == _reference_mean(np.array([0.1, 0.2, 0.3]))
    assert exact_mean(np.array([], dtype=np.float64)) == 0.0
    assert exact_mean(np.zeros(5, dtype=np.float32)) == 0.0
    assert exact_mean(np.array([3, 4, 5])) == 4.0  # integers are converted


def test_same_bits_whatever_the_order_or_split():
    rng = np.random.default_rng(1)
    values = (rng.random(50_000) * 5).astype(np.float32)
    whole = exact_mean(values)
    shuffled = rng.permutation(values)
    assert exact_mean(shuffled) == whole
    parts = np.array_split(shuffled, 7)
    assert mean_of_sum(merge_sums(exact_sum(p) for p in parts), len(values)) == whole
