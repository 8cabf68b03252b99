"""Successive halving: the race :func:`cmf.model_selection.tune` runs on each space it searches.

Every configuration trains a few epochs on the training part, the best
``1/eta`` continue from where they stopped ``eta`` times as long, and so on
to one. A trial continues through the estimator's public ``partial_fit``
on the same training ratings, which restarts the SGD from the fitted
parameters exactly as a fresh fit started from them would (the same bits;
``tests/test_model_selection.py`` compares the two).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import numpy as np

from cmf._dataset import RatingDataset
from cmf._search import run_all
from cmf.exceptions import DivergenceError

__all__ = ["MAX_SCALE", "REFERENCE_RATE", "Race", "Trial", "advance", "epoch_scale", "race"]

# A configuration with learning rate lr gets REFERENCE_RATE / lr times the
# epochs of a round (between 1 and a cap, MAX_SCALE for the default space,
# that grows as the learning rate's range moves down).
REFERENCE_RATE = 0.01
MAX_SCALE = 10.0


@dataclasses.dataclass
class Trial:
    """One configuration in the race: its model and how far it got."""

    params: dict[str, Any]
    model: Any
    epochs: int = 0
    score: float = math.inf
    done: bool = False
    rung: int = 0
    trained: int = 0
    seconds: float = 0.0
    error: str | None = None
    stage: int = 0


@dataclasses.dataclass(frozen=True)
class Race:
    """How one race of successive halving runs."""

    train: RatingDataset
    valid: RatingDataset
    min_epochs: int
    cap: int  # epochs no configuration goes beyond
    eta: int
    jobs: int
    max_scale: float
    progress: Callable[[str], None] | None
    label: str  # prefix of the progress lines
    # trains a trial for more epochs: advance, or another resource's (cmf._tune_bayes.resample)
    step: Callable[[Trial, RatingDataset, RatingDataset, int], Trial] | None = None
    best_before: float = math.inf  # the best score of the races before this one, for the progress lines


def advance(trial: Trial, train: RatingDataset, valid: RatingDataset, epochs: int) -> Trial:
    """Train a trial for up to ``epochs`` more epochs from where it stopped.

    The first call fits the model; later ones continue from its fitted
    parameters on the same training ratings (``partial_fit`` on a model
    that is not fitted yet is ``fit_ratings``). The model's ``patience``
    stops a segment early once the validation error stops improving.
    """
    model = trial.model
    started = time.perf_counter()
    try:
        model.set_params(max_epochs=epochs)
        model.partial_fit(train, validation=valid)
        best = model.best_epoch_ or model.n_epochs_
        score = float(np.nanmin(model.history_["val_rmse"]))
        if score < trial.score:
            trial.score = score
            trial.epochs += best
        else:  # no better than before: the state was rolled back to it
            trial.done = True
        # patience or tol ended the segment early: more epochs will not help
        trial.done = trial.done or model.n_epochs_ < epochs
    except (DivergenceError, ValueError) as exc:
        trial.done, trial.error = True, str(exc)
    trial.seconds += time.perf_counter() - started
    return trial


def epoch_scale(learning_rate: Any, max_scale: float) -> float:
    """How many times a round's epochs a configuration with this learning rate gets.

    Rounds are measured in SGD distance (learning rate x epochs), so a
    configuration with a small step gets proportionally more epochs and is
    not discarded merely for learning slowly. A learning rate that is not a
    number (such as "auto", a schedule that sets its own steps) gets 1.
    """
    if isinstance(learning_rate, (str, bool)) or not isinstance(learning_rate, (int, float, np.number)) \
            or not learning_rate > 0:
        return 1.0
    return min(max_scale, max(1.0, REFERENCE_RATE / float(learning_rate)))


def race(trials: list[Trial], plan: Race) -> None:
    """Successive halving: train all, keep the best ``1/eta``, train them ``eta`` times longer, to one."""
    alive, rung = list(trials), 0
    step = plan.step or advance
    while alive:
        tasks = []
        for t in alive:
            scale = epoch_scale(getattr(t.model, "learning_rate", None), plan.max_scale)
            target = plan.cap if len(alive) == 1 else min(plan.cap, math.ceil(plan.min_epochs * scale * plan.eta**rung))
            if target > t.trained:
                tasks.append(lambda t=t, n=target - t.trained: step(t, plan.train, plan.valid, n))
                t.trained = target
            t.rung = rung
        if not tasks:
            break
        run_all(tasks, plan.jobs)
        if plan.progress is not None:
            # "So far" is over the whole search; a race behind it says its own best too.
            best = min(t.score for t in trials)
            behind = "" if best <= plan.best_before else f" (this race {best:.4f})"
            plan.progress(f"{plan.label}round {rung + 1}: trained {len(tasks)} configuration(s), "
                          f"best validation RMSE so far {min(best, plan.best_before):.4f}{behind}")
        if len(alive) == 1:
            break
        keep = max(1, math.ceil(len(alive) / plan.eta))
        # configurations that early stopping finished keep their score but stop training
        alive = [t for t in sorted(alive, key=lambda t: t.score)[:keep] if not t.done]
        rung += 1
