"""Many threads predicting from one model, also while it is being refitted."""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest

import cmf
from cmf._train import loop as _training
from cmf._dataset import RatingDataset

N_ROWS, N_COLS = 120, 80


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N_ROWS, 4)) @ rng.standard_normal((4, N_COLS))
    X[rng.random(X.shape) < 0.4] = np.nan
    return X


def fit(X, seed: int, **kw) -> cmf.MatrixFactorization:
    params = dict(n_factors=6, max_epochs=15, learning_rate=0.02, dtype="float64", random_state=seed)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(**params).fit(X)


def run_threads(target, n: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapped(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_concurrent_predicts_equal_serial_ones(data):
    model = fit(data, seed=1)
    rng = np.random.default_rng(0)
    queries = [(rng.integers(0, N_ROWS, 5000), rng.integers(0, N_COLS, 5000)) for _ in range(8)]
    want = [model.predict(r, c) for r, c in queries]
    want_full = model.reconstruct()
    want_completed = model.complete(data)

    def work(i: int) -> None:
        for _ in range(30):
            r, c = queries[i]
            np.testing.assert_array_equal(model.predict(r, c), want[i])
        if i % 2:
            np.testing.assert_array_equal(model.reconstruct(), want_full)
        else:
            np.testing.assert_array_equal(model.complete(data), want_completed)

    errors = run_threads(work, 8)
    assert not errors, errors[0]


def test_predict_during_refit_sees_one_whole_model(data):
    # Two models that differ in every parameter; the shared estimator is
    # refitted back and forth between them while readers predict. Every
    # prediction must be exactly one model's, never a mix of old factors and
    # new ones.
    a, b = fit(data, seed=1), fit(data, seed=2, n_factors=6, learning_rate=0.03)
    rows = np.repeat(np.arange(N_ROWS), N_COLS)
    cols = np.tile(np.arange(N_COLS), N_ROWS)
    pred_a, pred_b = a.predict(rows, cols, clip=False), b.predict(rows, cols, clip=False)
    assert not np.array_equal(pred_a, pred_b)
    shared = fit(data, seed=1)
    stop = threading.Event()
    seen = {"a": 0, "b": 0}
    lock = threading.Lock()

    def reader(i: int) -> None:
        while not stop.is_set():
            got = shared.predict(rows, cols, clip=False)
            is_a, is_b = np.array_equal(got, pred_a), np.array_equal(got, pred_b)
            assert is_a or is_b, "a prediction mixed two models"
            with lock:
                seen["a" if is_a else "b"] += 1
            full = shared.reconstruct().ravel()
            assert np.allclose(full, pred_a, rtol=1e-12, atol=1e-12) or np.allclose(
                full, pred_b, rtol=1e-12, atol=1e-12
            )

    def writer(i: int) -> None:
        try:
            for k in range(6):
                params = dict(random_state=2, learning_rate=0.03) if k % 2 == 0 else dict(
                    random_state=1, learning_rate=0.02
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", cmf.ConvergenceWarning)
                    shared.set_params(**params).fit(data)
        finally:
            stop.set()

    # Switch threads as often as possible, so that a reader lands between
    # any two steps of the writer.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        errors = run_threads(lambda i: writer(i) if i == 0 else reader(i), 5)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
    assert seen["a"] + seen["b"] > 0
    np.testing.assert_array_equal(shared.predict(rows, cols, clip=False), pred_a)  # the last fit used seed 1


def test_fitted_arrays_are_read_only_snapshots(data):
    model = fit(data, seed=1)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        arr = getattr(model, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[...] = 0
    old = model.user_factors_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.set_params(random_state=5).fit(data)
    assert model.user_factors_ is not old  # a refit publishes new arrays
    # Replacing an attribute by hand publishes a new snapshot and leaves the
    # caller's array untouched and writable.
    mine = np.zeros_like(old)
    model.user_factors_ = mine
    assert mine.flags.writeable
    assert np.array_equal(model.user_factors_, mine)
    assert model.predict(0, 0) == pytest.approx(model.global_mean_ + model.user_bias_[0] + model.item_bias_[0])


def test_publishing_a_fit_is_atomic_for_readers(data):
    # The same property under heavy contention: the writer publishes the two
    # finished fits alternately as fast as it can (the step that ends every
    # fit), while readers predict a few pairs in a tight loop.
    a, b = fit(data, seed=1), fit(data, seed=2, learning_rate=0.03)
    rows, cols = np.arange(8), np.arange(8)
    pred_a, pred_b = a.predict(rows, cols, clip=False), b.predict(rows, cols, clip=False)
    assert not np.any(pred_a == pred_b)
    results = []
    for m in (a, b):
        state = _training.FactorState(
            m.user_factors_, m.item_factors_, m.user_bias_, m.item_bias_, m.global_mean_
        )
        results.append(_training.TrainingResult(state=state, n_epochs=m.n_epochs_, history=m.history_,
                                                converged=True))
    shared = fit(data, seed=1)
    stop = threading.Event()

    def reader(i: int) -> None:
        while not stop.is_set():
            got = shared.predict(rows, cols)
            assert np.array_equal(got, pred_a) or np.array_equal(got, pred_b), "a prediction mixed two models"

    def writer(i: int) -> None:
        try:
            for k in range(20_000):
                shared._store(results[k % 2], (N_ROWS, N_COLS))
        finally:
            stop.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        errors = run_threads(lambda i: writer(i) if i == 0 else reader(i), 3)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]


def test_recommend_and_similar_items_use_one_snapshot(data):
    # Two fits that differ in factors and in the items each user saw; the
    # shared model flips between them as fast as possible (the publication
    # step of every fit). Each recommend / similar_items call must answer
    # entirely from one of them, although it reads factors, biases and seen
    # items in several steps.
    rng = np.random.default_rng(3)
    X_a, X_b = data.copy(), data.copy()
    X_b[rng.random(data.shape) < 0.3] = np.nan
    a, b = fit(X_a, seed=1), fit(X_b, seed=2, learning_rate=0.03)
    users, items = np.arange(N_ROWS), np.arange(10)
    want = {
        name: (m.recommend(users, n=4), m.similar_items(items, n=3)) for name, m in (("a", a), ("b", b))
    }
    assert not np.array_equal(want["a"][0][0], want["b"][0][0])
    shared = fit(X_a, seed=1)
    snapshots = (a._fitted, b._fitted)
    stop = threading.Event()

    def matches(got, expected) -> bool:
        return all(np.array_equal(g, e) for g, e in zip(got, expected))

    def reader(i: int) -> None:
        try:
            for _ in range(150):
                rec = shared.recommend(users, n=4)
                assert matches(rec, want["a"][0]) or matches(rec, want["b"][0]), "recommend mixed two fits"
                sim = shared.similar_items(items, n=3)
                assert matches(sim, want["a"][1]) or matches(sim, want["b"][1]), "similar_items mixed two fits"
        finally:
            stop.set()

    def writer(i: int) -> None:
        k = 0
        while not stop.is_set():
            shared._fitted = snapshots[k % 2]
            k += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        errors = run_threads(lambda i: writer(i) if i == 0 else reader(i), 2)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]


class _Refitted(cmf.MatrixFactorization):
    """An estimator refitted, as if by another thread, right after every read of its fitted value.

    Each read (``_snapshot``, which every reader calls, or the attribute
    ``_fitted``) returns the current value and then publishes the other of
    two fits, deterministically: a method that takes its snapshot once
    answers from the fit current when it was called, one that reads the
    fitted value twice answers partly from each fit.
    """

    def _flip(self) -> None:
        state = self.__dict__
        state["_fitted"], state["_other"] = state["_other"], state["_fitted"]

    def _snapshot(self):
        value = super()._snapshot()
        self._flip()
        return value

    @property
    def _fitted(self):
        value = self.__dict__["_fitted"]
        self._flip()
        return value

    @_fitted.setter
    def _fitted(self, value) -> None:
        self.__dict__["_fitted"] = value


READERS = {
    "predict": lambda m, X: m.predict(np.repeat(np.arange(N_ROWS), N_COLS), np.tile(np.arange(N_COLS), N_ROWS)),
    "predict unclipped": lambda m, X: m.predict(np.arange(N_ROWS), np.arange(N_ROWS) % N_COLS, clip=False),
    "predict one pair": lambda m, X: m.predict(3, 5),
    "reconstruct": lambda m, X: m.reconstruct(),
    "reconstruct clipped": lambda m, X: m.reconstruct(clip=True),
    "complete": lambda m, X: m.complete(X),
    "recommend": lambda m, X: m.recommend(np.arange(N_ROWS), n=4),
    "recommend one user": lambda m, X: m.recommend(7, n=4),
    "similar_items": lambda m, X: m.similar_items(np.arange(10), n=3),
    "similar_users": lambda m, X: m.similar_users(np.arange(10), n=3),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_answers_from_the_one_fit_current_when_called(data, reader):
    # Two fits that differ in parameters, rating scale and seen items. The
    # shared estimator holds fit a and switches to the other fit right after
    # each read of its fitted value: the answer must be fit a's, to the bit.
    rng = np.random.default_rng(3)
    X_b = data.copy()
    X_b[rng.random(data.shape) < 0.3] = np.nan
    X_b = np.clip(X_b, -3.0, 3.0)  # a narrower rating scale than a's
    a, b = fit(data, seed=1), fit(X_b, seed=2, learning_rate=0.03)
    assert a.rating_scale_ != b.rating_scale_
    read = READERS[reader]
    want, other = read(a, data), read(b, data)
    as_tuple = (lambda v: v if isinstance(v, tuple) else (v,))
    assert not all(np.array_equal(x, y) for x, y in zip(as_tuple(want), as_tuple(other))), "the fits answer alike"
    shared = _Refitted(**a.get_params())
    shared.__dict__.update(_fitted=a._fitted, _other=b._fitted)
    got = read(shared, data)
    for g, w in zip(as_tuple(got), as_tuple(want), strict=True):
        np.testing.assert_array_equal(g, w, err_msg=f"{reader} answered partly from a fit published during the call")


def test_concurrent_recommends_build_the_seen_items_once_safely(data):
    # The seen items are indexed lazily on first use; racing first uses
    # must all get them (never "does not know its training ratings").
    for _ in range(5):
        model = fit(data, seed=4)
        want = fit(data, seed=4).recommend(np.arange(N_ROWS), n=3)
        barrier = threading.Barrier(4)

        def work(i: int) -> None:
            barrier.wait()
            got = model.recommend(np.arange(N_ROWS), n=3)
            assert all(np.array_equal(g, w) for g, w in zip(got, want))

        errors = run_threads(work, 4)
        assert not errors, errors[0]


@pytest.mark.parametrize("labelled", [False, True])
def test_concurrent_fold_ins_add_every_user_and_readers_always_find_the_newest(data, labelled):
    # fold_in(add=True) publishes the new user's parameters, label and seen
    # items together, on top of whatever model is current: 4 threads x 50
    # adds give 200 new users, and a reader asking for the newest user (by
    # the labels or shape it sees) never meets a half-published one.
    if labelled:
        rows, cols = np.nonzero(~np.isnan(data))
        ratings = RatingDataset.from_labels(rows * 10 + 5, cols, data[rows, cols])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            model = cmf.MatrixFactorization(n_factors=6, max_epochs=5, dtype="float64",
                                            random_state=1).fit_ratings(ratings)
    else:
        model = fit(data, seed=1)
    n_before = model.shape_[0]
    added: list = []
    lock = threading.Lock()
    stop = threading.Event()

    def adder(i: int) -> None:
        rng = np.random.default_rng(i)
        try:
            for _ in range(50):
                items = rng.choice(N_COLS, 5, replace=False)
                out = model.fold_in(items, rng.normal(size=5), add=True)
                with lock:
                    added.append(out)
        finally:
            if i == 3:
                stop.set()

    def reader(i: int) -> None:
        while not stop.is_set():
            newest = model.user_labels_[-1] if labelled else model.shape_[0] - 1
            items, _ = model.recommend(newest, n=3)
            assert len(items) == 3

    errors = run_threads(lambda i: adder(i) if i < 4 else reader(i), 6)
    assert not errors, errors[0]
    assert model.shape_[0] == n_before + 200 and len(model.user_factors_) == n_before + 200
    users = [out.user for out in added]
    assert len(set(users)) == 200
    for out in added:
        row = model.user_labels_.tolist().index(out.user) if labelled else out.user
        np.testing.assert_array_equal(model.user_factors_[row], out.factors)
        assert model.user_bias_[row] == out.bias
