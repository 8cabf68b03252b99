"""Saving and loading fitted models as NumPy ``.npz`` files, never pickles."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

FORMAT_VERSION = 1
_ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s parameters and fitted state to ``path`` (.npz).

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    path : str or path-like
        Destination.
    """
    params = model.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a Generator object cannot be stored as data
    params["dtype"] = np.dtype(params["dtype"]).name
    meta = {
        "format_version": FORMAT_VERSION,
        "params": {k: (int(v) if isinstance(v, np.integer) else v) for k, v in params.items()},
        "global_mean_": float(model.global_mean_),
        "shape_": [int(s) for s in model.shape_],
        "n_epochs_": int(model.n_epochs_),
        "converged_": bool(model.converged_),
        "best_epoch_": None if model.best_epoch_ is None else int(model.best_epoch_),
    }
    arrays = {name: getattr(model, name) for name in _ARRAYS}
    history = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in model.history_.items()}
    # labels (int64 or unicode arrays) and seen items, for recommend; no pickles
    extra = model._extra_arrays() if hasattr(model, "_extra_arrays") else {}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays, **history, **extra)


def load_model(cls: type, path: str | os.PathLike[str]) -> Any:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    cls : type
        The estimator class to instantiate.
    path : str or path-like
        The file.

    Returns
    -------
    MatrixFactorization
        The fitted model.

    Raises
    ------
    ValueError
        If the file is not a cmf model or its content is inconsistent.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{os.fspath(path)!r} is not a readable cmf model file: {exc}") from None
    try:
        meta = json.loads(str(files["meta"]))
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{os.fspath(path)!r} is not a cmf model file (no valid 'meta' entry)") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"model file format {meta.get('format_version')!r} is not supported by this cmf "
            f"(expects {FORMAT_VERSION})"
        )
    model = cls(**meta["params"])
    for name in _ARRAYS:
        if name not in files:
            raise ValueError(f"model file lacks the array {name!r}")
        setattr(model, name, files[name])
    model.global_mean_ = float(meta["global_mean_"])
    model.shape_ = tuple(meta["shape_"])
    model.n_epochs_ = int(meta["n_epochs_"])
    model.converged_ = bool(meta["converged_"])
    model.best_epoch_ = meta["best_epoch_"]
    model.history_ = {
        key[len("history_"):]: files[key].tolist() for key in files if key.startswith("history_")
    }
    n_rows, n_cols = model.shape_
    P, Q, b, c = (getattr(model, name) for name in _ARRAYS)
    if P.ndim != 2 or Q.ndim != 2 or P.shape[0] != n_rows or Q.shape[0] != n_cols or P.shape[1] != Q.shape[1]:
        raise ValueError("model file is inconsistent: factor shapes do not match the stored shape")
    if b.shape != (n_rows,) or c.shape != (n_cols,):
        raise ValueError("model file is inconsistent: bias shapes do not match the stored shape")
    if hasattr(model, "_restore_extra_arrays"):
        model._restore_extra_arrays(files)
    return model
