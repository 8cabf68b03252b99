"""Bayesian matrix factorization by Gibbs sampling: the C row draw, the sweep, the estimator.

The references are NumPy transcriptions of the conditional posterior (the
precision, its Cholesky factor, the mean by ``np.linalg.solve``), the mean
of a Wishart distribution, and per-sample predictions taken from chains cut
short (a chain whose burn-in leaves only its last sweep publishes that
sweep's sample itself).
"""

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import gibbs
from cmf.io import RatingDataset


def _csr(rng, n_rows, n_other, density=0.4):
    """Random entries grouped by row, with every row and column holding at least one."""
    mask = rng.random((n_rows, n_other)) < density
    mask[np.arange(n_rows), rng.integers(0, n_other, n_rows)] = True
    mask[rng.integers(0, n_rows, n_other), np.arange(n_other)] = True
    rows, cols = np.nonzero(mask)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return rows.astype(np.int32), cols.astype(np.int32), indptr


def _spd(rng, k):
    a = rng.standard_normal((k, k))
    return a @ a.T + k * np.eye(k)


def _numpy_rows(indptr, indices, values, other, mean, precision, alpha, normals):
    """The conditional posterior draw of every row, transcribed from the paper."""
    out = np.empty_like(normals)
    for r in range(len(indptr) - 1):
        idx = slice(indptr[r], indptr[r + 1])
        Y = other[indices[idx]]
        post = precision + alpha * Y.T @ Y
        chol = np.linalg.cholesky(post)
        mu = np.linalg.solve(post, precision @ mean + alpha * Y.T @ values[idx])
        out[r] = mu + np.linalg.solve(chol.T, normals[r])
    return out


def test_c_row_draw_matches_numpy():
    rng = np.random.default_rng(3)
    n, m, k = 30, 25, 6
    _, cols, indptr = _csr(rng, n, m)
    values = rng.standard_normal(len(cols))
    other, mean, precision = rng.standard_normal((m, k)), rng.standard_normal(k), _spd(rng, k)
    normals = rng.standard_normal((n, k))
    out = np.zeros((n, k))
    _kernels.gibbs_rows(indptr, cols, values, other, out, mean=mean, precision=precision,
                        noise_precision=1.7, normals=normals)
    expected = _numpy_rows(indptr, cols, values, other, mean, precision, 1.7, normals)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_c_row_draw_of_a_row_without_entries_is_a_prior_draw():
    # No entries: x = mu + L^-T z with Lambda = L L^T.
    rng = np.random.default_rng(4)
    k = 4
    precision, mean, z = _spd(rng, k), rng.standard_normal(k), rng.standard_normal((1, k))
    out = np.zeros((1, k))
    _kernels.gibbs_rows(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros((3, k)), out,
                        mean=mean, precision=precision, noise_precision=1.0, normals=z)
    expected = mean + np.linalg.solve(np.linalg.cholesky(precision).T, z[0])
    np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-12)


def test_c_row_draw_by_ranges_gives_the_same_bits():
    rng = np.random.default_rng(5)
    n, m, k = 40, 20, 5
    _, cols, indptr = _csr(rng, n, m)
    args = (indptr, cols, rng.standard_normal(len(cols)), rng.standard_normal((m, k)))
    kw = dict(mean=np.zeros(k), precision=_spd(rng, k), noise_precision=2.0, normals=rng.standard_normal((n, k)))
    whole, parts = np.zeros((n, k)), np.zeros((n, k))
    _kernels.gibbs_rows(*args, whole, **kw)
    for begin, end in ((17, 40), (0, 3), (3, 17)):
        _kernels.gibbs_rows(*args, parts, begin=begin, end=end, **kw)
    assert np.array_equal(whole, parts)


def test_c_row_draw_errors():
    k = 2
    good = dict(mean=np.zeros(k), precision=np.eye(k), noise_precision=1.0, normals=np.zeros((1, k)))
    indptr, cols, values, other = np.array([0, 1], np.int64), np.array([0], np.int32), np.ones(1), np.ones((1, k))
    with pytest.raises(IndexError):
        _kernels.gibbs_rows(indptr, np.array([1], np.int32), values, other, np.zeros((1, k)), **good)
    with pytest.raises(ValueError, match="positive definite|parameter"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, precision=-5 * np.eye(k)))
    with pytest.raises(ValueError, match="parameter"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, noise_precision=0.0))
    with pytest.raises(ValueError, match="indptr"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((2, k)), **good)
    with pytest.raises(ValueError, match="columns"):
        _kernels.gibbs_rows(indptr, cols, values, np.ones((1, 3)), np.zeros((1, k)), **good)
    with pytest.raises(ValueError, match="normals"):
        _kernels.gibbs_rows(indptr, cols, values, other, np.zeros((1, k)), **dict(good, normals=np.zeros((2, k))))


