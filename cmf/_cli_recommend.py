"""The subcommands that answer from a saved model's rankings: ``cmf recommend`` and ``cmf similar``.

``cmf recommend MODEL --user U`` prints one user's top-N; ``--all`` streams
every user's to a TSV file (``user, rank, item, score``), a block of users
at a time, so memory holds one block's recommendations, never all of them.
Both take the controls of :func:`cmf.recommend.recommend`: a candidate set
and an exclusion list read from files of item ids (one a line), a minimum
support and the shrinkage of rarely rated items.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from typing import Any, Callable, Iterator

import numpy as np

from cmf import _cli_options as options
from cmf._atomic import atomic_output
from cmf._bpr_files import is_bpr_file
from cmf._cli_bpr import check_recommend_options, rating_model
from cmf._cli_commands import _emit_json
from cmf._ranking import SCORE_BLOCK
from cmf.bpr import BPR
from cmf.model import MatrixFactorization
from cmf.recommend import SHRINKAGE, similar_items, similar_users

__all__ = ["add_commands"]

#: The header line of ``cmf recommend --all``.
HEADER = "user\trank\titem\tscore\n"


def _label(text: str, labels: np.ndarray | None, what: str) -> Any:
    """A user or item id typed on the command line, as the model's labels are (int unless strings)."""
    if labels is not None and labels.dtype.kind == "U":
        return text
    try:
        return int(text)
    except ValueError:
        raise KeyError(f"unknown {what} {text!r}: this model's {what}s are integers") from None


def read_items(path: str, model: Any, option: str) -> np.ndarray:
    """The item ids of a file, one a line (blank lines and lines starting with '#' skipped).

    Raises
    ------
    ValueError
        For a file that does not exist, an id that is not an integer when
        the model's items are, an item the model does not know, or a file
        that lists no item.
    """
    labels, n_items = model.item_labels_, model.item_factors_.shape[0]
    try:
        with open(path, encoding="utf-8") as f:
            lines = [(n, line.strip()) for n, line in enumerate(f, 1)]
    except FileNotFoundError:
        # "--candidates 242,302" is a natural guess; the option takes a file.
        raise ValueError(f"{option} {path}: no such file; {option} takes a file of item ids, one a line "
                         f"(such as: printf '242\\n302\\n' > items.txt; {option} items.txt)") from None
    numbers, items = [], []
    for n, text in lines:
        if not text or text.startswith("#"):
            continue
        try:
            items.append(_label(text, labels, "item"))
        except KeyError as exc:
            raise ValueError(f"{option} {path}, line {n}: {exc.args[0]}") from None
        numbers.append(n)
    if not items:
        raise ValueError(f"{option} {path} lists no item: give one item id a line")
    arr = np.asarray(items)
    known = np.isin(arr, labels) if labels is not None else (arr >= 0) & (arr < n_items)
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        raise ValueError(f"{option} {path}, line {numbers[first]}: unknown item {items[first]!r} "
                         f"({int((~known).sum()):,} of {len(arr):,} are unknown): the model was not trained on it, "
                         "leave it out")
    return arr


def check_output(path: str) -> None:
    """Raise unless a file can be written at ``path`` (its directory exists, it is not a directory)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"--out {path!r} is a directory: name a file")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"--out {path!r}: the directory {directory!r} does not exist")


def _controls(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The keyword arguments of ``recommend`` that the options give."""
    return {
        "exclude_seen": not args.include_seen,
        "candidates": None if args.candidates is None else read_items(args.candidates, model, "--candidates"),
        "exclude": None if args.exclude is None else read_items(args.exclude, model, "--exclude"),
        "min_support": args.min_support,
        "shrinkage": args.shrinkage,
        "clip": not args.no_clip,
    }


