"""What tune's moving search space buys, and what it costs: the same tune without it, side by side.

W1: MovieLens 100K, perm = default_rng(0).permutation(100000), rows perm[:80000]
train and perm[80000:] test (``train_test_split(data, 0.2, random_state=0)``).
``--synthetic``: make_ratings(20000, 5000, 400000, rank 16, popularity offset 2,
noise 0.5) with a third of the users cut to at most 2 ratings (cold users),
split 80/20 the same way.

For each data set, ``tune(train, budget, random_state=0, extend=E)`` then the
refitted model on the test part, for E = 0 (the space as given) and E = 3
(the default): test RMSE with and without clipping to the rating scale,
validation RMSE, configurations, seconds (median of ``--repeats`` runs; the
results themselves are the same every run), the best parameters and the
dimensions that moved.

``--model bayesian`` tunes cmf.BayesianMatrixFactorization instead (its own
space: factors, noise precision, burn-in; rounds of longer chains), by
default with the moving space only (``--extend 3``), and prints the same
lines: the issue's target is a W1 test RMSE of at most 0.895 within 5 minutes
on 2 cores.

    python benchmarks/tune_bench.py                  # W1, under a minute on 2 cores
    python benchmarks/tune_bench.py --synthetic      # also the synthetic set, about 3 minutes more
    python benchmarks/tune_bench.py --model bayesian # W1, the Bayesian model: under a minute (--budget 27: minutes)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cmf import BayesianMatrixFactorization
from cmf.datasets import make_ratings
from cmf.io import load_ratings
from cmf.model_selection import evaluate, train_test_split, tune
from tools import machine_line
from workloads import movielens_path


def synthetic():
    """The skewed, partly cold synthetic set."""
    data = make_ratings(20000, 5000, 400000, rank=16, popularity_offset=2.0, noise_std=0.5, random_state=0)
    rng = np.random.default_rng(1)
    cold = rng.random(data.shape[0]) < 1 / 3
    order = np.lexsort((rng.random(len(data)), data.rows))
    starts = np.r_[0, np.flatnonzero(np.diff(data.rows[order])) + 1]
    within = np.empty(len(data), np.int64)
    within[order] = np.arange(len(data)) - np.repeat(starts, np.diff(np.r_[starts, len(data)]))
    return data.subset(np.flatnonzero(~cold[data.rows] | (within < 2)))


def measure(name, data, budget, repeats, model="sgd", extends=(0, 3)):
    train, test = train_test_split(data, 0.2, random_state=0)
    estimator = BayesianMatrixFactorization() if model == "bayesian" else None
    rows = {}
    for extend in extends:
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = tune(train, budget, estimator=estimator, random_state=0, extend=extend)
            seconds.append(time.perf_counter() - started)
        model = result.best_estimator
        rows[extend] = seconds = statistics.median(seconds)
        moved = {k: v["extended"] for k, v in result.space.items() if v["extended"]}
        best = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.best_params.items()}
        print(f"{name} extend={extend}: test RMSE {evaluate(model, test, clip=False)['rmse']:.4f} unclipped, "
              f"{evaluate(model, test)['rmse']:.4f} clipped; validation {result.best_score:.4f}; "
              f"{len(result.results)} configurations in {seconds:.1f} s\n    best {best}\n    moved {moved}")
    if 0 in rows and 3 in rows:
        print(f"{name}: extend=3 takes {rows[3] / rows[0]:.2f}x the time of extend=0")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=None, help="default: tune's (27; 9 with --model bayesian)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--model", choices=("sgd", "bayesian"), default="sgd")
    parser.add_argument("--extend", type=lambda text: tuple(int(e) for e in text.split(",")), default=None,
                        metavar="E,...", help="the extend values to compare (default 0,3; 3 with --model bayesian)")
    args = parser.parse_args()
    extends = args.extend or ((3,) if args.model == "bayesian" else (0, 3))
    print(machine_line())
    try:
        measure("W1", load_ratings(movielens_path()), args.budget, args.repeats, args.model, extends)
    except FileNotFoundError as exc:
        print(f"W1 skipped: {exc}")
    if args.synthetic:
        measure("synthetic", synthetic(), args.budget, args.repeats, args.model, extends)
    print(machine_line())


if __name__ == "__main__":
    main()
