"""The hyperparameters of one fit, each checked once, from a table.

:func:`training_config` turns the estimator's constructor parameters (its
``get_params()``) into a frozen :class:`TrainingConfig`. Every parameter has
one row in :data:`_CHECKS`: its check and conversion, in the order the
errors are reported. A new parameter is a field of TrainingConfig and a row
there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from cmf._checks import integer, real
from cmf._train.schedule import AUTO_LEARNING_RATE

__all__ = ["TrainingConfig", "training_config", "available_cores", "require_validation", "LOSSES", "OPTIONAL_PARAMETERS",
           "CLASSIFICATION_LOSSES", "ZERO_MEAN_LOSSES"]

#: The losses an epoch can minimise (cmf.h, cmf_loss, in its order).
LOSSES = ("squared", "absolute", "kl", "logistic", "hinge", "squared_hinge")
#: Losses for values +1 / -1.
CLASSIFICATION_LOSSES = ("logistic", "hinge", "squared_hinge")
#: Losses whose model has no global mean (it is fixed at 0).
ZERO_MEAN_LOSSES = ("kl", *CLASSIFICATION_LOSSES)


@dataclass(frozen=True)
class TrainingConfig:
    """Validated hyperparameters of one fit."""

    n_factors: int
    #: The step of the first epoch (``learning_rate="auto"``: AUTO_LEARNING_RATE).
    learning_rate: float
    regularization: float
    bias_regularization: float
    max_epochs: int
    tol: float
    n_iter_no_change: int
    init_std: float
    biased: bool
    shuffle: bool
    patience: int | None
    dtype: np.dtype
    #: Cache-blocked epochs (see cmf._train.blocks); needs shuffle. False
    #: visits one global permutation per epoch (or stored order without shuffle).
    blocked: bool = False
    #: Size the block grid for this machine's L2 cache and CPU count
    #: (blocking="machine") instead of the machine-independent default.
    machine_grid: bool = False
    #: Threads running the tiles of a stratum (blocked epochs only).
    n_threads: int = 1
    #: AdaGrad step sizes per factor row and bias (see cmf.h, cmf_params).
    adaptive: bool = False
    #: What repeated (user, item) pairs do (cmf._data_policy.resolve_duplicates).
    duplicates: str | None = None
    #: The declared (low, high) of the ratings, or None to take it from the data.
    rating_scale: tuple[float, float] | None = None
    #: "constant" or "bold_driver" (see cmf._train.schedule).
    schedule: str = "constant"
    #: The loss of each entry, one of LOSSES (see cmf.h, cmf_loss).
    loss: str = "squared"
    #: L1 penalty on the factors: a soft threshold after each update.
    l1: float = 0.0
    #: Factors clamped at 0 after each update (projected SGD), and drawn >= 0.
    nonnegative: bool = False

    @property
    def fixed_mean(self) -> bool:
        """Whether the global mean stays 0 (generalized KL and the classification losses)."""
        return self.loss in ZERO_MEAN_LOSSES

    @property
    def factor_columns(self) -> int:
        """Columns of the fitted factor matrices (what a model file must hold)."""
        return self.n_factors


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one).

    Returns
    -------
    int
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _n_factors(value: Any, params: Mapping[str, Any]) -> int:
    k = integer(value, "n_factors", minimum=1)
    if k > 1_000_000:
        raise ValueError(f"n_factors={k} is unreasonably large; use at most 1,000,000")
    return k


def _learning_rate(value: Any, params: Mapping[str, Any]) -> float:
    if isinstance(value, str) and value == "auto":
        return AUTO_LEARNING_RATE
    if isinstance(value, str):
        raise ValueError(f"learning_rate must be 'auto' or a number > 0, got {value!r}")
    lr = real(value, "learning_rate")
    if not lr > 0:
        raise ValueError(f"learning_rate must be > 0, got {lr}; try 'auto' or 0.01")
    return lr


_SCHEDULES = ("auto", "constant", "bold_driver")


def _schedule(value: Any, params: Mapping[str, Any]) -> str:
    if not (isinstance(value, str) and value in _SCHEDULES):
        raise ValueError(f"schedule must be 'auto', 'constant' or 'bold_driver', got {value!r}")
    if value != "auto":
        return value
    # "auto": adapt the step the user left to cmf; keep the one they chose.
    learning_rate = params["learning_rate"]
    return "bold_driver" if isinstance(learning_rate, str) and learning_rate == "auto" else "constant"


def _non_negative(name: str, hint: str = "") -> Callable[[Any, Mapping[str, Any]], float]:
    def check(value: Any, params: Mapping[str, Any]) -> float:
        value = real(value, name)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}{hint}")
        return value

    return check


# Why a penalty must not be negative, in its error message.
_PENALTY_HINT = "; a negative penalty rewards large factors"


def _at_least_one(name: str, *, optional: bool = False) -> Callable[[Any, Mapping[str, Any]], int | None]:
    def check(value: Any, params: Mapping[str, Any]) -> int | None:
        if optional and value is None:
            return None
        return integer(value, name, minimum=1)

    return check


def _dtype(value: Any, params: Mapping[str, Any]) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {value!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype.name}")
    return dtype


def _blocked(value: Any, params: Mapping[str, Any]) -> bool:
    shuffle = params["shuffle"]
    if isinstance(value, str) and value == "auto":
        return bool(shuffle)
    if (isinstance(value, str) and value == "machine") or isinstance(value, (bool, np.bool_)):
        if value and not shuffle:
            raise ValueError(f"blocking={value!r} needs shuffle=True; with shuffle=False entries are visited "
                             "as given")
        return bool(value)
    raise ValueError(f"blocking must be 'auto', 'machine', True or False, got {value!r}")


def _machine_grid(value: Any, params: Mapping[str, Any]) -> bool:
    return isinstance(value, str) and value == "machine"


def _n_threads(value: Any, params: Mapping[str, Any]) -> int:
    return available_cores() if value is None else integer(value, "n_threads", minimum=1)


def _flag(value: Any, params: Mapping[str, Any]) -> bool:
    return bool(value)


_DUPLICATES = ("keep", "last", "mean", "error")


def _duplicates(value: Any, params: Mapping[str, Any]) -> str | None:
    if value is None or (isinstance(value, str) and value in _DUPLICATES):
        return value
    raise ValueError(f"duplicates must be None, 'keep', 'last', 'mean' or 'error', got {value!r}")


def _rating_scale(value: Any, params: Mapping[str, Any]) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"rating_scale must be None or a pair (low, high) such as (1, 5), got {value!r}")
    low, high = real(value[0], "rating_scale[0]"), real(value[1], "rating_scale[1]")
    if not low < high:
        raise ValueError(f"rating_scale must be (low, high) with low < high, got ({low:g}, {high:g})")
    return low, high


def _loss(value: Any, params: Mapping[str, Any]) -> str:
    if not (isinstance(value, str) and value in LOSSES):
        raise ValueError(f"loss must be one of {', '.join(repr(name) for name in LOSSES)}, got {value!r}")
    if value == "kl" and not params.get("nonnegative", False):
        raise ValueError("loss='kl' needs positive predictions: pass nonnegative=True (and biased=False)")
    if value == "kl" and params.get("biased", True):
        raise ValueError("loss='kl' predicts with the factors alone: pass biased=False (and nonnegative=True)")
    return value


def _no_adaptive_options(value: Any, params: Mapping[str, Any]) -> bool:
    """``adaptive``, refused with the options AdaGrad does not support (the C core refuses them too)."""
    if value:
        used = [f"{name}={params[name]!r}" for name, default in _ADAPTIVE_DEFAULTS
                if params.get(name, default) != default]
        if used:
            raise ValueError(f"adaptive=True supports only the plain squared loss; drop {', '.join(used)} or pass "
                             "adaptive=False")
    return bool(value)


# The options AdaGrad is run without, and their defaults.
_ADAPTIVE_DEFAULTS = (("loss", "squared"), ("l1", 0.0), ("nonnegative", False))

#: Parameters an estimator may lack (its class predates them), with the value that means "off".
OPTIONAL_PARAMETERS = {"loss": "squared", "l1": 0.0, "nonnegative": False}


# (field of TrainingConfig, constructor parameter, check): checked in this
# order, so that the first bad parameter is the one reported.
_CHECKS: tuple[tuple[str, str, Callable[[Any, Mapping[str, Any]], Any]], ...] = (
    ("n_factors", "n_factors", _n_factors),
    ("learning_rate", "learning_rate", _learning_rate),
    ("schedule", "schedule", _schedule),
    ("regularization", "regularization", _non_negative("regularization", _PENALTY_HINT)),
    ("bias_regularization", "bias_regularization", _non_negative("bias_regularization", _PENALTY_HINT)),
    ("tol", "tol", _non_negative("tol")),
    ("init_std", "init_std", _non_negative("init_std")),
    ("patience", "patience", _at_least_one("patience", optional=True)),
    ("dtype", "dtype", _dtype),
    ("blocked", "blocking", _blocked),
    ("machine_grid", "blocking", _machine_grid),
    ("n_threads", "n_threads", _n_threads),
    ("max_epochs", "max_epochs", _at_least_one("max_epochs")),
    ("n_iter_no_change", "n_iter_no_change", _at_least_one("n_iter_no_change")),
    ("biased", "biased", _flag),
    ("shuffle", "shuffle", _flag),
    ("loss", "loss", _loss),
    ("l1", "l1", _non_negative("l1", _PENALTY_HINT)),
    ("nonnegative", "nonnegative", _flag),
    ("adaptive", "adaptive", _no_adaptive_options),
    ("duplicates", "duplicates", _duplicates),
    ("rating_scale", "rating_scale", _rating_scale),
)


def training_config(params: Mapping[str, Any]) -> TrainingConfig:
    """Check the constructor parameters of an estimator into a TrainingConfig.

    Parameters
    ----------
    params : mapping
        ``MatrixFactorization.get_params()``; parameters that do not shape
        training (``random_state``, ``verbose``) are ignored.

    Returns
    -------
    TrainingConfig

    Raises
    ------
    TypeError, ValueError
        For the first invalid parameter, in the order of :data:`_CHECKS`.
    """
    return TrainingConfig(**{
        field: check(params[name] if name in params else OPTIONAL_PARAMETERS[name], params)
        for field, name, check in _CHECKS
    })


def require_validation(config: TrainingConfig, validation: Any) -> None:
    """Refuse early stopping without validation data, before any work on the data.

    Parameters
    ----------
    config : TrainingConfig
    validation : object
        What the user passed as ``validation`` (None for nothing).

    Raises
    ------
    ValueError
        When ``config.patience`` is set and ``validation`` is None.
    """
    if config.patience is not None and validation is None:
        raise ValueError("patience needs validation data: pass validation=(rows, cols, values)")
