"""Distributed fit on a real two-process LocalCluster (cmf.dask).

The reference for every fit is the local blocked fit of
MatrixFactorization with the same seed and the same grid, whose epochs are
checked against the NumPy reference in test_blocks.py: the distributed fit
must give the same bits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="cmf.dask needs dask[distributed] (pip install cmf-sgd[dask])")
da = pytest.importorskip("dask.array", reason="cmf.dask needs dask[distributed] (pip install cmf-sgd[dask])")

import cmf  # noqa: E402
import cmf.dask  # noqa: E402
from cmf import _distributed  # noqa: E402
from cmf._train import blocks as _blocks  # noqa: E402
from cmf.datasets import make_ratings  # noqa: E402
from cmf.exceptions import ConvergenceWarning, DivergenceError  # noqa: E402

N_TILES = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two single-threaded worker processes; checks that none is left running."""
    directory = tmp_path_factory.mktemp("dask-workers")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        local_directory=str(directory),
    )
    client = distributed.Client(cluster)
    pids: set[int] = set()
    try:
        yield client, pids
        pids.update(client.run(os.getpid).values())
    finally:
        client.close()
        cluster.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "worker processes left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting to be reaped is dead too.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.fixture
def small_grid(monkeypatch):
    """A many-block grid on small data: a 64 KiB cache and N_TILES tiles per side.

    The local fit takes its tile count from MAX_TILES; setting it to the
    distributed fit's n_tiles gives both fits the same blocking.
    """
    monkeypatch.setattr(_blocks, "GRID_CACHE_BYTES", 64 * 1024)
    monkeypatch.setattr(_blocks, "MAX_TILES", N_TILES)


@pytest.fixture(scope="module")
def ratings():
    return make_ratings(2500, 1800, 60_000, random_state=7, dtype=np.float64)


def _params(**kw):
    params = dict(n_factors=8, learning_rate=0.02, max_epochs=4, tol=0.0, random_state=11, n_threads=1)
    params.update(kw)
    return params


def _arrays(d, chunks=17_000):
    return tuple(da.from_array(a, chunks=chunks) for a in (d.rows, d.cols, d.values))


