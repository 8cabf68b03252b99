"""The duplicates policy and the declared rating scale, for every form of training data.

The data rates the pair (0, 0) twice, 1 then 5, and (1, 1) once, 2; the
global mean (the exact mean of the training values) and the fitted rating
scale show what each policy trained on:

- keep / None: three observations, mean 8/3, scale (1, 5)
- last: (0, 0) = 5 and (1, 1) = 2, mean 3.5, scale (2, 5)
- mean: (0, 0) = 3 and (1, 1) = 2, mean 2.5, scale (2, 3)

(SciPy used to sum the repeated entries of a sparse matrix: 6 and 2, mean 4.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import cmf
from cmf._dataset import RatingDataset

ROWS, COLS, VALUES = np.array([0, 1, 0]), np.array([0, 1, 0]), np.array([1.0, 2.0, 5.0])
EXPECTED = {"keep": (8 / 3, (1.0, 5.0)), None: (8 / 3, (1.0, 5.0)), "last": (3.5, (2.0, 5.0)),
            "mean": (2.5, (2.0, 3.0))}


def model(**params) -> cmf.MatrixFactorization:
    return cmf.MatrixFactorization(n_factors=2, max_epochs=2, dtype="float64", random_state=0, **params)


def fit_form(m: cmf.MatrixFactorization, form: str) -> cmf.MatrixFactorization:
    """Fit ``m`` to the data above given in one of the accepted forms."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        if form == "triplets":
            return m.fit_triplets(ROWS, COLS, VALUES)
        if form == "ratings":
            return m.fit_ratings(RatingDataset.from_labels(np.array(["a", "b", "a"]), np.array([10, 20, 10]),
                                                           VALUES))
        coo = sp.coo_matrix((VALUES, (ROWS, COLS)), shape=(2, 2))
        if form == "coo":
            return m.fit(coo)
        # Non-canonical compressed matrices: the repeated entry stored twice.
        csr = sp.csr_matrix((np.array([1.0, 5.0, 2.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
        assert not csr.has_canonical_format
        return m.fit(csr if form == "csr" else csr.T.tocsc().T)


FORMS = ("triplets", "ratings", "coo", "csr", "csc")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("policy", ["keep", "last", "mean"])
def test_each_policy_trains_on_the_expected_ratings_in_every_form(form, policy):
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.exceptions.DuplicateRatingsWarning)
        m = fit_form(model(duplicates=policy), form)
    mean, scale = EXPECTED[policy]
    assert m.global_mean_ == pytest.approx(mean, rel=1e-12)
    assert m.rating_scale_ == scale


@pytest.mark.parametrize("form", FORMS)
def test_the_default_keeps_every_rating_and_warns_once_with_the_count(form):
    with pytest.warns(cmf.exceptions.DuplicateRatingsWarning) as record:
        m = fit_form(model(), form)
    repeats = [w for w in record if issubclass(w.category, cmf.exceptions.DuplicateRatingsWarning)]
    assert len(repeats) == 1
    text = str(repeats[0].message)
    assert text.startswith("1 ratings repeat a (user, item) pair") and "duplicates='keep'" in text
    assert m.global_mean_ == pytest.approx(8 / 3, rel=1e-12)  # not 4: a sparse matrix's repeats are not summed


def test_the_warning_counts_every_repeat_and_is_given_once_per_fit():
    rows, cols = np.array([3, 0, 3, 3, 1, 0]), np.array([2, 1, 2, 2, 1, 1])
    with pytest.warns(cmf.exceptions.DuplicateRatingsWarning, match="^3 ratings repeat") as record:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            model().fit_triplets(rows, cols, np.arange(6.0))
    assert sum(issubclass(w.category, cmf.exceptions.DuplicateRatingsWarning) for w in record) == 1


def test_data_without_repeats_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model().fit_triplets(np.array([1, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("form,position", [("triplets", 2), ("coo", 1), ("csr", 1)])
def test_error_names_the_first_repeat_by_index_and_the_count(form, position):
    # The position is in the order given; a sparse matrix's entries in row-major order.
    with pytest.raises(ValueError, match=rf"1 ratings repeat .* position {position} \(row 0, column 0\).*duplicates="):
        fit_form(model(duplicates="error"), form)


def test_error_names_the_repeat_by_label():
    with pytest.raises(ValueError, match=r"position 2 \(user 'a', item 10\)"):
        fit_form(model(duplicates="error"), "ratings")


def test_last_and_mean_keep_the_input_order_of_what_remains():
    # With shuffle=False the entries are visited in the order given, so the
    # fit equals a fit to the deduplicated data written by hand.
    rows, cols, values = np.array([2, 0, 1, 0, 2]), np.array([1, 0, 1, 0, 1]), np.array([4.0, 1.0, 3.0, 2.0, 5.0])
    by_hand = {"last": ([1, 0, 2], [1, 0, 1], [3.0, 2.0, 5.0]), "mean": ([2, 0, 1], [1, 0, 1], [4.5, 1.5, 3.0])}
    for policy, (r, c, v) in by_hand.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            got = model(duplicates=policy, shuffle=False).fit_triplets(rows, cols, values)
            want = model(shuffle=False).fit_triplets(np.array(r), np.array(c), np.array(v))
        np.testing.assert_array_equal(got.user_factors_, want.user_factors_)
        np.testing.assert_array_equal(got.item_bias_, want.item_bias_)


def test_partial_fit_applies_the_policy_within_the_new_batch():
    base = RatingDataset.from_labels(np.array(["a", "b"]), np.array([10, 20]), np.array([4.0, 2.0]))
    batch = (np.array(["a", "c", "c"]), np.array([10, 20, 20]), np.array([3.0, 1.0, 5.0]))
    merged = (np.array(["a", "c"]), np.array([10, 20]), np.array([3.0, 3.0]))

    def fitted(**params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cmf.ConvergenceWarning)
            return model(**params).fit_ratings(base)

    # ("a", 10) was rated in the first fit: not a repeat within the batch.
    with pytest.warns(cmf.exceptions.DuplicateRatingsWarning, match="^1 ratings repeat"):
        fitted().partial_fit(batch, epochs=1)
    with pytest.raises(ValueError, match=r"position 2 \(user 'c', item 20\)"):
        fitted(duplicates="error").partial_fit(batch, epochs=1)
    got = fitted(duplicates="mean").partial_fit(batch, epochs=1)
    want = fitted(duplicates="error").partial_fit(merged, epochs=1)
    np.testing.assert_array_equal(got.user_factors_, want.user_factors_)
    assert got.rating_scale_ == want.rating_scale_ == (2.0, 4.0)  # the mean 3 lies inside
    assert fitted(duplicates="keep").partial_fit(batch, epochs=1).rating_scale_ == (1.0, 5.0)  # widened


def test_validation_data_may_repeat_pairs():
    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.exceptions.DuplicateRatingsWarning)
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        model(duplicates="error").fit_triplets(np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]),
                                               validation=(ROWS, COLS, VALUES))


# ---------------------------------------------------------------- rating scale
def test_a_rating_outside_the_declared_scale_is_an_error_naming_it():
    values = np.array([1.0, 5.0, 6.0, 0.5])
    with pytest.raises(ValueError, match=r"position 2 \(row 0, column 1\) is 6, outside rating_scale=\(1, 5\) "
                                         r"\(1 more lie outside\)"):
        model(rating_scale=(1, 5)).fit_triplets(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), values)
    data = RatingDataset.from_labels(np.array(["a", "b"]), np.array(["x", "y"]), np.array([3.0, -3.0]))
    with pytest.raises(ValueError, match=r"position 1 \(user 'b', item 'y'\) is -3, outside rating_scale"):
        model(rating_scale=(1, 5)).fit_ratings(data)


def test_the_declared_scale_is_the_fitted_one():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        m = model(rating_scale=(0.5, 5)).fit_triplets(np.array([0, 1]), np.array([1, 0]), np.array([2.0, 3.0]))
    assert m.rating_scale_ == (0.5, 5.0)


@pytest.mark.parametrize("scale", [(5, 1), (3, 3), (1,), (1, 2, 3), "15", 5, (1, np.nan), (1, np.inf)])
def test_an_invalid_rating_scale_is_refused_before_fitting(scale):
    with pytest.raises((ValueError, TypeError), match="rating_scale"):
        model(rating_scale=scale).fit_triplets(np.array([0]), np.array([0]), np.array([2.0]))


def test_an_invalid_duplicates_policy_is_refused():
    with pytest.raises(ValueError, match="duplicates must be None, 'keep', 'last', 'mean' or 'error', got 'first'"):
        model(duplicates="first").fit_triplets(np.array([0]), np.array([0]), np.array([2.0]))
