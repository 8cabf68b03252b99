"""Whether an epoch moved the model at all: telling a stalled fit from a converged one.

The tol rule of :mod:`cmf._train.loop` stops when the loss has not improved
by ``tol`` for ``n_iter_no_change`` epochs. A learning rate too small to
move the parameters (1e-12, or 5e-324, where float32 rounds every update
away) satisfies that rule from the first epoch while the model is still
its random start, worse than predicting the mean. Such a fit is told apart
by the size of its steps: in a converged fit SGD keeps moving the
parameters (each update is ``learning_rate * error * factor``, and the
errors are not zero), in a stalled one nothing moves by more than a few
float32 rounding steps. Only a fit in which *every* epoch, the first from
the random start included, stayed below that is called stalled, so that
any fit that ever made progress keeps its epochs and its verdict.
"""

from __future__ import annotations

import math

import numpy as np

from cmf._train.config import TrainingConfig
from cmf._train.state import FactorState
from cmf._train.stats import data_hints

__all__ = ["STALL_THRESHOLD", "parameter_change", "epoch_stalled", "model_stalled", "stall_message"]

#: The largest relative change of the model an epoch may make and still
#: count as no progress: eight float32 rounding steps (about 9.5e-7), for
#: both dtypes. A float32 model cannot store a smaller change, and a float64
#: model whose learning rate moves it less is no more converged.
STALL_THRESHOLD = 8 * float(np.finfo(np.float32).eps)

# Elements compared at a time (see _largest): the one temporary stays small
# (64 KiB in float64), inside the slack of cmf._memory's estimate of a fit.
_CHUNK = 1 << 13


def _largest(new: np.ndarray, old: np.ndarray, with_size: bool = True) -> tuple[float, float]:
    """``(max |new - old|, max |old|)``, a few rows at a time: no temporary of the whole array.

    Without ``with_size`` the second is 0.0, not measured (the biases are
    measured against the data's scale). Array methods and :func:`math.prod`
    rather than NumPy's functions: this runs after the first epoch, when
    their Python layer has been pushed out of the CPU caches.
    """
    change = size = 0.0
    step = max(1, _CHUNK // max(1, math.prod(new.shape[1:])))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(new), step):
            a, b = new[start:start + step], old[start:start + step]
            if a.size:
                work = np.subtract(a, b)
                change = max(change, float(np.abs(work, out=work).max()))
                if with_size:
                    size = max(size, float(np.abs(b, out=work).max()))
    return change, size


def _relative(change: float, size: float) -> float:
    """``change / size``; for an all-zero array, 0 if it stayed zero, else infinite."""
    if size > 0.0:
        return change / size
    return 0.0 if change == 0.0 else np.inf


def parameter_change(new: FactorState, old: FactorState, scale: float, enough: float = np.inf) -> float:
    """The largest relative change of any parameter from ``old`` to ``new``.

    Factors are measured against the largest factor of their matrix (a
    change a float of that size can hold), biases against ``scale``, the
    spread of the data they explain (they start at zero).

    Parameters
    ----------
    new, old : FactorState
        The parameters after and before an epoch (same shapes and dtype).
    scale : float
        :func:`cmf._train.stats.data_scale` of the training values.
    enough : float, optional
        Stop at the first array whose change reaches this and return that
        change: the caller only asks whether the model moved. The biases,
        the smallest arrays, are measured first.

    Returns
    -------
    float
    """
    change = 0.0
    for measure in (lambda: _relative(_largest(new.b, old.b, with_size=False)[0], scale),
                    lambda: _relative(_largest(new.c, old.c, with_size=False)[0], scale),
                    lambda: _relative(*_largest(new.P, old.P)), lambda: _relative(*_largest(new.Q, old.Q))):
        change = max(change, measure())
        if change >= enough:
            break
    return change


def epoch_stalled(change: float, loss: float, previous_loss: float | None, *, rmse: float, scale: float) -> bool:
    """Whether an epoch made no measurable progress.

    Parameters
    ----------
    change : float
        :func:`parameter_change` of the epoch.
    loss, previous_loss : float
        The training loss of this epoch and of the one before (None for the
        first epoch, which is judged by its parameters alone).
    rmse : float
        The training RMSE of the epoch.
    scale : float
        The spread of the training values.

    Returns
    -------
    bool
        True when both the parameters and the loss changed by less than
        :data:`STALL_THRESHOLD`, relative.
    """
    if not (scale > 0.0 and rmse > 0.0):
        return False  # constant data or an exact fit: nothing is left to learn
    # Each step is proportional to the error it corrects: a model that
    # already fits its data to an error far below their spread moves little
    # for that reason, not because of the learning rate. The change counts
    # in units of the remaining error.
    if change * (scale / rmse) >= STALL_THRESHOLD:
        return False
    return previous_loss is None or abs(loss - previous_loss) < STALL_THRESHOLD * abs(previous_loss)


def model_stalled(new: FactorState, old: FactorState, loss: float, previous_loss: float | None, *, rmse: float,
                  scale: float) -> bool:
    """:func:`epoch_stalled` of the epoch that took the parameters from ``old`` to ``new``.

    The parameters are read only until a change that counts as progress
    turns up (usually in the biases, the smallest arrays): the answer is
    the same as with every change measured.
    """
    enough = STALL_THRESHOLD * rmse / scale if scale > 0.0 and rmse > 0.0 else 0.0
    return epoch_stalled(parameter_change(new, old, scale, enough), loss, previous_loss, rmse=rmse, scale=scale)


def stall_message(config: TrainingConfig, scale: float, n_epochs: int, weight_mean: float | None = None) -> str:
    """The text of the ConvergenceWarning of a fit that made no progress (with advice for the data's ``scale``
    and the mean sample weight ``weight_mean``, when far from 1)."""
    rounding = " (float32 rounds updates that small away)" if config.dtype == np.float32 else ""
    epochs = f"{n_epochs} epoch{'s' if n_epochs != 1 else ''}"
    return (
        f"training made no progress: in {epochs} neither the parameters nor the loss changed by more than "
        f"{STALL_THRESHOLD:.1g} (relative), so the model is where it started and is not converged: "
        f"learning_rate={config.learning_rate:g} is too small to move it{rounding}. Increase learning_rate "
        "(0.01 suits values that vary by about 1), or let learning_rate='auto' adapt it."
        + data_hints(scale, weight_mean)
    )
