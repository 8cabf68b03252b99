"""Atomic file replacement, and the removal of what a crashed save left behind.

A file is written under a temporary name next to its destination,
``.<name>.cmf-tmp-<random>``, and renamed over the destination once
complete, so that a crash never leaves a truncated file under the real
name. A crash (a killed process, a power loss) can still leave the
temporary file itself; nothing else would ever remove it, and a model's can
be gigabytes. So every save to a destination first removes that
destination's abandoned temporary files.

Abandoned means that no process is writing it: on POSIX a writer holds an
exclusive ``flock`` on its temporary file until the rename, and the system
releases it when the writer dies, however it dies; a file whose lock can be
taken is abandoned. On Windows, where a file another process has open
cannot be deleted, a removal that fails is taken to mean a save in
progress. A save that fails with an exception removes its temporary file
itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["TEMP_MARK", "atomic_output", "remove_abandoned", "temp_prefix"]

TEMP_MARK = ".cmf-tmp-"


def temp_prefix(final: str) -> str:
    """The name every temporary file for ``final`` starts with: ``.<name>.cmf-tmp-``."""
    return "." + os.path.basename(final) + TEMP_MARK


def _umask() -> int:
    """The process umask, read without changing it where possible."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; not possible on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _names_this_file(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        here, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _remove_if_abandoned(path: str) -> None:
    if fcntl is None:
        _unlink_quietly(path)  # fails while the writer has it open
        return
    try:
        # Opened for writing (nothing is written) because NFS grants an
        # exclusive lock only on such a descriptor.
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a save in progress holds it (or the file system has no locks)
        # Holding the lock, so that a writer that has just created this name
        # waits, then sees it gone and takes another.
        if _names_this_file(fd, path):
            _unlink_quietly(path)
    finally:
        os.close(fd)


def remove_abandoned(final: str) -> list[str]:
    """Remove the temporary files that saves to ``final`` abandoned; return their paths.

    Files that a save in progress is writing are left alone.
    """
    directory = os.path.dirname(os.path.abspath(final))
    prefix = temp_prefix(final)
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(prefix))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(directory, name)
        _remove_if_abandoned(path)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def _new_temp(final: str) -> tuple[int, str]:
    """A new temporary file for ``final``, created and (on POSIX) locked."""
    directory = os.path.dirname(os.path.abspath(final))
    while True:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(final), dir=directory)
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits only while a cleaner examines it
        except OSError:
            # A file system without locks: no cleaner can take one either,
            # so this file is never taken for abandoned.
            return fd, tmp
        if _names_this_file(fd, tmp):
            return fd, tmp
        os.close(fd)  # removed between its creation and the lock: take another name


@contextmanager
def atomic_output(final: str) -> Iterator[IO[bytes]]:
    """A binary file whose content replaces ``final`` when the block completes.

    Abandoned temporary files of ``final`` are removed first. If the block
    raises, ``final`` is untouched and the temporary file removed. The file
    gets the mode a plain ``open`` would give it, and is flushed to disk
    before the rename.
    """
    remove_abandoned(final)
    fd, tmp = _new_temp(final)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates the file private (0600).
        os.chmod(tmp, 0o666 & ~_umask())
        if fcntl is None:  # Windows renames no open file (and nothing locks there)
            os.close(fd)
            fd = -1
        # The lock is held across the rename: a cleaner never sees this file unlocked under its temporary name.
        os.replace(tmp, final)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    _fsync_directory(os.path.dirname(os.path.abspath(final)))
