"""The lead on the 10M-rating set: cmf's epoch against LIBMF's, 1 and 2 threads, rounds interleaved.

    python benchmarks/lead.py               # 5 rounds, 2-3 minutes on 2 cores
    python benchmarks/lead.py --rounds 9    # more rounds for steadier medians

W2 of BENCHMARKS.md (``cmf.datasets.make_ratings()``: 10M ratings,
200,000 x 50,000), k=64, learning rate 0.005, penalty 0.02. cmf: the
median epoch of a 6-epoch fit (``history_["seconds"]``, epochs 2 to 6; the
first pays for cold caches). LIBMF: its training call as ``mf-train`` makes
it (``benchmarks/libmf_time.cpp`` against LIBMF's ``mf.o``, built with
``-march=native``, AdaGrad, its SSE kernel), timed on arrays already in
memory, so that no text parsing enters: a run of 8 iterations minus one of
2, over 6, is LIBMF's time per iteration without its set-up. Each round
runs both tools at 1 then 2 threads; the ratios are of the medians over the
rounds (LIBMF's seconds over cmf's: above 1, cmf is faster), and each
round's own ratios are printed to show the spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import time_to_accuracy  # noqa: E402  (benchmarks/ is not a package)
import tools  # noqa: E402

import cmf  # noqa: E402
from cmf.datasets import make_ratings  # noqa: E402

K, LEARNING_RATE, PENALTY = 64, 0.005, 0.02


def cmf_epoch(data, threads: int) -> float:
    """Seconds of cmf's median epoch (epochs 2 to 6 of a 6-epoch fit)."""
    model = cmf.MatrixFactorization(n_factors=K, learning_rate=LEARNING_RATE, regularization=PENALTY, max_epochs=6,
                                    tol=0, n_threads=threads, random_state=0, duplicates="keep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(data.rows, data.cols, data.values, shape=data.shape)
    return statistics.median(model.history_["seconds"][1:])


def libmf_seconds(exe: str, train: str, test: str, iterations: int, threads: int) -> float:
    """Seconds of LIBMF's training call at ``iterations`` iterations (data already in memory)."""
    out = subprocess.run([exe, "time", train, test, str(iterations), str(threads), str(K)], capture_output=True,
                         text=True, check=True).stdout
    return float(dict(line.split() for line in out.splitlines() if line.strip())["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--libmf", default="/tmp/libmf", help="LIBMF source tree with mf.o built")
    args = parser.parse_args()
    exe = time_to_accuracy.build_libmf_timer(args.libmf)
    if exe is None:
        sys.exit(f"LIBMF's mf.o is not in {args.libmf}: copy ../shared/peers/libmf there and run make")
    print(tools.machine_line(), flush=True)
    data = make_ratings()
    n = len(data.values)
    cmf_s: dict[int, list[float]] = {1: [], 2: []}
    lib_s: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        train, test = os.path.join(tmp, "w2"), os.path.join(tmp, "w2-test")
        time_to_accuracy.write_raw(train, data.rows, data.cols, data.values)
        time_to_accuracy.write_raw(test, data.rows[:1000], data.cols[:1000], data.values[:1000])
        for r in range(args.rounds):
            for threads in (1, 2):
                cmf_s[threads].append(cmf_epoch(data, threads))
                long, short = (libmf_seconds(exe, train, test, i, threads) for i in (8, 2))
                lib_s[threads].append((long - short) / 6)
                print(f"round {r + 1}, {threads} thread(s): cmf {cmf_s[threads][-1] / n * 1e9:.1f} ns per update, "
                      f"LIBMF {lib_s[threads][-1] / n * 1e9:.1f}: {lib_s[threads][-1] / cmf_s[threads][-1]:.2f}x",
                      flush=True)
    print(f"\nW2: {n:,} ratings, k={K}; medians of {args.rounds} rounds")
    for threads in (1, 2):
        c, lib = statistics.median(cmf_s[threads]), statistics.median(lib_s[threads])
        spread = ", ".join(f"{a / b:.2f}" for a, b in zip(lib_s[threads], cmf_s[threads]))
        print(f"  {threads} thread(s): cmf {c / n * 1e9:.1f} ns per update, LIBMF {lib / n * 1e9:.1f}: "
              f"cmf {lib / c:.2f}x LIBMF's speed (rounds: {spread})")
    print(tools.machine_line())


if __name__ == "__main__":
    main()
