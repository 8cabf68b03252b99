"""Loss curves of blocked epochs against one global permutation per epoch, side by side.

    python benchmarks/convergence.py           # MovieLens 100K (W1) and a 1M-rating synthetic set
    python benchmarks/convergence.py --full    # the synthetic set at 10M ratings (W2)

For each data set both orders start from the same initial factors (same
seed); the table shows, per epoch, the training RMSE (errors seen during
the epoch) and the held-out RMSE after it. Blocked epochs visit the blocks
of a cache-sized grid in a shuffled, stratified order and the entries of
each block in a shuffled order; "global" draws one permutation of all
entries per epoch.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cmf  # noqa: E402
import workloads  # noqa: E402


def curves(w: workloads.Workload, blocking: bool, n_threads: int) -> dict:
    model = cmf.MatrixFactorization(
        n_factors=w.n_factors, learning_rate=w.learning_rate, regularization=w.regularization,
        bias_regularization=w.regularization, max_epochs=w.n_epochs, tol=0.0, n_iter_no_change=w.n_epochs,
        init_std=0.1, blocking=blocking, n_threads=n_threads, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model.fit_triplets(*w.train, shape=w.shape, validation=w.test)
    return model.history_


def show(title: str, w: workloads.Workload, n_threads: int) -> None:
    blocked = curves(w, True, n_threads)
    flat = curves(w, False, 1)
    print(f"\n{title}")
    print(f"{'epoch':>5s} | {'train RMSE':>10s} {'held-out':>9s} {'s':>6s} | {'train RMSE':>10s} {'held-out':>9s} {'s':>6s}")
    print(f"{'':5s} | {'blocked':^27s} | {'global permutation':^27s}")
    for e in range(len(flat["epoch"])):
        print(f"{e + 1:5d} | {blocked['train_rmse'][e]:10.4f} {blocked['val_rmse'][e]:9.4f} "
              f"{blocked['seconds'][e]:6.2f} | {flat['train_rmse'][e]:10.4f} {flat['val_rmse'][e]:9.4f} "
              f"{flat['seconds'][e]:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="synthetic set at 10M ratings")
    parser.add_argument("--threads", type=int, default=1, help="threads of the blocked runs")
    args = parser.parse_args()

    w1 = workloads.w1()
    show("MovieLens 100K (W1: k=100, lr 0.005, reg 0.02, 20 epochs); held-out = the 20% test split", w1,
         args.threads)

    from cmf.datasets import make_ratings

    data = make_ratings(**workloads.w2_params(quick=not args.full))
    rng = np.random.default_rng(1)
    held = np.zeros(len(data.values), dtype=bool)
    held[rng.choice(len(held), size=len(held) // 50, replace=False)] = True
    train = (data.rows[~held], data.cols[~held], data.values[~held])
    test = (data.rows[held], data.cols[held], data.values[held])
    del data
    w2 = workloads.Workload("W2", train, test, (int(train[0].max()) + 1, int(train[1].max()) + 1), 64, 10,
                            0.005, 0.02, None)
    show(f"Synthetic ({len(train[2]) + len(test[2]):,} ratings, k=64, lr 0.005, reg 0.02, 10 epochs); "
         "held-out = 2% of the ratings, best possible RMSE about 0.5", w2, args.threads)


if __name__ == "__main__":
    main()
