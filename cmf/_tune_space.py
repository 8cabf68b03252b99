"""The dimensions of :func:`cmf.model_selection.tune`'s search space, which know their bounds and how to widen.

A search that draws from fixed bounds can only report the best value inside
them: when the winner sits at an edge (the most factors offered, the
smallest step), the optimum is likely beyond it. :class:`LogRange` and
:class:`Choices` are space entries that draw like the plain entries
:func:`cmf._search.sample` takes (each is a function of a NumPy Generator),
and also say whether a value lies at one of their edges and give the
dimension moved past that edge. Entries of any other kind (a list, a
scipy.stats distribution, a user's own function) are searched as given and
never move.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["Choices", "LogRange", "describe", "extend_space", "limited_edges", "space_lines"]

# A value lies at an edge when it is within this fraction of the range's
# (log) width from it: a random search rarely draws the exact bound.
EDGE = 0.25
# How many of the best configurations must agree that the optimum lies
# beyond an edge (the best at it, the others in the half on its side).
AGREEING = 3
SIDES = ("low", "high")


@dataclasses.dataclass(frozen=True)
class LogRange:
    """A positive interval drawn log-uniformly, which may move past its edges.

    Parameters
    ----------
    low, high : float
        Bounds, ``0 < low <= high``.
    extend : tuple of str, default ()
        The edges the search may move past: any of ``"low"`` and ``"high"``.
        Empty (as :func:`cmf.model_selection.log_uniform` gives) keeps the
        bounds fixed.
    limits : (float, float), default (0, inf)
        Bounds no extension goes beyond.
    """

    low: float
    high: float
    extend: tuple[str, ...] = ()
    limits: tuple[float, float] = (0.0, math.inf)

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"a log-uniform range needs 0 < low <= high, got {self.low} and {self.high}")
        if set(self.extend) - set(SIDES):
            raise ValueError(f"extend takes 'low' and 'high', got {self.extend!r}")

    def __call__(self, rng: np.random.Generator) -> float:
        """One value, log-uniform on ``[low, high]``."""
        return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))

    def position(self, value: Any) -> float:
        """Where ``value`` lies: 0 at ``low``, 1 at ``high``, on the log scale (NaN for a non-number)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or self.low == self.high:
            return math.nan
        return (math.log(value) - math.log(self.low)) / math.log(self.high / self.low)

    def edge(self, value: Any) -> str | None:
        """The extendable edge ``value`` lies at (``"low"`` or ``"high"``), or None."""
        position = self.position(value)
        if position <= EDGE and "low" in self.extend and self.low > self.limits[0]:
            return "low"
        if position >= 1 - EDGE and "high" in self.extend and self.high < self.limits[1]:
            return "high"
        return None

    def at_limit(self, value: Any) -> str | None:
        """The edge ``value`` lies at that may move in principle but sits at its limit (``"low"``, ``"high"``), or None.

        The search cannot move past such an edge, however strongly the best
        values point beyond it: the report says so.
        """
        position = self.position(value)
        if position <= EDGE and "low" in self.extend and self.low <= self.limits[0]:
            return "low"
        if position >= 1 - EDGE and "high" in self.extend and self.high >= self.limits[1]:
            return "high"
        return None

    def extended(self, side: str) -> "LogRange":
        """The range of the same (log) width centred on its ``side`` edge, within ``limits``.

        The old edge stays inside, so the next draws compare values on both
        sides of it.
        """
        half = math.sqrt(self.high / self.low)
        centre = self.low if side == "low" else self.high
        low, high = max(self.limits[0], centre / half), min(self.limits[1], centre * half)
        return dataclasses.replace(self, low=low, high=high)

    def bounds(self) -> list[float]:
        """``[low, high]``."""
        return [self.low, self.high]


