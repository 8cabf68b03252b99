"""The block grid: a function of the data and the parameters, not of the machine."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import cmf
from cmf._train import blocks as _blocks
from cmf._train.config import training_config
from cmf._train.epochs import training_grid

IMPORTED = os.path.dirname(os.path.dirname(os.path.abspath(cmf.__file__)))

# A fit in a fresh interpreter whose os.cpu_count() and reported L2 size are
# set before cmf is imported (a module may read them at import); it prints
# the fitted factors' bytes as hex.
MACHINE_FIT = textwrap.dedent("""
    import os, sys, warnings
    os.cpu_count = lambda: int(sys.argv[1])
    import numpy as np
    import cmf
    from cmf._train import blocks
    blocks.l2_cache_bytes = lambda: int(sys.argv[2])
    rng = np.random.default_rng(0)
    rows, cols = np.divmod(rng.choice(3000 * 2000, size=150_000, replace=False), 2000)
    values = rng.normal(3.5, 1.0, size=rows.size)
    model = cmf.MatrixFactorization(n_factors=16, max_epochs=2, tol=0, n_threads=1, random_state=0,
                                    blocking=sys.argv[3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_triplets(rows, cols, values, shape=(3000, 2000))
    print(model.user_factors_.tobytes().hex()[:4000], model.item_factors_.sum())
""")


def fit_on_machine(n_cpus: int, l2_bytes: int, cwd: str, blocking: str = "auto") -> str:
    # The cmf these tests import (installed, or an in-place build), from a
    # directory where no source tree shadows it.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (IMPORTED, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", MACHINE_FIT, str(n_cpus), str(l2_bytes), blocking],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_seed_gives_the_same_bits_whatever_the_cpu_count_and_cache_size(tmp_path):
    # Before: the tile limit came from os.cpu_count() and the block side
    # from the L2 size, so 2, 4 and 8 CPUs (or another L2) gave other bits.
    machines = ((2, 1 << 20), (4, 512 << 10), (8, 2 << 20), (64, 32 << 20))
    results = {fit_on_machine(n, l2, str(tmp_path)) for n, l2 in machines}
    assert len(results) == 1


def test_blocking_machine_sizes_the_grid_for_this_machine(monkeypatch):
    config = training_config({**cmf.MatrixFactorization(n_factors=64, blocking="machine").get_params()})
    assert config.blocked and config.machine_grid
    default = training_config(cmf.MatrixFactorization(n_factors=64).get_params())
    assert default.blocked and not default.machine_grid
    shape, n = (200_000, 50_000), 10_000_000
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    monkeypatch.setattr(_blocks, "l2_cache_bytes", lambda: 256 << 10)
    tuned = training_grid(shape, n, config)
    fixed = training_grid(shape, n, default)
    # Hand-computed: 256 KiB / 2 / (2 * 64 * 4) = 256 rows per block and
    # 32 CPUs -> 16 tiles; the default budget of 1 MiB gives 1024 and
    # MAX_TILES = 4 tiles, whatever the machine.
    assert (tuned.row_block_size, tuned.n_tiles) == (256, 16)
    assert (fixed.row_block_size, fixed.n_tiles) == (1024, 4)
    assert fixed == _blocks.choose_grid(*shape, 64, 4, n_entries=n)


def test_machine_blocking_needs_shuffle_and_other_values_are_refused():
    rows, cols, values = np.array([0, 1]), np.array([1, 0]), np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="blocking='machine' needs shuffle=True"):
        cmf.MatrixFactorization(blocking="machine", shuffle=False).fit_triplets(rows, cols, values, shape=(2, 2))
    with pytest.raises(ValueError, match="'auto', 'machine', True or False"):
        cmf.MatrixFactorization(blocking="fast").fit_triplets(rows, cols, values, shape=(2, 2))


def test_no_grid_block_of_distinct_pairs_can_outgrow_the_c_block_order():
    # k = 1 in float32 asks for 1 MiB / 2 / 8 = 65,536 rows per block, whose
    # 65,536**2 pairs would overflow the int32 order of cmf_block_order.
    grid = _blocks.choose_grid(10**6, 10**6, 1, 4)
    assert grid.row_block_size == grid.col_block_size == 46340
    assert grid.row_block_size * grid.col_block_size <= 2**31 - 1


def test_a_block_too_full_for_the_c_order_is_refused_with_the_remedy(monkeypatch):
    # A block past 2**31 - 1 entries needs billions of repeats of few pairs;
    # a lower limit shows the same path on small data. Before, C refused it
    # with the generic "n_factors < 1, negative sizes..." message.
    monkeypatch.setattr(_blocks, "MAX_BLOCK_ENTRIES", 50)
    rows = np.zeros(60, dtype=np.int64)
    cols = np.arange(60) % 3
    model = cmf.MatrixFactorization(n_factors=2, max_epochs=2, duplicates="keep", random_state=0)
    with pytest.raises(ValueError, match=r"holds 60 ratings, more than the 50 .*duplicates='mean'.*blocking=False"):
        model.fit_triplets(rows, cols, np.ones(60), shape=(1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.set_params(blocking=False).fit_triplets(rows, cols, np.ones(60), shape=(1, 3))
    assert model.shape_ == (1, 3) and model.n_epochs_ >= 1
