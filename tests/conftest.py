"""Shared fixtures: the seed's 4x5 matrix, a low-rank generator, fitted models.

Helper functions are handed out as fixtures (``make_model``, ``fit_quiet``,
``snapshot``, ``assert_same_state``) because the suite runs with
``--import-mode=importlib``, where test modules cannot import this file.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

import cmf
from cmf.datasets import example_matrix

@dataclass
class LowRank:
    """A noisy low-rank matrix with a split into observed and held-out cells."""

    truth: np.ndarray  # noiseless U @ V.T
    noisy: np.ndarray  # truth plus Gaussian noise
    observed: np.ndarray  # boolean, True = given to fit

    @property
    def X(self) -> np.ndarray:
        """The noisy matrix with unobserved cells set to NaN."""
        return np.where(self.observed, self.noisy, np.nan)

    def triplets(self, observed: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observed (or held-out) cells as (rows, cols, values), row-major."""
        cells = self.observed if observed else ~self.observed
        rows, cols = np.nonzero(cells)
        return rows, cols, self.noisy[cells]


def make_low_rank(n_rows: int, n_cols: int, rank: int, fraction: float, noise: float, seed: int) -> LowRank:
    """Random U (n_rows x rank), V (n_cols x rank) with N(0, 1) entries; R = U V^T + noise."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((n_rows, rank)) @ rng.standard_normal((n_cols, rank)).T
    noisy = truth + noise * rng.standard_normal(truth.shape)
    observed = rng.random(truth.shape) < fraction
    return LowRank(truth, noisy, observed)


@pytest.fixture
def seed_matrix() -> np.ndarray:
    """The seed question's full 4x5 matrix (float64)."""
    return example_matrix()


@pytest.fixture(scope="session")
def low_rank_factory():
    """The low-rank generator, for tests that need their own size."""
    return make_low_rank


@pytest.fixture(scope="session")
def small_low_rank() -> LowRank:
    """A 30x20 rank-2 matrix, 60% observed, noise 0.05: quick to fit."""
    return make_low_rank(30, 20, rank=2, fraction=0.6, noise=0.05, seed=7)


def quick_model(**overrides) -> cmf.MatrixFactorization:
    """A float64 model for small problems; a few dozen epochs at most."""
    params = dict(
        n_factors=3, learning_rate=0.02, regularization=0.02, bias_regularization=0.01,
        max_epochs=30, tol=1e-4, n_iter_no_change=3, init_std=0.1, dtype="float64", random_state=0,
    )
    params.update(overrides)
    return cmf.MatrixFactorization(**params)


def fit_quietly(model: cmf.MatrixFactorization, *args, method: str = "fit", **kwargs) -> cmf.MatrixFactorization:
    """Fit, ignoring only the ConvergenceWarning of a deliberately short run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return getattr(model, method)(*args, **kwargs)


@pytest.fixture
def fitted_small(small_low_rank) -> cmf.MatrixFactorization:
    """A float64 model fitted to ``small_low_rank``."""
    return fit_quietly(quick_model(), small_low_rank.X)


FITTED_ATTRIBUTES = (
    "user_factors_", "item_factors_", "user_bias_", "item_bias_", "global_mean_", "shape_",
    "n_epochs_", "converged_", "best_epoch_", "history_",
)


def fitted_state(model: cmf.MatrixFactorization) -> dict:
    """Deep copies of every fitted attribute, for before/after comparisons."""
    out = {}
    for name in FITTED_ATTRIBUTES:
        value = getattr(model, name)
        if isinstance(value, np.ndarray):
            value = value.copy()
        elif isinstance(value, dict):
            value = {k: list(v) for k, v in value.items()}
        out[name] = value
    return out


def assert_same_fitted_state(a: dict, b: dict, *, ignore_seconds: bool = False) -> None:
    """Every fitted attribute bitwise equal (NaN equal to NaN)."""
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        elif isinstance(x, dict):
            assert x.keys() == y.keys()
            for key in x:
                if ignore_seconds and key == "seconds":
                    assert len(x[key]) == len(y[key])
                    continue
                np.testing.assert_array_equal(np.asarray(x[key]), np.asarray(y[key]), err_msg=f"{name}[{key}]")
        else:
            assert x == y, name


@pytest.fixture(scope="session")
def make_model():
    """Factory of small float64 models; keyword arguments override the defaults."""
    return quick_model


@pytest.fixture(scope="session")
def fit_quiet():
    """``fit_quiet(model, *args, method="fit", **kwargs)`` ignoring ConvergenceWarning."""
    return fit_quietly


@pytest.fixture(scope="session")
def snapshot():
    """``snapshot(model)``: deep copies of every fitted attribute."""
    return fitted_state


@pytest.fixture(scope="session")
def assert_same_state():
    """``assert_same_state(a, b, ignore_seconds=False)`` on two snapshots."""
    return assert_same_fitted_state


def _read_through_fifo(tmp_path, text: str, read):
    """``read(path)`` of a named pipe that a thread fills with ``text``: the pipe can be read only once."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w", encoding="utf-8") as f:
            f.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return read(fifo)
    finally:
        writer.join()


@pytest.fixture
def read_through_fifo():
    """The named-pipe reader above (POSIX only: the tests using it skip without ``os.mkfifo``)."""
    return _read_through_fifo


def movielens_candidates() -> list[str]:
    """Where MovieLens 100K's u.data is looked for, in order: $CMF_ML100K if set, else
    ``shared/data/ml-100k/u.data`` in the directory holding the repository, or one level up."""
    if os.environ.get("CMF_ML100K"):
        return [os.environ["CMF_ML100K"]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.normpath(os.path.join(root, *[".."] * up, "shared", "data", "ml-100k", "u.data")) for up in (1, 2)]


@pytest.fixture(scope="session")
def movielens_path() -> str:
    """The path of MovieLens 100K's u.data; the test is skipped, saying where it looked, when it is absent."""
    candidates = movielens_candidates()
    found = next((path for path in candidates if os.path.isfile(path)), None)
    if found is None:
        where = " or ".join(candidates)
        hint = "" if os.environ.get("CMF_ML100K") else "; set CMF_ML100K to the path of u.data"
        pytest.skip(f"MovieLens 100K not found at {where}{hint}")
    return found
