"""Bad input: a clear exception of the right type, and a fitted model left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import cmf
from cmf._input import _FINITE_CHUNK, all_whole


def _seed(seed_matrix, cells=((0, 1), (2, 4)), marker=np.nan):
    X = seed_matrix.copy()
    for cell in cells:
        X[cell] = marker
    return X


def _bad_fits(seed_matrix):
    """(description, call(model), exception type, key phrase of the message)."""
    M = seed_matrix
    nan_obs = _seed(M, marker=-1.0)
    nan_obs[1, 1] = np.nan  # a NaN among the observed values (sentinel form)
    inf_obs = M.copy()
    inf_obs[3, 3] = np.inf
    return [
        ("NaN observed, sentinel form", lambda m: m.fit(nan_obs, missing=-1), ValueError, "NaN or infinite"),
        ("inf observed, NaN form", lambda m: m.fit(inf_obs), ValueError, "NaN or infinite"),
        ("-inf observed, mask form", lambda m: m.fit(-inf_obs, mask=np.ones(M.shape, bool)), ValueError,
         "NaN or infinite"),
        ("NaN in triplet values", lambda m: m.fit_triplets([0, 1], [0, 1], [1.0, np.nan]), ValueError,
         "NaN or infinite"),
        ("inf in triplet values", lambda m: m.fit_triplets([0, 1], [0, 1], [np.inf, 1.0]), ValueError,
         "NaN or infinite"),
        ("NaN stored in a sparse matrix", lambda m: m.fit(sp.csr_matrix(inf_obs)), ValueError, "NaN or infinite"),
        ("value overflowing float32", lambda m: m.fit_triplets([0], [0], [1e300]), ValueError, "too large"),
        ("row index out of range", lambda m: m.fit_triplets([0, 9], [0, 1], [1.0, 2.0], shape=(4, 5)), ValueError,
         "outside the matrix"),
        ("column index out of range", lambda m: m.fit_triplets([0, 1], [0, 5], [1.0, 2.0], shape=(4, 5)),
         ValueError, "outside the matrix"),
        ("negative row index", lambda m: m.fit_triplets([0, -1], [0, 1], [1.0, 2.0]), ValueError,
         "negative indices"),
        ("negative column index", lambda m: m.fit_triplets([0, 1], [-3, 1], [1.0, 2.0]), ValueError,
         "negative indices"),
        ("mismatched lengths", lambda m: m.fit_triplets([0, 1, 2], [0, 1], [1.0, 2.0]), ValueError,
         "same length"),
        ("float triplet indices", lambda m: m.fit_triplets([0.0, 1.5], [0, 1], [1.0, 2.0]), TypeError,
         "array of integers"),
        ("empty triplets (arrays)", lambda m: m.fit_triplets(np.array([], int), np.array([], int), np.array([])),
         ValueError, "empty"),
        ("empty triplets (lists)", lambda m: m.fit_triplets([], [], []), ValueError, "empty"),
        ("empty matrix", lambda m: m.fit(np.empty((0, 5))), ValueError, "empty"),
        ("empty sparse matrix", lambda m: m.fit(sp.csr_matrix((4, 5))), ValueError, "no stored entries"),
        ("everything NaN", lambda m: m.fit(np.full((4, 5), np.nan)), ValueError, "no observed entries"),
        ("everything masked", lambda m: m.fit(M, mask=np.zeros(M.shape, bool)), ValueError,
         "no observed entries"),
        ("everything the sentinel", lambda m: m.fit(np.full((4, 5), -1), missing=-1), ValueError,
         "no observed entries"),
        ("string matrix", lambda m: m.fit(np.array([["1", "2"], ["3", "4"]])), TypeError, "must hold numbers"),
        ("object matrix", lambda m: m.fit(np.array([[1, 2], [3, None]], dtype=object)), TypeError,
         "must hold numbers"),
        ("boolean matrix", lambda m: m.fit(np.ones((3, 3), dtype=bool)), TypeError, "must hold numbers"),
        ("string triplet values", lambda m: m.fit_triplets([0, 1], [0, 1], ["a", "b"]), TypeError,
         "must hold numbers"),
        ("1-D X", lambda m: m.fit(np.arange(5.0)), ValueError, "2-D matrix"),
        ("3-D X", lambda m: m.fit(np.ones((2, 3, 4))), ValueError, "2-D matrix"),
        ("scalar X", lambda m: m.fit(3.0), ValueError, "2-D matrix"),
        ("mask of the wrong shape", lambda m: m.fit(M, mask=np.ones((5, 4), bool)), ValueError, "mask has shape"),
        ("mask of integers", lambda m: m.fit(M, mask=np.ones(M.shape, int)), TypeError, "boolean array"),
        ("mask with sparse X", lambda m: m.fit(sp.csr_matrix(M), mask=np.ones(M.shape, bool)), ValueError,
         "mask cannot be combined"),
        ("non-scalar missing marker", lambda m: m.fit(M, missing=[1, 2]), TypeError, "scalar marker"),
        ("validation of the wrong shape", lambda m: m.fit(M, validation=np.ones((2, 2))), ValueError,
         "validation matrix has shape"),
        ("validation outside the shape", lambda m: m.fit(M, validation=([9], [0], [1.0])), ValueError,
         "outside the matrix"),
        ("validation of the wrong type", lambda m: m.fit(M, validation=[1, 2, 3]), TypeError,
         "validation must be"),
        ("bad shape", lambda m: m.fit_triplets([0], [0], [1.0], shape=(0, 3)), ValueError, "shape must be positive"),
    ]


BAD_PARAMS = [
    (dict(n_factors=0), ValueError, "n_factors must be >= 1"),
    (dict(n_factors=-2), ValueError, "n_factors must be >= 1"),
    (dict(n_factors=2.5), TypeError, "n_factors must be an integer"),
    (dict(learning_rate=0), ValueError, "learning_rate must be > 0"),
    (dict(learning_rate=-0.1), ValueError, "learning_rate must be > 0"),
    (dict(learning_rate=np.nan), ValueError, "learning_rate must be finite"),
    (dict(learning_rate="fast"), ValueError, "learning_rate must be 'auto' or a number > 0"),
    (dict(learning_rate=[0.1]), TypeError, "learning_rate must be a number"),
    (dict(schedule="adagrad"), ValueError, "schedule must be 'auto', 'constant' or 'bold_driver'"),
    (dict(regularization=-0.01), ValueError, "regularization must be >= 0"),
    (dict(bias_regularization=-1.0), ValueError, "bias_regularization must be >= 0"),
    (dict(max_epochs=0), ValueError, "max_epochs must be >= 1"),
    (dict(tol=-1.0), ValueError, "tol must be >= 0"),
    (dict(n_iter_no_change=0), ValueError, "n_iter_no_change must be >= 1"),
    (dict(init_std=-0.1), ValueError, "init_std must be >= 0"),
    (dict(patience=0), ValueError, "patience must be >= 1"),
    (dict(dtype="int32"), ValueError, "dtype must be 'float32' or 'float64'"),
    (dict(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64'"),
]


def _ids(cases):
    return [case[0] for case in cases]


@pytest.mark.parametrize("index", range(len(_bad_fits(np.zeros((4, 5))))),
                         ids=_ids(_bad_fits(np.zeros((4, 5)))))
def test_bad_data_raises_a_clear_error(seed_matrix, index):
    _, call, exc_type, phrase = _bad_fits(seed_matrix)[index]
    with pytest.raises(exc_type, match=phrase):
        call(cmf.MatrixFactorization(n_factors=2, max_epochs=5))


@pytest.mark.parametrize("params,exc_type,phrase", BAD_PARAMS, ids=[str(p[0]) for p in BAD_PARAMS])
def test_bad_parameters_raise_at_fit(seed_matrix, params, exc_type, phrase):
    model = cmf.MatrixFactorization(**{"max_epochs": 5, **params})
    with pytest.raises(exc_type, match=phrase):
        model.fit(seed_matrix)
    assert not hasattr(model, "user_factors_")


@pytest.fixture
def fitted_seed(seed_matrix, fit_quiet):
    return fit_quiet(cmf.MatrixFactorization(n_factors=2, max_epochs=20, dtype="float32", random_state=0),
                     _seed(seed_matrix))


@pytest.mark.parametrize("index", range(len(_bad_fits(np.zeros((4, 5))))),
                         ids=_ids(_bad_fits(np.zeros((4, 5)))))
def test_failed_fit_leaves_a_fitted_model_unchanged(seed_matrix, fitted_seed, snapshot, assert_same_state, index):
    _, call, exc_type, _ = _bad_fits(seed_matrix)[index]
    before = snapshot(fitted_seed)
    params = fitted_seed.get_params()
    with pytest.raises(exc_type):
        call(fitted_seed)
    assert_same_state(before, snapshot(fitted_seed))
    assert fitted_seed.get_params() == params


@pytest.mark.parametrize("params,exc_type,phrase", BAD_PARAMS[:6], ids=[str(p[0]) for p in BAD_PARAMS[:6]])
def test_failed_fit_from_bad_parameters_leaves_the_model_unchanged(seed_matrix, fitted_seed, snapshot,
                                                                   assert_same_state, params, exc_type, phrase):
    before = snapshot(fitted_seed)
    fitted_seed.set_params(**params)
    with pytest.raises(exc_type, match=phrase):
        fitted_seed.fit(seed_matrix)
    assert_same_state(before, snapshot(fitted_seed))


def test_predict_with_the_wrong_index_dtype_raises(fitted_seed):
    with pytest.raises(TypeError, match="integer indices"):
        fitted_seed.predict(np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(TypeError, match="integer indices"):
        fitted_seed.predict(np.array(["0"]), np.array([0]))


def test_predict_before_fit_raises():
    with pytest.raises(cmf.NotFittedError, match="call fit"):
        cmf.MatrixFactorization().predict(0, 0)
    # It is also a ValueError and an AttributeError, as in scikit-learn.
    assert issubclass(cmf.NotFittedError, ValueError) and issubclass(cmf.NotFittedError, AttributeError)


def test_integer_and_list_inputs_are_accepted(seed_matrix, fit_quiet):
    # Not bad input: plain lists and integer matrices work.
    model = cmf.MatrixFactorization(n_factors=2, max_epochs=5, dtype="float64", random_state=0)
    fit_quiet(model, seed_matrix.astype(int).tolist())
    assert model.shape_ == (4, 5)
    fit_quiet(model, [0, 1, 3], [4, 0, 2], [1, 2, 3], method="fit_triplets")
    assert model.shape_ == (4, 5)  # inferred: one past the largest index


def test_all_finite_checks_every_chunk():
    from cmf._input import _FINITE_CHUNK, all_finite

    n = 2 * _FINITE_CHUNK + 5  # two whole chunks and a short one
    for dtype in (np.float32, np.float64):
        values = np.ones(n, dtype)
        assert all_finite(values)
        for position in (0, _FINITE_CHUNK - 1, _FINITE_CHUNK, n - 1):
            for bad in (np.nan, np.inf, -np.inf):
                broken = values.copy()
                broken[position] = bad
                assert not all_finite(broken), (dtype, position, bad)
    assert all_finite(np.zeros(0))
    assert all_finite(np.array([2**62, -(2**62)], dtype=np.int64))
    with np.errstate(over="ignore"):
        narrowed = np.full(n, 1e300).astype(np.float32)  # inf after the cast
    assert all_finite(np.full(n, 1e300)) and not all_finite(narrowed)


def test_all_whole_checks_every_chunk_without_a_full_size_mask():
    values = np.arange(3 * _FINITE_CHUNK, dtype=np.float64)
    assert all_whole(values) and all_whole(values.astype(np.int32))
    values[-1] += 0.5  # in the last chunk
    assert not all_whole(values)


# A dense fit and a triplet fit in a fresh interpreter; prints the SciPy
# modules loaded afterwards.
_DENSE_FIT = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    import cmf
    warnings.simplefilter("ignore")
    cmf.MatrixFactorization(n_factors=2, max_epochs=3).fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    cmf.MatrixFactorization(n_factors=2, max_epochs=3).fit_triplets([0, 1], [1, 0], [1.0, 2.0])
    print(sorted(name for name in sys.modules if name.split(".")[0] == "scipy"))
""")


