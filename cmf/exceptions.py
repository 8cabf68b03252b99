"""Exceptions and warnings raised by cmf."""

__all__ = ["ConvergenceWarning", "DivergenceError", "DuplicateRatingsWarning", "NotFittedError"]


class DivergenceError(ArithmeticError):
    """SGD diverged: the learning rate is too large for the data (or the sample weights).

    Raised by :meth:`cmf.MatrixFactorization.fit` with a constant step at the
    epoch whose loss stopped being finite; with the bold driver
    (``learning_rate="auto"``) after 20 epochs in a row that raised the
    loss and were undone, or when a fit from random factors ends with every
    epoch undone (its model would be that random start). The fit that
    raises it changes nothing: a fitted model keeps the parameters and
    history it had, and an unfitted one stays unfitted.

    Parameters
    ----------
    message : str
        What happened and how to fix it.
    epoch : int or None, optional
        The 1-based epoch at which training gave up (whose loss became
        non-finite, or the last one undone), when known.

    Attributes
    ----------
    epoch : int or None
        As given.
    history : dict of list or None
        The failed run's per-epoch record, with the keys of a fitted
        model's ``history_`` (every epoch run, the one that gave up
        included when it was recorded); None when not known.
    """

    def __init__(self, message: str, epoch: "int | None" = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history: "dict[str, list[float]] | None" = None


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    It derives from both :class:`ValueError` and :class:`AttributeError`, as
    scikit-learn's exception of the same name does, so code written for
    either keeps working.
    """


class ConvergenceWarning(UserWarning):
    """Training stopped at ``max_epochs`` before meeting the ``tol`` criterion."""


class DuplicateRatingsWarning(UserWarning):
    """The training data rates some (user, item) pairs more than once.

    Warned once per fit, with the count, under the default
    ``duplicates=None`` of :class:`~cmf.MatrixFactorization`, which keeps
    each repeated rating as its own observation. Pass ``duplicates="keep"``
    to keep them without the warning, ``"last"`` or ``"mean"`` to merge
    them, or ``"error"`` to refuse them.
    """
