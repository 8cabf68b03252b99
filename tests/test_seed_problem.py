"""The seed question, told as tests, and one regression test per bug of its SGD.

A hand-written SGD factorization fitted the full 4x5 matrix but never
converged once some entries were unknown (marked -1 and filtered with a
``NonNegative`` predicate). With cmf the same matrix, with 0, 2 or 5
unknown cells in any of the accepted marking forms, converges within
``max_epochs`` to a training RMSE far below 0.05, without a
ConvergenceWarning, and the cells treated as unknown are exactly the ones
given.

The second half pins each bug of the seed's hand-written SGD: every test is
named after the bug it pins and checks the kernel (or the fitted model)
against a hand-computed value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._input import to_triplets

SEED_PARAMS = dict(
    n_factors=2, learning_rate=0.05, regularization=0.001, max_epochs=20000, tol=1e-5,
    dtype="float64", random_state=0,
)

# Chosen by hand, not at random: with five unknowns row 0 loses three of its
# five entries, the hardest case that still leaves every row and column seen.
UNKNOWN_CELLS = {
    0: [],
    2: [(0, 1), (2, 4)],
    5: [(0, 0), (0, 1), (0, 2), (1, 3), (3, 4)],
}


def NonNegative(x):  # noqa: N802 - the seed's own name
    """The seed's predicate: a cell is set when it is non-negative."""
    return x >= 0


def flat_to_cell(index: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Row-major flat index to (row, column): what the seed meant to compute."""
    return index // shape[1], index % shape[1]


def seed_flat_to_cell(index: int, shape: tuple[int, int]) -> tuple[int, int]:
    """The seed's version: the column is taken modulo the number of ROWS."""
    return index // shape[1], index % shape[0]


def marked(truth: np.ndarray, cells: list[tuple[int, int]], form: str):
    """The matrix with ``cells`` unknown, and the fit keywords of ``form``."""
    X = truth.copy()
    unknown = np.zeros(truth.shape, dtype=bool)
    for cell in cells:
        unknown[cell] = True
    if form == "nan":
        X[unknown] = np.nan
        return X, {}
    if form == "sentinel":
        X[unknown] = -1
        return X, {"missing": -1}
    if form == "mask":
        X[unknown] = 123.0  # any value: the mask alone decides
        return X, {"mask": ~unknown}
    if form == "predicate":
        X[unknown] = -1
        return X, {"mask": NonNegative}
    raise AssertionError(form)


def observed_rmse(model: cmf.MatrixFactorization, truth: np.ndarray, unknown: list) -> float:
    """RMSE of model.predict against the observed cells of ``truth``."""
    observed = np.ones(truth.shape, dtype=bool)
    for cell in unknown:
        observed[cell] = False
    rows, cols = np.nonzero(observed)
    err = model.predict(rows, cols) - truth[rows, cols]
    return float(np.sqrt(np.mean(err**2)))


def test_seed_index_formula_misplaces_cells(seed_matrix):
    # The seed's j = index % n_rows sends flat index 7 of a 4x5 matrix to
    # column 7 % 4 = 3 instead of 7 % 5 = 2, and flat index 4 to (0, 4 % 4)
    # = (0, 0), the cell of flat index 0, instead of (0, 4): by hand, row
    # i = k // 5 and column j = k % 5. cmf, given the matrix with flat cells
    # 4, 7 and 19 unknown (numpy's row-major .flat), leaves out (0, 4),
    # (1, 2) and (3, 4), and flat_to_cell (used below) agrees.
    shape = (4, 5)
    assert [flat_to_cell(k, shape) for k in (0, 4, 7, 19)] == [(0, 0), (0, 4), (1, 2), (3, 4)]
    assert [seed_flat_to_cell(k, shape) for k in (0, 4, 7, 19)] == [(0, 0), (0, 0), (1, 3), (3, 3)]
    X = seed_matrix.copy()
    X.flat[[4, 7, 19]] = np.nan
    data = to_triplets(X, dtype=np.float64)
    left_out = {(i, j) for i in range(4) for j in range(5)} - set(zip(data.rows.tolist(), data.cols.tolist()))
    assert left_out == {(0, 4), (1, 2), (3, 4)}


@pytest.mark.parametrize("form", ["nan", "sentinel", "mask", "predicate"])
@pytest.mark.parametrize("n_unknown", sorted(UNKNOWN_CELLS))
def test_seed_matrix_converges(seed_matrix, n_unknown, form):
    cells = UNKNOWN_CELLS[n_unknown]
    X, kwargs = marked(seed_matrix, cells, form)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.ConvergenceWarning)
        model = cmf.MatrixFactorization(**SEED_PARAMS).fit(X, **kwargs)
    assert model.converged_
    assert model.n_epochs_ < SEED_PARAMS["max_epochs"]
    assert len(model.history_["train_loss"]) == model.n_epochs_
    assert observed_rmse(model, seed_matrix, cells) < 0.05
    # The loss fell: the last epoch's is a small fraction of the first's.
    assert model.history_["train_loss"][-1] < 0.05 * model.history_["train_loss"][0]


