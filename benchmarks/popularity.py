"""Who fills the default model's top-10 on MovieLens 100K: rarely rated items, against Surprise's SVD.

    python benchmarks/popularity.py              # 3 seeds, about 1 minute on 2 cores
    python benchmarks/popularity.py --seeds 5

Part 1 (all 100,000 ratings): ``MatrixFactorization()`` with its defaults
and Surprise's ``SVD()`` with its defaults, each fitted on every rating; the
top-10 of all 943 users, the items each user rated left out. Counted: the
slots (of 9,430) taken by items with fewer than 20 ratings, the largest
number of lists one such item is in, the distinct items recommended and the
mean number of ratings of a recommended item. cmf's rows: ``shrinkage=0``
(the ranking by predicted rating, what ``recommend`` did before), the
default ``shrinkage=25``, and ``min_support=20`` alone.

Part 2 (W1, the seeded 80/20 split of BENCHMARKS.md): the held-out RMSE of
each model's rating predictions, which the ranking controls never change,
and the full-catalogue precision@10 of the same top-10 lists (every held-out
rating counts as a positive, the training items left out), beside the
most-popular list; then a sweep of ``shrinkage``. Medians over the seeds
(each tool's initial factors; cmf's visiting order), and every seed's
figure for the share of rare slots.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tools  # noqa: E402  (benchmarks/ is not a package)
import workloads  # noqa: E402

import cmf  # noqa: E402

RARE, N = 20, 10
SWEEP = (0, 5, 10, 25, 50, 100)


def load_all():
    """Every MovieLens 100K rating as 0-based (rows, cols, values) and the shape."""
    raw = np.loadtxt(workloads.movielens_path(), dtype=np.int64)
    return (raw[:, 0] - 1).astype(np.int32), (raw[:, 1] - 1).astype(np.int32), raw[:, 2].astype(np.float32), (943, 1682)


def fit_cmf(rows, cols, values, shape, seed):
    """``MatrixFactorization()`` with its defaults (the seed aside)."""
    model = cmf.MatrixFactorization(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return model.fit_triplets(rows, cols, values, shape=shape)


def surprise_scores(rows, cols, values, shape, seed):
    """Surprise's ``SVD()`` with its defaults: the full (users x items) matrix of its estimates."""
    from surprise import SVD

    w = workloads.Workload("all", (rows, cols, values), (rows[:0], cols[:0], values[:0]), shape, 100, 20, 0.005, 0.02,
                           (1.0, 5.0))
    trainset, u_index, i_index = tools.surprise_trainset(w)
    algo = SVD(random_state=seed)
    algo.fit(trainset)
    # Rows and columns of every user and item, -1 where it has no training rating.
    S = np.full(shape, -np.inf)
    ku, ki = u_index >= 0, i_index >= 0
    inner = (trainset.global_mean + algo.bu[u_index[ku]][:, None] + algo.bi[i_index[ki]][None, :]
             + algo.pu[u_index[ku]] @ algo.qi[i_index[ki]].T)
    S[np.ix_(ku, ki)] = inner
    return S


def top_from_scores(S, rows, cols):
    """Each user's top-N column indices of a full score matrix, the training pairs left out."""
    S = S.copy()
    S[rows, cols] = -np.inf
    return np.argsort(-S, axis=1, kind="stable")[:, :N]


def popularity(top, counts):
    """(rare slots, most lists one rare item is in, distinct items, mean ratings of a recommended item)."""
    rare = counts[top] < RARE
    per_item = np.bincount(top[rare], minlength=len(counts))
    return int(rare.sum()), int(per_item.max()), len(np.unique(top)), float(counts[top].mean())


def precision(top, test_rows, test_cols):
    """Full-catalogue precision@N over the users with a held-out rating."""
    hit = np.zeros(top.shape[0])
    truth = set(zip(test_rows.tolist(), test_cols.tolist()))
    for u, items in enumerate(top.tolist()):
        hit[u] = sum((u, i) in truth for i in items)
    users = np.unique(test_rows)
    return float(hit[users].mean() / N)


def rmse(pred, values):
    return float(np.sqrt(np.mean((np.clip(pred, 1, 5) - values) ** 2)))


CMF_ROWS = {"cmf, shrinkage=0 (before)": dict(shrinkage=0),
            "cmf, defaults (shrinkage=25)": dict(),
            "cmf, shrinkage=0, min_support=20": dict(shrinkage=0, min_support=RARE)}


