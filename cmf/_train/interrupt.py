"""Ctrl-C during a fit, taken at safe points only; and its stand-in for fits in other threads.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is
running, which could be half-way through copying the last good parameters.
While a fit runs in the main thread with Python's default SIGINT handler,
:class:`DeferredInterrupt` replaces that handler with one that only records
the signal; the training loop calls :meth:`DeferredInterrupt.check` between
pieces of updates and at the end of each epoch, where stopping is safe, and
the threads of a blocked epoch read :attr:`DeferredInterrupt.pending`
between their pieces, so that all of them stop within one piece.

Signals reach the main thread only, so a fit running in another thread (a
search's workers) is stopped through an event instead: code that runs fits
in threads wraps each in :func:`cancelled_by`, and sets the event when it
wants them to stop (on its own ``KeyboardInterrupt``); a fit in that thread
then takes the event as it would take Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType

__all__ = ["DeferredInterrupt", "cancelled_by"]

# The cancellation event of the fits run by the current thread, if any.
_local = threading.local()


@contextlib.contextmanager
def cancelled_by(event: threading.Event) -> Iterator[None]:
    """Within the block, fits run by this thread stop at their next safe point once ``event`` is set.

    They then end as an interrupted fit does (the last completed epoch
    kept, ``KeyboardInterrupt`` raised in this thread).

    Parameters
    ----------
    event : threading.Event
        Set by whoever wants the fits to stop, from any thread.
    """
    previous = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = previous


class DeferredInterrupt:
    """Context manager that turns SIGINT (or a cancellation) into a flag checked at safe points.

    In the main thread, while Python's default SIGINT handler is installed,
    it records SIGINT instead of raising. In any thread it also takes the
    event of an enclosing :func:`cancelled_by`. Otherwise it changes
    nothing and ``KeyboardInterrupt`` (if any) arrives as usual.
    """

    def __init__(self) -> None:
        self._signalled = False
        self._taken = False
        self._installed = False
        self._cancel: threading.Event | None = None

    @property
    def pending(self) -> bool:
        """Whether SIGINT or a cancellation arrived and has not been taken yet (any thread may read it)."""
        if self._taken:
            return False
        return self._signalled or (self._cancel is not None and self._cancel.is_set())

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = True

    def __enter__(self) -> "DeferredInterrupt":
        self._cancel = getattr(_local, "event", None)
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                    self._installed = True
            except (ValueError, OSError):  # no signals in this interpreter
                pass
        return self

    def take(self) -> bool:
        """Whether a stop is pending; it is then taken, and the fit must stop (later signals are ignored)."""
        if not self.pending:
            return False
        self._taken = True
        return True

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a stop is pending (and take it)."""
        # Called after every tile of every epoch: the common case (nothing
        # pending, no cancellation event) reads two attributes and returns.
        if self._signalled or self._cancel is not None:
            if self.take():
                raise KeyboardInterrupt

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False
        if exc_type is None:
            # The signal came after the last check: deliver it now rather
            # than lose it.
            self.check()