@pytest.mark.parametrize("form", ["nan", "sentinel", "mask", "predicate"])
@pytest.mark.parametrize("n_unknown", sorted(UNKNOWN_CELLS))
def test_unknown_cells_are_exactly_the_given_ones(seed_matrix, n_unknown, form):
    cells = UNKNOWN_CELLS[n_unknown]
    X, kwargs = marked(seed_matrix, cells, form)
    data = to_triplets(X, dtype=np.float64, **kwargs)
    seen = set(zip(data.rows.tolist(), data.cols.tolist()))
    everything = {(i, j) for i in range(4) for j in range(5)}
    assert everything - seen == set(cells)
    assert len(seen) == len(data)  # no cell counted twice
    np.testing.assert_array_equal(data.values, seed_matrix[data.rows, data.cols])


@pytest.mark.parametrize("form", ["nan", "sentinel", "mask", "predicate"])
def test_complete_changes_exactly_the_unknown_cells(seed_matrix, form):
    cells = UNKNOWN_CELLS[5]
    X, kwargs = marked(seed_matrix, cells, form)
    model = cmf.MatrixFactorization(**SEED_PARAMS).fit(X, **kwargs)
    filled = model.complete(X, **kwargs)
    changed = {tuple(int(v) for v in cell) for cell in np.argwhere(~(filled == X))}
    assert changed == set(cells)
    for cell in cells:
        assert filled[cell] == pytest.approx(model.predict(*cell, clip=False), abs=0)  # complete does not clip


def test_random_unknowns_placed_with_the_correct_formula(seed_matrix):
    # The seed's experiment, done right: n distinct random flat indices,
    # converted row-major, are exactly the cells the model leaves out.
    rng = np.random.default_rng(2024)
    shape = seed_matrix.shape
    for n_unknown in (2, 5):
        flat = rng.choice(seed_matrix.size, size=n_unknown, replace=False)
        cells = [flat_to_cell(int(k), shape) for k in flat]
        X, kwargs = marked(seed_matrix, cells, "sentinel")
        data = to_triplets(X, dtype=np.float64, **kwargs)
        seen = set(zip(data.rows.tolist(), data.cols.tolist()))
        assert {(i, j) for i in range(4) for j in range(5)} - seen == set(cells)


def test_two_unknowns_are_filled_close_to_the_truth(seed_matrix):
    # Rows 0 and 2 are identical, so the two hidden 1s are well determined.
    cells = UNKNOWN_CELLS[2]
    X, _ = marked(seed_matrix, cells, "nan")
    model = cmf.MatrixFactorization(**SEED_PARAMS).fit(X)
    for cell in cells:
        assert model.predict(*cell) == pytest.approx(seed_matrix[cell], abs=0.3)