def _local(d, validation=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cmf.MatrixFactorization(**_params(**kw))
        return model.fit_triplets(d.rows, d.cols, d.values, shape=d.shape, validation=validation)


def _dist(client, data, shape, n_tiles=N_TILES, validation=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cmf.dask.fit(cmf.MatrixFactorization(**_params(**kw)), data, client=client, shape=shape,
                            n_tiles=n_tiles, validation=validation)


def _assert_same(a, b):
    assert a.global_mean_ == b.global_mean_
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    np.testing.assert_array_equal(a.user_bias_, b.user_bias_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)
    assert a.history_["train_loss"] == b.history_["train_loss"]
    assert a.n_epochs_ == b.n_epochs_


@pytest.mark.parametrize("dtype,adaptive", [("float32", False), ("float64", False), ("float32", True)])
def test_same_bits_as_local_blocked_fit(cluster, small_grid, ratings, dtype, adaptive):
    client, _ = cluster
    dist = _dist(client, _arrays(ratings), ratings.shape, dtype=dtype, adaptive=adaptive)
    local = _local(ratings, dtype=dtype, adaptive=adaptive)
    info = dist.distributed_
    assert info["n_tiles"] == N_TILES and info["grid"]["n_row_blocks"] > N_TILES
    assert dist.user_factors_.dtype == np.dtype(dtype)
    _assert_same(dist, local)
    # The local fit learned something, so equality is not of two untouched models.
    assert local.history_["train_loss"][-1] < 0.95 * local.history_["train_loss"][0]
    # More rows than columns: row slabs stay put, column slabs move.
    q_bytes = dist.item_factors_.nbytes + dist.item_bias_.nbytes + (2 * dist.item_bias_.nbytes if adaptive else 0)
    assert 0 < max(info["moved_bytes"]) <= N_TILES * q_bytes


@pytest.mark.parametrize("adaptive,first_step", [(False, 0.4), (True, 20.0)])
def test_bold_driver_takes_the_same_steps_as_local(cluster, small_grid, ratings, adaptive, first_step):
    # A first step so large that epochs are undone: the cluster must drop
    # the epoch it submitted ahead, send the kept model again and go on at
    # the cut step, exactly as the local fit does.
    client, _ = cluster
    kw = dict(learning_rate=first_step, schedule="bold_driver", max_epochs=8, adaptive=adaptive)
    dist = _dist(client, _arrays(ratings), ratings.shape, **kw)
    local = _local(ratings, **kw)
    assert 0.0 in local.history_["kept"] and local.history_["kept"][-1] == 1.0
    _assert_same(dist, local)
    assert dist.history_["learning_rate"] == local.history_["learning_rate"]
    assert dist.history_["kept"] == local.history_["kept"]


def test_wide_matrix_moves_row_slabs(cluster, small_grid, ratings):
    """More columns than rows: column slabs stay put and row slabs move; same bits."""
    client, _ = cluster
    wide = type(ratings)(ratings.cols, ratings.rows, ratings.values, ratings.shape[::-1])
    dist = _dist(client, _arrays(wide), wide.shape, dtype="float32")
    _assert_same(dist, _local(wide, dtype="float32"))
    p_bytes = dist.user_factors_.nbytes + dist.user_bias_.nbytes
    assert 0 < max(dist.distributed_["moved_bytes"]) <= N_TILES * p_bytes


def test_dataframe_matches_arrays(cluster, small_grid, ratings):
    dd = pytest.importorskip("dask.dataframe", reason="Dask DataFrame input needs pandas (dask[dataframe])")
    pd = pytest.importorskip("pandas", reason="Dask DataFrame input needs pandas (dask[dataframe])")
    client, _ = cluster
    frame = pd.DataFrame({"user": ratings.rows, "item": ratings.cols, "rating": ratings.values})
    ddf = dd.from_pandas(frame, npartitions=3)
    _assert_same(_dist(client, ddf, ratings.shape), _local(ratings))


def test_files_read_by_workers_match_local(cluster, small_grid, ratings, tmp_path):
    client, _ = cluster
    # Two files, with a header and a tab between fields; the values written
    # with repr so that they read back to the same bits.
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(ratings.values)), 2)):
        path = tmp_path / f"part{i}.tsv"
        with open(path, "w") as fh:
            fh.write("user\titem\trating\n")
            for r, c, v in zip(ratings.rows[part], ratings.cols[part], ratings.values[part]):
                fh.write(f"{r}\t{c}\t{float(v)!r}\n")
        paths.append(str(path))
    _assert_same(_dist(client, paths, ratings.shape), _local(ratings))
    with pytest.raises(OSError, match="cannot read ratings file"):
        cmf.dask.fit(cmf.MatrixFactorization(), [str(tmp_path / "missing.tsv")], client=client)


def test_validation_and_early_stopping_match_local(cluster, small_grid, ratings):
    client, _ = cluster
    held = make_ratings(2500, 1800, 5_000, random_state=8, dtype=np.float64)
    valid = (held.rows, held.cols, held.values)
    kw = dict(max_epochs=6, patience=1, learning_rate=0.05)
    dist = _dist(client, _arrays(ratings), ratings.shape, validation=valid, **kw)
    local = _local(ratings, validation=valid, **kw)
    _assert_same(dist, local)
    assert dist.history_["val_rmse"] == local.history_["val_rmse"]
    assert dist.best_epoch_ == local.best_epoch_
    # The estimator is an ordinary one: predict, save and load.
    np.testing.assert_array_equal(dist.predict(held.rows, held.cols), local.predict(held.rows, held.cols))


def test_save_load_predict(cluster, small_grid, ratings, tmp_path):
    client, _ = cluster
    model = _dist(client, _arrays(ratings), ratings.shape, max_epochs=2)
    model.save(tmp_path / "m.npz")
    again = cmf.MatrixFactorization.load(tmp_path / "m.npz")
    rows, cols = ratings.rows[:100], ratings.cols[:100]
    # Against the model formula written out in NumPy.
    expected = (model.global_mean_ + model.user_bias_[rows] + model.item_bias_[cols]
                + np.einsum("ij,ij->i", model.user_factors_[rows].astype(np.float64),
                            model.item_factors_[cols].astype(np.float64)))
    np.testing.assert_allclose(again.predict(rows, cols), expected, rtol=1e-5)