def test_a_dense_fit_does_not_import_scipy(tmp_path):
    # Before: telling a sparse X from a dense one imported scipy.sparse,
    # about 0.3 s of a fresh process's first fit of a 4x5 matrix (ten
    # times the fit). No SciPy object can exist before SciPy is imported.
    imported = os.path.dirname(os.path.dirname(os.path.abspath(cmf.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (imported, os.environ.get("PYTHONPATH")) if p)}
    # From a directory no source tree shadows: the cmf under test, not a clone's cmf/ folder.
    done = subprocess.run([sys.executable, "-c", _DENSE_FIT], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_sparse_input_is_still_told_from_dense(seed_matrix):
    X = _seed(seed_matrix)
    dense = cmf.MatrixFactorization(n_factors=2, max_epochs=5, random_state=0)
    sparse = cmf.MatrixFactorization(n_factors=2, max_epochs=5, random_state=0)
    with pytest.warns(cmf.ConvergenceWarning):
        dense.fit(X)
    with pytest.warns(cmf.ConvergenceWarning):
        # Stored entries are the observed ones: the same 18 as X's non-NaN cells.
        rows, cols = np.nonzero(~np.isnan(X))
        sparse.fit(sp.coo_matrix((X[rows, cols], (rows, cols)), shape=X.shape))
    np.testing.assert_array_equal(dense.user_factors_, sparse.user_factors_)
