"""One-call hyperparameter tuning: random search with successive halving, on a space that widens.

Each race is the successive halving of :mod:`cmf._halving`. When the best
configuration of a race sits at the edge of a dimension of the default
space (the most factors offered, the smallest step, an end of the
penalty's range) or at the epoch cap, the optimum is likely beyond it: a
further, smaller race draws from the space moved past that edge
(:mod:`cmf._tune_space`), until the best lies inside or the extensions
allowed are spent.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import numpy as np

from cmf import _tune_bayes as sampled
from cmf._checks import is_integer
from cmf._dataset import as_dataset
from cmf._halving import MAX_SCALE, Race, Trial, advance, epoch_scale, race
from cmf._search import clone, n_workers, refit_best, run_all, sample
from cmf._split import train_test_split
from cmf._tune_space import AGREEING, Choices, LogRange, describe, extend_space, limited_edges
from cmf.model import MatrixFactorization

__all__ = ["Choices", "LogRange", "TuneResult", "default_space", "log_uniform", "tune"]

# The defaults of tune() and of its search space, named once so that the
# command line's help states them from here and cannot drift.
BUDGET = 27
EXTEND = 3
VALIDATION = 0.1
MIN_EPOCHS = 20
MAX_EPOCHS = 500
PATIENCE = 5
FACTOR_CHOICES = (64, 128, 256)
LEARNING_RATE_RANGE = (0.002, 0.01)
REGULARIZATION_RANGE = (0.02, 0.15)
INIT_STD_RANGE = (0.005, 0.05)
# How far the default space may move: beyond these a model is too large for
# common data (factors) or the values stop making sense.
FACTOR_LIMIT = 1024
LEARNING_RATE_LIMITS = (1e-4, 0.1)
REGULARIZATION_LIMITS = (1e-3, 2.0)
INIT_STD_LIMITS = (1e-4, 0.5)


@dataclasses.dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best_params : dict
        The chosen hyperparameters, including ``max_epochs`` (the epoch
        count early stopping found best), or for a sampled model
        ``n_samples`` (the chain's length that scored best).
    best_score : float
        Validation RMSE of the best configuration.
    results : list of dict
        One row per configuration tried: its parameters, ``rmse`` (best
        validation RMSE), ``epochs`` (epochs to that RMSE), ``rung`` (how
        many halving rounds it survived), ``stage`` (0 for the first race,
        then the extension it was drawn in), ``seconds``, ``error`` and
        ``converged`` (whether early stopping ended it, rather than halving
        or the epoch cap).
    best_estimator : MatrixFactorization or None
        The best configuration refitted on all the data (None with
        ``refit=False``).
    seconds : float
        Wall time of the whole search.
    converged : bool
        Whether early stopping ended the best configuration's training;
        False when it reached the epoch cap still improving, so that more
        epochs may find a better model.
    space : dict
        The space actually searched: per dimension, ``kind``
        ("log-uniform", "choice", "list", "other" or, for ``max_epochs``
        (``n_samples`` for a sampled model: its kept sweeps), "cap"), its ``initial`` and ``final`` bounds (or values, or cap),
        ``searched`` (the union of what the races drew from, or every
        cap), ``extended`` (the edge of every move of the range, in
        order: "low" or "high"), and for "log-uniform" and "choice" ``beyond``
        (the moves past the values searched before: a range moved down
        and then up again moves up only over values it had covered, which
        is in ``back``) and ``at_limit`` (``{"side", "bound"}`` when the
        best values sat at an edge of the final range that its limit kept
        from moving, else None).
    """

    best_params: dict[str, Any]
    best_score: float
    results: list[dict[str, Any]]
    best_estimator: Any
    seconds: float
    converged: bool = True
    space: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def log_uniform(low: float, high: float) -> LogRange:
    """A search-space entry drawing log-uniformly from ``[low, high]``, which stays within those bounds.

    Parameters
    ----------
    low, high : float
        Positive bounds, ``low <= high``.

    Returns
    -------
    LogRange
        A function of a NumPy Generator, as :func:`tune`'s ``space`` takes.
        ``LogRange(low, high, extend=("low", "high"))`` lets :func:`tune`
        move it past an edge where the best values sit.
    """
    return LogRange(float(low), float(high))


