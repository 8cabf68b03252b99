"""The helpers of benchmarks/time_to_accuracy.py and benchmarks/w3.py, on tiny data (no timing asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if not (BENCHMARKS / "time_to_accuracy.py").is_file():
    # An sdist or a wheel's tests carry no benchmarks/ folder.
    pytest.skip(f"the benchmark scripts are not in {BENCHMARKS} (tests run from a source tree have them)",
                allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))

import time_to_accuracy as tta  # noqa: E402
import w3  # noqa: E402
import workloads  # noqa: E402

LIBMF = os.environ.get("CMF_LIBMF", "/tmp/libmf")

# The per-iteration table mf-train prints with -p (LIBMF 2.x), shortened.
LIBMF_OUTPUT = """iter      tr_rmse      va_rmse          obj
   0       1.0459       0.9861   1.1063e+05
   1       0.9223       0.9701   9.4130e+04
   2       0.8991       0.9650   9.0101e+04
"""


def test_target_epoch_is_the_first_at_or_below_the_target():
    assert tta.target_epoch([1.0, 0.95, 0.91, 0.90, 0.92], 0.915) == (3, True)
    assert tta.target_epoch([0.915], 0.915) == (1, True)


def test_target_epoch_is_the_best_when_the_target_is_never_reached():
    assert tta.target_epoch([1.0, 0.95, 0.93, 0.94], 0.915) == (3, False)
    with pytest.raises(ValueError):
        tta.target_epoch([], 0.9)


def test_holdout_is_a_seeded_disjoint_split_of_the_requested_size():
    train, test = tta.holdout(1000, 0.01, seed=0)
    assert len(test) == 10 and len(train) == 990
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1000))
    again_train, again_test = tta.holdout(1000, 0.01, seed=0)
    assert np.array_equal(test, again_test) and np.array_equal(train, again_train)
    assert not np.array_equal(test, tta.holdout(1000, 0.01, seed=1)[1])


def test_parse_libmf_curve_reads_the_va_rmse_column():
    assert tta.parse_libmf_curve(LIBMF_OUTPUT) == [0.9861, 0.9701, 0.9650]
    assert tta.parse_libmf_curve("") == []


def test_rmse_clips_only_when_asked():
    pred, truth = np.array([0.0, 6.0]), np.array([1.0, 5.0])
    assert tta.rmse(pred, truth) == pytest.approx(1.0)
    assert tta.rmse(pred, truth, (1.0, 5.0)) == 0.0


def _tiny_workload() -> workloads.Workload:
    rng = np.random.default_rng(0)
    n_rows, n_cols, rank = 60, 40, 2
    P, Q = rng.normal(size=(n_rows, rank)), rng.normal(size=(n_cols, rank))
    rows, cols = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(n_rows), np.arange(n_cols),
                                                                   indexing="ij"))
    values = (3.0 + np.einsum("ij,ij->i", P[rows], Q[cols]) + rng.normal(0, 0.1, len(rows))).astype(np.float32)
    train, test = tta.holdout(len(values), 0.2, seed=0)
    return workloads.Workload("tiny", (rows[train], cols[train], values[train]),
                              (rows[test], cols[test], values[test]), (n_rows, n_cols), 2, 10, 0.01, 0.0, None)


def test_cmf_run_times_a_refit_that_is_the_model_of_the_curve():
    w = _tiny_workload()
    # A target the defaults reach within their first epochs on this easy set.
    loose = float(np.std(w.test[2]))
    result = tta.cmf_run(w, loose, threads=1, repeats=2)
    assert result.reached and 1 <= result.epochs <= len(result.curve)
    assert result.curve[result.epochs - 1] <= loose
    assert all(v > loose for v in result.curve[:result.epochs - 1])
    assert len(result.runs) == 2 and result.seconds > 0
    # The timed fit, stopped at that epoch without validation, is the curve's model.
    assert result.rmse == pytest.approx(result.curve[result.epochs - 1], abs=1e-5)
    assert "differs" not in result.note


def test_w3_generator_draws_distinct_cells_of_w2s_model_in_random_order():
    n_rows, n_cols, n = 400, 300, 20_000
    rows, cols, values = w3.generate(n_rows, n_cols, n, bands=7)
    assert rows.dtype == cols.dtype == np.int32 and values.dtype == np.float32
    assert len(rows) == len(cols) == len(values) == n
    assert rows.min() >= 0 and rows.max() < n_rows and cols.min() >= 0 and cols.max() < n_cols
    codes = rows.astype(np.int64) * n_cols + cols
    assert len(np.unique(codes)) == n
    # Random order, not sorted by the bands the cells were drawn in.
    assert not np.all(np.diff(rows) >= 0)
    assert abs(np.corrcoef(np.arange(n), rows)[0, 1]) < 0.05
    # Rows uniform (each band its multinomial share), items skewed by popularity.
    per_row = np.bincount(rows, minlength=n_rows)
    assert per_row.mean() == n / n_rows and per_row.min() > 0
    per_col = np.sort(np.bincount(cols, minlength=n_cols))[::-1]
    assert per_col[:30].sum() > 3 * per_col[-30:].sum()
    # value = 3.5 + biases + a rank-16 product of N(0, 0.447) factors + noise:
    # mean 3.5, variance 2 * 0.09 + 16 * 0.2^2 + 0.25 = 1.07.
    assert values.mean() == pytest.approx(3.5, abs=0.05)
    assert values.var() == pytest.approx(1.07, rel=0.15)
    again = w3.generate(n_rows, n_cols, n, bands=7)
    assert all(np.array_equal(a, b) for a, b in zip((rows, cols, values), again))


def test_w3_generator_refuses_a_matrix_too_dense_to_draw():
    with pytest.raises(ValueError, match="half"):
        w3.generate(10, 10, 60)


def test_w3_rss_sampler_keeps_the_peak_since_its_mark():
    sampler = w3.RssSampler(interval=0.001)
    try:
        sampler.mark()
        block = np.ones(64 << 20, dtype=np.uint8)  # 64 MB touched
        time.sleep(0.2)  # the sampler thread runs while this one sleeps
        del block
        assert sampler.peak >= w3.rss_mb() + 32
    finally:
        sampler.close()


@pytest.mark.skipif(not os.path.exists(os.path.join(LIBMF, "mf.o")), reason=f"LIBMF not built at {LIBMF}")
def test_libmf_timer_prints_a_curve_and_a_timed_fit(tmp_path):
    exe = tta.build_libmf_timer(LIBMF)
    w = _tiny_workload()
    result = tta.libmf_run(w, 0.0, threads=1, repeats=1, exe=exe, tmp=str(tmp_path), k=4)
    assert len(result.curve) == 20 and not result.reached
    assert result.epochs == int(np.argmin(result.curve)) + 1
    assert result.seconds > 0 and np.isfinite(result.rmse)
    out = subprocess.run([exe, "curve"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage" in out.stderr
