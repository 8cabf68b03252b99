"""The training pipeline with LIBMF's other losses, sample weights, L1 and non-negative factors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import cmf
from cmf._input import as_triplets
from cmf._reference import LOSSES, reference_epoch, reference_loss
from cmf._train.config import training_config
from cmf._train.loop import train
from cmf._train.objective import entry_losses, root_mean
from cmf._train.probe import ProbeLoss
from cmf._train.state import FactorState, initial_state


def config(**params):
    """A TrainingConfig from the estimator's defaults and ``params`` (the loss options included)."""
    base = cmf.MatrixFactorization(dtype="float64", n_factors=4, max_epochs=3, n_threads=1).get_params()
    return training_config({**base, **params})


def sign_matrix(n_rows=60, n_cols=50, rank=3, fraction=0.5, seed=0):
    """Observed cells of sign(U V^T), a +1/-1 matrix of rank ``rank``."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, rank)) @ rng.standard_normal((rank, n_cols))
    rows, cols = np.nonzero(rng.random(scores.shape) < fraction)
    return rows, cols, np.sign(scores[rows, cols]), (n_rows, n_cols)


def positive_matrix(n_rows=60, n_cols=50, rank=3, fraction=0.5, seed=1):
    """Observed cells of W H with W, H uniform on [0, 1]: a positive matrix of rank ``rank``."""
    rng = np.random.default_rng(seed)
    full = rng.random((n_rows, rank)) @ rng.random((rank, n_cols))
    rows, cols = np.nonzero(rng.random(full.shape) < fraction)
    return rows, cols, full[rows, cols], (n_rows, n_cols)


def data(rows, cols, values, shape, weights=None, dtype=np.float64):
    triplets = as_triplets(rows, cols, values, shape=shape, dtype=dtype)
    return triplets if weights is None else replace(triplets, weights=np.asarray(weights, dtype))


def predictions(state: FactorState, rows, cols) -> np.ndarray:
    """r_hat in NumPy, from the fitted state."""
    P, Q = state.P.astype(np.float64), state.Q.astype(np.float64)
    return state.mu + state.b[rows] + state.c[cols] + np.einsum("ij,ij->i", P[rows], Q[cols])


@pytest.mark.parametrize("params,message", [
    (dict(loss="l2"), "loss must be one of 'squared', 'absolute', 'kl', 'logistic', 'hinge', 'squared_hinge'"),
    (dict(loss="kl"), "nonnegative=True"),
    (dict(loss="kl", nonnegative=True), "biased=False"),
    (dict(loss="hinge", adaptive=True), "adaptive=False"),
    (dict(l1=0.1, adaptive=True), "adaptive=False"),
    (dict(nonnegative=True, adaptive=True), "adaptive=False"),
    (dict(l1=-0.5), "l1 must be >= 0"),
])
def test_bad_loss_options_are_refused_with_the_fix(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        config(**params)


def test_the_loss_options_default_to_off_when_the_estimator_lacks_them():
    params = cmf.MatrixFactorization().get_params()
    for name in ("loss", "l1", "nonnegative"):
        params.pop(name, None)
    c = training_config(params)
    assert (c.loss, c.l1, c.nonnegative, c.fixed_mean) == ("squared", 0.0, False, False)


def test_adaptive_with_sample_weights_is_refused():
    rows, cols, values, shape = sign_matrix()
    with pytest.raises(ValueError, match="sample weights"):
        train(data(rows, cols, values, shape, np.ones(len(values))), None, config(adaptive=True), 0)


def test_initial_state_of_kl_and_classification_losses():
    rows, cols, values, shape = positive_matrix()
    triplets = data(rows, cols, values, shape)
    plain = initial_state(triplets, config(biased=False), np.random.default_rng(3))
    kl = initial_state(triplets, config(loss="kl", nonnegative=True, biased=False), np.random.default_rng(3))
    # The same draws, folded to >= 0.
    np.testing.assert_array_equal(kl.P, np.abs(plain.P))
    np.testing.assert_array_equal(kl.Q, np.abs(plain.Q))
    assert kl.mu == 0.0 and kl.P.min() >= 0
    assert initial_state(triplets, config(), np.random.default_rng(3)).mu == pytest.approx(values.mean(), rel=1e-15)
    for loss in ("logistic", "hinge", "squared_hinge"):
        assert initial_state(triplets, config(loss=loss), np.random.default_rng(3)).mu == 0.0


@pytest.mark.parametrize("blocking", [True, False])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_weights_of_one_train_exactly_as_no_weights(blocking, loss):
    rows, cols, values, shape = sign_matrix()
    c = config(loss=loss, blocking=blocking, n_threads=2)
    plain = train(data(rows, cols, values, shape), None, c, 5).state
    ones = train(data(rows, cols, values, shape, np.ones(len(values))), None, c, 5).state
    for a, b in zip((plain.P, plain.Q, plain.b, plain.c), (ones.P, ones.Q, ones.b, ones.c)):
        np.testing.assert_array_equal(a, b)
    halves = train(data(rows, cols, values, shape, np.full(len(values), 0.5)), None, c, 5).state
    assert not np.array_equal(plain.P, halves.P)  # the weights reach the epochs


@pytest.mark.parametrize("loss", ["absolute", "logistic", "squared_hinge"])
def test_blocked_fits_are_bit_identical_at_one_and_two_threads(loss):
    rows, cols, values, shape = sign_matrix(n_rows=300, n_cols=200, fraction=0.3)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(values))
    fits = [train(data(rows, cols, values, shape, weights), None,
                  config(loss=loss, l1=0.01, blocking="machine", n_threads=n, max_epochs=4), 9).state
            for n in (1, 2)]
    for a, b in zip((fits[0].P, fits[0].Q, fits[0].b, fits[0].c), (fits[1].P, fits[1].Q, fits[1].b, fits[1].c)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_objective_is_the_loss_sum_plus_l2_plus_l1(loss):
    # One epoch in stored order at a constant step, against the reference
    # epoch from the same initial state and the penalty summed in NumPy.
    rows, cols, values, shape = positive_matrix() if loss in ("squared", "absolute", "kl") else sign_matrix()
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(values))
    options = dict(nonnegative=True, biased=False) if loss == "kl" else {}
    c = config(loss=loss, l1=0.05, shuffle=False, blocking=False, learning_rate=0.02, schedule="constant",
               max_epochs=1, **options)
    triplets = data(rows, cols, values, shape, weights)
    result = train(triplets, None, c, 4)
    start = initial_state(triplets, c, np.random.default_rng(4))
    P, Q, b, bc = start.P.copy(), start.Q.copy(), start.b.copy(), start.c.copy()
    total = reference_epoch(triplets.rows, triplets.cols, values, P, Q, b if c.biased else None,
                            bc if c.biased else None, start.mu, learning_rate=0.02, regularization=c.regularization,
                            bias_regularization=c.bias_regularization, loss=loss, weights=weights, l1=0.05,
                            nonnegative=c.nonnegative)
    state = result.state
    np.testing.assert_allclose(state.P, P, rtol=0, atol=1e-12)
    n_u = np.bincount(rows, minlength=shape[0]).astype(float)
    n_i = np.bincount(cols, minlength=shape[1]).astype(float)
    l2 = c.regularization * (n_u @ (P ** 2).sum(1) + n_i @ (Q ** 2).sum(1))
    if c.biased:
        l2 += c.bias_regularization * (n_u @ b ** 2 + n_i @ bc ** 2)
    l1 = 0.05 * (n_u @ np.abs(P).sum(1) + n_i @ np.abs(Q).sum(1))
    assert result.history["train_loss"][0] == pytest.approx(total + l2 + l1, rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_entry_losses_and_the_probe_use_the_chosen_loss(loss):
    rng = np.random.default_rng(5)
    values = rng.choice([-1.0, 1.0], 50) if loss in ("logistic", "hinge", "squared_hinge") else rng.uniform(0, 3, 50)
    pred = rng.uniform(0.1, 3.0, 50) * (1 if loss == "kl" else rng.choice([-1, 1], 50))
    want = [reference_loss(loss, r, p)[1] for r, p in zip(values, pred)]
    np.testing.assert_allclose(entry_losses(loss, values, pred), want, rtol=1e-13, atol=1e-15)
    # The probe: the weighted sum over the model's predictions, scaled up to all entries.
    rows, cols = np.arange(50, dtype=np.int32) % 10, np.arange(50, dtype=np.int32) // 10
    P, Q = rng.uniform(0.1, 1, (10, 3)), rng.uniform(0.1, 1, (5, 3))
    state = FactorState(P, Q, np.zeros(10), np.zeros(5), 0.0)
    weights = rng.uniform(0.5, 2, 50)
    probe = ProbeLoss(state, data(rows, cols, values, (10, 5), weights), 200)
    probe.loss = loss
    r_hat = predictions(state, rows, cols)
    expected = 4.0 * sum(w * reference_loss(loss, r, p)[1] for w, r, p in zip(weights, values, r_hat))
    assert probe() == pytest.approx(expected, rel=1e-12)


def classification_accuracy(loss):
    rows, cols, values, shape = sign_matrix()
    c = config(loss=loss, n_factors=8, max_epochs=150, learning_rate=0.05, regularization=0.01,
               schedule="constant", tol=0.0)
    state = train(data(rows, cols, values, shape), None, c, 0).state
    return float(np.mean(np.sign(predictions(state, rows, cols)) == values))


@pytest.mark.parametrize("loss", ["logistic", "hinge", "squared_hinge"])
def test_classification_losses_fit_a_low_rank_sign_matrix(loss):
    # sign(U V^T) with U V^T of rank 3: a rank-8 model separates the
    # training cells; chance is about 0.5.
    assert classification_accuracy(loss) >= 0.95


def test_absolute_loss_fits_a_low_rank_matrix_with_outliers():
    rows, cols, values, shape = positive_matrix()
    noisy = values.copy()
    noisy[::10] += 20.0  # gross outliers on a tenth of the entries
    clean = np.ones(len(values), bool)
    clean[::10] = False
    errors = {}
    for loss in ("absolute", "squared"):
        c = config(loss=loss, n_factors=6, max_epochs=200, learning_rate=0.01, regularization=0.001,
                   schedule="constant", tol=0.0)
        state = train(data(rows, cols, noisy, shape), None, c, 0).state
        errors[loss] = np.median(np.abs(predictions(state, rows, cols) - values)[clean])
    # The outliers did not drag the absolute-loss fit: its median error on
    # the clean entries is a fraction of a constant's (the median's), and
    # far below the squared loss's on the same data.
    assert errors["absolute"] < 0.25 * np.median(np.abs(values - np.median(values)))
    assert errors["absolute"] < 0.25 * errors["squared"]


def test_kl_fits_a_positive_low_rank_matrix():
    rows, cols, values, shape = positive_matrix()
    c = config(loss="kl", nonnegative=True, biased=False, n_factors=6, max_epochs=150, learning_rate=0.02,
               regularization=0.001, schedule="constant", tol=0.0, init_std=0.5)
    result = train(data(rows, cols, values, shape), None, c, 0)
    state = result.state
    assert state.P.min() >= 0 and state.Q.min() >= 0 and state.mu == 0.0
    pred = predictions(state, rows, cols)
    divergence = sum(reference_loss("kl", r, p)[1] for r, p in zip(values, pred))
    # Against the best constant prediction (the mean), in the same units.
    constant = sum(reference_loss("kl", r, values.mean())[1] for r in values)
    assert divergence < 0.01 * constant


def test_distributed_fit_refuses_the_options_it_does_not_implement(monkeypatch):
    pytest.importorskip("distributed")
    import cmf.dask

    model = cmf.MatrixFactorization()
    params = model.get_params()
    for extra in (dict(loss="logistic"), dict(l1=0.1), dict(nonnegative=True)):
        monkeypatch.setattr(model, "get_params", lambda deep=True, extra=extra: {**params, **extra})
        with pytest.raises(ValueError, match="squared loss only"):
            cmf.dask.fit(model, np.zeros((0, 3)))


@pytest.mark.filterwarnings("ignore:training stopped at max_epochs")
@pytest.mark.parametrize("loss, weighted", [("logistic", True), ("hinge", False), ("absolute", True),
                                            ("squared", True)])
def test_early_stopping_watches_the_validation_loss(loss, weighted):
    # val_rmse under another loss or with weights is the root of the mean
    # (weighted) loss per held-out entry, as train_rmse is: recomputed here
    # in NumPy from the fitted factors.
    rows, cols, values, shape = sign_matrix(seed=4)
    if loss in ("absolute", "squared"):
        values = values + 3.0
    rng = np.random.default_rng(5)
    held = rng.random(len(rows)) < 0.2
    weights = rng.uniform(0.5, 2.0, int(held.sum())) if weighted else None
    validation = (rows[held], cols[held], values[held]) + ((weights,) if weighted else ())
    model = cmf.MatrixFactorization(n_factors=3, loss=loss, learning_rate=0.02, max_epochs=4, tol=0,
                                    dtype="float64", random_state=0)
    model.fit_triplets(rows[~held], cols[~held], values[~held], shape=shape, validation=validation)
    P, Q = model.user_factors_, model.item_factors_
    pred = np.einsum("ij,ij->i", P[rows[held]], Q[cols[held]]) + model.global_mean_
    pred += model.user_bias_[rows[held]] + model.item_bias_[cols[held]]
    r = values[held]
    ell = {"logistic": np.log1p(np.exp(-r * pred)), "hinge": np.maximum(0.0, 1.0 - r * pred),
           "absolute": np.abs(r - pred), "squared": (r - pred) ** 2}[loss]
    if weighted:
        ell = ell * weights
    assert model.history_["val_rmse"][-1] == pytest.approx(np.sqrt(ell.mean()), rel=1e-10)


def test_root_mean_is_numpys_square_root_of_the_mean_bit_for_bit():
    # train_rmse is math.sqrt of the mean: the same bits as NumPy's square
    # root, which it replaced, including NaN, infinity and, with NumPy's
    # warning, a mean rounded below zero.
    rng = np.random.default_rng(0)
    totals = [0.0, 1.0, 2.0, 1e-300, 1e300, np.inf, np.nan, *rng.uniform(0, 1e6, 200), *rng.lognormal(0, 20, 200)]
    for total in totals:
        for n in (1, 3, 80000, 10**9):
            expected = float(np.sqrt(total / n))
            got = root_mean(float(total), n)
            assert type(got) is float
            assert np.array_equal(np.float64(got), np.float64(expected), equal_nan=True), (total, n)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(root_mean(-1e-17, 5))
