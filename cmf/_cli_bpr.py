"""``--loss`` of ``cmf train`` and ``cmf evaluate``, and what ``--loss bpr`` builds: a :class:`cmf.BPR`.

``--loss bpr`` ranks items by Bayesian personalised ranking on the file's
interactions: the rows rated at least ``--threshold`` when it is given,
else every row (a pair repeated counts once). The model options the user
gave (``--factors``, ``--learning-rate``, ``--regularization``,
``--bias-regularization``, ``--epochs``, ``--threads``, ``--seed``) set the
BPR parameters of the same meaning; the others keep BPR's own defaults
(implicit's), not the rating model's. Any other ``--loss`` is handed to
:class:`cmf.MatrixFactorization` as ``loss=`` (:func:`cmf._cli_losses.loss_params`).
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from cmf._bpr_files import is_bpr_file
from cmf._cli_options import finite_real
from cmf._search import n_workers
from cmf.bpr import BPR
from cmf.model import MatrixFactorization

__all__ = ["BPR_DEFAULTS", "LOSSES", "add_loss_option", "add_threshold_option", "bpr_model",
           "check_recommend_options", "fit_keywords", "rating_model", "train_line", "train_summary"]

#: The values of ``--loss``: the rating model's losses, then ``bpr``.
LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge", "bpr")
BPR_DEFAULTS: dict[str, Any] = {name: p.default for name, p in inspect.signature(BPR.__init__).parameters.items()
                                if p.default is not inspect.Parameter.empty}
# The command line's model options (their ``dest``) and the BPR parameter each sets.
_BPR_OPTIONS = (("factors", "n_factors"), ("learning_rate", "learning_rate"), ("regularization", "regularization"),
                ("bias_regularization", "bias_regularization"), ("epochs", "n_epochs"))


def add_loss_option(p: argparse.ArgumentParser) -> None:
    """``--loss``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of ``cmf train`` or ``cmf evaluate``.
    """
    p.add_argument("--loss", choices=LOSSES, default="squared",
                   help="what the model fits: squared error of the ratings (default); absolute, kl, logistic, "
                        "hinge, squared_hinge (LIBMF's other losses); or bpr, a ranking of each user's items "
                        "learnt from the interactions by Bayesian personalised ranking (cmf.BPR: the model "
                        "options not given take its defaults, {n_factors} factors, learning rate "
                        "{learning_rate}, regularization {regularization}, {n_epochs} epochs)".format(**BPR_DEFAULTS))


def add_threshold_option(p: argparse.ArgumentParser) -> None:
    """``--threshold`` of ``cmf train`` (``cmf evaluate`` has its own, which ``--loss bpr`` trains with too).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of ``cmf train``.
    """
    p.add_argument("--threshold", type=finite_real, metavar="RATING",
                   help="with --loss bpr: the rows rated at least RATING are the interactions (default: every row); with "
                        "--loss logistic, hinge or squared_hinge: they are the +1 labels, the others -1")


def bpr_model(args: argparse.Namespace) -> BPR:
    """The :class:`cmf.BPR` that ``--loss bpr`` and the model options given ask for.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``cmf train`` or ``cmf evaluate``.

    Returns
    -------
    BPR
        Unfitted.

    Raises
    ------
    ValueError
        For ``--learning-rate auto`` (BPR takes a constant step), or a
        ``--duplicates`` policy other than keep (a pair counts once).
    """
    given = getattr(args, "given", set())
    params = {name: getattr(args, dest) for dest, name in _BPR_OPTIONS if dest in given}
    if params.get("learning_rate") == "auto":
        raise ValueError(f"--learning-rate auto adapts the step to a rating loss; --loss bpr takes a number "
                         f"(default {BPR_DEFAULTS['learning_rate']})")
    if args.duplicates not in (None, "keep"):
        raise ValueError(f"--duplicates {args.duplicates}: with --loss bpr a (user, item) pair repeated counts as "
                         "one interaction; leave --duplicates out")
    args.duplicates = "keep"  # said: no warning about repeats, which count once
    threads = args.threads if args.threads is not None else n_workers(-1)
    return BPR(**params, n_threads=threads, random_state=args.seed)


def fit_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :meth:`cmf.BPR.fit_ratings` for ``cmf train --loss bpr``.

    ``--validation F`` holds out that fraction and stops early on its
    NDCG@10 (``--patience`` epochs without a better one; BPR's default 25).

    Raises
    ------
    ValueError
        For ``--patience 0`` with ``--validation``: BPR validates only to stop early.
    """
    keywords: dict[str, Any] = {"threshold": args.threshold}
    if args.validation and args.patience == 0:
        raise ValueError("--patience 0 turns early stopping off, and --loss bpr holds out --validation only to stop "
                         "early: leave --validation out to train on every interaction")
    if args.validation:
        keywords["validation"] = args.validation
    if args.patience:
        keywords["patience"] = args.patience
    return keywords


