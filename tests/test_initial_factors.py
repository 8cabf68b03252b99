"""The initial factors: cmf_normal_rows_* against a transcription of its definition in cmf.h.

The transcription below is plain Python integer arithmetic, its ziggurat
tables computed from their definition (not read from the C header), so it
checks the generator, the tables and the stream layout at once. Values are
compared to 1e-13 relative: the tables come from log and exp, whose last
bit may differ between C libraries.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import state as _state
from cmf._train.config import training_config
from cmf._train.stats import DataStats

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
R, V, LAYERS = 3.6541528853610088, 0.00492867323399, 256


class Stream:
    """splitmix64 as cmf.h defines it."""

    def __init__(self, state: int) -> None:
        self.state = state & MASK

    def next(self) -> int:
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def tables() -> tuple[list[int], list[float], list[float]]:
    """k, w, f of the ziggurat, from the layer boundaries x[0..256]."""
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = [V / f(R), R] + [0.0] * (LAYERS - 1)
    for i in range(1, LAYERS - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(f(x[i]) + V / x[i]))
    k = [math.floor(2.0**52 * x[i + 1] / x[i]) for i in range(LAYERS)]
    return k, [x[i] / 2.0**52 for i in range(LAYERS)], [f(x[i]) for i in range(LAYERS)] + [1.0]


K, W, F = tables()


def standard_normal(stream: Stream, paths: dict[str, int]) -> float:
    """One ziggurat draw; counts which path returned it in ``paths``."""
    while True:
        r = stream.next()
        layer, negative, j = r & 0xFF, (r >> 8) & 1, r >> 12
        x = (-j if negative else j) * W[layer]
        if j < K[layer]:
            paths["fast"] += 1
            return x
        if layer == 0:
            while True:
                a = -math.log(((stream.next() >> 11) + 1) * 2.0**-53) / R
                b = -math.log(((stream.next() >> 11) + 1) * 2.0**-53)
                if b + b > a * a:
                    paths["tail"] += 1
                    return -(R + a) if negative else R + a
        y = F[layer] + (F[layer + 1] - F[layer]) * ((stream.next() >> 11) * 2.0**-53)
        if y < math.exp(-0.5 * x * x):
            paths["wedge"] += 1
            return x


def reference_rows(seed: int, first_row: int, n_rows: int, k: int, paths: dict[str, int] | None = None) -> np.ndarray:
    """Rows first_row .. first_row + n_rows - 1 of the standard normals of ``seed``."""
    paths = {"fast": 0, "wedge": 0, "tail": 0} if paths is None else paths
    out = np.empty((n_rows, k))
    for i in range(n_rows):
        stream = Stream((seed ^ 0x13198A2E03707344) + (first_row + i) * GOLDEN)
        stream = Stream(stream.next())
        out[i] = [standard_normal(stream, paths) for _ in range(k)]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1, 0x243F6A8885A308D3])
def test_the_draws_follow_the_definition_in_cmf_h(seed):
    paths = {"fast": 0, "wedge": 0, "tail": 0}
    expected = reference_rows(seed, 5, 400, 64, paths)
    drawn = np.empty((400, 64))
    _kernels.normal_rows(seed, 5, 64, 1.0, drawn)
    np.testing.assert_allclose(drawn, expected, rtol=1e-13, atol=0)
    # 25,600 draws pass through all three ways out of the ziggurat.
    assert paths["wedge"] > 50 and paths["tail"] > 0, paths


def test_float32_is_the_scaled_double_rounded_once_and_padding_is_zero():
    drawn64 = np.empty((50, 10))
    _kernels.normal_rows(9, 0, 10, 0.25, drawn64)
    drawn32 = np.full((50, 16), np.nan, dtype=np.float32)
    _kernels.normal_rows(9, 0, 10, 0.25, drawn32)
    np.testing.assert_array_equal(drawn32[:, :10], drawn64.astype(np.float32))
    np.testing.assert_array_equal(drawn32[:, 10:], 0)
    np.testing.assert_allclose(drawn64, 0.25 * reference_rows(9, 0, 50, 10), rtol=1e-13)


def test_rows_are_independent_of_how_they_are_split():
    whole = np.empty((97, 7))
    _kernels.normal_rows(3, 0, 7, 1.0, whole)
    pieces = np.empty((97, 7))
    for start, stop in [(0, 1), (1, 40), (40, 41), (41, 97)]:
        _kernels.normal_rows(3, start, 7, 1.0, pieces[start:stop])
    np.testing.assert_array_equal(pieces, whole)
    # A row's values are a prefix of the same row with more columns.
    wider = np.empty((97, 12))
    _kernels.normal_rows(3, 0, 12, 1.0, wider)
    np.testing.assert_array_equal(wider[:, :7], whole)


def test_the_draws_are_standard_normal():
    from scipy import stats

    draws = np.empty((4000, 256))
    _kernels.normal_rows(2024, 0, 256, 1.0, draws)
    z = draws.ravel()  # about a million values
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # The tails beyond the ziggurat's base (the slow path) have their mass.
    beyond = np.mean(np.abs(z) > R)
    expected = 2 * stats.norm.sf(R)
    assert abs(beyond - expected) < 5 * math.sqrt(expected / z.size)
    # Different seeds, different values.
    other = np.empty((4000, 256))
    _kernels.normal_rows(2025, 0, 256, 1.0, other)
    assert abs(np.corrcoef(z, other.ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("kwargs, message", [
    (dict(first_row=-1), "invalid"), (dict(k=5), "invalid"), (dict(scale=np.inf), "invalid"),
    (dict(scale=np.nan), "invalid"), (dict(out=np.empty((3, 4), np.int32)), "float32 or float64"),
    (dict(out=np.empty((4, 3))[:, :2]), "C-contiguous"), (dict(out=np.empty(12)), "2-D"),
])
def test_bad_arguments_raise(kwargs, message):
    args = dict(seed=1, first_row=0, k=3, scale=1.0, out=np.empty((3, 4)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        _kernels.normal_rows(args["seed"], args["first_row"], args["k"], args["scale"], args["out"])


def config(**params):
    return training_config(cmf.MatrixFactorization(**params).get_params())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initial_factors_are_rows_of_one_seed_scaled_with_empty_rows_zero(dtype):
    stats = DataStats((6, 4), 5, np.array([1, 1, 0, 2, 1, 0]), np.array([2, 0, 2, 1]), 3.0, 0.25)
    cfg = config(n_factors=5, init_std=0.2, dtype=dtype)
    state = _state.initial_factors(stats, cfg, np.random.default_rng(11))
    seed = int(np.random.default_rng(11).integers(0, 1 << 64, dtype=np.uint64))
    # init_std times sqrt(min(1, scale)): a spread of 0.25 halves it.
    P = (0.1 * reference_rows(seed, 0, 6, 5)).astype(dtype)
    Q = (0.1 * reference_rows(seed, 6, 4, 5)).astype(dtype)
    P[[2, 5]] = 0
    Q[1] = 0
    np.testing.assert_allclose(state.P, P, rtol=1e-6 if dtype == "float32" else 1e-13)
    np.testing.assert_allclose(state.Q, Q, rtol=1e-6 if dtype == "float32" else 1e-13)
    assert state.P.dtype == dtype and state.mu == 3.0
    # Drawn padded, the same values in the first columns and zeros after.
    padded = _state.initial_factors(stats, cfg, np.random.default_rng(11), padded=True)
    assert padded.P.shape[1] == _state.padded_width(5) > 5
    np.testing.assert_array_equal(padded.P[:, :5], state.P)
    np.testing.assert_array_equal(padded.Q[:, 5:], 0)
    # Non-negative factors are the same draws folded.
    folded = _state.initial_factors(stats, config(n_factors=5, init_std=0.2, dtype=dtype, nonnegative=True,
                                                  biased=False), np.random.default_rng(11))
    np.testing.assert_array_equal(folded.P, np.abs(state.P))


def test_the_header_tables_are_what_the_script_writes():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "src_c", "tools", "make_ziggurat.py")
    if not os.path.exists(script):
        pytest.skip("the C sources are not next to the tests (an installed package's tests)")
    written = subprocess.run([sys.executable, script], capture_output=True, text=True, check=True).stdout
    with open(os.path.join(root, "src_c", "cmf_ziggurat.h"), encoding="utf-8") as header:
        assert header.read() == written
    # And the script's tables are the ones defined above.
    namespace: dict = {"__name__": "make_ziggurat"}
    with open(script, encoding="utf-8") as source:
        exec(compile(source.read(), script, "exec"), namespace)
    k, w, f = namespace["tables"]()
    assert k == K
    np.testing.assert_allclose(w, W, rtol=1e-15)
    np.testing.assert_allclose(f, F, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_for_new_users_and_items_come_from_their_streams(dtype):
    rows, cols = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])
    model = cmf.MatrixFactorization(n_factors=4, max_epochs=2, random_state=0, dtype=dtype)
    with pytest.warns(cmf.ConvergenceWarning):
        model.fit_triplets(rows, cols, np.array([1.0, 2.0, 3.0, 4.0]), shape=(3, 3))
    # New ratings in every new row and column, of a spread above 1: init_std as given.
    stats = DataStats((5, 4), 9, np.ones(5, dtype=np.int64), np.ones(4, dtype=np.int64), None, 2.0)
    grown = model._snapshot().grown((5, 4), config(n_factors=4, init_std=0.2, dtype=dtype), np.random.default_rng(8),
                                    stats)
    seed = int(np.random.default_rng(8).integers(0, 1 << 64, dtype=np.uint64))
    # The fitted rows stay; user u's new row is stream u, item i's stream 5 + i.
    np.testing.assert_array_equal(grown.P[:3], model.user_factors_)
    np.testing.assert_array_equal(grown.Q[:3], model.item_factors_)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(grown.P[3:], 0.2 * reference_rows(seed, 3, 2, 4), rtol=rtol)
    np.testing.assert_allclose(grown.Q[3:], 0.2 * reference_rows(seed, 5 + 3, 1, 4), rtol=rtol)
    assert grown.P.dtype == dtype and grown.b.tolist() == model.user_bias_.tolist() + [0.0, 0.0]


@pytest.mark.parametrize("nonnegative", [False, True])
def test_partial_fit_starts_new_rows_as_a_fresh_fit_would(monkeypatch, nonnegative):
    # Ratings that vary by about 1e-3: a fresh fit draws its factors with
    # init_std * sqrt(spread) (see data_scale), folded to >= 0 for a
    # non-negative model, and zero for a row without ratings. So must the
    # rows partial_fit adds: before, they were N(0, init_std) whatever the
    # data, products 400 times the spread here.
    from cmf._train import loop

    params = dict(n_factors=4, init_std=0.2, dtype="float64", random_state=3, nonnegative=nonnegative,
                  **({"loss": "kl", "biased": False} if nonnegative else {}))
    model = cmf.MatrixFactorization(max_epochs=2, **params)
    base = 5.0 if nonnegative else 3.0
    with pytest.warns(cmf.ConvergenceWarning):
        model.fit_triplets([0, 1, 2, 2], [0, 1, 1, 2], base + 1e-3 * np.array([1.0, -2.0, 0.5, 1.5]), shape=(3, 3))
    starts = []
    train = loop.train
    monkeypatch.setattr(loop, "train", lambda *args, start=None, **kw: starts.append(start) or train(*args, start=start,
                                                                                                     **kw))
    # Users 3 and 5 are new (4 has no rating); items 4 is new (3 has no rating).
    users, items = np.array([3, 5, 3, 0]), np.array([0, 4, 1, 4])
    values = base + 1e-3 * np.array([2.0, -1.0, 0.5, -3.0])
    model.partial_fit((users, items, values), epochs=1)
    start = starts[0]
    # The spread the continued fit measures: around the model's offset (mu; 0 without biases).
    mu = model.global_mean_ if not nonnegative else 0.0
    spread = math.sqrt(np.mean((values - mu) ** 2))
    std = 0.2 * math.sqrt(min(1.0, spread))
    seed = int(np.random.default_rng(3).integers(0, 1 << 64, dtype=np.uint64))
    fold = np.abs if nonnegative else (lambda x: x)
    P, Q = fold(std * reference_rows(seed, 3, 3, 4)), fold(std * reference_rows(seed, 6 + 3, 2, 4))
    P[1] = 0  # user 4: no rating
    Q[0] = 0  # item 3: no rating
    np.testing.assert_allclose(start.P[3:], P, rtol=1e-12)
    np.testing.assert_allclose(start.Q[3:], Q, rtol=1e-12)
    assert start.P.shape == (6, 4) and start.Q.shape == (5, 4)

