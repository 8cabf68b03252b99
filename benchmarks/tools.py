"""One fit per tool: cmf and the peers a user would otherwise pick.

Every ``fit_*`` function trains on a :class:`~workloads.Workload`, and
returns ``(fit_seconds, predictions on the test pairs)``. Data conversion
into each tool's own format is done before the clock starts; the clock
covers what the tool's fit call does (for cmf that includes partitioning
the ratings into blocks).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from workloads import Workload


def fit_cmf(w: Workload, n_threads: int = 1, blocking: object = "auto", dtype: str = "float32", seed: int = 0):
    import cmf

    model = cmf.MatrixFactorization(
        n_factors=w.n_factors, learning_rate=w.learning_rate, regularization=w.regularization,
        bias_regularization=w.regularization, max_epochs=w.n_epochs, tol=0.0, n_iter_no_change=w.n_epochs,
        init_std=0.1, biased=True, blocking=blocking, n_threads=n_threads, dtype=dtype, random_state=seed,
        # Every peer trains on each rating as given and predicts unclipped: the same here.
        duplicates="keep",
    )
    rows, cols, values = w.train
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(rows, cols, values, shape=w.shape)
    seconds = time.perf_counter() - start
    assert model.n_epochs_ == w.n_epochs
    fit_cmf.epoch_seconds = float(np.median(model.history_["seconds"]))  # type: ignore[attr-defined]
    return seconds, model.predict(w.test[0], w.test[1], clip=False).astype(np.float64)


def surprise_trainset(w: Workload):
    """Surprise's Trainset built directly from the arrays (what its loaders do), and the id maps.

    Returns ``(trainset, u_index, i_index)``: ``u_index[row]`` is the row's
    inner id in the Trainset, -1 for a row with no training rating.
    """
    from collections import defaultdict

    from surprise import Trainset

    rows, cols, values = w.train
    u_index, i_index = _dense_ids(rows, w.shape[0]), _dense_ids(cols, w.shape[1])
    ur, ir = defaultdict(list), defaultdict(list)
    for u, i, r in zip(u_index[rows].tolist(), i_index[cols].tolist(), values.tolist()):
        ur[u].append((i, r))
        ir[i].append((u, r))
    trainset = Trainset(ur, ir, len(ur), len(ir), len(values), (1, 5),
                        {u: u for u in range(len(ur))}, {i: i for i in range(len(ir))})
    return trainset, u_index, i_index


def predict_surprise(w: Workload, algo, trainset, u_index: np.ndarray, i_index: np.ndarray) -> np.ndarray:
    """A fitted Surprise SVD's unclipped predictions on the test pairs (as its ``estimate``)."""
    return _predict_mapped(w, trainset.global_mean, algo.bu, algo.bi, algo.pu, algo.qi, u_index, i_index)


def fit_surprise(w: Workload, seed: int = 0):
    """Surprise's SVD with the workload's hyperparameters."""
    from surprise import SVD

    trainset, u_index, i_index = surprise_trainset(w)
    algo = SVD(n_factors=w.n_factors, n_epochs=w.n_epochs, lr_all=w.learning_rate, reg_all=w.regularization,
               init_std_dev=0.1, biased=True, random_state=seed)
    start = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - start
    return seconds, predict_surprise(w, algo, trainset, u_index, i_index)


def _dense_ids(index: np.ndarray, n: int) -> np.ndarray:
    """Map each seen index to its rank among the seen ones, unseen ones to -1."""
    out = np.full(n, -1, np.int64)
    seen = np.flatnonzero(np.bincount(index, minlength=n))
    out[seen] = np.arange(len(seen))
    return out


def fit_cornac(w: Workload, n_threads: int = 1, seed: int = 0):
    from cornac.data import Dataset
    from cornac.models import MF

    rows, cols, values = w.train
    train_set = Dataset.from_uir(list(zip(rows.tolist(), cols.tolist(), values.tolist())), seed=seed)
    model = MF(k=w.n_factors, max_iter=w.n_epochs, learning_rate=w.learning_rate, lambda_reg=w.regularization,
               use_bias=True, early_stop=False, num_threads=n_threads, verbose=False, seed=seed)
    start = time.perf_counter()
    model.fit(train_set)
    seconds = time.perf_counter() - start
    uid, iid = train_set.uid_map, train_set.iid_map
    n_rows, n_cols = w.shape
    u_index = np.full(n_rows, -1, np.int64)
    i_index = np.full(n_cols, -1, np.int64)
    for raw, inner in uid.items():
        u_index[int(raw)] = inner
    for raw, inner in iid.items():
        i_index[int(raw)] = inner
    return seconds, _predict_mapped(w, model.global_mean, model.u_biases, model.i_biases, model.u_factors,
                                    model.i_factors, u_index, i_index)


def fit_libmf(w: Workload, n_threads: int = 1, **options):
    """The libmf PyPI bindings (LIBMF: AdaGrad, no biases, its own defaults unless given)."""
    from libmf import mf

    rows, cols, values = w.train
    X = np.column_stack([rows, cols, values]).astype(np.float32)
    model = mf.MF(k=w.n_factors, nr_iters=w.n_epochs, nr_threads=n_threads, quiet=True, **options)
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start
    pairs = np.column_stack([w.test[0], w.test[1]]).astype(np.float32)
    return seconds, np.asarray(model.predict(pairs), dtype=np.float64)


def _predict_mapped(w, mu, bu, bi, pu, qi, u_index, i_index):
    """mu + b_u + c_i + p_u . q_i, dropping the parts of an unseen row or column."""
    u = u_index[w.test[0]]
    i = i_index[w.test[1]]
    ku, ki = u >= 0, i >= 0
    pred = np.full(len(u), float(mu))
    pred[ku] += np.asarray(bu, np.float64)[u[ku]]
    pred[ki] += np.asarray(bi, np.float64)[i[ki]]
    both = ku & ki
    pred[both] += np.einsum("ij,ij->i", np.asarray(pu, np.float64)[u[both]], np.asarray(qi, np.float64)[i[both]])
    return pred


def cpu_model() -> str:
    """The CPU's model name as lscpu reports it (else /proc/cpuinfo, else the platform's)."""
    import platform
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """One line for a report: CPU model, logical CPUs and the load averages now."""
    import os

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")
