"""Reading rating files and DataFrames into a :class:`RatingDataset`.

The record itself and the DataFrame reader live in :mod:`cmf._dataset`
(below this module, so that the estimator can take them without importing
the file readers); they are re-exported here.

Supported formats (``format=``):

``"movielens"``
    MovieLens 100K ``u.data``: ``user<TAB>item<TAB>rating<TAB>timestamp``.
``"movielens-dat"``
    MovieLens 1M/10M ``ratings.dat``: ``user::item::rating::timestamp``.
``"movielens-csv"``
    MovieLens 20M/25M/latest ``ratings.csv`` with the header
    ``userId,movieId,rating,timestamp``.
``"csv"``, ``"tsv"``
    Any delimited text; choose ``columns``, ``sep`` and ``header``.
``"libmf"``
    LIBMF's text format: ``user item rating`` separated by white space.

Nothing here touches the network: files are read from disk only.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from cmf._checks import is_integer
from cmf._dataset import ITEM_NAMES, RATING_NAMES, USER_NAMES, RatingDataset, as_dataset, from_dataframe

__all__ = ["FORMATS", "RatingDataset", "as_dataset", "from_dataframe", "load_pairs", "load_ratings", "ParseError"]

FORMATS = ("movielens", "movielens-dat", "movielens-csv", "csv", "tsv", "libmf")


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


def _sep_of(fmt: str, sep: str | None) -> str | None:
    if sep is not None:
        return sep
    return {"movielens": "\t", "movielens-dat": "::", "movielens-csv": ",", "csv": ",", "tsv": "\t"}.get(fmt)


def guess_format(path: str | os.PathLike[str], first_line: str | None = None) -> str:
    """Guess a rating file's format from its name and first line.

    Parameters
    ----------
    path : str or path-like
        The file name.
    first_line : str, optional
        Its first non-empty line; read from the file when omitted.

    Returns
    -------
    str
        One of :data:`FORMATS`.
    """
    name = os.path.basename(os.fspath(path)).lower()
    if first_line is None:
        first_line = _first_line(os.fspath(path))
    line = first_line.strip()
    if "::" in line:
        return "movielens-dat"
    if name.endswith(".csv") or ("," in line and "\t" not in line):
        return "movielens-csv" if line.lower().startswith("userid,movieid,rating") else "csv"
    if "\t" in line:
        return "movielens" if name.endswith(".data") or len(line.split("\t")) == 4 else "tsv"
    return "libmf"


def _first_line(path: str) -> str:
    try:
        with _open(path) as f:
            for line in f:
                if line.strip():
                    return line
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})", path) from None
    return ""


def _open(path: str) -> Any:
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a rating file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such rating file: {path!r}")
    return open(path, encoding="utf-8", errors="strict", newline=None)


def _guess_sep(line: str) -> str | None:
    """The separator of a pairs line: ``::``, tab or comma if present, else white space (None)."""
    return "::" if "::" in line else "\t" if "\t" in line else "," if "," in line else None


def _split_lines(
    path: str, sep: str | None, comment: str | None, *, guess: bool = False
) -> tuple[list[list[str]], list[int], str | None]:
    """Fields of every non-empty, non-comment line, the 1-based line numbers and the separator used.

    With ``guess`` and no ``sep``, the separator is guessed from the first
    kept line of the same read, so a pipe or FIFO (read once) works too.
    Fields are not stripped here (callers strip the columns they use, all at
    once), which keeps this loop to one split per line.
    """
    try:
        with _open(path) as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})", path) from None
    kept = [
        (number, text) for number, text in enumerate(map(str.strip, lines), 1)
        if text and not (comment and text.startswith(comment))
    ]
    numbers = [number for number, _ in kept]
    if guess and sep is None and kept:
        sep = _guess_sep(kept[0][1])
    fields = [text.split(sep) for _, text in kept] if sep else [text.split() for _, text in kept]
    return fields, numbers, sep


def _column_index(header: list[str], wanted: Any, names: Sequence[str], role: str, path: str) -> int:
    if is_integer(wanted):
        return int(wanted)
    lowered = [h.lower().strip().strip('"') for h in header]
    candidates = [wanted.lower()] if isinstance(wanted, str) else list(names)
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise ParseError(
        f"{path}: no {role} column in the header {header}; name it with columns=(user, item, rating)", path, 1
    )


def _looks_like_header(fields: list[str], rating_col: int) -> bool:
    if rating_col >= len(fields):
        return False
    try:
        float(fields[rating_col])
    except ValueError:
        return True
    return False


def _labels_of(column: list[str]) -> np.ndarray:
    """Integer labels when every entry is an integer, else strings."""
    arr = np.char.strip(np.array(column, dtype=str))
    try:
        ints = arr.astype(np.int64)
    except (ValueError, OverflowError):
        return arr
    # "007" and "7" are different labels: keep strings if the round trip changes them.
    if np.all(ints.astype(str) == arr):
        return ints
    return arr


def load_ratings(
    path: Any,
    format: str | None = None,
    *,
    sep: str | None = None,
    columns: Sequence[Any] | None = None,
    header: bool | None = None,
    comment: str | None = "#",
) -> RatingDataset:
    """Read a rating file (or a DataFrame) into a :class:`RatingDataset`.

    Parameters
    ----------
    path : str, path-like or pandas.DataFrame
        The file. A DataFrame is passed to :func:`from_dataframe`.
    format : str, optional
        One of :data:`FORMATS`; guessed from the name and the first line
        when omitted (``::`` means ratings.dat, a ``.csv`` name or commas
        CSV, tabs u.data/TSV, spaces LIBMF).
    sep : str, optional
        Field separator, for ``csv`` and ``tsv`` (default ``,`` and tab).
    columns : sequence of 3 int or str, optional
        Positions or header names of the user, item and rating columns;
        default the first three, or the header names ``user``/``userId``,
        ``item``/``movieId``, ``rating`` when there is a header.
    header : bool, optional
        Whether the first line is a header; detected when omitted (a first
        line whose rating field is not a number).
    comment : str or None, default "#"
        Lines starting with this are skipped, as are blank lines.

    Returns
    -------
    RatingDataset
        Labelled with the file's user and item ids (integers when all are
        integers, else strings), ``source`` set to the path.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ParseError
        Naming the file and the line number of the first line that cannot be
        read (too few fields, a rating that is not a finite number), or a
        file without any rating.
    ValueError
        For an unknown ``format``.

    Examples
    --------
    >>> data = load_ratings("ml-100k/u.data")            # doctest: +SKIP
    >>> data = load_ratings("ratings.csv", columns=("uid", "sku", "stars"))  # doctest: +SKIP
    """
    if hasattr(path, "columns") and hasattr(path, "iloc"):
        return from_dataframe(path, *(columns or ()))
    path = os.fspath(path)
    if format is None:
        format = guess_format(path)
    format = format.lower()
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    delimiter = _sep_of(format, sep) if format != "libmf" else sep
    fields, numbers, _ = _split_lines(path, delimiter, comment)
    if not fields:
        raise ParseError(f"{path}: the file holds no ratings", path)

    spec = list(columns) if columns is not None else None
    if spec is not None and len(spec) != 3:
        raise ValueError(f"columns must name 3 columns (user, item, rating), got {columns!r}")
    if spec is not None and not all(is_integer(c) or isinstance(c, str) for c in spec):
        raise TypeError(f"columns must be positions (int) or header names (str), got {columns!r}")
    rating_guess = spec[2] if spec is not None and is_integer(spec[2]) else 2
    has_header = header if header is not None else (
        format in ("csv", "tsv", "movielens-csv") and _looks_like_header(fields[0], int(rating_guess))
    )
    if has_header:
        head = fields[0]
        fields, numbers = fields[1:], numbers[1:]
        if spec is None:
            # Known header names pick the columns; unknown ones mean the first three.
            try:
                cols = [
                    _column_index(head, None, USER_NAMES, "user", path),
                    _column_index(head, None, ITEM_NAMES, "item", path),
                    _column_index(head, None, RATING_NAMES, "rating", path),
                ]
            except ParseError:
                cols = [0, 1, 2]
        else:
            cols = [
                _column_index(head, spec[0], USER_NAMES, "user", path),
                _column_index(head, spec[1], ITEM_NAMES, "item", path),
                _column_index(head, spec[2], RATING_NAMES, "rating", path),
            ]
    else:
        if spec is not None and not all(is_integer(c) for c in spec):
            raise ValueError("columns given by name need a header line; pass header=True or column positions")
        cols = [int(c) for c in spec] if spec is not None else [0, 1, 2]
    if not fields:
        raise ParseError(f"{path}: the file holds a header but no ratings", path)

    need = max(cols) + 1
    lengths = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
    short = np.flatnonzero(lengths < need)
    if len(short):
        row, number = fields[int(short[0])], numbers[int(short[0])]
        raise ParseError(
            f"{path}, line {number}: expected at least {need} fields separated by "
            f"{_describe(delimiter)}, found {len(row)}: {_show(row, delimiter)}",
            path, number,
        )
    users, items, raw = ([row[c] for row in fields] for c in cols)
    try:
        ratings = np.array(raw, dtype=np.float64)
    except ValueError:
        ratings = None
    if ratings is None or not np.all(np.isfinite(ratings)):
        for text, number in zip(raw, numbers):
            try:
                ok = np.isfinite(float(text))
            except ValueError:
                ok = False
            if not ok:
                raise ParseError(f"{path}, line {number}: the rating {text!r} is not a finite number", path, number)
    user_labels, item_labels = _labels_of(users), _labels_of(items)
    for labels, role in ((user_labels, "user"), (item_labels, "item")):
        if labels.dtype.kind == "U":
            empty = np.flatnonzero(labels == "")
            if len(empty):
                number = numbers[int(empty[0])]
                raise ParseError(f"{path}, line {number}: empty {role} id", path, number)
    return RatingDataset.from_labels(user_labels, item_labels, ratings, source=path)


def _describe(sep: str | None) -> str:
    return {None: "white space", "\t": "tabs", ",": "commas", "::": "'::'"}.get(sep, repr(sep))


def _show(row: list[str], sep: str | None) -> str:
    text = (sep or " ").join(row)
    return repr(text if len(text) < 80 else text[:77] + "...")


def load_pairs(path: Any, sep: str | None = None, comment: str | None = "#") -> tuple[np.ndarray, np.ndarray]:
    """Read (user, item) pairs to predict, one per line; further fields are ignored.

    Parameters
    ----------
    path : str or path-like
        The file; fields separated by ``sep`` (default: tab, comma, ``::``
        or white space, guessed from the first line).
    sep : str, optional
        Field separator.
    comment : str or None, default "#"
        Lines starting with this are skipped.

    Returns
    -------
    users, items : ndarray
        Labels (int64 when all are integers, else str).

    Raises
    ------
    FileNotFoundError, ParseError
    """
    path = os.fspath(path)
    fields, numbers, sep = _split_lines(path, sep, comment, guess=True)
    if not fields:
        raise ParseError(f"{path}: the file holds no pairs", path)
    for row, number in zip(fields, numbers):
        if len(row) < 2:
            raise ParseError(f"{path}, line {number}: expected a user and an item, found {_show(row, sep)}", path, number)
    return _labels_of([r[0] for r in fields]), _labels_of([r[1] for r in fields])
