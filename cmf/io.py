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

import dataclasses
import os
import sys
from typing import Any, Sequence

import numpy as np

from cmf._checks import is_integer, real
from cmf._dataset import RatingDataset, as_dataset, from_dataframe
from cmf._layout import ParseError, Plan, choose_layout, guess_sep, line_message, read_head, show
from cmf._textread import Layout, LineError, read_columns
from cmf._weight_column import MAX_COLUMN, read_weights, weight_position

__all__ = ["FORMATS", "RatingDataset", "as_dataset", "from_dataframe", "load_pairs", "load_ratings", "ParseError"]

FORMATS = ("movielens", "movielens-dat", "movielens-csv", "csv", "tsv", "libmf")
# Column positions the C reader takes: 0 to MAX_COLUMN - 1 (cmf._weight_column.MAX_COLUMN).
# Files at least this large show a progress bar on a terminal (progress=None).
PROGRESS_BYTES = 64 << 20


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
    with _open(path) as f:
        _, kept = read_head(f, "#", 1, path)
    return kept[0][1] if kept else ""


def _open(path: str) -> Any:
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a rating file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such rating file: {path!r}")
    return open(path, "rb")


def _sep_bytes(sep: str | None) -> bytes:
    if sep is None:
        return b""
    raw = sep.encode("utf-8")
    if not 1 <= len(raw) <= 2 or sep.isspace() and len(sep) > 1:
        raise ValueError(f"sep must be one or two characters (such as ',', '\\t' or '::'), got {sep!r}")
    return raw


def _scale(rating_scale: Any) -> tuple[float, float] | None:
    if rating_scale is None:
        return None
    try:
        lo, hi = (real(x, "rating_scale") for x in rating_scale)
    except (TypeError, ValueError):
        raise ValueError(f"rating_scale must be a pair (lowest, highest) of numbers, got {rating_scale!r}") from None
    if not lo < hi:
        raise ValueError(f"rating_scale must be (lowest, highest) with lowest < highest, got {rating_scale!r}")
    return float(lo), float(hi)


def _show_progress(progress: bool | None, f: Any) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        large = os.fstat(f.fileno()).st_size >= PROGRESS_BYTES
    except (OSError, ValueError):
        large = False
    return large and sys.stderr is not None and sys.stderr.isatty()


