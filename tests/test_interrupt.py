"""Ctrl-C during fit: stops between chunks, keeps the last completed epoch, re-raises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import epochs as _epochs, loop as _training

SEED = 3


def synthetic(n_rows: int, n_cols: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, n)
    cols = rng.integers(0, n_cols, n)
    values = np.sin(rows * 0.1) + np.cos(cols * 0.07) + 0.1 * rng.standard_normal(n)
    return rows, cols, values


def model(**kw) -> cmf.MatrixFactorization:
    # The global-permutation path, whose chunks these tests count; the
    # blocked path has a test of its own below.
    params = dict(n_factors=8, learning_rate=0.01, max_epochs=10_000, tol=0.0, n_iter_no_change=10_000,
                  dtype="float64", random_state=SEED, blocking=False)
    params.update(kw)
    return cmf.MatrixFactorization(**params)


def reference_after(n_epochs: int, rows, cols, values, **kw) -> cmf.MatrixFactorization:
    """The same fit stopped by max_epochs after ``n_epochs`` epochs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return model(max_epochs=n_epochs, **kw).fit_triplets(rows, cols, values)


def assert_is_epoch(m: cmf.MatrixFactorization, ref: cmf.MatrixFactorization) -> None:
    assert m.n_epochs_ == ref.n_epochs_
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(m.history_["epoch"], ref.history_["epoch"])
    # The SSE is summed per chunk, so a different chunking moves the last bit.
    for key in ("train_loss", "train_rmse"):
        np.testing.assert_allclose(m.history_[key], ref.history_[key], rtol=1e-12, err_msg=key)
    assert all(len(v) == m.n_epochs_ for v in m.history_.values())


class CountingModel:
    """A kernel model whose ``method`` calls go through ``wrap`` (the extension type's methods cannot be patched)."""

    def __init__(self, model, method, wrap):
        self._model, self._method, self._wrap = model, method, wrap

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        return self._wrap(attr) if name == self._method else attr


def patch_kernel(monkeypatch, method: str, wrap) -> None:
    """Route the ``method`` calls of every kernel model built from now on through ``wrap(real_method)``."""
    real_model = _kernels.Model
    monkeypatch.setattr(_kernels, "Model", lambda *a, **k: CountingModel(real_model(*a, **k), method, wrap))


def interrupt_once(monkeypatch, *, epoch: int, call: int, kernel: str = "epoch") -> None:
    """Send SIGINT to this process from inside the ``call``-th kernel call of ``epoch``.

    The signal arrives while Python is between bytecodes, exactly as a real
    Ctrl-C during a chunk would.
    """
    calls = {"epoch": 0, "n": 0}
    real_penalty = _training.penalty

    def counting_penalty(*args, **kwargs):  # called once per epoch, after its chunks
        calls["epoch"] += 1
        calls["n"] = 0
        return real_penalty(*args, **kwargs)

    def wrap(real):
        def sgd_epoch(*args, **kwargs):
            calls["n"] += 1
            if calls["epoch"] == epoch - 1 and calls["n"] == call:
                signal.raise_signal(signal.SIGINT)
            return real(*args, **kwargs)
        return sgd_epoch

    patch_kernel(monkeypatch, kernel, wrap)
    monkeypatch.setattr(_training, "penalty", counting_penalty)


needs_main_thread_sigint = pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="the test runner replaced the SIGINT handler",
)


@needs_main_thread_sigint
def test_interrupt_mid_epoch_restores_the_previous_epoch(monkeypatch):
    rows, cols, values = synthetic(40, 30, 600)
    monkeypatch.setattr(_epochs, "CHUNK_SIZE", 50)  # 12 chunks per epoch
    interrupt_once(monkeypatch, epoch=4, call=5)
    m = model()
    with pytest.raises(KeyboardInterrupt):
        m.fit_triplets(rows, cols, values)
    monkeypatch.undo()
    assert_is_epoch(m, reference_after(3, rows, cols, values))
    assert m.converged_ is False
    # The handler is back to Python's default after the fit.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@needs_main_thread_sigint
@pytest.mark.parametrize("n_threads", [1, 2])
def test_interrupt_in_a_blocked_epoch_restores_the_previous_epoch(monkeypatch, n_threads):
    rows, cols, values = synthetic(400, 300, 40_000)  # a 3 x 3 grid of tiles
    params = dict(blocking="auto", n_threads=n_threads)
    calls = {"n": 0}
    def wrap(real):
        def count(*args, **kwargs):
            calls["n"] += 1
            return real(*args, **kwargs)
        return count

    # One thread runs several whole tiles per call (Model.tiles), more
    # threads one tile each (Model.blocks); calls of at most 8,192 entries
    # hold one tile (about 4,400 entries) each, so that every epoch makes
    # several calls.
    kernel = "tiles" if n_threads == 1 else "blocks"
    monkeypatch.setattr(_epochs, "CHUNK_SIZE", 1 << 13)
    patch_kernel(monkeypatch, kernel, wrap)
    reference_after(1, rows, cols, values, **params)
    per_epoch = calls["n"]
    monkeypatch.undo()
    assert per_epoch >= 2, "the test needs several kernel calls per epoch"
    monkeypatch.setattr(_epochs, "CHUNK_SIZE", 1 << 13)
    interrupt_once(monkeypatch, epoch=4, call=2, kernel=kernel)
    m = model(**params)
    with pytest.raises(KeyboardInterrupt):
        m.fit_triplets(rows, cols, values)
    monkeypatch.undo()
    assert_is_epoch(m, reference_after(3, rows, cols, values, **params))
    assert m.converged_ is False


