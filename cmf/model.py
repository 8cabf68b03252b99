"""The estimator: :class:`MatrixFactorization`."""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from typing import Any

import numpy as np

from cmf._input import Triplets, as_triplets, check_pairs, to_triplets, _check_numeric, _observed_mask, _is_sparse
from cmf._fitted import Fitted, consistent, freeze, pinned_snapshot, repin
from cmf._memory import check_allocation
from cmf._recommend import RecommenderMixin
from cmf._train import loop
from cmf._train.config import TrainingConfig, require_validation, training_config
from cmf._train.epochs import TrainingData
from cmf._train.state import FactorState, predict_pairs
from cmf.exceptions import ConvergenceWarning, NotFittedError

__all__ = ["MatrixFactorization"]


class MatrixFactorization(RecommenderMixin):
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
        Standard deviation of the normal distribution the factors start
        from (biases start at zero). For data whose root-mean-square
        deviation :math:`s` from :math:`\mu` is below 1 it is multiplied by
        :math:`\sqrt{s}`, so that the initial products :math:`p_u \cdot
        q_i` stay small next to the data however small their units (zero
        factors when all values are equal).
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

    Notes
    -----
    **Threads.** A fitted model may be used from many threads at once:
    :meth:`predict`, :meth:`reconstruct`, :meth:`complete`, ``recommend``,
    ``similar_items`` and ``similar_users`` only read it (the C code runs
    without the GIL). Any fit (``fit``, ``fit_triplets``, ``fit_ratings``,
    ``partial_fit``) may run while other threads use the same object: it
    trains on new arrays and publishes the finished model (parameters,
    labels and seen items) with a single assignment, and each of the
    methods above answers from the one snapshot it started with, so it
    sees either the previous model or the new one in full, never a mix.
    The fitted arrays are read-only for that reason; copy one before
    changing it. Two fits of one object at the same time are allowed too;
    the one that finishes last wins.

    **Interruption.** Ctrl-C (``KeyboardInterrupt``) during :meth:`fit`
    takes effect between two chunks of updates, within a fraction of a
    second. The model then holds the parameters and history of the last
    completed epoch (or stays as it was if no epoch completed), and the
    ``KeyboardInterrupt`` is raised again.

    **Memory.** A fit estimates the memory its parameters need and raises
    :class:`ValueError` up front when that exceeds the machine's physical
    memory. Up to 2**31 - 1 rows and columns are supported; the number of
    observed entries is limited only by memory (64-bit counts throughout).

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
    ...                             regularization=0.001, max_epochs=20000,
    ...                             tol=1e-5, dtype="float64",
    ...                             random_state=0).fit(R)
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
        """Validate the constructor parameters into a TrainingConfig (:func:`cmf._train.config.training_config`)."""
        return training_config(self.get_params())

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
            For invalid data or parameters, or when the fit would need more
            memory than the machine has; a fitted model is left as it was.
        DivergenceError
            If SGD diverges; the model keeps the last finite epoch.
        """
        config = self._config()
        data = to_triplets(X, missing=missing, mask=mask, dtype=config.dtype)
        return self._fit_source(data, validation, config, missing=missing)

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
            For invalid data or parameters, or when the fit would need more
            memory than the machine has; a fitted model is left as it was.
        DivergenceError
            If SGD diverges; the model keeps the last finite epoch.
        """
        config = self._config()
        data = as_triplets(rows, cols, values, shape=shape, dtype=config.dtype)
        return self._fit_source(data, validation, config)

    def _fit_source(
        self, data: Triplets | TrainingData, validation: Any, config: TrainingConfig, *, missing: Any = np.nan,
    ) -> "MatrixFactorization":
        """Check ``validation`` against ``data`` and fit: the entry of local and distributed fits alike.

        ``data`` is local Triplets or data held elsewhere behind
        :class:`cmf._train.epochs.TrainingData` (:mod:`cmf.dask`);
        ``validation`` is what the user passed (see :meth:`fit`).
        """
        valid = self._validation_triplets(validation, data.shape, config, missing)
        return self._fit(data, valid, config)

    @staticmethod
    def _validation_triplets(
        validation: Any, shape: tuple[int, int], config: TrainingConfig, missing: Any
    ) -> Triplets | None:
        require_validation(config, validation)
        if validation is None:
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

    def _fit(
        self, data: Triplets | TrainingData, valid: Triplets | None, config: TrainingConfig, *,
        report: Any = None, start: FactorState | None = None, labels: Any = None, seen: Any = None,
    ) -> "MatrixFactorization":
        if report is None and self.verbose:
            report = _print_epoch
        outcome = loop.train(data, valid, config, self.random_state, report, start=start)
        # Labels and the seen items (for recommend) belong to the fitted
        # state and are published with it; data held elsewhere (cmf.dask)
        # leaves no seen items.
        if seen is None and isinstance(data, Triplets):
            seen = data
        if outcome.error is not None:
            # An interruption before the first epoch finished leaves nothing
            # worth keeping: the model stays as it was.
            if outcome.stopped == loop.DIVERGED or outcome.n_epochs > 0:
                self._store(outcome, data.shape, labels=labels, seen=seen)
            raise outcome.error
        self._store(outcome, data.shape, labels=labels, seen=seen)
        if not outcome.converged:
            warnings.warn(loop.convergence_message(config, outcome.data_scale), ConvergenceWarning,
                          stacklevel=_caller_stacklevel())
        return self

    def _store(
        self, outcome: loop.TrainingResult, shape: tuple[int, int], *, labels: Any = None, seen: Any = None,
    ) -> None:
        # One assignment publishes the whole fitted state: a concurrent
        # predict sees either the previous snapshot or this one.
        self._fitted = freeze(
            outcome.state,
            shape=(int(shape[0]), int(shape[1])),
            n_epochs=int(outcome.n_epochs),
            converged=bool(outcome.converged),
            best_epoch=outcome.best_epoch,
            history={key: list(values) for key, values in outcome.history.items()},
            extras={} if seen is None and labels is None else self._data_extras(seen, labels),
        )

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------
    def _snapshot(self) -> Fitted:
        """The current fitted state, taken once by each reader."""
        fitted = pinned_snapshot(self)  # inside a method that reads many attributes
        if fitted is None:
            fitted = self.__dict__.get("_fitted")
        if fitted is None:
            raise NotFittedError(
                "this MatrixFactorization is not fitted yet; call fit() or fit_triplets() first"
            )
        return fitted

    def _check_fitted(self) -> None:
        self._snapshot()

    def _state(self) -> FactorState:
        """The parameters of the current snapshot (read-only arrays)."""
        return self._snapshot().state

    def _replace_fitted(self, **changes: Any) -> None:
        """Publish a copy of the snapshot with some fields changed, in one assignment.

        Keys are ``P``, ``Q``, ``b``, ``c``, ``mu`` (the parameters) and the
        other fields of :class:`~cmf._fitted.Fitted`. Arrays are copied, so
        the caller's stay writable and unchanged; several fields that must
        change together (a new user's factors, bias and the shape) become
        visible to readers at the same moment.
        """
        fitted = self._snapshot()
        state = fitted.state
        params = {"P": state.P, "Q": state.Q, "b": state.b, "c": state.c, "mu": state.mu}
        fields = {
            "shape": fitted.shape, "n_epochs": fitted.n_epochs, "converged": fitted.converged,
            "best_epoch": fitted.best_epoch, "history": fitted.history, "extras": dict(fitted.extras),
        }
        for key, value in changes.items():
            if key == "mu":
                params[key] = float(value)
            elif key in params:
                params[key] = np.array(value, copy=True)
            elif key in fields:
                fields[key] = tuple(int(s) for s in value) if key == "shape" else value
            else:
                raise KeyError(key)
        self._fitted = freeze(FactorState(**params), **fields)
        repin(self, self._fitted)

    def _extra(self, key: str) -> Any:
        """One entry of the snapshot's extras (labels, seen items), None if absent."""
        return self._snapshot().extras.get(key)

    def _set_extra(self, key: str, value: Any) -> None:
        """Set an entry of the current snapshot's extras (caches, or data that follows the parameters)."""
        self._snapshot().extras[key] = value

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled arrays come back writable; make the snapshot immutable again.
        fitted = state.get("_fitted")
        if fitted is not None:
            state = dict(state)
            state["_fitted"] = freeze(
                fitted.state, shape=fitted.shape, n_epochs=fitted.n_epochs, converged=fitted.converged,
                best_epoch=fitted.best_epoch, history=fitted.history, extras=dict(fitted.extras),
            )
        self.__dict__.update(state)

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has completed (scikit-learn's fitted check)."""
        return "_fitted" in self.__dict__

    @consistent
    def predict(self, rows: Any, cols: Any) -> Any:
        """Predict the entries at (row, column) pairs.

        Parameters
        ----------
        rows, cols : int or array_like of int
            Zero-based indices inside the fitted shape; broadcast against
            each other. After :meth:`fit_ratings` on labelled data, the
            original user and item labels instead.

        Returns
        -------
        float or ndarray
            A float for a scalar pair, else an array in the model's dtype.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        KeyError
            For a label the model does not know.
        TypeError
            For non-integer indices.
        IndexError
            For indices outside the fitted shape.
        """
        fitted = self._snapshot()
        rows, cols = self._encode_pairs(rows, cols)
        r, c, scalar = check_pairs(rows, cols, fitted.shape)
        out = predict_pairs(fitted.state, r, c)
        return float(out[0]) if scalar else out

    @consistent
    def reconstruct(self) -> np.ndarray:
        """Return the full dense matrix of predictions.

        Returns
        -------
        ndarray, shape (n_rows, n_cols)
            ``global_mean_ + user_bias_[:, None] + item_bias_[None, :] +
            user_factors_ @ item_factors_.T`` in the model's dtype.
        """
        state = self._snapshot().state
        n_rows, n_cols = state.P.shape[0], state.Q.shape[0]
        check_allocation(2 * n_rows * n_cols * state.P.itemsize, f"reconstruct() of a {n_rows} x {n_cols} model",
                         "predict the pairs you need with predict(rows, cols) instead")
        out = state.P @ state.Q.T
        out += state.b[:, None]
        out += state.c[None, :]
        out += out.dtype.type(state.mu)
        return out

    @consistent
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
        fitted = self._snapshot()
        if _is_sparse(X):
            if mask is not None:
                raise ValueError("mask cannot be combined with a sparse X")
            _check_numeric(np.empty(0, dtype=X.dtype), "X")
            check_allocation(9 * int(np.prod(X.shape, dtype=np.float64)), f"a dense copy of the {X.shape} sparse X",
                             "predict the missing pairs with predict(rows, cols) instead")
            coo = X.tocoo()
            observed = np.zeros(X.shape, dtype=bool)
            observed[coo.row, coo.col] = True
            X = X.toarray()
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be a 2-D matrix, got shape {X.shape}")
            _check_numeric(X, "X")
            observed = _observed_mask(X, missing, mask)
        if X.shape != fitted.shape:
            raise ValueError(f"X has shape {X.shape} but the model was fitted on shape {fitted.shape}")
        dtype = np.result_type(X.dtype, fitted.state.P.dtype, np.float32)
        out = X.astype(dtype, copy=True)
        rows, cols = np.nonzero(~observed)
        r, c, _ = check_pairs(rows, cols, fitted.shape)
        out[rows, cols] = predict_pairs(fitted.state, r, c)
        return out

    # ------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------
    @consistent
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the parameters and the fitted state to a NumPy ``.npz`` file.

        The file is written under a temporary name in the same directory
        and renamed over ``path`` only when complete, so an existing model
        file is never left truncated.

        Parameters
        ----------
        path : str or path-like
            Destination file; ``.npz`` is appended if missing.
        """
        from cmf._persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "MatrixFactorization":
        """Load a model written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.

        Every array's shape, dtype and finiteness, the parameters and the
        format version are checked before the model is built.

        Returns
        -------
        MatrixFactorization
            The fitted model.

        Raises
        ------
        ValueError
            For a file that is unreadable, truncated, corrupted, of another
            format version, or inconsistent in any way.
        """
        from cmf._persistence import load_model

        return load_model(cls, path)


def _fitted_property(name: str, get: Any, doc: str) -> property:
    """A read-only view of one field of the current snapshot.

    Setting the attribute replaces the snapshot with a copy that differs in
    that field only (for users who edit a fitted model by hand).
    """

    def getter(self: MatrixFactorization) -> Any:
        return get(self._snapshot())

    def setter(self: MatrixFactorization, value: Any) -> None:
        self._replace_fitted(**{_FIELD_OF[name]: value})

    return property(getter, setter, doc=doc)


_FIELD_OF = {
    "user_factors_": "P", "item_factors_": "Q", "user_bias_": "b", "item_bias_": "c",
    "global_mean_": "mu", "shape_": "shape", "n_epochs_": "n_epochs", "converged_": "converged",
    "best_epoch_": "best_epoch", "history_": "history",
}

MatrixFactorization.user_factors_ = _fitted_property("user_factors_", lambda f: f.state.P, "Row factors P (read-only).")
MatrixFactorization.item_factors_ = _fitted_property("item_factors_", lambda f: f.state.Q, "Column factors Q (read-only).")
MatrixFactorization.user_bias_ = _fitted_property("user_bias_", lambda f: f.state.b, "Row biases b (read-only).")
MatrixFactorization.item_bias_ = _fitted_property("item_bias_", lambda f: f.state.c, "Column biases c (read-only).")
MatrixFactorization.global_mean_ = _fitted_property("global_mean_", lambda f: f.state.mu, "Global mean mu.")
MatrixFactorization.shape_ = _fitted_property("shape_", lambda f: f.shape, "Fitted (n_rows, n_cols).")
MatrixFactorization.n_epochs_ = _fitted_property("n_epochs_", lambda f: f.n_epochs, "Epochs run.")
MatrixFactorization.converged_ = _fitted_property("converged_", lambda f: f.converged, "Whether training converged.")
MatrixFactorization.best_epoch_ = _fitted_property("best_epoch_", lambda f: f.best_epoch, "Epoch restored by early stopping.")


def _extra_property(key: str, doc: str) -> property:
    def getter(self: MatrixFactorization) -> Any:
        return self._extra(key)

    def setter(self: MatrixFactorization, value: Any) -> None:
        self._set_extra(key, value)

    return property(getter, setter, doc=doc)


# Data kept with a fit for recommendation: part of the same snapshot.
MatrixFactorization.user_labels_ = _extra_property("user_labels", "User labels, or None.")
MatrixFactorization.item_labels_ = _extra_property("item_labels", "Item labels, or None.")
MatrixFactorization._label_maps = _extra_property("label_maps", "Cached label maps.")
MatrixFactorization._seen = _extra_property("seen", "Seen items as (indptr, indices), or None.")
MatrixFactorization._seen_pairs = _extra_property("seen_pairs", "Seen (row, col) pairs before the CSR is built.")
MatrixFactorization.history_ = _fitted_property("history_", lambda f: f.history, "Per-epoch records.")


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


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller point at the first frame outside cmf."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "cmf":
        frame = frame.f_back
        level += 1
    return level
