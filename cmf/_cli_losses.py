"""The options of ``cmf train`` and ``cmf evaluate`` that choose LIBMF's other objectives.

``--loss``, ``--l1`` and ``--nonnegative`` set the estimator's ``loss``,
``l1`` and ``nonnegative`` parameters; ``--weight-column N`` reads a sample
weight per rating from column N of the rating file
(:func:`cmf.io.load_ratings`'s ``weight_column``). What the commands print
follows the loss: RMSE for ratings, the figures of
:data:`cmf.metrics.LOSS_METRICS` otherwise.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import numpy as np

from cmf._cli_options import nonnegative_real
from cmf._losses import LOSSES, label_values, predicts_ratings, shown_values
from cmf._train.config import CLASSIFICATION_LOSSES

__all__ = ["CLASSIFICATION_LOSSES", "LOSS_CHOICES", "add_loss_options", "describe_predictions", "labelled",
           "kept_epoch", "loss_params", "training_figure", "weight_column"]

#: ``--loss`` choices: the estimator's losses, and "bpr" (cmf.BPR's pairwise ranking).
LOSS_CHOICES = (*LOSSES, "bpr")


def _column(text: str) -> int | str:
    """An argparse type: one column, a position from 0 (as ``--columns`` reads them) or a header name."""
    text = text.strip()
    if not text or "," in text:
        raise argparse.ArgumentTypeError(f"must be one column, a position from 0 or a header name; got {text!r}")
    return int(text) if text.isdigit() else text


def add_loss_options(p: argparse.ArgumentParser) -> None:
    """``--loss`` (unless the parser has it), ``--l1``, ``--nonnegative`` and ``--weight-column``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of ``cmf train`` or ``cmf evaluate``.
    """
    g = p.add_argument_group("loss")
    try:
        g.add_argument("--loss", choices=LOSS_CHOICES, default="squared",
                       help="squared (default) or absolute error for ratings (absolute: robust to outliers); kl for "
                            "non-negative counts (needs --nonnegative; fitted without biases); logistic, hinge or "
                            "squared_hinge for +1/-1 (or 0/1) ratings, or ratings made labels by --threshold, whose predictions are decision values (the sign is the class)")
    except argparse.ArgumentError:  # the command has its --loss already (one that also routes bpr)
        pass
    g.add_argument("--l1", type=nonnegative_real, default=0.0, metavar="L",
                   help="L1 penalty on the factors, for sparse factors (default 0)")
    g.add_argument("--nonnegative", action="store_true",
                   help="keep every factor entry >= 0 (non-negative matrix factorization)")
    g.add_argument("--weight-column", type=_column, metavar="N",
                   help="the column (from 0, or a header name) of a sample weight per rating, > 0: each "
                        "rating's loss counts that many times. The L2 penalty is not scaled by the weights, so "
                        "weights of mean 1000 make it 1000 times weaker: divide them by their mean first")


def loss_params(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's ``loss``, ``l1`` and ``nonnegative`` for the options (none for a command without them).

    Raises
    ------
    ValueError
        For ``--loss bpr`` where it is not routed to :class:`cmf.BPR`.
    """
    if not hasattr(args, "loss"):
        return {}
    if args.loss == "bpr":
        raise ValueError("--loss bpr trains a ranking model of interactions, not a MatrixFactorization: "
                         "use cmf.BPR from Python")
    # kl predicts with the factors alone, and the command line has no option for the biases.
    return {"loss": args.loss, "l1": args.l1, "nonnegative": args.nonnegative,
            **({"biased": False} if args.loss == "kl" else {})}


def labelled(data: Any, threshold: float | None, loss: str) -> Any:
    """``data`` with its ratings turned into +1 (at least ``threshold``) and -1 labels; as is without a threshold.

    Parameters
    ----------
    data : RatingDataset
    threshold : float or None
        ``--threshold`` of ``cmf train`` or ``cmf evaluate`` with a
        classification loss.
    loss : str
        ``--loss``.

    Returns
    -------
    RatingDataset

    Raises
    ------
    ValueError
        For a classification loss without a threshold on a file of ratings,
        not labels: names the option that makes labels of them.
    """
    if loss not in CLASSIFICATION_LOSSES:
        return data
    if threshold is None:
        labels, distinct = label_values(data.values)
        if not labels:
            raise ValueError(
                f"--loss {loss} trains on +1/-1 (or 0/1) labels, but the file's ratings include "
                f"{shown_values(distinct)}: pass --threshold RATING to make the ratings from RATING up the +1 "
                "labels and the others -1 (for example --threshold 4), or use --loss squared for ratings")
        return data
    labels = np.where(data.values >= threshold, 1.0, -1.0).astype(data.values.dtype)
    return replace(data, values=labels)


def weight_column(args: argparse.Namespace) -> int | str | None:
    """``--weight-column``, or None (also for a command without the option)."""
    return getattr(args, "weight_column", None)


def describe_predictions(model: Any) -> str:
    """What a fitted model's predictions are, for ``cmf train``'s summary line."""
    if predicts_ratings(model.loss):
        low, high = model.rating_scale_
        return f"ratings {low:g} to {high:g}, to which predictions are clipped"
    if model.loss == "kl":
        return "loss kl: predictions are non-negative amounts"
    return f"loss {model.loss}: predictions are decision values, their sign the class"


def kept_epoch(model: Any) -> int | None:
    """The 0-based epoch whose parameters a fitted model holds, or None for its starting point.

    That is the best epoch under early stopping, else the last epoch the
    bold driver kept: an epoch it undid (its loss, often infinite, is in
    ``history_`` all the same) left the model as the epoch before it was.

    Parameters
    ----------
    model : MatrixFactorization
        Fitted.

    Returns
    -------
    int or None
    """
    if model.best_epoch_:
        return int(model.best_epoch_) - 1
    kept = model.history_.get("kept") or [1.0] * model.n_epochs_
    return next((epoch for epoch in range(len(kept) - 1, -1, -1) if kept[epoch]), None)


def training_figure(model: Any, epoch: int | None, weighted: bool = False) -> str:
    """The training figure of ``cmf train``'s summary line: the RMSE for ratings, else the mean loss per rating.

    Parameters
    ----------
    model : MatrixFactorization
        Fitted.
    epoch : int or None
        The 0-based epoch whose figure to show (:func:`kept_epoch`); None
        when no epoch was kept, whose figure was not measured.
    weighted : bool, default False
        Whether the ratings had weights: the figure is then the weighted
        one training measures (the root of the mean of weight x squared
        error), and is named so.
    """
    if epoch is None:
        return "no epoch kept, so no training figure"
    rmse = model.history_["train_rmse"][epoch]
    prefix = "weighted training" if weighted else "training"
    if model.loss == "squared":
        return f"{prefix} RMSE {rmse:.4f}"
    # The loop's "train_rmse" is the root of the mean (weighted) loss of the epoch's entries.
    return f"{prefix} {model.loss} loss {rmse * rmse:.4f} per rating"
