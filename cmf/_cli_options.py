"""The options of the ``cmf`` subcommands: their checks and their help, from the code's defaults.

Every value is checked when the command line is parsed, so that a bad one
is reported by argparse with the option the user typed (``argument --seed:
must be an integer >= 0, got -1``) before any file is read; the checks that need the data (a ``--validation``
fraction that holds out nothing, a ``--threshold`` above every rating) run
once it is read, and name the option too. The defaults
shown in the help are read from :class:`cmf.MatrixFactorization`'s
signature and from :mod:`cmf._tune`'s constants, so they cannot drift from
what the code does.

In ``cmf tune`` a model option that is given holds that parameter fixed in
the search; a list (``--factors 32,64``) or, for the real-valued ones, a
range (``--learning-rate 0.002:0.02``, drawn log-uniformly) narrows the
search to it instead. Options that are not given are searched over the
default space, or kept at the model's default when the search does not
cover them.

This module is long because every option of every subcommand is declared
here beside the types that check it, so that help, checks and defaults are
read side by side and cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, Callable

import numpy as np

from cmf import _tune
from cmf._checks import integer, real
from cmf._data_policy import DUPLICATES
from cmf.io import FORMATS
from cmf.model import MatrixFactorization

__all__ = [
    "DEFAULTS",
    "PATIENCE",
    "SearchValue",
    "add_data_options",
    "add_model_options",
    "add_output_options",
    "check_holdout",
    "check_rating_scale",
    "check_threshold",
    "count",
    "data_params",
    "finite_real",
    "fraction",
    "jobs",
    "model_params",
    "nonnegative_real",
    "positive_real",
    "search_space",
]

# The estimator's defaults, read from its signature.
DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(MatrixFactorization.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}
# Early-stopping patience of `cmf train --validation`.
PATIENCE = _tune.PATIENCE


# ----------------------------------------------------------------------
# Types: text -> checked value, or an ArgumentTypeError argparse reports
# with the option's name
# ----------------------------------------------------------------------
def _checked(parse: Callable[[str], Any], check: Callable[[Any], Any], text: str) -> Any:
    try:
        value = parse(text)
    except ValueError:
        kind = "an integer" if parse is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
    try:
        return check(value)
    except (TypeError, ValueError) as exc:
        # The checks name a parameter ("value must be >= 1, got 0"): keep
        # the rule, drop the name; argparse puts the option in front.
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value allowed.

    Returns
    -------
    callable
    """
    def parse(text: str) -> int:
        return _checked(int, lambda v: integer(v, "value", minimum), text)

    return parse


def positive_real(text: str) -> float:
    """An argparse type: a finite number above 0."""
    return _checked(float, lambda v: real(v, "value", 0.0, strict=True), text)


def learning_rate(text: str) -> float | str:
    """An argparse type: ``auto`` (the bold driver's adaptive step) or a finite number above 0 (a constant step)."""
    if text == "auto":
        return "auto"
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number, got {text!r}") from None
    return positive_real(text)


