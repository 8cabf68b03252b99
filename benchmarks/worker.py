"""Run one tool on one workload in this process and print one JSON line.

Called by run.py in a fresh subprocess per measurement, so that the peak
resident memory it reports belongs to that tool alone (the data loading is
included, as for a user's script).

    python benchmarks/worker.py --tool cmf --workload W2 --k 64 --threads 1 [--cache w2.npz] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tools  # noqa: E402
import workloads  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (VmHWM on Linux, else getrusage)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", required=True, choices=["cmf", "cmf-unblocked", "surprise", "cornac", "libmf"])
    parser.add_argument("--workload", required=True, choices=["W1", "W2"])
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--cache", default=None, help="W2 data written by run.py (generated here when absent)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="random_state of cmf, Surprise and cornac")
    args = parser.parse_args()

    w = workloads.w1() if args.workload == "W1" else workloads.w2(args.cache, args.quick)
    if args.k is not None:
        w.n_factors = args.k
    if args.epochs is not None:
        w.n_epochs = args.epochs
    if args.tool == "cmf":
        seconds, pred = tools.fit_cmf(w, n_threads=args.threads, seed=args.seed)
    elif args.tool == "cmf-unblocked":
        seconds, pred = tools.fit_cmf(w, n_threads=1, blocking=False, seed=args.seed)
    elif args.tool == "surprise":
        seconds, pred = tools.fit_surprise(w, seed=args.seed)
    elif args.tool == "cornac":
        seconds, pred = tools.fit_cornac(w, n_threads=args.threads, seed=args.seed)
    else:
        # LIBMF's own step size and AdaGrad, no L1; L2 0.1 (its CLI default)
        # on W1, the workload's 0.02 on W2.
        l2 = 0.1 if w.name == "W1" else w.regularization
        options = {"lambda_p1": 0.0, "lambda_q1": 0.0, "lambda_p2": l2, "lambda_q2": l2}
        seconds, pred = tools.fit_libmf(w, n_threads=args.threads, **options)
    if w.clip is not None:
        pred = np.clip(pred, *w.clip)
    truth = w.test[2].astype(np.float64)
    n_updates = w.n_epochs * len(w.train[2])
    print(json.dumps({
        "tool": args.tool, "workload": w.name, "k": w.n_factors, "threads": args.threads, "epochs": w.n_epochs,
        "seed": args.seed,
        "n_train": int(len(w.train[2])), "fit_seconds": seconds, "ns_per_update": seconds / n_updates * 1e9,
        "rmse": float(np.sqrt(np.mean((pred - truth) ** 2))), "peak_rss_mb": peak_rss_mb(),
        "data_generated_here": w.name == "W2" and args.cache is None,
        # cmf only: the median epoch alone, without the one-off setup
        # (validation, initial factors, partition into blocks).
        "epoch_ns_per_update": (getattr(tools.fit_cmf, "epoch_seconds", float("nan")) / len(w.train[2]) * 1e9
                                if args.tool.startswith("cmf") else float("nan")),
    }))


if __name__ == "__main__":
    main()
