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
behind. Loading reads each member's header before its data and checks every
shape, dtype and value against the metadata, so a truncated, corrupted or
crafted file is refused with a :class:`ValueError` before anything large is
allocated and nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from typing import IO, Any

import numpy as np

from cmf._checks import is_integer
from cmf._fitted import Fitted
from cmf._input import INT32_MAX
from cmf._memory import memory_limit
from cmf._train.config import TrainingConfig, training_config
from cmf._train.state import FactorState

__all__ = ["FORMAT_VERSION", "check_output_path", "load_model", "model_file_name", "save_model"]

FORMAT_VERSION = 1
_ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
_HISTORY_KEYS = ("epoch", "train_loss", "train_rmse", "val_rmse", "seconds")
_META_MAX_BYTES = 1 << 20


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


def _umask() -> int:
    """The process umask, read without changing it where possible."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; not possible on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_model(params: dict[str, Any], fitted: Fitted, path: str | os.PathLike[str]) -> str:
    """Write a model's parameters and fitted value to ``path`` (.npz), atomically.

    Parameters
    ----------
    params : dict
        The estimator's constructor parameters.
    fitted : Fitted
        Its fitted value (one consistent state, even if a fit runs meanwhile).
    path : str or path-like
        Destination; ``.npz`` is appended when missing.

    Returns
    -------
    str
        The path written.
    """
    params = dict(params)
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a Generator object cannot be stored as data
    params["dtype"] = np.dtype(params["dtype"]).name
    if params.get("rating_scale") is not None:  # a list of floats in JSON, whatever numbers were given
        params["rating_scale"] = [float(x) for x in params["rating_scale"]]
    meta = {
        "format_version": FORMAT_VERSION,
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
    directory = os.path.dirname(os.path.abspath(final))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(final) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, meta=np.array(json.dumps(meta, allow_nan=False)), **arrays, **history, **extra)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates the file private (0600); give it the mode a plain
        # open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    return final


# ----------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------
class _Bad(ValueError):
    """A problem with the file's content (wrapped with the path by load_model)."""


def _read_header(member: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _Bad(f"member {name!r} has unsupported .npy version {version}")
    except _Bad:
        raise
    except Exception as exc:  # numpy raises ValueError / SyntaxError for crafted headers
        raise _Bad(f"member {name!r} has a corrupt array header ({exc})") from None
    if dtype.hasobject:
        raise _Bad(f"member {name!r} holds Python objects, which a model file never does")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _read_member(
    archive: zipfile.ZipFile, name: str, *, kind: str | None, shape: tuple[int, ...] | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Read ``name``.npy, checking header, size and dtype kind before allocating.

    ``kind`` is the dtype kind required ('f' floating, 'U' unicode), or
    None for any plain kind (bool, integer, float, unicode); ``shape``, when
    given, is the exact shape required.
    """
    try:
        info = archive.getinfo(name + ".npy")
    except KeyError:
        raise _Bad(f"the array {name!r} is missing") from None
    with archive.open(info) as member:
        arr_shape, fortran, dtype = _read_header(member, name)
        if kind is not None and dtype.kind != kind:
            raise _Bad(f"array {name!r} has dtype {dtype}, expected kind {kind!r}")
        if kind is None and dtype.kind not in "biufU":
            raise _Bad(f"array {name!r} has dtype {dtype}, which a model file never holds")
        if shape is not None and arr_shape != shape:
            raise _Bad(f"array {name!r} has shape {arr_shape}, expected {shape}")
        nbytes = math.prod(arr_shape) * dtype.itemsize
        if max_bytes is not None and nbytes > max_bytes:
            raise _Bad(f"array {name!r} claims {nbytes} bytes, more than allowed ({max_bytes})")
        limit = memory_limit()
        if limit is not None and nbytes > limit:
            raise _Bad(f"array {name!r} claims {nbytes} bytes, more than this machine's memory")
        if nbytes > info.file_size:
            raise _Bad(f"array {name!r} is truncated: its header claims more data than the file holds")
        data = member.read(nbytes)
        if len(data) != nbytes:
            raise _Bad(f"array {name!r} is truncated")
        if member.read(1):
            raise _Bad(f"array {name!r} has trailing data after its values")
    arr = np.frombuffer(data, dtype=dtype).reshape(arr_shape, order="F" if fortran else "C")
    return np.array(arr, dtype=dtype.newbyteorder("=") if dtype.kind == "f" else dtype, order="C")


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise _Bad(message)


def _read_meta(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        raw = _read_member(archive, "meta", kind="U", shape=(), max_bytes=_META_MAX_BYTES)
    except _Bad as exc:
        raise _Bad(f"not a cmf model file (no valid 'meta' entry: {exc})") from None
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError:
        raise _Bad("not a cmf model file (its 'meta' entry is not JSON)") from None
    _expect(isinstance(meta, dict), "not a cmf model file ('meta' is not a JSON object)")
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


def _finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_params(cls: type, params: dict[str, Any]) -> TrainingConfig:
    """The stored parameters, checked as ``fit`` checks them."""
    if isinstance(params.get("rating_scale"), list):  # JSON has no tuples
        params["rating_scale"] = tuple(params["rating_scale"])
    valid = set(cls._param_names())
    unknown = sorted(set(params) - valid)
    _expect(not unknown, f"unknown parameters {unknown} (written by a newer cmf?)")
    try:
        config = training_config(cls(**params).get_params())  # the same checks as fit
    except (TypeError, ValueError) as exc:
        raise _Bad(f"invalid parameters: {exc}") from None
    random_state = params.get("random_state")
    _expect(random_state is None or is_integer(random_state), "random_state must be an integer or null")
    _expect(is_integer(params.get("verbose", 0)), "verbose must be an integer")
    return config


def _load(cls: type, archive: zipfile.ZipFile) -> Any:
    meta = _read_meta(archive)
    config = _check_params(cls, meta["params"])
    n_rows, n_cols = meta["shape_"]
    k = config.n_factors
    expected = {
        "user_factors_": (n_rows, k),
        "item_factors_": (n_cols, k),
        "user_bias_": (n_rows,),
        "item_bias_": (n_cols,),
    }
    arrays = {}
    for name, shape in expected.items():
        arr = _read_member(archive, name, kind="f", shape=shape)
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
        column = _read_member(archive, "history_" + key, kind="f", shape=(n_epochs,))
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
        name[: -len(".npy")]: _read_member(archive, name[: -len(".npy")], kind=None)
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
        shapes or dtypes, non-finite parameters, truncation or corruption).
    """
    name = os.fsdecode(os.fspath(path))
    if not os.path.exists(name) and name != model_file_name(name):  # the name save() was given
        if not os.path.exists(model_file_name(name)):
            raise ValueError(f"{name!r} is not a readable cmf model file: neither it nor {model_file_name(name)!r} exists")
        name = model_file_name(name)
    try:
        archive = zipfile.ZipFile(name)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        # One exception type for every file that cannot serve as a model,
        # missing ones included; the message keeps the system's reason.
        raise ValueError(f"{name!r} is not a readable cmf model file: {exc}") from None
    try:
        with archive:
            return _load(cls, archive)
    except _Bad as exc:
        raise ValueError(f"{name!r}: {exc}") from None
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
        # CRC mismatch, truncated member, unsupported compression
        raise ValueError(f"{name!r} is not a readable cmf model file (corrupted: {exc})") from None