def part1(seeds):
    rows, cols, values, shape = load_all()
    counts = np.bincount(cols, minlength=shape[1])
    users = np.arange(shape[0])
    results: dict[str, list] = {}
    for seed in seeds:
        start = time.perf_counter()
        model = fit_cmf(rows, cols, values, shape, seed)
        fit_seconds = time.perf_counter() - start
        for name, kw in CMF_ROWS.items():
            top = model.recommend(users, n=N, **kw)[0]
            results.setdefault(name, []).append(popularity(top, counts))
        top = top_from_scores(surprise_scores(rows, cols, values, shape, seed), rows, cols)
        results.setdefault("Surprise SVD(), defaults", []).append(popularity(top, counts))
        print(f"  seed {seed}: cmf fit {fit_seconds:.2f} s, {model.n_epochs_} epochs", flush=True)
    slots = shape[0] * N
    print(f"\nTop-{N} of all {shape[0]} users (seen items left out), {slots:,} slots; items with < {RARE} ratings:")
    print(f"  {'':36s} {'rare slots (median)':>20s} {'per seed':>22s} {'max lists/item':>15s} {'distinct':>9s} "
          f"{'mean ratings':>13s}")
    for name, res in results.items():
        rare = [r[0] for r in res]
        med = statistics.median(rare)
        print(f"  {name:36s} {med:9,.0f} ({med / slots:6.1%}) {' '.join(f'{r:,}' for r in rare):>22s} "
              f"{statistics.median(r[1] for r in res):15.0f} {statistics.median(r[2] for r in res):9.0f} "
              f"{statistics.median(r[3] for r in res):13.1f}")


def part2(seeds):
    w = workloads.w1()
    (tr, tc, tv), (er, ec, ev) = w.train, w.test
    counts = np.bincount(tc, minlength=w.shape[1])
    users = np.arange(w.shape[0])
    table: dict[str, list] = {}
    sweep: dict[float, list] = {}
    for seed in seeds:
        model = fit_cmf(tr, tc, tv, w.shape, seed)
        raw_rmse = rmse(model.predict(er, ec), ev)
        for name, kw in CMF_ROWS.items():
            top = model.recommend(users, n=N, **kw)[0]
            table.setdefault(name, []).append((raw_rmse, precision(top, er, ec), popularity(top, counts)[0]))
        for beta in SWEEP:
            top = model.recommend(users, n=N, shrinkage=beta)[0]
            pop = popularity(top, counts)
            sweep.setdefault(beta, []).append((precision(top, er, ec), pop[0], pop[2]))
        S = surprise_scores(tr, tc, tv, w.shape, seed)
        top = top_from_scores(S, tr, tc)
        table.setdefault("Surprise SVD(), defaults", []).append(
            (rmse(S[er, ec], ev), precision(top, er, ec), popularity(top, counts)[0]))
    top = top_from_scores(np.broadcast_to(counts.astype(float), w.shape), tr, tc)  # ties: the smaller index
    table["most popular"] = [(float("nan"), precision(top, er, ec), popularity(top, counts)[0])]
    print(f"\nW1 (80/20 split, {len(tv):,} training ratings): held-out RMSE (clipped to 1-5), full-catalogue "
          f"precision@{N}, rare slots; medians over seeds")
    for name, res in table.items():
        print(f"  {name:36s} RMSE {statistics.median(r[0] for r in res):6.4f}   "
              f"precision@{N} {statistics.median(r[1] for r in res):.4f}   "
              f"rare slots {statistics.median(r[2] for r in res):6,.0f}")
    print("\nshrinkage sweep (cmf defaults otherwise; predict() and its RMSE are the same for all):")
    for beta, res in sweep.items():
        print(f"  shrinkage={beta:<5g} precision@{N} {statistics.median(r[0] for r in res):.4f}   "
              f"rare slots {statistics.median(r[1] for r in res):6,.0f}   "
              f"distinct items {statistics.median(r[2] for r in res):4.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    args = parser.parse_args()
    print(tools.machine_line())
    print(f"cmf {cmf.__version__}, numpy {np.__version__}")
    try:
        workloads.movielens_path()
    except FileNotFoundError as exc:
        print(f"skipped: {exc}")
        return
    seeds = range(args.seeds)
    part1(seeds)
    part2(seeds)


if __name__ == "__main__":
    main()
