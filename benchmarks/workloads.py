"""The benchmark workloads of BENCHMARKS.md: W1 (MovieLens 100K split) and W2 (synthetic).

Each loader returns a :class:`Workload`: training and test triplets with
0-based int32 indices and float32 values, the matrix shape and the
hyperparameters every tool is run with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

# MovieLens 100K: $CMF_MOVIELENS, else ../shared/data next to the
# repository (where the project keeps it), else ./data under the repository.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOVIELENS_CANDIDATES = (
    os.path.join(_ROOT, "..", "shared", "data", "ml-100k", "u.data"),
    os.path.join(_ROOT, "data", "ml-100k", "u.data"),
)


@dataclass
class Workload:
    """Training and test entries plus the shared hyperparameters."""

    name: str
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    shape: tuple[int, int]
    n_factors: int
    n_epochs: int
    learning_rate: float
    regularization: float
    clip: tuple[float, float] | None  # clip predictions to the rating scale
    model: Any = None  # the generating model (cmf.datasets.LowRankModel) of synthetic data, when at hand


def movielens_path() -> str:
    """The MovieLens 100K ratings file (CMF_MOVIELENS overrides)."""
    for path in (os.environ.get("CMF_MOVIELENS"), *MOVIELENS_CANDIDATES):
        if path and os.path.exists(path):
            return path
    raise FileNotFoundError("MovieLens 100K u.data not found; set CMF_MOVIELENS to its path")


def w1() -> Workload:
    """MovieLens 100K, the fixed 80/20 split of BENCHMARKS.md, Surprise's SVD defaults."""
    raw = np.loadtxt(movielens_path(), dtype=np.int64)
    rows = (raw[:, 0] - 1).astype(np.int32)
    cols = (raw[:, 1] - 1).astype(np.int32)
    values = raw[:, 2].astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(values))
    train, test = perm[:80000], perm[80000:]
    return Workload("W1", (rows[train], cols[train], values[train]), (rows[test], cols[test], values[test]),
                    (943, 1682), 100, 20, 0.005, 0.02, (1.0, 5.0))


def w2_params(quick: bool) -> dict:
    """Generator arguments: the 10M set, or a 1M set of the same shape ratio for --quick."""
    if quick:
        return dict(n_rows=20_000, n_cols=5_000, n_ratings=1_000_000)
    return {}


def w2(cache: str | None, quick: bool, n_factors: int = 64) -> Workload:
    """The synthetic set (cmf.datasets.make_ratings defaults), from ``cache`` if given.

    The test entries are 100,000 training entries (there is no held-out part
    in the workload's definition): the RMSE says how well each tool fitted.
    """
    if cache is not None:
        with np.load(cache) as f:
            rows, cols, values = f["rows"], f["cols"], f["values"]
            shape = tuple(int(x) for x in f["shape"])
    else:
        from cmf.datasets import make_ratings

        data, model = make_ratings(**w2_params(quick), return_model=True)
        rows, cols, values, shape = data.rows, data.cols, data.values, data.shape
    pick = np.random.default_rng(1).choice(len(values), size=min(100_000, len(values)), replace=False)
    return Workload("W2", (rows, cols, values), (rows[pick], cols[pick], values[pick]), shape, n_factors, 10,
                    0.005, 0.02, None, model if cache is None else None)


def write_w2_cache(path: str, quick: bool) -> None:
    """Generate the synthetic set once and store it for the per-tool processes."""
    from cmf.datasets import make_ratings

    data = make_ratings(**w2_params(quick))
    np.savez(path, rows=data.rows, cols=data.cols, values=data.values, shape=np.array(data.shape))