def test_wishart_draws_have_the_wishart_mean():
    # E[W] = df * scale for W ~ Wishart(df, scale).
    rng = np.random.default_rng(6)
    scale = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
    draws = np.mean([gibbs.wishart(7.0, scale, rng) for _ in range(20000)], axis=0)
    np.testing.assert_allclose(draws, 7.0 * scale, atol=0.06)


def _problem(seed=0, n=40, m=30, k=3, density=0.5, noise=0.1):
    """A known low-rank matrix plus noise, partly observed; every row and column has an entry."""
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    truth = 3.0 + U @ V.T
    rows, cols, _ = _csr(rng, n, m, density)
    values = truth[rows, cols] + noise * rng.standard_normal(len(rows))
    return rows, cols, values, truth


def _sweep_transcription(rows, cols, values, shape, k, n_sweeps, seed):
    """The chain of gibbs.sample (noise precision sampled), its row draws in NumPy: the last U and V."""
    rng = np.random.default_rng(seed)
    n, m = shape
    mu = values.mean()
    resid = values - mu
    init = 0.1 * np.sqrt(np.std(resid))
    U, V = rng.normal(0.0, init, (n, k)), rng.normal(0.0, init, (m, k))
    by_user, by_item = np.argsort(rows, kind="stable"), np.argsort(cols, kind="stable")
    u_ptr = np.searchsorted(rows[by_user], np.arange(n + 1))
    i_ptr = np.searchsorted(cols[by_item], np.arange(m + 1))
    sse = resid @ resid
    for _ in range(n_sweeps):
        alpha = rng.gamma(1.0 + len(resid) / 2, 1.0 / (1.0 + sse / 2))
        mean, prec = gibbs.draw_hyperparameters(U, rng)
        U = _numpy_rows(u_ptr, cols[by_user], resid[by_user], V, mean, prec, alpha, rng.standard_normal((n, k)))
        mean, prec = gibbs.draw_hyperparameters(V, rng)
        V = _numpy_rows(i_ptr, rows[by_item], resid[by_item], U, mean, prec, alpha, rng.standard_normal((m, k)))
        err = resid - np.einsum("ij,ij->i", U[rows], V[cols])
        sse = err @ err
    return mu, U, V


def _last_sample(rows, cols, values, shape, n_samples, **params):
    """A chain keeping only its last sweep publishes that sample unscaled."""
    model = cmf.BayesianMatrixFactorization(n_samples=n_samples, burn_in=n_samples - 1, **params)
    model.fit_triplets(rows, cols, values, shape=shape)
    return model


