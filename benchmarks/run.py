"""Benchmark cmf against its peers on the workloads of BENCHMARKS.md, in one run.

    python benchmarks/run.py            # W1 and the full W2 (10M ratings), about 8 minutes
    python benchmarks/run.py --quick    # W1 and a 1M-rating W2, about 2 minutes

Each measurement runs in its own subprocess (benchmarks/worker.py), so the
peak memory reported is that tool's alone (its process, data included).
cmf runs exactly as installed, i.e. as its wheel builds it. The peers
(scikit-surprise, cornac, libmf) come from the ``bench`` extra; a peer that
is not installed is reported as missing and skipped. Timings on a shared
machine are noisy: cmf's fits are repeated (--repeats, median shown) and
every ratio is taken between figures from this same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_MODULES = {"surprise": "surprise", "cornac": "cornac", "libmf": "libmf"}


def run_worker(args: list[str], timeout: float) -> dict | None:
    """Run worker.py with ``args``; return its JSON result, or None on failure."""
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout:.0f} s: {' '.join(args)}", file=sys.stderr)
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"  failed: {' '.join(args)}: {' | '.join(tail)}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def measure(args: list[str], repeats: int, timeout: float) -> dict | None:
    """Median fit time over ``repeats`` processes; the largest peak RSS."""
    results = [r for r in (run_worker(args, timeout) for _ in range(repeats)) if r is not None]
    if not results:
        return None
    best = dict(results[0])
    best["fit_seconds"] = statistics.median(r["fit_seconds"] for r in results)
    best["ns_per_update"] = statistics.median(r["ns_per_update"] for r in results)
    best["epoch_ns_per_update"] = statistics.median(r["epoch_ns_per_update"] for r in results)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    best["repeats"] = len(results)
    return best


def label(r: dict) -> str:
    name = {"cmf-unblocked": "cmf (global shuffle)"}.get(r["tool"], r["tool"])
    extra = f" k={r['k']} {r['threads']}t"
    if r.get("data_generated_here"):
        extra += " +gen"
    return name + extra


def print_table(title: str, rows: list[dict], reference: dict | None) -> None:
    print(f"\n{title}")
    header = (f"{'run':34s} {'fit s':>8s} {'ns/upd':>8s} {'epoch ns':>8s} {'RMSE':>7s} {'peak MB':>8s} "
              f"{'cmf faster':>11s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = ""
        if reference is not None and not r["tool"].startswith("cmf"):
            ratio = f"{r['ns_per_update'] / reference['ns_per_update']:.1f}x"
        epoch = r.get("epoch_ns_per_update", float("nan"))
        epoch_text = "" if epoch != epoch else f"{epoch:.1f}"  # NaN for the peers
        print(f"{label(r):34s} {r['fit_seconds']:8.3f} {r['ns_per_update']:8.1f} {epoch_text:>8s} {r['rmse']:7.4f} "
              f"{r['peak_rss_mb']:8.0f} {ratio:>11s}")
    if reference is not None:
        print(f"(ns/upd = whole fit call / updates; epoch ns = cmf's median epoch alone / ratings;\n"
              f" cmf faster = peer ns/upd / ns/upd of {label(reference)}, both whole fit calls)")


def compare_seeds(rows: list[dict], n_seeds: int, with_surprise: bool, timeout: float) -> list[dict]:
    """W1 test RMSE of cmf and Surprise over seeds 0..n_seeds-1: one seed is one draw of a noisy figure.

    Both fit the same split with the same hyperparameters; the seed sets the
    initial factors (and cmf's visiting order). Prints the medians and
    returns the extra runs (seed 0 is taken from ``rows``).
    """
    runs = []
    tools = [("cmf", ["--tool", "cmf", "--workload", "W1"])]
    if with_surprise:
        tools.append(("surprise", ["--tool", "surprise", "--workload", "W1"]))
    medians = {}
    for name, args in tools:
        first = next((r for r in rows if r["tool"] == name and r["threads"] == 1), None)
        found = [first] if first is not None else []
        for seed in range(1 if found else 0, n_seeds):
            r = run_worker([*args, "--seed", str(seed)], timeout)
            if r is not None:
                found.append(r)
        runs += found[1:] if first is not None else found
        rmses = sorted(r["rmse"] for r in found)
        medians[name] = statistics.median(rmses)
        print(f"{name:<10} test RMSE over seeds 0-{n_seeds - 1}: median {medians[name]:.4f} "
              f"(min {rmses[0]:.4f}, max {rmses[-1]:.4f})")
    if "surprise" in medians:
        print(f"cmf - Surprise, medians: {medians['cmf'] - medians['surprise']:+.4f}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1M-rating W2 instead of 10M")
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--peers", default="surprise,cornac,libmf")
    parser.add_argument("--ks", default="16,32,64,128", help="n_factors of the extra cmf rows on W2")
    parser.add_argument("--threads", type=int, default=2, help="thread count of the parallel cmf rows")
    parser.add_argument("--repeats", type=int, default=3, help="processes per cmf measurement (median)")
    parser.add_argument("--w1-seeds", type=int, default=5,
                        help="seeds 0..N-1 for W1's RMSE comparison of cmf and Surprise (median)")
    parser.add_argument("--json", default=None, help="also write all results to this file")
    args = parser.parse_args()

    peers = []
    for name in [p for p in args.peers.split(",") if p]:
        if importlib.util.find_spec(PEER_MODULES[name]) is None:
            print(f"{name}: not installed (pip install 'cmf-sgd[bench]'); skipped", file=sys.stderr)
        else:
            peers.append(name)
    quick = ["--quick"] if args.quick else []
    timeout = 1200.0
    started = time.perf_counter()
    everything = []

    if "W1" in args.workloads:
        sys.path.insert(0, HERE)
        import workloads

        try:
            workloads.movielens_path()
        except FileNotFoundError as exc:
            print(f"W1 skipped: {exc}", file=sys.stderr)
            args.workloads = args.workloads.replace("W1", "")
    if "W1" in args.workloads:
        rows = []
        ref = measure(["--tool", "cmf", "--workload", "W1"], args.repeats, timeout)
        rows.append(ref)
        rows.append(measure(["--tool", "cmf", "--workload", "W1", "--threads", str(args.threads)], args.repeats, timeout))
        rows.append(measure(["--tool", "cmf-unblocked", "--workload", "W1"], args.repeats, timeout))
        for peer in peers:
            rows.append(measure(["--tool", peer, "--workload", "W1"], 1, timeout))
        rows = [r for r in rows if r is not None]
        print_table("W1: MovieLens 100K, 80/20 split, k=100, 20 epochs, lr 0.005, reg 0.02 "
                    "(libmf: its defaults); test RMSE, predictions clipped to [1, 5]", rows, ref)
        everything += rows
        if args.w1_seeds > 1:
            everything += compare_seeds(rows, args.w1_seeds, "surprise" in peers, timeout)

    if "W2" in args.workloads:
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, "w2.npz")
            print("\ngenerating W2 once for the per-tool processes ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-c",
                            f"import sys; sys.path.insert(0, {HERE!r}); import workloads; "
                            f"workloads.write_w2_cache({cache!r}, {bool(args.quick)})"], check=True, cwd=tmp)
            base = ["--workload", "W2", "--cache", cache, *quick]
            rows = []
            ref = measure(["--tool", "cmf", "--k", "64", *base], args.repeats, timeout)
            rows.append(ref)
            rows.append(measure(["--tool", "cmf", "--k", "64", "--threads", str(args.threads), *base],
                                args.repeats, timeout))
            for k in [int(k) for k in args.ks.split(",") if k and int(k) != 64]:
                rows.append(measure(["--tool", "cmf", "--k", str(k), *base], 1, timeout))
            # The whole process, data generation included (BENCHMARKS' memory figure).
            rows.append(measure(["--tool", "cmf", "--k", "64", "--workload", "W2", *quick], 1, timeout))
            for peer in peers:
                rows.append(measure(["--tool", peer, "--k", "64", *base], 1, timeout))
                if peer in ("libmf", "cornac"):
                    rows.append(measure(["--tool", peer, "--k", "64", "--threads", str(args.threads), *base],
                                        1, timeout))
            rows = [r for r in rows if r is not None]
            print_table(f"W2: synthetic {'1M (quick)' if args.quick else '10M'} ratings, 10 epochs, lr 0.005, "
                        "reg 0.02; RMSE on 100,000 training ratings", rows, ref)
            everything += rows

    print(f"\ntotal {time.perf_counter() - started:.0f} s; python {sys.version.split()[0]}; "
          f"cmf kernel variant: {_variant()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


def _variant() -> str:
    try:
        from cmf import _kernels

        return _kernels.simd_variant()
    except Exception:  # noqa: BLE001 - only informative
        return "unknown"


if __name__ == "__main__":
    main()
