"""Folds given in advance: pairs of training and test files, such as MovieLens's ``u1.base``/``u1.test``.

Each pair is read with the same reader options, and the test set is
expressed in the training set's label maps: a user or item of both files has
the same index in both, and one that only the test file names gets an index
past the training set's, so a model fitted on the training file does not
know it and :func:`cmf.model_selection.evaluate` predicts it as it predicts
every unknown id (the global mean plus the known side's bias).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator, Sequence

import numpy as np

from cmf._dataset import RatingDataset, as_dataset
from cmf._labels import LabelMap
from cmf.io import guess_format, load_ratings

__all__ = ["PredefinedFolds", "align_pair", "parse_fold_files"]

# A drive's colon: after a lone letter that starts a name, before a slash or backslash ("C:\\ml\\u1.base").
_DRIVE = re.compile(r"(?:^|(?<=:))[A-Za-z]:(?=[\\/])")


def _names(pair: str) -> list[str]:
    """The names a ``TRAIN:TEST`` text holds, split at every colon but a drive's."""
    drives = {m.end() - 1 for m in _DRIVE.finditer(pair)}
    cuts = [k for k, char in enumerate(pair) if char == ":" and k not in drives]
    return [pair[i + 1: j] for i, j in zip([-1, *cuts], [*cuts, len(pair)])]


def parse_fold_files(text: str) -> list[tuple[str, str]]:
    """Pairs of file names from ``"TRAIN:TEST,TRAIN:TEST,..."``.

    Parameters
    ----------
    text : str
        Comma-separated pairs, each ``train_path:test_path``.

    Returns
    -------
    list of (str, str)

    Raises
    ------
    ValueError
        For a pair without exactly one ``:`` between two names.
    """
    pairs = []
    for part in text.split(","):
        names = _names(part.strip())
        if len(names) != 2 or not all(name.strip() for name in names):
            raise ValueError(
                f"fold files must be given as TRAIN:TEST pairs separated by commas, such as "
                f"u1.base:u1.test,u2.base:u2.test; got {part.strip()!r} in {text!r}"
            )
        pairs.append((names[0].strip(), names[1].strip()))
    return pairs