def test_sweeps_match_the_numpy_transcription():
    rows, cols, values, truth = _problem()
    model = _last_sample(rows, cols, values, truth.shape, 3, n_factors=4, random_state=11, n_threads=1)
    mu, U, V = _sweep_transcription(rows, cols, values, truth.shape, 4, 3, seed=11)
    assert model.global_mean_ == pytest.approx(mu, rel=1e-15)
    np.testing.assert_allclose(model.user_factors_, U, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(model.item_factors_, V, rtol=1e-9, atol=1e-10)
    assert model.history_["noise_precision"][-1] > 0
    assert np.all(model.user_bias_ == 0) and np.all(model.item_bias_ == 0)


def test_threads_give_identical_bits():
    rows, cols, values, truth = _problem(seed=1, n=120, m=80)
    fits = [cmf.BayesianMatrixFactorization(n_factors=5, n_samples=8, burn_in=2, n_threads=t, random_state=0)
            .fit_triplets(rows, cols, values, shape=truth.shape) for t in (1, 2, 3)]
    for other in fits[1:]:
        assert np.array_equal(fits[0].user_factors_, other.user_factors_)
        assert np.array_equal(fits[0].item_factors_, other.item_factors_)
        assert fits[0].history_["train_loss"] == other.history_["train_loss"]


@pytest.mark.parametrize("keep_every", [1, 2])
def test_prediction_is_the_mean_over_kept_samples(keep_every):
    rows, cols, values, truth = _problem(seed=2)
    params = dict(n_factors=3, random_state=5, n_threads=1)
    n_samples, burn_in = 6, 1
    model = cmf.BayesianMatrixFactorization(n_samples=n_samples, burn_in=burn_in, keep_every=keep_every, **params)
    model.fit_triplets(rows, cols, values, shape=truth.shape)
    kept = range(burn_in, n_samples, keep_every)
    per_sample = []
    for sweep in kept:
        last = _last_sample(rows, cols, values, truth.shape, sweep + 1, **params)
        per_sample.append(last.global_mean_ + last.user_factors_ @ last.item_factors_.T)
    expected = np.mean(per_sample, axis=0)
    assert model.user_factors_.shape == (truth.shape[0], 3 * len(kept))
    r, c = np.indices(truth.shape).reshape(2, -1)
    np.testing.assert_allclose(model.predict(r, c, clip=False), expected.ravel(), rtol=1e-12, atol=1e-12)


def test_recovers_a_low_rank_matrix():
    rows, cols, values, truth = _problem(seed=3, n=80, m=60, k=3, density=0.4, noise=0.05)
    model = cmf.BayesianMatrixFactorization(n_factors=3, n_samples=150, burn_in=50, random_state=0)
    model.fit_triplets(rows, cols, values, shape=truth.shape)
    hidden = np.ones(truth.shape, bool)
    hidden[rows, cols] = False
    r, c = np.nonzero(hidden)
    err = model.predict(r, c, clip=False) - truth[r, c]
    # The entries vary with standard deviation about sqrt(3); the hidden ones come back within ~0.1.
    assert np.sqrt(np.mean(err ** 2)) < 0.15
    # The sampled noise precision finds the noise (1 / 0.05^2 = 400) within a factor of two.
    assert 200 < np.mean(model.history_["noise_precision"][50:]) < 800


def test_rows_without_ratings_are_drawn_from_the_prior():
    rows, cols, values, truth = _problem(seed=4)
    n, m = truth.shape
    model = cmf.BayesianMatrixFactorization(n_factors=2, n_samples=4, burn_in=1, random_state=0)
    model.fit_triplets(rows, cols, values, shape=(n + 2, m))
    # Drawn, not zero: their prediction is the mean over samples like any other's
    # (test_prediction_is_the_mean_over_kept_samples), while an index outside
    # the shape falls back to the global mean.
    assert np.all(np.abs(model.user_factors_[-2:]).sum(axis=1) > 0)
    assert model.predict(n + 5, 0) == pytest.approx(values.mean())


def test_save_load_round_trip(tmp_path):
    rows, cols, values, truth = _problem(seed=5)
    model = cmf.BayesianMatrixFactorization(n_factors=2, n_samples=7, burn_in=2, keep_every=2,
                                            noise_precision=2.5, random_state=1)
    model.fit_triplets(rows, cols, values, shape=truth.shape)
    path = model.save(tmp_path / "bpmf")
    loaded = cmf.BayesianMatrixFactorization.load(path)
    assert loaded.get_params() == model.get_params()
    r, c = np.indices(truth.shape).reshape(2, -1)
    assert np.array_equal(loaded.predict(r, c), model.predict(r, c))
    np.testing.assert_equal(loaded.history_, model.history_)
    assert np.array_equal(loaded.recommend(0, 5)[0], model.recommend(0, 5)[0])
    # the file names its class: the base class's loader (the command line's) returns this one
    through_base = cmf.MatrixFactorization.load(path)
    assert type(through_base) is cmf.BayesianMatrixFactorization
    assert through_base.get_params() == model.get_params()


def test_fit_ratings_keeps_labels_and_seen_items():
    rows, cols, values, truth = _problem(seed=6)
    users, items = np.array([f"u{i}" for i in rows]), np.array([f"i{j}" for j in cols])
    values = values.astype(np.float32).astype(np.float64)  # a data set may keep its ratings in float32
    model = cmf.BayesianMatrixFactorization(n_factors=2, n_samples=5, burn_in=1, random_state=0)
    model.fit_ratings(RatingDataset.from_labels(users, items, values))
    u, i = model.user_labels_, model.item_labels_
    # The same ratings under labels are the same model on the labels' codes.
    r = np.searchsorted(np.sort(u), users)
    c = np.searchsorted(np.sort(i), items)
    code_r, code_c = np.argsort(u)[r], np.argsort(i)[c]
    assert np.array_equal(u[code_r], users) and np.array_equal(i[code_c], items)
    by_index = cmf.BayesianMatrixFactorization(n_factors=2, n_samples=5, burn_in=1, random_state=0)
    by_index.fit_triplets(code_r, code_c, values, shape=(len(u), len(i)))
    grid_r, grid_c = np.indices((len(u), len(i))).reshape(2, -1)
    assert np.array_equal(model.predict(u[grid_r], i[grid_c]), by_index.predict(grid_r, grid_c))
    recommended, _ = model.recommend(u[0], 50)
    rated = set(items[users == u[0]])
    assert rated.isdisjoint(recommended)


def test_validation_history():
    rows, cols, values, truth = _problem(seed=7)
    r, c = np.nonzero(np.ones(truth.shape, bool))
    model = cmf.BayesianMatrixFactorization(n_factors=3, n_samples=5, burn_in=2, random_state=0)
    model.fit_triplets(rows, cols, values, shape=truth.shape, validation=(r, c, truth[r, c]))
    final = np.sqrt(np.mean((model.predict(r, c) - truth[r, c]) ** 2))
    assert model.history_["val_rmse"][-1] == pytest.approx(final, rel=1e-9)
    assert model.history_["epoch"] == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("params, error, match", [
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(n_samples=10, burn_in=10), ValueError, "burn_in"),
    (dict(burn_in=-1), ValueError, "burn_in"),
    (dict(keep_every=0), ValueError, "keep_every"),
    (dict(n_factors=2.5), TypeError, "n_factors"),
    (dict(noise_precision="high"), ValueError, "noise_precision"),
    (dict(noise_precision=0.0), ValueError, "noise_precision"),
    (dict(noise_precision=float("nan")), ValueError, "noise_precision"),
    (dict(rating_scale=(5, 1)), ValueError, "rating_scale"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(duplicates="first"), ValueError, "duplicates"),
    (dict(rating_scale="1-5"), ValueError, "rating_scale"),
])
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        cmf.BayesianMatrixFactorization(**params).fit_triplets([0, 1], [1, 0], [1.0, 2.0])


