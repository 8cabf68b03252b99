"""The ``cmf`` command line."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Sequence

import numpy as np

from cmf import _cli_commands as commands
from cmf import _cli_options as options
from cmf import _cli_recommend as recommend_commands
from cmf._version import __version__
from cmf.datasets import example_matrix, make_ratings
from cmf.model import MatrixFactorization

__all__ = ["main"]


def _print_matrix(title: str, M: np.ndarray, unknown: np.ndarray | None = None) -> None:
    print(title)
    for i, row in enumerate(M):
        cells = []
        for j, x in enumerate(row):
            mark = "*" if unknown is not None and unknown[i, j] else " "
            cells.append("    ?  " if np.isnan(x) else f"{x:6.2f}{mark}")
        print("  " + " ".join(cells))


def demo_small() -> None:
    """Complete the classic 4x5 matrix with two unknown entries."""
    truth = example_matrix()
    X = truth.copy()
    unknown = np.zeros(X.shape, dtype=bool)
    unknown[0, 1] = unknown[2, 4] = True
    X[unknown] = np.nan
    print("1. The 4x5 matrix with two unknown entries (NaN)\n")
    # A small penalty, so that the known entries are fitted almost exactly;
    # the step is left to the bold driver (learning_rate="auto").
    model = MatrixFactorization(
        n_factors=2, regularization=0.001, max_epochs=20000, tol=1e-5, dtype="float64", random_state=0,
    ).fit(X)
    loss = model.history_["train_loss"]
    rmse = model.history_["train_rmse"]
    shown = sorted(set(np.unique(np.geomspace(1, len(loss), 8).astype(int))) | {len(loss)})
    print("   epoch   training loss   RMSE on observed entries")
    for epoch in shown:
        print(f"   {epoch:5d}   {loss[epoch - 1]:13.6f}   {rmse[epoch - 1]:.4f}")
    state = "converged" if model.converged_ else "stopped at max_epochs"
    steps = model.history_["learning_rate"]
    undone = len(steps) - int(sum(model.history_["kept"]))
    print(f"\n   {state} after {model.n_epochs_} epochs; the step went from {steps[0]:g} to between "
          f"{min(steps):.3g} and {max(steps):.3g} ({undone} epochs undone)\n")
    _print_matrix("   given (? = unknown)", X)
    _print_matrix("\n   completed (* = filled in)", model.complete(X), unknown)
    _print_matrix("\n   the full matrix, for comparison", truth)
    print()


def demo_large(n_ratings: int = 1_000_000) -> None:
    """Fit a synthetic low-rank rating set and report time and held-out RMSE."""
    n_rows, n_cols = 20_000, 5_000
    data = make_ratings(n_rows, n_cols, n_ratings, rank=8, random_state=0)
    print(f"2. Synthetic ratings: {n_ratings:,} of a {n_rows:,} x {n_cols:,} matrix, true rank 8, noise 0.5\n")
    rng = np.random.default_rng(1)
    test = rng.random(n_ratings) < 0.1
    train = ~test
    model = MatrixFactorization(
        n_factors=16, learning_rate=0.02, regularization=0.05, max_epochs=100, patience=5, random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_triplets(
            data.rows[train], data.cols[train], data.values[train], shape=data.shape,
            validation=(data.rows[test], data.cols[test], data.values[test]),
        )
    seconds = time.perf_counter() - start
    pred = model.predict(data.rows[test], data.cols[test])
    held_out = float(np.sqrt(np.mean((pred - data.values[test]) ** 2)))
    per_update = seconds / (model.n_epochs_ * train.sum()) * 1e9
    print(f"   trained on {train.sum():,} ratings in {seconds:.2f} s, {model.n_epochs_} epochs "
          f"({per_update:.0f} ns per update; best epoch {model.best_epoch_})")
    print(f"   held-out RMSE {held_out:.4f} on {test.sum():,} ratings (noise floor 0.5)")


def _cmd_demo(args: argparse.Namespace) -> int:
    demo_small()
    if not args.small_only:
        demo_large(args.ratings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``cmf`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="cmf", description="Matrix factorization and completion by stochastic gradient descent."
    )
    parser.add_argument("--version", action="version", version=f"cmf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="complete a small matrix and fit a million synthetic ratings")
    demo.add_argument("--small-only", action="store_true", help="only the 4x5 example")
    demo.add_argument("--ratings", type=options.count(1), default=1_000_000, metavar="N",
                      help="size of the synthetic set (default 1,000,000)")
    demo.set_defaults(func=_cmd_demo)
    commands.add_commands(sub)  # train, evaluate, tune, predict
    recommend_commands.add_commands(sub)  # recommend, similar
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cmf`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return commands.run_reporting_errors(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