def AlwaysTrue(x):  # noqa: N802 - the seed's own name
    """The seed's other predicate: every cell is set (returns a scalar)."""
    return True


def is_set(x):
    """A predicate written for single values only: ``if`` on an array fails."""
    if x >= 0:
        return True
    return False


def test_scalar_only_predicates_work_cell_by_cell(seed_matrix):
    X, _ = marked(seed_matrix, UNKNOWN_CELLS[2], "sentinel")
    data = to_triplets(X, mask=is_set, dtype=np.float64)
    assert len(data) == 18
    assert {(i, j) for i in range(4) for j in range(5)} - set(zip(data.rows.tolist(), data.cols.tolist())) == \
        set(UNKNOWN_CELLS[2])
    full = to_triplets(seed_matrix, mask=AlwaysTrue, dtype=np.float64)
    assert len(full) == 20


@pytest.mark.parametrize("nan", [np.nan, float("nan"), np.float32("nan"), np.float64("nan")])
def test_every_nan_flavour_marks_missing(seed_matrix, nan):
    X, _ = marked(seed_matrix, UNKNOWN_CELLS[5], "nan")
    data = to_triplets(X, missing=nan, dtype=np.float64)
    assert len(data) == 15


@pytest.mark.parametrize("n_unknown", sorted(UNKNOWN_CELLS))
def test_seed_matrix_converges_for_many_seeds_in_float32(seed_matrix, n_unknown):
    # With SGD's noisy per-epoch loss, some starting points cross a saddle
    # plateau around epoch 40 (training RMSE about 0.13) where five epochs
    # in a row show no progress; with the default n_iter_no_change=5, seeds
    # 0, 5 and 7 of this range stop there (for some of the unknown sets).
    # Twenty epochs of patience carry every seed through to a real minimum,
    # in the default float32.
    cells = UNKNOWN_CELLS[n_unknown]
    X, _ = marked(seed_matrix, cells, "nan")
    params = dict(SEED_PARAMS, dtype="float32", n_iter_no_change=20)
    for seed in range(10):
        with warnings.catch_warnings():
            warnings.simplefilter("error", cmf.ConvergenceWarning)
            model = cmf.MatrixFactorization(**dict(params, random_state=seed)).fit(X)
        assert model.converged_
        assert observed_rmse(model, seed_matrix, cells) < 0.05, f"random_state={seed}"


def regularized_minimum(X: np.ndarray, k: int, reg: float, reg_b: float) -> tuple[float, np.ndarray]:
    """The minimum of the documented objective over X's known cells, by L-BFGS (SciPy), independent of cmf.

    Returns the objective's value and the completed matrix, best of three
    starts: sum over known (u, i) of (x_ui - mu - b_u - c_i - p_u . q_i)^2
    + reg (|p_u|^2 + |q_i|^2) + reg_b (b_u^2 + c_i^2), mu the mean of the known cells.
    """
    from scipy.optimize import minimize

    known = ~np.isnan(X)
    Xz = np.where(known, X, 0.0)
    n_u, n_i = known.sum(1), known.sum(0)
    m, n = X.shape
    mu = X[known].mean()

    def unpack(theta):
        return theta[:m * k].reshape(m, k), theta[m * k:(m + n) * k].reshape(n, k), theta[-m - n:-n], theta[-n:]

    def f(theta):
        P, Q, b, c = unpack(theta)
        full = mu + b[:, None] + c[None, :] + P @ Q.T
        E = np.where(known, Xz - full, 0.0)
        value = (E**2).sum() + reg * (n_u @ (P**2).sum(1) + n_i @ (Q**2).sum(1)) + reg_b * (n_u @ b**2 + n_i @ c**2)
        grad = np.concatenate([(-2 * E @ Q + 2 * reg * n_u[:, None] * P).ravel(),
                               (-2 * E.T @ P + 2 * reg * n_i[:, None] * Q).ravel(),
                               -2 * E.sum(1) + 2 * reg_b * n_u * b, -2 * E.sum(0) + 2 * reg_b * n_i * c])
        return value, grad

    best = min((minimize(f, np.random.default_rng(s).normal(0, 0.1, (m + n) * (k + 1)), jac=True,
                         method="L-BFGS-B", options=dict(maxiter=20000, gtol=1e-10)) for s in range(3)),
               key=lambda r: r.fun)
    P, Q, b, c = unpack(best.x)
    return float(best.fun), mu + b[:, None] + c[None, :] + P @ Q.T


