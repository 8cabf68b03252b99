"""Reading a rating file: cmf.io.load_ratings against pandas, in the same run.

    python benchmarks/io_bench.py                  # 10M-line u.data-style file, 3 repeats
    python benchmarks/io_bench.py --lines 2000000  # a quicker run
    python benchmarks/io_bench.py --movielens-25m  # also a 25M-line ratings.csv shape (bounded memory)
    python benchmarks/io_bench.py --train          # also `cmf train FILE --factors 64 --epochs 10 --quiet`

The file is written once into a temporary folder (seeded; Zipf-skewed user
and item ids, each (user, item) pair once as in real rating files,
ratings 1-5, timestamps). Each measurement runs in a fresh
subprocess, which imports its library first and then reads the file, so the
seconds are the read alone and the peak resident memory (VmHWM) is that
process's own. pandas reads with ``read_csv(engine="c")`` and factorizes
both id columns (``factorize(sort=True)``: the same sorted label order as
cmf). cmf is measured twice: as is (it keeps the timestamp column) and with
``columns=(0, 1, 2)`` (the ratings alone, the shape of the issue's target:
peak at most 3x the final int32 rows, int32 columns, float32 values and
labels). Reported: median seconds, peak RSS, peak above the interpreter
after its imports, the final arrays, and the ratios. Not a timed test: run
it by hand and read the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, and the core count."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else 'unknown CPU'} ({os.cpu_count()} logical CPUs)"


def _memory() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _distinct_pairs(rng: np.random.Generator, n: int, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct (user, item) pairs, 1-based, with skewed user activity and item popularity.

    As in real rating files, a user rates an item once: pairs are drawn from
    power-law marginals, repeats are dropped and more are drawn until ``n``
    remain, in random order.
    """
    user_p = 1.0 / np.arange(1, n_users + 1) ** 0.6
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    user_p, item_p = user_p / user_p.sum(), item_p / item_p.sum()
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n:
        m = int((n - len(keys)) * 1.3) + 1000
        drawn = rng.choice(n_users, m, p=user_p).astype(np.int64) * n_items + rng.choice(n_items, m, p=item_p)
        keys = np.unique(np.concatenate([keys, drawn]))
    keys = rng.permutation(keys)[:n]
    # Ids are shuffled so that the busiest users are not simply the smallest numbers.
    user_ids = rng.permutation(n_users) + 1
    item_ids = rng.permutation(n_items) + 1
    return user_ids[keys // n_items], item_ids[keys % n_items]


def write_file(path: str, n: int, *, csv: bool, seed: int = 0) -> None:
    """A u.data-style (tab, no header) or ratings.csv-style (comma, header, half stars) file, each pair once."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    users, items = _distinct_pairs(rng, n, 200_000, 60_000)
    step = 2_000_000
    with open(path, "w", encoding="ascii", newline="\n") as f:
        if csv:
            f.write("userId,movieId,rating,timestamp\n")
        for start in range(0, n, step):
            m = min(step, n - start)
            ratings = rng.integers(1, 11, m) / 2 if csv else rng.integers(1, 6, m)
            stamps = rng.integers(789_652_009, 1_574_327_703, m)
            frame = pd.DataFrame({"u": users[start:start + m], "i": items[start:start + m], "r": ratings, "t": stamps})
            frame.to_csv(f, sep="," if csv else "\t", header=False, index=False)


def worker(reader: str, path: str) -> dict[str, float]:
    """Read ``path`` with ``reader`` in this process; seconds and memory."""
    if reader.startswith("cmf"):
        from cmf.io import load_ratings
    else:
        import pandas as pd
    before = _memory()
    start = time.perf_counter()
    if reader.startswith("cmf"):
        data = load_ratings(path, columns=(0, 1, 2) if reader == "cmf-3col" else None)
        arrays = [data.rows, data.cols, data.values, data.user_labels.labels, data.item_labels.labels]
        if data.timestamps is not None:
            arrays.append(data.timestamps)
        n = len(data)
    else:
        csv = path.endswith(".csv")
        frame = pd.read_csv(path, sep="," if csv else "\t", header=0 if csv else None,
                            names=["user", "item", "rating", "timestamp"], engine="c")
        rows, users = pd.factorize(frame["user"], sort=True)
        cols, items = pd.factorize(frame["item"], sort=True)
        arrays = [rows, cols, frame["rating"].to_numpy(), users.to_numpy(), items.to_numpy(),
                  frame["timestamp"].to_numpy()]
        n = len(rows)
    seconds = time.perf_counter() - start
    after = _memory()
    return {"seconds": seconds, "peak_mb": after["VmHWM"], "base_mb": before["VmRSS"],
            "final_mb": sum(a.nbytes for a in arrays) / 2**20, "n": n}


def run_worker(reader: str, path: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-P", __file__, "--worker", reader, path], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def measure(path: str, readers: list[str], repeats: int) -> dict[str, dict[str, float]]:
    results = {}
    for reader in readers:
        runs = [run_worker(reader, path) for _ in range(repeats)]
        results[reader] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        r = results[reader]
        print(f"  {reader:9s} {r['seconds']:7.2f} s   peak {r['peak_mb']:7.0f} MB   above imports "
              f"{r['peak_mb'] - r['base_mb']:7.0f} MB   final arrays {r['final_mb']:6.0f} MB   "
              f"peak/final {(r['peak_mb'] - r['base_mb']) / r['final_mb']:4.2f}", flush=True)
    if "pandas" in results:
        for reader in (r for r in readers if r != "pandas"):
            a, b = results[reader], results["pandas"]
            print(f"  {reader} / pandas: time {a['seconds'] / b['seconds']:.2f}x, "
                  f"peak above imports {(a['peak_mb'] - a['base_mb']) / (b['peak_mb'] - b['base_mb']):.2f}x")
    return results


def time_train(path: str) -> None:
    """Wall time of the training command, and the epoch time at k=64 from a fit in one process."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-c", "import sys; from cmf.cli import main; sys.exit(main())",
                        "train", path, "--factors", "64", "--epochs", "10", "--quiet",
                        "--out", os.path.join(tmp, "m.npz")], env=env, check=True, cwd=tmp)
        wall = time.perf_counter() - start
    code = (
        "import time; from cmf import MatrixFactorization; from cmf.io import load_ratings\n"
        f"t = time.perf_counter(); d = load_ratings({path!r}); read = time.perf_counter() - t\n"
        "m = MatrixFactorization(n_factors=64, max_epochs=10, tol=0, random_state=0)\n"
        "t = time.perf_counter(); m.fit_ratings(d); fit = time.perf_counter() - t\n"
        "print(read, fit / m.n_epochs_)"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True, check=True)
    read, epoch = map(float, out.stdout.split())
    print(f"  cmf train --factors 64 --epochs 10: {wall:.1f} s wall; read {read:.2f} s, "
          f"one epoch at k=64 {epoch:.2f} s: reading = {read / epoch:.2f} epochs")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=10_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--movielens-25m", action="store_true", help="also a 25M-line ratings.csv shape (cmf only)")
    p.add_argument("--train", action="store_true", help="also time `cmf train` on the file")
    p.add_argument("--worker", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    print(f"CPU: {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "synth.data")
        start = time.perf_counter()
        write_file(path, args.lines, csv=False)
        print(f"{args.lines:,} lines, {os.path.getsize(path) / 2**20:.0f} MB "
              f"(written in {time.perf_counter() - start:.0f} s); median of {args.repeats}:", flush=True)
        measure(path, ["cmf", "cmf-3col", "pandas"], args.repeats)
        if args.train:
            time_train(path)
        os.remove(path)
        if args.movielens_25m:
            path = os.path.join(tmp, "ratings.csv")
            write_file(path, 25_000_000, csv=True, seed=1)
            print(f"25,000,000 lines ratings.csv shape, {os.path.getsize(path) / 2**20:.0f} MB; one run:", flush=True)
            measure(path, ["cmf", "pandas"], 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
