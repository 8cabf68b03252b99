"""Saving and loading fitted models as NumPy ``.npz`` files, never pickles.

Layout (``FORMAT_VERSION`` 1): an uncompressed zip of ``.npy`` members.
``meta`` is a 0-d unicode array holding JSON (format version, constructor
parameters, global mean, shape, epochs, convergence, and the rating scale
predictions are clipped to, ``rating_scale_``: absent from older files,
which load without clipping); ``user_factors_``,
``item_factors_``, ``user_bias_`` and ``item_bias_`` are the parameters in the
model's dtype; ``history_<key>`` are float64 per-epoch records.

Saving writes a temporary file next to the destination and renames it over
the destination once complete, so a crash never leaves a truncated model
behind, and removes the temporary files earlier saves abandoned
(:mod:`cmf._atomic`). Loading reads each member's header before its data
and checks every shape, dtype and value against the metadata, so a
truncated, corrupted or crafted file is refused with a :class:`ValueError`
before anything large is allocated and nothing is ever unpickled; memory is
bounded by the file's real size, whatever sizes it claims
(:mod:`cmf._archive`).
"""

from __future__ import annotations

import errno
import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from cmf._archive import BadFile, open_archive, read_member
from cmf._atomic import atomic_output
from cmf._checks import is_integer
from cmf._fitted import Fitted
from cmf._input import INT32_MAX
from cmf._train.state import FactorState

__all__ = ["FORMAT_VERSION", "ModelFileNotFoundError", "check_output_path", "load_model", "model_file_name",
           "save_model"]

FORMAT_VERSION = 1
_ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
_HISTORY_KEYS = ("epoch", "train_loss", "train_rmse", "val_rmse", "seconds")
_META_MAX_BYTES = 1 << 20
# A model's meta nests three levels (meta, params, rating_scale); deeper
# structures would only reach code that recurses over them.
_META_MAX_DEPTH = 8