def test_bad_input_and_unsupported_methods():
    model = cmf.BayesianMatrixFactorization(n_samples=3, burn_in=1)
    with pytest.raises(ValueError):
        model.fit_triplets([0, 1], [0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        model.fit_triplets([0, 1], [0, 1], [1.0, np.nan])
    with pytest.raises(cmf.NotFittedError):
        model.predict(0, 0)
    model.fit_triplets([0, 1], [1, 0], [1.0, 2.0])
    with pytest.raises(NotImplementedError, match="fit again"):
        model.partial_fit(([0], [0], [1.0]))
    with pytest.raises(NotImplementedError, match="fit again"):
        model.fold_in([0], [3.0])


def test_messages_name_the_class():
    model = cmf.BayesianMatrixFactorization()
    with pytest.raises(cmf.NotFittedError, match="this BayesianMatrixFactorization is not fitted"):
        model.predict(0, 0)
    with pytest.raises(ValueError, match="for BayesianMatrixFactorization; valid:.*'noise_precision'"):
        model.set_params(learning_rate=0.1)
    assert repr(model.set_params(n_samples=50)) == "BayesianMatrixFactorization(n_samples=50)"


def test_verbose_prints_a_line_per_sweep(capsys):
    cmf.BayesianMatrixFactorization(n_samples=3, burn_in=1, noise_precision=2.0, verbose=1).fit_triplets(
        [0, 1, 1], [1, 0, 1], [1.0, 2.0, 3.0])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["sweep", "1"], ["sweep", "2"], ["sweep", "3"]]
    assert all("noise_precision 2 " in line for line in lines)


def test_the_model_file_names_its_class_and_the_base_loader_returns_it(tmp_path):
    from cmf import BPR, BayesianMatrixFactorization, MatrixFactorization

    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 20, 300), rng.integers(0, 15, 300)
    values = rng.integers(1, 6, 300).astype(float)
    bayes = BayesianMatrixFactorization(n_factors=2, n_samples=6, burn_in=2, random_state=0)
    bayes.fit_triplets(rows, cols, values, shape=(20, 15))
    path = bayes.save(tmp_path / "bayes.npz")
    via_base = MatrixFactorization.load(path)  # what the command line calls
    assert type(via_base) is BayesianMatrixFactorization
    np.testing.assert_array_equal(via_base.predict(rows, cols), bayes.predict(rows, cols))
    sgd = MatrixFactorization(n_factors=2, max_epochs=3, tol=0.0, random_state=0)
    with pytest.warns(Warning):
        sgd.fit_triplets(rows, cols, values, shape=(20, 15))
    sgd_path = sgd.save(tmp_path / "sgd.npz")
    assert type(MatrixFactorization.load(sgd_path)) is MatrixFactorization
    with pytest.raises(ValueError, match="holds a MatrixFactorization model.*cmf.MatrixFactorization.load"):
        BayesianMatrixFactorization.load(sgd_path)
    ranker = BPR(n_factors=2, n_epochs=2, random_state=0).fit_pairs(rows, cols, shape=(20, 15))
    bpr_path = ranker.save(tmp_path / "bpr.npz")
    with pytest.raises(ValueError, match="cmf.BPR model file.*load it with cmf.BPR.load"):
        MatrixFactorization.load(bpr_path)