@pytest.mark.parametrize("n_factors", [1, 2, 3, 4, 5])
def test_the_defaults_converge_on_the_seed_matrix_in_every_form(seed_matrix, n_factors):
    # No hyperparameter but n_factors: the bold driver finds the step. The
    # fit must say it converged, warn of nothing, give the same model in
    # every marking form, and land at the objective's minimum: within 2% of
    # the value L-BFGS finds, and its completion within 0.15 of L-BFGS's.
    cells = UNKNOWN_CELLS[2]
    models = []
    for form in ("nan", "sentinel", "mask", "predicate"):
        X, kwargs = marked(seed_matrix, cells, form)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            models.append(cmf.MatrixFactorization(n_factors=n_factors, random_state=0).fit(X, **kwargs))
        assert models[-1].converged_, form
    for other in models[1:]:
        np.testing.assert_array_equal(other.user_factors_, models[0].user_factors_)
        np.testing.assert_array_equal(other.item_bias_, models[0].item_bias_)
    model = models[0]
    X, _ = marked(seed_matrix, cells, "nan")
    reg, reg_b = model.regularization, model.bias_regularization
    minimum, completion = regularized_minimum(X, n_factors, reg, reg_b)
    P, Q = model.user_factors_.astype(np.float64), model.item_factors_.astype(np.float64)
    b, c = model.user_bias_.astype(np.float64), model.item_bias_.astype(np.float64)
    full = model.global_mean_ + b[:, None] + c[None, :] + P @ Q.T
    known = ~np.isnan(X)
    E = np.where(known, np.nan_to_num(X) - full, 0.0)
    n_u, n_i = known.sum(1), known.sum(0)
    value = (E**2).sum() + reg * (n_u @ (P**2).sum(1) + n_i @ (Q**2).sum(1)) + reg_b * (n_u @ b**2 + n_i @ c**2)
    assert value <= 1.02 * minimum
    assert np.abs(full - completion).max() < 0.15


# ----------------------------------------------------------------------
# The seed's bugs, one test each
# ----------------------------------------------------------------------
def one_update(P, Q, b, c, mu, u, i, r, lr, reg, reg_b, biased=True):
    """Run the C kernel on the single entry (u, i, r), in place; return the SSE."""
    return _kernels.Model(P, Q, b if biased else None, c if biased else None, mu).epoch(
        _kernels.Params(learning_rate=lr, regularization=reg, bias_regularization=reg_b, update_biases=biased),
        _kernels.Entries(np.array([u], np.int32), np.array([i], np.int32), np.array([r], P.dtype)),
    )


