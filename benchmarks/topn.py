"""Top-N quality on MovieLens 100K over the full catalogue, cmf beside the baselines and implicit, in one run.

    python benchmarks/topn.py                 # about 20 seconds on 2 cores
    python benchmarks/topn.py --no-implicit   # without implicit's BPR and ALS

Split: each user's ratings are shuffled with ``default_rng(seed)`` (the
users in order) and the first ``round(0.2 n_u)`` go to the test part; every
user of ML-100K keeps at least 16 ratings for training and has at least 4
to test. All interactions count as positives (no rating threshold). Every
scorer is scored by :func:`cmf.metrics.catalogue_metrics`: each user's
training items are left out and every other item ranked.

Scorers: cmf with its defaults; cmf with Surprise's SVD parameters (100
factors, learning rate 0.005, regularization 0.02 on factors and biases, 20
epochs, initial spread 0.1); the most-popular and bias-only baselines;
implicit's BayesianPersonalizedRanking (64 factors, 100 iterations) and
AlternatingLeastSquares (64 factors, 15 iterations), on the binary training
matrix, when implicit is installed. cmf and implicit run one thread.

Then the popularity of the default model's recommendations: trained on all
ratings, the top 10 of every user (seen items excluded), and the share of
those slots taken by items with fewer than 20 ratings, against Surprise's
SVD with its defaults (and cmf with Surprise's parameters) in the same run.

Timings: the median of ``--repeats`` (3) fits of each model (the results
are the same every time), and of as many runs of the catalogue metrics of
the default model, with the CPU model and the load average; the machine may
be shared, so compare the rows of one run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit asks for it; one BLAS thread for every tool alike

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import cmf  # noqa: E402
from cmf.metrics import catalogue_metrics  # noqa: E402
from tools import machine_line  # noqa: E402
from workloads import movielens_path  # noqa: E402

COLUMNS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc", "coverage", "popularity")
HEADER = ("P@10", "R@10", "NDCG@10", "MAP@10", "MRR", "HR@10", "AUC", "cov@10", "pop@10")
SURPRISE_PARAMS = dict(n_factors=100, learning_rate=0.005, regularization=0.02, bias_regularization=0.02,
                       max_epochs=20, tol=0.0, n_iter_no_change=20, init_std=0.1)
RARE = 20  # an item with fewer ratings than this is rare


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    raw = np.loadtxt(movielens_path(), dtype=np.int64)
    rows, cols = (raw[:, 0] - 1).astype(np.int32), (raw[:, 1] - 1).astype(np.int32)
    return rows, cols, raw[:, 2].astype(np.float32), (int(rows.max()) + 1, int(cols.max()) + 1)


def per_user_split(rows: np.ndarray, test_share: float, seed: int) -> np.ndarray:
    """A boolean mask of the test ratings: ``round(test_share * n_u)`` random ratings of each user."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(rows), dtype=bool)
    for user in np.unique(rows):
        mine = np.flatnonzero(rows == user)
        test[rng.permutation(mine)[:int(round(test_share * len(mine)))]] = True
    return test


