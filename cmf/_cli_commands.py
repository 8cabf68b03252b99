"""The recommender subcommands of ``cmf``: train, evaluate, tune, predict (recommend: :mod:`cmf._cli_recommend`).

Every command reads the rating formats of :func:`cmf.io.load_ratings`.
Option values are checked as they are parsed (:mod:`cmf._cli_options`);
errors a user can fix (missing file, a bad line, an unknown user, an option
that does not suit the data) are printed to stderr as one line naming the
option to change, with exit status 1 and no traceback. A fit that stops at
``--epochs`` before converging, or that a step too small left where it
started, is reported on stderr (with the option to change) and in the JSON
output.

This module is long because the four subcommands share one way of loading,
fitting and reporting, which reads best beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

from cmf import _cli_bpr as bpr
from cmf import _cli_evaluate as evaluation
from cmf import _cli_options as options
from cmf import _tune
from cmf._tune_space import space_lines
from cmf._cli_progress import EpochProgressBar
from cmf._cli_folds import add_fold_options, fold_source
from cmf._cli_losses import (CLASSIFICATION_LOSSES, add_loss_options, describe_predictions, labelled, loss_params,
                             kept_epoch, training_figure, weight_column)
from cmf._data_policy import count_repeats
from cmf._persistence import check_output_path
from cmf._search import clone, n_workers, run_all
from cmf._train.stats import exact_mean, weight_hint
from cmf.exceptions import ConvergenceWarning, DivergenceError, NotFittedError
from cmf.io import ParseError, load_pairs, load_ratings
from cmf._tune_bayes import BUDGET as BAYES_BUDGET
from cmf._tune_bayes import bayesian_space
from cmf.bayesian import BayesianMatrixFactorization
from cmf.bpr import BPR
from cmf.model import MatrixFactorization
from cmf.model_selection import evaluate, train_test_split, tune

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
        if isinstance(exc, DivergenceError):
            message = _as_options(message)
        print(f"cmf {args.command}: error: {message}", file=sys.stderr)
        return 1


# The estimator's parameters as a divergence message names them, and the
# options that set them on the command line.
_OPTION_NAMES = (("learning_rate='auto'", "--learning-rate auto"), ("learning_rate", "--learning-rate"),
                 ("a larger regularization", "a larger --regularization"), ("max_epochs", "--epochs"),
                 ("Divide the weights", "Divide the weights (--weight-column)"))


def _as_options(message: str) -> str:
    """A model's divergence message with its remedies named as the command line's options.

    The command saves no model after an error, so the message's word on
    the model left as it was is left out.
    """
    for name, option in _OPTION_NAMES:
        message = message.replace(name, option)
    return re.sub(r"; the model is left as it was before the fit\.", ".", message)


# ----------------------------------------------------------------------
# Shared steps
# ----------------------------------------------------------------------
def _threads(args: argparse.Namespace) -> dict[str, int]:
    """``{"n_threads": N}`` for ``--threads N`` where this build has the parameter, else ``{}``."""
    if args.threads is None:
        return {}
    if "n_threads" in options.DEFAULTS:
        return {"n_threads": args.threads}
    if not args.quiet:
        print("cmf: note: this build trains with one thread; --threads is ignored", file=sys.stderr)
    return {}


def _model(args: argparse.Namespace, **overrides: Any) -> Any:
    return MatrixFactorization(**{**options.model_params(args), **loss_params(args), **_threads(args), **overrides})


def _output(args: argparse.Namespace) -> str | None:
    """The model file ``--out`` names, checked before any work (None without ``--out``).

    ``-`` names standard output, as for ``cmf recommend --all --out -``;
    a model is a binary .npz file that ``cmf predict`` and ``cmf
    recommend`` read by name, so it is refused there rather than saved as
    a file called ``-.npz``.
    """
    if args.out == "-":
        raise ValueError("--out -: a model is a binary .npz file, which is not written to standard output; "
                         "name a file instead, such as --out model.npz")
    return None if args.out is None else check_output_path(args.out)


def _unconverged(args: argparse.Namespace, n_epochs: int) -> str:
    """Why a fit did not converge: the epoch cap, or (ended before it) a step too small to move the model."""
    if n_epochs < args.epochs:
        return (f"made no progress in {n_epochs} epochs: --learning-rate {args.learning_rate} is too small to move "
                "the model; raise it, or leave it to --learning-rate auto")
    return f"stopped at --epochs {args.epochs} before converging; raise --epochs"


def _weight_advice(data: Any) -> str:
    """:func:`cmf._train.stats.weight_hint` for the ratings' ``--weight-column``, in the options' words."""
    weights = getattr(data, "weights", None)
    hint = "" if weights is None else _as_options(weight_hint(exact_mean(weights)))
    return ". " + hint.lstrip() if hint else ""


def _warn(args: argparse.Namespace, text: str) -> None:
    # On stderr, so that --json output stays parseable; silenced by --quiet.
    if not args.quiet:
        print(f"cmf {args.command}: warning: {text}", file=sys.stderr)


def _load(args: argparse.Namespace, path: str | None = None) -> Any:
    """Read RATINGS (or ``path``, another file read the same way) as the options say."""
    options.check_rating_scale(args)
    scale = None if args.rating_scale is None else tuple(args.rating_scale)
    progress = None if not (args.quiet or args.json) else False
    # The reader's messages name the option along with the parameter.
    path = args.ratings if path is None else path
    data = load_ratings(path, format=args.format, sep=args.sep, columns=args.columns, header=args.header,
                        rating_scale=scale, progress=progress, weight_column=weight_column(args))
    if args.duplicates is None:
        # Said once for the file, in the options' words, rather than once per
        # fit (a tune or a cross-validation fits many parts of it); the fits
        # then keep each rating as the default does, without the warning.
        repeats = count_repeats(data.triplets())
        if repeats:
            _warn(args, f"{repeats:,} ratings repeat a (user, item) pair already rated; each is kept as its own "
                        "observation: pass --duplicates keep to silence this, or last, mean or error")
        args.duplicates = "keep"
    return data


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


def _fit(model: Any, data: Any, args: argparse.Namespace, desc: str, validation: Any = None) -> Any:
    if isinstance(model, BPR):  # a fixed number of epochs, no progress to report
        return model.fit_ratings(data, threshold=args.threshold)
    bar = EpochProgressBar(model.max_epochs, desc, args.quiet or args.json)
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
    out = _output(args)
    if args.loss == "bpr":
        return _train_bpr(args, out)
    if args.threshold is not None and args.loss not in CLASSIFICATION_LOSSES:
        raise ValueError(f"--threshold picks the interactions of --loss bpr or the +1 labels of --loss logistic, "
                         f"hinge or squared_hinge; --loss {args.loss} fits every rating")
    if args.patience and not args.validation:
        raise ValueError(f"--patience {args.patience} needs --validation: early stopping watches held-out ratings")
    data = labelled(_load(args), args.threshold, args.loss)
    patience = args.patience if args.patience is not None else (options.PATIENCE if args.validation else None)
    model = _model(args, patience=patience or None)
    valid = None
    if args.validation:
        options.check_holdout(args.validation, len(data))
        data, valid = train_test_split(data, args.validation, random_state=args.seed)
    started = time.perf_counter()
    _fit(model, data, args, "training", valid)
    seconds = time.perf_counter() - started
    if out is not None:
        model.save(out)
    h = model.history_
    # The figures of the model saved: an epoch the bold driver undid is not it.
    last = kept_epoch(model)
    summary = {
        "ratings": len(data), "users": data.n_users, "items": data.n_items, "epochs": model.n_epochs_,
        "converged": bool(model.converged_), "best_epoch": model.best_epoch_,
        "train_rmse": None if last is None else h["train_rmse"][last],
        "validation_rmse": None if valid is None or last is None else h["val_rmse"][last], "seconds": seconds,
        "model": out, "rating_scale": model.rating_scale_,
    }
    if not model.converged_:
        _warn(args, _unconverged(args, model.n_epochs_)
                    + ("" if valid is not None or model.n_epochs_ < args.epochs
                       else ", or pass --validation to stop when held-out ratings stop improving")
                    + _weight_advice(data))
    if args.json:
        _emit_json(summary)
    else:
        val = "" if summary["validation_rmse"] is None else f", validation RMSE {summary['validation_rmse']:.4f}"
        _say(args, f"trained on {len(data):,} ratings ({data.n_users:,} users x {data.n_items:,} items, "
                   f"{describe_predictions(model)}): "
                   f"{model.n_epochs_} epochs in {seconds:.2f} s, "
                   f"{training_figure(model, last, weighted=weight_column(args) is not None)}{val}")
        if out is not None:
            _say(args, f"saved to {out}")
    return 0


def _train_bpr(args: argparse.Namespace, out: str | None) -> int:
    if args.patience and not args.validation:
        raise ValueError(f"--patience {args.patience} needs --validation: early stopping watches held-out items")
    model = bpr.bpr_model(args)
    data = _load(args)
    if args.threshold is not None:
        options.check_threshold(args.threshold, data)
    if args.validation:
        options.check_holdout(args.validation, len(data))
    started = time.perf_counter()
    model.fit_ratings(data, **bpr.fit_keywords(args))
    summary = bpr.train_summary(model, data, args.threshold, time.perf_counter() - started, out)
    if out is not None:
        model.save(out)
    if args.json:
        _emit_json(summary)
    else:
        _say(args, bpr.train_line(summary) + ("" if out is None else f"\nsaved to {out}"))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.loss == "bpr" and args.protocol != "catalogue":
        raise ValueError("--loss bpr ranks items and predicts no rating: pass --protocol catalogue")
    # A classification loss reads the ratings as labels, --threshold making them so, as cmf train does.
    data, folds = fold_source(args, lambda path: labelled(_load(args, path), args.threshold, args.loss),
                              lambda text: _warn(args, text))
    if len(data) < args.folds:
        raise ValueError(f"--folds {args.folds} needs at least {args.folds} ratings; the file has {len(data)}")
    keywords = evaluation.evaluate_keywords(args)
    if keywords["threshold"] is not None:
        options.check_threshold(keywords["threshold"], data)
    workers = n_workers(args.jobs)
    template = (bpr.bpr_model(args) if args.loss == "bpr"
                else MatrixFactorization(**options.model_params(args), **loss_params(args)))
    given = _threads(args)  # passed to each fit: clone() would set one thread per parallel fold

    def one(fold: int, train: Any, test: Any) -> tuple[dict[str, float], str | None]:
        model = clone(template, given, workers)
        if workers == 1:
            _fit(model, train, args, f"fold {fold}/{args.folds}")
        else:  # no progress bar for parallel folds
            model.fit_ratings(train)
        scores = evaluate(model, test, train=train if "protocol" in keywords else None, **keywords)
        if "kl_skipped_pairs" in scores:  # said beside the KL divergence: left out of how many
            scores["kl_pairs"] = len(test)
        if workers == 1:
            _say(args, evaluation.fold_line(fold, scores, keywords))
        return scores, (None if getattr(model, "converged_", True) else _unconverged(args, model.n_epochs_))

    outcomes = run_all([lambda f=f, tr=tr, te=te: one(f, tr, te) for f, (tr, te) in enumerate(folds, 1)], workers)
    reasons = [reason for _, reason in outcomes if reason is not None]
    unconverged = len(reasons)
    for reason in dict.fromkeys(reasons):  # each once, in fold order
        _warn(args, f"{reasons.count(reason)} of {args.folds} folds {reason}" + _weight_advice(data))
    result = evaluation.summary([scores for scores, _ in outcomes], keywords)
    if args.json:
        # With a classification loss --threshold made the labels; else it picks the relevant items.
        threshold = args.threshold if args.loss in CLASSIFICATION_LOSSES else keywords["threshold"]
        _emit_json({"folds": args.folds, "k": args.k, "threshold": threshold, "protocol": args.protocol,
                    "converged": unconverged == 0, "folds_converged": [reason is None for _, reason in outcomes],
                    **result})
    else:
        for line in evaluation.table(result, keywords):
            _say(args, line)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    out = _output(args)
    data = _load(args)
    options.check_holdout(args.validation, len(data))
    bayesian = args.model == "bayesian"
    model_class = BayesianMatrixFactorization if bayesian else MatrixFactorization
    template = model_class(random_state=args.seed, **options.data_params(args))
    base = bayesian_space(data) if bayesian else None
    space = options.search_space(args, _threads(args), base=base, estimator=template)
    report = None if (args.quiet or args.json) else (lambda line: print(line, file=sys.stderr))
    result = tune(data, args.budget, estimator=template, space=space,
                  extend=args.extend, time_limit=args.time_limit, validation=args.validation, max_epochs=args.epochs,
                  min_epochs=min(_tune.MIN_EPOCHS, args.epochs or _tune.MIN_EPOCHS),  # a low cap: a shorter round
                  n_jobs=args.jobs, random_state=args.seed, progress=report, refit=out is not None)
    if out is not None:
        result.best_estimator.save(out)
    if not result.converged:
        cap = result.space["n_samples" if bayesian else "max_epochs"]["final"]
        _warn(args, f"the best configuration stopped at --epochs {cap}{' kept sweeps' if bayesian else ''} while "
                    "its validation RMSE was still improving; raise --epochs")
    if args.json:
        _emit_json({"best_params": result.best_params, "validation_rmse": result.best_score, "converged": result.converged,
                    "seconds": result.seconds, "model": out, "space": result.space, "results": result.results})
    else:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
        saved = [] if out is None else [f"refitted on all ratings and saved to {out}"]
        _say(args, "\n".join([f"best: {params}", f"validation RMSE {result.best_score:.4f} ({len(result.results)} "
                                f"configurations, {result.seconds:.1f} s)", *space_lines(result.space), *saved]))
    return 0


def _is_integer(ids: np.ndarray) -> np.ndarray:
    """Which of the ids read as text are integers (an optional minus sign, then digits)."""
    digits = np.char.lstrip(ids, "-")
    return np.char.isdigit(digits) & (np.char.str_len(digits) > 0)


def _integer_pairs(users: np.ndarray, items: np.ndarray, model: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """PAIRS as a model with integer ids takes them.

    A file with one non-integer id reads every id as text, which would make
    every pair unknown to such a model: a first line whose ids are not
    integers while all others are is a header and is dropped, and any other
    id that is not an integer is an error naming it.
    """
    integer_ids = all(labels is None or labels.dtype.kind != "U" for labels in (model.user_labels_, model.item_labels_))
    if not integer_ids or (users.dtype.kind != "U" and items.dtype.kind != "U"):
        return users, items
    users, items = users.astype(str), items.astype(str)
    ok = _is_integer(users) & _is_integer(items)
    if not ok[0] and ok[1:].all() and len(ok) > 1:
        print(f"cmf predict: note: the first line ({str(users[0])!r}, {str(items[0])!r}) is read as a header", file=sys.stderr)
        users, items, ok = users[1:], items[1:], ok[1:]
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{args.pairs}: the pair ({str(users[bad])!r}, {str(items[bad])!r}) has an id that is not an integer, "
                         "and this model's users and items are integers; give integer ids")
    return users.astype(np.int64), items.astype(np.int64)


def _fallback_words(model: Any) -> str:
    """How ``predict(unknown="fallback")`` fills the pairs ``model`` does not know, in words."""
    if getattr(model, "biased", True):
        if getattr(model, "loss", "squared") in CLASSIFICATION_LOSSES:
            # Decision values of a classification loss: no global mean, only biases.
            return "predicted from the known biases alone, since the model has no global mean"
        return "predicted from the global mean and the known biases"
    if model.global_mean_ == 0.0:
        # An unbiased model (KL, non-negative and other unbiased fits) has
        # nothing to fall back on: say so instead of naming a mean it lacks.
        return "predicted as 0, since the model has no global mean or biases"
    return f"predicted as the global mean {model.global_mean_:.4g}"


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.clip and args.clip[0] > args.clip[1]:
        raise ValueError(f"--clip {args.clip[0]:g} {args.clip[1]:g}: LOW must not exceed HIGH")
    model = bpr.rating_model(args)
    users, items = _integer_pairs(*load_pairs(args.pairs, sep=args.sep), model, args)
    known = np.atleast_1d(model.is_known(users, items))
    n_unknown = int(np.count_nonzero(~known))
    if n_unknown and args.unknown == "error":
        first = np.flatnonzero(~known)[:1]
        try:  # the model's own message names the unknown user or item
            model.predict(users[first], items[first], unknown="error")
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]} ({n_unknown:,} of {len(known):,} pairs are unknown); pass --unknown "
                           f"fallback to have them {_fallback_words(model)}, or --unknown skip to leave them "
                           "out") from None
    clip = args.clip is None and not args.no_clip
    pred = np.atleast_1d(model.predict(users, items, unknown="fallback", clip=clip))
    if args.clip:
        pred = np.clip(pred, *args.clip)
    if args.unknown == "skip":
        users, items, pred, known = users[known], items[known], pred[known], known[known]
    if n_unknown:
        done = "left out" if args.unknown == "skip" else _fallback_words(model)
        print(f"cmf predict: note: {n_unknown:,} of {len(known) + (n_unknown if args.unknown == 'skip' else 0):,} "
              f"pairs have a user or item the model does not know: {done} (--unknown)", file=sys.stderr)
    if args.json:
        _emit_json([{"user": u, "item": i, "prediction": float(p), "known": bool(k)}
                    for u, i, p, k in zip(users, items, pred, known)])
    else:
        for u, i, p in zip(users, items, pred):
            print(f"{u}\t{i}\t{p:.4f}")
    return 0


def add_commands(sub: Any) -> None:
    """Register the recommender subcommands on an argparse subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    p = sub.add_parser("train", help="fit a model to a rating file and save it",
                       description="Fit a model to a rating file and save it. Prints a warning when "
                                   "training stops at --epochs before converging.")
    options.add_data_options(p)
    options.add_model_options(p)
    bpr.add_loss_option(p)
    bpr.add_threshold_option(p)
    add_loss_options(p)
    p.add_argument("--validation", type=options.fraction, metavar="FRACTION",
                   help=f"hold out this fraction to monitor (early stopping, patience {options.PATIENCE})")
    p.add_argument("--patience", type=options.count(0), metavar="N",
                   help=f"early-stopping patience in epochs (default {options.PATIENCE} with --validation; "
                        "0 turns it off)")
    p.add_argument("--out", "-o", metavar="MODEL", help="save the model to this file (.npz appended when missing)")
    options.add_output_options(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="cross-validate a model on a rating file",
                       description="Cross-validate a model on a rating file: RMSE, MAE and ranking metrics, or "
                                   "(--protocol catalogue) rankings of the full catalogue beside baselines.")
    options.add_data_options(p)
    options.add_model_options(p)
    bpr.add_loss_option(p)
    add_loss_options(p)
    add_fold_options(p)
    p.add_argument("-k", type=options.count(1), default=10, metavar="K", help="cut-off of the ranking metrics (default 10)")
    evaluation.add_protocol_options(p)
    p.add_argument("--jobs", type=options.jobs, metavar="N", default=1,
                   help="folds in parallel (default 1; -1: one per core; no progress bar)")
    options.add_output_options(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("tune", help="pick factors, regularization and learning rate for a rating file",
                       description="Pick the number of factors, the regularization and the learning rate "
                                   "(and the initial spread) by random search with successive halving on a "
                                   "validation split, moving the search past an edge where the best sits. A model "
                                   "option given holds that parameter fixed; X,Y,... or LOW:HIGH narrows its search.")
    options.add_data_options(p)
    options.add_model_options(p, search=True)
    p.add_argument("--model", choices=("sgd", "bayesian"), default="sgd",
                   help="the model searched: sgd (default), MatrixFactorization by SGD; bayesian, "
                        "BayesianMatrixFactorization by Gibbs sampling, whose factors, noise precision and burn-in "
                        "are searched and whose rounds run longer chains (--epochs: kept sweeps; --learning-rate "
                        "and the penalties do not apply)")
    p.add_argument("--budget", type=options.count(1), metavar="N",
                   help=f"configurations of the first race (default {_tune.BUDGET}; {BAYES_BUDGET} with --model "
                        "bayesian)")
    p.add_argument("--extend", type=options.count(0), default=_tune.EXTEND, metavar="N", help="further races "
                   f"(a third of --budget each) past the edges where the best sits (default {_tune.EXTEND})")
    p.add_argument("--time-limit", type=options.positive_real, metavar="SECONDS",
                   help="start no further race after this many seconds (default: none)")
    p.add_argument("--validation", type=options.fraction, metavar="FRACTION", default=_tune.VALIDATION,
                   help=f"fraction held out to compare them (default {_tune.VALIDATION})")
    p.add_argument("--jobs", type=options.jobs, metavar="N", default=-1,
                   help="configurations trained in parallel (default -1: one per core)")
    p.add_argument("--out", "-o", metavar="MODEL",
                   help="refit the best on all ratings and save it to this file (.npz appended when missing)")
    options.add_output_options(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("predict", help="predict ratings for (user, item) pairs",
                       description="Predict ratings for (user, item) pairs; one 'user<TAB>item<TAB>rating' "
                                   "line per pair.")
    p.add_argument("model", metavar="MODEL", help="a model saved by 'cmf train --out' (.npz may be left out)")
    p.add_argument("pairs", metavar="PAIRS", help="file of 'user item' lines (tab, comma, '::' or space separated)")
    p.add_argument("--sep", help="field separator of PAIRS")
    p.add_argument("--clip", type=options.finite_real, nargs=2, metavar=("LOW", "HIGH"),
                   help="clip predictions to this range (default: the rating scale stored in the model)")
    p.add_argument("--no-clip", action="store_true", help="do not clip predictions to the model's rating scale")
    p.add_argument("--unknown", choices=("fallback", "skip", "error"), default="fallback",
                   help="a pair whose user or item the model does not know: predict the global mean plus the "
                        "known bias (default; their count is printed on stderr), leave it out, or stop with "
                        "an error")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_predict, quiet=False)
