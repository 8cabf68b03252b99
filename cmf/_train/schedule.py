"""The step size of every epoch (constant, or the bold driver) and the snapshot an undone epoch returns to.

The bold driver (Battiti 1989; used for matrix factorization by Gemulla
et al., "Large-scale matrix factorization with distributed stochastic
gradient descent", KDD 2011) adapts one global step size to the training
loss: after an epoch that lowered the loss the step grows by
:data:`GROWTH`; after one that raised it (or made it non-finite) that
epoch is rolled back and the step is cut by :data:`CUT`. A step too large
costs one wasted epoch and is then halved; a step too small grows by 5%
an epoch; near a minimum, where SGD's own noise makes epochs alternate,
the cuts anneal the step and the loss settles, which a constant step
never does. The decisions depend on the loss alone, which is the same
for any thread count (a fixed summation order), so a fit stays
reproducible bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # state.py imports config.py, which imports this module
    from cmf._train.state import FactorState

__all__ = ["AUTO_LEARNING_RATE", "GROWTH", "CUT", "MAX_CUTS", "StepSize", "Snapshot"]

#: The first step of ``learning_rate="auto"``. A step too large is cut
#: within an epoch or two; one too small grows only 5% an epoch, so the
#: start errs on the large side.
AUTO_LEARNING_RATE = 0.05
#: The step's factor after an epoch that lowered the loss.
GROWTH = 1.05
#: The step's factor after an epoch that raised it (rolled back).
CUT = 0.5
#: Epochs undone in a row after which the fit is said to diverge: the step
#: has then been cut by 2**20, about a million, and the loss still rises,
#: which no step size cures (values too large for the dtype, say).
MAX_CUTS = 20


@dataclass
class StepSize:
    """The step of the next epoch and the loss it has to beat.

    Attributes
    ----------
    rate : float
        The learning rate of the next epoch.
    adaptive : bool
        Bold driver (True) or a constant step (False).
    reference : float
        The loss of the last epoch kept (infinite before the first).
    cuts : int
        Epochs undone since the last one kept that raised the loss by more
        than ``tol`` of it (or made it non-finite).
    flat : bool
        Whether the last epoch undone raised the loss by at most ``tol`` of it.
    """

    rate: float
    adaptive: bool
    reference: float = math.inf
    cuts: int = 0
    flat: bool = False

    def keep(self, loss: float, tol: float = 0.0) -> bool:
        """Judge the epoch just run with loss ``loss``; update the step; return whether to keep it.

        A constant step keeps every epoch with a finite loss. The bold
        driver keeps an epoch whose loss is finite and no higher than the
        last kept epoch's, and grows the step; otherwise it cuts the step
        and the caller rolls the epoch back. At a minimum, SGD's own noise
        raises the loss a little at any step (a logistic loss reaches that
        point within tens of epochs): an epoch that raised it by at most
        ``tol`` of it is undone too, but it is *flat*, no sign of
        divergence; the caller counts it as an epoch without progress.
        """
        finite = math.isfinite(loss)
        if not self.adaptive:
            return finite
        if finite and loss <= self.reference:
            self.reference, self.cuts, self.flat = loss, 0, False
            self.rate *= GROWTH
            return True
        self.rate *= CUT
        self.flat = finite and loss <= self.reference * (1.0 + tol)
        self.cuts += not self.flat
        return False

    def divergence(self, epoch: int) -> tuple[str, str] | None:
        """Why training must end after epoch ``epoch`` was undone, or None to go on at the cut step.

        A constant step cannot get past a non-finite loss; the bold driver
        gives up after :data:`MAX_CUTS` epochs undone in a row. Returned as
        (what happened, what to do), for
        :func:`cmf._train.stats.failure_message` to put the data's hints
        where they belong.
        """
        if not self.adaptive:
            return (f"SGD diverged at epoch {epoch}: the training loss became NaN or infinite.",
                    f"Use a smaller learning_rate (now {self.rate:g}) or learning_rate='auto', a larger "
                    "regularization, or rescale the data (e.g. to unit variance); the model is left as it was "
                    "before the fit.")
        if self.cuts < MAX_CUTS:
            return None
        return (f"SGD diverged: {self.cuts} epochs in a row, up to epoch {epoch}, raised the training loss or "
                f"made it NaN or infinite, although the step was halved after each (now {self.rate:.3g}).",
                "Use a larger regularization or rescale the data (e.g. to unit variance); the model is left as it "
                "was before the fit.")

    def never_kept(self, n_epochs: int) -> tuple[str, str]:
        """Why a fit from a random start whose ``n_epochs`` epochs were all undone for a rise has failed.

        Such a fit ended (at ``max_epochs``) before :data:`MAX_CUTS` cuts in
        a row, but its model is still the random start: nothing was
        learnt, which is no more a model than a diverged one. Returned as
        (what happened, what to do), as :meth:`divergence`.
        """
        epochs = "the only epoch run" if n_epochs == 1 else f"all {n_epochs} epochs"
        undone = "was" if n_epochs == 1 else "were"
        return (f"SGD diverged: {epochs} raised the training loss or made it NaN or infinite and {undone} undone, "
                f"the step halved after each (now {self.rate:.3g}), so no epoch was kept and training never "
                "left its random start.",
                "Use a larger regularization or rescale the data (e.g. to unit "
                f"variance), or raise max_epochs to let the step shrink further (the fit gives up after {MAX_CUTS} "
                "such epochs in a row); the model is left as it was before the fit.")

    def next_if_kept(self) -> float:
        """The step of the epoch after the current one, should the current one be kept.

        Lets an epoch source prepare the next epoch before the current one's
        loss is known (``cmf.dask`` pipelines epochs that way).
        """
        return self.rate * GROWTH if self.adaptive else self.rate


@dataclass
class Snapshot:
    """The parameters (and AdaGrad accumulators) of the last epoch kept, to roll back to."""

    state: FactorState
    accumulators: list[np.ndarray]

    def save(self, state: FactorState, accumulators: list[np.ndarray]) -> None:
        """Overwrite the snapshot with ``state`` and ``accumulators``, allocating nothing."""
        state.copy_into(self.state)
        for mine, theirs in zip(self.accumulators, accumulators):
            np.copyto(mine, theirs)

    def restore(self, state: FactorState, accumulators: list[np.ndarray]) -> None:
        """Overwrite ``state`` and ``accumulators`` with the snapshot."""
        self.state.copy_into(state)
        for mine, theirs in zip(self.accumulators, accumulators):
            np.copyto(theirs, mine)