def test_bias_update_changes_only_b_u_and_c_i():
    # Seed bug: ``f1b -= alpha * (...)`` updated the WHOLE bias vector.
    # By hand, for the entry (u, i) = (1, 3) with p = (0.5, 1), q = (2, -0.5),
    # b_u = 0.25, c_i = -0.5, mu = 2.5, r = 4, lr = 0.1, reg = 0.05,
    # reg_b = 0.02: p.q = 1 - 0.5 = 0.5, prediction 2.5 + 0.25 - 0.5 + 0.5 =
    # 2.75, e = 1.25;
    # b_u' = 0.25 + 0.1 (1.25 - 0.02 * 0.25) = 0.25 + 0.1245 = 0.3745,
    # c_i' = -0.5 + 0.1 (1.25 + 0.02 * 0.5) = -0.5 + 0.126 = -0.374,
    # p' = p + 0.1 (1.25 q - 0.05 p) = p + 0.1 (2.475, -0.675) = (0.7475, 0.9325),
    # q' = q + 0.1 (1.25 p - 0.05 q) = q + 0.1 (0.525, 1.275) = (2.0525, -0.3725).
    rng = np.random.default_rng(3)
    P, Q = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    b, c = rng.standard_normal(4), rng.standard_normal(5)
    u, i = 1, 3
    P[u], Q[i], b[u], c[i] = (0.5, 1.0), (2.0, -0.5), 0.25, -0.5
    P0, Q0, b0, c0 = P.copy(), Q.copy(), b.copy(), c.copy()
    one_update(P, Q, b, c, 2.5, u, i, 4.0, 0.1, 0.05, 0.02)

    assert b[u] == pytest.approx(0.3745, rel=1e-14)
    assert c[i] == pytest.approx(-0.374, rel=1e-14)
    np.testing.assert_allclose(P[u], [0.7475, 0.9325], rtol=1e-14)
    np.testing.assert_allclose(Q[i], [2.0525, -0.3725], rtol=1e-14)
    others_b, others_c = np.arange(4) != u, np.arange(5) != i
    np.testing.assert_array_equal(b[others_b], b0[others_b])
    np.testing.assert_array_equal(c[others_c], c0[others_c])
    np.testing.assert_array_equal(P[others_b], P0[others_b])
    np.testing.assert_array_equal(Q[others_c], Q0[others_c])


def test_regularisation_shrinks_factors_when_error_is_zero():
    # Seed bug: the penalty entered with the wrong sign, so with e = 0 the
    # factors GREW by (1 + lr*reg). Dyadic values make e exactly 0:
    # mu + b + c + p.q = 0.25 + 0.5 - 0.25 + (1*0.5 + 0.5*2) = 2.0. Only the
    # penalty acts, by hand: factors times 1 - lr*reg = 1 - 0.1*0.2 = 0.98,
    # p = (1, 0.5) -> (0.98, 0.49), q = (0.5, 2) -> (0.49, 1.96); biases
    # times 1 - lr*reg_b = 1 - 0.1*0.3 = 0.97, b = 0.5 -> 0.485,
    # c = -0.25 -> -0.2425. The seed's sign would give p = (1.02, 0.51).
    P = np.array([[9.0, 9.0], [1.0, 0.5]])
    Q = np.array([[0.5, 2.0], [7.0, 7.0]])
    b, c = np.array([3.0, 0.5]), np.array([-0.25, 1.0])
    mu, lr, reg, reg_b = 0.25, 0.1, 0.2, 0.3
    sse = one_update(P, Q, b, c, mu, 1, 0, 2.0, lr, reg, reg_b)
    assert sse == 0.0
    np.testing.assert_allclose(P[1], [0.98, 0.49], rtol=1e-15)
    np.testing.assert_allclose(Q[0], [0.49, 1.96], rtol=1e-15)
    assert b[1] == pytest.approx(0.485, rel=1e-15)
    assert c[0] == pytest.approx(-0.2425, rel=1e-15)


