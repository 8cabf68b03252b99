"""Delimited rating text to coded columns, in chunks, through the C tokenizer.

The file is read in binary chunks of up to :data:`CHUNK_BYTES` into one
reused buffer, each cut after its last newline (the rest waits for the next
chunk). ``cmf_read_lines`` (``src_c/cmf_read.c``, reached through
:mod:`cmf._reader`) splits the lines and converts the fields into
fixed-size buffers; a :class:`~cmf._labels.LabelCoder` per id column turns
each batch into int32 codes at once. Only the codes, float32 ratings and
optional timestamps of the lines read so far are kept, so memory is bounded
by the chunk and the output columns whatever the file's size.

On a machine with two CPUs or more, a chunk of at least
:data:`PARALLEL_BYTES` is cut after a newline near its middle and its two
halves are tokenized at once (the C call releases the GIL), each into its
own buffers; the halves are then coded in file order, so the columns, the
first error and its line number are those of a read on one thread.

:func:`read_columns` neither opens the file nor chooses the layout:
:mod:`cmf.io` does, from the first lines, and turns a :class:`LineError`
into a message naming the option to pass.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO

import numpy as np

from cmf import _reader
from cmf._byteprogress import ByteProgress, file_size
from cmf._labels import LabelCoder, LabelMap

__all__ = ["BOM", "CHUNK_BYTES", "Columns", "Layout", "LineError", "read_columns"]

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 23
# Records per call of the tokenizer: its output buffers take 52 bytes each.
CAPACITY = 1 << 18
# The first read's size; each read that fills its room doubles it, up to CHUNK_BYTES.
FIRST_READ_BYTES = 1 << 16
# Bytes of fixed-width text slots made at once when ids are text.
TEXT_BYTES = 1 << 24
# Chunks from this size on are tokenized in two halves on two threads; below
# it a thread's start is not worth it (a small file never starts one).
PARALLEL_BYTES = 1 << 20


@dataclass(frozen=True)
class Layout:
    """Where the fields are: separator, comment prefix and column positions.

    Attributes
    ----------
    sep : bytes
        One or two bytes, or empty for runs of white space.
    comment : bytes
        Comment prefix, or empty.
    columns : tuple of 4 int
        User, item, rating and timestamp positions (rating and timestamp
        -1 when absent).
    """

    sep: bytes
    comment: bytes
    columns: tuple[int, int, int, int]


@dataclass(frozen=True)
class Columns:
    """What a file held: coded ids and their label maps, ratings, timestamps.

    Attributes
    ----------
    user_map, item_map : LabelMap
        Sorted distinct labels.
    rows, cols : ndarray of int32
        Each line's user and item index in those maps.
    values : ndarray of float32 or None
        The ratings (None without a rating column).
    timestamps : ndarray of int64 or None
        The timestamps (None without a timestamp column).
    """

    user_map: LabelMap
    item_map: LabelMap
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray | None
    timestamps: np.ndarray | None


class LineError(Exception):
    """A line that cannot be read.

    Parameters
    ----------
    kind : str
        ``"too few fields"``, ``"bad rating"``, ``"bad timestamp"``,
        ``"empty id"``, ``"rating out of range"`` or ``"not UTF-8"``.
    line : int
        Its 1-based number in the file.
    text : str
        The line (undecodable bytes replaced).
    n_fields : int
        Fields found, for ``"too few fields"``.
    """

    def __init__(self, kind: str, line: int, text: str, n_fields: int = 0) -> None:
        super().__init__(f"line {line}: {kind}")
        self.kind, self.line, self.text, self.n_fields = kind, line, text, n_fields


class _Buffers:
    """The tokenizer's output arrays, reused from call to call."""

    def __init__(self, capacity: int) -> None:
        self.arrays = {
            "user_ids": np.empty(capacity, np.int64), "item_ids": np.empty(capacity, np.int64),
            "user_offsets": np.empty(capacity, np.int64), "user_lengths": np.empty(capacity, np.int32),
            "item_offsets": np.empty(capacity, np.int64), "item_lengths": np.empty(capacity, np.int32),
            "ratings": np.empty(capacity, np.float32), "timestamps": np.empty(capacity, np.int64),
        }

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def _cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _line_at(data: bytes, pos: int) -> str:
    end = data.find(b"\n", pos)
    return data[pos: end if end >= 0 else len(data)].rstrip(b"\r").decode("utf-8", errors="replace")


