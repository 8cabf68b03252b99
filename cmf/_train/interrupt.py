"""Ctrl-C during a fit, taken at safe points only.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is
running, which could be half-way through copying the last good parameters.
While a fit runs in the main thread with Python's default SIGINT handler,
:class:`DeferredInterrupt` replaces that handler with one that only records
the signal; the training loop calls :meth:`DeferredInterrupt.check` between
chunks of updates and at the end of each epoch, where stopping is safe.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

__all__ = ["DeferredInterrupt"]


class DeferredInterrupt:
    """Context manager that turns SIGINT into a flag checked at safe points.

    Outside the main thread, or when the program installed its own SIGINT
    handler, it changes nothing and ``KeyboardInterrupt`` (if any) arrives
    as usual.

    Attributes
    ----------
    pending : bool
        Whether SIGINT arrived and has not been raised yet.
    """

    def __init__(self) -> None:
        self.pending = False
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                    self._installed = True
            except (ValueError, OSError):  # no signals in this interpreter
                pass
        return self

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if SIGINT arrived since the last check."""
        if self.pending:
            self.pending = False
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
        if self.pending and exc_type is None:
            # The signal came after the last check: deliver it now rather
            # than lose it.
            self.pending = False
            raise KeyboardInterrupt
