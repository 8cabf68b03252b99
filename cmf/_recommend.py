r"""Using a fitted factorization as a recommender.

:class:`RecommenderMixin` gives :class:`cmf.MatrixFactorization` the methods
people who do collaborative filtering use every day: fitting from labelled
rating data, top-N recommendation, similar items and users, folding in a new
user without retraining, continuing training on new ratings, and plotting
the training curves. It relies only on the estimator's fitted attributes and
its private ``_fit``/``_config``/``_check_fitted`` methods.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, NamedTuple

import numpy as np

from cmf._checks import integer
from cmf._fitted import consistent
from cmf._input import Triplets, as_triplets
from cmf._labels import LabelMap
from cmf._train.state import FactorState
from cmf.exceptions import ConvergenceWarning

__all__ = ["FoldIn", "RecommenderMixin"]

# Upper bound on the number of scores held at once by the batched methods
# (users x items per chunk): 4 Mi floats, 16 MB in float32.
SCORE_BLOCK = 1 << 22


class FoldIn(NamedTuple):
    """The result of :meth:`RecommenderMixin.fold_in`.

    Attributes
    ----------
    bias : float
        The new user's bias :math:`b` (0 for an unbiased model).
    factors : ndarray, shape (n_factors,)
        The new user's factors :math:`p`.
    user : label, int or None
        The user's label (or index) when it was added to the model, else None.
    """

    bias: float
    factors: np.ndarray
    user: Any


class RecommenderMixin:
    """Recommendation methods for a fitted biased matrix factorization."""

    # ------------------------------------------------------------------
    # Training data kept with the model: labels and the items each user saw
    # ------------------------------------------------------------------
    def _data_extras(self, data: Any, labels: tuple[Any, Any] | None) -> dict[str, Any]:
        """Label arrays and (lazily) the seen items of a fit, to publish with its parameters."""
        user_map, item_map = labels if labels is not None else (None, None)
        extras: dict[str, Any] = {
            "user_labels": None if user_map is None else user_map.labels,
            "item_labels": None if item_map is None else item_map.labels,
            "label_maps": (user_map, item_map),
        }
        if isinstance(data, tuple):  # an already built (indptr, indices) pair
            extras["seen"], extras["seen_pairs"] = data, None
        else:
            # Copies, so that later changes to the caller's arrays cannot
            # change what counts as seen; the CSR is built on first use.
            extras["seen"] = None
            extras["seen_pairs"] = (np.array(data.rows, dtype=np.int32), np.array(data.cols, dtype=np.int32))
        return extras

    def _remember_data(self, data: Any, labels: tuple[Any, Any] | None) -> None:
        """Store label arrays and (lazily) the seen items in the current snapshot."""
        for key, value in self._data_extras(data, labels).items():
            self._set_extra(key, value)

    def _maps(self) -> tuple[LabelMap | None, LabelMap | None]:
        """The label maps, rebuilt from the label arrays after load or a change."""
        cached = getattr(self, "_label_maps", None)
        users, items = getattr(self, "user_labels_", None), getattr(self, "item_labels_", None)
        if cached is not None and _same_labels(cached[0], users) and _same_labels(cached[1], items):
            return cached
        maps = (None if users is None else LabelMap(users), None if items is None else LabelMap(items))
        self._label_maps = maps
        return maps

    def _seen_csr(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(indptr, indices)`` of the distinct items each user rated in training, or None if unknown."""
        seen = getattr(self, "_seen", None)
        if seen is not None:
            return seen
        pairs = getattr(self, "_seen_pairs", None)
        if pairs is None:
            # Another thread may have just built the CSR (it sets _seen
            # before clearing _seen_pairs): look again.
            return getattr(self, "_seen", None)
        rows, cols = pairs
        n_rows, n_cols = self.shape_
        codes = np.unique(rows.astype(np.int64) * n_cols + cols)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes // n_cols, minlength=n_rows), out=indptr[1:])
        self._seen = (indptr, (codes % n_cols).astype(np.int32))
        self._seen_pairs = None
        return self._seen

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """Arrays saved next to the factors: labels and seen items (plain, never pickled)."""
        out: dict[str, np.ndarray] = {}
        for name in ("user_labels_", "item_labels_"):
            labels = getattr(self, name, None)
            if labels is not None:
                out[name.rstrip("_")] = np.asarray(labels)
        seen = self._seen_csr()
        if seen is not None:
            out["seen_indptr"], out["seen_indices"] = seen
        return out

    def _restore_extra_arrays(self, files: dict[str, np.ndarray]) -> None:
        """Counterpart of :meth:`_extra_arrays` for a loaded model."""
        self.user_labels_ = files.get("user_labels")
        self.item_labels_ = files.get("item_labels")
        self._label_maps = None
        n_rows, n_cols = self.shape_
        for labels, size, what in ((self.user_labels_, n_rows, "user"), (self.item_labels_, n_cols, "item")):
            if labels is not None and (labels.ndim != 1 or len(labels) != size or labels.dtype.kind not in "iU"):
                raise ValueError(f"model file is inconsistent: {what} labels do not match the stored shape")
        self._seen_pairs = None
        self._seen = None
        if "seen_indptr" in files and "seen_indices" in files:
            indptr, indices = files["seen_indptr"].astype(np.int64), files["seen_indices"].astype(np.int32)
            if (indptr.shape != (n_rows + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
                    or indptr[-1] != len(indices) or (len(indices) and (indices.min() < 0 or indices.max() >= n_cols))):
                raise ValueError("model file is inconsistent: the seen-items arrays do not match the stored shape")
            self._seen = (indptr, indices)

    # ------------------------------------------------------------------
    # Labels <-> indices
    # ------------------------------------------------------------------
    def _encode(self, values: Any, axis: int) -> Any:
        """Labels (or indices, for an unlabelled model) to validated indices."""
        maps = self._maps()
        label_map = maps[axis]
        what = ("user", "item")[axis]
        if label_map is not None:
            return label_map.to_index(values, name=what)
        arr = np.asarray(values)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"{what}s must be integer indices for a model fitted without labels, got {arr.dtype}; "
                "fit with fit_ratings() on labelled data to use labels"
            )
        size = self.shape_[axis]
        if arr.size and (arr.min() < 0 or arr.max() >= size):
            bad = arr.reshape(-1)[(arr.reshape(-1) < 0) | (arr.reshape(-1) >= size)][0]
            raise KeyError(f"unknown {what} {int(bad)}: the model has {what}s 0 to {size - 1}")
        return arr.astype(np.int64)

    def _decode(self, indices: np.ndarray, axis: int) -> np.ndarray:
        """Indices to labels (unchanged for an unlabelled model); -1 marks padding."""
        label_map = self._maps()[axis]
        if label_map is None:
            return indices
        labels = label_map.labels
        out = labels[np.maximum(indices, 0)]
        pad = indices < 0
        if pad.any():
            out = out.copy()
            out[pad] = "" if labels.dtype.kind == "U" else -1
        return out

    def _encode_pairs(self, rows: Any, cols: Any) -> tuple[Any, Any]:
        """Used by predict: labels to indices when the model has labels."""
        users, items = self._maps()
        if users is None:
            return rows, cols
        return users.to_index(rows, name="user"), items.to_index(cols, name="item")

    # ------------------------------------------------------------------
    # Fitting from rating data
    # ------------------------------------------------------------------
    def fit_ratings(self, data: Any, *, validation: Any = None, callback: Any = None) -> Any:
        """Fit to a rating data set, keeping its user and item labels.

        After this, :meth:`predict`, :meth:`recommend`, :meth:`similar_items`
        and :meth:`fold_in` take and return the original labels when the data
        was labelled (read by :func:`cmf.io.load_ratings` or from a
        DataFrame), and plain indices otherwise.

        Parameters
        ----------
        data : RatingDataset, pandas.DataFrame, RatingData or tuple
            The training ratings (see :func:`cmf.io.as_dataset`).
        validation : RatingDataset, float or None
            Held-out ratings scored after every epoch (needed by
            ``patience``), or a fraction of ``data`` to hold out at random
            (seeded by ``random_state``).
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
            If SGD diverges.
        """
        from cmf._dataset import as_dataset

        config = self._config()
        data = as_dataset(data)
        if isinstance(validation, float):
            from cmf.model_selection import train_test_split

            data, validation = train_test_split(data, test_size=validation, random_state=self.random_state)
        valid = None
        if validation is not None:
            valid = _align(as_dataset(validation), data).triplets(config.dtype)
            if len(valid) == 0:
                valid = None
        if valid is None and config.patience is not None:
            raise ValueError("patience needs validation data: pass validation=<data set or fraction>")
        trip = data.triplets(config.dtype)
        if len(trip) == 0:
            raise ValueError("the training data holds no ratings")
        labels = (data.user_labels, data.item_labels) if data.labelled else None
        return self._fit(trip, valid, config, report=callback, labels=labels)

    def partial_fit(self, data: Any, *, epochs: int | None = None, validation: Any = None, callback: Any = None) -> Any:
        """Continue training on new ratings from the current parameters.

        New users and items (labels the model does not know, or indices past
        the fitted shape of an unlabelled model) get rows of random factors
        N(0, ``init_std``) and zero bias; the global mean stays as fitted.
        Training visits only the ratings given here; the items they rate are
        added to each user's seen items. On an unfitted model this is
        :meth:`fit_ratings`.

        Parameters
        ----------
        data : RatingDataset, DataFrame or tuple
            New ratings; a tuple ``(users, items, ratings)`` holds labels for
            a labelled model and indices otherwise.
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
        """
        if not hasattr(self, "user_factors_"):
            return self.fit_ratings(data, validation=validation, callback=callback)
        config = self._config()
        if epochs is not None:
            config = dataclasses.replace(config, max_epochs=integer(epochs, "epochs", minimum=1))
        if config.n_factors != self.user_factors_.shape[1] or config.dtype != self.user_factors_.dtype:
            raise ValueError(
                "n_factors and dtype cannot change between fits: the model has "
                f"{self.user_factors_.shape[1]} factors in {self.user_factors_.dtype}; call fit_ratings() to start over"
            )
        users, items, values = self._new_ratings(data)
        user_map, item_map = self._maps()
        if user_map is not None:
            user_map, rows = user_map.extend(users)
            item_map, cols = item_map.extend(items)
            shape = (len(user_map), len(item_map))
        else:
            rows, cols = _indices(users, "users"), _indices(items, "items")
            shape = (max(self.shape_[0], int(rows.max()) + 1), max(self.shape_[1], int(cols.max()) + 1))
        trip = as_triplets(rows, cols, values, shape=shape, dtype=config.dtype, name="ratings")
        valid = None
        if validation is not None:
            vu, vi, vv = self._new_ratings(validation)
            if user_map is not None:
                vu, vi = user_map.to_index(vu, name="user"), item_map.to_index(vi, name="item")
            valid = as_triplets(vu, vi, vv, shape=shape, dtype=config.dtype, name="validation ratings")
        if valid is None:
            # early stopping needs held-out ratings; without them run the epochs
            config = dataclasses.replace(config, patience=None)
        start = self._grown_state(shape, config)
        seen = self._seen_csr()
        seen_rows, seen_cols = trip.rows, trip.cols
        if seen is not None:
            old_rows = np.repeat(np.arange(self.shape_[0], dtype=np.int32), np.diff(seen[0]))
            seen_rows = np.concatenate([old_rows, trip.rows])
            seen_cols = np.concatenate([seen[1], trip.cols])
        seen_data = Triplets(seen_rows, seen_cols, np.empty(0, np.float32), shape)
        labels = None if user_map is None else (user_map, item_map)
        with warnings.catch_warnings():
            if epochs is not None:  # the caller asked for this many epochs: no warning about the cap
                warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit(trip, valid, config, report=callback, start=start, labels=labels, seen=seen_data)

    def _new_ratings(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(users, items, ratings) as labels for a labelled model, else indices."""
        from cmf._dataset import RatingDataset, as_dataset

        if isinstance(data, tuple) and len(data) == 3 and not hasattr(data, "rows"):
            users, items, values = (np.asarray(a) for a in data)
            if not len(users) == len(items) == len(values):
                raise ValueError(f"users, items and ratings must have the same length, got {len(users)}, {len(items)}, {len(values)}")
            if len(values) == 0:
                raise ValueError("no ratings given")
            return users, items, values
        ds = as_dataset(data)
        if not isinstance(ds, RatingDataset) or len(ds) == 0:
            raise ValueError("no ratings given")
        if self._maps()[0] is not None and not ds.labelled:
            raise TypeError("the model was fitted with labels: pass labelled ratings (a DataFrame, a loaded file or a tuple of labels)")
        if ds.labelled:
            return ds.user_labels.labels[ds.rows], ds.item_labels.labels[ds.cols], ds.values
        return ds.rows, ds.cols, ds.values

    def _grown_state(self, shape: tuple[int, int], config: Any) -> FactorState:
        """A copy of the fitted parameters, padded with random rows for new users and items."""
        rng = np.random.default_rng(self.random_state)
        dtype = self.user_factors_.dtype

        def grow(F: np.ndarray, n: int) -> np.ndarray:
            extra = rng.standard_normal((n - F.shape[0], F.shape[1]), dtype=dtype) * dtype.type(config.init_std)
            return np.ascontiguousarray(np.concatenate([F, extra]))

        def pad(v: np.ndarray, n: int) -> np.ndarray:
            return np.concatenate([v, np.zeros(n - len(v), dtype=dtype)])

        return FactorState(
            grow(self.user_factors_, shape[0]), grow(self.item_factors_, shape[1]),
            pad(self.user_bias_, shape[0]), pad(self.item_bias_, shape[1]), float(self.global_mean_),
        )

    # ------------------------------------------------------------------
    # Top-N recommendation and similarity
    # ------------------------------------------------------------------
    @consistent
    def recommend(
        self, user: Any, n: int = 10, *, exclude_seen: bool = True, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""The ``n`` items with the highest predicted rating for a user or many users.

        Scores are the predictions :math:`\mu + b_u + c_i + p_u \cdot q_i`.
        For many users the scores are computed a block of users at a time
        (at most about 4 million scores in memory), never as a full
        users x items matrix.

        Parameters
        ----------
        user : label, int or array_like
            One user or a 1-D array of users (labels for a model fitted from
            labelled data, indices otherwise).
        n : int, default 10
            Number of items per user.
        exclude_seen : bool, default True
            Leave out the items each user rated in the training data.
        batch_size : int, optional
            Users per block; chosen from the number of items when omitted.

        Returns
        -------
        items : ndarray
            For one user, shape (m,) with ``m <= n`` (fewer when fewer items
            are left); for many, shape (n_users, n), a row per user, padded
            with -1 (or "" for string labels) where a user has fewer than
            ``n`` candidate items.
        scores : ndarray
            The predicted ratings, best first; padding is NaN.

        Raises
        ------
        KeyError
            For an unknown user.
        ValueError
            For ``n < 1``, or ``exclude_seen`` on a model that does not know
            its training ratings.
        """
        self._check_fitted()
        n = _positive(n, "n")
        single = np.ndim(user) == 0
        users = np.atleast_1d(self._encode(user, 0))
        if users.ndim != 1:
            raise ValueError(f"user must be a label or a 1-D array, got shape {np.shape(user)}")
        seen = self._seen_csr() if exclude_seen else None
        if exclude_seen and seen is None:
            raise ValueError("this model does not know its training ratings; pass exclude_seen=False")
        P, Q = self.user_factors_, self.item_factors_
        c = self.item_bias_
        n_items = Q.shape[0]
        k = min(n, n_items)
        step = batch_size or max(1, SCORE_BLOCK // max(n_items, 1))
        top = np.full((len(users), k), -1, dtype=np.int64)
        best = np.full((len(users), k), np.nan, dtype=np.float64)
        for start in range(0, len(users), step):
            block = users[start:start + step]
            scores = P[block] @ Q.T
            scores += c
            scores += (self.user_bias_[block] + scores.dtype.type(self.global_mean_))[:, None]
            if seen is not None:
                indptr, indices = seen
                counts = indptr[block + 1] - indptr[block]
                where = np.repeat(np.arange(len(block)), counts)
                cols = indices[_ranges(indptr[block], counts)]
                scores[where, cols] = -np.inf
            idx, val = _top_k(scores, k)
            top[start:start + step], best[start:start + step] = idx, val
        pad = ~np.isfinite(best)
        top[pad], best[pad] = -1, np.nan
        if single:
            keep = ~pad[0]
            return self._decode(top[0][keep], 1), best[0][keep]
        return self._decode(top, 1), best

    @consistent
    def similar_items(self, item: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items whose factors have the highest cosine similarity to an item's.

        Parameters
        ----------
        item : label, int or array_like
            One item or a 1-D array of items.
        n : int, default 10
            How many, not counting the item itself.

        Returns
        -------
        items, similarities : ndarray
            As for :meth:`recommend`; similarities lie in [-1, 1] (0 for an
            item whose factors are all zero, such as one never rated).
        """
        return self._similar(item, n, axis=1)

    @consistent
    def similar_users(self, user: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` users whose factors have the highest cosine similarity to a user's.

        Parameters
        ----------
        user : label, int or array_like
            One user or a 1-D array of users.
        n : int, default 10
            How many, not counting the user itself.

        Returns
        -------
        users, similarities : ndarray
            As for :meth:`similar_items`.
        """
        return self._similar(user, n, axis=0)

    def _similar(self, who: Any, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        n = _positive(n, "n")
        single = np.ndim(who) == 0
        idx = np.atleast_1d(self._encode(who, axis))
        F = (self.user_factors_, self.item_factors_)[axis].astype(np.float64)
        norms = np.linalg.norm(F, axis=1)
        unit = F / np.where(norms > 0, norms, 1.0)[:, None]
        k = min(n, len(F) - 1)
        if k < 1:
            raise ValueError("there is only one row of factors: nothing to compare it with")
        step = max(1, SCORE_BLOCK // len(F))
        top = np.empty((len(idx), k), dtype=np.int64)
        best = np.empty((len(idx), k))
        for start in range(0, len(idx), step):
            block = idx[start:start + step]
            sims = unit[block] @ unit.T
            sims[np.arange(len(block)), block] = -np.inf  # not similar to itself
            top[start:start + step], best[start:start + step] = _top_k(sims, k)
        if single:
            return self._decode(top[0], axis), best[0]
        return self._decode(top, axis), best

    # ------------------------------------------------------------------
    # New users without retraining
    # ------------------------------------------------------------------
    @consistent
    def fold_in(self, items: Any, ratings: Any, *, add: bool = False, user: Any = None) -> FoldIn:
        r"""Solve a new user's bias and factors exactly, the item parameters fixed.

        For the user's :math:`n` ratings :math:`r_j` of items :math:`j`, this
        minimises the model's objective restricted to that user,

        .. math::
            \sum_j (r_j - \mu - c_j - b - p \cdot q_j)^2
            + \lambda n \|p\|^2 + \lambda_b n b^2 ,

        a ridge regression: with :math:`\theta = (b, p)`, rows
        :math:`x_j = (1, q_j)`, targets :math:`y_j = r_j - \mu - c_j` and
        :math:`D = \mathrm{diag}(\lambda_b, \lambda, \ldots, \lambda)`,
        setting the gradient to zero gives
        :math:`(X^\top X + n D)\,\theta = X^\top y`. An unbiased model drops
        the bias column. When that system is singular (no penalty and fewer
        ratings than factors) the minimum-norm least-squares solution is
        returned.

        Parameters
        ----------
        items : array_like, shape (n,)
            Items the user rated (labels or indices, as the model uses); an
            item may repeat.
        ratings : array_like of float, shape (n,)
            The ratings.
        add : bool, default False
            Also append the user to the model, so that :meth:`predict` and
            :meth:`recommend` know it (its rated items count as seen).
        user : label, optional
            The new user's label when adding to a labelled model (default:
            one more than the largest integer label; required for string
            labels). Ignored for an unlabelled model, where the new user's
            index is the next row.

        Returns
        -------
        FoldIn
            ``(bias, factors, user)``.

        Raises
        ------
        KeyError
            For an unknown item.
        ValueError
            For empty or mismatched input, non-finite ratings, or a label
            already in use.
        """
        self._check_fitted()
        cols = np.atleast_1d(self._encode(items, 1))
        values = np.atleast_1d(np.asarray(ratings, dtype=np.float64))
        if cols.ndim != 1 or values.ndim != 1 or len(cols) != len(values):
            raise ValueError(f"items and ratings must be 1-D and of the same length, got {np.shape(items)} and {np.shape(ratings)}")
        if len(values) == 0:
            raise ValueError("fold_in needs at least one rating")
        if not np.all(np.isfinite(values)):
            raise ValueError("ratings must be finite numbers")
        config = self._config()
        bias, factors = solve_fold_in(
            self.item_factors_[cols].astype(np.float64), self.item_bias_[cols].astype(np.float64), values,
            float(self.global_mean_), config.regularization, config.bias_regularization, config.biased,
        )
        if not add:
            return FoldIn(bias, factors, None)
        return FoldIn(bias, factors, self._add_user(bias, factors, cols, user))

    def _add_user(self, bias: float, factors: np.ndarray, cols: np.ndarray, user: Any) -> Any:
        user_map, item_map = self._maps()
        if user_map is not None:
            if user is None:
                if user_map.labels.dtype.kind == "U":
                    raise ValueError("the model's user labels are strings: pass user='<new label>'")
                user = int(user_map.labels.max()) + 1 if len(user_map) else 0
            if user_map.contains(user).any():
                raise ValueError(f"user {user!r} is already in the model; use partial_fit to add ratings")
            new_map, _ = user_map.extend([user])
        seen = self._seen_csr()
        dtype = self.user_factors_.dtype
        # One assignment, so that concurrent readers never see the new row
        # of factors without its bias or the matching shape.
        self._replace_fitted(
            P=np.ascontiguousarray(np.vstack([self.user_factors_, factors.astype(dtype)[None, :]])),
            b=np.concatenate([self.user_bias_, np.array([bias], dtype=dtype)]),
            shape=(self.shape_[0] + 1, self.shape_[1]),
        )
        if seen is not None:
            new_cols = np.unique(cols).astype(np.int32)
            self._seen = (np.append(seen[0], seen[0][-1] + len(new_cols)), np.concatenate([seen[1], new_cols]))
        if user_map is not None:
            self.user_labels_ = new_map.labels
            self._label_maps = (new_map, item_map)
            return user
        return self.shape_[0] - 1

    # ------------------------------------------------------------------
    # Plots
    # ------------------------------------------------------------------
    def plot_history(self, ax: Any = None, path: str | os.PathLike[str] | None = None) -> Any:
        """Draw the training (and validation) RMSE per epoch.

        Needs matplotlib (``pip install 'cmf-sgd[plot]'``). Draws one line for
        the training RMSE, one for the validation RMSE when there was
        validation data, and a dotted vertical line at the best epoch when
        early stopping restored it.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure is made when omitted.
        path : str or path-like, optional
            Also save the figure to this file (PNG, SVG, PDF, by extension).

        Returns
        -------
        matplotlib.axes.Axes
        """
        self._check_fitted()
        try:
            from matplotlib.figure import Figure
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("plot_history needs matplotlib: pip install 'cmf-sgd[plot]'") from None
        if ax is None:
            # A bare Figure needs no GUI backend and no global pyplot state.
            ax = Figure(figsize=(6, 4)).add_subplot()
        history = self.history_
        epochs = np.asarray(history["epoch"])
        ax.plot(epochs, history["train_rmse"], label="training RMSE")
        val = np.asarray(history["val_rmse"], dtype=float)
        if np.isfinite(val).any():
            ax.plot(epochs, val, label="validation RMSE")
        if self.best_epoch_ is not None:
            ax.axvline(self.best_epoch_, linestyle=":", color="gray", label=f"best epoch ({self.best_epoch_})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("RMSE")
        ax.legend()
        if path is not None:
            ax.figure.savefig(path)
        return ax


def solve_fold_in(
    Q: np.ndarray, c: np.ndarray, r: np.ndarray, mu: float, reg: float, reg_b: float, biased: bool
) -> tuple[float, np.ndarray]:
    """The ridge solution for one user's bias and factors (see ``fold_in``), in float64.

    Parameters
    ----------
    Q : ndarray, shape (n, k)
        Factors of the rated items.
    c : ndarray, shape (n,)
        Their biases.
    r : ndarray, shape (n,)
        The ratings.
    mu : float
        Global mean.
    reg, reg_b : float
        Penalties on factors and bias.
    biased : bool
        Whether the model has biases.

    Returns
    -------
    bias : float
    factors : ndarray of float64, shape (k,)
    """
    n, k = Q.shape
    if biased:
        X = np.hstack([np.ones((n, 1)), Q])
        y = r - mu - c
        penalty = np.r_[reg_b, np.full(k, reg)]
    else:
        X, y, penalty = Q, r, np.full(k, reg)
    A = X.T @ X + n * np.diag(penalty)
    rhs = X.T @ y
    try:
        theta = np.linalg.solve(A, rhs)
        if not np.all(np.isfinite(theta)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        theta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    if biased:
        return float(theta[0]), theta[1:]
    return 0.0, theta


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's k largest entries, largest first."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    # Best first; ties broken by the smaller index, so results are reproducible.
    order = np.lexsort((part, -vals), axis=1) if vals.size else np.zeros_like(part)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1).astype(np.float64)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start s and count n, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(total)


def _positive(n: Any, name: str) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return int(n)


def _indices(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integer indices for a model fitted without labels, got {arr.dtype}")
    if len(arr) and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0")
    return arr


def _same_labels(label_map: LabelMap | None, labels: np.ndarray | None) -> bool:
    if label_map is None or labels is None:
        return label_map is None and labels is None
    return label_map.labels is labels


def _align(valid: Any, train: Any) -> Any:
    """Express validation ratings in the training set's indices (dropping unknown labels)."""
    from cmf._dataset import RatingDataset

    if train.labelled and valid.user_labels is train.user_labels and valid.item_labels is train.item_labels:
        return valid  # a split of the same data set
    if not (valid.labelled and train.labelled):
        if valid.labelled or train.labelled:
            raise ValueError("training and validation data must both be labelled or both be indices")
        if valid.rows.max(initial=-1) >= train.shape[0] or valid.cols.max(initial=-1) >= train.shape[1]:
            raise ValueError("validation data has indices outside the training data's shape")
        return RatingDataset(valid.rows, valid.cols, valid.values, train.shape)
    rows = train.user_labels.lookup(valid.user_labels.labels[valid.rows])
    cols = train.item_labels.lookup(valid.item_labels.labels[valid.cols])
    keep = (rows >= 0) & (cols >= 0)
    return RatingDataset(rows[keep].astype(np.int32), cols[keep].astype(np.int32), valid.values[keep], train.shape,
                         train.user_labels, train.item_labels)