@pytest.mark.parametrize("biased", [True, False])
def test_regularisation_sign_positive_penalty_shrinks_norm_over_an_epoch(biased):
    # A whole epoch with zero error: entries on the diagonal touch distinct
    # rows and columns, and each value equals the current prediction
    # (dyadic numbers, so every sum is exact). Only the penalty acts, and it
    # must shrink every factor row by 1 - lr*reg = 1 - 0.05*0.4 = 0.98 (by
    # hand), never grow it.
    rng = np.random.default_rng(11)
    n, k = 6, 3
    P = rng.integers(-4, 5, (n, k)) / 4.0
    Q = rng.integers(-4, 5, (n, k)) / 4.0
    b = rng.integers(-4, 5, n) / 4.0
    c = rng.integers(-4, 5, n) / 4.0
    mu = 0.5 if biased else 0.0
    values = np.einsum("ij,ij->i", P, Q) + mu + ((b + c) if biased else 0.0)
    P0, Q0 = P.copy(), Q.copy()
    idx = np.arange(n, dtype=np.int32)
    lr, reg = 0.05, 0.4
    sse = _kernels.Model(P, Q, b if biased else None, c if biased else None, mu).epoch(
        _kernels.Params(learning_rate=lr, regularization=reg, bias_regularization=0.1, update_biases=biased),
        _kernels.Entries(idx, idx, values))
    assert sse == 0.0
    np.testing.assert_allclose(P, 0.98 * P0, rtol=1e-15)
    np.testing.assert_allclose(Q, 0.98 * Q0, rtol=1e-15)


def test_item_update_uses_old_user_vector():
    # Seed bug: f2w was updated with the f1w just written. By hand, with
    # p = (1, 2), q = (3, -1), r = 2, no biases, lr = 0.1, reg = 0:
    # e = 2 - (3 - 2) = 1; p' = p + 0.1 q = (1.3, 1.9);
    # q' = q + 0.1 p = (3.1, -0.8), the buggy q' = q + 0.1 p' = (3.13, -0.81).
    P = np.array([[1.0, 2.0]])
    Q = np.array([[3.0, -1.0]])
    sse = one_update(P, Q, None, None, 0.0, 0, 0, 2.0, 0.1, 0.0, 0.0, biased=False)
    assert sse == 1.0
    np.testing.assert_allclose(P[0], [1.3, 1.9], rtol=1e-15)
    np.testing.assert_allclose(Q[0], [3.1, -0.8], rtol=1e-15)
    buggy = np.array([3.13, -0.81])
    assert np.max(np.abs(Q[0] - buggy)) > 0.005


def test_item_update_uses_old_user_vector_with_penalty_and_biases():
    # The same with every term active, by hand: p = (0.5, -1, 2),
    # q = (1.5, 0.25, -0.5), b = 0.2, c = -0.1, mu = 3, r = 4.5, lr = 0.07,
    # reg = 0.11, reg_b = 0.05. p.q = 0.75 - 0.25 - 1 = -0.5, prediction
    # 3 + 0.2 - 0.1 - 0.5 = 2.6, e = 1.9.
    # p' = p + 0.07 (1.9 q - 0.11 p) = p + 0.07 (2.795, 0.585, -1.17)
    #    = (0.69565, -0.95905, 1.9181);
    # q' = q + 0.07 (1.9 p - 0.11 q) = q + 0.07 (0.785, -1.9275, 3.855)
    #    = (1.55495, 0.115075, -0.23015);
    # the seed's q' = q + 0.07 (1.9 p' - 0.11 q) = q + 0.07 (1.156735, -1.849695, 3.69939)
    #    = (1.58097145, 0.12052135, -0.2410427);
    # b' = 0.2 + 0.07 (1.9 - 0.05 * 0.2) = 0.3323, c' = -0.1 + 0.07 (1.9 + 0.05 * 0.1) = 0.03335.
    P = np.array([[0.5, -1.0, 2.0]])
    Q = np.array([[1.5, 0.25, -0.5]])
    b, c = np.array([0.2]), np.array([-0.1])
    one_update(P, Q, b, c, 3.0, 0, 0, 4.5, 0.07, 0.11, 0.05)
    np.testing.assert_allclose(P[0], [0.69565, -0.95905, 1.9181], rtol=1e-14)
    np.testing.assert_allclose(Q[0], [1.55495, 0.115075, -0.23015], rtol=1e-14)
    assert not np.allclose(Q[0], [1.58097145, 0.12052135, -0.2410427], rtol=1e-6, atol=0)
    np.testing.assert_allclose([b[0], c[0]], [0.3323, 0.03335], rtol=1e-14)


