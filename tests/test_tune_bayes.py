"""tune on a sampled model (BayesianMatrixFactorization): its space, its rounds of longer chains, its edges.

The searches run on a stub whose validation curve is a known function of
its parameters and chain length, so that where the optimum lies and
whether longer chains pay are set by the test; nothing is timed. One
search runs the real sampler, on a tiny set, through the command line.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import cmf
from cmf._tune_bayes import SWEEP_TOL, bayesian_space, is_sampler
from cmf.cli import main
from cmf.datasets import make_ratings
from cmf.model_selection import tune

DATA = make_ratings(40, 30, 300, rank=2, random_state=0)


class Chain:
    """A sampled model whose posterior-mean validation RMSE after ``s`` kept sweeps is ``base + gain / s``.

    ``base`` is ``1 + log2(n_factors / FACTORS)^2``, plus 0.1 for a fixed
    noise precision; sweeps of the burn-in score 9.
    """

    FACTORS, GAIN = 16, 0.1  # chains of 60 kept sweeps still gain, of 200 no longer
    fits: list[dict] = []

    def __init__(self, n_factors=10, n_samples=200, burn_in=10, noise_precision="auto", n_threads=None,
                 random_state=None):
        self.n_factors, self.n_samples, self.burn_in = n_factors, n_samples, burn_in
        self.noise_precision, self.n_threads, self.random_state = noise_precision, n_threads, random_state

    def get_params(self):
        return {name: getattr(self, name) for name in
                ("n_factors", "n_samples", "burn_in", "noise_precision", "n_threads", "random_state")}

    def set_params(self, **params):
        self.__dict__.update(params)
        return self

    def base(self):
        return 1 + math.log2(self.n_factors / self.FACTORS) ** 2 + (self.noise_precision != "auto") * 0.1

    def fit_ratings(self, data, validation=None):
        type(self).fits.append(self.get_params())
        kept = np.arange(1, self.n_samples - self.burn_in + 1)
        self.history_ = {"val_rmse": [9.0] * self.burn_in + list(self.base() + self.GAIN / kept)}
        return self


class ManyFactors(Chain):
    FACTORS = 80


class SlowChain(Chain):
    GAIN = 2.0  # its second half gains 2/s: more than SWEEP_TOL up to 2000 kept sweeps


def test_a_sampler_is_told_by_its_parameters():
    assert is_sampler(cmf.BayesianMatrixFactorization()) and is_sampler(Chain())
    assert not is_sampler(cmf.MatrixFactorization())


def test_the_default_space_offers_noise_relative_to_the_ratings_variance():
    space = bayesian_space(DATA)
    variance = float(np.var(DATA.values))
    assert space["noise_precision"][0] == "auto"
    np.testing.assert_allclose(space["noise_precision"][1:], [1.5 / variance, 2 / variance, 3 / variance], rtol=1e-3)
    assert space["n_factors"].values == (5, 10, 20) and space["burn_in"] == [5, 10, 20]


def test_rounds_run_new_chains_eta_times_longer_after_the_burn_in():
    Chain.fits = []
    result = tune(DATA, 9, estimator=Chain(), extend=0, min_epochs=20, refit=False, n_jobs=1, random_state=1)
    by_length = {}
    for fit in Chain.fits:
        by_length.setdefault(fit["n_samples"] - fit["burn_in"], []).append(fit)
    # 9 chains of 20 kept sweeps, the best 3 of 60, the best of those to the cap (200)
    assert {k: len(v) for k, v in by_length.items()} == {20: 9, 60: 3, 200: 1}
    best = min(Chain.fits, key=lambda f: Chain(**f).base() + Chain.GAIN / (f["n_samples"] - f["burn_in"]))
    assert result.best_params == {k: best[k] for k in ("n_factors", "noise_precision", "burn_in", "n_samples")}
    assert result.best_score == pytest.approx(Chain(**best).base() + Chain.GAIN / 200, abs=1e-12)
    assert "max_epochs" not in result.best_params and result.space["n_samples"]["final"] == 200


def test_the_default_budget_of_a_sampler_is_nine_chains():
    Chain.fits = []
    tune(DATA, estimator=Chain(), extend=0, refit=False, n_jobs=1, random_state=0)
    assert sum(fit["n_samples"] - fit["burn_in"] == 20 for fit in Chain.fits) == 9


def test_the_factors_grow_past_the_edge_to_an_optimum_beyond_it():
    result = tune(DATA, 27, estimator=ManyFactors(), extend=3, refit=False, n_jobs=1, random_state=0)
    assert result.space["n_factors"]["extended"] == ["high", "high"]
    assert result.space["n_factors"]["searched"] == [5, 10, 20, 40, 80]  # 80: the limit
    assert result.best_params["n_factors"] == 80
    assert result.best_score == min(row["rmse"] for row in result.results)


def test_a_chain_still_gaining_at_the_cap_runs_longer_and_one_that_is_not_stops():
    assert Chain.GAIN / 100 - Chain.GAIN / 200 < SWEEP_TOL <= SlowChain.GAIN / 400 - SlowChain.GAIN / 800
    settled = tune(DATA, 3, estimator=Chain(), extend=2, refit=False, n_jobs=1, random_state=0,
                   space={"n_factors": [16], "burn_in": [10]})
    assert settled.space["n_samples"]["searched"] == [200] and settled.converged
    assert settled.best_params["n_samples"] == 210
    SlowChain.fits = []
    slow = tune(DATA, 3, estimator=SlowChain(), extend=2, refit=False, n_jobs=1, random_state=0,
                space={"n_factors": [16], "burn_in": [10]})
    assert slow.space["n_samples"]["searched"] == [200, 400, 800] and not slow.converged
    assert slow.best_params["n_samples"] == 810
    assert slow.best_score == pytest.approx(1 + SlowChain.GAIN / 800, abs=1e-12)


def test_the_refit_is_a_chain_of_the_chosen_length_on_all_the_data():
    Chain.fits = []
    result = tune(DATA, 3, estimator=Chain(), extend=0, n_jobs=1, random_state=0)
    refit = Chain.fits[-1]
    assert {k: refit[k] for k in result.best_params} == result.best_params
    assert isinstance(result.best_estimator, Chain)


def test_cmf_tune_model_bayesian_runs_the_sampler(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = make_ratings(30, 20, 250, rank=2, random_state=3)
    (tmp_path / "r.tsv").write_text("".join(f"u{u}\ti{i}\t{r:.3f}\n" for u, i, r in zip(data.rows, data.cols, data.values)))
    argv = ["tune", "r.tsv", "--model", "bayesian", "--budget", "3", "--extend", "0", "--epochs", "6",
            "--factors", "2,3", "--jobs", "1", "--json", "--out", "b.npz"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    best = out["best_params"]
    assert set(best) == {"n_factors", "noise_precision", "burn_in", "n_samples"} and best["n_factors"] in (2, 3)
    assert out["space"]["n_samples"]["kind"] == "cap"
    model = cmf.MatrixFactorization.load("b.npz")
    assert isinstance(model, cmf.BayesianMatrixFactorization)
    # the published model lays the kept sweeps side by side
    assert model.item_factors_.shape[1] == best["n_factors"] * (best["n_samples"] - best["burn_in"])
    assert main(["tune", "r.tsv", "--model", "bayesian", "--learning-rate", "0.01"]) == 1
    assert "--learning-rate is not a parameter of BayesianMatrixFactorization" in capsys.readouterr().err