def recommendation_lines(model: Any, n: int, controls: dict[str, Any], block: int | None = None) -> Iterator[str]:
    """Every user's recommendations as TSV lines, a block of users at a time.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    n : int
        Items per user.
    controls : dict
        Keyword arguments of :meth:`~cmf.MatrixFactorization.recommend`.
    block : int, optional
        Users per block (default: 64 of ``recommend``'s own score blocks,
        so that its per-call work, such as the shrunk item factors, is done
        once per 64 blocks; only the top-``n`` lists are held).

    Yields
    ------
    str
        The text of one block: ``user<TAB>rank<TAB>item<TAB>score`` lines.
    """
    n_users, n_items = model.user_factors_.shape[0], model.item_factors_.shape[0]
    users = model.user_labels_ if model.user_labels_ is not None else np.arange(n_users)
    step = block or 64 * max(1, SCORE_BLOCK // max(n_items, 1))
    for start in range(0, n_users, step):
        who = users[start:start + step]
        items, scores = model.recommend(who, n=n, **controls)
        text = io.StringIO()
        for user, row, vals in zip(who.tolist(), items.tolist(), scores.tolist()):
            for rank, (item, score) in enumerate(zip(row, vals), 1):
                if score == score:  # NaN pads a user with fewer items left
                    text.write(f"{user}\t{rank}\t{item}\t{score:.4f}\n")
        yield text.getvalue()


def _write_all(model: Any, args: argparse.Namespace, controls: dict[str, Any], write: Callable[[str], Any]) -> int:
    """Write the header and every user's lines; return the number of recommendations."""
    write(HEADER)
    lines = 0
    for chunk in recommendation_lines(model, args.n, controls):
        write(chunk)
        lines += chunk.count("\n")
    return lines


# recommend's keywords, as its messages name them, and the options that set them.
_OPTIONS = {"exclude_seen=False": "--include-seen", "shrinkage=0": "--shrinkage 0", "min_support=0": "--min-support 0",
            "exclude_seen": "leaving out seen items", "shrinkage": "--shrinkage", "min_support": "--min-support"}
_KEYWORDS = re.compile(r"(?<![-\w])(" + "|".join(map(re.escape, _OPTIONS)) + r")\b")


def _cmd_recommend(args: argparse.Namespace) -> int:
    try:
        return _recommend(args)
    except ValueError as exc:  # the model's message, with its remedies named as options
        raise ValueError(_KEYWORDS.sub(lambda m: _OPTIONS[m.group()], str(exc))) from None


def _recommend(args: argparse.Namespace) -> int:
    if args.all and args.json:
        raise ValueError("--json prints one user's recommendations: use it with --user, or --all without it")
    if args.out is not None and not args.all:
        raise ValueError("--out writes every user's recommendations: use it with --all")
    if args.out == "-":  # the usual name of standard output, not a file called "-"
        args.out = None
    if args.out is not None:
        check_output(args.out)
    if is_bpr_file(args.model):  # a ranking model: its scores, no rating controls
        model: Any = BPR.load(args.model)
        controls = check_recommend_options(args, SHRINKAGE)
    else:
        model = MatrixFactorization.load(args.model)
        controls = _controls(args, model)
    if args.all:
        if args.out is None:
            _write_all(model, args, controls, sys.stdout.write)
            return 0
        # Written beside the destination and renamed over it when complete:
        # an error or Ctrl-C halfway leaves no truncated file behind.
        with atomic_output(args.out) as out:
            lines = _write_all(model, args, controls, lambda text: out.write(text.encode("utf-8")))
        print(f"cmf recommend: wrote {lines:,} recommendations for {model.user_factors_.shape[0]:,} users to "
              f"{args.out}", file=sys.stderr)
        return 0
    user = _label(args.user, model.user_labels_, "user")
    items, scores = model.recommend(user, n=args.n, **controls)
    if len(items) == 0:
        print("cmf recommend: note: no item is left to recommend (every candidate is seen, excluded or below "
              "--min-support)", file=sys.stderr)
    _show(args, {"user": user}, items, scores, ("items", "scores"))
    return 0


def _show(args: argparse.Namespace, head: dict[str, Any], found: np.ndarray, values: np.ndarray,
          names: tuple[str, str]) -> None:
    """Print a ranking as JSON (``head`` plus the two arrays under ``names``) or as 'rank<TAB>id<TAB>value' lines."""
    if args.json:
        _emit_json({**head, names[0]: found, names[1]: values})
        return
    print("".join(f"{rank}\t{who}\t{value:.4f}\n" for rank, (who, value) in enumerate(zip(found, values), 1)),
          end="")


def _cmd_similar(args: argparse.Namespace) -> int:
    model = rating_model(args)
    if args.item is not None:
        who = _label(args.item, model.item_labels_, "item")
        found, sims = similar_items(model, who, args.n, min_support=args.min_support)
    else:
        if args.min_support:
            raise ValueError("--min-support counts an item's raters: use it with --item")
        who = _label(args.user, model.user_labels_, "user")
        found, sims = similar_users(model, who, args.n)
    _show(args, {"item" if args.item is not None else "user": who}, found, sims, ("similar", "similarities"))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``recommend`` and ``similar``.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``cmf`` parser (``parser.add_subparsers()``).
    """
    p = sub.add_parser("recommend", help="top-N items for a user, or for every user into a file",
                       description="The top-N items for a user, one 'rank<TAB>item<TAB>score' line each; with "
                                   "--all, every user's as 'user<TAB>rank<TAB>item<TAB>score' lines under a header, "
                                   "written a block of users at a time. Items rated by few users are ranked with "
                                   "their bias and factors shrunk by n/(n + --shrinkage).")
    _model_argument(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", "-u", help="the user's id as in the rating file")
    who.add_argument("--all", action="store_true", help="every user the model knows (to --out, or stdout)")
    p.add_argument("-n", type=options.count(1), default=10, metavar="N", help="number of items (default 10)")
    p.add_argument("--out", "-o", metavar="FILE", help="with --all: write the TSV to this file (default, or -: stdout)")
    p.add_argument("--include-seen", action="store_true", help="also list items the user rated in training")
    p.add_argument("--candidates", metavar="FILE", help="rank only the items of this file (one id a line)")
    p.add_argument("--exclude", metavar="FILE", help="never list the items of this file (one id a line)")
    _min_support_option(p)
    p.add_argument("--shrinkage", type=options.nonnegative_real, default=SHRINKAGE, metavar="BETA",
                   help=f"rank an item rated by n users with its bias and factors times n/(n + BETA) (default "
                        f"{SHRINKAGE:g}; 0: by the predicted rating)")
    p.add_argument("--no-clip", action="store_true",
                   help="show raw scores, not clipped to the model's rating scale (the order is the same)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (with --user)")
    p.set_defaults(func=_cmd_recommend, quiet=False)

    p = sub.add_parser("similar", help="the items (or users) most similar to one",
                       description="The items whose factors are most similar (cosine) to an item's, or the users "
                                   "most similar to a user's, one 'rank<TAB>id<TAB>similarity' line each.")
    _model_argument(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--item", "-i", help="the item's id as in the rating file")
    who.add_argument("--user", "-u", help="the user's id as in the rating file")
    p.add_argument("-n", type=options.count(1), default=10, metavar="N", help="how many (default 10)")
    _min_support_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_similar, quiet=False)


def _model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model saved by 'cmf train --out' (.npz may be left out)")


def _min_support_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-support", type=options.count(0), default=0, metavar="N",
                   help="leave out items rated by fewer than N users in training (default 0)")
