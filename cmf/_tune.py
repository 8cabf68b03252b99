"""One-call hyperparameter tuning: random search with successive halving."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import numpy as np

from cmf._dataset import RatingDataset, as_dataset
from cmf.exceptions import DivergenceError

__all__ = ["TuneResult", "tune", "default_space"]

# A configuration with learning rate lr gets _REFERENCE_RATE / lr times the
# epochs of a round (between 1 and _MAX_SCALE times).
_REFERENCE_RATE = 0.01
_MAX_SCALE = 10.0


@dataclasses.dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best_params : dict
        The chosen hyperparameters, including ``max_epochs`` (the epoch
        count early stopping found best).
    best_score : float
        Validation RMSE of the best configuration.
    results : list of dict
        One row per configuration tried: its parameters, ``rmse`` (best
        validation RMSE), ``epochs`` (epochs to that RMSE), ``rung`` (how
        many halving rounds it survived), ``seconds`` and ``error``.
    best_estimator : MatrixFactorization or None
        The best configuration refitted on all the data (None with
        ``refit=False``).
    seconds : float
        Wall time of the whole search.
    """

    best_params: dict[str, Any]
    best_score: float
    results: list[dict[str, Any]]
    best_estimator: Any
    seconds: float


def default_space() -> dict[str, Callable[[np.random.Generator], Any]]:
    """The search space of :func:`tune`.

    ``n_factors`` from {64, 128, 256}; ``learning_rate`` log-uniform on
    [0.002, 0.01]; ``regularization`` log-uniform on [0.02, 0.15];
    ``init_std`` log-uniform on [0.005, 0.05]. A small initial spread lets
    a large model start near the bias-only solution and grow only the
    factors the data supports, and small steps settle in better minima than
    large ones: on MovieLens 100K both lowered the held-out RMSE by about
    0.003 against learning rates up to 0.02 and spreads up to 0.1.

    Returns
    -------
    dict
        Name to a function drawing a value from a NumPy Generator.
    """
    def log_uniform(low: float, high: float) -> Callable[[np.random.Generator], float]:
        return lambda rng: float(np.exp(rng.uniform(np.log(low), np.log(high))))

    return {
        "n_factors": lambda rng: int(rng.choice([64, 128, 256])),
        "learning_rate": log_uniform(0.002, 0.01),
        "regularization": log_uniform(0.02, 0.15),
        "init_std": log_uniform(0.005, 0.05),
    }


@dataclasses.dataclass
class _Trial:
    params: dict[str, Any]
    model: Any
    state: Any = None
    epochs: int = 0
    score: float = math.inf
    done: bool = False
    rung: int = 0
    trained: int = 0
    seconds: float = 0.0
    error: str | None = None


def _advance(trial: _Trial, train: Any, valid: Any, epochs: int, patience: int) -> _Trial:
    """Train a trial for up to ``epochs`` more epochs from where it stopped."""
    from cmf._train.state import FactorState

    model = trial.model
    started = time.perf_counter()
    try:
        config = dataclasses.replace(model._config(), max_epochs=epochs, patience=patience)
        start = None if trial.state is None else trial.state
        model._fit(train, valid, config, start=start)
        best = model.best_epoch_ or model.n_epochs_
        score = float(np.nanmin(model.history_["val_rmse"]))
        if score < trial.score:
            trial.score = score
            trial.epochs += best
        else:  # no better than before: the state was rolled back to it
            trial.done = True
        # patience or tol ended the segment early: more epochs will not help
        trial.done = trial.done or model.n_epochs_ < epochs
        trial.state = FactorState(model.user_factors_, model.item_factors_, model.user_bias_,
                                  model.item_bias_, model.global_mean_)
    except (DivergenceError, ValueError) as exc:
        trial.done, trial.error = True, str(exc)
    trial.seconds += time.perf_counter() - started
    return trial