def train_summary(model: BPR, data: Any, threshold: float | None, seconds: float, out: str | None) -> dict[str, Any]:
    """What ``cmf train --loss bpr`` reports (printed, or as JSON).

    Parameters
    ----------
    model : BPR
        Fitted on ``data``.
    data : RatingDataset
        The file's rows.
    threshold : float or None
        ``--threshold``.
    seconds : float
        Wall time of the fit.
    out : str or None
        The model file written.

    Returns
    -------
    dict
    """
    positives, history = model._positives, model.history_
    checks = [v for v in history.get("val_ndcg", []) if v == v]
    return {"loss": "bpr", "rows": len(data), "interactions": int(len(positives.indices)), "threshold": threshold,
            "users": data.n_users, "items": data.n_items, "epochs": model.n_epochs_,
            "epochs_run": len(history["epoch"]), "best_epoch": model.best_epoch_,
            "validation_ndcg": max(checks) if checks else None,
            "correct": float(history["correct"][model.n_epochs_ - 1]) if model.n_epochs_ else None,
            "seconds": seconds, "model": out}


def train_line(summary: dict[str, Any]) -> str:
    """The line ``cmf train --loss bpr`` prints."""
    which = "every row" if summary["threshold"] is None else f"rows rated at least {summary['threshold']:g}"
    correct = "" if summary["correct"] is None else \
        f"; {100 * summary['correct']:.1f}% of the last epoch's samples were ranked right before their step"
    stopped = "" if summary["validation_ndcg"] is None else \
        (f"; validation NDCG@10 {summary['validation_ndcg']:.4f} at epoch {summary['best_epoch']} (best of "
         f"{summary['epochs_run']} run)")
    return (f"trained BPR on {summary['interactions']:,} interactions ({which}; {summary['users']:,} users x "
            f"{summary['items']:,} items): {summary['epochs']} epochs in {summary['seconds']:.2f} s{correct}{stopped}")


def check_recommend_options(args: argparse.Namespace, shrinkage: float) -> dict[str, Any]:
    """The keywords of :meth:`cmf.BPR.recommend` for ``cmf recommend`` on a BPR model file.

    Raises
    ------
    ValueError
        For the controls of a rating model that BPR does not take.
    """
    refused = [option for option, used in (("--candidates", args.candidates is not None),
                                           ("--exclude", args.exclude is not None),
                                           ("--min-support", bool(args.min_support)),
                                           ("--shrinkage", args.shrinkage != shrinkage))
               if used]
    if refused:
        raise ValueError(f"{refused[0]} is a control of rating models; a BPR model file ranks every item by its "
                         "scores (only --include-seen applies): leave it out")
    return {"exclude_seen": not args.include_seen}


def rating_model(args: argparse.Namespace) -> MatrixFactorization:
    """The rating model of ``args.model`` for ``cmf predict`` and ``cmf similar``; a BPR model file is refused.

    Raises
    ------
    ValueError
        For a BPR model file, naming the command that reads it.
    """
    if is_bpr_file(args.model):
        raise ValueError(f"{args.model} holds a BPR model (cmf train --loss bpr), which ranks items and has none of "
                         f"a rating model's predictions for cmf {args.command}: use cmf recommend with it")
    return MatrixFactorization.load(args.model)
