"""Distributed fit (cmf.dask) on a LocalCluster against the local threaded fit.

    python benchmarks/dask_bench.py            # W2: 10M ratings, k=64, 2 workers, 5 epochs
    python benchmarks/dask_bench.py --quick    # 1M ratings, 3 epochs (about a minute)

Both fits run the same number of epochs (tol=0) on the synthetic set of
cmf.datasets.make_ratings (its defaults are W2). The local fit uses all the
cluster's cores as threads (n_threads = workers x threads per worker) and
its own grid; the distributed fit uses one tile row per worker (n_tiles =
workers). Reported: seconds per epoch (mean over the epochs), the overhead ratio
(distributed / local), the time spent in the C kernel inside the tasks
(from Dask's task stream) and its critical path (the slowest tile of each
stratum, summed), and the bytes moved per epoch: factor slabs between
workers (cmf's own count, from where every slab is and where each task
runs), the model collected on the client, and Dask's own count of bytes
sent by the workers (worker.transfer_outgoing_bytes_total) as a check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M ratings (20,000 x 5,000), 3 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fit (5, or 3 with --quick)")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--n-tiles", type=int, default=None, help="tiles per side (default: workers)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="ratings per Dask array chunk")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster, get_task_stream

    import cmf
    import cmf.dask
    from cmf.datasets import make_ratings
    from cmf.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    epochs = args.epochs or (3 if args.quick else 5)
    if args.quick:
        data = make_ratings(20_000, 5_000, 1_000_000)
    else:
        data = make_ratings()
    n = len(data.values)
    params = dict(n_factors=args.factors, max_epochs=epochs, tol=0.0, random_state=0)
    print(f"{n:,} ratings, shape {data.shape}, k={args.factors}, {epochs} epochs, "
          f"{args.workers} workers x {args.threads_per_worker} thread(s)", flush=True)

    # Local threaded fit, as many threads as the cluster has.
    n_threads = args.workers * args.threads_per_worker
    started = time.perf_counter()
    local = cmf.MatrixFactorization(n_threads=n_threads, **params).fit_triplets(
        data.rows, data.cols, data.values, shape=data.shape)
    local_total = time.perf_counter() - started
    # Mean over the epochs: the distributed fit overlaps an epoch with the
    # next, so only the total over all epochs is a fair per-epoch figure.
    local_epoch = statistics.fmean(local.history_["seconds"])
    print(f"local ({n_threads} threads): {local_epoch:.3f} s/epoch, fit {local_total:.1f} s, "
          f"final train RMSE {local.history_['train_rmse'][-1]:.4f}", flush=True)

    with tempfile.TemporaryDirectory() as tmp, LocalCluster(
        n_workers=args.workers, threads_per_worker=args.threads_per_worker, processes=True,
        dashboard_address=None, local_directory=tmp,
    ) as cluster, Client(cluster) as client:
        # The ratings as Dask arrays whose chunks are already on the workers
        # (as after dd.read_parquet), not embedded in the task graph.
        arrays = tuple(_scattered_array(client, da, a, args.chunk) for a in (data.rows, data.cols, data.values))
        sent_before = sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())
        started = time.perf_counter()
        with get_task_stream(client) as stream:
            model = cmf.MatrixFactorization(**params)
            cmf.dask.fit(model, arrays, client=client, shape=data.shape, n_tiles=args.n_tiles)
        dist_total = time.perf_counter() - started
        sent_after = sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())

    info = model.distributed_
    dist_epoch = statistics.fmean(model.history_["seconds"])
    tasks = [t for t in stream.data if isinstance(t["key"], str) and t["key"].startswith("cmf-dsgd-")]
    kernel, critical = _kernel_times(tasks, epochs)
    setup = dist_total - sum(model.history_["seconds"])
    result = {
        "ratings": n,
        "shape": list(data.shape),
        "n_factors": args.factors,
        "epochs": epochs,
        "workers": args.workers,
        "n_tiles": info["n_tiles"],
        "local_threads": n_threads,
        "local_seconds_per_epoch": local_epoch,
        "local_fit_seconds": local_total,
        "dask_seconds_per_epoch": dist_epoch,
        "dask_fit_seconds": dist_total,
        "dask_setup_seconds": setup,
        "overhead_ratio": dist_epoch / local_epoch,
        "kernel_seconds_per_epoch": kernel,
        "critical_path_seconds_per_epoch": critical,
        "slab_bytes_moved_per_epoch": statistics.median(info["moved_bytes"]),
        "model_bytes_gathered_per_epoch": statistics.median(info["gathered_bytes"]),
        "scattered_bytes": info["scattered_bytes"],
        "tile_bytes": info["tile_bytes"],
        "dask_bytes_sent_total": sent_after - sent_before,
        "same_train_rmse_digits": [local.history_["train_rmse"][-1], model.history_["train_rmse"][-1]],
    }
    print(f"dask ({args.workers} workers, {info['n_tiles']}x{info['n_tiles']} tiles): {dist_epoch:.3f} s/epoch, "
          f"fit {dist_total:.1f} s (setup {setup:.1f} s), final train RMSE {model.history_['train_rmse'][-1]:.4f}")
    print(f"  overhead ratio (dask / local per epoch): {dist_epoch / local_epoch:.2f}")
    print(f"  C kernel inside the tasks: {kernel:.3f} s/epoch summed over workers; critical path "
          f"(slowest tile of each stratum) {critical:.3f} s/epoch")
    print(f"  factor slabs moved between workers: {_mb(result['slab_bytes_moved_per_epoch'])}/epoch; model "
          f"collected on the client: {_mb(result['model_bytes_gathered_per_epoch'])}/epoch")
    print(f"  once: model sent {_mb(info['scattered_bytes'])}, rating tiles {_mb(info['tile_bytes'])} "
          f"(built on the workers); all bytes the workers sent (Dask's count, whole fit incl. tiling): "
          f"{_mb(result['dask_bytes_sent_total'])}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


def _scattered_array(client, da, a: np.ndarray, chunk: int):
    """A Dask array of ``a`` whose chunks are scattered to the workers."""
    pieces = [a[i:i + chunk] for i in range(0, len(a), chunk)]
    futures = client.scatter(pieces)
    return da.concatenate([da.from_delayed(f, shape=p.shape, dtype=p.dtype) for f, p in zip(futures, pieces)])


def _kernel_times(tasks: list[dict], epochs: int) -> tuple[float, float]:
    """Summed task compute time per epoch, and the sum over strata of the slowest tile."""
    by_stratum: dict[tuple[str, str], list[float]] = {}
    total = 0.0
    for t in tasks:
        compute = [s for s in t["startstops"] if s["action"] == "compute"]
        seconds = sum(s["stop"] - s["start"] for s in compute)
        total += seconds
        parts = t["key"].split("-")  # cmf-dsgd-e{epoch}-s{stratum}-t{tile}-...
        by_stratum.setdefault((parts[2], parts[3]), []).append(seconds)
    critical = sum(max(v) for v in by_stratum.values())
    return total / epochs, critical / epochs


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
