"""The recommender subcommands of ``cmf``: train, evaluate, tune, predict, recommend.

Every command reads the rating formats of :func:`cmf.io.load_ratings`;
errors a user can fix (missing file, a bad line, an unknown user) are
printed to stderr as one line, with exit status 1 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

from cmf.exceptions import ConvergenceWarning, DivergenceError, NotFittedError
from cmf.io import FORMATS, ParseError, load_pairs, load_ratings
from cmf.model import MatrixFactorization
from cmf.model_selection import KFold, cross_validate, evaluate, train_test_split, tune

__all__ = ["add_commands", "run_reporting_errors"]

# Failures that are the user's to fix: reported in one line.
_USER_ERRORS = (OSError, ParseError, KeyError, ValueError, TypeError, IndexError, DivergenceError,
                NotFittedError, ImportError)


def run_reporting_errors(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; report user errors on stderr and return a non-zero status.

    Parameters
    ----------
    func : callable
        The command.
    args : argparse.Namespace
        Its arguments.

    Returns
    -------
    int
        The command's status, 1 after an error, 130 after Ctrl-C.
    """
    try:
        status = int(func(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader of our output (``| head``) has all it wanted: not an
        # error. Point stdout at devnull so that the interpreter's own flush
        # at exit does not raise again (the recipe of Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("cmf: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in message:
            message = f"no such file: {exc.filename!r}"
        print(f"cmf {args.command}: error: {message}", file=sys.stderr)
        return 1


# ----------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------
def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ratings", metavar="RATINGS", help="rating file (u.data, ratings.dat, ratings.csv, CSV/TSV, LIBMF text)")
    p.add_argument("--format", choices=FORMATS, help="file format (default: guessed from the name and first line)")
    p.add_argument("--sep", help="field separator for csv/tsv files")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model options")
    g.add_argument("--factors", type=int, default=100, help="number of latent factors (default 100)")
    g.add_argument("--epochs", type=int, default=200, help="maximum number of epochs (default 200)")
    g.add_argument("--learning-rate", type=float, default=0.01, help="SGD step size (default 0.01)")
    g.add_argument("--regularization", type=float, default=0.1, help="L2 penalty on factors (default 0.1)")
    g.add_argument("--bias-regularization", type=float, default=0.02, help="L2 penalty on biases (default 0.02)")
    g.add_argument("--threads", type=int, help="threads per fit, where this build supports it")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors (and --json output)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _model(args: argparse.Namespace, **overrides: Any) -> Any:
    params = dict(
        n_factors=args.factors, max_epochs=args.epochs, learning_rate=args.learning_rate,
        regularization=args.regularization, bias_regularization=args.bias_regularization,
        random_state=args.seed,
    )
    params.update(overrides)
    model = MatrixFactorization(**params)
    if args.threads is not None:
        if "n_threads" in model.get_params():
            model.set_params(n_threads=args.threads)
        elif not args.quiet:
            print("cmf: note: this build trains with one thread; --threads is ignored", file=sys.stderr)
    return model


def _load(args: argparse.Namespace) -> Any:
    return load_ratings(args.ratings, format=args.format, sep=args.sep)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet and not args.json:
        print(text)


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, default=_json_default, indent=2))


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


class _EpochProgressBar:
    """A per-epoch progress bar (tqdm) that is silent when output is not a terminal."""

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.bar = None
        interactive = sys.stdout.isatty() and sys.stderr.isatty()
        if quiet or not interactive:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return  # no bar without the optional extra: pip install 'cmf-sgd[cli]'
        # The terminal's width; a pseudo-terminal may report 0 columns, which
        # would hide the bar, and shutil then falls back to 80.
        width = shutil.get_terminal_size((80, 24)).columns
        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False, file=sys.stderr, ncols=width)

    def __call__(self, row: dict[str, float]) -> None:
        if self.bar is None:
            return
        post = {"loss": f"{row['train_loss']:.4g}", "rmse": f"{row['train_rmse']:.4f}"}
        if np.isfinite(row["val_rmse"]):
            post["val_rmse"] = f"{row['val_rmse']:.4f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fit(model: Any, data: Any, args: argparse.Namespace, desc: str, validation: Any = None) -> Any:
    bar = _EpochProgressBar(model.max_epochs, desc, args.quiet or args.json)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit_ratings(data, validation=validation, callback=bar)
    finally:
        bar.close()
    return model