class _Reader:
    """The state of one read: coders, the output columns so far, the line count.

    The output columns are allocated for the number of lines the file's
    size suggests (from the bytes per line of the first chunk, plus a
    margin) and filled in place: capacity never written costs no resident
    memory, and it is given back at the end (``ndarray.resize`` shrinks in
    place). Only a file longer than guessed (or a pipe) grows them by a
    copy.
    """

    def __init__(self, layout: Layout, rating_range: tuple[float, float] | None, size: int) -> None:
        self.layout = layout
        self.rating_range = rating_range
        self.users, self.items = LabelCoder(), LabelCoder()
        self.out = _Buffers(CAPACITY)
        self.line = 0  # lines consumed so far
        self.size = size  # the file's size in bytes, 0 if unknown
        self.n = 0  # records kept
        kinds = {"rows": np.int32, "cols": np.int32}
        if layout.columns[2] >= 0:
            kinds["values"] = np.float32
        if layout.columns[3] >= 0:
            kinds["timestamps"] = np.int64
        self.columns = {name: np.empty(0, dtype) for name, dtype in kinds.items()}
        # The second thread and its buffers, made at the first chunk large enough.
        self.pool: ThreadPoolExecutor | None = None
        self.spare: _Buffers | None = None

    def _reserve(self, m: int, bytes_read: int) -> None:
        """Room for ``m`` more records, guessing the total from the bytes per record so far."""
        need = self.n + m
        capacity = len(self.columns["rows"])
        if need <= capacity:
            return
        if capacity == 0 and self.size:
            capacity = max(need, int(self.size / max(bytes_read, 1) * need * 1.25) + CAPACITY)
        else:
            capacity = max(need, capacity + capacity // 2, 4 * CAPACITY)
        for name, column in self.columns.items():
            grown = np.empty(capacity, dtype=column.dtype)
            grown[: self.n] = column[: self.n]
            self.columns[name] = grown

    def read(self, data: bytes, pos: int, stop: int) -> None:
        """Read the whole lines of ``data[pos:stop]``.

        A large enough range is cut after a newline near its middle: the
        tokenizer's first call on the second half runs on the second thread
        while this one reads the first half; the second half is coded after
        the first, as on one thread.
        """
        second = self._second_thread() if stop - pos >= PARALLEL_BYTES else None
        middle = data.find(b"\n", pos + (stop - pos) // 2, stop) + 1 if second else 0
        if second is None or not pos < middle < stop:
            self._read(data, pos, stop, self.out)
            return
        pool, spare = second
        later = pool.submit(self._tokenize, data, middle, stop, spare)
        try:
            self._read(data, pos, middle, self.out)
        except BaseException:
            wait([later])  # its buffers must not be reused before it ends
            raise
        self._read(data, middle, stop, spare, later)

    def _second_thread(self) -> tuple[ThreadPoolExecutor, _Buffers] | None:
        """The second thread and its buffers, started the first time; None on one CPU."""
        if self.pool is None:
            if _cpu_count() < 2:
                return None
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="cmf-read")
            self.spare = _Buffers(CAPACITY)
        assert self.spare is not None
        return self.pool, self.spare

    def close(self) -> None:
        """End the second thread, if one was started."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool, self.spare = None, None

    def _tokenize(self, data: bytes, pos: int, stop: int, out: _Buffers) -> tuple:
        """One call of the C tokenizer on ``data[pos:stop]``, into ``out``."""
        layout = self.layout
        return _reader.read_lines(data, pos, stop, layout.sep, layout.comment, layout.columns, **out.arrays)

    def _read(self, data: bytes, pos: int, stop: int, out: _Buffers, first: Future | None = None) -> None:
        """Read ``data[pos:stop]`` through the buffers ``out``; ``first``: the first call, if made already."""
        while pos < stop:
            if first is not None:
                result, first = first.result(), None
            else:
                result = self._tokenize(data, pos, stop, out)
            ok, n, n_lines, n_bytes, user_text, item_text, error, n_fields = result
            if n:
                # Before a bad line, the lines read are kept first: an error of theirs
                # (a rating out of range, an id not UTF-8) comes first in the file.
                self._reserve(n, pos + n_bytes)
                self._keep(out, data, pos, n, (user_text, item_text))
            if not ok:
                raise LineError(error, self.line + n_lines + 1, _line_at(data, pos + n_bytes), n_fields)
            self.line += n_lines
            pos += n_bytes

    def _line_of(self, out: _Buffers, data: bytes, pos: int, record: int) -> LineError:
        """Where record ``record`` of the call that filled ``out`` is: its line number and text."""
        offset = pos + int(out["user_offsets"][record])
        start = data.rfind(b"\n", pos, offset) + 1 or pos
        return LineError("", self.line + data.count(b"\n", pos, offset) + 1, _line_at(data, start))

    def _keep(self, out: _Buffers, data: bytes, pos: int, n: int, text: tuple[bool, bool]) -> None:
        columns, at = self.columns, self.n
        for coder, role, name, is_text in ((self.users, "user", "rows", text[0]),
                                           (self.items, "item", "cols", text[1])):
            if is_text:
                coder.to_text()
            if not coder.text:
                coder.code_ints(out[f"{role}_ids"][:n], columns[name][at: at + n])
                continue
            self._code_texts(coder, (out, data, pos), role, columns[name][at: at + n])
        if "values" in columns:
            values = out["ratings"][:n]
            if self.rating_range is not None:
                lo, hi = self.rating_range
                bad = np.flatnonzero((values < lo) | (values > hi))
                if len(bad):
                    where = self._line_of(out, data, pos, int(bad[0]))
                    raise LineError("rating out of range", where.line, where.text)
            columns["values"][at: at + n] = values
        if "timestamps" in columns:
            columns["timestamps"][at: at + n] = out["timestamps"][:n]
        self.n += n

    def _code_texts(self, coder: LabelCoder, call: tuple[_Buffers, bytes, int], role: str,
                    codes: np.ndarray) -> None:
        """Code a call's ``role`` fields (its buffers, text and start) as text, into ``codes``.

        The fields are copied into fixed-width slots (as wide as the longest
        field) a block at a time, so that one long field cannot make the
        slots of the whole batch large.
        """
        out, data, pos = call
        offsets, lengths = out[f"{role}_offsets"], out[f"{role}_lengths"]
        width = max(int(lengths[: len(codes)].max()), 1)
        step = max(1, TEXT_BYTES // width)
        for start in range(0, len(codes), step):
            stop = min(start + step, len(codes))
            slots = np.empty((stop - start) * width, dtype=np.uint8)
            _reader.gather(data, offsets[start:stop] + pos, lengths[start:stop], width, slots)
            texts = slots.view(f"S{width}")
            block, bad = coder.code_texts(texts)
            if bad is not None:
                where = self._line_of(out, data, pos, start + int(np.flatnonzero(texts == bad)[0]))
                raise LineError("not UTF-8", where.line, where.text)
            codes[start:stop] = block

    def finish(self) -> Columns:
        """The columns, trimmed, with codes turned into indices in sorted label order."""
        user_map, user_rank = self.users.finish()
        item_map, item_rank = self.items.finish()
        for column in self.columns.values():
            column.resize(self.n, refcheck=False)
        for name, rank in (("rows", user_rank), ("cols", item_rank)):
            codes = self.columns[name]
            for start in range(0, self.n, CAPACITY):
                block = codes[start: start + CAPACITY]
                block[...] = rank[block]
        return Columns(user_map, item_map, self.columns["rows"], self.columns["cols"],
                       self.columns.get("values"), self.columns.get("timestamps"))


def read_columns(
    f: IO[bytes],
    head: bytes,
    layout: Layout,
    *,
    skip_lines: int = 0,
    rating_range: tuple[float, float] | None = None,
    progress: bool = False,
) -> Columns:
    """Read a file's lines into coded columns.

    Parameters
    ----------
    f : binary file
        Positioned after ``head``.
    head : bytes
        What was read of the file already (its start), BOM included.
    layout : Layout
        Separator, comment prefix and columns.
    skip_lines : int
        Lines at the start to skip unread (a header and what precedes it).
    rating_range : (float, float), optional
        A rating outside ``[lo, hi]`` is a LineError.
    progress : bool
        Show a tqdm bar of the bytes read (when tqdm is installed).

    Returns
    -------
    Columns

    Raises
    ------
    LineError
        At the first line that cannot be read.
    """
    reader = _Reader(layout, rating_range, file_size(f))
    start = len(BOM) if head.startswith(BOM) else 0
    for _ in range(skip_lines):
        newline = head.find(b"\n", start)
        start = newline + 1 if newline >= 0 else len(head)
    reader.line = skip_lines
    # One buffer, reused: the line begun at its end moves to its start before
    # the next read. Reads start small (a small file costs no large buffer) and
    # double while they fill it, up to CHUNK_BYTES.
    step = min(CHUNK_BYTES, FIRST_READ_BYTES)
    data = bytearray(head[start:])
    filled = len(data)
    bar = ByteProgress(f, progress)
    bar.update(len(head))
    try:
        while True:
            if len(data) < filled + step:
                data += bytes(filled + step - len(data))
            with memoryview(data) as view:
                got = f.readinto(view[filled: filled + step])  # type: ignore[attr-defined]
            if not got:
                if filled:  # the last line, without a newline
                    reader.read(bytes(data[:filled]), 0, filled)
                break
            bar.update(got)
            end, step = filled + got, min(2 * step, CHUNK_BYTES) if got == step else step
            # Whole lines only: the part after the last newline waits for the next read.
            cut = data.rfind(b"\n", 0, end) + 1
            if cut:
                reader.read(data, 0, cut)
                data[: end - cut] = data[cut:end]
            filled = end - cut
    finally:
        reader.close()
        bar.close()
    return reader.finish()
