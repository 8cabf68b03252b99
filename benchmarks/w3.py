"""W3: 100 million ratings, memory and time per update against W2 in the same run.

    python benchmarks/w3.py                   # W3 (2,000,000 x 200,000) and W2, 1 and 2 threads: 10-15 minutes
    python benchmarks/w3.py --trace           # also the peak memory of each step of the fit
    python benchmarks/w3.py --ratings 10000000 --rows 200000 --cols 50000   # a small trial of the machinery

The W3 data follow W2's model (BENCHMARKS.md: uniform rows, item
popularity proportional to 1 / (rank + 10) over a random ranking, distinct
cells in random order, value = 3.5 + b_u + c_i + p_u . q_i + noise with
W2's standard deviations, true rank 16, float32), generated a band of rows
at a time (:func:`generate`) so that nothing as large as the output is ever
allocated beside it: int32 rows and columns and float32 values, 12 bytes
per rating, plus the true factors. The shape is BENCHMARKS.md's 2,000,000 x
200,000 (50 ratings per user as W2, 500 per item against W2's 200);
``--cols 500000`` gives the issue's alternative, with W2's 200 per item.
The data are generated once into ``--cache-dir`` (default /tmp/cmf-w3) in
their own process and reused.

Each fit runs in a fresh process (so that its peak RSS, VmHWM, is its own)
that loads the arrays, then fits ``MatrixFactorization(n_factors=64,
max_epochs=3, random_state=0, n_threads=T)`` with every other parameter
at its default. Reported: the RSS with the arrays loaded, the peak, the
peak beyond the loaded input (what the fit itself needs; the target is at
most 3 GB), the whole fit's seconds, and ns per update of the median epoch
(``history_["seconds"]``), W3's against W2's (the real W2 of
``cmf.datasets.make_ratings``) at the same k, epochs and threads: linear
scaling means a ratio near 1. ``--trace`` samples the RSS every 2 ms and
prints the peak inside each step of the fit (duplicate check, statistics,
initial factors, partition into blocks, the epochs, publishing).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tools  # noqa: E402
import worker  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = float(1 << 20)


def generate(n_rows: int, n_cols: int, n_ratings: int, *, seed: int = 0, bands: int = 64,
             rank: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W2's model at any size, drawn a band of rows at a time.

    Each band of rows gets its multinomial share of the ratings; its cells
    are drawn (row uniform in the band, column by popularity), made distinct
    and sub-sampled to that share, so the temporaries are about one band's
    ratings. One seeded shuffle, applied alike to the row and the column
    array in place, puts the cells in random order; the values are then
    computed a chunk at a time.

    Returns
    -------
    rows, cols : ndarray of int32, values : ndarray of float32
    """
    if n_ratings > n_rows * n_cols // 2:
        raise ValueError("at most half the cells can be rated (the draws would repeat too often)")
    rng = np.random.default_rng(seed)
    weights = 1.0 / (rng.permutation(n_cols) + 10.0)
    cdf = np.cumsum(weights / weights.sum())
    cdf /= cdf[-1]
    bands = max(1, min(bands, n_rows))
    bounds = (np.arange(bands + 1, dtype=np.int64) * n_rows) // bands
    shares = rng.multinomial(n_ratings, np.diff(bounds) / n_rows)
    rows = np.empty(n_ratings, dtype=np.int32)
    cols = np.empty(n_ratings, dtype=np.int32)
    pos = 0
    for lo, hi, need in zip(bounds[:-1], bounds[1:], shares):
        codes = np.empty(0, dtype=np.int64)
        while len(codes) < need:  # a little more than is missing: some cells repeat
            want = int((need - len(codes)) * 1.1) + 16
            drawn = rng.integers(lo, hi, size=want, dtype=np.int64) * n_cols
            drawn += cdf.searchsorted(rng.random(want), side="right")
            codes = np.unique(np.concatenate([codes, drawn]))
        codes = codes[rng.choice(len(codes), size=need, replace=False)]
        rows[pos:pos + need], cols[pos:pos + need] = np.divmod(codes, n_cols)
        pos += need
    # Equal seeds give equal permutations of equal-length arrays: no index array needed.
    order_seed = int(rng.integers(2**63))
    np.random.default_rng(order_seed).shuffle(rows)
    np.random.default_rng(order_seed).shuffle(cols)

    b = rng.normal(0.0, 0.3, n_rows).astype(np.float32)
    c = rng.normal(0.0, 0.3, n_cols).astype(np.float32)
    P = rng.normal(0.0, 0.447, (n_rows, rank)).astype(np.float32)
    Q = rng.normal(0.0, 0.447, (n_cols, rank)).astype(np.float32)
    values = np.empty(n_ratings, dtype=np.float32)
    step = 1 << 18
    for start in range(0, n_ratings, step):
        r, k = rows[start:start + step], cols[start:start + step]
        dot = np.einsum("ij,ij->i", P[r], Q[k], dtype=np.float64)
        values[start:start + step] = 3.5 + b[r] + c[k] + dot + rng.normal(0.0, 0.5, len(r))
    return rows, cols, values


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / MB


