"""How a rating file is laid out, judged from its first lines, and what to say when a line is wrong.

:mod:`cmf.io` reads the first lines of a file in Python to choose the
header, the columns and the timestamp column (:func:`choose_layout`); the C reader
then reads every line. When it stops at a line, :func:`line_message` says what
is wrong and which option fixes it: the separator the line seems to use
(``sep=';'``), ``header=True`` for a header line, the columns that leave
timestamps out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any, Sequence

from cmf._checks import is_integer
from cmf._dataset import ITEM_NAMES, RATING_NAMES, TIME_NAMES, USER_NAMES
from cmf._textread import BOM, LineError

# The first bytes of a file, read to choose its layout before the C reader runs.
HEAD_BYTES = 1 << 16

__all__ = ["HEAD_BYTES", "ParseError", "Plan", "describe", "guess_sep", "kept_lines", "line_message", "read_head", "choose_layout", "show", "split"]


class ParseError(ValueError):
    """A rating file line could not be read.

    Parameters
    ----------
    message : str
        What is wrong and where.
    path : str
        The file.
    line : int or None
        The 1-based line number, when one line is at fault.
    """

    def __init__(self, message: str, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


def read_head(f: IO[bytes], comment: str | None, count: int, path: str) -> tuple[bytes, list[tuple[int, str]]]:
    """Read the start of a file until it holds ``count`` kept lines (or the file ends).

    Returns
    -------
    head : bytes
        What was read (the reader of the rest takes it first).
    kept : list of (int, str)
        The first ``count`` non-blank, non-comment lines (fewer if the file
        has fewer), with their 1-based numbers; a UTF-8 byte-order mark is
        dropped.
    """
    head = f.read(HEAD_BYTES)
    while True:
        kept = kept_lines(head, comment, count, path, complete=False)
        if len(kept) == count:
            return head, kept
        more = f.read(HEAD_BYTES)
        if not more:
            return head, kept_lines(head, comment, count, path)
        head += more


def kept_lines(head: bytes, comment: str | None, count: int, path: str, *,
               complete: bool = True) -> list[tuple[int, str]]:
    """The first ``count`` non-blank, non-comment lines of ``head`` with their 1-based numbers.

    A UTF-8 byte-order mark is dropped; unless ``head`` is ``complete``
    (the whole file), its last line, which may be cut, is left out.
    """
    lines = head[len(BOM):].split(b"\n") if head.startswith(BOM) else head.split(b"\n")
    if not complete:
        lines.pop()
    kept: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            # A compressed file is the usual cause: say which, and what to do.
            packed = next((name for magic, name in _COMPRESSED if head.startswith(magic)), None)
            hint = f"; it looks {packed}-compressed: decompress it first" if packed else ""
            raise ParseError(
                f"{path}, line {number}: not UTF-8 text ({exc.reason} at byte {exc.start}){hint}", path, number
            ) from None
        if text and not (comment and text.startswith(comment)):
            kept.append((number, text))
            if len(kept) == count:
                break
    return kept


def guess_sep(line: str) -> str | None:
    """The separator of a pairs line: ``::``, tab or comma if present, else white space (None)."""
    return "::" if "::" in line else "\t" if "\t" in line else "," if "," in line else None


def split(text: str, sep: str | None) -> list[str]:
    """Fields of a line as the C tokenizer sees them (stripped of spaces and tabs)."""
    return text.split() if sep is None else [f.strip(" \t") for f in text.split(sep)]


def _column_index(header: list[str], wanted: Any, names: Sequence[str], role: str, path: str) -> int:
    if is_integer(wanted):
        return int(wanted)
    lowered = [h.lower().strip().strip('"') for h in header]
    candidates = [wanted.lower()] if isinstance(wanted, str) else list(names)
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise ParseError(
        f"{path}: no {role} column in the header {header}; name it with columns=(user, item, rating) "
        "(--columns USER,ITEM,RATING)", path, 1
    )


def _is_number(text: str) -> bool:
    """Whether a field reads as a number; "nan" does, so a data line of NaN is an error, not a header."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None


def _whole_ids(first: list[str], spec: list[Any] | None) -> bool:
    """Whether the first line's user and item fields are whole numbers: then it is data, not a header.

    A header names its columns; a first line "1<TAB>2<TAB>five" is a rating
    gone wrong, which skipped as a header would silently be lost.
    """
    ids = [0, 1] if spec is None else list(spec[:2])
    if not all(is_integer(c) for c in ids):
        return False  # columns given by name: there is a header
    return all(int(c) < len(first) and _is_int(first[int(c)].strip()) for c in ids)


@dataclass(frozen=True)
class Plan:
    """What the first lines decided: header line, columns and separator."""

    header_line: int  # 0 without a header
    columns: tuple[int, int, int, int]
    sep: str | None
    first_line: int  # the first kept line's number