def test_low_rank_matrix_is_recovered(cluster):
    """Noise-free rank-2 data: the distributed fit must drive the error down."""
    client, _ = cluster
    rng = np.random.default_rng(3)
    U, V = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    rows, cols = np.divmod(rng.choice(300 * 200, 30_000, replace=False), 200)
    values = np.einsum("ij,ij->i", U[rows], V[cols])
    data = tuple(da.from_array(a, chunks=10_000) for a in (rows, cols, values))
    model = cmf.MatrixFactorization(n_factors=4, learning_rate=0.02, regularization=0.0, bias_regularization=0.0,
                                    max_epochs=60, tol=1e-6, random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cmf.dask.fit(model, data, client=client, n_tiles=2)
    err = model.predict(rows, cols) - values
    assert np.sqrt(np.mean(err ** 2)) < 0.05 * np.std(values)


def test_a_diverged_distributed_fit_leaves_the_model_as_it_was(cluster, small_grid, ratings, snapshot,
                                                               assert_same_state):
    client, _ = cluster
    kw = dict(learning_rate=0.3, max_epochs=5)
    # The local fit keeps some epochs, then diverges; the distributed one
    # must do the same, and neither stores the failed run.
    local = cmf.MatrixFactorization(**_params(**kw))
    with pytest.raises(DivergenceError) as local_error:
        local.fit_triplets(ratings.rows, ratings.cols, ratings.values, shape=ratings.shape)
    assert local_error.value.epoch >= 2 and not local.__sklearn_is_fitted__()
    model = cmf.MatrixFactorization(**_params(**kw))
    with pytest.raises(DivergenceError, match="learning_rate") as info:
        cmf.dask.fit(model, _arrays(ratings), client=client, shape=ratings.shape, n_tiles=N_TILES)
    assert not model.__sklearn_is_fitted__() and not hasattr(model, "distributed_")
    assert info.value.epoch == local_error.value.epoch
    assert info.value.history["train_loss"] == local_error.value.history["train_loss"]
    assert len(info.value.history["train_loss"]) == info.value.epoch - 1
    # A fitted model refitted with the diverging step keeps its fit and the record of its run.
    fitted = _dist(client, _arrays(ratings), ratings.shape)
    before, record = snapshot(fitted), fitted.distributed_
    fitted.set_params(**kw)
    with pytest.raises(DivergenceError):
        cmf.dask.fit(fitted, _arrays(ratings), client=client, shape=ratings.shape, n_tiles=N_TILES)
    assert_same_state(before, snapshot(fitted))
    assert fitted.distributed_ is record


def _kill_worker_before_epoch(monkeypatch, client, at_epoch):
    """Kill (SIGKILL) a worker process holding tiles just before epoch ``at_epoch`` starts."""
    original = cmf.dask._EpochRunner.epoch_sse
    killed = []

    def epoch_sse(self, epoch):
        if epoch == at_epoch and not killed:
            victim = sorted(set(self.holder.values()))[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return original(self, epoch)

    monkeypatch.setattr(cmf.dask._EpochRunner, "epoch_sse", epoch_sse)
    return killed


def test_killed_worker_recovers_with_same_result(cluster, small_grid, ratings, monkeypatch):
    client, _ = cluster
    local = _local(ratings)
    killed = _kill_worker_before_epoch(monkeypatch, client, at_epoch=2)
    dist = _dist(client, _arrays(ratings), ratings.shape)
    assert killed, "no worker was killed"
    assert dist.distributed_["recoveries"] >= 1
    _assert_same(dist, local)
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the next tests


def _kill_worker_in_a_stratum(monkeypatch, client, holding, flag):
    """Make one worker SIGKILL itself as it starts a tile, in the middle of a stratum.

    ``run_tile`` is replaced in that worker's process only (the client's
    tasks name it by reference); the nanny's new process runs the original
    code. ``holding="data"``: tiles stay where Dask built them, and the
    first-sorted worker holding tiles dies at its first tile of epoch 2,
    taking slabs nothing else holds, so Dask cancels what needed them; it
    waits for the file ``flag``, written once the client has gathered epoch
    1, so that it does not die while the client gathers results it holds.
    ``holding="replicas"``: the tasks are placed so that every slab is
    scattered to the other worker and the victim runs only tile (0, 1);
    it dies at its first tile, losing nothing but copies and a tile Dask
    can rebuild. Dask then reports nothing: the task, restricted to the
    dead worker, waits for it forever, and only the fit's check that its
    workers are alive notices.
    """
    original, collect = cmf.dask._EpochRunner._locate_tiles, cmf.dask._EpochRunner._collect
    victims = []

    def _collect(self, epoch):
        sse = collect(self, epoch)
        if epoch == 1:
            flag.touch()
        return sse

    def _locate_tiles(self):
        original(self)
        if victims:
            return
        if holding == "replicas":
            keep, victim = sorted(client.nthreads())[:2]
            self.holder = {key: victim if key == (0, 1) else keep for key in self.holder}
            kill_at, wait_for = 1, None
        else:
            victim = sorted(set(self.holder.values()))[0]
            kill_at = sum(w == victim for w in self.holder.values()) + 1  # epoch 1 runs each tile once
            wait_for = str(flag)

        def install():
            real, calls = _distributed.run_tile, []

            def run_tile(*args):
                calls.append(None)
                if len(calls) == kill_at:
                    deadline = time.monotonic() + 30
                    while wait_for and not os.path.exists(wait_for) and time.monotonic() < deadline:
                        time.sleep(0.01)
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args)

            _distributed.run_tile = run_tile
            return os.getpid()

        victims.append(client.run(install, workers=[victim])[victim])

    monkeypatch.setattr(cmf.dask._EpochRunner, "_locate_tiles", _locate_tiles)
    monkeypatch.setattr(cmf.dask._EpochRunner, "_collect", _collect)
    return victims


@pytest.mark.parametrize("holding", ["data", "replicas"])
def test_worker_killed_inside_a_stratum_recovers_with_same_result(cluster, small_grid, ratings, monkeypatch,
                                                                  holding, tmp_path):
    client, _ = cluster
    client.wait_for_workers(2, timeout=30)
    local = _local(ratings)
    victims = _kill_worker_in_a_stratum(monkeypatch, client, holding, tmp_path / "epoch-1-gathered")
    outcome = {}

    def fit():
        try:
            outcome["model"] = _dist(client, _arrays(ratings), ratings.shape)
        except BaseException as exc:  # noqa: BLE001 - raised again by the test below
            outcome["error"] = exc

    # A fit that does not notice the lost worker waits forever on a task
    # that can run nowhere: bounded here (the fit, recovery included, takes
    # about 1.5 s), so that such a fit fails the test instead of hanging.
    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():
        frames = traceback.extract_stack(sys._current_frames()[thread.ident])
        steps = [f.name for f in frames if f.filename.endswith("_dask_epochs.py")]
        if "_recover" in steps or steps[-1:] == ["_collect"]:
            # Known defect, seen about once in ten runs: the fit noticed the
            # lost worker, but then waits without a bound for lost tiles to
            # be rebuilt (_recover -> _locate_tiles) or for results lost
            # after they were computed (_collect's gather).
            pytest.xfail(f"the recovery from a lost worker waits without a bound in {' -> '.join(steps)}")
        stack = "".join(traceback.format_list(frames))
        pytest.fail(f"the fit did not notice, within 30 s, that a worker died inside a stratum; it waits in:\n{stack}")
    assert victims and not _alive(victims[0]), "the worker was not killed"
    if "error" in outcome:
        raise outcome["error"]
    dist = outcome["model"]
    assert dist.distributed_["recoveries"] == 1
    _assert_same(dist, local)
    client.wait_for_workers(2, timeout=30)


def test_killed_worker_without_recovery_stops_with_clear_error(cluster, small_grid, ratings, monkeypatch):
    client, _ = cluster
    client.wait_for_workers(2, timeout=30)
    fitted = _dist(client, _arrays(ratings), ratings.shape, max_epochs=1)
    before = fitted.user_factors_.copy()
    fitted.set_params(max_epochs=4)
    killed = _kill_worker_before_epoch(monkeypatch, client, at_epoch=2)
    with warnings.catch_warnings(), pytest.raises(cmf.dask.WorkerLostError, match="max_recoveries"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        cmf.dask.fit(fitted, _arrays(ratings), client=client, shape=ratings.shape, n_tiles=N_TILES,
                     max_recoveries=0)
    assert killed
    # A failed fit leaves the fitted model as it was.
    np.testing.assert_array_equal(fitted.user_factors_, before)
    client.wait_for_workers(2, timeout=30)


def test_bad_input_raises_clear_errors(cluster, ratings):
    client, _ = cluster
    rows = ratings.rows.copy()
    rows[-1] = -3
    bad = (da.from_array(rows, chunks=20_000),) + _arrays(ratings)[1:]
    model = cmf.MatrixFactorization(n_factors=4, max_epochs=1)
    with pytest.raises(ValueError, match="row indices must be >= 0"):
        cmf.dask.fit(model, bad, client=client)
    assert not hasattr(model, "user_factors_")
    with pytest.raises(ValueError, match="outside shape"):
        cmf.dask.fit(model, _arrays(ratings), client=client, shape=(10, 10))
    with pytest.raises(TypeError, match="Dask DataFrame"):
        cmf.dask.fit(model, (ratings.rows, ratings.cols, ratings.values), client=client)
    with pytest.raises(ValueError, match="blocking"):
        cmf.dask.fit(cmf.MatrixFactorization(blocking=False), _arrays(ratings), client=client)
    with pytest.raises(TypeError, match="distributed.Client"):
        cmf.dask.fit(model, _arrays(ratings), client="tcp://nowhere:8786")


def test_movielens_file_read_by_workers(cluster, monkeypatch, movielens_path):
    """u.data (user, item, rating, timestamp; tabs) read on the workers: same fit as loaded locally."""
    client, _ = cluster
    monkeypatch.setattr(_blocks, "MAX_TILES", N_TILES)  # the local fit's tiles: those of n_tiles=N_TILES
    table = np.loadtxt(movielens_path, usecols=(0, 1, 2))
    rows, cols, values = table[:, 0].astype(np.int32), table[:, 1].astype(np.int32), table[:, 2]
    params = dict(n_factors=16, max_epochs=3, tol=0.0, random_state=5, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dist = cmf.dask.fit(cmf.MatrixFactorization(**params), [movielens_path], client=client, n_tiles=N_TILES)
        local = cmf.MatrixFactorization(**params).fit_triplets(rows, cols, values)
    _assert_same(dist, local)
    assert dist.distributed_["n_tiles"] == N_TILES
    assert dist.shape_ == (944, 1683)  # one-based ids: row and column 0 are empty


def test_the_rating_scale_and_the_duplicates_policy_of_a_distributed_fit(cluster, ratings):
    client, _ = cluster
    values = ratings.values.astype(np.float32)  # the model's dtype
    low, high = float(values.min()), float(values.max())
    assert _dist(client, _arrays(ratings), ratings.shape).rating_scale_ == (low, high)
    assert _dist(client, _arrays(ratings), ratings.shape, rating_scale=(low - 1, high + 1)).rating_scale_ == (
        low - 1, high + 1)
    with pytest.raises(ValueError, match=f"a rating of {high:g}, outside rating_scale="):
        _dist(client, _arrays(ratings), ratings.shape, rating_scale=(low - 1, high - 0.5))
    for policy in ("last", "mean", "error"):
        with pytest.raises(ValueError, match=f"duplicates='{policy}' cannot apply: use duplicates=None or 'keep'"):
            _dist(client, _arrays(ratings), ratings.shape, duplicates=policy)
