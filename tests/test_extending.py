"""A third-party Cython extension can cimport cmf's kernel and run an epoch.

The consumer is compiled here, against the installed cmf, in a temporary
folder: it cimports the cdef functions declared in ``cmf/_kernels.pxd``,
which reach the C core through the C-API capsule of ``cmf._kernels``, so it
is built with no library to link; ``cmf.get_include()`` on its include path
gives it the structs of ``cmf.h`` that those functions take.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import cmf
from cmf import _kernels
from cmf._train import state as _training
from cmf._input import as_triplets
from cmf._reference import reference_epoch
from cmf.exceptions import ConvergenceWarning

CONSUMER_PYX = textwrap.dedent(
    """
    # cython: language_level=3, boundscheck=False, wraparound=False
    from libc.stdint cimport int32_t, int64_t
    from cmf._libcmf cimport (
        cmf_params, cmf_model_f32, cmf_model_f64, cmf_triplets_f32, cmf_triplets_f64)
    from cmf._kernels cimport (
        default_params, sgd_epoch_f32, sgd_epoch_f64, predict_f64, status_message)


    cdef cmf_params hyper(double lr, double reg, double reg_b, bint biased) noexcept nogil:
        cdef cmf_params params = default_params()
        params.learning_rate = lr
        params.regularization = reg
        params.bias_regularization = reg_b
        params.update_biases = biased
        return params


    cdef cmf_model_f64 model_f64(const double[:, ::1] P, const double[:, ::1] Q,
                                 const double[::1] b, const double[::1] c, double mu):
        cdef cmf_model_f64 model
        model.n_rows = <int32_t>P.shape[0]
        model.n_cols = <int32_t>Q.shape[0]
        model.n_factors = <int32_t>P.shape[1]
        model.row_factors = <double *>&P[0, 0]
        model.col_factors = <double *>&Q[0, 0]
        model.row_bias = <double *>&b[0]
        model.col_bias = <double *>&c[0]
        model.global_mean = mu
        model.row_adagrad = NULL
        model.col_adagrad = NULL
        return model


    def epoch_f64(const int32_t[::1] rows, const int32_t[::1] cols,
                  const double[::1] values, double[:, ::1] P,
                  double[:, ::1] Q, double[::1] b, double[::1] c, double mu,
                  double lr, double reg, double reg_b,
                  const int64_t[::1] order):
        cdef double sse = 0.0
        cdef int status
        cdef cmf_params params = hyper(lr, reg, reg_b, True)
        cdef cmf_model_f64 model = model_f64(P, Q, b, c, mu)
        cdef cmf_triplets_f64 data
        data.rows = &rows[0]
        data.cols = &cols[0]
        data.values = &values[0]
        data.n = values.shape[0]
        data.weights = NULL
        with nogil:
            status = sgd_epoch_f64(&params, &model, &data, &order[0], order.shape[0], &sse)
        return status, sse


    def epoch_f32_unbiased(const int32_t[::1] rows, const int32_t[::1] cols,
                           const float[::1] values, float[:, ::1] P,
                           float[:, ::1] Q, double lr, double reg):
        cdef double sse = 0.0
        cdef int status
        cdef cmf_params params = hyper(lr, reg, 0.0, False)
        cdef cmf_model_f32 model
        cdef cmf_triplets_f32 data
        model.n_rows = <int32_t>P.shape[0]
        model.n_cols = <int32_t>Q.shape[0]
        model.n_factors = <int32_t>P.shape[1]
        model.row_factors = &P[0, 0]
        model.col_factors = &Q[0, 0]
        model.row_bias = NULL
        model.col_bias = NULL
        model.global_mean = 0.0
        model.row_adagrad = NULL
        model.col_adagrad = NULL
        data.rows = &rows[0]
        data.cols = &cols[0]
        data.values = &values[0]
        data.n = values.shape[0]
        data.weights = NULL
        with nogil:
            status = sgd_epoch_f32(&params, &model, &data, NULL, 0, &sse)
        return status, sse


    def predict(const int32_t[::1] rows, const int32_t[::1] cols,
                const double[:, ::1] P, const double[:, ::1] Q,
                const double[::1] b, const double[::1] c, double mu,
                double[::1] out):
        cdef int status
        cdef cmf_model_f64 model = model_f64(P, Q, b, c, mu)
        with nogil:
            status = predict_f64(&model, &rows[0], &cols[0], rows.shape[0], &out[0])
        return status


    def message(int status):
        return status_message(status).decode("ascii")
    """
)

CONSUMER_SETUP = textwrap.dedent(
    """
    import cmf
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    # The header declares the structs; no libraries: the capsule is enough.
    setup(ext_modules=cythonize([Extension("cmf_consumer", ["cmf_consumer.pyx"],
                                           include_dirs=[cmf.get_include()])]))
    """
)


def _skip_reason() -> str | None:
    """Why the consumer cannot be built here, or None if it can."""
    for module in ("Cython", "setuptools"):
        if importlib.util.find_spec(module) is None:
            return f"building a consumer extension needs {module}: pip install {module}"
    if sys.platform != "win32":
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(compiler) is None:
            return f"no C compiler ({compiler!r}) on PATH to build a consumer extension"
    return None


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory):
    """Build the consumer extension in a temporary folder and import it."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("consumer")
    (folder / "cmf_consumer.pyx").write_text(CONSUMER_PYX)
    (folder / "setup.py").write_text(CONSUMER_SETUP)
    # Run from the temporary folder so that only the installed cmf (its
    # .pxd files on sys.path) can satisfy the cimport.
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=folder, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the consumer failed:\n{proc.stdout}\n{proc.stderr}")
    generated = (folder / "cmf_consumer.c").read_text()
    spec = importlib.util.spec_from_file_location(
        "cmf_consumer", next(folder.glob("cmf_consumer*" + sysconfig.get_config_var("EXT_SUFFIX")))
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, generated


def _problem(dtype, seed=0, n_rows=7, n_cols=5, k=3, n=40):
    """Random triplets covering every row and column, and a random model."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([np.arange(n_rows), rng.integers(0, n_rows, n - n_rows)]).astype(np.int32)
    cols = np.concatenate([rng.permutation(n_cols), rng.integers(0, n_cols, n - n_cols)])[:n].astype(np.int32)
    values = rng.normal(3.0, 1.0, n).astype(dtype)
    P = (0.1 * rng.standard_normal((n_rows, k))).astype(dtype)
    Q = (0.1 * rng.standard_normal((n_cols, k))).astype(dtype)
    b = (0.1 * rng.standard_normal(n_rows)).astype(dtype)
    c = (0.1 * rng.standard_normal(n_cols)).astype(dtype)
    order = rng.permutation(n).astype(np.int64)
    return rows, cols, values, P, Q, b, c, order


def test_consumer_reaches_the_kernel_through_the_capsule(consumer):
    _, generated = consumer
    assert '#include "cmf.h"' in generated  # the structs, from cmf.get_include()
    assert "PyCapsule" in generated or "__Pyx_ImportFunction" in generated


def test_consumer_epoch_matches_kernels_and_reference(consumer):
    module, _ = consumer
    rows, cols, values, P, Q, b, c, order = _problem(np.float64)
    ours = [a.copy() for a in (P, Q, b, c)]
    theirs = [a.copy() for a in (P, Q, b, c)]
    spec = [a.copy() for a in (P, Q, b, c)]
    status, sse = module.epoch_f64(rows, cols, values, *theirs, 3.0, 0.05, 0.1, 0.02, order)
    assert status == 0
    sse_kernels = _kernels.Model(*ours, 3.0).epoch(
        _kernels.Params(learning_rate=0.05, regularization=0.1, bias_regularization=0.02),
        _kernels.Entries(rows, cols, values), order)
    sse_reference = reference_epoch(rows, cols, values, *spec, 3.0, learning_rate=0.05, regularization=0.1,
                                    bias_regularization=0.02, order=order)
    assert sse == sse_kernels
    for got, expected, reference in zip(theirs, ours, spec):
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-14)
    assert sse == pytest.approx(sse_reference, rel=1e-12)


def test_consumer_float32_unbiased_epoch_matches_kernels(consumer):
    module, _ = consumer
    rows, cols, values, P, Q, *_ = _problem(np.float32, seed=1)
    P2, Q2 = P.copy(), Q.copy()
    status, sse = module.epoch_f32_unbiased(rows, cols, values, P, Q, 0.05, 0.1)
    assert status == 0
    expected = _kernels.Model(P2, Q2).epoch(
        _kernels.Params(learning_rate=0.05, regularization=0.1, update_biases=False),
        _kernels.Entries(rows, cols, values))
    assert sse == expected
    np.testing.assert_array_equal(P, P2)
    np.testing.assert_array_equal(Q, Q2)


def test_consumer_epoch_equals_one_epoch_of_the_estimator(consumer):
    module, _ = consumer
    rows, cols, values, *_ = _problem(np.float64, seed=2)
    shape = (7, 5)
    model = cmf.MatrixFactorization(
        n_factors=3, learning_rate=0.05, regularization=0.1, bias_regularization=0.02,
        max_epochs=1, shuffle=False, dtype="float64", random_state=11,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit_triplets(rows, cols, values, shape=shape)
    # The estimator's starting point, drawn from the same seed.
    data = as_triplets(rows, cols, values, shape=shape, dtype=np.float64)
    start = _training.initial_state(data, model._config(), np.random.default_rng(11))
    P, Q, b, c = start.P.copy(), start.Q.copy(), start.b.copy(), start.c.copy()
    order = np.arange(len(values), dtype=np.int64)
    status, _ = module.epoch_f64(data.rows, data.cols, data.values, P, Q, b, c, start.mu,
                                 0.05, 0.1, 0.02, order)
    assert status == 0
    np.testing.assert_array_equal(P, model.user_factors_)
    np.testing.assert_array_equal(Q, model.item_factors_)
    np.testing.assert_array_equal(b, model.user_bias_)
    np.testing.assert_array_equal(c, model.item_bias_)


def test_consumer_predict_and_status_codes(consumer):
    module, _ = consumer
    rows, cols, values, P, Q, b, c, order = _problem(np.float64, seed=3)
    pairs_r = np.array([0, 6, 7, -1], dtype=np.int32)   # 7 and -1 are unknown rows
    pairs_c = np.array([4, 0, 1, 9], dtype=np.int32)     # 9 is an unknown column
    out = np.empty(4)
    assert module.predict(pairs_r, pairs_c, P, Q, b, c, 2.5, out) == 0
    expected = np.empty(4)
    _kernels.Model(P, Q, b, c, 2.5).predict(pairs_r, pairs_c, expected)
    np.testing.assert_array_equal(out, expected)
    assert out[0] == pytest.approx(2.5 + b[0] + c[4] + P[0] @ Q[4], rel=1e-14)
    assert out[2] == pytest.approx(2.5 + c[1], rel=1e-14)
    assert out[3] == 2.5

    bad_rows = rows.copy()
    bad_rows[5] = 7  # one row past the model
    status, _ = module.epoch_f64(bad_rows, cols, values, P, Q, b, c, 3.0, 0.05, 0.1, 0.02, order)
    assert status == 3
    assert "index" in module.message(status)
    status, _ = module.epoch_f64(rows, cols, values, P, Q, b, c, 3.0, -1.0, 0.1, 0.02, order)
    assert status == 2
    assert "learning_rate" in module.message(status)
    assert module.message(99) == "unknown cmf status"