@needs_main_thread_sigint
def test_interrupt_during_epoch_bookkeeping_keeps_that_epoch(monkeypatch):
    rows, cols, values = synthetic(40, 30, 600)
    real_rmse = _training.held_out_rmse
    seen = {"n": 0}

    def rmse(*args, **kwargs):  # validation scoring, after the epoch's updates
        seen["n"] += 1
        if seen["n"] == 5:
            signal.raise_signal(signal.SIGINT)
        return real_rmse(*args, **kwargs)

    monkeypatch.setattr(_training, "held_out_rmse", rmse)
    valid = (rows[:50], cols[:50], values[:50])
    m = model()
    with pytest.raises(KeyboardInterrupt):
        m.fit_triplets(rows, cols, values, validation=valid)
    monkeypatch.undo()
    ref = reference_after(5, rows, cols, values)
    assert_is_epoch(m, ref)
    assert len(m.history_["val_rmse"]) == 5


@needs_main_thread_sigint
def test_interrupt_in_the_first_epoch_leaves_a_fitted_model_unchanged(monkeypatch):
    rows, cols, values = synthetic(40, 30, 600)
    m = reference_after(2, rows, cols, values)
    before = m.user_factors_.copy(), m.n_epochs_
    monkeypatch.setattr(_epochs, "CHUNK_SIZE", 50)
    interrupt_once(monkeypatch, epoch=1, call=2)
    with pytest.raises(KeyboardInterrupt):
        m.set_params(random_state=99).fit_triplets(rows, cols, values)
    np.testing.assert_array_equal(m.user_factors_, before[0])
    assert m.n_epochs_ == before[1]


def test_chunks_shrink_as_n_factors_grow():
    # The time of one call into C grows with the work per update; the chunk
    # keeps CHUNK_SIZE * 32 factor-updates per call beyond 32 factors.
    assert _epochs.chunk_updates(8) == _epochs.CHUNK_SIZE
    assert _epochs.chunk_updates(64) == _epochs.CHUNK_SIZE // 2
    assert _epochs.chunk_updates(1024) == _epochs.CHUNK_SIZE // 32
    assert _epochs.chunk_updates(10**9) == 1


CHILD = textwrap.dedent(
    """
    import signal
    import sys
    import time
    import numpy as np
    import cmf

    # A child inherits its parent's ignored and blocked signals (a test
    # runner's worker may have SIGINT in either state); this child stands for
    # a user's script, which starts with Python's defaults.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    path = sys.argv[1]
    rng = np.random.default_rng(0)
    n_rows, n_cols, n = 20_000, 5_000, 400_000
    rows = rng.integers(0, n_rows, n)
    cols = rng.integers(0, n_cols, n)
    values = np.sin(rows * 0.01) + np.cos(cols * 0.03) + 0.1 * rng.standard_normal(n)
    model = cmf.MatrixFactorization(n_factors=32, learning_rate=0.005, max_epochs=100_000, tol=0.0,
                                    n_iter_no_change=100_000, random_state=1, verbose=1)
    try:
        model.fit_triplets(rows, cols, values)
    except KeyboardInterrupt:
        print(f"interrupted at {time.time()!r}", flush=True)
        model.save(path)
        print("saved after KeyboardInterrupt", flush=True)
        sys.exit(0)
    print("fit finished without interruption", flush=True)
    sys.exit(3)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX-only")
def test_sigint_to_a_process_running_fit(tmp_path):
    path = tmp_path / "interrupted.npz"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()  # verbose prints a line after each epoch
        assert first.startswith("epoch"), first + proc.stderr.read()
        # Land somewhere inside epoch 2 (an epoch takes tenths of a second).
        time.sleep(0.05)
        sent, sent_wall = time.perf_counter(), time.time()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # a hang: say what the child's signal state was
            try:  # Linux only
                with open(f"/proc/{proc.pid}/status") as status:
                    masks = [line.strip() for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            except OSError:
                masks = ["unknown"]
            pytest.fail(f"the child went on training for 60 s after SIGINT; its signal masks: {masks}")
        latency = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "saved after KeyboardInterrupt" in out
    caught = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("interrupted at")]
    assert len(caught) == 1
    print(f"KeyboardInterrupt {caught[0] - sent_wall:.3f} s and exit {latency:.3f} s after SIGINT")
    m = cmf.MatrixFactorization.load(path)
    assert m.n_epochs_ >= 1
    assert m.n_epochs_ == len(m.history_["epoch"]) == len(m.history_["train_loss"])
    assert m.history_["epoch"] == [float(e) for e in range(1, m.n_epochs_ + 1)]
    assert m.converged_ is False
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.isfinite(getattr(m, name)).all(), name
    # Every epoch line the child printed is in the saved history.
    printed = [line for line in (first + out).splitlines() if line.startswith("epoch")]
    assert len(printed) == m.n_epochs_


def test_the_sigint_handler_is_restored_after_any_fit():
    before = signal.getsignal(signal.SIGINT)
    rows, cols, values = synthetic(10, 8, 60)
    with pytest.raises(cmf.DivergenceError):
        model(max_epochs=50, learning_rate=50.0).fit_triplets(rows, cols, 1e3 * values)
    assert signal.getsignal(signal.SIGINT) is before
    reference_after(2, rows, cols, values)
    assert signal.getsignal(signal.SIGINT) is before
