"""The model files of :class:`cmf.BPR`: writing, checked reading, and telling them from other model files.

A ``.npz`` file of plain arrays, never pickles: ``meta`` (JSON: format,
parameters, shape, epochs), the factors and item biases, each user's
positives (CSR ``positives_indptr`` / ``positives_indices``, the items
:meth:`cmf.BPR.recommend` leaves out), ``history_<key>`` and, for a model
fitted on labelled data, ``user_labels`` and ``item_labels`` (int64 or
unicode; absent from files of unlabelled fits and of earlier releases, which
load as before). Every member is read with its header checked before its
data (:mod:`cmf._archive`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from cmf._archive import BadFile, open_archive, read_member
from cmf._atomic import atomic_output
from cmf._checks import integer
from cmf._labels import LabelMap
from cmf._persistence import model_file_name
from cmf._seen import SeenItems

__all__ = ["FORMAT", "FORMAT_VERSION", "is_bpr_file", "load", "save"]

FORMAT = "cmf.BPR"
FORMAT_VERSION = 1
_LABELS = ("user_labels", "item_labels")
_HISTORY = ("epoch", "correct", "skipped")


def save(model: Any, path: str | os.PathLike[str]) -> str:
    """Write a fitted :class:`cmf.BPR` to ``path`` (``.npz`` appended when missing), atomically.

    Returns
    -------
    str
        The file name written.
    """
    params = model.get_params()
    params["dtype"] = np.dtype(params["dtype"]).name
    if not isinstance(params["random_state"], (int, np.integer)):
        params["random_state"] = None
    params = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in params.items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": params, "shape_": list(model.shape_),
            "n_epochs_": model.n_epochs_, "best_epoch_": model.best_epoch_}
    maps = model._maps or ()
    labels = {name: label_map.labels for name, label_map in zip(_LABELS, maps)}
    final = model_file_name(path)
    with atomic_output(final) as out:
        np.savez(out, meta=np.array(json.dumps(meta)), user_factors_=model.user_factors_,
                 item_factors_=model.item_factors_, item_bias_=model.item_bias_,
                 positives_indptr=model._positives.indptr, positives_indices=model._positives.indices,
                 **labels, **{f"history_{k}": np.asarray(v, np.float64) for k, v in model.history_.items()})
    return final


def is_bpr_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (or ``path + ".npz"``) is a readable file that says it holds a :class:`cmf.BPR` model.

    False for anything else, a missing file included, so that the caller
    can hand it to another loader and its messages.
    """
    name = os.fsdecode(os.fspath(path))
    if not os.path.exists(name):
        name = model_file_name(name)
    try:
        with open_archive(name) as archive:
            meta = json.loads(str(read_member(archive, "meta", kind="U", shape=(), max_bytes=1 << 20)))
    except (OSError, BadFile, KeyError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def load(cls: type, path: str | os.PathLike[str]) -> Any:
    """Read a model written by :func:`save` as an instance of ``cls``.

    Raises
    ------
    ValueError
        If the file is missing, not a BPR model file of this format, or inconsistent.
    """
    name = model_file_name(path)
    if not os.path.exists(name):
        raise ValueError(f"{name!r} is not a readable BPR model file: it does not exist")
    try:
        with open_archive(name) as archive:
            return _read(cls, archive)
    except (BadFile, KeyError, TypeError) as exc:
        raise ValueError(f"{name!r} is not a readable BPR model file: {exc}") from None


def _read(cls: type, archive: Any) -> Any:
    meta = json.loads(str(read_member(archive, "meta", kind="U", shape=(), max_bytes=1 << 20)))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise BadFile(f"not a {FORMAT} file of format version {FORMAT_VERSION}")
    model = cls(**{k: meta["params"][k] for k in model_params(cls)})
    config = model._config()
    n_users, n_items = (integer(s, "shape_", 1) for s in meta["shape_"])
    k, kind = config.n_factors, "f"
    model.user_factors_ = read_member(archive, "user_factors_", kind=kind, shape=(n_users, k))
    model.item_factors_ = read_member(archive, "item_factors_", kind=kind, shape=(n_items, k))
    model.item_bias_ = read_member(archive, "item_bias_", kind=kind, shape=(n_items,))
    positives = SeenItems(read_member(archive, "positives_indptr", kind="i", shape=(n_users + 1,)).astype(np.int64),
                          read_member(archive, "positives_indices", kind="i", shape=None).astype(np.int32))
    try:
        positives.check((n_users, n_items))
    except ValueError as exc:
        raise BadFile(str(exc)) from None
    model._maps = _read_labels(archive, (n_users, n_items))
    stored = [key for key in (*_HISTORY, "val_ndcg") if f"history_{key}.npy" in archive.namelist()]
    model.history_ = {key: read_member(archive, f"history_{key}", kind="f").tolist()
                      for key in dict.fromkeys((*_HISTORY, *stored))}
    model.shape_, model.n_epochs_ = (n_users, n_items), integer(meta["n_epochs_"], "n_epochs_", 0)
    best = meta.get("best_epoch_")  # absent from files of earlier releases
    model.best_epoch_ = None if best is None else integer(best, "best_epoch_", 1)
    model._positives = positives
    return model


def _read_labels(archive: Any, shape: tuple[int, int]) -> tuple[LabelMap, LabelMap] | None:
    """The user and item label maps of a labelled fit, None for an unlabelled one; BadFile when inconsistent."""
    present = [name for name in _LABELS if f"{name}.npy" in archive.namelist()]
    if not present:
        return None
    if len(present) != 2:
        raise BadFile(f"it holds {present[0]} without {({*_LABELS} - {present[0]}).pop()}")
    maps = []
    for name, size in zip(_LABELS, shape):
        labels = read_member(archive, name, kind=None, shape=(size,))
        if labels.dtype.kind not in "iU":
            raise BadFile(f"array {name!r} has dtype {labels.dtype}, expected integers or strings")
        try:
            maps.append(LabelMap(labels))
        except (TypeError, ValueError) as exc:
            raise BadFile(f"{name}: {exc}") from None
    return maps[0], maps[1]


def model_params(cls: type) -> tuple[str, ...]:
    """The constructor parameters a file stores, in order."""
    return tuple(cls().get_params())
