"""Time per update of each loss in the C epochs, and the squared loss against another build.

On a synthetic set of 1M ratings (20,000 x 5,000, k = 32, float32, one
thread) this times whole epochs of the blocked kernel (and the plain epoch
in a random order) through ``cmf._kernels`` and prints nanoseconds per
update, median over repeats:

    python benchmarks/losses.py                       # every loss, this build
    python benchmarks/losses.py --compare /work/main  # squared: this build vs the one at that tree

``--compare`` runs this script again in subprocesses with ``PYTHONPATH`` set
to each tree, alternately, so both builds are measured under the same load;
it prints the ratio of the medians. Timings on a shared machine are noisy:
quote medians, the ratio, the CPU and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N_ROWS, N_COLS, N_RATINGS, K = 20_000, 5_000, 1_000_000, 32
LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge")


def synthetic(seed: int = 0):
    """1M ratings of a rank-8 matrix: positive values (squared, absolute, kl) and their signs (classification)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, N_ROWS, N_RATINGS).astype(np.int32)
    cols = rng.integers(0, N_COLS, N_RATINGS).astype(np.int32)
    U, V = rng.random((N_ROWS, 8)), rng.random((N_COLS, 8))
    values = np.einsum("ij,ij->i", U[rows], V[cols]).astype(np.float32)
    signs = np.where(values > np.median(values), 1.0, -1.0).astype(np.float32)
    return rows, cols, values, signs


def time_epochs(loss: str, *, repeats: int, weighted: bool = False, plain: bool = False) -> list[float]:
    """Seconds per epoch of ``loss`` (median-ready list), one thread."""
    from cmf import _kernels

    rows, cols, values, signs = synthetic()
    data = signs if loss in ("logistic", "hinge", "squared_hinge") else values
    rng = np.random.default_rng(1)
    P = np.abs(0.1 * rng.standard_normal((N_ROWS, K))).astype(np.float32)
    Q = np.abs(0.1 * rng.standard_normal((N_COLS, K))).astype(np.float32)
    b, c = np.zeros(N_ROWS, np.float32), np.zeros(N_COLS, np.float32)
    biased = loss != "kl"
    options = {} if loss == "squared" and not weighted else dict(loss=loss, nonnegative=loss == "kl")
    params = _kernels.Params(learning_rate=0.002, regularization=0.02, bias_regularization=0.02,
                             update_biases=biased, **options)
    model = _kernels.Model(P, Q, b if biased else None, c if biased else None, 0.0 if loss != "squared" else 1.0)
    weights = np.ones(N_RATINGS, np.float32) if weighted else None
    entries = _kernels.Entries(rows, cols, data, *([weights] if weighted else []))
    times = []
    if plain:
        order = rng.permutation(N_RATINGS).astype(np.int64)
        for _ in range(repeats):
            start = time.perf_counter()
            model.epoch(params, entries, order)
            times.append(time.perf_counter() - start)
        return times
    blocked = _kernels.partition(entries, N_ROWS, N_COLS, 2048, 2048)
    blocks = np.arange(blocked.n_row_blocks * blocked.n_col_blocks, dtype=np.int32)
    scratch = np.empty(blocked.max_block, np.int32)
    for epoch in range(repeats):
        start = time.perf_counter()
        model.blocks(params, blocked, blocks, epoch, scratch)
        times.append(time.perf_counter() - start)
    return times


def compare(other: str, rounds: int, repeats: int) -> None:
    """The squared loss's blocked and plain epochs here and at ``other``, alternately in subprocesses."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for tree in (here, other):
            for kind in ("blocked", "plain"):
                out = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--worker", kind, "--repeats", str(repeats)],
                    env={**os.environ, "PYTHONPATH": tree}, cwd="/", check=True, capture_output=True, text=True,
                ).stdout
                results.setdefault((tree, kind), []).extend(json.loads(out))
    for kind in ("blocked", "plain"):
        mine = statistics.median(results[(here, kind)]) / N_RATINGS * 1e9
        theirs = statistics.median(results[(other, kind)]) / N_RATINGS * 1e9
        print(f"squared {kind:7s}: this build {mine:6.1f} ns/update, {other}: {theirs:6.1f} ns/update, "
              f"ratio {mine / theirs:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", metavar="TREE", help="time the squared loss here and at TREE (its cmf/)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=("blocked", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(time_epochs("squared", repeats=args.repeats, plain=args.worker == "plain")))
        return
    if args.compare:
        compare(args.compare, args.rounds, args.repeats)
        return
    base = statistics.median(time_epochs("squared", repeats=args.repeats))
    print(f"{'loss':22s} ns/update  vs squared")
    for loss in LOSSES:
        t = statistics.median(time_epochs(loss, repeats=args.repeats))
        print(f"{loss:22s} {t / N_RATINGS * 1e9:9.1f}  {t / base:9.2f}")
    t = statistics.median(time_epochs("squared", repeats=args.repeats, weighted=True))
    print(f"{'squared, weights of 1':22s} {t / N_RATINGS * 1e9:9.1f}  {t / base:9.2f}")


if __name__ == "__main__":
    main()
