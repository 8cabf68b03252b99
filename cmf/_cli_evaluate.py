"""The two protocols of ``cmf evaluate``: its options, what each fold reports, the summary.

``--protocol held_out`` (the default) prints RMSE, MAE and the rankings of
each user's held-out ratings; ``--protocol catalogue`` ranks every item a
user did not rate in the fold's training part and prints the model's
full-catalogue metrics beside those of the baselines (``--baselines``),
which are fitted on the same training part.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import numpy as np

from cmf._cli_options import finite_real
from cmf._losses import predicts_ratings
from cmf.metrics import BASELINES, CATALOGUE_METRICS, LOSS_METRICS

__all__ = ["add_protocol_options", "evaluate_keywords", "fold_line", "summary", "table"]

PROTOCOLS = ("held_out", "catalogue")
DEFAULT_BASELINES = ",".join(BASELINES)
_NAMES = {"rmse": "RMSE", "mae": "MAE", "precision": "precision@{k}", "recall": "recall@{k}", "ndcg": "NDCG@{k}",
          "map": "MAP@{k}", "mrr": "MRR", "hit_rate": "hit rate@{k}", "auc": "AUC", "coverage": "coverage@{k}",
          "popularity": "popularity@{k}", "kl": "KL divergence", "logloss": "log loss", "accuracy": "accuracy"}
# The rankings of each user's held-out ratings, reported for the losses of ratings.
_RANKING = ("precision", "recall", "ndcg")


def baseline_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated baseline names, or ``none``."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in BASELINES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown baseline {', '.join(unknown) or repr(text)}; "
                                         f"give some of {DEFAULT_BASELINES} (comma-separated), or none")
    return names


def add_protocol_options(p: argparse.ArgumentParser) -> None:
    """``--protocol``, ``--baselines`` and ``--threshold`` of ``cmf evaluate``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The evaluate command's parser.
    """
    p.add_argument("--protocol", choices=PROTOCOLS, default="held_out",
                   help="held_out (default): RMSE, MAE and the ranking of each user's held-out ratings; "
                        "catalogue: rank every item the user did not rate in training, as recommend does "
                        "(precision, recall, NDCG, MAP and hit rate at -k, MRR, AUC, coverage and the mean "
                        "training count of the top-k items), beside --baselines")
    p.add_argument("--baselines", type=baseline_list, metavar="LIST",
                   help=f"with --protocol catalogue, the baselines fitted on each fold's training part "
                        f"(default {DEFAULT_BASELINES}; none for none)")
    p.add_argument("--threshold", type=finite_real, metavar="RATING",
                   help="rating from which a test item counts as relevant (default 3.5 with --protocol held_out; "
                        "every test rating with --protocol catalogue); with --loss logistic, hinge or "
                        "squared_hinge, the rating from which a rating is a +1 label, the others -1 (as in "
                        "cmf train)")


def evaluate_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :func:`cmf.model_selection.evaluate` for the options (all but ``train``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``cmf evaluate``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For ``--baselines`` without ``--protocol catalogue``.
    """
    if args.protocol == "held_out":
        if args.baselines is not None:
            raise ValueError("--baselines compares rankings of the full catalogue: pass --protocol catalogue too")
        # The figures that judge the loss (--loss), first; rankings of ratings after them.
        loss = getattr(args, "loss", "squared")
        if not predicts_ratings(loss):
            return {"metrics": LOSS_METRICS[loss], "k": args.k, "threshold": None}
        return {"metrics": ("rmse", "mae") + _RANKING, "k": args.k,
                "threshold": 3.5 if args.threshold is None else args.threshold}
    baselines = BASELINES if args.baselines is None else args.baselines
    return {"metrics": CATALOGUE_METRICS, "k": args.k, "threshold": args.threshold, "protocol": "catalogue",
            "baselines": baselines}