def nonnegative_real(text: str) -> float:
    """An argparse type: a finite number of at least 0."""
    return _checked(float, lambda v: real(v, "value", 0.0), text)


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    def check(value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError(f"must be a fraction between 0 and 1 (both excluded), got {text}")
        return value

    return _checked(float, check, text)


def column_list(text: str) -> tuple[int | str, ...]:
    """An argparse type: 3 or 4 comma-separated column positions (from 0) or header names."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (3, 4) or not all(parts):
        raise argparse.ArgumentTypeError(
            f"must name the user, item and rating columns (and optionally the timestamp), comma-separated, "
            f"such as 0,1,2 or user,item,rating; got {text!r}")
    return tuple(int(part) if part.isdigit() else part for part in parts)


def jobs(text: str) -> int:
    """An argparse type: a positive number of parallel jobs, or -1 for one per core."""
    def check(value: int) -> int:
        if value == -1 or value >= 1:
            return value
        raise ValueError(f"must be a positive integer or -1 (one per core), got {value}")

    return _checked(int, check, text)


def finite_real(text: str) -> float:
    """An argparse type: any finite number."""
    return _checked(float, lambda v: real(v, "value"), text)


# ----------------------------------------------------------------------
# The search values of `cmf tune`: one value, a list, or LOW:HIGH
# ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SearchValue:
    """What a model option of ``cmf tune`` asks of the search."""

    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    def entry(self) -> Any:
        """The :func:`cmf.model_selection.tune` space entry: a list, or a log-uniform draw."""
        if self.low is not None and self.high is not None:
            return _tune.log_uniform(self.low, self.high)
        return list(self.values)


def _search_value(one: Callable[[str], Any], ranges: bool) -> Callable[[str], SearchValue]:
    def parse(text: str) -> SearchValue:
        if ranges and ":" in text:
            low, _, high = text.partition(":")
            lo, hi = one(low), one(high)
            if isinstance(lo, str) or isinstance(hi, str) or not 0 < lo <= hi:
                raise argparse.ArgumentTypeError(f"a range LOW:HIGH, drawn log-uniformly, needs 0 < LOW <= HIGH, "
                                                 f"got {text}")
            return SearchValue(low=lo, high=hi)
        return SearchValue(values=tuple(one(part) for part in text.split(",")))

    return parse


def _only_one(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` refusing the list and range forms, which only ``cmf tune`` searches."""
    def one(text: str) -> Any:
        if "," in text or ":" in text:
            raise argparse.ArgumentTypeError(f"a list or range of values ({text}) is for 'cmf tune' only")
        return parse(text)

    return one


# ----------------------------------------------------------------------
# Option groups
# ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _ModelOption:
    flag: str
    name: str  # the estimator's parameter
    parse: Callable[[str], Any]
    what: str
    searched: str | None  # how tune() searches it by default; None: it does not
    real: bool = True  # a range LOW:HIGH makes sense

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


_MODEL_OPTIONS = (
    _ModelOption("--factors", "n_factors", count(1), "number of latent factors", "searched among "
                 + ", ".join(map(str, _tune.FACTOR_CHOICES)) + f", up to {_tune.FACTOR_LIMIT} where the best is the "
                 "largest", real=False),
    _ModelOption("--learning-rate", "learning_rate", learning_rate,
                 "SGD step size: 'auto' adapts it to the loss (bold driver), a number keeps it constant",
                 "searched log-uniformly in {}:{}, moved past an edge where the best sits"
                 .format(*_tune.LEARNING_RATE_RANGE)),
    _ModelOption("--regularization", "regularization", nonnegative_real, "L2 penalty on the factors",
                 "searched log-uniformly in {}:{}, moved likewise".format(*_tune.REGULARIZATION_RANGE)),
    _ModelOption("--bias-regularization", "bias_regularization", nonnegative_real, "L2 penalty on the biases",
                 None),
)


class _Noted(argparse.Action):
    """Store the value and note the option in ``args.given``, so that another estimator's defaults can fill the rest."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The rating file and how to read it.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument("ratings", metavar="RATINGS",
                   help="rating file (u.data, ratings.dat, ratings.csv, CSV/TSV, LIBMF text)")
    g = p.add_argument_group("reading the ratings")
    g.add_argument("--format", choices=FORMATS, help="file format (default: guessed from the name and first line)")
    g.add_argument("--sep", help="field separator, such as ';' or '|' (default: that of the format: tab, comma, "
                                 "'::' or white space)")
    g.add_argument("--columns", type=column_list, metavar="U,I,R[,T]",
                   help="the user, item and rating columns (and the timestamp's), as positions from 0 or header "
                        "names, such as 0,1,2 to read no timestamps (default: those of the format)")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the first line names the columns (default: detected, a first line whose "
                        "rating is not a number, unless its user and item are whole numbers)")
    g.add_argument("--duplicates", choices=[d for d in DUPLICATES if d is not None],
                   help="a (user, item) pair rated more than once: keep every rating (the default, with a warning "
                        "giving their count; 'keep' silences it), keep the last, their mean, or stop with an error")
    g.add_argument("--rating-scale", type=finite_real, nargs=2, metavar=("LOW", "HIGH"),
                   help="the ratings' scale: a rating outside it is an error, and predictions and recommendation "
                        "scores are clipped to it (default: the range of the training ratings)")


def add_model_options(p: argparse.ArgumentParser, *, search: bool = False) -> None:
    """The model's parameters; in ``cmf tune`` (``search=True``) each given one narrows the search.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    search : bool, default False
        Accept a value, a list or a range, with ``None`` when not given.
    """
    g = p.add_argument_group("model options")
    for o in _MODEL_OPTIONS:
        if search:
            forms = "X,Y,... or LOW:HIGH" if o.real else "X,Y,..."
            default = o.searched or f"{DEFAULTS[o.name]}, not searched"
            g.add_argument(o.flag, dest=o.dest, type=_search_value(o.parse, o.real), metavar="X",
                           help=f"{o.what}: X holds it fixed; {forms} narrows the search, which then stays "
                                f"within it (default: {default})")
        else:
            g.add_argument(o.flag, dest=o.dest, type=_only_one(o.parse), default=DEFAULTS[o.name], action=_Noted,
                           metavar="X", help=f"{o.what} (default {DEFAULTS[o.name]})")
    if search:
        g.add_argument("--epochs", type=count(1), metavar="N",
                       help=f"cap on any configuration's epochs (default: {_tune.MAX_EPOCHS}, doubled while the best "
                            f"configuration reaches it still improving); early stopping with patience "
                            f"{_tune.PATIENCE} usually ends them sooner")
    else:
        g.add_argument("--epochs", type=count(1), default=DEFAULTS["max_epochs"], metavar="N", action=_Noted,
                       help=f"maximum number of epochs (default {DEFAULTS['max_epochs']})")
    g.add_argument("--threads", type=count(1), metavar="N", help="threads per fit, at most 4 share an epoch "
                   "(default: all cores for one fit, one per fit when fits run in parallel)")
    g.add_argument("--seed", type=count(0), default=0, metavar="N", help="random seed (default 0)")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--json``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors (and --json output)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


# ----------------------------------------------------------------------
# Checks of options against the data, once it is read
# ----------------------------------------------------------------------
def check_holdout(fraction: float, n: int) -> None:
    """Refuse a ``--validation`` fraction that holds out no rating of ``n`` (or all of them).

    Raises
    ------
    ValueError
        Naming ``--validation``.
    """
    n_held = int(round(fraction * n))  # the rounding of cmf.model_selection.train_test_split
    if not 1 <= n_held <= n - 1:
        raise ValueError(f"--validation {fraction} holds out {n_held} of the {n} ratings; need at least one "
                         "held out and one to train on: pass a larger fraction or a larger rating file")


def check_threshold(threshold: float, data: Any) -> None:
    """Refuse a ``--threshold`` above every rating: no item would be relevant and every ranking metric NaN.

    Raises
    ------
    ValueError
        Naming ``--threshold`` and the ratings' range.
    """
    low, high = float(np.min(data.values)), float(np.max(data.values))
    if threshold > high:
        raise ValueError(f"--threshold {threshold:g} is above every rating (the ratings run from {low:g} to "
                         f"{high:g}), so no item counts as relevant: pass a threshold within that scale")


def search_space(args: argparse.Namespace, fixed: dict[str, Any], *, base: dict[str, Any] | None = None,
                 estimator: Any = None) -> dict[str, Any]:
    """The space :func:`cmf.model_selection.tune` searches for ``cmf tune``'s options.

    The default space (or ``base``), with every model option the user gave
    replaced by a one-value list (held fixed), a list or a log-uniform range.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``cmf tune``.
    fixed : dict
        Other parameters to hold fixed, such as ``n_threads``: in the
        space, not the template, since parallel fits would otherwise each
        get one thread (see :func:`cmf._search.clone`).
    base : dict, optional
        The space of another model (default: :func:`cmf._tune.default_space`).
    estimator : estimator, optional
        The template searched: a model option that is none of its
        parameters is refused.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        Naming an option the estimator does not take.
    """
    space = _tune.default_space() if base is None else dict(base)
    for o in _MODEL_OPTIONS:
        given = getattr(args, o.dest)
        if given is not None and estimator is not None and o.name not in estimator.get_params():
            raise ValueError(f"{o.flag} is not a parameter of {type(estimator).__name__}, which has no "
                             f"{o.what}: leave it out")
        if given is not None:
            space[o.name] = given.entry()
    space.update({name: [value] for name, value in fixed.items()})
    return space


def check_rating_scale(args: argparse.Namespace) -> None:
    """Refuse a ``--rating-scale LOW HIGH`` whose LOW is not below HIGH.

    Raises
    ------
    ValueError
        Naming ``--rating-scale``.
    """
    if args.rating_scale is not None and not args.rating_scale[0] < args.rating_scale[1]:
        low, high = args.rating_scale
        raise ValueError(f"--rating-scale {low:g} {high:g}: LOW must be below HIGH")


def data_params(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's parameters that say how to take the ratings: ``--duplicates``, ``--rating-scale``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of a command that reads ratings.

    Returns
    -------
    dict
    """
    scale = None if args.rating_scale is None else tuple(args.rating_scale)
    return dict(duplicates=args.duplicates, rating_scale=scale)


def model_params(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's parameters for ``cmf train`` and ``cmf evaluate``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    dict
    """
    return dict(
        n_factors=args.factors, max_epochs=args.epochs, learning_rate=args.learning_rate,
        regularization=args.regularization, bias_regularization=args.bias_regularization,
        random_state=args.seed, **data_params(args),
    )