def _fit(X, **kwargs):
    params = dict(n_factors=2, learning_rate=0.05, regularization=0.01, max_epochs=200, tol=1e-6,
                  dtype="float64", random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(**params).fit(X, **kwargs)


def _same_model(a, b):
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.global_mean_ == b.global_mean_
    assert a.history_["train_loss"] == b.history_["train_loss"]
    assert a.n_epochs_ == b.n_epochs_


def test_cost_ignores_unknown_cells(seed_matrix):
    # Seed bug: cost() summed (prediction - matrix)^2 over ALL cells,
    # including the -1 placeholders. Here the unknown cells' content must
    # not matter at all, in any marking form.
    unknown = np.zeros(seed_matrix.shape, dtype=bool)
    unknown[0, 1] = unknown[2, 4] = unknown[3, 0] = True

    X_nan = np.where(unknown, np.nan, seed_matrix)
    X_minus1 = np.where(unknown, -1.0, seed_matrix)
    X_minus7 = np.where(unknown, -7.0, seed_matrix)
    reference = _fit(X_nan)
    _same_model(reference, _fit(X_minus1, missing=-1))
    _same_model(reference, _fit(X_minus7, missing=-7.0))
    for filler in (0.0, 1e6, -3.5):
        X_masked = np.where(unknown, filler, seed_matrix)
        _same_model(reference, _fit(X_masked, mask=~unknown))
    # Sanity: the data does matter when an OBSERVED cell changes.
    X_other = X_nan.copy()
    X_other[1, 1] += 1.0
    assert not np.array_equal(_fit(X_other).user_factors_, reference.user_factors_)


def test_cost_is_the_objective_over_observed_entries_only(seed_matrix):
    # The first epoch's loss, recomputed independently: the reference epoch
    # over the observed entries (stored order, no shuffle) from the model's
    # initial state, plus the penalty summed per observed entry.
    from cmf._input import to_triplets
    from cmf._reference import reference_epoch
    from cmf._train.config import TrainingConfig
    from cmf._train.state import initial_state

    X = seed_matrix.copy()
    X[0, 1] = X[2, 4] = np.nan
    lr, reg, reg_b = 0.05, 0.01, 0.02
    model = cmf.MatrixFactorization(n_factors=2, learning_rate=lr, regularization=reg, bias_regularization=reg_b,
                                    max_epochs=1, shuffle=False, dtype="float64", random_state=5)
    with pytest.warns(cmf.ConvergenceWarning):
        model.fit(X)

    data = to_triplets(X, dtype=np.float64)
    config = TrainingConfig(n_factors=2, learning_rate=lr, regularization=reg, bias_regularization=reg_b,
                            max_epochs=1, tol=1e-4, n_iter_no_change=5, init_std=0.1, biased=True,
                            shuffle=False, patience=None, dtype=np.dtype(np.float64))
    state = initial_state(data, config, np.random.default_rng(5))
    sse = reference_epoch(data.rows, data.cols, data.values, state.P, state.Q, state.b, state.c, state.mu,
                          learning_rate=lr, regularization=reg, bias_regularization=reg_b)
    r, cc = data.rows, data.cols
    penalty = sum(
        reg * (state.P[u] @ state.P[u] + state.Q[i] @ state.Q[i]) + reg_b * (state.b[u] ** 2 + state.c[i] ** 2)
        for u, i in zip(r, cc)
    )
    assert state.mu == pytest.approx(np.nanmean(X), rel=1e-15)
    assert model.history_["train_loss"][0] == pytest.approx(sse + penalty, rel=1e-12)
    assert model.history_["train_rmse"][0] == pytest.approx(np.sqrt(sse / 18), rel=1e-12)
    np.testing.assert_allclose(model.user_factors_, state.P, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.item_factors_, state.Q, rtol=0, atol=1e-12)