def default_space() -> dict[str, Any]:
    """The search space of :func:`tune`, which it widens where the best values sit at an edge.

    ``n_factors`` from {64, 128, 256} (``FACTOR_CHOICES``); ``learning_rate``
    log-uniform on [0.002, 0.01]; ``regularization`` log-uniform on
    [0.02, 0.15]; ``init_std`` log-uniform on [0.005, 0.05]. A small initial spread lets
    a large model start near the bias-only solution and grow only the
    factors the data supports, and small steps settle in better minima than
    large ones: on MovieLens 100K both lowered the held-out RMSE by about
    0.003 against learning rates up to 0.02 and spreads up to 0.1.

    Every entry may move past either edge (``n_factors`` up only, one
    doubling at a time, to at most 1024 factors), within the limits named
    ``*_LIMITS`` in this module.

    Returns
    -------
    dict
        Name to a :class:`Choices` or :class:`LogRange` (each a function
        drawing a value from a NumPy Generator).
    """
    both = ("low", "high")
    return {
        "n_factors": Choices(FACTOR_CHOICES, extend=True, limit=FACTOR_LIMIT),
        "learning_rate": LogRange(*LEARNING_RATE_RANGE, extend=both, limits=LEARNING_RATE_LIMITS),
        "regularization": LogRange(*REGULARIZATION_RANGE, extend=both, limits=REGULARIZATION_LIMITS),
        "init_std": LogRange(*INIT_STD_RANGE, extend=both, limits=INIT_STD_LIMITS),
    }


def _scale_cap(initial: Any, current: Any) -> float:
    """The cap on the epoch scale: ``MAX_SCALE``, times how far the learning rate's range has moved down."""
    if isinstance(initial, LogRange) and isinstance(current, LogRange):
        return MAX_SCALE * max(1.0, initial.low / current.low)
    return MAX_SCALE