# ----------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    data = _load(args)
    patience = args.patience if args.patience is not None else (5 if args.validation else None)
    model = _model(args, patience=patience or None)
    valid = None
    if args.validation:
        data, valid = train_test_split(data, args.validation, random_state=args.seed)
    started = time.perf_counter()
    _fit(model, data, args, "training", valid)
    seconds = time.perf_counter() - started
    if args.out:
        model.save(args.out)
    h = model.history_
    last = (model.best_epoch_ or model.n_epochs_) - 1
    summary = {
        "ratings": len(data), "users": data.n_users, "items": data.n_items, "epochs": model.n_epochs_,
        "best_epoch": model.best_epoch_, "train_rmse": h["train_rmse"][last],
        "validation_rmse": None if valid is None else h["val_rmse"][last], "seconds": seconds,
        "model": args.out,
    }
    if args.json:
        _emit_json(summary)
    else:
        val = "" if valid is None else f", validation RMSE {summary['validation_rmse']:.4f}"
        _say(args, f"trained on {len(data):,} ratings ({data.n_users:,} users x {data.n_items:,} items): "
                   f"{model.n_epochs_} epochs in {seconds:.2f} s, training RMSE {summary['train_rmse']:.4f}{val}")
        if args.out:
            _say(args, f"saved to {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    data = _load(args)
    metrics = ("rmse", "mae", "precision", "recall", "ndcg")
    model = _model(args)
    if args.jobs != 1:
        scores = cross_validate(model, data, cv=KFold(args.folds, random_state=args.seed), metrics=metrics,
                                k=args.k, threshold=args.threshold, n_jobs=args.jobs)
        per_metric = {m: scores[f"test_{m}"] for m in metrics}
    else:
        rows = []
        for fold, (train, test) in enumerate(KFold(args.folds, random_state=args.seed).split(data), 1):
            fitted = _fit(_model(args), train, args, f"fold {fold}/{args.folds}")
            rows.append(evaluate(fitted, test, metrics=metrics, k=args.k, threshold=args.threshold))
            if not args.json:
                _say(args, f"fold {fold}: RMSE {rows[-1]['rmse']:.4f}  MAE {rows[-1]['mae']:.4f}")
        per_metric = {m: np.array([r[m] for r in rows]) for m in metrics}
    result = {m: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v.tolist()} for m, v in per_metric.items()}
    if args.json:
        _emit_json({"folds": args.folds, "k": args.k, "threshold": args.threshold, "metrics": result})
    else:
        names = {"precision": f"precision@{args.k}", "recall": f"recall@{args.k}", "ndcg": f"NDCG@{args.k}"}
        for m in metrics:
            _say(args, f"{names.get(m, m.upper()):>14}  {result[m]['mean']:.4f} +- {result[m]['std']:.4f}")
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    data = _load(args)
    template = _model(args)
    report = None if (args.quiet or args.json) else (lambda line: print(line, file=sys.stderr))
    result = tune(data, budget=args.budget, estimator=template, validation=args.validation,
                  max_epochs=args.epochs, n_jobs=args.jobs, random_state=args.seed, progress=report,
                  refit=bool(args.out))
    if args.out:
        result.best_estimator.save(args.out)
    if args.json:
        _emit_json({"best_params": result.best_params, "validation_rmse": result.best_score,
                    "seconds": result.seconds, "model": args.out, "results": result.results})
    else:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
        _say(args, f"best: {params}\nvalidation RMSE {result.best_score:.4f} "
                   f"({len(result.results)} configurations, {result.seconds:.1f} s)")
        if args.out:
            _say(args, f"refitted on all ratings and saved to {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    model = MatrixFactorization.load(args.model)
    users, items = load_pairs(args.pairs, sep=args.sep)
    if model.user_labels_ is None:
        for arr, what in ((users, "user"), (items, "item")):
            if arr.dtype.kind == "U":
                raise ValueError(f"the model was fitted without labels: {what}s must be integer indices")
    pred = np.atleast_1d(model.predict(users, items))
    if args.clip:
        pred = np.clip(pred, *args.clip)
    if args.json:
        _emit_json([{"user": u, "item": i, "prediction": float(p)} for u, i, p in zip(users, items, pred)])
    else:
        for u, i, p in zip(users, items, pred):
            print(f"{u}\t{i}\t{p:.4f}")
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    model = MatrixFactorization.load(args.model)
    user: Any = args.user
    labels = model.user_labels_
    if labels is None or labels.dtype.kind != "U":
        try:
            user = int(user)
        except ValueError:
            raise KeyError(f"unknown user {args.user!r}: this model's users are integers") from None
    items, scores = model.recommend(user, n=args.n, exclude_seen=not args.include_seen)
    if args.json:
        _emit_json({"user": user, "items": items, "scores": scores})
    else:
        for rank, (item, score) in enumerate(zip(items, scores), 1):
            print(f"{rank}\t{item}\t{score:.4f}")
    return 0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {text}")
    return value


def add_commands(sub: Any) -> None:
    """Register the recommender subcommands on an argparse subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    p = sub.add_parser("train", help="fit a model to a rating file and save it")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--validation", type=_fraction, help="hold out this fraction to monitor (early stopping, patience 5)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 5 with --validation; 0 turns it off)")
    p.add_argument("--out", "-o", help="save the model to this .npz file")
    _add_output_options(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="cross-validate a model on a rating file")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("-k", type=int, default=10, help="cut-off of the ranking metrics (default 10)")
    p.add_argument("--threshold", type=float, default=3.5, help="relevance threshold of the ranking metrics (default 3.5)")
    p.add_argument("--jobs", type=int, default=1, help="folds in parallel (-1: one per core; no progress bar)")
    _add_output_options(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("tune", help="pick factors, regularization and learning rate for a rating file")
    _add_data_options(p)
    _add_model_options(p)
    p.set_defaults(epochs=500)
    p.add_argument("--budget", type=int, default=27, help="configurations to try (default 27)")
    p.add_argument("--validation", type=_fraction, default=0.1, help="fraction held out to compare them (default 0.1)")
    p.add_argument("--jobs", type=int, default=-1, help="configurations trained in parallel (default: one per core)")
    p.add_argument("--out", "-o", help="refit the best on all ratings and save it to this .npz file")
    _add_output_options(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("predict", help="predict ratings for (user, item) pairs")
    p.add_argument("model", metavar="MODEL", help="a model saved by 'cmf train --out'")
    p.add_argument("pairs", metavar="PAIRS", help="file of 'user item' lines (tab, comma, '::' or space separated)")
    p.add_argument("--sep", help="field separator of PAIRS")
    p.add_argument("--clip", type=float, nargs=2, metavar=("LOW", "HIGH"), help="clip predictions to the rating scale")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_predict, quiet=False)

    p = sub.add_parser("recommend", help="top-N items for a user")
    p.add_argument("model", metavar="MODEL", help="a model saved by 'cmf train --out'")
    p.add_argument("--user", "-u", required=True, help="the user's id as in the rating file")
    p.add_argument("-n", type=int, default=10, help="number of items (default 10)")
    p.add_argument("--include-seen", action="store_true", help="also list items the user rated in training")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_recommend, quiet=False)
