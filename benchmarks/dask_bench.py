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
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (local fit, dask fit); median shown")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster, get_task_stream

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

    n_threads = args.workers * args.threads_per_worker
    runs = []
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(
        n_workers=args.workers, threads_per_worker=args.threads_per_worker, processes=True,
        dashboard_address=None, local_directory=tmp,
    ) as cluster, Client(cluster) as client:
        # The ratings as Dask arrays whose chunks are already on the workers
        # (as after dd.read_parquet), not embedded in the task graph.
        arrays = tuple(_scattered_array(client, da, a, args.chunk) for a in (data.rows, data.cols, data.values))
        # The machine is shared: alternate the two fits so that both see the
        # same load, and report the median over the repeats.
        for repeat in range(args.repeats):
            runs.append(_one_round(client, arrays, data, params, n_threads, args.n_tiles, epochs, get_task_stream))
            r = runs[-1]
            print(f"round {repeat + 1}: local {r['local_seconds_per_epoch']:.3f} s/epoch, dask "
                  f"{r['dask_seconds_per_epoch']:.3f} s/epoch (ratio {r['overhead_ratio']:.2f}), kernel "
                  f"{r['kernel_seconds_per_epoch']:.3f} s/epoch over the workers, critical path "
                  f"{r['critical_path_seconds_per_epoch']:.3f}, setup {r['dask_setup_seconds']:.1f} s", flush=True)

    result = {
        "ratings": n, "shape": list(data.shape), "n_factors": args.factors, "epochs": epochs,
        "workers": args.workers, "local_threads": n_threads, "repeats": args.repeats,
    }
    for key in runs[0]:
        if isinstance(runs[0][key], (int, float)):
            result[key] = statistics.median(r[key] for r in runs)
    result["rounds"] = runs
    print(f"median over {len(runs)} round(s):")
    print(f"  local ({n_threads} threads): {result['local_seconds_per_epoch']:.3f} s/epoch")
    print(f"  dask ({args.workers} workers, {runs[0]['n_tiles']}x{runs[0]['n_tiles']} tiles): "
          f"{result['dask_seconds_per_epoch']:.3f} s/epoch, setup (read, check, tile) "
          f"{result['dask_setup_seconds']:.1f} s")
    print(f"  overhead ratio (dask / local per epoch): {result['overhead_ratio']:.2f}")
    print(f"  C kernel inside the tasks: {result['kernel_seconds_per_epoch']:.3f} s/epoch summed over workers; "
          f"critical path (slowest tile of each stratum) {result['critical_path_seconds_per_epoch']:.3f} s/epoch")
    print(f"  factor slabs moved between workers: {_mb(result['slab_bytes_moved_per_epoch'])}/epoch; model "
          f"collected on the client: {_mb(result['model_bytes_gathered_per_epoch'])}/epoch")
    print(f"  once per fit: model sent {_mb(result['scattered_bytes'])}, rating tiles {_mb(result['tile_bytes'])} "
          f"(built on the workers); bytes the workers sent per fit (Dask's count, tiling included): "
          f"{_mb(result['dask_bytes_sent_total'])}")
    print(f"  largest worker's peak memory (its ratings, tiles and slabs): {_mb(result['worker_peak_rss_bytes'])}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


def _one_round(client, arrays, data, params: dict, n_threads: int, n_tiles: int | None, epochs: int,
               get_task_stream) -> dict:
    """One local threaded fit and one distributed fit; their figures."""
    import cmf
    import cmf.dask

    started = time.perf_counter()
    local = cmf.MatrixFactorization(n_threads=n_threads, **params).fit_triplets(
        data.rows, data.cols, data.values, shape=data.shape)
    local_total = time.perf_counter() - started
    # Mean over the epochs: the distributed fit overlaps an epoch with the
    # next, so only the total over all epochs is a fair per-epoch figure.
    local_epoch = statistics.fmean(local.history_["seconds"])

    sent_before = sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())
    started = time.perf_counter()
    with get_task_stream(client) as stream:
        model = cmf.MatrixFactorization(**params)
        cmf.dask.fit(model, arrays, client=client, shape=data.shape, n_tiles=n_tiles)
    dist_total = time.perf_counter() - started
    sent_after = sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())
    worker_peak = max(client.run(_peak_rss_bytes).values())
    info = model.distributed_
    dist_epoch = statistics.fmean(model.history_["seconds"])
    tasks = [t for t in stream.data if isinstance(t["key"], str) and t["key"].startswith("cmf-dsgd-")]
    kernel, critical = _kernel_times(tasks, epochs)
    return {
        "n_tiles": info["n_tiles"],
        "local_seconds_per_epoch": local_epoch,
        "local_fit_seconds": local_total,
        "dask_seconds_per_epoch": dist_epoch,
        "dask_fit_seconds": dist_total,
        "dask_setup_seconds": dist_total - sum(model.history_["seconds"]),
        "overhead_ratio": dist_epoch / local_epoch,
        "kernel_seconds_per_epoch": kernel,
        "critical_path_seconds_per_epoch": critical,
        "slab_bytes_moved_per_epoch": statistics.median(info["moved_bytes"]),
        "model_bytes_gathered_per_epoch": statistics.median(info["gathered_bytes"]),
        "scattered_bytes": info["scattered_bytes"],
        "tile_bytes": info["tile_bytes"],
        "dask_bytes_sent_total": sent_after - sent_before,
        "worker_peak_rss_bytes": worker_peak,
        "local_final_train_rmse": local.history_["train_rmse"][-1],
        "dask_final_train_rmse": model.history_["train_rmse"][-1],
    }


def _peak_rss_bytes() -> int:
    """Peak resident memory of the calling (worker) process so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


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
