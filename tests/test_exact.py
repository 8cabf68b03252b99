"""The exact, order-independent sums, mean and spread (cmf._train.exact, cmf._train.stats) against Fractions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cmf._input import Triplets
from cmf._train.exact import (exact_mean, exact_sum, exact_sums, mean_of_sum, mean_square_deviation, merge_sums)
from cmf._train.stats import data_scale, index_counts, measure


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


def _fraction(total: tuple[int, int]) -> Fraction:
    return Fraction(total[0]) * Fraction(2) ** total[1]


def _reference_sums(values: np.ndarray) -> tuple[Fraction, Fraction]:
    exact = list(map(Fraction, values.astype(np.float64).tolist()))
    return sum(exact), sum(x * x for x in exact)


def _mixed(rng: np.random.Generator, n: int, dtype) -> np.ndarray:
    """Mixed signs and magnitudes: chunks that a double sum would round."""
    return (rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["mixed", "ratings", "uniform", "wide", "halves"])
@pytest.mark.parametrize("n", [1, 255, 256, 257, 5_000])
def test_sums_and_squares_are_exact(dtype, kind, n):
    """Both sums against Fractions, on values that take the fast path (ratings) and the slow one."""
    rng = np.random.default_rng(n)
    values = {"mixed": lambda: _mixed(rng, n, dtype),
              "ratings": lambda: rng.integers(1, 6, n).astype(dtype),
              "uniform": lambda: rng.random(n).astype(dtype),
              # Whole numbers to 2**22: the widest a float32 chunk summed in double takes.
              "wide": lambda: rng.integers(-(2**22) + 1, 2**22, n).astype(dtype),
              "halves": lambda: (rng.integers(-10, 11, n) * 0.5 + 2.0**-30 * (np.arange(n) == n // 2)).astype(dtype)}[kind]()
    total, squares = exact_sums(values)
    assert (_fraction(total), _fraction(squares)) == _reference_sums(values)
    assert exact_sum(values) == total


def test_sums_of_cancelling_values():
    values = np.array([2.0**60, 1.0, -(2.0**60), 0.5] * 300)
    total, squares = exact_sums(values)
    assert _fraction(total) == Fraction(3, 2) * 300
    assert _fraction(squares) == (2 * Fraction(2) ** 120 + Fraction(5, 4)) * 300
    # (1 + 2**-40)**2 needs 81 bits: a double's square would drop 2**-80.
    _, squares = exact_sums(np.array([1 + 2.0**-40]))
    assert _fraction(squares) == (1 + Fraction(1, 2**40)) ** 2


def test_sums_refuse_what_they_cannot_take():
    assert exact_sums(np.array([1.0, np.nan])) is None
    assert exact_sums(np.array([1.0, np.inf], dtype=np.float32)) is None
    assert exact_sums(np.array([1e301, 1.0])) is None  # the square would overflow
    assert _fraction(exact_sum(np.array([1e301, 1.0]))) == Fraction(1e301) + 1
    with pytest.raises(ValueError, match="finite"):
        exact_sum(np.array([np.nan]))
    assert exact_sums(np.array([], dtype=np.float32)) == ((0, 0), (0, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_square_deviation_is_the_correctly_rounded_spread(dtype):
    rng = np.random.default_rng(5)
    values = (1e6 + rng.standard_normal(20_000) * 1e-3).astype(dtype)  # a large offset, a tiny spread
    centre = exact_mean(values)
    exact = list(map(Fraction, values.astype(np.float64).tolist()))
    reference = float(sum((x - Fraction(centre)) ** 2 for x in exact) / len(exact))
    assert mean_square_deviation(*exact_sums(values), len(values), centre) == reference
    assert data_scale(values, centre) == float(np.sqrt(reference))


def test_scale_of_constant_data_is_zero_and_huge_values_still_have_one():
    assert data_scale(np.full(100, 3.7), 3.7) == 0.0
    huge = np.array([1e305, -1e305, 3e305])
    assert np.isfinite(data_scale(huge, exact_mean(huge)))
    assert data_scale(huge, exact_mean(huge)) == pytest.approx(float(np.sqrt(np.mean((huge / 1e305 - 1) ** 2))) * 1e305)


def test_index_counts_match_bincount():
    rng = np.random.default_rng(3)
    index = np.concatenate([np.repeat(np.arange(50), 7), rng.integers(0, 60, 1000)]).astype(np.int32)
    assert np.array_equal(index_counts(index, 60), np.bincount(index, minlength=60))
    assert index_counts(index.astype(np.int64), 60).dtype == np.int64
    assert np.array_equal(index_counts(np.empty(0, np.int32), 3), np.zeros(3))
    with pytest.raises(IndexError):
        index_counts(np.array([0, 3], dtype=np.int32), 3)


def test_measure_gives_the_same_bits_for_any_order():
    rng = np.random.default_rng(4)
    n = 30_000
    data = Triplets(rng.integers(0, 100, n).astype(np.int32), rng.integers(0, 80, n).astype(np.int32),
                    (rng.integers(1, 11, n) * 0.5 + rng.random(n) * 1e-3).astype(np.float32), (100, 80))
    order = rng.permutation(n)
    shuffled = Triplets(data.rows[order], data.cols[order], data.values[order], data.shape)
    a, b = measure(data, True), measure(shuffled, True)
    assert (a.mean, a.scale) == (b.mean, b.scale)
    assert a.mean == _reference_mean(data.values)
    assert np.array_equal(a.row_counts, np.bincount(data.rows, minlength=100))
    assert np.array_equal(a.col_counts, np.bincount(data.cols, minlength=80))
