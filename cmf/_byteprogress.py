"""The bytes of an open file: its size, and a progress bar over them.

:mod:`cmf._textread` sizes its output columns from :func:`file_size` and
shows a :class:`ByteProgress` while it reads (tqdm is optional).
"""

from __future__ import annotations

import os
from typing import IO

__all__ = ["ByteProgress", "file_size"]


def file_size(f: IO[bytes]) -> int:
    """The file's size in bytes, 0 for a pipe.

    Parameters
    ----------
    f : binary file

    Returns
    -------
    int
    """
    try:
        info = os.fstat(f.fileno())
    except (OSError, AttributeError, ValueError):
        return 0
    return int(info.st_size)


class ByteProgress:
    """A tqdm bar over the bytes read, or nothing.

    Parameters
    ----------
    f : binary file
        Its size is the bar's total (none for a pipe).
    show : bool
        Whether to show a bar; without tqdm none is shown.
    """

    def __init__(self, f: IO[bytes], show: bool) -> None:
        self.bar = None
        if show:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            total = file_size(f)
            self.bar = tqdm(total=total or None, unit="B", unit_scale=True, desc="reading", leave=False)

    def update(self, n: int) -> None:
        """Count ``n`` more bytes read."""
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
