"""Bayesian matrix factorization fitted by Gibbs sampling (:class:`BayesianMatrixFactorization`).

The averaged model is published as an ordinary factorization (the kept
samples side by side, see :mod:`cmf._train.gibbs`), so prediction,
recommendation and model files are those of :class:`~cmf.MatrixFactorization`,
whose methods this class inherits; only the parameters and the fit differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmf._data_policy import value_range
from cmf._input import Triplets
from cmf._train import gibbs
from cmf.model import MatrixFactorization
from cmf.recommend import FoldIn

__all__ = ["BayesianMatrixFactorization"]


class BayesianMatrixFactorization(MatrixFactorization):
    r"""Bayesian probabilistic matrix factorization, sampled by Gibbs sampling (BPMF).

    The model of Salakhutdinov and Mnih (ICML 2008): a rating is
    :math:`r_{ui} = \mu + u_u \cdot v_i + \varepsilon` with Gaussian noise of
    precision :math:`\alpha` (``noise_precision``), :math:`\mu` the mean of
    the training ratings; the rows of each side have a Gaussian prior whose
    mean and precision have a Normal-Wishart hyperprior (:math:`\mu_0 = 0`,
    :math:`\beta_0 = 2`, :math:`\nu_0 = k`, :math:`W_0 = I`). Each of the
    ``n_samples`` sweeps draws the hyperparameters and every user row, then
    the hyperparameters and every item row (the row draws in C, in
    ``n_threads`` threads; the result does not depend on their number), and
    with ``noise_precision="auto"`` the noise precision from its Gamma
    posterior (prior shape 1, rate 1).

    **Prediction.** The mean over the kept sweeps (after ``burn_in``, every
    ``keep_every``-th) of :math:`\mu + u^{(s)}_u \cdot v^{(s)}_i`. It equals
    the dot product of the kept samples laid side by side and scaled by
    :math:`1/\sqrt{S}`, so the fitted model is a factorization with
    ``n_factors * S`` factors (``user_factors_``, ``item_factors_``) and zero
    biases, and :meth:`predict`, :meth:`recommend`, :meth:`similar_items`,
    :meth:`save` and :meth:`load` work as for
    :class:`~cmf.MatrixFactorization`. A user or item inside the shape but
    without training ratings is drawn from its side's prior every sweep, so
    it too gets the posterior mean (about the global mean plus the other
    side's typical offset); one outside the shape gets the global mean
    (``unknown="fallback"``). Predictions are clipped to ``rating_scale``
    (default: the range of the training ratings).

    Averaging over the posterior instead of fitting one point estimate is
    what moves MovieLens 100K below 0.90 RMSE: on the W1 split (see
    ``benchmarks/bayesian.py``) the defaults reach 0.8938-0.8942 (three
    seeds) in about 4 s on two cores, where SGD with the parameters ``tune``
    finds stops at 0.904.

    Parameters
    ----------
    n_factors : int, default 10
        Factors per sample, :math:`k`.
    n_samples : int, default 200
        Gibbs sweeps, burn-in included.
    burn_in : int, default 10
        Leading sweeps left out of the average; below ``n_samples``.
    keep_every : int, default 1
        Average every ``keep_every``-th sweep after the burn-in (fewer
        columns in the fitted factors: memory is ``8 * n_factors * S *
        (n_users + n_items)`` bytes for ``S`` kept sweeps).
    noise_precision : float or "auto", default "auto"
        :math:`\alpha`, the precision (inverse variance) of the rating
        noise, in the ratings' units; "auto" samples it every sweep. On W1
        "auto" settles at 1.51 and scores best (fixed 1.3: 0.8954, 1.6:
        0.8939); on a synthetic set with mostly cold users a fixed 1.6 does
        a little better (1.005 against 1.013), but a fixed value is tied to
        the rating scale (with the ratings times 10 it gives 1.18, "auto"
        1.02), hence the default.
    rating_scale : (float, float), optional
        The ``(low, high)`` the ratings are on: ratings outside it are
        refused, predictions are clipped to it.
    duplicates : {None, "error", "mean", "last", "keep"}, optional
        What a (user, item) pair rated more than once means, as for
        :class:`~cmf.MatrixFactorization`.
    n_threads : int, optional
        Threads of the row draws; all the cores this process may use when
        None.
    random_state : int, numpy.random.Generator or None
        Seeds the one generator of every random number of a fit.
    verbose : int, default 0
        Print a line per sweep when positive.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of float64
        The kept samples side by side, each scaled by :math:`1/\sqrt{S}`.
    global_mean_ : float
    n_epochs_ : int
        Sweeps run (``n_samples``).
    history_ : dict of list
        Per sweep: ``epoch``, ``train_loss`` (the sample's sum of squared
        errors), ``train_rmse`` (the sample's), ``val_rmse`` (the running
        posterior mean's on the validation ratings, NaN without),
        ``seconds``, ``noise_precision``.

    Notes
    -----
    ``partial_fit`` and ``fold_in`` are not available: a new user or new
    ratings need a new chain (refit).
    """

    def __init__(
        self,
        *,
        n_factors: int = 10,
        n_samples: int = 200,
        burn_in: int = 10,
        keep_every: int = 1,
        noise_precision: float | str = "auto",
        rating_scale: tuple[float, float] | None = None,
        duplicates: str | None = None,
        n_threads: int | None = None,
        random_state: int | np.random.Generator | None = None,
        verbose: int = 0,
    ) -> None:
        # The model and its chain.
        self.n_factors, self.noise_precision = n_factors, noise_precision
        self.n_samples, self.burn_in, self.keep_every = n_samples, burn_in, keep_every
        # The data, as for MatrixFactorization.
        self.rating_scale, self.duplicates = rating_scale, duplicates
        # How it runs.
        self.n_threads, self.random_state, self.verbose = n_threads, random_state, verbose

    def _config(self) -> gibbs.GibbsConfig:  # type: ignore[override]
        """Validate the constructor parameters (:func:`cmf._train.gibbs.gibbs_config`)."""
        return gibbs.gibbs_config(self.get_params())

    def _fit(  # type: ignore[override]
        self, data: Triplets, valid: Triplets | None, config: gibbs.GibbsConfig, *,
        report: Any = None, start: Any = None, labels: Any = None, seen: Any = None,
        scale: tuple[float, float] | None = None,
    ) -> "BayesianMatrixFactorization":
        # fit, fit_triplets and fit_ratings (inherited) check the input and
        # end here, with ``start`` always None (no partial_fit).
        if not isinstance(data, Triplets):
            raise TypeError("BayesianMatrixFactorization fits local data only (not cmf.dask data)")
        if data.weights is not None or (valid is not None and valid.weights is not None):
            raise ValueError("BayesianMatrixFactorization samples an unweighted posterior: leave out sample_weight "
                             "(and the data set's weights), or fit cmf.MatrixFactorization")
        scale = config.rating_scale if config.rating_scale is not None else value_range(data)
        if report is None and self.verbose:
            report = _print_sweep
        rng = np.random.default_rng(self.random_state)
        outcome = gibbs.sample(data, valid, config, rng, scale=scale, report=report)
        self._store(outcome, data.shape, labels=labels, seen=data if seen is None else seen, scale=scale)
        return self

    def partial_fit(self, *args: Any, **kwargs: Any) -> "BayesianMatrixFactorization":
        """Not available: a Gibbs chain is not continued on new data.

        Raises
        ------
        NotImplementedError
            Always; fit again on all the ratings instead.
        """
        raise NotImplementedError("BayesianMatrixFactorization has no partial_fit: fit again on all the ratings")

    def fold_in(self, items: Any, ratings: Any, *, add: bool = False, user: Any = None) -> FoldIn:
        """Not available: a new user's posterior needs the chain (refit).

        Raises
        ------
        NotImplementedError
            Always; fit again with the new user's ratings instead.
        """
        raise NotImplementedError(
            "BayesianMatrixFactorization has no fold_in: fit again with the new user's ratings")


def _print_sweep(row: dict[str, float]) -> None:
    """The ``verbose`` line of a sweep."""
    val = "" if np.isnan(row["val_rmse"]) else f"  val_rmse {row['val_rmse']:.5f}"
    print(f"sweep {int(row['epoch']):4d}  train_rmse {row['train_rmse']:.5f}{val}  "
          f"noise_precision {row['noise_precision']:.4g}  {row['seconds']:.3f}s", flush=True)
