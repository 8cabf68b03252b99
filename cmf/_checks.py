"""Checks of scalar arguments, written once for every module.

Booleans are integers to Python (``True + True == 2``) and NumPy's
``np.bool_`` is not even that, so "is this an integer" needs care that is
easy to get slightly wrong when repeated; every public function checks its
integer and real arguments through these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["is_integer", "integer", "real"]


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy integer and not a boolean.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an ``int``, checked to be an integer of at least ``minimum``.

    Parameters
    ----------
    value : object
        The argument given.
    name : str
        Its name, for the message.
    minimum : int, optional
        The smallest value allowed.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        For anything but an integer (booleans included).
    ValueError
        For an integer below ``minimum``.
    """
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def real(value: Any, name: str, minimum: float | None = None, *, strict: bool = False, hint: str = "") -> float:
    """``value`` as a finite ``float``, optionally bounded below.

    Parameters
    ----------
    value : object
        The argument given.
    name : str
        Its name, for the message.
    minimum : float, optional
        The smallest value allowed (excluded when ``strict``).
    strict : bool, default False
        Whether ``minimum`` itself is refused.
    hint : str, default ""
        Advice appended to the message of a value below the bound.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        For anything but a real number (booleans included).
    ValueError
        For NaN, infinity or a value below the bound.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum:g}, got {value:g}{hint}")
    return value