def tune(
    data: Any,
    budget: int = 27,
    *,
    estimator: Any = None,
    space: dict[str, Any] | None = None,
    validation: float = 0.1,
    min_epochs: int = 20,
    max_epochs: int = 500,
    eta: int = 3,
    patience: int = 5,
    n_jobs: int | None = -1,
    refit: bool = True,
    random_state: int | None = 0,
    progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Pick ``n_factors``, ``regularization``, ``learning_rate`` (and ``init_std``) for a data set.

    Draws ``budget`` random configurations from ``space`` and runs
    successive halving on a random validation split: every configuration
    trains ``min_epochs`` epochs (times ``0.01 / learning_rate`` when its
    learning rate is below 0.01, at most 10 times, so that slow learners
    are compared after the same SGD distance); the best ``1/eta`` continue
    from where they stopped to ``eta`` times as many epochs, and so on
    until one is left, which trains on until early stopping (``patience``)
    or ``max_epochs``. Any configuration whose validation error stops
    improving leaves the race early. A round costs at most about
    ``budget * min_epochs * 10`` epochs and there are about
    ``log_eta(budget) + 1`` rounds, so the work is bounded.

    Parameters
    ----------
    data : RatingDataset, DataFrame, RatingData or tuple
        The ratings to tune on (the training part; keep your test set out).
    budget : int, default 27
        Number of configurations tried.
    estimator : MatrixFactorization, optional
        Template for the parameters not tuned (default: the defaults).
    space : dict, optional
        Name to a list of values or a function of a NumPy Generator;
        default :func:`default_space`.
    validation : float, default 0.1
        Fraction of ``data`` held out to compare configurations.
    min_epochs : int, default 20
        Epochs of the first round.
    max_epochs : int, default 500
        Cap on any configuration's epochs.
    eta : int, default 3
        Halving rate.
    patience : int, default 5
        Early-stopping patience, in epochs.
    n_jobs : int or None, default -1
        Configurations trained in parallel threads (-1: one per core).
    refit : bool, default True
        Refit the best configuration on all of ``data``.
    random_state : int or None, default 0
        Seed of the sampling, the split and every model.
    progress : callable, optional
        Called with a one-line status after each round.

    Returns
    -------
    TuneResult
    """
    from cmf import MatrixFactorization
    from cmf.model_selection import _clone, _n_jobs, _run_all, _sample, train_test_split

    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive number of configurations, got {budget!r}")
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2, got {eta!r}")
    if not (isinstance(min_epochs, int) and isinstance(max_epochs, int) and 1 <= min_epochs <= max_epochs):
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
    started = time.perf_counter()
    data = as_dataset(data)
    template = estimator if estimator is not None else MatrixFactorization()
    space = default_space() if space is None else space
    unknown = set(space) - set(template.get_params())
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} in space")
    rng = np.random.default_rng(random_state)
    train_part, valid_part = train_test_split(data, validation, random_state=rng)
    dtype = template._config().dtype
    train, valid = train_part.triplets(dtype), valid_part.triplets(dtype)
    jobs = _n_jobs(n_jobs)
    trials = []
    for i in range(int(budget)):
        params = {name: _sample(dist, rng) for name, dist in space.items()}
        seed = int(rng.integers(2**31))
        trials.append(_Trial(params, _clone(template, {**params, "random_state": seed}, jobs)))

    alive, rung = list(trials), 0
    while alive:
        tasks = []
        for t in alive:
            # Rounds are measured in SGD distance (learning rate x epochs), so a
            # configuration with a small step gets proportionally more epochs
            # and is not discarded merely for learning slowly.
            scale = min(_MAX_SCALE, max(1.0, _REFERENCE_RATE / float(t.model.learning_rate)))
            target = max_epochs if len(alive) == 1 else min(max_epochs, math.ceil(min_epochs * scale * eta**rung))
            if target > t.trained:
                tasks.append(lambda t=t, step=target - t.trained: _advance(t, train, valid, step, patience))
                t.trained = target
            t.rung = rung
        if not tasks:
            break
        _run_all(tasks, jobs)
        if progress is not None:
            best = min(trials, key=lambda t: t.score)
            progress(f"round {rung + 1}: trained {len(tasks)} configuration(s), "
                     f"best validation RMSE so far {best.score:.4f}")
        if len(alive) == 1:
            break
        keep = max(1, math.ceil(len(alive) / eta))
        # configurations that early stopping finished keep their score but stop training
        alive = [t for t in sorted(alive, key=lambda t: t.score)[:keep] if not t.done]
        rung += 1
    best = min(trials, key=lambda t: t.score)
    if not math.isfinite(best.score):
        raise ValueError(f"every configuration failed; the first error: {trials[0].error}")
    results = [
        {**t.params, "rmse": t.score, "epochs": t.epochs, "rung": t.rung, "seconds": t.seconds, "error": t.error}
        for t in trials
    ]
    best_params = {**best.params, "max_epochs": max(1, best.epochs)}
    model = None
    if refit:
        from cmf.model_selection import _refit

        seed_params = {**best.params, "random_state": best.model.random_state}
        model = _refit(template, seed_params, best_params["max_epochs"], data)
    return TuneResult(best_params, best.score, results, model, time.perf_counter() - started)
