"""The two protocols of :func:`cmf.model_selection.evaluate`.

``held_out`` predicts each held-out rating (RMSE, MAE) and ranks only each
user's held-out items; ``catalogue`` ranks every item a user did not
interact with in training, for the model and for baselines fitted on the
same training data. Kept apart from :mod:`cmf.model_selection`, which
dispatches to them, so that the public module keeps to its searches.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cmf import metrics as _metrics
from cmf._dataset import RatingDataset, as_dataset

__all__ = ["HELD_OUT_METRICS", "check_metrics", "evaluate_catalogue", "evaluate_held_out"]

#: The metrics of ``evaluate(protocol="held_out")``.
HELD_OUT_METRICS = ("rmse", "mae", "precision", "recall", "ndcg", "kl", "logloss", "accuracy")

# The error metrics: each a function of the true values and the predictions.
_ERRORS = {"rmse": _metrics.rmse, "mae": _metrics.mae, "kl": _metrics.kl_divergence, "logloss": _metrics.logloss,
           "accuracy": _metrics.accuracy}


def check_metrics(metrics: Sequence[str], names: Sequence[str], other: str) -> None:
    """Refuse a metric that ``names`` does not list, pointing to the protocol that has it.

    Parameters
    ----------
    metrics : sequence of str
        Asked for.
    names : sequence of str
        The protocol's metrics.
    other : str
        How to ask for the other protocol, for the message.

    Raises
    ------
    ValueError
        For a string instead of a sequence, or an unknown name.
    """
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a sequence of names such as ({metrics!r},), not a string")
    unknown = set(metrics) - set(names)
    if unknown:
        hint = f" ({other} has them)" if unknown <= set(HELD_OUT_METRICS + _metrics.CATALOGUE_METRICS) else ""
        raise ValueError(f"unknown metric(s) {sorted(unknown)}{hint}; choose from {', '.join(names)}")


def evaluate_catalogue(
    model: Any, test: Any, train: Any, metrics: Sequence[str] | None, baselines: Sequence[str], *,
    k: int, threshold: float | None, batch_size: int | None,
) -> dict[str, float]:
    """``evaluate(protocol="catalogue")``: the model's metrics, then each baseline's as ``<baseline>.<metric>``.

    Parameters
    ----------
    model : MatrixFactorization
        Fitted.
    test, train : RatingDataset or tuple
        Held-out and training interactions.
    metrics : sequence of str or None
        Names from :data:`cmf.metrics.CATALOGUE_METRICS` (None: all).
    baselines : sequence of str
        Names from :data:`cmf.metrics.BASELINES`.
    k, threshold, batch_size
        As for :func:`cmf.metrics.catalogue_metrics`.

    Returns
    -------
    dict
        The metrics asked for, ``users`` and ``skipped_users``, per scorer.
    """
    if train is None:
        raise ValueError("protocol='catalogue' needs the training data, to leave each user's training items out "
                         "of the ranking: pass train=<the ratings the model was fitted on>")
    metrics = _metrics.CATALOGUE_METRICS if metrics is None else metrics
    check_metrics(metrics, _metrics.CATALOGUE_METRICS, "protocol='held_out'")
    baselines = (baselines,) if isinstance(baselines, str) else tuple(baselines)
    for name in baselines:
        if name not in _metrics.BASELINES:
            raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(_metrics.BASELINES)}")
    model._check_fitted()
    out: dict[str, float] = {}
    for prefix, scorer in (("", model), *((f"{name}.", name) for name in baselines)):
        scores = _metrics.catalogue_metrics(scorer, train, test, k=k, threshold=threshold, batch_size=batch_size)
        out.update({prefix + m: scores[m] for m in (*metrics, "users", "skipped_users")})
    return out


def evaluate_held_out(
    model: Any, data: Any, metrics: Sequence[str] | None, *, k: int, threshold: float | None,
    clip: bool | tuple[float, float] | None,
) -> dict[str, float]:
    """``evaluate(protocol="held_out")``: errors of the predicted ratings and rankings of the held-out items.

    The arguments are those of :func:`cmf.model_selection.evaluate`;
    ``metrics`` None asks for those of the model's loss
    (:data:`cmf.metrics.LOSS_METRICS`: ``rmse`` and ``mae`` for ratings),
    ``threshold`` None means 3.5.

    Returns
    -------
    dict
        Metric name to value; with ``kl``, also ``kl_skipped_pairs`` (see
        :func:`_kl_held_out`).
    """
    metrics = _metrics.LOSS_METRICS[getattr(model, "loss", "squared")] if metrics is None else metrics
    check_metrics(metrics, HELD_OUT_METRICS, "protocol='catalogue'")
    threshold = 3.5 if threshold is None else threshold
    data = as_dataset(data)
    model._check_fitted()
    raw = _predict_dataset(model, data, clip=False)
    scale = model.rating_scale_ if clip is True else None if clip is False or clip is None else clip
    pred = raw if scale is None else np.clip(raw, *scale)
    out = {m: _ERRORS[m](data.values, pred) for m in metrics if m in _ERRORS and m != "kl"}
    if "kl" in metrics:
        out["kl"], out["kl_skipped_pairs"] = _kl_held_out(model, data, pred)
    ranking = [m for m in metrics if m in ("precision", "recall", "ndcg")]
    if ranking:
        scores = _metrics.ranking_metrics(data.rows, data.values, raw, k=k, threshold=threshold)
        out.update({m: scores[m] for m in ranking})
    return out


def _kl_held_out(model: Any, data: RatingDataset, pred: np.ndarray) -> tuple[float, int]:
    """The mean generalized KL divergence of the pairs the model predicts, and how many it left out.

    A model without biases (every ``loss="kl"`` model) has no global mean
    either: a user or item without training ratings keeps zero factors
    and is predicted 0, as is one it does not know, and a positive amount
    predicted 0 has an infinite divergence. That 0 is no prediction the
    model learnt but the absence of one, so those pairs are left out and
    counted, rather than made infinite (LIBMF predicts them as the mean of
    its training ratings, which such a model does not hold). Any other
    pair counts, an infinite term included. NaN when every pair is left
    out.
    """
    values = np.asarray(data.values, dtype=np.float64)
    if getattr(model, "biased", True):
        return _metrics.kl_divergence(values, pred), 0
    fitted = model._snapshot()
    if data.labelled:
        rows, cols = data.user_labels.labels[data.rows], data.item_labels.labels[data.cols]
    else:
        rows, cols = data.rows, data.cols
    r, c, _ = fitted._known_or_minus_one(rows, cols)
    # Rows of zero factors: no training ratings (initial_factors zeroes
    # them and SGD never visits them). Index -1 (unknown) reads the flag
    # appended last, True.
    no_user = np.append(~fitted.state.P.any(axis=1), True)
    no_item = np.append(~fitted.state.Q.any(axis=1), True)
    predicted = ~(no_user[r] | no_item[c])
    skipped = int(len(values) - np.count_nonzero(predicted))
    if skipped == len(values):
        return float("nan"), skipped
    return _metrics.kl_divergence(values[predicted], pred[predicted]), skipped


def _predict_dataset(model: Any, data: RatingDataset, *, clip: bool) -> np.ndarray:
    """Predictions for every rating of ``data``, in float64.

    A split of the data the model was fitted on shares its labels or
    indices. Data read separately (a test file) is matched by label; a user
    or item the model does not know is predicted as the model predicts a row
    or column without ratings: the global mean plus the known side's bias.
    ``clip`` clips to the model's ``rating_scale_``.
    """
    labelled_model = model.user_labels_ is not None
    if data.labelled != labelled_model:
        raise ValueError(
            "the model and the data must both have labels or both be indices: "
            + ("fit with fit_ratings() on the loaded data" if data.labelled else "pass labelled data")
        )
    if data.labelled:
        rows, cols = data.user_labels.labels[data.rows], data.item_labels.labels[data.cols]
    elif data.shape[0] > model.shape_[0] or data.shape[1] > model.shape_[1]:
        raise ValueError(
            f"the data has shape {data.shape} but the model {tuple(model.shape_)}: "
            "score it on a split of the data it was fitted on"
        )
    else:
        rows, cols = data.rows, data.cols
    return np.asarray(model.predict(rows, cols, unknown="fallback", clip=clip), dtype=np.float64)