def fold_line(fold: int, scores: dict[str, float], keywords: dict[str, Any]) -> str:
    """The line printed after a fold.

    Parameters
    ----------
    fold : int
        1-based.
    scores : dict
        What ``evaluate`` returned.
    keywords : dict
        From :func:`evaluate_keywords`.

    Returns
    -------
    str
    """
    shown = ("precision", "ndcg") if "protocol" in keywords else keywords["metrics"][:2]
    line = f"fold {fold}: " + "  ".join(f"{_name(m, keywords['k'])} {scores[m]:.4f}" for m in shown)
    if scores.get("kl_skipped_pairs"):
        line += f" ({scores['kl_skipped_pairs']:,} of {scores['kl_pairs']:,} pairs left out)"
    return line


def _stats(values: Sequence[float]) -> dict[str, Any]:
    v = np.array(values, dtype=np.float64)
    # An infinite fold (a KL divergence) has a NaN spread: printed as such, without NumPy's warning.
    with np.errstate(invalid="ignore"):
        return {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v.tolist()}


def summary(folds: list[dict[str, float]], keywords: dict[str, Any]) -> dict[str, Any]:
    """Mean, standard deviation and per-fold values of every metric, the model's and each baseline's.

    Parameters
    ----------
    folds : list of dict
        ``evaluate``'s result for each fold.
    keywords : dict
        From :func:`evaluate_keywords`.

    Returns
    -------
    dict
        ``{"metrics": {...}}``, plus ``"baselines": {name: {...}}`` and the
        ``users`` / ``skipped_users`` counts under the catalogue protocol,
        and with ``kl`` the ``kl_skipped_pairs`` / ``kl_pairs`` counts (the
        pairs left out of it, and all held-out pairs).
    """
    names = list(keywords["metrics"])
    if "protocol" not in keywords:
        names += [m for m in ("kl_skipped_pairs", "kl_pairs") if m in folds[0]]
        return {"metrics": {m: _stats([f[m] for f in folds]) for m in names}}
    names += ["users", "skipped_users"]
    return {"metrics": {m: _stats([f[m] for f in folds]) for m in names},
            "baselines": {b: {m: _stats([f[f"{b}.{m}"] for f in folds]) for m in names}
                          for b in keywords["baselines"]}}


def table(result: dict[str, Any], keywords: dict[str, Any]) -> list[str]:
    """The summary as printed: a row per metric, the model (mean +- std over folds) and each baseline (mean).

    Parameters
    ----------
    result : dict
        From :func:`summary`.
    keywords : dict
        From :func:`evaluate_keywords`.

    Returns
    -------
    list of str
    """
    k, metrics = keywords["k"], result["metrics"]
    baselines = result.get("baselines", {})
    lines = [f"{'':>14}  {'model':>16}" + "".join(f"  {b:>12}" for b in baselines)] if baselines else []
    for m in keywords["metrics"]:
        digits = 1 if m == "popularity" else 4  # a count of ratings, not a rate
        # One fold (a split by time, leave-last) has no spread to show: "+- 0" would read as a measured one.
        spread = f" +- {metrics[m]['std']:.{digits}f}" if len(metrics[m]["folds"]) > 1 else ""
        row = f"{_name(m, k):>14}  {metrics[m]['mean']:.{digits}f}{spread}"
        lines.append(row + "".join(f"  {baselines[b][m]['mean']:>12.{digits}f}" for b in baselines))
    if metrics.get("kl_skipped_pairs", {}).get("mean"):
        skipped, pairs = (int(sum(metrics[m]["folds"])) for m in ("kl_skipped_pairs", "kl_pairs"))
        lines.append(f"left out of the KL divergence: {skipped:,} of {pairs:,} held-out pairs, whose user or item "
                     "has no training ratings in the fold (a kl model, without biases or mean, predicts 0 there)")
    if "users" in metrics:
        # counts: whole numbers unless the folds differ
        lines.append(f"users scored per fold: {metrics['users']['mean']:g} ({metrics['skipped_users']['mean']:g} "
                     "skipped: no test item outside their training items)")
    return lines


def _name(metric: str, k: int) -> str:
    return _NAMES[metric].format(k=k)
