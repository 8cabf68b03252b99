"""A rating file's column of sample weights (``load_ratings(..., weight_column=N)``).

The C tokenizer reads up to four columns per line: user, item, rating and an
integer timestamp. The weights are read by a second pass of the same reader
over the same file, with the weight column in the rating's place, so that
the lines kept (comments, blank lines and the header skipped alike) and
their order are those of the ratings; the second pass's users and items are
compared with the first's to make sure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._checks import is_integer
from cmf._layout import ParseError, Plan, read_head, show, split
from cmf._textread import Columns, Layout, LineError, read_columns

__all__ = ["MAX_COLUMN", "read_weights", "weight_position"]

# The reader's limit on a column position (cmf_read.c).
MAX_COLUMN = 64


def weight_position(column: Any, plan: Plan, header: str, path: str) -> int:
    """The 0-based position of the weight column: given, or looked up in the header by name.

    Parameters
    ----------
    column : int or str
        ``weight_column``.
    plan : Plan
        The layout the ratings are read with.
    header : str
        The file's first kept line (its header, if it has one).
    path : str
        The file, for messages.

    Returns
    -------
    int

    Raises
    ------
    ValueError, TypeError
        For a bad position or name, or the user's or item's column.
    """
    if is_integer(column) and not isinstance(column, bool):
        if not 0 <= column < MAX_COLUMN:
            raise ValueError(f"weight_column must be a position 0 to {MAX_COLUMN - 1} or a header name, got {column}")
        position = int(column)
    elif isinstance(column, str):
        if not plan.header_line:
            raise ValueError(f"weight_column={column!r} names a header column, but {path} has no header line: "
                             "give its position from 0 instead")
        names = [name.strip().strip('"') for name in split(header, plan.sep)]
        if column not in names:
            raise ValueError(f"{path} has no column {column!r} in its header {names}; give its name or position")
        position = names.index(column)
    else:
        raise TypeError(f"weight_column must be a column position (int) or a header name (str), got {column!r}")
    if position in plan.columns[:2]:
        raise ValueError(f"weight_column={column!r} is the user or item column; give the column of the weights")
    return position


def read_weights(path: str, plan: Plan, layout: Layout, position: int, got: Columns) -> np.ndarray:
    """The weight of every rating ``got`` read from ``path``, in its order.

    Parameters
    ----------
    path : str
        The rating file (read a second time: a regular file, not a pipe).
    plan : Plan
        The header line and columns the ratings were read with.
    layout : Layout
        Their separator, comment prefix and columns.
    position : int
        The weights' column (:func:`weight_position`).
    got : Columns
        What the first pass read.

    Returns
    -------
    ndarray of float64, shape (len(got.rows),)
        Not yet checked to be > 0 (the data set checks them).

    Raises
    ------
    ParseError
        For a line whose weight is missing or not a number.
    ValueError
        For a file that changed between the passes.
    """
    with open(path, "rb") as f:
        head, _ = read_head(f, layout.comment.decode("utf-8") or None, 1, path)
        user, item = plan.columns[:2]
        second = Layout(layout.sep, layout.comment, (user, item, position, -1))
        try:
            weights = read_columns(f, head, second, skip_lines=plan.header_line)
        except LineError as err:
            what = "has too few fields for" if err.kind == "too few fields" else "has no number in"
            raise ParseError(f"{path}, line {err.line}: {show(err.text)} {what} the weight column {position} "
                             "(weight_column counts columns from 0)", path, err.line) from None
    same = (np.array_equal(weights.rows, got.rows) and np.array_equal(weights.cols, got.cols)
            and np.array_equal(weights.user_map.labels, got.user_map.labels)
            and np.array_equal(weights.item_map.labels, got.item_map.labels))
    if not same:
        raise ValueError(f"{path} changed while it was read: read it again")
    assert weights.values is not None
    return weights.values.astype(np.float64)