# ----------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------
def model_file_name(path: str | os.PathLike[str]) -> str:
    """The file a model saved to ``path`` is written to: ``.npz`` appended when missing.

    The same rule as NumPy's ``savez``, used by saving, loading and the
    command line alike, so that every message names the file on disk.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    return name if name.endswith(".npz") else name + ".npz"


def check_output_path(path: str | os.PathLike[str]) -> str:
    """Check, before any work, that a model can be written to ``path``; return the file name.

    Raises
    ------
    FileNotFoundError
        When the destination's directory does not exist.
    IsADirectoryError
        When the destination is a directory.
    PermissionError
        When the directory is not writable.
    """
    name = model_file_name(path)
    directory = os.path.dirname(os.path.abspath(name))
    if os.path.isdir(name):
        raise IsADirectoryError(f"cannot write the model to {name!r}: it is a directory")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write the model to {name!r}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write the model to {name!r}: the directory {directory!r} is not writable")
    return name


def save_model(params: dict[str, Any], fitted: Fitted, path: str | os.PathLike[str],
               estimator: str = "MatrixFactorization") -> str:
    """Write a model's parameters and fitted value to ``path`` (.npz), atomically.

    Parameters
    ----------
    params : dict
        The estimator's constructor parameters.
    fitted : Fitted
        Its fitted value (one consistent state, even if a fit runs meanwhile).
    path : str or path-like
        Destination; ``.npz`` is appended when missing.
    estimator : str, default "MatrixFactorization"
        The class name, stored so that :func:`load_model` returns that class
        (files without it are MatrixFactorization models).

    Returns
    -------
    str
        The path written.

    Notes
    -----
    The temporary files that earlier saves to the same destination
    abandoned (a killed process) are removed first; one a save in progress
    is writing is left alone (:func:`cmf._atomic.atomic_output`).
    """
    params = dict(params)
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a Generator object cannot be stored as data
    if "dtype" in params:  # BayesianMatrixFactorization has none: always float64
        params["dtype"] = np.dtype(params["dtype"]).name
    if params.get("rating_scale") is not None:  # a list of floats in JSON, whatever numbers were given
        params["rating_scale"] = [float(x) for x in params["rating_scale"]]
    meta = {
        "format_version": FORMAT_VERSION,
        "estimator": estimator,
        "params": {k: (int(v) if isinstance(v, np.integer) else v) for k, v in params.items()},
        "global_mean_": float(fitted.state.mu),
        "shape_": [int(s) for s in fitted.shape],
        "n_epochs_": int(fitted.n_epochs),
        "converged_": bool(fitted.converged),
        "best_epoch_": None if fitted.best_epoch is None else int(fitted.best_epoch),
        "rating_scale_": None if fitted.rating_scale is None else list(fitted.rating_scale),
    }
    state = fitted.state
    arrays = dict(zip(_ARRAYS, (state.P, state.Q, state.b, state.c)))
    history = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in fitted.history.items()}
    # The fit's other members (labels, seen items): plain arrays, never objects.
    extra = fitted.members()

    final = model_file_name(path)
    with atomic_output(final) as out:
        np.savez(out, meta=np.array(json.dumps(meta, allow_nan=False)), **arrays, **history, **extra)
    return final


# ----------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------
class ModelFileNotFoundError(FileNotFoundError, ValueError):
    """A model file that does not exist: a FileNotFoundError, and the ValueError ``load`` documents."""


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise BadFile(message)


def _read_meta(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        raw = read_member(archive, "meta", kind="U", shape=(), max_bytes=_META_MAX_BYTES)
    except BadFile as exc:
        raise BadFile(f"not a cmf model file (no valid 'meta' entry: {exc})") from None
    try:
        meta = json.loads(str(raw))
    except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
        raise BadFile("not a cmf model file (its 'meta' entry is not JSON, or is nested too deeply)") from None
    _expect(isinstance(meta, dict), "not a cmf model file ('meta' is not a JSON object)")
    _expect(_depth(meta) <= _META_MAX_DEPTH,
            f"not a cmf model file ('meta' is nested deeper than {_META_MAX_DEPTH} levels)")
    other = meta.get("format")  # the files of cmf.BPR say what they are
    _expect(other is None, f"it is a {other} model file, not a MatrixFactorization one: load it with "
                           f"{other}.load" if isinstance(other, str) else "not a cmf model file")
    version = meta.get("format_version")
    _expect(
        is_integer(version) and version == FORMAT_VERSION,
        f"model file format {version!r} is not supported by this cmf (expects {FORMAT_VERSION})",
    )
    for key in ("params", "global_mean_", "shape_", "n_epochs_", "converged_", "best_epoch_"):
        _expect(key in meta, f"'meta' lacks the key {key!r}")
    _expect(isinstance(meta["params"], dict), "'meta' params must be a JSON object")
    mu = meta["global_mean_"]
    _expect(_finite_number(mu), f"global_mean_ must be a finite number, got {mu!r}")
    shape = meta["shape_"]
    _expect(
        isinstance(shape, list) and len(shape) == 2 and all(is_integer(s) and 1 <= s <= INT32_MAX for s in shape),
        f"shape_ must be two integers between 1 and {INT32_MAX}, got {shape!r}",
    )
    n_epochs = meta["n_epochs_"]
    _expect(is_integer(n_epochs) and n_epochs >= 0, f"n_epochs_ must be an integer >= 0, got {n_epochs!r}")
    _expect(isinstance(meta["converged_"], bool), f"converged_ must be true or false, got {meta['converged_']!r}")
    best = meta["best_epoch_"]
    _expect(
        best is None or (is_integer(best) and 1 <= best <= n_epochs),
        f"best_epoch_ must be null or an epoch between 1 and n_epochs_, got {best!r}",
    )
    scale = meta.get("rating_scale_")  # absent from older files
    _expect(scale is None or (isinstance(scale, list) and len(scale) == 2 and all(map(_finite_number, scale))
                              and scale[0] <= scale[1]),
            f"rating_scale_ must be null or two finite numbers low <= high, got {scale!r}")
    return meta


def _depth(value: Any) -> int:
    """How deeply JSON lists and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_params(cls: type, params: dict[str, Any]) -> Any:
    """The stored parameters, checked as ``fit`` checks them: the estimator's config
    (its ``factor_columns`` and ``dtype`` say what the arrays must be)."""
    if isinstance(params.get("rating_scale"), list):  # JSON has no tuples
        params["rating_scale"] = tuple(params["rating_scale"])
    valid = set(cls._param_names())
    unknown = sorted(set(params) - valid)
    _expect(not unknown, f"unknown parameters {unknown} (written by a newer cmf?)")
    try:
        config = cls(**params)._config()  # the same checks as fit
    except (TypeError, ValueError) as exc:
        raise BadFile(f"invalid parameters: {exc}") from None
    random_state = params.get("random_state")
    _expect(random_state is None or is_integer(random_state), "random_state must be an integer or null")
    _expect(is_integer(params.get("verbose", 0)), "verbose must be an integer")
    return config


def _estimator_class(cls: type, meta: dict[str, Any]) -> type:
    """The class the file was written by: ``cls`` or one of its subclasses, named in ``meta``."""
    name = meta.get("estimator", "MatrixFactorization")  # files of earlier releases
    family, seen = [cls], 0
    while seen < len(family):  # cls and all its subclasses, breadth first
        family.extend(family[seen].__subclasses__())
        seen += 1
    for candidate in family:
        if candidate.__name__ == name:
            return candidate
    raise BadFile(f"it holds a {name} model, which {cls.__name__}.load does not read: "
                  f"load it with cmf.{name}.load")


