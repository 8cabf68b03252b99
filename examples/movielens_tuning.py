"""MovieLens 100K accuracy: Surprise's default hyperparameters, then ``tune``.

Usage::

    python examples/movielens_tuning.py [path/to/ml-100k/u.data]

The split is the benchmark's: ``perm = default_rng(0).permutation(100000)``,
the first 80,000 rows of ``perm`` train and the rest test. RMSE is reported
on the test rows, with predictions unclipped and clipped to [1, 5] (Surprise
clips). Nothing is downloaded: the file must be present.
"""

import os
import sys
import time
import warnings

import numpy as np

from cmf import ConvergenceWarning, MatrixFactorization
from cmf.io import load_ratings
from cmf.model_selection import evaluate, train_test_split, tune

HERE = os.path.dirname(os.path.abspath(__file__))
# next to the repository, or one level further up (a checkout in a subfolder)
CANDIDATES = [os.path.join(HERE, "..", *[".."] * up, "shared", "data", "ml-100k", "u.data") for up in (1, 2)]
DEFAULT = os.path.normpath(next((c for c in CANDIDATES if os.path.exists(c)), CANDIDATES[0]))


def main(path: str) -> int:
    if not os.path.exists(path):
        print(f"MovieLens 100K not found at {path}; pass the path of u.data", file=sys.stderr)
        return 1
    data = load_ratings(path)
    train, test = train_test_split(data, test_size=0.2, random_state=0)
    print(f"{data}: {len(train):,} training and {len(test):,} test ratings\n")

    print("1. Surprise's SVD defaults: k=100, 20 epochs, learning rate 0.005, L2 0.02, init N(0, 0.1)")
    rows = []
    for seed in range(5):
        model = MatrixFactorization(n_factors=100, max_epochs=20, learning_rate=0.005, regularization=0.02,
                                    bias_regularization=0.02, init_std=0.1, tol=0, random_state=seed)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 20 epochs is the recipe, not a cap
            model.fit_ratings(train)
        seconds = time.perf_counter() - started
        raw, clipped = evaluate(model, test, clip=False)["rmse"], evaluate(model, test, clip=(1, 5))["rmse"]
        rows.append((raw, clipped, seconds))
        print(f"   seed {seed}: test RMSE {raw:.4f} (clipped {clipped:.4f}), fit {seconds:.2f} s")
    raw, clipped, seconds = np.mean(rows, axis=0)
    print(f"   mean of 5 seeds: {raw:.4f} (clipped {clipped:.4f}); target <= 0.939 (Surprise: 0.9389)\n")

    print("2. tune(train, budget=27, random_state=0): random search + successive halving on 10% of train")
    started = time.perf_counter()
    result = tune(train, budget=27, random_state=0,
                  progress=lambda line: print("   " + line, flush=True))
    seconds = time.perf_counter() - started
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
    print(f"   chosen: {params}")
    raw = evaluate(result.best_estimator, test, clip=False)["rmse"]
    clipped = evaluate(result.best_estimator, test, clip=(1, 5))["rmse"]
    print(f"   test RMSE {raw:.4f} (clipped {clipped:.4f}) after {seconds:.1f} s of tuning and refitting; "
          "target <= 0.905")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT))
