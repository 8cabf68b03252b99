"""Ctrl-C during a distributed fit is taken while the client waits for a stratum, not after the epoch.

One epoch here takes several seconds on the workers (a dense 2048 x 2048
square at k = 2048, two tiles per side), so a client that looked for
Ctrl-C only between epochs would answer seconds late. The bound is
generous for noisy machines; the measured time is printed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="cmf.dask needs dask[distributed] (pip install cmf-sgd[dask])")
da = pytest.importorskip("dask.array", reason="cmf.dask needs dask[distributed] (pip install cmf-sgd[dask])")

import cmf  # noqa: E402
import cmf.dask  # noqa: E402
from cmf import _dask_epochs  # noqa: E402

BOUND = 2.0  # seconds from SIGINT to KeyboardInterrupt
DELAY = 0.5  # seconds into the first epoch when SIGINT is sent
SIDE = 2048


@pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                    reason="the test runner replaced the SIGINT handler")
def test_ctrl_c_stops_a_distributed_fit_inside_an_epoch(tmp_path, monkeypatch):
    rows = np.repeat(np.arange(SIDE, dtype=np.int32), SIDE)
    cols = np.tile(np.arange(SIDE, dtype=np.int32), SIDE)
    values = np.sin(rows * 0.01) + np.cos(cols * 0.03)
    sent: list[float] = []
    real_run = _dask_epochs._EpochRunner.run

    def run(runner, epoch, *rates):
        if not sent:
            sent.append(0.0)
            threading.Timer(DELAY, lambda: (sent.__setitem__(0, time.perf_counter()),
                                            os.kill(os.getpid(), signal.SIGINT))).start()
        return real_run(runner, epoch, *rates)

    monkeypatch.setattr(_dask_epochs._EpochRunner, "run", run)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       local_directory=str(tmp_path))
    client = distributed.Client(cluster)
    try:
        model = cmf.MatrixFactorization(n_factors=2048, learning_rate=0.001, max_epochs=3, tol=0.0, random_state=0)
        data = tuple(da.from_array(a, chunks=SIDE * SIDE // 4) for a in (rows, cols, values))
        with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
            warnings.simplefilter("ignore")
            cmf.dask.fit(model, data, client=client, shape=(SIDE, SIDE), n_tiles=2)
        latency = time.perf_counter() - sent[0]
    finally:
        client.close()
        cluster.close()
    print(f"distributed fit: KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert latency < BOUND
    # Interrupted in the first epoch: nothing was fitted.
    assert not hasattr(model, "n_epochs_")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
