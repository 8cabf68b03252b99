"""Where ``cmf evaluate``'s folds come from: its options, and the folds they make.

Shuffled folds of the rating file (``--folds N``, the default), one split by
time (``--time-split FRACTION``: the latest ratings are tested), each user's
latest ratings (``--leave-last K``), or training and test files given in
advance (``--folds-files u1.base:u1.test,...``, without a rating file).
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from cmf._cli_options import count, fraction
from cmf._folds import PredefinedFolds, align_pair, parse_fold_files
from cmf._split import KFold, leave_last_out, temporal_split

__all__ = ["add_fold_options", "fold_source"]

# Shuffled folds when no option says where the folds come from.
DEFAULT_FOLDS = 5


def fold_pairs(text: str) -> list[tuple[str, str]]:
    """An argparse type: ``TRAIN:TEST,TRAIN:TEST,...`` as pairs of file names."""
    try:
        return parse_fold_files(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_fold_options(p: argparse.ArgumentParser) -> None:
    """The options that say where ``cmf evaluate``'s folds come from (one at most).

    The rating file, added before by ``add_data_options``, becomes optional:
    ``--folds-files`` names the files instead.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The evaluate command's parser.
    """
    ratings = next(action for action in p._actions if action.dest == "ratings")
    ratings.nargs, ratings.default = "?", None
    ratings.help += " (none with --folds-files)"
    g = p.add_argument_group("where the folds come from (one of)").add_mutually_exclusive_group()
    g.add_argument("--folds", type=count(2), metavar="N",
                   help=f"shuffled folds of RATINGS, seeded by --seed (default {DEFAULT_FOLDS})")
    g.add_argument("--time-split", type=fraction, metavar="FRACTION",
                   help="one fold: the latest FRACTION of RATINGS by timestamp is the test set (ratings given at "
                        "the cut-off's time all go to it)")
    g.add_argument("--leave-last", type=count(1), metavar="K",
                   help="one fold: each user's K latest ratings are the test set (users with K or fewer stay in "
                        "training)")
    g.add_argument("--folds-files", type=fold_pairs, action="append", metavar="TRAIN:TEST[,TRAIN:TEST...]",
                   help="folds given as files, read as RATINGS would be, such as u1.base:u1.test,u2.base:u2.test "
                        "(MovieLens 100K); a user or item only a test file names is predicted as the global "
                        "mean plus the known side's bias (with --loss kl, left out of the KL divergence and "
                        "counted)")


def fold_source(args: argparse.Namespace, load: Callable[[str], Any],
                warn: Callable[[str], None]) -> tuple[Any, Any]:
    """The ratings and the ``(train, test)`` folds the options ask for; sets ``args.folds`` to their number.

    Parameters
    ----------
    args : argparse.Namespace
        The evaluate command's options.
    load : callable
        Reads a rating file as the command reads RATINGS.
    warn : callable
        Prints a warning.

    Returns
    -------
    data : RatingDataset
        RATINGS, or with ``--folds-files`` the first training file (for
        the checks of the options against the ratings).
    folds : iterable of (RatingDataset, RatingDataset)
        Shuffled folds are made when iterated.

    Raises
    ------
    ValueError
        For both RATINGS and ``--folds-files``, or neither; for a split by
        time of ratings without timestamps.
    FileNotFoundError
        For a fold file that does not exist (before any is read).
    """
    if args.folds_files:
        if args.ratings is not None:
            raise ValueError(f"pass RATINGS or --folds-files, not both: the fold files hold the ratings "
                             f"(got RATINGS {args.ratings!r})")
        named = PredefinedFolds([pair for given in args.folds_files for pair in given])  # all exist
        folds = [align_pair(load(train), load(test)) for train, test in named.pairs]
        for number, ((train, test), (name, _)) in enumerate(zip(folds, named.pairs), 1):
            unknown = int(((test.rows >= train.shape[0]) | (test.cols >= train.shape[1])).sum())
            if unknown:
                fate = ("left out of the ranking" if getattr(args, "protocol", "held_out") == "catalogue"
                        else "predicted as the global mean plus the known side's bias")
                warn(f"fold {number}: {unknown} of {len(test)} test ratings name a user or item that {name} "
                     f"lacks; they are {fate}")
        args.folds = len(folds)
        return folds[0][0], folds
    if args.ratings is None:
        raise ValueError("cmf evaluate needs a rating file (RATINGS), or training and test files "
                         "(--folds-files TRAIN:TEST,...)")
    data = load(args.ratings)
    by_time = "--time-split" if args.time_split is not None else "--leave-last" if args.leave_last is not None else None
    if by_time and data.timestamps is None:
        raise ValueError(f"{by_time} needs timestamps and {args.ratings} has none read: name its timestamp column "
                         "with --columns U,I,R,T (such as 0,1,2,3)")
    if args.time_split is not None:
        args.folds = 1
        return data, [temporal_split(data, args.time_split)]
    if args.leave_last is not None:
        args.folds = 1
        return data, [leave_last_out(data, args.leave_last)]
    args.folds = args.folds or DEFAULT_FOLDS
    return data, KFold(args.folds, random_state=args.seed).split(data)
