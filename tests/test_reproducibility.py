"""Seeds, hyperparameters and equivalent input forms."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np
import pytest
import scipy.sparse as sp


def test_same_seed_gives_bitwise_identical_fits(small_low_rank, make_model, fit_quiet, snapshot, assert_same_state):
    a = fit_quiet(make_model(random_state=123), small_low_rank.X)
    b = fit_quiet(make_model(random_state=123), small_low_rank.X)
    assert_same_state(snapshot(a), snapshot(b), ignore_seconds=True)


def test_refit_of_the_same_object_is_identical(small_low_rank, make_model, fit_quiet, snapshot, assert_same_state):
    model = make_model(random_state=9)
    first = snapshot(fit_quiet(model, small_low_rank.X))
    assert_same_state(first, snapshot(fit_quiet(model, small_low_rank.X)), ignore_seconds=True)


def test_different_seeds_give_different_factors(small_low_rank, make_model, fit_quiet):
    a = fit_quiet(make_model(random_state=1), small_low_rank.X)
    b = fit_quiet(make_model(random_state=2), small_low_rank.X)
    assert not np.array_equal(a.user_factors_, b.user_factors_)
    assert not np.array_equal(a.item_factors_, b.item_factors_)
    assert a.history_["train_loss"] != b.history_["train_loss"]


def test_generator_seed_equals_integer_seed(small_low_rank, make_model, fit_quiet):
    a = fit_quiet(make_model(random_state=5), small_low_rank.X)
    b = fit_quiet(make_model(random_state=np.random.default_rng(5)), small_low_rank.X)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


# Each change is large enough to matter but keeps the run short.
CHANGES = [
    ("n_factors", 2),
    ("learning_rate", 0.03),
    ("regularization", 0.2),
    ("bias_regularization", 0.5),
    ("max_epochs", 5),
    ("tol", 0.01),
    ("n_iter_no_change", 1),
    ("init_std", 0.3),
    ("biased", False),
    ("shuffle", False),
    ("dtype", "float32"),
    ("random_state", 1),
]


def _signature(model):
    """Everything a hyperparameter could change, in comparable form."""
    return (
        model.user_factors_.shape, str(model.user_factors_.dtype), model.n_epochs_,
        model.user_factors_.astype(np.float64).round(12).tobytes(),
        model.item_factors_.astype(np.float64).round(12).tobytes(),
        model.user_bias_.astype(np.float64).round(12).tobytes(),
        float(model.global_mean_),
    )


@pytest.mark.parametrize("name,value", CHANGES, ids=[c[0] for c in CHANGES])
def test_every_hyperparameter_changes_the_result(small_low_rank, make_model, fit_quiet, name, value):
    # A base run that converges by tol well before max_epochs, so that the
    # stopping parameters have something to change.
    base_params = dict(max_epochs=200, tol=1e-3)
    base = fit_quiet(make_model(**base_params), small_low_rank.X)
    assert base.converged_ and base.n_epochs_ < 200
    changed_model = make_model(**{**base_params, name: value})
    assert getattr(changed_model, name) == value
    changed = fit_quiet(changed_model, small_low_rank.X)
    assert _signature(changed) != _signature(base)


def test_max_epochs_and_tol_change_the_number_of_epochs(small_low_rank, make_model, fit_quiet):
    base = fit_quiet(make_model(max_epochs=200, tol=1e-3), small_low_rank.X)
    assert base.converged_
    assert fit_quiet(make_model(max_epochs=5, tol=1e-3), small_low_rank.X).n_epochs_ == 5
    assert fit_quiet(make_model(max_epochs=200, tol=1e-2), small_low_rank.X).n_epochs_ < base.n_epochs_
    assert fit_quiet(make_model(max_epochs=200, tol=1e-3, n_iter_no_change=1), small_low_rank.X).n_epochs_ < \
        base.n_epochs_


def test_biased_false_has_no_mean_or_biases(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(biased=False), small_low_rank.X)
    assert model.global_mean_ == 0.0
    assert not model.user_bias_.any() and not model.item_bias_.any()
    rows, cols = np.array([0, 3]), np.array([1, 2])
    np.testing.assert_allclose(
        model.predict(rows, cols), np.einsum("ij,ij->i", model.user_factors_[rows], model.item_factors_[cols]),
        rtol=1e-12,
    )


def test_patience_changes_the_result(small_low_rank, make_model, fit_quiet):
    rows, cols, values = small_low_rank.triplets(observed=False)
    validation = (rows, cols, values)
    X = small_low_rank.X
    # Overfitting settings, so the validation RMSE turns up and patience acts.
    params = dict(n_factors=10, regularization=0.0, learning_rate=0.05, max_epochs=200, tol=0.0,
                  n_iter_no_change=200)
    short = fit_quiet(make_model(patience=1, **params), X, validation=validation)
    long = fit_quiet(make_model(patience=20, **params), X, validation=validation)
    assert short.n_epochs_ < long.n_epochs_


def test_verbose_prints_one_line_per_epoch(small_low_rank, make_model, fit_quiet):
    out = io.StringIO()
    with redirect_stdout(out):
        model = fit_quiet(make_model(verbose=1, max_epochs=4, tol=0.0), small_low_rank.X)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    assert len(lines) == model.n_epochs_ == 4
    silent = io.StringIO()
    with redirect_stdout(silent):
        fit_quiet(make_model(max_epochs=4), small_low_rank.X)
    assert silent.getvalue() == ""


@pytest.mark.parametrize("shuffle", [True, False])
def test_mask_fit_equals_triplet_fit_of_the_observed_cells(small_low_rank, make_model, fit_quiet, snapshot,
                                                           assert_same_state, shuffle):
    X = small_low_rank.noisy
    mask = small_low_rank.observed
    by_mask = fit_quiet(make_model(shuffle=shuffle), X, mask=mask)
    rows, cols = np.nonzero(mask)  # row-major, as the dense path orders them
    by_triplets = fit_quiet(make_model(shuffle=shuffle), rows, cols, X[rows, cols], shape=X.shape,
                            method="fit_triplets")
    assert_same_state(snapshot(by_mask), snapshot(by_triplets), ignore_seconds=True)


def test_sparse_fit_equals_dense_fit(small_low_rank, make_model, fit_quiet, snapshot, assert_same_state):
    rows, cols, values = small_low_rank.triplets()
    dense = fit_quiet(make_model(), small_low_rank.X)
    for matrix in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array):
        # Shuffled triplets: the sparse path must restore row-major order.
        perm = np.random.default_rng(0).permutation(len(values))
        S = matrix((values[perm], (rows[perm], cols[perm])), shape=small_low_rank.X.shape)
        assert_same_state(snapshot(dense), snapshot(fit_quiet(make_model(), S)), ignore_seconds=True)


def test_sparse_explicit_zeros_are_observed(make_model, fit_quiet, snapshot, assert_same_state, seed_matrix):
    X = seed_matrix.copy()
    X[1, :] = 0.0  # a row of genuine zeros
    observed = np.ones(X.shape, dtype=bool)
    observed[0, 1] = observed[2, 4] = False
    rows, cols = np.nonzero(observed)
    S = sp.csr_matrix((X[rows, cols], (rows, cols)), shape=X.shape)
    assert S.nnz == observed.sum()  # the zeros are stored
    by_sparse = fit_quiet(make_model(n_factors=2), S)
    by_mask = fit_quiet(make_model(n_factors=2), X, mask=observed)
    assert_same_state(snapshot(by_sparse), snapshot(by_mask), ignore_seconds=True)


def test_memory_layout_and_byte_order_do_not_change_the_fit(small_low_rank, make_model, fit_quiet, snapshot,
                                                            assert_same_state):
    X = small_low_rank.X
    base = snapshot(fit_quiet(make_model(), X))
    for variant in (np.asfortranarray(X), X.astype(">f8"), np.repeat(X, 2, axis=1)[:, ::2]):
        assert_same_state(base, snapshot(fit_quiet(make_model(), variant)), ignore_seconds=True)
    rows, cols, values = small_low_rank.triplets()
    strided = (np.repeat(rows, 2)[::2], np.repeat(cols, 2)[::2], np.repeat(values, 2)[::2])
    assert not strided[0].flags.c_contiguous or strided[0].base is not None
    by_triplets = fit_quiet(make_model(), *strided, shape=X.shape, method="fit_triplets")
    assert_same_state(base, snapshot(by_triplets), ignore_seconds=True)