def tune(
    data: Any,
    budget: int | None = None,
    *,
    estimator: Any = None,
    space: dict[str, Any] | None = None,
    validation: float = VALIDATION,
    min_epochs: int = MIN_EPOCHS,
    max_epochs: int | None = None,
    eta: int = 3,
    patience: int = PATIENCE,
    extend: int = EXTEND,
    time_limit: float | None = None,
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
    or the epoch cap. Any configuration whose validation error stops
    improving leaves the race early.

    Then, while the best configurations so far sit at an edge of a
    dimension that may move (the best within a quarter of the range's log
    width of it, the next two in the half on that side; see
    :func:`default_space`: a list, a function or :func:`log_uniform` of
    your own stays as given) or, without ``max_epochs``, the best reached
    the epoch cap still improving, the space moves past that edge (a range
    is centred on it; the factor choices become the largest and twice it; the cap doubles and the best continues to it) and a race of
    ``ceil(budget / eta)`` new configurations runs on it; at most
    ``extend`` times, and none starts after ``time_limit`` seconds. So at
    most ``budget + extend * ceil(budget / eta)`` configurations are tried.
    ``TuneResult.space`` reports the space searched.

    **A sampled model.** With ``estimator=BayesianMatrixFactorization(...)``
    (any estimator with ``n_samples`` and ``burn_in`` parameters) the same
    search runs on that model's space (default
    :func:`cmf._tune_bayes.bayesian_space`: ``n_factors`` from {5, 10, 20},
    grown past 20 while the largest wins; ``noise_precision`` "auto" or
    1.5, 2 or 3 over the ratings' variance; ``burn_in`` 5, 10 or 20), and
    what a round trains longer is the chain: ``min_epochs`` and
    ``max_epochs`` count kept sweeps after the burn-in (default cap 200,
    doubled while the best chain's second half still gains 0.001 of RMSE),
    each round a new chain, scored by its posterior mean. ``best_params``
    then holds ``n_samples`` (burn-in plus the kept sweeps that scored
    best) instead of ``max_epochs``; ``patience`` does not apply.

    Parameters
    ----------
    data : RatingDataset, DataFrame or tuple
        The ratings to tune on (the training part; keep your test set out).
    budget : int, optional
        Number of configurations of the first race (default 27; 9 for a
        sampled model, whose space is smaller and each configuration a chain).
    estimator : MatrixFactorization or BayesianMatrixFactorization, optional
        Template for the parameters not tuned (default:
        ``MatrixFactorization()``); its class is the model searched.
    space : dict, optional
        Name to a list of values, a :class:`LogRange` or :class:`Choices`,
        a scipy.stats distribution or a function of a NumPy Generator;
        default :func:`default_space`.
    validation : float, default 0.1
        Fraction of ``data`` held out to compare configurations.
    min_epochs : int, default 20
        Epochs of the first round.
    max_epochs : int or None, default None
        Cap on any configuration's epochs. None starts from 500 (200 kept
        sweeps for a sampled model) and lets the cap double where the best
        configuration reaches it.
    eta : int, default 3
        Halving rate.
    patience : int, default 5
        Early-stopping patience, in epochs at a learning rate of 0.01 or
        more; a configuration with a smaller one waits as many times longer
        as its rounds are (a small step leaves the plateau of the bias-only
        solution slowly, and would otherwise be stopped on it).
    extend : int, default 3
        Races at most after the first, on the space moved past the edges
        where the best sits (0: the first race only).
    time_limit : float or None, default None
        Seconds after which no further race starts (a running race
        finishes).
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
    template = estimator if estimator is not None else MatrixFactorization()
    sampler = sampled.is_sampler(template)  # raced on sweeps of a chain, not on SGD epochs
    if budget is None:
        budget = sampled.BUDGET if sampler else BUDGET
    if not is_integer(budget) or budget < 1:
        raise ValueError(f"budget must be a positive number of configurations, got {budget!r}")
    if not is_integer(eta) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2, got {eta!r}")
    cap = (sampled.MAX_SWEEPS if sampler else MAX_EPOCHS) if max_epochs is None else max_epochs
    if not (is_integer(min_epochs) and is_integer(cap) and 1 <= min_epochs <= cap):
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
    if not is_integer(extend) or extend < 0:
        raise ValueError(f"extend must be a number of races >= 0, got {extend!r}")
    started = time.perf_counter()
    data = as_dataset(data)
    if space is not None:
        initial = dict(space)
    else:
        initial = sampled.bayesian_space(data) if sampler else default_space()
    unknown = set(initial) - set(template.get_params())
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} in space")
    step = sampled.resample if sampler else advance
    rng = np.random.default_rng(random_state)
    train, valid = train_test_split(data, validation, random_state=rng)
    jobs = n_workers(n_jobs)
    current, searched, moved = initial, [initial], {name: [] for name in initial}
    caps, trials = [cap], []
    n_new = int(budget)
    for stage in range(int(extend) + 1):
        max_scale = _scale_cap(initial.get("learning_rate"), current.get("learning_rate"))
        drawn = []
        for _ in range(n_new):
            params = {name: sample(dist, rng) for name, dist in current.items()}
            seed = int(rng.integers(2**31))
            model = clone(template, {**params, "random_state": seed}, jobs)
            if not sampler:
                # patience in SGD distance too: with a small step, leaving the
                # plateau of the bias-only solution takes as many times longer
                model.set_params(patience=math.ceil(patience * epoch_scale(model.learning_rate, max_scale)))
            drawn.append(Trial(params, model, stage=stage))
        label = f"extension {stage}, " if stage else ""
        race(drawn, Race(train, valid, min_epochs, caps[-1], eta, jobs, max_scale, progress, label, step,
                         best_before=min((t.score for t in trials), default=math.inf)))
        trials.extend(drawn)
        best = min(trials, key=lambda t: t.score)
        if stage == extend or (time_limit is not None and time.perf_counter() - started >= time_limit):
            break
        ranked = sorted((t for t in trials if math.isfinite(t.score)), key=lambda t: t.score)
        current, edges = extend_space(current, [t.params for t in ranked[:AGREEING]])
        capped = max_epochs is None and best.error is None and not best.done and best.trained >= caps[-1]
        if not edges and not capped:
            break
        for name, side in edges.items():
            moved[name].append(side)
        searched.append(current)
        n_new = math.ceil(budget / eta) if edges else 0  # a cap alone: only the best goes on
        if capped:  # the best was still improving at the cap: it goes on to a doubled one
            caps.append(2 * caps[-1])
            run_all([lambda: step(best, train, valid, caps[-1] - best.trained)], 1)
            best.trained = caps[-1]
    best = min(trials, key=lambda t: t.score)
    if not math.isfinite(best.score):
        raise ValueError(f"every configuration failed; the first error: {trials[0].error}")
    # A configuration converged when early stopping (or no further gain)
    # ended it, not halving or the epoch cap.
    results = [
        {**t.params, "rmse": t.score, "epochs": t.epochs, "rung": t.rung, "stage": t.stage, "seconds": t.seconds,
         "error": t.error, "converged": t.done and t.error is None}
        for t in trials
    ]
    # Where the best sit at an edge the search may not pass (its limit), the report says so.
    ranked = sorted((t for t in trials if math.isfinite(t.score)), key=lambda t: t.score)
    limited = limited_edges(current, [t.params for t in ranked[:AGREEING]])
    report = {name: describe(initial[name], [s[name] for s in searched], moved[name], limited.get(name))
              for name in initial}
    report["n_samples" if sampler else "max_epochs"] = {
        "kind": "cap", "initial": caps[0], "final": caps[-1], "searched": caps, "extended": ["high"] * (len(caps) - 1)}
    if sampler:  # the chain's length: the burn-in and the kept sweeps that scored best
        best_params = {**best.params, **sampled.sweeps_param({**template.get_params(), **best.params}, best.epochs)}
    else:
        best_params = {**best.params, "max_epochs": max(1, best.epochs)}
    model = None
    if refit and sampler:
        model = clone(template, {**best_params, "random_state": best.model.random_state}, 1).fit_ratings(data)
    elif refit:
        seed_params = {**best.params, "random_state": best.model.random_state}
        model = refit_best(template, seed_params, best_params["max_epochs"], data)
    return TuneResult(best_params, best.score, results, model, time.perf_counter() - started,
                      converged=best.done and best.error is None, space=report)
