"""The estimator: :class:`MatrixFactorization`."""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any

import numpy as np

from cmf import _training
from cmf._input import Triplets, as_triplets, check_pairs, to_triplets, _observed_mask, _is_sparse
from cmf._training import FactorState, TrainingConfig
from cmf.exceptions import ConvergenceWarning, DivergenceError, NotFittedError

__all__ = ["MatrixFactorization"]

_FITTED_ATTRIBUTES = (
    "user_factors_",
    "item_factors_",
    "user_bias_",
    "item_bias_",
    "global_mean_",
    "n_epochs_",
    "converged_",
    "history_",
    "shape_",
    "best_epoch_",
)


class MatrixFactorization:
    r"""Biased matrix factorization trained by stochastic gradient descent.

    Fills in the unknown entries of a partly observed matrix :math:`R`
    (users x items, or any rows x columns) from a low-rank model fitted to
    the observed entries only.

    **Prediction.** For row :math:`u` and column :math:`i`

    .. math:: \hat r_{ui} = \mu + b_u + c_i + p_u \cdot q_i

    where :math:`\mu` is the mean of the observed values, :math:`b_u, c_i`
    are the row and column biases and :math:`p_u, q_i` are rows of the
    factor matrices (``user_factors_`` and ``item_factors_``). With
    ``biased=False`` the model is :math:`p_u \cdot q_i` alone. A row or
    column with no observed entry keeps zero factors and bias, so its
    prediction is :math:`\mu` plus the known side's bias.

    **Objective.** Over the observed entries :math:`\mathcal K` only,

    .. math::
        \sum_{(u,i) \in \mathcal K} (r_{ui} - \hat r_{ui})^2
        + \lambda (\|p_u\|^2 + \|q_i\|^2) + \lambda_b (b_u^2 + c_i^2).

    **Updates.** For each observed entry, in a freshly shuffled order every
    epoch, with :math:`e = r_{ui} - \hat r_{ui}` computed once,

    .. math::
        b_u &\leftarrow b_u + \gamma (e - \lambda_b b_u) \\
        c_i &\leftarrow c_i + \gamma (e - \lambda_b c_i) \\
        p_u &\leftarrow p_u + \gamma (e\, q_i - \lambda p_u) \\
        q_i &\leftarrow q_i + \gamma (e\, p_u - \lambda q_i)

    where both factor updates use the values of :math:`p_u` and
    :math:`q_i` from before the update, and only entry :math:`u` of
    :math:`b` and entry :math:`i` of :math:`c` change. The epoch runs in C;
    sums and dot products are accumulated in double precision.

    **Stopping.** Training ends when the relative decrease of the training
    loss (the objective above, with each entry's squared error taken just
    before its update) has stayed below ``tol`` for ``n_iter_no_change``
    epochs in a row; when the validation RMSE has not
    improved for ``patience`` epochs (the best epoch's parameters are then
    restored); or at ``max_epochs`` with a :class:`~cmf.ConvergenceWarning`.
    A non-finite loss raises :class:`~cmf.DivergenceError`.

    Parameters
    ----------
    n_factors : int, default 100
        Latent dimension :math:`k`, at least 1.
    learning_rate : float, default 0.01
        SGD step size :math:`\gamma` (> 0).
    regularization : float, default 0.1
        L2 penalty :math:`\lambda` on the factors (>= 0). The defaults
        (100 factors, learning rate 0.01, penalty 0.1) reach a test RMSE of
        about 0.91 on MovieLens 100K without tuning.
    bias_regularization : float, default 0.02
        L2 penalty :math:`\lambda_b` on the biases (>= 0).
    max_epochs : int, default 200
        Upper bound on the number of passes over the observed entries.
    tol : float, default 1e-4
        Convergence threshold: an epoch makes progress when its training
        loss is below ``(1 - tol)`` times the best loss so far. 0 stops only
        when the loss no longer decreases at all.
    n_iter_no_change : int, default 5
        Training has converged after this many epochs in a row without
        progress (SGD's loss is noisy, so one epoch is not enough to tell).
    init_std : float, default 0.1
        Standard deviation of the normal distribution the factors start from
        (biases start at zero).
    biased : bool, default True
        Whether to use :math:`\mu`, :math:`b` and :math:`c`.
    shuffle : bool, default True
        Visit the entries in a new random order each epoch (recommended);
        False visits them in the order given.
    patience : int or None, default None
        With validation data, stop when the validation RMSE has not improved
        for this many epochs and keep the best epoch's parameters.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the stored factors and of the values.
    blocking : {"auto", True, False}, default "auto"
        How a shuffled epoch visits the entries. True (and "auto", whenever
        ``shuffle`` is True) sorts them once into a grid of blocks of rows x
        columns sized to the CPU's L2 cache and visits the blocks in a new
        random order each epoch, the entries of each block in a new random
        order too: every update then finds its factor rows in cache, which
        makes epochs on large matrices several times faster and converges as
        well as a fully random order. False draws one global permutation of
        all entries per epoch (the textbook scheme; slow once the factors no
        longer fit in cache). The grid depends on the number of factors and
        on the L2 cache size the operating system reports, so two machines
        with different L2 sizes visit the entries in different (equally
        random) orders; results are reproducible on one machine.
    adaptive : bool, default False
        Adaptive step sizes (AdaGrad, as in LIBMF): each factor row and each
        bias keeps the sum of its squared gradient steps (starting at 1) and
        moves by ``learning_rate / sqrt(sum)`` times its gradient, so steps
        shrink where gradients are large. Makes the step size less sensitive
        to the scale of the data; use a larger ``learning_rate`` (about 0.05
        to 0.1) than for plain SGD.
    n_threads : int or None, default None
        Threads that run SGD on blocks sharing no row and no column (with
        blocking); None uses every core available to the process. The result
        is bit-identical for a given ``random_state`` whatever the number of
        threads.
    random_state : int, numpy.random.Generator or None, default None
        Seed of the initial factors and of every epoch's order. The same seed
        gives bit-identical results.
    verbose : int, default 0
        1 prints one line per epoch.

    Attributes
    ----------
    user_factors_ : ndarray, shape (n_rows, n_factors)
        Row factors :math:`P`.
    item_factors_ : ndarray, shape (n_cols, n_factors)
        Column factors :math:`Q`.
    user_bias_ : ndarray, shape (n_rows,)
        Row biases :math:`b` (zeros if ``biased=False``).
    item_bias_ : ndarray, shape (n_cols,)
        Column biases :math:`c` (zeros if ``biased=False``).
    global_mean_ : float
        :math:`\mu` (0 if ``biased=False``).
    shape_ : tuple of int
        ``(n_rows, n_cols)`` of the fitted matrix.
    n_epochs_ : int
        Epochs run.
    converged_ : bool
        Whether ``tol`` or early stopping ended training.
    best_epoch_ : int or None
        The epoch restored by early stopping, if any.
    history_ : dict of list
        Per epoch: ``epoch``, ``train_loss``, ``train_rmse``, ``val_rmse``
        (NaN without validation) and ``seconds``.

    Examples
    --------
    >>> import numpy as np
    >>> from cmf import MatrixFactorization
    >>> R = np.array([[3, 1, 1, 3, 1],
    ...               [1, 2, 4, 1, 3],
    ...               [3, 1, 1, 3, 1],
    ...               [4, 3, 5, 4, 4]], dtype=float)
    >>> R[0, 1] = R[2, 4] = np.nan                   # two unknown entries
    >>> model = MatrixFactorization(n_factors=2, learning_rate=0.05,
    ...                             regularization=0.001, max_epochs=5000,
    ...                             tol=1e-6, random_state=0).fit(R)
    >>> filled = model.complete(R)                    # NaNs replaced
    """

    def __init__(
        self,
        *,
        n_factors: int = 100,
        learning_rate: float = 0.01,
        regularization: float = 0.1,
        bias_regularization: float = 0.02,
        max_epochs: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 5,
        init_std: float = 0.1,
        biased: bool = True,
        shuffle: bool = True,
        patience: int | None = None,
        dtype: Any = "float32",
        blocking: bool | str = "auto",
        adaptive: bool = False,
        n_threads: int | None = None,
        random_state: int | np.random.Generator | None = None,
        verbose: int = 0,
    ) -> None:
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.init_std = init_std
        self.biased = biased
        self.shuffle = shuffle
        self.patience = patience
        self.dtype = dtype
        self.blocking = blocking
        self.adaptive = adaptive
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters.

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility; there are no nested
            estimators.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "MatrixFactorization":
        """Set constructor parameters; they take effect at the next ``fit``.

        Parameters
        ----------
        **params
            Parameter names and new values.

        Returns
        -------
        MatrixFactorization
            ``self``.

        Raises
        ------
        ValueError
            For a name that is not a parameter.
        """
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for MatrixFactorization; valid: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same(value, defaults.get(name))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _config(self) -> TrainingConfig:
        """Validate the constructor parameters into a TrainingConfig."""
        k = _integer(self.n_factors, "n_factors", minimum=1)
        if k > 1_000_000:
            raise ValueError(f"n_factors={k} is unreasonably large; use at most 1,000,000")
        lr = _real(self.learning_rate, "learning_rate")
        if not lr > 0:
            raise ValueError(f"learning_rate must be > 0, got {lr}; try 0.01")
        reg = _real(self.regularization, "regularization")
        reg_b = _real(self.bias_regularization, "bias_regularization")
        for value, name in ((reg, "regularization"), (reg_b, "bias_regularization")):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}; a negative penalty rewards large factors")
        tol = _real(self.tol, "tol")
        if tol < 0:
            raise ValueError(f"tol must be >= 0, got {tol}")
        init_std = _real(self.init_std, "init_std")
        if init_std < 0:
            raise ValueError(f"init_std must be >= 0, got {init_std}")
        patience = None if self.patience is None else _integer(self.patience, "patience", minimum=1)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            raise TypeError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype.name}")
        if isinstance(self.blocking, str) and self.blocking == "auto":
            blocked = bool(self.shuffle)
        elif isinstance(self.blocking, (bool, np.bool_)):
            blocked = bool(self.blocking)
            if blocked and not self.shuffle:
                raise ValueError("blocking=True needs shuffle=True; with shuffle=False entries are visited as given")
        else:
            raise ValueError(f"blocking must be 'auto', True or False, got {self.blocking!r}")
        n_threads = _available_cores() if self.n_threads is None else _integer(self.n_threads, "n_threads", minimum=1)
        return TrainingConfig(
            n_factors=k,
            learning_rate=lr,
            regularization=reg,
            bias_regularization=reg_b,
            max_epochs=_integer(self.max_epochs, "max_epochs", minimum=1),
            tol=tol,
            n_iter_no_change=_integer(self.n_iter_no_change, "n_iter_no_change", minimum=1),
            init_std=init_std,
            biased=bool(self.biased),
            shuffle=bool(self.shuffle),
            patience=patience,
            dtype=dtype,
            blocked=blocked,
            n_threads=n_threads,
            adaptive=bool(self.adaptive),
        )

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def fit(self, X: Any, *, missing: Any = np.nan, mask: Any = None, validation: Any = None) -> "MatrixFactorization":
        """Fit the model to the observed entries of a matrix.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix/array, shape (n_rows, n_cols)
            Dense: every cell is observed except those marked by ``missing``
            or excluded by ``mask``. Sparse: the stored entries are the
            observed ones (explicit zeros are observed zeros).
        missing : scalar, default np.nan
            Marker of unknown cells in a dense X (NaN, or a sentinel such as
            -1). Ignored when ``mask`` is given.
        mask : ndarray of bool or callable, optional
            True where a cell is observed; or a predicate (such as
            ``lambda x: x >= 0``) applied to X, to the whole array when it
            broadcasts and cell by cell otherwise.
        validation : tuple or array_like, optional
            Held-out entries scored after every epoch: ``(rows, cols,
            values)``, or a matrix of X's shape using the same ``missing``
            marker (or a sparse matrix).

        Returns
        -------
        MatrixFactorization
            ``self``, fitted.

        Raises
        ------
        ValueError, TypeError
            For invalid data or parameters; a fitted model is left as it
            was.
        DivergenceError
            If SGD diverges; the model keeps the last finite epoch.
        """
        config = self._config()
        data = to_triplets(X, missing=missing, mask=mask, dtype=config.dtype)
        valid = self._validation_triplets(validation, data.shape, config, missing)
        return self._fit(data, valid, config)

    def fit_triplets(
        self,
        rows: Any,
        cols: Any,
        values: Any,
        *,
        shape: tuple[int, int] | None = None,
        validation: Any = None,
    ) -> "MatrixFactorization":
        """Fit the model to observed entries given as (row, column, value).

        Parameters
        ----------
        rows, cols : array_like of int, shape (n,)
            Zero-based row and column indices. A pair may appear more than
            once; each occurrence is one observation.
        values : array_like of float, shape (n,)
            Observed values, finite.
        shape : tuple of int, optional
            ``(n_rows, n_cols)``; one past the largest index when omitted.
        validation : tuple, optional
            Held-out ``(rows, cols, values)`` scored after every epoch.

        Returns
        -------
        MatrixFactorization
            ``self``, fitted.

        Raises
        ------
        ValueError, TypeError
            For invalid data or parameters; a fitted model is left as it
            was.
        DivergenceError
            If SGD diverges; the model keeps the last finite epoch.
        """
        config = self._config()
        data = as_triplets(rows, cols, values, shape=shape, dtype=config.dtype)
        valid = self._validation_triplets(validation, data.shape, config, np.nan)
        return self._fit(data, valid, config)

    @staticmethod
    def _validation_triplets(
        validation: Any, shape: tuple[int, int], config: TrainingConfig, missing: Any
    ) -> Triplets | None:
        if validation is None:
            if config.patience is not None:
                raise ValueError("patience needs validation data: pass validation=(rows, cols, values)")
            return None
        if isinstance(validation, tuple) and len(validation) == 3:
            valid = as_triplets(*validation, shape=shape, dtype=config.dtype, name="validation values")
        else:
            if not (_is_sparse(validation) or isinstance(validation, np.ndarray)):
                raise TypeError(
                    "validation must be a tuple (rows, cols, values) or a matrix of X's shape, "
                    f"got {type(validation).__name__}"
                )
            valid = to_triplets(validation, missing=missing, dtype=config.dtype)
            if valid.shape != shape:
                raise ValueError(f"validation matrix has shape {valid.shape} but X has shape {shape}")
        return valid

    def _fit(self, data: Triplets, valid: Triplets | None, config: TrainingConfig) -> "MatrixFactorization":
        rng = np.random.default_rng(self.random_state)
        report = _print_epoch if self.verbose else None
        try:
            result = _training.train(data, valid, config, rng, report)
        except (DivergenceError, KeyboardInterrupt) as exc:
            partial = getattr(exc, "result", None)
            if partial is not None:
                self._store(partial, data.shape, converged=False)
            raise
        self._store(result, data.shape, converged=result.converged)
        if not result.converged:
            warnings.warn(
                f"training stopped at max_epochs={config.max_epochs} while the loss was still decreasing "
                f"by more than tol={config.tol:g} per epoch; increase max_epochs or learning_rate, or raise tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _store(self, result: _training.TrainingResult, shape: tuple[int, int], converged: bool) -> None:
        state = result.state
        self.user_factors_ = state.P
        self.item_factors_ = state.Q
        self.user_bias_ = state.b
        self.item_bias_ = state.c
        self.global_mean_ = state.mu
        self.shape_ = shape
        self.n_epochs_ = result.n_epochs
        self.converged_ = converged
        self.best_epoch_ = result.best_epoch
        self.history_ = result.history

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise NotFittedError(
                "this MatrixFactorization is not fitted yet; call fit() or fit_triplets() first"
            )

    def _state(self) -> FactorState:
        return FactorState(self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_, self.global_mean_)

    def predict(self, rows: Any, cols: Any) -> Any:
        """Predict the entries at (row, column) pairs.

        Parameters
        ----------
        rows, cols : int or array_like of int
            Zero-based indices inside the fitted shape; broadcast against
            each other.

        Returns
        -------
        float or ndarray
            A float for a scalar pair, else an array in the model's dtype.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        TypeError
            For non-integer indices.
        IndexError
            For indices outside the fitted shape.
        """
        self._check_fitted()
        r, c, scalar = check_pairs(rows, cols, self.shape_)
        out = _training.predict_pairs(self._state(), r, c)
        return float(out[0]) if scalar else out

    def reconstruct(self) -> np.ndarray:
        """Return the full dense matrix of predictions.

        Returns
        -------
        ndarray, shape (n_rows, n_cols)
            ``global_mean_ + user_bias_[:, None] + item_bias_[None, :] +
            user_factors_ @ item_factors_.T`` in the model's dtype.
        """
        self._check_fitted()
        out = self.user_factors_ @ self.item_factors_.T
        out += self.user_bias_[:, None]
        out += self.item_bias_[None, :]
        out += out.dtype.type(self.global_mean_)
        return out

    def complete(self, X: Any, *, missing: Any = np.nan, mask: Any = None) -> np.ndarray:
        """Return a copy of X with only its unknown entries filled by the model.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix/array, shape ``shape_``
            The matrix, with unknown entries marked as for :meth:`fit`.
        missing : scalar, default np.nan
            Marker of unknown cells in a dense X.
        mask : ndarray of bool or callable, optional
            True where a cell is observed (kept as is).

        Returns
        -------
        ndarray, shape ``shape_``
            Dense, floating; observed cells unchanged.
        """
        self._check_fitted()
        if _is_sparse(X):
            if mask is not None:
                raise ValueError("mask cannot be combined with a sparse X")
            coo = X.tocoo()
            observed = np.zeros(X.shape, dtype=bool)
            observed[coo.row, coo.col] = True
            X = X.toarray()
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be a 2-D matrix, got shape {X.shape}")
            observed = _observed_mask(X, missing, mask)
        if X.shape != tuple(self.shape_):
            raise ValueError(f"X has shape {X.shape} but the model was fitted on shape {tuple(self.shape_)}")
        dtype = np.result_type(X.dtype, self.user_factors_.dtype, np.float32)
        out = X.astype(dtype, copy=True)
        rows, cols = np.nonzero(~observed)
        out[rows, cols] = self.predict(rows.astype(np.int64), cols.astype(np.int64))
        return out

    # ------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the parameters and the fitted state to a NumPy ``.npz`` file.

        Parameters
        ----------
        path : str or path-like
            Destination file; ``.npz`` is appended by NumPy if missing.
        """
        from cmf._persistence import save_model

        self._check_fitted()
        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "MatrixFactorization":
        """Load a model written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.

        Returns
        -------
        MatrixFactorization
            The fitted model.
        """
        from cmf._persistence import load_model

        return load_model(cls, path)


def _print_epoch(row: dict[str, float]) -> None:
    val = "" if np.isnan(row["val_rmse"]) else f"  val_rmse {row['val_rmse']:.5f}"
    print(
        f"epoch {int(row['epoch']):4d}  loss {row['train_loss']:.6g}  "
        f"train_rmse {row['train_rmse']:.5f}{val}  {row['seconds']:.3f}s",
        flush=True,
    )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays, generators: show them
        return False


def _available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value