def _common_kind(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of two files as one file would have them: strings for both if either is strings."""
    if a.dtype.kind == b.dtype.kind:
        return a, b
    return a.astype(str), b.astype(str)


def _extend(base: LabelMap, other: LabelMap) -> tuple[LabelMap, LabelMap, np.ndarray]:
    """The base map (its labels as strings if need be), it extended by ``other``'s new labels, and their codes.

    Returns ``(base, extended, codes)``: ``codes[j]`` is the index in
    ``extended`` of ``other``'s label ``j``; the base keeps its indices.
    """
    labels, theirs = _common_kind(base.labels, other.labels)
    if labels is not base.labels:
        base = LabelMap(labels)
    known = base.lookup(theirs)
    new = known < 0
    extended = LabelMap(np.concatenate([labels, theirs[new]])) if new.any() else base
    codes = np.where(new, len(base) + np.cumsum(new) - 1, known)
    return base, extended, codes


def align_pair(train: Any, test: Any) -> tuple[RatingDataset, RatingDataset]:
    """Express a separately read test set in the training set's label maps.

    Parameters
    ----------
    train, test : RatingDataset or DataFrame
        Both labelled (read from files or DataFrames), or both indices of
        the same users and items.

    Returns
    -------
    train, test : RatingDataset
        ``train`` as given (its labels as strings when the test set's are
        strings and its own integers, as one file holding both would read);
        ``test`` with the same index for every label the two share, and
        indices past ``train.shape`` for labels only it has.

    Raises
    ------
    ValueError
        When one is labelled and the other is not.
    """
    train, test = as_dataset(train), as_dataset(test)
    if train.labelled != test.labelled:
        raise ValueError("the training and test sets must both be labelled (read from files) or both be indices")
    if not train.labelled:
        return train, test
    users, test_users, rows = _extend(train.user_labels, test.user_labels)
    items, test_items, cols = _extend(train.item_labels, test.item_labels)
    if users is not train.user_labels or items is not train.item_labels:
        train = RatingDataset(train.rows, train.cols, train.values, train.shape, users, items, train.source,
                              train.timestamps)
    test = RatingDataset(rows[test.rows].astype(np.int32), cols[test.cols].astype(np.int32), test.values,
                         (len(test_users), len(test_items)), test_users, test_items, test.source, test.timestamps)
    return train, test


class PredefinedFolds:
    """Folds given as pairs of training and test files (or data sets).

    Usable as ``cv`` of :func:`cmf.model_selection.cross_validate` (whose
    ``data`` may then be None) and of the searches, and by ``cmf evaluate
    --folds-files u1.base:u1.test,...``.

    Parameters
    ----------
    pairs : sequence of (train, test) or str
        Each pair two file names (read with :func:`cmf.io.load_ratings` and
        the options below) or two data sets (RatingDataset or DataFrame); or
        a string ``"u1.base:u1.test,u2.base:u2.test"``.
    format, sep, columns, header, comment, rating_scale
        Reader options of :func:`cmf.io.load_ratings`, the same for every
        file; a format not given is guessed from each pair's training file
        and used for its test file too.

    Notes
    -----
    A pair's test set is expressed in its training set's label maps (see
    :func:`align_pair`): a model fitted on the training file is the model
    that file alone gives, and a user or item only the test file names is
    an unknown id to it, predicted as the global mean plus the known side's
    bias by :func:`~cmf.model_selection.evaluate`. Files are checked to
    exist when the folds are made and read when they are split.

    Examples
    --------
    >>> folds = PredefinedFolds([(f"ml-100k/u{i}.base", f"ml-100k/u{i}.test")
    ...                          for i in range(1, 6)])                       # doctest: +SKIP
    >>> cross_validate(MatrixFactorization(), None, cv=folds)                 # doctest: +SKIP
    """

    def __init__(self, pairs: Sequence[tuple[Any, Any]] | str, *, format: str | None = None,
                 sep: str | None = None, columns: Sequence[Any] | None = None, header: bool | None = None,
                 comment: str | None = "#", rating_scale: tuple[float, float] | None = None) -> None:
        if isinstance(pairs, str):
            pairs = parse_fold_files(pairs)
        self.pairs = [self._checked(pair) for pair in pairs]
        if not self.pairs:
            raise ValueError("no folds given: pass at least one (train, test) pair")
        self.options = {"format": format, "sep": sep, "columns": columns, "header": header, "comment": comment,
                        "rating_scale": rating_scale}

    @staticmethod
    def _checked(pair: Any) -> tuple[Any, Any]:
        if isinstance(pair, (str, bytes, RatingDataset)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"each fold must be a (train, test) pair of files or data sets, got {pair!r}")
        for part in pair:
            if isinstance(part, (str, os.PathLike)) and not os.path.isfile(part):
                what = "a directory, not a rating file" if os.path.isdir(part) else "missing"
                raise FileNotFoundError(f"fold file {os.fspath(part)!r} (of the pair {pair!r}) is {what}")
        return pair[0], pair[1]

    def __repr__(self) -> str:
        return f"PredefinedFolds({len(self.pairs)} folds)"

    def __len__(self) -> int:
        return len(self.pairs)

    def get_n_splits(self) -> int:
        """Number of folds.

        Returns
        -------
        int
        """
        return len(self.pairs)

    def split(self, data: Any = None) -> Iterator[tuple[RatingDataset, RatingDataset]]:
        """Yield ``(train, test)`` data sets, one per pair, read when reached.

        Parameters
        ----------
        data : ignored
            The folds bring their own ratings; ``data`` is accepted so that
            a search can refit its best model on all of it.

        Yields
        ------
        train, test : RatingDataset
            The test set in the training set's label maps.
        """
        for train, test in self.pairs:
            options = dict(self.options)
            if options["format"] is None and isinstance(train, (str, os.PathLike)):
                options["format"] = guess_format(train)
            yield align_pair(self._read(train, options), self._read(test, options))

    @staticmethod
    def _read(part: Any, options: dict[str, Any]) -> RatingDataset:
        if isinstance(part, (str, os.PathLike)):
            return load_ratings(part, **options)
        return as_dataset(part)