def _load(cls: type, archive: zipfile.ZipFile) -> Any:
    meta = _read_meta(archive)
    cls = _estimator_class(cls, meta)
    config = _check_params(cls, meta["params"])
    n_rows, n_cols = meta["shape_"]
    k = config.factor_columns
    expected = {
        "user_factors_": (n_rows, k),
        "item_factors_": (n_cols, k),
        "user_bias_": (n_rows,),
        "item_bias_": (n_cols,),
    }
    arrays = {}
    for name, shape in expected.items():
        arr = read_member(archive, name, kind="f", shape=shape)
        _expect(
            arr.dtype == config.dtype,
            f"array {name!r} has dtype {arr.dtype} but the parameters say {config.dtype.name}",
        )
        _expect(bool(np.isfinite(arr).all()), f"array {name!r} holds NaN or infinite values")
        arrays[name] = arr

    n_epochs = meta["n_epochs_"]
    history_names = sorted(
        name[: -len(".npy")] for name in archive.namelist() if name.startswith("history_") and name.endswith(".npy")
    )
    keys = [name[len("history_"):] for name in history_names]
    missing = sorted(set(_HISTORY_KEYS) - set(keys))
    _expect(not missing, f"the history lacks {missing}")
    history: dict[str, list[float]] = {}
    for key in _HISTORY_KEYS + tuple(k for k in keys if k not in _HISTORY_KEYS):
        column = read_member(archive, "history_" + key, kind="f", shape=(n_epochs,))
        history[key] = column.astype(np.float64).tolist()
    _expect(
        history["epoch"] == [float(e) for e in range(1, n_epochs + 1)],
        "history_epoch must count the epochs 1, 2, ..., n_epochs_",
    )

    state = FactorState(
        arrays["user_factors_"], arrays["item_factors_"], arrays["user_bias_"], arrays["item_bias_"],
        float(meta["global_mean_"]),
    )
    scale = meta.get("rating_scale_")
    fitted = Fitted(
        state, shape=(n_rows, n_cols), n_epochs=n_epochs, converged=meta["converged_"],
        best_epoch=meta["best_epoch_"], history=history,
        rating_scale=None if scale is None else (float(scale[0]), float(scale[1])),
    )
    # The other members, read with the same header and size checks (so that
    # no member of any name can hold Python objects); the fitted value takes
    # the ones it knows and checks their content.
    known = {"meta", *expected, *history_names}
    extra = {
        name[: -len(".npy")]: read_member(archive, name[: -len(".npy")], kind=None)
        for name in archive.namelist()
        if name.endswith(".npy") and name[: -len(".npy")] not in known
    }
    return cls._from_fitted(meta["params"], fitted.with_members(extra))


def load_model(cls: type, path: str | os.PathLike[str]) -> Any:
    """Read and validate a model written by :func:`save_model`.

    Parameters
    ----------
    cls : type
        The estimator class to instantiate.
    path : str or path-like
        The file: ``path``, or ``path + ".npz"`` when ``path`` does not
        exist and lacks the suffix (the name :func:`save_model` writes).

    Returns
    -------
    MatrixFactorization
        The fitted model.

    Raises
    ------
    ValueError
        If the file cannot be read, is not a cmf model, is of another format
        version, or any of its content is inconsistent (wrong keys, types,
        shapes or dtypes, non-finite parameters, truncation or corruption,
        compressed members). A missing file raises
        :class:`ModelFileNotFoundError`, both a ValueError and a
        FileNotFoundError.
    """
    name = os.fsdecode(os.fspath(path))
    if not os.path.exists(name) and name != model_file_name(name):  # the name save() was given
        if not os.path.exists(model_file_name(name)):
            raise ModelFileNotFoundError(
                f"{name!r} is not a readable cmf model file: neither it nor {model_file_name(name)!r} exists")
        name = model_file_name(name)
    if not os.path.exists(name):
        raise ModelFileNotFoundError(f"{name!r} is not a readable cmf model file: {os.strerror(errno.ENOENT)}")
    # One exception type for every file that cannot serve as a model; the
    # message keeps the reason.
    try:
        archive = open_archive(name)
    except BadFile as exc:
        raise ValueError(f"{name!r} is not a readable cmf model file: {exc}") from None
    try:
        with archive:
            return _load(cls, archive)
    except BadFile as exc:
        raise ValueError(f"{name!r}: {exc}") from None
    except OSError as exc:  # the disk failed while reading
        raise ValueError(f"{name!r} could not be read: {exc}") from None