@dataclasses.dataclass(frozen=True)
class Choices:
    """Increasing integers drawn uniformly, which may grow past the largest by doubling it.

    Parameters
    ----------
    values : tuple of int
        The choices, in increasing order.
    extend : bool, default False
        Whether the search may add larger values.
    limit : int or None, default None
        The largest value an extension adds.
    """

    values: tuple[int, ...]
    extend: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        if not self.values or list(self.values) != sorted(set(self.values)):
            raise ValueError(f"choices must be distinct and increasing, got {self.values!r}")

    def __call__(self, rng: np.random.Generator) -> int:
        """One of the values, uniformly."""
        return int(rng.choice(list(self.values)))

    def position(self, value: Any) -> float:
        """Where ``value`` lies: 0 for the first choice, 1 for the last (NaN for another value)."""
        if value not in self.values:
            return math.nan
        return self.values.index(value) / max(1, len(self.values) - 1)

    def edge(self, value: Any) -> str | None:
        """``"high"`` when ``value`` is the largest choice and its double may be added, else None."""
        top = self.values[-1]
        # Within the limit by a whole doubling: a move that adds nothing would be reported as one.
        grows = self.extend and (self.limit is None or 2 * top <= self.limit)
        return "high" if grows and value == top else None

    def at_limit(self, value: Any) -> str | None:
        """``"high"`` when ``value`` is the largest choice, which could grow but for ``limit``, else None."""
        top = self.values[-1]
        return "high" if self.extend and value == top and self.edge(value) is None else None

    def extended(self, side: str) -> "Choices":
        """The largest choice and twice it (within ``limit``).

        One doubling at a time: a race's cost grows with the factors, so a
        larger model is tried only once the doubled one has won.
        """
        top = self.values[-1]
        larger = [2 * top] if self.limit is None or 2 * top <= self.limit else []
        return dataclasses.replace(self, values=(top, *larger))

    def bounds(self) -> list[int]:
        """The values."""
        return list(self.values)


def _agreed(entry: Any, top: list[dict[str, Any]], name: str, edge: Any) -> str | None:
    """The side ``edge(value)`` gives for the best value when the runners-up agree, each in that half; else None."""
    side = edge(top[0].get(name))
    positions = [entry.position(params.get(name)) for params in top[1:]]
    agree = all(p <= 0.5 if side == "low" else p >= 0.5 for p in positions)  # NaN agrees with nothing
    return side if side is not None and agree else None


