"""The estimator: :class:`MatrixFactorization`.

This module is long because the class docstring is the model's
specification (prediction, objective, updates, stopping, every
parameter) and every public method of the estimator is defined here, so that
one file shows its whole interface. The work is done below it: training in
``cmf._train``, the fitted value (prediction, labels, seen items) in
``cmf._fitted``, recommendation in :mod:`cmf.recommend` and model files in
``cmf._persistence``; the methods here are short.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import threading
import warnings
from typing import Any, Callable

import numpy as np

from cmf import recommend as _rec
from cmf._checks import integer
from cmf._data_policy import check_scale, describer, repeats_message, resolve_duplicates, value_range
from cmf._dataset import RatingDataset, as_dataset
from cmf._fitted import Fitted
from cmf._input import Triplets, as_triplets, check_pairs, to_triplets, _check_numeric, _observed_mask, _is_sparse
from cmf._labels import LabelMap
from cmf._losses import check_loss_data, check_merged_labels, check_rating_scale, dense_weights, entry_weights
from cmf._losses import predicts_ratings
from cmf._memory import check_allocation
from cmf._persistence import load_model, save_model
from cmf._rating_input import align, index_array, new_ratings
from cmf._seen import SeenSource, seen_source
from cmf._split import train_test_split
from cmf._train import loop
from cmf._train.config import TrainingConfig, require_validation, training_config
from cmf._train.epochs import TrainingData
from cmf._train.state import FactorState, predict_pairs
from cmf._train.stats import measure
from cmf.exceptions import ConvergenceWarning, DivergenceError, DuplicateRatingsWarning, NotFittedError
from cmf.recommend import FoldIn

__all__ = ["MatrixFactorization"]

# Orders publications of fitted values against read-change-publish updates
# (fold_in(add=True)); one lock for all models, as both are short.
_PUBLISHING = threading.Lock()

# The keys of the parameters (FactorState's fields) among a fitted value's.
_PARAMETERS = ("P", "Q", "b", "c", "mu")


def _fitted_field(key: str, doc: str) -> property:
    """A read-only view of one parameter (``P``, ``Q``, ``b``, ``c``, ``mu``) or
    field of the current fitted value.

    Setting the attribute publishes a copy of the value that differs in that
    key only (for users who edit a fitted model by hand).
    """
    if key in _PARAMETERS:
        def get(self: Any) -> Any:
            return getattr(self._snapshot().state, key)
    else:
        def get(self: Any) -> Any:
            return getattr(self._snapshot(), key)

    def set_(self: Any, value: Any) -> None:
        self._replace_fitted(**{key: value})

    return property(get, set_, doc=doc)


def _labels_field(axis: int, doc: str) -> property:
    """The labels of the rows (axis 0) or columns (1), or None; setting them replaces the map."""
    key = ("user_map", "item_map")[axis]

    def get(self: Any) -> np.ndarray | None:
        label_map = getattr(self._snapshot(), key)
        return None if label_map is None else label_map.labels

    def set_(self: Any, value: Any) -> None:
        self._replace_fitted(**{key: None if value is None else LabelMap(value)})

    return property(get, set_, doc=doc)


class MatrixFactorization:
    r"""Biased matrix factorization trained by stochastic gradient descent.

    Fills in the unknown entries of a partly observed matrix :math:`R`
    (users x items, or any rows x columns) from a low-rank model fitted to
    the observed entries only.

    **Prediction.** For row :math:`u` and column :math:`i`

    .. math:: \hat r_{ui} = \mu + b_u + c_i + p_u \cdot q_i

    where :math:`\mu` is the mean of the observed values (weighted by the
    sample weights, when given), :math:`b_u, c_i`
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
    With a constant step a non-finite loss raises
    :class:`~cmf.DivergenceError`; the bold driver undoes that epoch and
    halves the step instead, and raises it after 20 such epochs in a row,
    or when a fit from random factors ends without keeping any epoch. A
    fit that raises it changes nothing: the model stays as it was before.

    Parameters
    ----------
    n_factors : int, default 100
        Latent dimension :math:`k`, at least 1.
    learning_rate : float or "auto", default "auto"
        SGD step size :math:`\gamma` (> 0) of the first epoch. "auto"
        starts at 0.05 and lets the bold driver adapt it (see
        ``schedule``); a number is a constant step (unless
        ``schedule="bold_driver"``), exactly as given.
    schedule : {"auto", "constant", "bold_driver"}, default "auto"
        How the step changes from epoch to epoch. "constant" keeps
        ``learning_rate``. "bold_driver" (Gemulla et al., KDD 2011)
        multiplies it by 1.05 after an epoch that lowered the training
        loss, and after one that raised it (or made it non-finite) undoes
        that epoch and halves the step: a step too large costs an epoch,
        one too small grows, and near the minimum the halvings anneal the
        step so that the loss settles. The decisions depend on the loss
        alone, so results stay bit-identical across thread counts. "auto"
        is "bold_driver" with ``learning_rate="auto"`` and "constant" with a
        number. ``history_["learning_rate"]`` and ``history_["kept"]``
        record each epoch's step and whether it was kept.
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
    blocking : {"auto", True, False, "machine"}, default "auto"
        How a shuffled epoch visits the entries. True (and "auto", whenever
        ``shuffle`` is True) sorts them once into a grid of blocks of rows x
        columns sized so that one block's factor rows fit in a 1 MiB L2
        cache, and visits the blocks in a new random order each epoch, the
        entries of each block in a new random order too: every update then
        finds its factor rows in cache, which makes epochs on large matrices
        several times faster and converges as well as a fully random order.
        The grid depends only on the data, ``n_factors`` and ``dtype``, so a
        ``random_state`` gives the same bits on every machine, whatever its
        cache, its core count and ``n_threads``; it has at most 4 tiles per
        side, so at most 4 threads share an epoch. "machine" sizes the grid
        for this machine instead (its L2 cache size, and up to 16 tiles per
        side from its CPU count, for machines with more than 2 cores): it
        is faster there, but the same seed then gives other bits on a
        machine with another L2 size or CPU count. False draws one global
        permutation of all entries per epoch (the textbook scheme; slow once
        the factors no longer fit in cache).
    adaptive : bool, default False
        Adaptive step sizes (AdaGrad, as in LIBMF): each factor row and each
        bias keeps the sum of its squared gradient steps (starting at 1) and
        moves by ``learning_rate / sqrt(sum)`` times its gradient, so steps
        shrink where gradients are large. Makes the step size less sensitive
        to the scale of the data; use a larger ``learning_rate`` (about 0.05
        to 0.1) than for plain SGD.
    loss : {"squared", "absolute", "kl", "logistic", "hinge", "squared_hinge"}, default "squared"
        The loss :math:`\ell(r, \hat r)` summed over the observed entries in
        place of the squared error of the objective above (LIBMF's
        objectives). Each update multiplies :math:`z`, the negative
        derivative of :math:`\ell` with respect to :math:`\hat r`, where the
        updates above have :math:`e`:

        - "squared": :math:`\ell = (r - \hat r)^2`, :math:`z = r - \hat r`;
          ratings, the default.
        - "absolute": :math:`\ell = |r - \hat r|`, :math:`z =
          \operatorname{sign}(r - \hat r)` (0 at 0); robust regression,
          for ratings with outliers (it fits medians, not means).
        - "kl": generalized KL divergence :math:`\ell = r \log(r / \hat r) -
          r + \hat r` (:math:`r \log r = 0` at :math:`r = 0`), :math:`z =
          r / \hat r - 1`; non-negative amounts such as counts (Poisson-like
          data). The prediction must stay positive, so it needs
          ``nonnegative=True`` and ``biased=False``, values >= 0 and
          ``rating_scale=None``; the global mean is fixed at 0. A prediction
          that reaches 0 for a positive value makes the loss infinite: with
          a constant step that ends the fit (DivergenceError), so keep
          ``learning_rate="auto"``, whose bold driver undoes such an epoch.
        - "logistic": :math:`\ell = \log(1 + e^{-r \hat r})`, :math:`z = r /
          (1 + e^{r \hat r})`; +1/-1 data (like/dislike, click/no click).
        - "hinge": :math:`\ell = \max(0, 1 - r \hat r)`, :math:`z = r` when
          :math:`r \hat r < 1`, else 0; +1/-1 data.
        - "squared_hinge": :math:`\ell = \max(0, 1 - r \hat r)^2`, :math:`z
          = r \max(0, 1 - r \hat r)`; +1/-1 data.

        For the classification losses ("logistic", "hinge",
        "squared_hinge") the values must be +1/-1 labels (0/1 is accepted
        and read as -1/+1; ratings raise ValueError: threshold them first,
        e.g. ``np.where(R >= 4, 1, -1)``), the global mean is fixed at 0
        (biases are allowed) and :meth:`predict` returns the decision value
        :math:`\hat r`, unclipped, whose sign is the predicted class. With
        "kl" it returns :math:`p_u \cdot q_i \ge 0`, unclipped; with
        "squared" and "absolute" the rating, clipped to ``rating_scale_``.
        The training loss, the ``tol`` test and early stopping use
        :math:`\ell`; :func:`cmf.model_selection.evaluate` reports the
        figures that suit the loss (see there). ``adaptive=True`` works
        with "squared" only.
    l1 : float, default 0.0
        L1 penalty :math:`\lambda_1 (\|p_u\|_1 + \|q_i\|_1)` on the factors
        (>= 0), for sparse factors: after each update's L2 step, every
        factor entry it touched is soft-thresholded, :math:`x \leftarrow
        \operatorname{sign}(x) \max(|x| - \gamma \lambda_1, 0)`. Biases are
        not penalised.
    nonnegative : bool, default False
        Keep every factor entry >= 0 (non-negative matrix factorization,
        LIBMF's ``--nmf``): the factors start at the absolute values of
        their random draw and each update is projected, entries below 0
        set to 0. Biases are not constrained.
    duplicates : {None, "keep", "last", "mean", "error"}, default None
        What training ratings that repeat a (user, item) pair do, for every
        form of data (a SciPy sparse matrix's repeated entries included,
        which are not summed): "keep" trains on each as its own
        observation; None does the same and warns once per fit with their
        count (:class:`~cmf.DuplicateRatingsWarning`); "last" keeps the last
        one in input order; "mean" keeps one rating of their mean; "error"
        raises ValueError naming the first repeat. In :meth:`partial_fit`
        it applies within the new batch. Validation data is taken as given.
        Finding repeats costs one sort of the pairs (none for "keep").
    rating_scale : (float, float) or None, default None
        The ``(low, high)`` of the ratings, such as ``(1, 5)``. A training
        rating outside it is an error naming its position and value. None
        takes the scale from the training data (its smallest and largest
        value). Either becomes ``rating_scale_``, which :meth:`predict` and
        ``recommend`` clip to. Ratings only: with ``loss="kl"`` or a
        classification loss it must be None, and ``rating_scale_`` is None
        (no clipping).
    n_threads : int or None, default None
        Threads that run SGD on blocks sharing no row and no column (with
        blocking); None uses every core available to the process, up to the
        4 that the default grid can keep busy (``blocking="machine"`` lets
        more cores share an epoch). The result is bit-identical for a given
        ``random_state`` whatever the number of threads.
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
        (NaN without validation), ``seconds``, ``learning_rate`` (the step
        the epoch ran with) and ``kept`` (0.0 for an epoch the bold driver
        undid: its loss is recorded, its parameters were dropped). With
        another ``loss`` or sample weights, ``train_rmse`` and ``val_rmse``
        are the square root of the mean (weighted) loss per entry, which
        early stopping then watches.
    rating_scale_ : (float, float) or None
        What predictions are clipped to: the declared ``rating_scale``, else
        the smallest and largest training rating (widened by
        :meth:`partial_fit` to cover new ones); None for a model of
        ``loss="kl"`` or a classification loss, and for a model loaded from
        a file written before cmf stored it (no clipping).

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
    the one that finishes last wins. ``fold_in(add=True)`` publishes the new
    user's parameters, label and seen items together in the same way, on top
    of the model current at that moment, so concurrent additions all land.

    **Interruption.** Ctrl-C (``KeyboardInterrupt``) during :meth:`fit`
    takes effect between two chunks of updates, in every thread, within a
    fraction of a second whatever ``n_factors`` and ``n_threads`` are (and
    in :func:`cmf.dask.fit`, while the client waits for the cluster). The
    model then holds the parameters and history of the last completed
    epoch (or stays as it was if no epoch completed), and the
    ``KeyboardInterrupt`` is raised again. In the searches of
    :mod:`cmf.model_selection` with ``n_jobs > 1`` it stops the fits
    running in the worker threads the same way and skips the rest.

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
        learning_rate: float | str = "auto",
        schedule: str = "auto",
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
        loss: str = "squared",
        l1: float = 0.0,
        nonnegative: bool = False,
        duplicates: str | None = None,
        rating_scale: tuple[float, float] | None = None,
        n_threads: int | None = None,
        random_state: int | np.random.Generator | None = None,
        verbose: int = 0,
    ) -> None:
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.schedule = schedule
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
        self.loss = loss
        self.l1 = l1
        self.nonnegative = nonnegative
        self.duplicates = duplicates
        self.rating_scale = rating_scale
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Fitted attributes: views of the current fitted value
    # ------------------------------------------------------------------
    user_factors_ = _fitted_field("P", "Row factors P (read-only).")
    item_factors_ = _fitted_field("Q", "Column factors Q (read-only).")
    user_bias_ = _fitted_field("b", "Row biases b (read-only).")
    item_bias_ = _fitted_field("c", "Column biases c (read-only).")
    global_mean_ = _fitted_field("mu", "Global mean mu.")
    shape_ = _fitted_field("shape", "Fitted (n_rows, n_cols).")
    n_epochs_ = _fitted_field("n_epochs", "Epochs run.")
    converged_ = _fitted_field("converged", "Whether training converged.")
    best_epoch_ = _fitted_field("best_epoch", "Epoch restored by early stopping.")
    history_ = _fitted_field("history", "Per-epoch records.")
    rating_scale_ = _fitted_field("rating_scale", "The (low, high) predictions are clipped to, or None.")
    user_labels_ = _labels_field(0, "User labels (after fit_ratings on labelled data), or None.")
    item_labels_ = _labels_field(1, "Item labels (after fit_ratings on labelled data), or None.")

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return list(_keyword_parameters(cls.__init__))

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
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {sorted(valid)}")
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
    def fit(
        self, X: Any, *, missing: Any = np.nan, mask: Any = None, validation: Any = None, sample_weight: Any = None,
    ) -> "MatrixFactorization":
        """Fit the model to the observed entries of a matrix.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix/array, shape (n_rows, n_cols)
            Dense: every cell is observed except those marked by ``missing``
            or excluded by ``mask``. Sparse: the stored entries are the
            observed ones (explicit zeros are observed zeros; an entry stored
            twice is two ratings, not their sum: see ``duplicates``).
        missing : scalar, default np.nan
            Marker of unknown cells in a dense X (NaN, or a sentinel such as
            -1). Ignored when ``mask`` is given.
        mask : ndarray of bool or callable, optional
            True where a cell is observed; or a predicate (such as
            ``lambda x: x >= 0``) applied to X, to the whole array when it
            broadcasts and cell by cell otherwise.
        validation : tuple or array_like, optional
            Held-out entries scored after every epoch: ``(rows, cols,
            values)`` or ``(rows, cols, values, weights)``, or a matrix of
            X's shape using the same ``missing`` marker (or a sparse matrix).
        sample_weight : array_like or scipy.sparse matrix, optional
            A weight for each observed cell, in a matrix of X's shape (what
            unobserved cells hold is ignored), as scikit-learn's
            ``sample_weight`` holds one per sample: finite and > 0. Each
            entry's loss and gradient are multiplied by its weight (the
            penalties are not). None weighs every entry 1. As the penalties
            are not scaled, weights of mean m make them m times as weak
            against the data (and every step m times as large): keep the mean
            near 1 by dividing the weights by it, which keeps how much each
            entry counts against the others.

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
            If SGD diverges; the model is left as it was (fitted or not),
            and the error's ``history`` holds the failed run's epochs.
        """
        config = self._config()
        data = to_triplets(X, missing=missing, mask=mask, dtype=config.dtype)
        if sample_weight is not None:
            data = dataclasses.replace(data, weights=dense_weights(sample_weight, data, config.dtype))
        data = self._policed(data, config)
        return self._fit_source(data, validation, config, missing=missing)

    def fit_triplets(
        self,
        rows: Any,
        cols: Any,
        values: Any,
        *,
        shape: tuple[int, int] | None = None,
        validation: Any = None,
        sample_weight: Any = None,
    ) -> "MatrixFactorization":
        """Fit the model to observed entries given as (row, column, value).

        Parameters
        ----------
        rows, cols : array_like of int, shape (n,)
            Zero-based row and column indices. A pair may appear more than
            once: the ``duplicates`` parameter says what that does.
        values : array_like of float, shape (n,)
            Observed values, finite.
        shape : tuple of int, optional
            ``(n_rows, n_cols)``; one past the largest index when omitted.
        validation : tuple, optional
            Held-out ``(rows, cols, values)`` or ``(rows, cols, values,
            weights)`` scored after every epoch.
        sample_weight : array_like of float, shape (n,), optional
            A weight per entry (finite, > 0): its loss and gradient are
            multiplied by it. None weighs every entry 1. The penalties are
            not, so weights far from a mean of 1 weaken or strengthen them:
            divide the weights by their mean (see :meth:`fit`).

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
            If SGD diverges; the model is left as it was (fitted or not),
            and the error's ``history`` holds the failed run's epochs.
        """
        config = self._config()
        data = as_triplets(rows, cols, values, shape=shape, dtype=config.dtype)
        if sample_weight is not None:
            data = dataclasses.replace(data, weights=entry_weights(sample_weight, len(data), config.dtype))
        data = self._policed(data, config)
        return self._fit_source(data, validation, config)

    @staticmethod
    def _policed(data: Triplets, config: TrainingConfig, labels: Any = None) -> Triplets:
        """The training ratings under the ``loss``, ``rating_scale`` and ``duplicates`` parameters
        (:mod:`cmf._losses`, :mod:`cmf._data_policy`), with the default policy's warning."""
        check_rating_scale(_loss(config), config.rating_scale)
        data = check_loss_data(data, _loss(config))
        describe = describer(data, labels)
        check_scale(data, config.rating_scale, describe)
        data, repeats = resolve_duplicates(data, config.duplicates, describe)
        if repeats and config.duplicates is None:
            warnings.warn(repeats_message(repeats), DuplicateRatingsWarning, stacklevel=_caller_stacklevel())
        if repeats and config.duplicates == "mean":
            check_merged_labels(data, _loss(config))
        return data

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
        if isinstance(validation, tuple) and len(validation) in (3, 4):
            valid = as_triplets(*validation[:3], shape=shape, dtype=config.dtype, name="validation values")
            if len(validation) == 4:
                valid = dataclasses.replace(valid, weights=entry_weights(validation[3], len(valid), config.dtype,
                                                                         "validation weights"))
        else:
            if not (_is_sparse(validation) or isinstance(validation, np.ndarray)):
                raise TypeError(
                    "validation must be a tuple (rows, cols, values[, weights]) or a matrix of X's shape, "
                    f"got {type(validation).__name__}"
                )
            valid = to_triplets(validation, missing=missing, dtype=config.dtype)
            if valid.shape != shape:
                raise ValueError(f"validation matrix has shape {valid.shape} but X has shape {shape}")
        return check_loss_data(valid, _loss(config), "validation values")

    def _fit(
        self, data: Triplets | TrainingData, valid: Triplets | None, config: TrainingConfig, *,
        report: Any = None, start: FactorState | None = None, labels: Any = None, seen: Any = None,
        scale: tuple[float, float] | None = None,
    ) -> "MatrixFactorization":
        # The scale predictions are clipped to: declared; given, when training
        # continues from ``start`` (partial_fit widens the previous one, or
        # keeps None for a model file without one); else the training values'
        # range (data held elsewhere reports its own, cmf.dask).
        if not predicts_ratings(_loss(config)):
            scale = None  # amounts and decision values are not clipped
        elif config.rating_scale is not None:
            scale = config.rating_scale
        elif scale is None and start is None:
            scale = value_range(data) if isinstance(data, Triplets) else getattr(data, "value_range", None)
        if report is None and self.verbose:
            report = _print_epoch
        outcome = loop.train(data, valid, config, self.random_state, report, start=start)
        # Labels and the seen items (for recommend) belong to the fitted
        # state and are published with it; data held elsewhere (cmf.dask)
        # leaves no seen items.
        if seen is None and isinstance(data, Triplets):
            seen = data
        if outcome.error is not None:
            # A divergence is a failed fit: the model stays as it was, and
            # the error carries the failed run's history. Ctrl-C keeps the
            # epochs done, unless the first epoch did not finish.
            if isinstance(outcome.error, DivergenceError):
                outcome.error.history = {key: list(values) for key, values in outcome.history.items()}
            elif outcome.n_epochs > 0:
                self._store(outcome, data.shape, labels=labels, seen=seen, scale=scale)
            raise outcome.error
        self._store(outcome, data.shape, labels=labels, seen=seen, scale=scale)
        if not outcome.converged:
            warnings.warn(loop.convergence_message(config, outcome.data_scale, stopped=outcome.stopped,
                                                   n_epochs=outcome.n_epochs, weight_mean=outcome.weight_mean),
                          ConvergenceWarning, stacklevel=_caller_stacklevel())
        return self

    def _store(
        self, outcome: Any, shape: tuple[int, int], *, labels: tuple[Any, Any] | None = None, seen: Any = None,
        converged: bool | None = None, scale: tuple[float, float] | None = None,
    ) -> None:
        """Publish a finished or partial fit as the new fitted value.

        Parameters
        ----------
        outcome
            Has ``state`` (FactorState, unpadded), ``n_epochs``,
            ``converged``, ``best_epoch`` and ``history``.
        shape : tuple of int
            The fitted ``(n_rows, n_cols)``.
        labels : tuple of (LabelMap or None), optional
            ``(user_map, item_map)`` of a fit on labelled data.
        seen : Triplets, tuple or SeenSource, optional
            The items each user saw: the training pairs (anything with
            ``rows`` and ``cols``), a built ``(indptr, indices)`` pair or a
            :class:`~cmf._fitted.SeenSource`. None: not known (``recommend``
            then needs ``exclude_seen=False``).
        converged : bool, optional
            Overrides ``outcome.converged``.
        scale : (float, float), optional
            The fitted ``rating_scale_`` (None: no clipping).
        """
        user_map, item_map = labels if labels is not None else (None, None)
        self._publish(Fitted(
            state=outcome.state,
            shape=shape,
            n_epochs=int(outcome.n_epochs),
            converged=bool(outcome.converged if converged is None else converged),
            best_epoch=outcome.best_epoch,
            history={key: list(values) for key, values in outcome.history.items()},
            user_map=user_map,
            item_map=item_map,
            seen_source=seen_source(seen, shape),
            rating_scale=None if scale is None else (float(scale[0]), float(scale[1])),
        ))

    # ------------------------------------------------------------------
    # Fitting from rating data
    # ------------------------------------------------------------------
    def fit_ratings(
        self, data: Any, *, validation: Any = None, callback: Any = None, sample_weight: Any = None,
    ) -> "MatrixFactorization":
        """Fit to a rating data set, keeping its user and item labels.

        After this, :meth:`predict`, :meth:`recommend`, :meth:`similar_items`
        and :meth:`fold_in` take and return the original labels when the data
        was labelled (read by :func:`cmf.io.load_ratings` or from a
        DataFrame), and plain indices otherwise.

        Parameters
        ----------
        data : RatingDataset, pandas.DataFrame, RatingData or tuple
            The training ratings (see :func:`cmf.io.as_dataset`); a data
            set's ``weights`` (read by :func:`cmf.io.load_ratings` with
            ``weight_column``, or from a DataFrame's column named by
            :func:`cmf.io.from_dataframe`'s ``weight``) are its sample
            weights.
        validation : RatingDataset, float or None
            Held-out ratings scored after every epoch (needed by
            ``patience``), or a fraction of ``data`` to hold out at random
            (seeded by ``random_state``); each held-out rating keeps its
            weight, and the validation loss is weighted with them.
        sample_weight : array_like of float, shape (n,), optional
            A weight per rating of ``data``, in its order (finite, > 0),
            in place of the data set's own ``weights``. The penalties are
            not scaled by weights, so keep their mean near 1: divide them by
            it (see :meth:`fit`).
        callback : callable, optional
            Called after every epoch with a dict ``epoch``, ``train_loss``,
            ``train_rmse``, ``val_rmse``, ``seconds`` (for progress bars).

        Returns
        -------
        self
            Fitted.

        Raises
        ------
        ValueError, TypeError
            For invalid data or parameters (the model is left unchanged).
        DivergenceError
            If SGD diverges; the model is left as it was (fitted or not),
            and the error's ``history`` holds the failed run's epochs.
        """
        config = self._config()
        data = as_dataset(data)
        if sample_weight is not None:
            data = dataclasses.replace(data, weights=entry_weights(sample_weight, len(data), np.float64))
        if isinstance(validation, float):
            data, validation = train_test_split(data, test_size=validation, random_state=self.random_state)
        valid = None
        if validation is not None:
            valid = check_loss_data(align(as_dataset(validation), data).triplets(config.dtype), _loss(config),
                                    "validation ratings")
            if len(valid) == 0:
                valid = None
        if valid is None and config.patience is not None:
            raise ValueError("patience needs validation data: pass validation=<data set or fraction>")
        trip = data.triplets(config.dtype)
        if len(trip) == 0:
            raise ValueError("the training data holds no ratings")
        labels = (data.user_labels, data.item_labels) if data.labelled else None
        trip = self._policed(trip, config, labels)
        return self._fit(trip, valid, config, report=callback, labels=labels)

    def partial_fit(
        self, data: Any, *, epochs: int | None = None, validation: Any = None, callback: Any = None
    ) -> "MatrixFactorization":
        """Continue training on new ratings from the current parameters.

        New users and items (labels the model does not know, or indices past
        the fitted shape of an unlabelled model) get zero bias and the
        random factors a fresh fit on these ratings would start them from:
        N(0, ``init_std``), scaled down for ratings that vary by less than
        1 (see ``init_std``), non-negative with ``nonnegative``, and zero
        for an index without ratings; the global mean stays as fitted.
        Training visits only the ratings given here; the items they rate are
        added to each user's seen items. On an unfitted model this is
        :meth:`fit_ratings`.

        Parameters
        ----------
        data : RatingDataset, DataFrame or tuple
            New ratings; a tuple ``(users, items, ratings)`` holds labels for
            a labelled model and indices otherwise. A data set's ``weights``
            are its sample weights; the penalties are not scaled by them, so
            keep their mean near 1, dividing them by it (see :meth:`fit`).
        epochs : int, optional
            Epochs to run (``tol`` may stop earlier); default ``max_epochs``.
        validation : RatingDataset or tuple, optional
            Held-out ratings scored after every epoch, labelled like
            ``data``; ``patience`` applies only with them.
        callback : callable, optional
            Called after every epoch with its history row.

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For invalid data or parameters (the model is left unchanged).
        DivergenceError
            If SGD diverges; the model is left as it was, and the error's
            ``history`` holds the failed run's epochs.
        """
        fitted = self.__dict__.get("_fitted")
        if fitted is None:
            return self.fit_ratings(data, validation=validation, callback=callback)
        config = self._config()
        if epochs is not None:
            config = dataclasses.replace(config, max_epochs=integer(epochs, "epochs", minimum=1))
        P = fitted.state.P
        if config.n_factors != P.shape[1] or config.dtype != P.dtype:
            raise ValueError(
                "n_factors and dtype cannot change between fits: the model has "
                f"{P.shape[1]} factors in {P.dtype}; call fit_ratings() to start over"
            )
        user_map, item_map = fitted.maps
        users, items, values = new_ratings(data, user_map is not None)
        if user_map is not None:
            user_map, rows = user_map.extend(users)
            item_map, cols = item_map.extend(items)
            shape = (len(user_map), len(item_map))
        else:
            rows, cols = index_array(users, "users"), index_array(items, "items")
            shape = (max(fitted.shape[0], int(rows.max()) + 1), max(fitted.shape[1], int(cols.max()) + 1))
        labels = None if user_map is None else (user_map, item_map)
        trip = as_triplets(rows, cols, values, shape=shape, dtype=config.dtype, name="ratings")
        weights = getattr(data, "weights", None) if isinstance(data, RatingDataset) else None
        if weights is not None:
            trip = dataclasses.replace(trip, weights=entry_weights(weights, len(trip), config.dtype))
        trip = self._policed(trip, config, labels)
        scale = fitted.rating_scale
        if scale is not None:  # widened to the new ratings
            low, high = value_range(trip)
            scale = (min(scale[0], low), max(scale[1], high))
        valid = None
        if validation is not None:
            vu, vi, vv = new_ratings(validation, user_map is not None)
            if user_map is not None:
                vu, vi = user_map.to_index(vu, name="user"), item_map.to_index(vi, name="item")
            valid = check_loss_data(as_triplets(vu, vi, vv, shape=shape, dtype=config.dtype,
                                                name="validation ratings"), _loss(config), "validation ratings")
        if valid is None:
            # early stopping needs held-out ratings; without them run the epochs
            config = dataclasses.replace(config, patience=None)
        # New rows start as a fresh fit's would, from the spread of the new ratings around the model's offset.
        start = fitted.grown(shape, config, np.random.default_rng(self.random_state),
                             measure(trip, config.biased, offset=fitted.state.mu))
        seen = fitted.seen
        seen_rows, seen_cols = trip.rows, trip.cols
        if seen is not None:
            seen_rows = np.concatenate([seen.rows(), trip.rows])
            seen_cols = np.concatenate([seen.indices, trip.cols])
        seen_data = SeenSource(seen_rows, seen_cols, shape)
        with warnings.catch_warnings():
            if epochs is not None:  # the caller asked for this many epochs: no warning about the cap
                warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit(trip, valid, config, report=callback, start=start, labels=labels, seen=seen_data,
                             scale=scale)

    # ------------------------------------------------------------------
    # The fitted value
    # ------------------------------------------------------------------
    def _snapshot(self) -> Fitted:
        """The current fitted value, taken once by each reader."""
        fitted = self.__dict__.get("_fitted")
        if fitted is None:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or fit_triplets() first"
            )
        return fitted

    def _check_fitted(self) -> None:
        self._snapshot()

    def _publish(self, fitted: Fitted) -> None:
        # One assignment publishes the whole fitted value: a concurrent
        # reader sees either the previous one or this one. The lock only
        # orders it against _update_fitted's read-change-publish.
        with _PUBLISHING:
            self._fitted = fitted

    def _update_fitted(self, change: Callable[[Fitted], tuple[Fitted, Any]]) -> Any:
        """Publish ``change(current)[0]`` and return ``change(current)[1]``, with no
        other publication in between (so concurrent ``fold_in(add=True)`` calls all land)."""
        with _PUBLISHING:
            fitted, out = change(self._snapshot())
            self._fitted = fitted
        return out

    def _replace_fitted(self, **changes: Any) -> None:
        """Publish a copy of the fitted value with some parameters or fields changed.

        Keys are ``P``, ``Q``, ``b``, ``c``, ``mu`` (the parameters) and the
        fields of :class:`~cmf._fitted.Fitted`. Arrays are copied, so the
        caller's stay writable and unchanged.
        """
        params = {key: changes.pop(key) for key in _PARAMETERS if key in changes}

        def change(fitted: Fitted) -> tuple[Fitted, None]:
            state = dataclasses.replace(fitted.state, **{
                key: float(value) if key == "mu" else np.array(value, copy=True) for key, value in params.items()
            })
            return fitted.replace(state=state, **changes), None

        self._update_fitted(change)

    @classmethod
    def _from_fitted(cls, params: dict[str, Any], fitted: Fitted) -> "MatrixFactorization":
        """An estimator with these constructor parameters holding ``fitted`` (for loading)."""
        model = cls(**params)
        model._fitted = fitted
        return model

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled arrays come back writable; building the value again
        # makes it immutable.
        fitted = state.get("_fitted")
        if fitted is not None:
            state = dict(state, _fitted=fitted.replace())
        self.__dict__.update(state)

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has completed (scikit-learn's fitted check)."""
        return "_fitted" in self.__dict__

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------
    def predict(self, rows: Any, cols: Any, *, unknown: str = "fallback", clip: bool = True) -> Any:
        r"""Predict the entries at (row, column) pairs.

        Parameters
        ----------
        rows, cols : int or array_like of int
            Zero-based indices inside the fitted shape; broadcast against
            each other. After :meth:`fit_ratings` on labelled data, the
            original user and item labels instead.
        unknown : {"fallback", "skip", "error"}, default "fallback"
            What a pair with a user or item the model does not know (an
            unknown label, or an index outside the fitted shape) gets:
            "fallback" predicts it as a row or column without ratings is
            predicted, the global mean plus the known side's bias (the
            global mean alone when both are unknown), as Surprise does;
            "skip" gives NaN; "error" raises ("raise" is accepted too).
            :meth:`is_known` tells which pairs are known.
        clip : bool, default True
            Clip the predictions to ``rating_scale_`` (no effect when it is
            None).

        Returns
        -------
        float or ndarray
            A float for a scalar pair, else an array in the model's dtype:
            the model's value :math:`\hat r` as ``loss`` says (see there):
            a rating for "squared" and "absolute", a non-negative amount for
            "kl", and for "logistic", "hinge" and "squared_hinge" the
            decision value, unclipped, whose sign is the predicted class
            (for "logistic", :math:`1 / (1 + e^{-\hat r})` is the
            probability of +1).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        KeyError
            For a label the model does not know (with ``unknown="error"``).
        TypeError
            For non-integer indices.
        IndexError
            For indices outside the fitted shape (with ``unknown="error"``).
        """
        return self._snapshot().predict(rows, cols, unknown, clip)

    def is_known(self, rows: Any, cols: Any) -> Any:
        """Whether the model knows both the user and the item of each pair.

        Parameters
        ----------
        rows, cols : int, label or array_like
            As for :meth:`predict`; broadcast against each other.

        Returns
        -------
        bool or ndarray of bool
            A bool for a scalar pair, else a 1-D array: True where the model
            has both the user and the item (a known label, or an index inside
            the fitted shape), False where :meth:`predict` falls back.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        TypeError
            For non-integer indices of a model fitted without labels.
        """
        return self._snapshot().is_known(rows, cols)

    def reconstruct(self, *, clip: bool = False) -> np.ndarray:
        """Return the full dense matrix of predictions.

        Parameters
        ----------
        clip : bool, default False
            Clip to ``rating_scale_``. Off by default, unlike :meth:`predict`:
            the matrix is the model itself (its low-rank product), which
            matrix computations expect unclipped.

        Returns
        -------
        ndarray, shape (n_rows, n_cols)
            ``global_mean_ + user_bias_[:, None] + item_bias_[None, :] +
            user_factors_ @ item_factors_.T`` in the model's dtype.
        """
        fitted = self._snapshot()
        state = fitted.state
        n_rows, n_cols = state.P.shape[0], state.Q.shape[0]
        check_allocation(2 * n_rows * n_cols * state.P.itemsize, f"reconstruct() of a {n_rows} x {n_cols} model",
                         "predict the pairs you need with predict(rows, cols) instead")
        out = state.P @ state.Q.T
        out += state.b[:, None]
        out += state.c[None, :]
        out += out.dtype.type(state.mu)
        return _clipped(out, clip, fitted.rating_scale)

    def complete(self, X: Any, *, missing: Any = np.nan, mask: Any = None, clip: bool = False) -> np.ndarray:
        """Return a copy of X with only its unknown entries filled by the model.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix/array, shape ``shape_``
            The matrix, with unknown entries marked as for :meth:`fit`.
        missing : scalar, default np.nan
            Marker of unknown cells in a dense X.
        mask : ndarray of bool or callable, optional
            True where a cell is observed (kept as is).
        clip : bool, default False
            Clip the filled cells to ``rating_scale_``. Off by default, as
            for :meth:`reconstruct`: the result is a matrix for further
            computation.

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
        out[rows, cols] = _clipped(predict_pairs(fitted.state, r, c), clip, fitted.rating_scale)
        return out

    # ------------------------------------------------------------------
    # Recommendation (functions of cmf.recommend)
    # ------------------------------------------------------------------
    def recommend(
        self, user: Any, n: int = 10, *, exclude_seen: bool = True, candidates: Any = None, exclude: Any = None,
        min_support: int = 0, shrinkage: float = _rec.SHRINKAGE, clip: bool = True, batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best items for a user or many users, ranked with rarely rated items shrunk.

        See :func:`cmf.recommend.recommend` for the parameters and results;
        ``shrinkage=0`` ranks by the predicted ratings alone.
        """
        return _rec.recommend(self, user, n, exclude_seen=exclude_seen, candidates=candidates, exclude=exclude,
                              min_support=min_support, shrinkage=shrinkage, clip=clip, batch_size=batch_size)

    def similar_items(self, item: Any, n: int = 10, *, min_support: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items whose factors have the highest cosine similarity to an item's.

        See :func:`cmf.recommend.similar_items` (``min_support``: leave out
        items fewer users rated in training).
        """
        return _rec.similar_items(self, item, n, min_support=min_support)

    def similar_users(self, user: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` users whose factors have the highest cosine similarity to a user's.

        See :func:`cmf.recommend.similar_users`.
        """
        return _rec.similar_users(self, user, n)

    def fold_in(self, items: Any, ratings: Any, *, add: bool = False, user: Any = None) -> FoldIn:
        """Solve a new user's bias and factors exactly, the item parameters fixed.

        See :func:`cmf.recommend.fold_in` for the problem solved, the
        parameters and the result. The problem is the squared loss's: a
        model of another ``loss`` or with ``nonnegative=True`` raises
        ValueError (:meth:`partial_fit` adds a user under the model's own loss).
        """
        if self.loss != "squared" or self.nonnegative:
            raise ValueError(
                f"fold_in solves the squared loss without constraints exactly; this model has loss={self.loss!r}"
                f"{', nonnegative=True' if self.nonnegative else ''}: add the user with partial_fit instead"
            )
        return _rec.fold_in(self, items, ratings, add=add, user=user)

    def plot_history(self, ax: Any = None, path: str | os.PathLike[str] | None = None) -> Any:
        """Draw the training (and validation) RMSE per epoch (needs matplotlib).

        See :func:`cmf.recommend.plot_history`.
        """
        return _rec.plot_history(self, ax, path)

    # ------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        """Save the parameters and the fitted state to a NumPy ``.npz`` file.

        The file is written under a temporary name in the same directory
        and renamed over ``path`` only when complete, so an existing model
        file is never left truncated.

        Parameters
        ----------
        path : str or path-like
            Destination file; ``.npz`` is appended if missing, as NumPy's
            ``savez`` does.

        Returns
        -------
        str
            The name of the file written (``path`` with the suffix).
        """
        return save_model(self.get_params(), self._snapshot(), path, type(self).__name__)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "MatrixFactorization":
        """Load a model written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`: ``path`` itself, or ``path +
            ".npz"`` when ``path`` does not exist and lacks the suffix (so
            that the name given to :meth:`save` loads too).

        Every array's shape, dtype and finiteness, the parameters and the
        format version are checked before the model is built.

        Returns
        -------
        MatrixFactorization
            The fitted model, of the class that saved it: a file written by
            :class:`~cmf.BayesianMatrixFactorization` loads as one through
            ``MatrixFactorization.load`` too (and so on the command line).

        Raises
        ------
        ValueError
            For a file that is unreadable, truncated, corrupted, compressed
            (cmf never compresses its files, and a compressed member could
            claim any size), of another format version, or inconsistent in
            any way. A missing file raises a subclass of both ValueError and
            FileNotFoundError, naming every name tried.
        """
        return load_model(cls, path)


def _clipped(out: np.ndarray, clip: bool, scale: tuple[float, float] | None) -> np.ndarray:
    """``out`` clipped in place to ``scale`` when asked and known."""
    if clip and scale is not None:
        np.clip(out, *scale, out=out)
    return out


@functools.lru_cache(maxsize=None)
def _keyword_parameters(init: Callable[..., None]) -> tuple[str, ...]:
    """The keyword-only parameters of a constructor: read once per class (a signature costs ~0.1 ms a fit)."""
    signature = inspect.signature(init)
    return tuple(name for name, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY)


def _print_epoch(row: dict[str, float]) -> None:
    val = "" if np.isnan(row["val_rmse"]) else f"  val_rmse {row['val_rmse']:.5f}"
    undone = "" if row.get("kept", 1.0) else "  (undone: the loss rose)"
    print(
        f"epoch {int(row['epoch']):4d}  loss {row['train_loss']:.6g}  "
        f"train_rmse {row['train_rmse']:.5f}{val}  step {row.get('learning_rate', np.nan):.3g}  "
        f"{row['seconds']:.3f}s{undone}",
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


def _loss(config: Any) -> str:
    """The loss a configuration trains (the Gibbs sampler's has none: it fits ratings, as "squared")."""
    return getattr(config, "loss", "squared")
