"""What :func:`cmf.model_selection.tune` does differently for a sampled model, such as BayesianMatrixFactorization.

A Gibbs chain has no step size, no penalty and no early stopping; what it
trains longer is the chain, and its validation error is that of the
running posterior mean over the kept sweeps. So a race of successive
halving (:mod:`cmf._halving`) gives the survivors of each round ``eta``
times as many kept sweeps (after their burn-in), each run a new chain
(there is no ``partial_fit``: a chain cannot be continued on a copy), and a
configuration stops when doubling its kept sweeps gained less than
:data:`SWEEP_TOL` of validation RMSE. The space
(:func:`bayesian_space`) moves past its edges as the SGD space does: more
factors while the most factors offered win.

An estimator is raced this way when its parameters include ``n_samples``
(sweeps, burn-in included) and ``burn_in``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from cmf._halving import Trial
from cmf._tune_space import Choices
from cmf.exceptions import DivergenceError

__all__ = ["BUDGET", "BURN_IN_CHOICES", "FACTOR_CHOICES", "FACTOR_LIMIT", "MAX_SWEEPS", "NOISE_SCALES", "SWEEP_TOL", "bayesian_space",
           "is_sampler", "resample", "sweeps_param"]

# Around the model's default of 10; a sweep costs about k^3 per row, so the
# search grows the factors one doubling at a time, to at most 80.
# tune's default budget for a sampler: its space holds 36 combinations and
# every configuration is a chain (on MovieLens 100K, 9 find what 27 find,
# in an eighth of the time).
BUDGET = 9
FACTOR_CHOICES = (5, 10, 20)
FACTOR_LIMIT = 80
BURN_IN_CHOICES = (5, 10, 20)
# Fixed noise precisions offered beside "auto", in units of 1 / variance of
# the ratings: the residual variance of a good model is about half the
# ratings' (MovieLens 100K: 1.27 and about 0.62), so 2 is near what "auto"
# settles at; fixed values are tied to the scale, hence relative to it.
NOISE_SCALES = (1.5, 2.0, 3.0)
# The first race's cap on kept sweeps (``tune``'s ``max_epochs`` counts
# kept sweeps for a sampler); doubled while the best still gains.
MAX_SWEEPS = 200
# A chain whose running-mean validation RMSE fell by less than this over
# the second half of its kept sweeps is done: twice the sweeps would not pay.
SWEEP_TOL = 1e-3


def is_sampler(estimator: Any) -> bool:
    """Whether ``tune`` races ``estimator`` on sweeps of a chain rather than on SGD epochs."""
    params = estimator.get_params()
    return "n_samples" in params and "burn_in" in params


def bayesian_space(data: Any) -> dict[str, Any]:
    """The default search space of a sampled model on ``data``.

    ``n_factors`` from {5, 10, 20}, doubled past the largest while it wins
    (to at most 80); ``noise_precision`` "auto" or 1.5, 2 or 3 over the
    variance of the ratings; ``burn_in`` 5, 10 or 20 sweeps. The number of
    kept sweeps is the race's resource, not a dimension.

    Parameters
    ----------
    data : RatingDataset
        The ratings tuned on.

    Returns
    -------
    dict
    """
    variance = float(np.var(data.values)) or 1.0
    return {
        "n_factors": Choices(FACTOR_CHOICES, extend=True, limit=FACTOR_LIMIT),
        "noise_precision": ["auto", *(float(f"{scale / variance:.4g}") for scale in NOISE_SCALES)],
        "burn_in": list(BURN_IN_CHOICES),
    }


def sweeps_param(params: dict[str, Any], kept: int) -> dict[str, int]:
    """``{"n_samples": ...}``: a chain of ``kept`` sweeps after the burn-in of ``params``."""
    return {"n_samples": int(params["burn_in"]) + int(kept)}


def resample(trial: Trial, train: Any, valid: Any, sweeps: int) -> Trial:
    """Run a new chain of ``sweeps`` more kept sweeps than the trial's last (the first: ``sweeps``).

    The trial's score is the validation RMSE of the chain's posterior mean
    when it improves on the last chain's; otherwise the last stays and the
    trial is done, as it is when the chain's second half gained less than
    :data:`SWEEP_TOL`. The fitted chain is dropped once scored: only its
    parameters and seed are needed again, and a chain's samples are large.
    """
    model = trial.model
    kept = trial.epochs + sweeps if math.isfinite(trial.score) else sweeps
    started = time.perf_counter()
    try:
        model.set_params(**sweeps_param(model.get_params(), kept))
        model.fit_ratings(train, validation=valid)
        curve = np.asarray(model.history_["val_rmse"], dtype=np.float64)[model.burn_in:]
        score = float(curve[-1])
        if score < trial.score:
            trial.score, trial.epochs = score, kept
            trial.done = len(curve) >= 2 and curve[len(curve) // 2 - 1] - score < SWEEP_TOL
        else:
            trial.done = True
    except (DivergenceError, ValueError) as exc:
        trial.done, trial.error = True, str(exc)
    trial.model = type(model)(**model.get_params())
    trial.seconds += time.perf_counter() - started
    return trial