def choose_layout(kept: list[tuple[int, str]], spec: list[Any] | None, header: bool | None, sep: str | None,
          path: str) -> Plan:
    """Choose header, columns and timestamp column from the first two kept lines."""
    first = split(kept[0][1], sep)
    rating_guess = int(spec[2]) if spec is not None and is_integer(spec[2]) else 2
    has_header = header if header is not None else (
        rating_guess < len(first) and not _is_number(first[rating_guess]) and not _whole_ids(first, spec))
    names = (USER_NAMES, ITEM_NAMES, RATING_NAMES, TIME_NAMES)
    roles = ("user", "item", "rating", "timestamp")
    if has_header:
        if spec is None:
            # Known header names pick the columns; unknown ones mean the first three.
            try:
                cols = [_column_index(first, None, names[j], roles[j], path) for j in range(3)]
            except ParseError:
                cols = [0, 1, 2]
        else:
            cols = [_column_index(first, spec[j], names[j], roles[j], path) for j in range(len(spec))]
        if len(cols) == 3:
            # Three columns given leave timestamps out; none given, a column named like one is kept.
            lowered = [h.lower().strip().strip('"') for h in first]
            found = (lowered.index(n) for n in TIME_NAMES if n in lowered and spec is None)
            cols.append(next(found, -1))
    else:
        if spec is not None and not all(is_integer(c) for c in spec):
            raise ValueError("columns given by name need a header line; pass header=True or column positions")
        cols = [int(c) for c in spec] if spec is not None else [0, 1, 2]
        if len(cols) == 3:
            # Unless three columns are given, a fourth column of integers is a
            # timestamp, as in u.data and ratings.dat.
            auto = spec is None and len(first) > 3 and _is_int(first[3])
            cols.append(3 if auto else -1)
    return Plan(kept[0][0] if has_header else 0, (cols[0], cols[1], cols[2], cols[3]), sep, kept[0][0])


# The magic bytes that start compressed files, for the message about them.
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"),
               (b"\x28\xb5\x2f\xfd", "zstd"))


def line_message(err: LineError, plan: Plan, no_header: bool, scale: Any, path: str) -> str:
    """The ParseError text for a line the reader stopped at: what is wrong and what to pass."""
    where = f"{path}, line {err.line}"
    fields = split(err.text, plan.sep)
    user, item, rating, stamp = plan.columns

    def field(j: int) -> str:
        return fields[j] if 0 <= j < len(fields) else ""

    if err.kind == "too few fields":
        # Name the timestamp column only when it is the one missing.
        need = max(user, item, rating) + 1
        need = need if err.n_fields < need else max(plan.columns) + 1
        hint = _sniff(err.text, plan.sep, need)
        # Only a line whose rating is there lacks just its timestamp (a line
        # cut short, "269\t504\t", lacks its rating too).
        if not hint and stamp == need - 1 and err.n_fields == need - 1 and field(rating).strip():
            hint = f"; pass columns=({user}, {item}, {rating}) (--columns {user},{item},{rating}) to read no timestamps"
        return (f"{where}: expected at least {need} fields separated by {describe(plan.sep)}, "
                f"found {err.n_fields}: {show(err.text)}{hint}")
    if err.kind == "bad rating":
        hint = ""
        if no_header and err.line == plan.first_line:
            hint = "; if it is a header line, pass header=True (--header)"
        elif field(rating).strip()[:1] in ("'", '"'):
            # Quoting is not parsed (a quoted field may hide a separator).
            hint = ("; quoted fields are not read: remove the quotes, or read the file with "
                    "pandas.read_csv and pass the DataFrame to cmf.io.from_dataframe")
        return f"{where}: the rating {field(rating)!r} is not a finite number{hint}"
    if err.kind == "bad timestamp":
        return (f"{where}: the timestamp {field(stamp)!r} is not an integer; "
                f"pass columns=({user}, {item}, {rating}) (--columns {user},{item},{rating}) to read no timestamps")
    if err.kind == "rating out of range":
        return (f"{where}: the rating {field(rating)!r} is outside rating_scale=({scale[0]:g}, {scale[1]:g}) "
                f"(--rating-scale {scale[0]:g} {scale[1]:g}); fix the line or declare a wider scale")
    if err.kind == "empty id":
        return f"{where}: empty {'user' if not field(user) else 'item'} id"
    return f"{where}: a user or item id is not UTF-8 text: {show(err.text)}"


def _sniff(text: str, sep: str | None, need: int) -> str:
    """A hint naming the separator a line with too few fields seems to use."""
    for other in (";", "|", ",", "\t", "::"):
        if other != sep and len(text.split(other)) >= need:
            return f"; is it separated by {describe(other)}? pass sep={other!r} (--sep {other!r})"
    if sep is not None and len(text.split()) >= need:
        return "; is it separated by white space? pass format='libmf' (--format libmf)"
    return ""


def describe(sep: str | None) -> str:
    return {None: "white space", "\t": "tabs", ",": "commas", "::": "'::'"}.get(sep, repr(sep))


def show(text: str) -> str:
    return repr(text if len(text) < 80 else text[:77] + "...")