def load_ratings(
    path: Any,
    format: str | None = None,
    *,
    sep: str | None = None,
    columns: Sequence[Any] | None = None,
    header: bool | None = None,
    comment: str | None = "#",
    rating_scale: tuple[float, float] | None = None,
    progress: bool | None = None,
    weight_column: int | str | None = None,
) -> RatingDataset:
    """Read a rating file (or a DataFrame) into a :class:`RatingDataset`.

    The file is parsed by the C core in chunks (memory grows with the
    ratings, not with the file's text) and its labels are mapped at once.

    Parameters
    ----------
    path : str, path-like or pandas.DataFrame
        The file. A DataFrame is passed to :func:`from_dataframe`.
    format : str, optional
        One of :data:`FORMATS`; guessed from the name and the first line
        when omitted (``::`` means ratings.dat, a ``.csv`` name or commas
        CSV, tabs u.data/TSV, spaces LIBMF).
    sep : str, optional
        Field separator of one or two characters, for ``csv`` and ``tsv``
        (default ``,`` and tab) or any format whose file uses another one.
    columns : sequence of 3 or 4 int or str, optional
        Positions or header names of the user, item and rating columns, and
        optionally of a timestamp column; default the first three, or the
        header names ``user``/``userId``, ``item``/``movieId``, ``rating``
        when there is a header.
    header : bool, optional
        Whether the first line is a header; detected when omitted (a first
        line whose rating field is not a number, unless its user and item
        fields are whole numbers: that is a broken rating, reported), in
        every format.
    comment : str or None, default "#"
        Lines starting with this are skipped, as are blank lines.
    rating_scale : (float, float), optional
        The lowest and highest possible rating; a rating outside is an
        error naming its line.
    progress : bool, optional
        Show a progress bar (needs tqdm, the ``cli`` extra); by default
        only for a file of 64 MB or more read with stderr on a terminal.
    weight_column : int or str, optional
        The column holding a sample weight per rating (a position from 0,
        or a header name): finite numbers > 0, read as the ratings are
        (float32), into the data set's ``weights``. The file is read a
        second time for them, so it must be a regular file. For a
        DataFrame, the weight column's name.

    Returns
    -------
    RatingDataset
        Labelled with the file's user and item ids (integers when all of a
        column are canonical integers, else strings; "007" and "7" differ),
        indices in sorted label order, ``source`` set to the path, and
        ``timestamps`` when the file has them (a column named ``timestamp``,
        ``time`` or ``ts``, or a fourth column of integers).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ParseError
        Naming the file and the line number of the first line that cannot be
        read (too few fields, with the separator the line seems to use; a
        rating that is not a finite number, or outside ``rating_scale``; a
        header line with ``header=False``), or a file without any rating.
    ValueError
        For an unknown ``format`` or bad options.

    Examples
    --------
    >>> data = load_ratings("ml-100k/u.data")            # doctest: +SKIP
    >>> data = load_ratings("ratings.csv", columns=("uid", "sku", "stars"))  # doctest: +SKIP
    """
    if hasattr(path, "columns") and hasattr(path, "iloc"):
        # As in a file: three columns given leave timestamps out, none given keep a column named like one.
        spec = _check_columns(columns) or []
        return from_dataframe(path, *spec, **({"timestamp": False} if len(spec) == 3 else {}), weight=weight_column)
    path = os.fspath(path)
    spec = _check_columns(columns)
    scale = _scale(rating_scale)
    with _open(path) as f:
        head, kept = read_head(f, comment, 2, path)
        format = (format or guess_format(path, kept[0][1] if kept else "")).lower()
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        delimiter = _sep_of(format, sep) if format != "libmf" else sep
        layout_sep = _sep_bytes(delimiter)
        if not kept:
            raise ParseError(f"{path}: the file holds no ratings", path)
        plan = choose_layout(kept, spec, header, delimiter, path)
        position = None if weight_column is None else weight_position(weight_column, plan, kept[0][1], path)
        if position is not None and position == plan.columns[3]:  # whole weights, not timestamps
            plan = dataclasses.replace(plan, columns=(*plan.columns[:3], -1))
        if not all(0 <= c < MAX_COLUMN for c in plan.columns[:3]) or not -1 <= plan.columns[3] < MAX_COLUMN:
            raise ValueError(f"column positions must be 0 to {MAX_COLUMN - 1}, got {columns!r}")
        layout = Layout(layout_sep, (comment or "").encode("utf-8"), plan.columns)
        try:
            got = read_columns(f, head, layout, skip_lines=plan.header_line, rating_range=scale,
                               progress=_show_progress(progress, f))
        except LineError as err:
            no_header = header is False or (header is None and not plan.header_line)
            raise ParseError(line_message(err, plan, no_header, scale, path), path, err.line) from None
    if len(got.rows) == 0:
        what = "a header but no ratings" if plan.header_line else "no ratings"
        raise ParseError(f"{path}: the file holds {what}", path)
    shape = (len(got.user_map), len(got.item_map))
    weights = None if position is None else read_weights(path, plan, layout, position, got)
    return RatingDataset(got.rows, got.cols, got.values, shape, got.user_map, got.item_map, path, got.timestamps,
                         weights)


def _check_columns(columns: Sequence[Any] | None) -> list[Any] | None:
    if columns is None:
        return None
    spec = list(columns)
    if len(spec) not in (3, 4):
        raise ValueError(
            f"columns must name 3 columns (user, item, rating) or 4 (and a timestamp), got {columns!r}"
        )
    if not all(is_integer(c) or isinstance(c, str) for c in spec):
        raise TypeError(f"columns must be positions (int) or header names (str), got {columns!r}")
    return spec


def load_pairs(path: Any, sep: str | None = None, comment: str | None = "#") -> tuple[np.ndarray, np.ndarray]:
    """Read (user, item) pairs to predict, one per line; further fields are ignored.

    Parameters
    ----------
    path : str or path-like
        The file (a named pipe too: it is read once); fields separated by
        ``sep`` (default: tab, comma, ``::`` or white space, guessed from
        the first line).
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
    with _open(path) as f:
        head, kept = read_head(f, comment, 1, path)
        if not kept:
            raise ParseError(f"{path}: the file holds no pairs", path)
        if sep is None:
            sep = guess_sep(kept[0][1])
        layout = Layout(_sep_bytes(sep), (comment or "").encode("utf-8"), (0, 1, -1, -1))
        try:
            got = read_columns(f, head, layout)
        except LineError as err:
            plan = Plan(0, layout.columns, sep, kept[0][0])
            message = (f"{path}, line {err.line}: expected a user and an item, found {show(err.text)}"
                       if err.kind == "too few fields" else line_message(err, plan, False, None, path))
            raise ParseError(message, path, err.line) from None
    return got.user_map.labels[got.rows], got.item_map.labels[got.cols]