class RssSampler:
    """A thread that samples the RSS every ``interval`` seconds and keeps the maximum since :meth:`mark`."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.peak, self._stop = interval, rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def mark(self) -> float:
        """Restart the maximum from now; returns the previous maximum."""
        previous, self.peak = self.peak, rss_mb()
        return previous

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# The steps of a fit whose peaks --trace reports: (module, attribute) of the
# names the fit calls through, wrapped where found (absent ones are skipped).
TRACED = (
    ("cmf.model", "check_scale"), ("cmf.model", "resolve_duplicates"),
    ("cmf._train.loop", "check_fit_memory"), ("cmf._train.epochs", "measure"),
    ("cmf._train.loop", "initial_factors"), ("cmf._train.loop", "pad_factors"),
    ("cmf._train.loop", "adagrad_state"), ("cmf._train.blocks", "partition"),
    ("cmf._train.loop", "_Loop.run"), ("cmf._train.loop", "unpad_factors"),
    ("cmf.model", "MatrixFactorization._store"),
)


def trace_steps(sampler: RssSampler, steps: list[dict]) -> None:
    """Wrap the TRACED functions to record RSS before and after, and the peak inside, into ``steps``."""
    for module_name, attr in TRACED:
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not callable(getattr(owner, name, None)):
            continue
        inner = owner.__dict__.get(name, getattr(owner, name))
        is_static = isinstance(inner, staticmethod)
        func = inner.__func__ if is_static else inner

        def wrapped(*args, __func=func, __label=f"{module_name}.{attr}", **kwargs):
            before = rss_mb()
            outer = sampler.mark()
            start = time.perf_counter()
            try:
                return __func(*args, **kwargs)
            finally:
                inside = max(sampler.peak, rss_mb())
                steps.append({"step": __label, "seconds": time.perf_counter() - start, "rss_before_mb": before,
                              "peak_mb": inside, "rss_after_mb": rss_mb()})
                sampler.peak = max(outer, inside)

        functools.update_wrapper(wrapped, func)
        setattr(owner, name, staticmethod(wrapped) if is_static else wrapped)


def fit_process(directory: str, k: int, epochs: int, threads: int, trace: bool) -> dict:
    """Load the arrays from ``directory``, fit, and measure (runs in its own process)."""
    import cmf

    base = rss_mb()
    rows, cols, values = (np.load(os.path.join(directory, f"{n}.npy")) for n in ("rows", "cols", "values"))
    with open(os.path.join(directory, "shape.json")) as fh:
        shape = tuple(json.load(fh))
    loaded = rss_mb()
    sampler, steps = RssSampler(), []
    if trace:
        trace_steps(sampler, steps)
    model = cmf.MatrixFactorization(n_factors=k, max_epochs=epochs, random_state=0, n_threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        start = time.perf_counter()
        model.fit_triplets(rows, cols, values, shape=shape)
        seconds = time.perf_counter() - start
    sampler.close()
    n = len(values)
    peak = worker.peak_rss_mb()
    return {
        "n": n, "shape": shape, "k": k, "threads": threads, "epochs": model.n_epochs_,
        "input_mb": (rows.nbytes + cols.nbytes + values.nbytes) / MB, "rss_imports_mb": base,
        "rss_loaded_mb": loaded, "peak_mb": peak, "beyond_input_mb": peak - loaded,
        "fit_seconds": seconds, "fit_ns": seconds / (n * model.n_epochs_) * 1e9,
        "epoch_ns": statistics.median(model.history_["seconds"]) / n * 1e9,
        "epoch_seconds": [float(s) for s in model.history_["seconds"]],
        "train_rmse": float(model.history_["train_rmse"][-1]), "steps": steps,
        "estimate_mb": cmf._memory.fit_memory(shape[0], shape[1], n, k, 4, blocked=True) / MB,
    }


def write_data(directory: str, kind: str, n_rows: int, n_cols: int, n_ratings: int) -> dict:
    """Generate a data set into ``directory`` (runs in its own process); its time and peak memory."""
    start = time.perf_counter()
    if kind == "w2":
        from cmf.datasets import make_ratings

        rows, cols, values, shape = make_ratings()
    else:
        rows, cols, values = generate(n_rows, n_cols, n_ratings)
        shape = (n_rows, n_cols)
    os.makedirs(directory, exist_ok=True)
    for name, arr in (("rows", rows), ("cols", cols), ("values", values)):
        np.save(os.path.join(directory, f"{name}.npy"), arr)
    with open(os.path.join(directory, "shape.json"), "w") as fh:
        json.dump(list(shape), fh)
    return {"seconds": time.perf_counter() - start, "peak_mb": worker.peak_rss_mb(),
            "arrays_mb": (rows.nbytes + cols.nbytes + values.nbytes) / MB}


def run_self(args: list[str]) -> dict:
    """This script in a fresh process; its last line of output as JSON."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cols", type=int, default=200_000)
    parser.add_argument("--ratings", type=int, default=100_000_000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--cache-dir", default="/tmp/cmf-w3")
    parser.add_argument("--no-w2", action="store_true", help="skip the W2 fits")
    parser.add_argument("--repeats", type=int, default=1, help="fits per set and thread count (medians shown)")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--_generate", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--_fit", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._generate:
        print(json.dumps(write_data(args._generate[1], args._generate[0], args.rows, args.cols, args.ratings)))
        return
    if args._fit:
        print(json.dumps(fit_process(args._fit, args.k, args.epochs, int(args.threads), args.trace)))
        return

    print(tools.machine_line())
    sets = [("W3", os.path.join(args.cache_dir, f"w3-{args.rows}x{args.cols}-{args.ratings}"), "w3")]
    if not args.no_w2:
        sets.append(("W2", os.path.join(args.cache_dir, "w2"), "w2"))
    for name, directory, kind in sets:
        if os.path.exists(os.path.join(directory, "shape.json")):
            print(f"{name}: data from {directory}")
            continue
        gen = run_self(["--_generate", kind, directory, "--rows", str(args.rows), "--cols", str(args.cols),
                        "--ratings", str(args.ratings)])
        print(f"{name}: generated in {gen['seconds']:.0f} s, peak RSS {gen['peak_mb']:.0f} MB for "
              f"{gen['arrays_mb']:.0f} MB of arrays, into {directory}")
    runs: dict = {}
    for _ in range(args.repeats):  # interleaved, so that a busy spell hits both sets
        for threads in (int(t) for t in args.threads.split(",")):
            for name, directory, _ in sets:
                extra = ["--trace"] if args.trace else []
                r = run_self(["--_fit", directory, "--k", str(args.k), "--epochs", str(args.epochs),
                              "--threads", str(threads), *extra])
                runs.setdefault((name, threads), []).append(r)
                print(f"  {name} {threads} thread(s): {r['fit_seconds']:.1f} s, epoch {r['epoch_ns']:.1f} ns/update, "
                      f"peak {r['peak_mb']:.0f} MB", flush=True)
    print_report({key: median_run(rs) for key, rs in runs.items()}, args)


def median_run(runs: list[dict]) -> dict:
    """The first run's figures with the median seconds and ns of all, the largest peaks."""
    out = dict(runs[0])
    for key in ("fit_seconds", "fit_ns", "epoch_ns"):
        out[key] = statistics.median(r[key] for r in runs)
    for key in ("peak_mb", "beyond_input_mb"):
        out[key] = max(r[key] for r in runs)
    out["repeats"] = len(runs)
    return out


def print_report(results: dict, args: argparse.Namespace) -> None:
    print(f"\nk={args.k}, {args.epochs} epochs, every other parameter cmf's default; float32; "
          f"medians of {args.repeats} process(es)")
    header = (f"{'set':4s} {'ratings':>12s} {'thr':>3s} {'input MB':>8s} {'loaded':>7s} {'peak MB':>8s} "
              f"{'beyond':>7s} {'estimate':>8s} {'fit s':>7s} {'fit ns':>7s} {'epoch ns':>8s} {'vs W2':>6s}")
    print(header)
    print("-" * len(header))
    for (name, threads), r in results.items():
        w2 = results.get(("W2", threads))
        ratio = f"{r['epoch_ns'] / w2['epoch_ns']:.2f}" if w2 is not None and name != "W2" else ""
        print(f"{name:4s} {r['n']:12,d} {threads:3d} {r['input_mb']:8.0f} {r['rss_loaded_mb']:7.0f} "
              f"{r['peak_mb']:8.0f} {r['beyond_input_mb']:7.0f} {r['estimate_mb']:8.0f} {r['fit_seconds']:7.1f} "
              f"{r['fit_ns']:7.1f} {r['epoch_ns']:8.1f} {ratio:>6s}")
    print("loaded: RSS with the interpreter, cmf and the arrays loaded; beyond: peak minus loaded; estimate: "
          "cmf._memory.fit_memory's figure; fit ns: the whole fit per update; epoch ns: the median epoch's")
    for (name, threads), r in results.items():
        if r["steps"]:
            print(f"\n{name}, {threads} thread(s): steps of the fit (MB of RSS; peak sampled every 2 ms)")
            for s in r["steps"]:
                print(f"  {s['step']:45s} {s['seconds']:7.2f} s  before {s['rss_before_mb']:7.0f}  "
                      f"peak {s['peak_mb']:7.0f}  after {s['rss_after_mb']:7.0f}")
    print(f"\n{tools.machine_line()}")


if __name__ == "__main__":
    main()