def extend_space(space: dict[str, Any], top: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Move every dimension whose best values lie at an extendable edge past that edge.

    A dimension is at an edge when the best configuration's value lies
    within :data:`EDGE` of it and the runners-up agree, each lying in the
    half of the dimension on that side: a parameter that does not matter
    has its best value at an edge by chance only, and its runners-up
    spread over both halves.

    Parameters
    ----------
    space : dict
        Name to a space entry.
    top : list of dict
        The parameters of the best configurations, best first.

    Returns
    -------
    space : dict
        The next space (entries not at an edge unchanged).
    moved : dict
        Name to the edge moved past.
    """
    moved = _edges(space, top, "edge")
    return {name: space[name].extended(moved[name]) if name in moved else space[name] for name in space}, moved


def limited_edges(space: dict[str, Any], top: list[dict[str, Any]]) -> dict[str, str]:
    """The dimensions :func:`extend_space` would move past an edge that sits at its limit instead, and that edge.

    Parameters
    ----------
    space, top
        As for :func:`extend_space`.

    Returns
    -------
    dict
        Name to ``"low"`` or ``"high"``.
    """
    return _edges(space, top, "at_limit")


def _edges(space: dict[str, Any], top: list[dict[str, Any]], test: str) -> dict[str, str]:
    """Name to the side the best configurations agree on, by each entry's method ``test`` (``edge``, ``at_limit``)."""
    sides = {}
    for name, entry in space.items():
        if isinstance(entry, (LogRange, Choices)) and top:
            side = _agreed(entry, top, name, getattr(entry, test))
            if side is not None:
                sides[name] = side
    return sides


def _moves(searched: list[Any], moved: list[str]) -> tuple[list[str], list[str]]:
    """The moves (``moved``, in order) that went past the values searched before, and those that came back.

    A range moved down and then up again moves its upper edge, but only
    back over values it had already covered: that is not a move past an
    edge of the search.
    """
    changes = [after for before, after in zip(searched, searched[1:]) if after != before]
    low, high = min(searched[0].bounds()), max(searched[0].bounds())
    beyond, back = [], []
    for after, side in zip(changes, moved):
        lo, hi = min(after.bounds()), max(after.bounds())
        (beyond if (lo < low if side == "low" else hi > high) else back).append(side)
        low, high = min(low, lo), max(high, hi)
    return beyond, back


def describe(initial: Any, searched: list[Any], moved: list[str], limited: str | None = None) -> dict[str, Any]:
    """What one dimension of the search covered, for :class:`cmf.model_selection.TuneResult`.

    Parameters
    ----------
    initial : space entry
        The entry the search started from.
    searched : list of space entries
        Every entry a stage drew from, in order.
    moved : list of str
        The edges moved past, in order.
    limited : str, optional
        The edge the best values sat at when the search ended, which it
        could not move past for its limit (:func:`limited_edges`).

    Returns
    -------
    dict
        ``kind`` ("log-uniform", "choice", "list" or "other"); ``initial``,
        ``final`` and ``searched`` (the union covered) bounds or values
        where the entry has them; ``extended`` (every move of the range:
        the edges moved, in order); for "log-uniform" and "choice" also
        ``beyond`` (the moves that went past the values searched before),
        ``back`` (those that only returned over them) and ``at_limit``
        (``{"side": ..., "bound": ...}`` for ``limited``, else None).
    """
    if isinstance(initial, (list, tuple)):
        return {"kind": "list", "initial": list(initial), "final": list(initial), "searched": list(initial),
                "extended": []}
    if not isinstance(initial, (LogRange, Choices)):
        return {"kind": "other", "extended": []}
    final = searched[-1]
    if isinstance(initial, LogRange):
        kind, covered = "log-uniform", [min(s.low for s in searched), max(s.high for s in searched)]
    else:
        kind, covered = "choice", sorted({v for s in searched for v in s.values})
    beyond, back = _moves(searched, moved)
    at_limit = None if limited is None else {"side": limited, "bound": final.bounds()[0 if limited == "low" else -1]}
    return {"kind": kind, "initial": initial.bounds(), "final": final.bounds(), "searched": covered,
            "extended": moved, "beyond": beyond, "back": back, "at_limit": at_limit}


def space_lines(report: dict[str, dict[str, Any]]) -> list[str]:
    """One line of text per dimension of a searched space that moved or met its limit: what it covered and how.

    Parameters
    ----------
    report : dict
        :attr:`cmf.model_selection.TuneResult.space`.

    Returns
    -------
    list of str
        Empty when no dimension moved or met its limit.
    """
    lines = []
    for name, entry in report.items():
        if entry["extended"] and entry["kind"] == "cap":
            lines.append(f"raised the epoch cap from {entry['initial']} to {entry['final']}")
            continue
        limit = entry.get("at_limit")
        if entry["extended"]:
            beyond = entry.get("beyond", entry["extended"])
            moves = ", ".join(f"{beyond.count(side)} x {side}" for side in SIDES if side in beyond)
            back = entry.get("back", [])
            returns = "".join(f", then back {'up' if side == 'high' else 'down'} {back.count(side)} x over values "
                              "already searched" for side in SIDES if side in back)
            lines.append(f"searched {name} {_shown(entry['kind'], entry['searched'])} (from "
                         f"{_shown(entry['kind'], entry['initial'])}, moved past an edge {moves}{returns})")
        if limit:
            lines.append(f"{name}: the best values sit at the {limit['side']} edge "
                         f"{_shown(entry['kind'], [limit['bound']])}, a limit the search does not move past")
    return lines


def _shown(kind: str, values: Any) -> str:
    """Values as the command line takes them: ``X,Y,...``, ``LOW:HIGH`` or one number."""
    if kind == "choice":
        return ",".join(map(str, values))
    return ":".join(f"{v:.4g}" for v in values)
