"""The training pipeline: setup, the epoch loop, and why it stopped.

:func:`train` is the one way a model is trained, locally or on a cluster:
it checks the memory, measures the data (or takes the statistics a
:class:`~cmf._train.epochs.TrainingData` computed elsewhere), draws the
initial factors, pads them once, opens the data's epochs and runs the loop:
loss, validation, early stopping, convergence and history. It returns a
:class:`TrainingResult` whose ``state`` is cut back to ``n_factors`` columns
and whose ``stopped`` says why training ended; on divergence or Ctrl-C the
result holds the last completed epoch and ``error`` the exception for the
caller to raise (having kept an interrupted fit's epochs, not a diverged's).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cmf._input import Triplets
from cmf._memory import check_fit_memory
from cmf._train.config import TrainingConfig
from cmf._train.epochs import Epochs, LocalData, TrainingData
from cmf._train.interrupt import DeferredInterrupt
from cmf._train.objective import held_out_rmse, penalty, penalty_model, root_mean
from cmf._train.progress import model_stalled, stall_message
from cmf._train.probe import PROBE_SIZE, ProbeLoss, probe_fraction
from cmf._train.schedule import Snapshot, StepSize
from cmf._train.state import FactorState, adagrad_state, initial_factors, pad_factors, unpad_factors
from cmf._train.stats import data_hints, failure_message
from cmf.exceptions import DivergenceError

__all__ = ["TrainingResult", "train", "penalty", "penalty_model", "empty_history", "convergence_message",
           "CONVERGED", "EARLY_STOPPED", "MAX_EPOCHS", "STALLED", "DIVERGED", "INTERRUPTED", "UNDONE"]

#: Why training stopped (``TrainingResult.stopped``).
CONVERGED = "converged"
EARLY_STOPPED = "early_stopped"
MAX_EPOCHS = "max_epochs"
#: No epoch moved the model measurably (see cmf._train.progress): not converged.
STALLED = "stalled"
DIVERGED = "diverged"
INTERRUPTED = "interrupted"
#: Every epoch of a fit continued from a fitted model raised the loss and was undone: the model is unchanged.
UNDONE = "undone"

Report = Callable[[dict[str, float]], None]


def empty_history() -> dict[str, list[float]]:
    """A fresh per-epoch history record with no epochs."""
    return {"epoch": [], "train_loss": [], "train_rmse": [], "val_rmse": [], "seconds": [], "learning_rate": [],
            "kept": []}


@dataclass
class TrainingResult:
    """What a fit produced, and why it stopped.

    Attributes
    ----------
    state : FactorState
        The parameters to keep (the best epoch's when early stopping restored
        them; the last completed epoch's after divergence or Ctrl-C).
    n_epochs : int
        Epochs run to completion.
    converged : bool
        Whether the tol criterion or early stopping ended training (never
        for a fit that made no progress: :data:`STALLED`).
    history : dict of list
        Per epoch: ``epoch``, ``train_loss``, ``train_rmse``, ``val_rmse``
        (NaN without validation data), ``seconds``, ``learning_rate`` (the
        step the epoch ran with) and ``kept`` (1.0, or 0.0 for an epoch the
        bold driver rolled back: its loss is recorded, its parameters are
        not the model's).
    best_epoch : int or None
        The epoch whose parameters were restored by early stopping.
    data_scale : float
        :func:`cmf._train.stats.data_scale` of the training values.
    weight_mean : float or None
        The mean sample weight (None without weights), for
        :func:`cmf._train.stats.weight_hint`.
    stopped : str
        :data:`CONVERGED`, :data:`EARLY_STOPPED`, :data:`MAX_EPOCHS`,
        :data:`STALLED`, :data:`DIVERGED`, :data:`INTERRUPTED` or :data:`UNDONE`.
    error : DivergenceError or KeyboardInterrupt or None
        For the last two, the exception the caller raises (keeping the
        partial result of an interruption only).
    """

    state: FactorState
    n_epochs: int = 0
    converged: bool = False
    history: dict[str, list[float]] = field(default_factory=empty_history)
    best_epoch: int | None = None
    data_scale: float = 1.0
    weight_mean: float | None = None
    stopped: str = MAX_EPOCHS
    error: BaseException | None = None


def convergence_message(config: TrainingConfig, scale: float, *, stopped: str = MAX_EPOCHS,
                        n_epochs: int | None = None, weight_mean: float | None = None) -> str:
    """The text of the ConvergenceWarning of a fit that did not converge.

    ``stopped`` is the result's reason: :data:`STALLED` (a learning rate too
    small to move the model, in ``n_epochs`` epochs), :data:`UNDONE` or
    :data:`MAX_EPOCHS`.
    ``scale`` and ``weight_mean`` (the result's) add advice for data or
    sample weights far from unit scale.
    """
    if stopped == STALLED:
        return stall_message(config, scale, config.max_epochs if n_epochs is None else n_epochs, weight_mean)
    if stopped == UNDONE:
        n = config.max_epochs if n_epochs is None else n_epochs
        epochs = "the only epoch" if n == 1 else f"all {n} epochs"
        return (f"{epochs} raised the training loss and {'was' if n == 1 else 'were'} undone, the step halved after "
                "each, so the model is still the one training continued from: run more epochs to let the step "
                "shrink further." + data_hints(scale, weight_mean))
    return (
        f"training stopped at max_epochs={config.max_epochs} while the loss was still decreasing "
        f"by more than tol={config.tol:g} per epoch; increase max_epochs or learning_rate, or raise tol."
        + data_hints(scale, weight_mean)
    )


def train(
    data: Triplets | TrainingData,
    validation: Triplets | None,
    config: TrainingConfig,
    random_state: Any,
    report: Report | None = None,
    start: FactorState | None = None,
) -> TrainingResult:
    """Fit a factorization to ``data``.

    Parameters
    ----------
    data : Triplets or TrainingData
        Training entries held here, or data that lives elsewhere (a Dask
        cluster) behind the :class:`~cmf._train.epochs.TrainingData`
        interface.
    validation : Triplets or None
        Held-out entries scored (RMSE) after every epoch.
    config : TrainingConfig
        Hyperparameters.
    random_state : int, numpy.random.Generator or None
        Seed of the initial factors and of every epoch's order.
    report : callable, optional
        Called after each epoch with that epoch's history row.
    start : FactorState, optional
        Continue from these parameters instead of a random initial state
        (shapes must match ``data.shape`` and ``config``). They are copied,
        never changed.

    Returns
    -------
    TrainingResult
        With ``stopped`` saying why training ended; after divergence or
        Ctrl-C, ``error`` holds the exception to raise.

    Raises
    ------
    ValueError
        When the fit would need more memory than the machine has.
    """
    source = LocalData(data) if isinstance(data, Triplets) else data
    check_fit_memory(
        source.shape[0], source.shape[1], source.resident_entries, config.n_factors, config.dtype.itemsize,
        n_validation=0 if validation is None else len(validation), early_stopping=config.patience is not None,
        blocked=config.blocked and config.shuffle, adaptive=config.adaptive,
    )
    rng = np.random.default_rng(random_state)
    stats = source.statistics(config.biased, None if start is None else start.mu)
    if start is None:
        state = initial_factors(stats, config, rng, padded=True)
    else:
        # A copy of ``start``: it is usually a published (read-only)
        # snapshot that concurrent readers may still be using. Factors
        # copied once, padded on the way; biases copied.
        state = pad_factors(FactorState(start.P, start.Q, start.b.copy(), start.c.copy(), start.mu), copy=True)
    result = TrainingResult(state=state, data_scale=stats.scale, weight_mean=stats.weight_mean)
    adagrad = adagrad_state(source.shape, config)
    # The bold driver judges each epoch by the model it leaves (see cmf._train.probe).
    probe = source.probe(probe_fraction(stats.n_entries, PROBE_SIZE)) if config.schedule == "bold_driver" else None
    loop = _Loop(config, validation, report, stats.row_counts.astype(np.float64),
                 stats.col_counts.astype(np.float64), stats.n_entries, stats.scale,
                 [a for a in adagrad if a is not None], probe, fresh=start is None)
    with DeferredInterrupt() as interrupt, source.epochs(state, config, rng, adagrad, interrupt) as epochs:
        loop.run(state, result, epochs, interrupt)
    # The one place the padding comes off, whatever ended training.
    result.state = unpad_factors(result.state, config.n_factors)
    # Published read-only: frozen in place, as a copy would double the factors' memory.
    for array in (result.state.P, result.state.Q, result.state.b, result.state.c):
        array.setflags(write=False)
    return result


@dataclass
class _Tracker:
    """Convergence and early-stopping bookkeeping across epochs."""

    #: The step schedule (and below, the epochs it kept so far).
    step: StepSize
    best: FactorState | None = None
    best_val: float = np.inf
    epochs_since_best: int = 0
    best_loss: float = np.inf
    epochs_without_progress: int = 0
    #: Whether every epoch so far left the model where it started.
    stalled: bool = True
    kept_epochs: int = 0
    previous_loss: float | None = None
    #: The bold driver's loss after each epoch (see cmf._train.probe).
    probe_loss: ProbeLoss | None = None


@dataclass
class _Loop:
    """The epoch loop of :func:`train` over fixed settings."""

    config: TrainingConfig
    validation: Triplets | None
    report: Report | None
    row_counts: np.ndarray
    col_counts: np.ndarray
    n_entries: int
    data_scale: float
    #: The AdaGrad accumulators, rolled back with the factors.
    accumulators: list[np.ndarray]
    #: Where the bold driver measures the loss after each epoch (None: the
    #: errors met during the epoch, for a constant step).
    probe: Triplets | None = None
    #: Whether training starts from random factors (not from a fitted model's).
    fresh: bool = True
    #: :func:`penalty_model` of the state being trained, built when the loop starts.
    kernel_view: Any = field(default=None, init=False, repr=False)

    def run(self, state: FactorState, result: TrainingResult, epochs: Epochs, interrupt: DeferredInterrupt) -> None:
        """Run epochs on ``state`` (in place) until one of the stopping rules; record them in ``result``."""
        last_good = Snapshot(state.copy(), [a.copy() for a in self.accumulators])
        self.kernel_view = penalty_model(state, self.config)
        tracker = _Tracker(step=StepSize(self.config.learning_rate, self.config.schedule == "bold_driver"))
        if self.probe is not None:
            # The start sets the first bar: an epoch that blows the model up stays finite.
            tracker.probe_loss = ProbeLoss(state, self.probe, self.n_entries)
            tracker.probe_loss.loss = self.config.loss
            tracker.step.reference = self._loss(state, tracker.probe_loss())
        for epoch in range(1, self.config.max_epochs + 1):
            if self._epoch(epoch, state, last_good, epochs, result, interrupt, tracker):
                break
        if result.error is not None:
            return
        # A Ctrl-C during the last epoch's bookkeeping: that epoch is
        # complete, so stop with it.
        if _interrupted(interrupt, result):
            return
        if tracker.kept_epochs == 0 and tracker.step.cuts == result.n_epochs > 0:
            # Every epoch rose and was undone, fewer than MAX_CUTS: from a
            # random start nothing was learnt, which fails as a divergence
            # does; a fit continued from a fitted model keeps that model.
            if not self.fresh:
                result.stopped = UNDONE
                return
            message = failure_message(*tracker.step.never_kept(result.n_epochs), result.data_scale, result.weight_mean)
            result.stopped, result.error = DIVERGED, DivergenceError(message, epoch=result.n_epochs)
            return
        _finish(result, tracker, result.stopped)
        # With early stopping the model is the best validation epoch's,
        # however training ended (patience, tol or max_epochs).
        if tracker.best is not None and result.best_epoch != result.n_epochs:
            tracker.best.copy_into(state)

    def _loss(self, state: FactorState, sse: float) -> float:
        """The objective: ``sse`` plus the penalty of ``state``."""
        return sse + penalty(state, self.row_counts, self.col_counts, self.config, self.kernel_view)

    def _epoch(
        self, epoch: int, state: FactorState, last_good: Snapshot, epochs: Epochs, result: TrainingResult,
        interrupt: DeferredInterrupt, tracker: _Tracker,
    ) -> bool:
        """Run epoch ``epoch`` and record it; return True when training should stop.

        An epoch the step schedule does not keep (a non-finite loss; with
        the bold driver also a loss above the last kept epoch's) is undone
        from ``last_good``: with a constant step that ends training with a
        DivergenceError, with the bold driver training goes on at a smaller
        step (and after MAX_CUTS such epochs ends, that last one recorded
        too). On Ctrl-C the state is restored and ``result.error`` set.
        """
        config, step = self.config, tracker.step
        rate = step.rate
        started = time.perf_counter()
        try:
            sse = epochs.run(epoch, rate, step.next_if_kept())
            if tracker.probe_loss is not None:
                sse = tracker.probe_loss()
            loss = self._loss(state, sse)
        except DivergenceError:
            sse = loss = math.inf
        except KeyboardInterrupt as exc:
            last_good.restore(state, self.accumulators)
            result.stopped, result.error = INTERRUPTED, exc
            return True
        kept = step.keep(loss, config.tol)
        if not kept:
            last_good.restore(state, self.accumulators)
            message = step.divergence(epoch)
            if message is None:
                epochs.rollback()
            else:  # recorded below as the bold driver's other undone epochs, but a constant step's broke off
                result.stopped, result.error = DIVERGED, DivergenceError(
                    failure_message(*message, result.data_scale, result.weight_mean), epoch=epoch)
                if not step.adaptive:
                    return True
        history = result.history
        if self.validation is None:
            val_rmse = math.nan
        elif kept or not history["val_rmse"]:
            val_rmse = held_out_rmse(state, self.validation, config.loss)
        else:  # rolled back: the model is the previous epoch's
            val_rmse = history["val_rmse"][-1]
        row = {
            "epoch": float(epoch),
            "train_loss": loss,
            "train_rmse": root_mean(sse, self.n_entries),
            "val_rmse": val_rmse,
            "seconds": time.perf_counter() - started,
            "learning_rate": rate,
            "kept": float(kept),
        }
        for key, value in row.items():
            history[key].append(value)
        result.n_epochs = epoch
        if kept:
            tracker.kept_epochs += 1
            if tracker.stalled:
                # Measured only until an epoch moves the model: after the
                # first epoch of an ordinary fit, this costs nothing.
                tracker.stalled = model_stalled(state, last_good.state, loss, tracker.previous_loss,
                                                rmse=row["train_rmse"], scale=self.data_scale)
            tracker.previous_loss = loss
            last_good.save(state, self.accumulators)
        if self.report is not None:
            self.report(row)
        # Ctrl-C during the bookkeeping above was deferred; the epoch is now
        # complete and recorded, so stop here with it (or with its divergence).
        if result.stopped == DIVERGED or _interrupted(interrupt, result):
            return True
        if not kept and not step.flat:  # a step too large: no news of convergence, nor for early stopping
            return False
        if kept and config.patience is not None and self.validation is not None:
            if val_rmse < tracker.best_val:
                tracker.best_val, tracker.epochs_since_best = val_rmse, 0
                result.best_epoch = epoch
                if tracker.best is None:
                    tracker.best = state.copy()
                else:
                    state.copy_into(tracker.best)
            else:
                tracker.epochs_since_best += 1
                if tracker.epochs_since_best >= config.patience:
                    _finish(result, tracker, EARLY_STOPPED)
                    return True
        # SGD's loss is noisy from one epoch to the next, so one small or
        # negative step is no proof of convergence: stop only after
        # n_iter_no_change epochs in a row (kept, or undone as flat) without a relative
        # improvement of tol over the best loss so far.
        if loss < tracker.best_loss * (1.0 - config.tol):
            tracker.epochs_without_progress = 0
        else:
            tracker.epochs_without_progress += 1
        tracker.best_loss = min(tracker.best_loss, loss)
        if loss == 0.0 or tracker.epochs_without_progress >= config.n_iter_no_change:
            _finish(result, tracker, CONVERGED)
            return True
        # A fit that never moved stops when the tol rule would have, also
        # with tol=0, whose rule rounding noise in the loss can keep resetting.
        if tracker.stalled and tracker.kept_epochs > config.n_iter_no_change:
            _finish(result, tracker, STALLED)
            return True
        return False


def _finish(result: TrainingResult, tracker: _Tracker, stopped: str) -> None:
    """Record why training ended: ``stopped``, or :data:`STALLED` when no epoch moved the model."""
    if tracker.stalled:
        stopped = STALLED
    result.stopped, result.converged = stopped, stopped in (CONVERGED, EARLY_STOPPED)


def _interrupted(interrupt: DeferredInterrupt, result: TrainingResult) -> bool:
    """Take a pending Ctrl-C: record it in ``result`` and return True."""
    if not interrupt.take():
        return False
    result.stopped, result.error = INTERRUPTED, KeyboardInterrupt()
    return True