def fit_cmf(train, shape, **params):
    model = cmf.MatrixFactorization(n_threads=1, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(*train, shape=shape)
    return model


def fit_implicit(kind: str, train, shape):
    """implicit's model on the binary training matrix, and its scorer."""
    from scipy.sparse import csr_matrix
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    user_items = csr_matrix((np.ones(len(train[0]), np.float32), (train[0], train[1])), shape=shape)
    user_items.sum_duplicates()
    user_items.data[:] = 1.0
    if kind == "bpr":
        model = BayesianPersonalizedRanking(factors=64, iterations=100, num_threads=1, random_state=0)
    else:
        model = AlternatingLeastSquares(factors=64, iterations=15, num_threads=1, random_state=0)
    model.fit(user_items, show_progress=False)
    U, V = np.asarray(model.user_factors, np.float64), np.asarray(model.item_factors, np.float64)
    return lambda users: U[users] @ V.T


def timed(make, repeats: int = 1):
    """``make()``'s result (the last of ``repeats`` calls; every call gives the same) and its median seconds."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = make()
        seconds.append(time.perf_counter() - started)
    return out, statistics.median(seconds)


def quality(args, data) -> None:
    rows, cols, values, shape = data
    held = per_user_split(rows, 0.2, args.seed)
    train = (rows[~held], cols[~held], values[~held])
    test = (rows[held], cols[held], values[held], shape)
    train_set = (*train, shape)
    print(f"MovieLens 100K, per-user 80/20 split (seed {args.seed}): {len(train[0])} training, {len(test[0])} test "
          "interactions; every test interaction relevant; training items excluded; k = 10")
    scorers = []
    n = args.repeats
    model, seconds = timed(lambda: fit_cmf(train, shape), n)
    scorers.append(("cmf default", model, seconds))
    scorers.append(("cmf default, shrinkage=0", model, seconds))  # ranked by the predicted rating alone
    scorers.append(("cmf, Surprise's parameters", *timed(lambda: fit_cmf(train, shape, **SURPRISE_PARAMS), n)))
    scorers += [("most popular", "most_popular", None), ("bias only", "bias_only", None)]
    if args.implicit:
        try:
            import implicit  # noqa: F401
        except ImportError:
            print("implicit is not installed: BPR and ALS skipped")
        else:
            scorers.append(("implicit BPR (64 f, 100 it)", *timed(lambda: fit_implicit("bpr", train, shape), n)))
            scorers.append(("implicit ALS (64 f, 15 it)", *timed(lambda: fit_implicit("als", train, shape), n)))
    print(f"{'':28}" + "".join(f"{h:>8}" for h in HEADER) + f"{'fit s':>8}")
    for name, scorer, seconds in scorers:
        options = {"shrinkage": 0.0} if name.endswith("shrinkage=0") else {}
        got = catalogue_metrics(scorer, train_set, test, k=10, **options)
        cells = "".join(f"{got[c]:>8.1f}" if c == "popularity" else f"{got[c]:>8.3f}" for c in COLUMNS)
        print(f"{name:28}{cells}" + (f"{'-':>8}" if seconds is None else f"{seconds:>8.2f}"))
    _, seconds = timed(lambda: catalogue_metrics(model, train_set, test, k=10), n)
    print(f"fit s: median of {n} fits (baselines: closed form, inside the metrics call). The catalogue metrics of "
          f"one model ({shape[0]} users x {shape[1]} items): {seconds:.3f} s, median of {n}")


def top10(score_all, seen_rows, seen_cols, shape) -> np.ndarray:
    """Each user's 10 best unseen items, from a full score matrix (ML-100K is small)."""
    scores = np.array(score_all, dtype=np.float64)
    scores[seen_rows, seen_cols] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :10]


def rare_slots(top: np.ndarray, counts: np.ndarray) -> str:
    lists = np.bincount(top.ravel(), minlength=len(counts))
    worst = int(np.argmax(lists))
    return (f"{int(np.sum(counts[top] < RARE)):>5} of {top.size} slots ({np.mean(counts[top] < RARE):.1%}); "
            f"most listed item: {lists[worst]} lists, {counts[worst]} ratings")


def popularity_of_recommendations(data, repeats: int) -> None:
    from surprise import SVD, Trainset

    rows, cols, values, shape = data
    counts = np.bincount(cols, minlength=shape[1])
    print(f"\nTop-10 of all {shape[0]} users, trained on all ratings, seen items excluded; "
          f"items with fewer than {RARE} ratings: {int(np.sum(counts < RARE))} of {shape[1]}")
    for name, params in (("cmf default", {}), ("cmf, Surprise's parameters", SURPRISE_PARAMS)):
        model, seconds = timed(lambda: fit_cmf((rows, cols, values), shape, **params), repeats)
        top = np.asarray(model.recommend(np.arange(shape[0]), 10)[0])
        print(f"  {name:40}{rare_slots(top, counts)}; fit {seconds:.2f} s")
        top = np.asarray(model.recommend(np.arange(shape[0]), 10, shrinkage=0)[0])
        print(f"  {name + ', shrinkage=0':40}{rare_slots(top, counts)}")
    ur, ir = {}, {}
    for u, i, r in zip(rows.tolist(), cols.tolist(), values.tolist()):
        ur.setdefault(u, []).append((i, r))
        ir.setdefault(i, []).append((u, r))
    trainset = Trainset(ur, ir, shape[0], shape[1], len(values), (1, 5),
                        {u: u for u in range(shape[0])}, {i: i for i in range(shape[1])})
    algo = SVD(random_state=0)
    _, seconds = timed(lambda: algo.fit(trainset), repeats)
    full = trainset.global_mean + algo.bu[:, None] + algo.bi[None, :] + algo.pu @ algo.qi.T
    print(f"  {'Surprise SVD, defaults':40}{rare_slots(top10(full, rows, cols, shape), counts)}; fit {seconds:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-user split (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per median time (default 3)")
    parser.add_argument("--no-implicit", dest="implicit", action="store_false", help="skip implicit's models")
    args = parser.parse_args()
    try:
        data = load()
    except FileNotFoundError as exc:
        print(f"skipped: {exc}")
        return 0
    print(machine_line())
    quality(args, data)
    try:
        import surprise  # noqa: F401
    except ImportError:
        print("scikit-surprise is not installed: the popularity comparison is skipped")
        return 0
    popularity_of_recommendations(data, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
