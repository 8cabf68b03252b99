# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin bindings to the C core in ``src_c/``.

Each function checks shapes and contiguity (the memoryview types do most of
it), releases the GIL around the C call and turns the C status code into a
named Python exception. Everything else (validation of user input, shuffling,
convergence) lives in the plain Python modules.
"""
from cython cimport floating
from libc.stdint cimport int32_t, int64_t, uint16_t, uint64_t

from cmf._libcmf cimport (
    cmf_status, cmf_strerror, cmf_params, cmf_model_f32, cmf_model_f64,
    cmf_triplets_f32, cmf_triplets_f64, cmf_sgd_epoch_f32, cmf_sgd_epoch_f64,
    cmf_predict_f32, cmf_predict_f64, CMF_OK, CMF_ERR_NULL_POINTER,
    CMF_ERR_INVALID_PARAMETER, CMF_ERR_INDEX_OUT_OF_RANGE, CMF_ERR_NON_FINITE,
    CMF_MAX_BLOCK_SIZE, cmf_blocked_f32, cmf_blocked_f64, cmf_n_blocks,
    cmf_partition_f32, cmf_partition_f64, cmf_block_order, cmf_sgd_blocks_f32,
    cmf_sgd_blocks_f64, cmf_sgd_blocks_keyed_f32, cmf_sgd_blocks_keyed_f64,
    cmf_simd_variant, cmf_default_params,
)

from cmf.exceptions import DivergenceError


cdef object _raise_for_status(cmf_status status):
    """Map a C status code to its own Python exception."""
    message = cmf_strerror(status).decode("ascii")
    if status == CMF_ERR_NON_FINITE:
        raise DivergenceError(message)
    if status == CMF_ERR_INDEX_OUT_OF_RANGE:
        raise IndexError(message)
    if status == CMF_ERR_INVALID_PARAMETER:
        raise ValueError(message)
    if status == CMF_ERR_NULL_POINTER:
        raise ValueError(message + " (an array is missing)")
    raise RuntimeError(message)


cdef int _check_model_shapes(Py_ssize_t k, Py_ssize_t q_k,
                             Py_ssize_t row_bias_len, Py_ssize_t n_rows,
                             Py_ssize_t col_bias_len, Py_ssize_t n_cols,
                             bint update_biases) except -1:
    """Check the factor and bias shapes agree; a bias length of -1 is None."""
    if k < 1 or q_k != k:
        raise ValueError(
            f"row_factors and col_factors must have the same number of "
            f"columns >= 1, got {k} and {q_k}")
    if update_biases and (row_bias_len < 0 or col_bias_len < 0):
        raise ValueError("update_biases needs row_bias and col_bias arrays")
    if row_bias_len >= 0 and row_bias_len != n_rows:
        raise ValueError(f"row_bias has length {row_bias_len}, expected {n_rows}")
    if col_bias_len >= 0 and col_bias_len != n_cols:
        raise ValueError(f"col_bias has length {col_bias_len}, expected {n_cols}")
    if n_rows > 2147483647 or n_cols > 2147483647 or k > 2147483647:
        # The C structs hold these sizes as int32_t: refuse, never wrap.
        raise ValueError("at most 2**31 - 1 rows, columns and factors are supported")
    return 0


cdef int _check_adagrad(bint adaptive, Py_ssize_t row_len, Py_ssize_t n_rows,
                        Py_ssize_t col_len, Py_ssize_t n_cols) except -1:
    """Check the AdaGrad accumulators; a length of -1 is None."""
    if not adaptive:
        return 0
    if row_len != 2 * n_rows or col_len != 2 * n_cols:
        raise ValueError(
            f"adaptive needs row_adagrad of length 2 * n_rows = {2 * n_rows} and col_adagrad of "
            f"length 2 * n_cols = {2 * n_cols}, got {row_len} and {col_len}")
    return 0


def sgd_epoch(const int32_t[::1] rows not None,
              const int32_t[::1] cols not None,
              const floating[::1] values not None,
              floating[:, ::1] row_factors not None,
              floating[:, ::1] col_factors not None,
              floating[::1] row_bias,
              floating[::1] col_bias,
              double global_mean,
              double learning_rate,
              double regularization,
              double bias_regularization,
              bint update_biases,
              const int64_t[::1] order=None,
              bint adaptive=False,
              floating[::1] row_adagrad=None,
              floating[::1] col_adagrad=None):
    """Run one SGD pass in place and return the sum of squared errors.

    Parameters
    ----------
    rows, cols : ndarray of int32, shape (n,)
        Row and column index of each observed entry.
    values : ndarray of float32 or float64, shape (n,)
        Observed values, in the same dtype as the factors.
    row_factors, col_factors : ndarray, shapes (n_rows, k) and (n_cols, k)
        Factor matrices, C-contiguous, updated in place.
    row_bias, col_bias : ndarray, shapes (n_rows,) and (n_cols,), or None
        Biases, updated in place when ``update_biases``; None allowed
        otherwise.
    global_mean : float
        Constant offset of every prediction.
    learning_rate, regularization, bias_regularization : float
        Step size and L2 penalties (see ``cmf.h``).
    update_biases : bool
        Whether the biases take part in the model.
    order : ndarray of int64, shape (n_order,), optional
        Indices into the triplets giving the visiting order; None visits
        them in stored order.
    adaptive : bool, default False
        AdaGrad step sizes (see ``cmf_params.adaptive`` in ``cmf.h``).
    row_adagrad, col_adagrad : ndarray, shapes (2 * n_rows,) and (2 * n_cols,)
        The AdaGrad accumulators (start at 1), updated in place; required
        when ``adaptive``.

    Returns
    -------
    float
        Sum over the visited entries of the squared error before each update.

    Raises
    ------
    DivergenceError
        If the sum of squared errors is not finite.
    IndexError
        If an index lies outside the factors or the triplets.
    ValueError
        For inconsistent shapes or invalid hyperparameters.
    """
    cdef Py_ssize_t n = values.shape[0]
    if rows.shape[0] != n or cols.shape[0] != n:
        raise ValueError(
            f"rows, cols and values must have the same length, got "
            f"{rows.shape[0]}, {cols.shape[0]} and {n}")
    _check_model_shapes(row_factors.shape[1], col_factors.shape[1],
                        -1 if row_bias is None else row_bias.shape[0],
                        row_factors.shape[0],
                        -1 if col_bias is None else col_bias.shape[0],
                        col_factors.shape[0], update_biases)

    cdef cmf_params params
    params.learning_rate = learning_rate
    params.regularization = regularization
    params.bias_regularization = bias_regularization
    params.update_biases = update_biases
    params.adaptive = adaptive
    _check_adagrad(adaptive, -1 if row_adagrad is None else row_adagrad.shape[0], row_factors.shape[0],
                   -1 if col_adagrad is None else col_adagrad.shape[0], col_factors.shape[0])

    cdef const int64_t *order_ptr = NULL
    cdef int64_t n_order = 0
    if order is not None:
        n_order = order.shape[0]
        if n_order > 0:
            order_ptr = &order[0]
        else:
            return 0.0

    cdef cmf_status status
    cdef double sse = 0.0
    cdef cmf_model_f32 model32
    cdef cmf_model_f64 model64
    cdef cmf_triplets_f32 data32
    cdef cmf_triplets_f64 data64

    if floating is float:
        model32.n_rows = <int32_t>row_factors.shape[0]
        model32.n_cols = <int32_t>col_factors.shape[0]
        model32.n_factors = <int32_t>row_factors.shape[1]
        model32.row_factors = &row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model32.col_factors = &col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model32.row_bias = &row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model32.col_bias = &col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model32.global_mean = global_mean
        model32.row_adagrad = &row_adagrad[0] if adaptive and row_adagrad.shape[0] > 0 else NULL
        model32.col_adagrad = &col_adagrad[0] if adaptive and col_adagrad.shape[0] > 0 else NULL
        data32.rows = &rows[0] if n > 0 else NULL
        data32.cols = &cols[0] if n > 0 else NULL
        data32.values = &values[0] if n > 0 else NULL
        data32.n = n
        if n == 0:
            return 0.0
        with nogil:
            status = cmf_sgd_epoch_f32(&params, &model32, &data32,
                                       order_ptr, n_order, &sse)
    else:
        model64.n_rows = <int32_t>row_factors.shape[0]
        model64.n_cols = <int32_t>col_factors.shape[0]
        model64.n_factors = <int32_t>row_factors.shape[1]
        model64.row_factors = &row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model64.col_factors = &col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model64.row_bias = &row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model64.col_bias = &col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model64.global_mean = global_mean
        model64.row_adagrad = &row_adagrad[0] if adaptive and row_adagrad.shape[0] > 0 else NULL
        model64.col_adagrad = &col_adagrad[0] if adaptive and col_adagrad.shape[0] > 0 else NULL
        data64.rows = &rows[0] if n > 0 else NULL
        data64.cols = &cols[0] if n > 0 else NULL
        data64.values = &values[0] if n > 0 else NULL
        data64.n = n
        if n == 0:
            return 0.0
        with nogil:
            status = cmf_sgd_epoch_f64(&params, &model64, &data64,
                                       order_ptr, n_order, &sse)
    if status != CMF_OK:
        _raise_for_status(status)
    return sse


def predict(const int32_t[::1] rows not None,
            const int32_t[::1] cols not None,
            const floating[:, ::1] row_factors not None,
            const floating[:, ::1] col_factors not None,
            const floating[::1] row_bias,
            const floating[::1] col_bias,
            double global_mean,
            floating[::1] out not None):
    """Write ``global_mean + b[rows] + c[cols] + P[rows] . Q[cols]`` to ``out``.

    Parameters
    ----------
    rows, cols : ndarray of int32, shape (n,)
        Pairs to predict. A row or column outside the factors contributes
        nothing but the global mean and the other side's bias.
    row_factors, col_factors : ndarray, shapes (n_rows, k) and (n_cols, k)
        Factor matrices.
    row_bias, col_bias : ndarray or None
        Biases, or None for an unbiased model.
    global_mean : float
        Constant offset.
    out : ndarray, shape (n,)
        Output buffer, in the factors' dtype.

    Returns
    -------
    None
    """
    cdef Py_ssize_t n = rows.shape[0]
    if cols.shape[0] != n or out.shape[0] != n:
        raise ValueError("rows, cols and out must have the same length")
    _check_model_shapes(row_factors.shape[1], col_factors.shape[1],
                        -1 if row_bias is None else row_bias.shape[0],
                        row_factors.shape[0],
                        -1 if col_bias is None else col_bias.shape[0],
                        col_factors.shape[0], False)
    if n == 0:
        return
    cdef cmf_status status
    cdef cmf_model_f32 model32
    cdef cmf_model_f64 model64
    if floating is float:
        model32.n_rows = <int32_t>row_factors.shape[0]
        model32.n_cols = <int32_t>col_factors.shape[0]
        model32.n_factors = <int32_t>row_factors.shape[1]
        model32.row_factors = <float *>&row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model32.col_factors = <float *>&col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model32.row_bias = <float *>&row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model32.col_bias = <float *>&col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model32.global_mean = global_mean
        model32.row_adagrad = NULL
        model32.col_adagrad = NULL
        with nogil:
            status = cmf_predict_f32(&model32, &rows[0], &cols[0], n, &out[0])
    else:
        model64.n_rows = <int32_t>row_factors.shape[0]
        model64.n_cols = <int32_t>col_factors.shape[0]
        model64.n_factors = <int32_t>row_factors.shape[1]
        model64.row_factors = <double *>&row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model64.col_factors = <double *>&col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model64.row_bias = <double *>&row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model64.col_bias = <double *>&col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model64.global_mean = global_mean
        model64.row_adagrad = NULL
        model64.col_adagrad = NULL
        with nogil:
            status = cmf_predict_f64(&model64, &rows[0], &cols[0], n, &out[0])
    if status != CMF_OK:
        _raise_for_status(status)


# ----------------------------------------------------------------------
# Cache-blocked epochs (see the "Cache-blocked epochs" section of cmf.h)
# ----------------------------------------------------------------------
MAX_BLOCK_SIZE = CMF_MAX_BLOCK_SIZE


def n_blocks(Py_ssize_t n, Py_ssize_t block_size):
    """Return ``ceil(n / block_size)``, the number of blocks covering ``n`` indices."""
    if block_size < 1 or block_size > CMF_MAX_BLOCK_SIZE:
        raise ValueError(f"block_size must be in [1, {CMF_MAX_BLOCK_SIZE}], got {block_size}")
    if n > 2147483647:
        raise ValueError("at most 2**31 - 1 rows and columns are supported")
    return cmf_n_blocks(<int32_t>n, <int32_t>block_size)


def simd_variant():
    """Name of the instruction-set variant of the blocked epoch on this CPU.

    Returns
    -------
    str
        ``"avx512"``, ``"avx2"`` or ``"baseline"``; all give identical bits.
    """
    return cmf_simd_variant().decode("ascii")


def partition(const int32_t[::1] rows not None,
              const int32_t[::1] cols not None,
              const floating[::1] values not None,
              Py_ssize_t n_rows, Py_ssize_t n_cols,
              Py_ssize_t row_block_size, Py_ssize_t col_block_size,
              int64_t[::1] block_ptr not None,
              uint16_t[::1] local_rows not None,
              uint16_t[::1] local_cols not None,
              floating[::1] out_values not None):
    """Sort triplets into a grid of blocks (counting sort), writing the outputs.

    Parameters
    ----------
    rows, cols : ndarray of int32, shape (n,)
        Entry indices, inside ``(n_rows, n_cols)``.
    values : ndarray of float32 or float64, shape (n,)
        Entry values.
    n_rows, n_cols : int
        Matrix shape.
    row_block_size, col_block_size : int
        Rows and columns per block, in ``[1, MAX_BLOCK_SIZE]``.
    block_ptr : ndarray of int64, shape (n_row_blocks * n_col_blocks + 1,)
        Output: block ``b`` holds entries ``block_ptr[b]:block_ptr[b + 1]``.
    local_rows, local_cols : ndarray of uint16, shape (n,)
        Output: indices relative to the block's first row and column.
    out_values : ndarray, shape (n,), the dtype of ``values``
        Output: the values in block order.

    Raises
    ------
    IndexError
        If an entry lies outside the shape.
    ValueError
        For inconsistent lengths or block sizes.
    """
    cdef Py_ssize_t n = values.shape[0]
    if rows.shape[0] != n or cols.shape[0] != n:
        raise ValueError("rows, cols and values must have the same length")
    if local_rows.shape[0] != n or local_cols.shape[0] != n or out_values.shape[0] != n:
        raise ValueError("the outputs must have the length of the inputs")
    cdef Py_ssize_t nrb = n_blocks(n_rows, row_block_size)
    cdef Py_ssize_t ncb = n_blocks(n_cols, col_block_size)
    if block_ptr.shape[0] != nrb * ncb + 1:
        raise ValueError(f"block_ptr must have length {nrb * ncb + 1}, got {block_ptr.shape[0]}")
    cdef cmf_status status
    cdef cmf_triplets_f32 data32
    cdef cmf_triplets_f64 data64
    if floating is float:
        data32.rows = &rows[0] if n > 0 else NULL
        data32.cols = &cols[0] if n > 0 else NULL
        data32.values = &values[0] if n > 0 else NULL
        data32.n = n
        with nogil:
            status = cmf_partition_f32(
                &data32, <int32_t>n_rows, <int32_t>n_cols, <int32_t>row_block_size,
                <int32_t>col_block_size, &block_ptr[0],
                &local_rows[0] if n > 0 else NULL, &local_cols[0] if n > 0 else NULL,
                &out_values[0] if n > 0 else NULL)
    else:
        data64.rows = &rows[0] if n > 0 else NULL
        data64.cols = &cols[0] if n > 0 else NULL
        data64.values = &values[0] if n > 0 else NULL
        data64.n = n
        with nogil:
            status = cmf_partition_f64(
                &data64, <int32_t>n_rows, <int32_t>n_cols, <int32_t>row_block_size,
                <int32_t>col_block_size, &block_ptr[0],
                &local_rows[0] if n > 0 else NULL, &local_cols[0] if n > 0 else NULL,
                &out_values[0] if n > 0 else NULL)
    if status != CMF_OK:
        _raise_for_status(status)


def block_order(uint64_t seed, int32_t block, int32_t[::1] out not None):
    """Write the visiting order of a block's entries into ``out``.

    Parameters
    ----------
    seed : int
        Unsigned 64-bit seed (as passed to :func:`sgd_blocks`).
    block : int
        Block number.
    out : ndarray of int32, shape (n,)
        Output: a permutation of ``0 .. n-1``, a pure function of
        ``(seed, block, n)``.
    """
    cdef cmf_status status
    cdef Py_ssize_t n = out.shape[0]
    with nogil:
        status = cmf_block_order(seed, block, n, &out[0] if n > 0 else NULL)
    if status != CMF_OK:
        _raise_for_status(status)


def sgd_blocks(const uint16_t[::1] local_rows not None,
               const uint16_t[::1] local_cols not None,
               const floating[::1] values not None,
               const int64_t[::1] block_ptr not None,
               Py_ssize_t n_row_blocks, Py_ssize_t n_col_blocks,
               Py_ssize_t row_block_size, Py_ssize_t col_block_size,
               floating[:, ::1] row_factors not None,
               floating[:, ::1] col_factors not None,
               floating[::1] row_bias,
               floating[::1] col_bias,
               double global_mean,
               double learning_rate,
               double regularization,
               double bias_regularization,
               bint update_biases,
               const int32_t[::1] blocks not None,
               uint64_t seed,
               int32_t[::1] scratch not None,
               bint adaptive=False,
               floating[::1] row_adagrad=None,
               floating[::1] col_adagrad=None,
               const int32_t[::1] keys=None):
    """Run SGD over the given blocks in place and return the sum of squared errors.

    Block ``b`` is visited in the order ``block_order(seed, b, ...)``. The
    GIL is released during the C call, so several threads may call this on
    the same model with blocks that share no row block and no column block.

    Parameters
    ----------
    local_rows, local_cols, values, block_ptr
        The output of :func:`partition`.
    n_row_blocks, n_col_blocks, row_block_size, col_block_size : int
        The grid the data was partitioned with.
    row_factors, col_factors, row_bias, col_bias, global_mean
        The model, as for :func:`sgd_epoch`.
    learning_rate, regularization, bias_regularization, update_biases
        Hyperparameters, as for :func:`sgd_epoch`.
    blocks : ndarray of int32
        Block numbers to visit, in order.
    seed : int
        Unsigned 64-bit seed of the orders inside the blocks.
    scratch : ndarray of int32
        Work space, at least as long as the largest visited block; one per
        concurrent caller.
    adaptive, row_adagrad, col_adagrad
        AdaGrad step sizes and their accumulators, as for :func:`sgd_epoch`.
    keys : ndarray of int32, optional
        The block numbers that seed the orders inside the blocks, one per
        entry of ``blocks`` (default: ``blocks`` itself). A rectangle of
        blocks cut out of a larger grid and run on the matching slab of the
        model gives the same bits as the whole grid when ``keys`` holds the
        blocks' numbers in the whole grid (``cmf_sgd_blocks_keyed_*``).

    Returns
    -------
    float
        Sum of the squared errors before each update.

    Raises
    ------
    DivergenceError, IndexError, ValueError
        As for :func:`sgd_epoch`.
    """
    cdef Py_ssize_t nnz = values.shape[0]
    cdef Py_ssize_t nb = n_row_blocks * n_col_blocks
    cdef Py_ssize_t b
    if local_rows.shape[0] != nnz or local_cols.shape[0] != nnz:
        raise ValueError("local_rows, local_cols and values must have the same length")
    if n_row_blocks < 0 or n_col_blocks < 0 or block_ptr.shape[0] != nb + 1:
        raise ValueError(f"block_ptr must have length n_row_blocks * n_col_blocks + 1 = {nb + 1}")
    if row_block_size < 1 or row_block_size > CMF_MAX_BLOCK_SIZE or \
            col_block_size < 1 or col_block_size > CMF_MAX_BLOCK_SIZE:
        raise ValueError(f"block sizes must be in [1, {CMF_MAX_BLOCK_SIZE}]")
    if n_row_blocks * row_block_size < row_factors.shape[0] or \
            n_col_blocks * col_block_size < col_factors.shape[0]:
        raise ValueError("the block grid does not cover the factor matrices")
    # The C function trusts block_ptr to be a partition of the data.
    if block_ptr[0] != 0 or block_ptr[nb] != nnz:
        raise ValueError("block_ptr must start at 0 and end at the number of entries")
    for b in range(nb):
        if block_ptr[b + 1] < block_ptr[b]:
            raise ValueError("block_ptr must be non-decreasing")
    _check_model_shapes(row_factors.shape[1], col_factors.shape[1],
                        -1 if row_bias is None else row_bias.shape[0],
                        row_factors.shape[0],
                        -1 if col_bias is None else col_bias.shape[0],
                        col_factors.shape[0], update_biases)
    cdef Py_ssize_t n_visit = blocks.shape[0]
    if keys is not None and keys.shape[0] != n_visit:
        raise ValueError(f"keys must have one entry per block ({n_visit}), got {keys.shape[0]}")
    if n_visit == 0:
        return 0.0
    cdef const int32_t *keys_ptr = &keys[0] if keys is not None else NULL

    cdef cmf_params params
    params.learning_rate = learning_rate
    params.regularization = regularization
    params.bias_regularization = bias_regularization
    params.update_biases = update_biases
    params.adaptive = adaptive
    _check_adagrad(adaptive, -1 if row_adagrad is None else row_adagrad.shape[0], row_factors.shape[0],
                   -1 if col_adagrad is None else col_adagrad.shape[0], col_factors.shape[0])

    cdef cmf_status status
    cdef double sse = 0.0
    cdef int32_t *scratch_ptr = &scratch[0] if scratch.shape[0] > 0 else NULL
    cdef Py_ssize_t n_scratch = scratch.shape[0]
    cdef cmf_model_f32 model32
    cdef cmf_model_f64 model64
    cdef cmf_blocked_f32 data32
    cdef cmf_blocked_f64 data64
    if floating is float:
        model32.n_rows = <int32_t>row_factors.shape[0]
        model32.n_cols = <int32_t>col_factors.shape[0]
        model32.n_factors = <int32_t>row_factors.shape[1]
        model32.row_factors = &row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model32.col_factors = &col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model32.row_bias = &row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model32.col_bias = &col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model32.global_mean = global_mean
        model32.row_adagrad = &row_adagrad[0] if adaptive and row_adagrad.shape[0] > 0 else NULL
        model32.col_adagrad = &col_adagrad[0] if adaptive and col_adagrad.shape[0] > 0 else NULL
        data32.n_row_blocks = <int32_t>n_row_blocks
        data32.n_col_blocks = <int32_t>n_col_blocks
        data32.row_block_size = <int32_t>row_block_size
        data32.col_block_size = <int32_t>col_block_size
        data32.block_ptr = &block_ptr[0]
        data32.local_rows = &local_rows[0] if nnz > 0 else NULL
        data32.local_cols = &local_cols[0] if nnz > 0 else NULL
        data32.values = &values[0] if nnz > 0 else NULL
        with nogil:
            if keys_ptr == NULL:
                status = cmf_sgd_blocks_f32(&params, &model32, &data32, &blocks[0], n_visit,
                                            seed, scratch_ptr, n_scratch, &sse)
            else:
                status = cmf_sgd_blocks_keyed_f32(&params, &model32, &data32, &blocks[0], keys_ptr,
                                                  n_visit, seed, scratch_ptr, n_scratch, &sse)
    else:
        model64.n_rows = <int32_t>row_factors.shape[0]
        model64.n_cols = <int32_t>col_factors.shape[0]
        model64.n_factors = <int32_t>row_factors.shape[1]
        model64.row_factors = &row_factors[0, 0] if row_factors.shape[0] > 0 else NULL
        model64.col_factors = &col_factors[0, 0] if col_factors.shape[0] > 0 else NULL
        model64.row_bias = &row_bias[0] if row_bias is not None and row_bias.shape[0] > 0 else NULL
        model64.col_bias = &col_bias[0] if col_bias is not None and col_bias.shape[0] > 0 else NULL
        model64.global_mean = global_mean
        model64.row_adagrad = &row_adagrad[0] if adaptive and row_adagrad.shape[0] > 0 else NULL
        model64.col_adagrad = &col_adagrad[0] if adaptive and col_adagrad.shape[0] > 0 else NULL
        data64.n_row_blocks = <int32_t>n_row_blocks
        data64.n_col_blocks = <int32_t>n_col_blocks
        data64.row_block_size = <int32_t>row_block_size
        data64.col_block_size = <int32_t>col_block_size
        data64.block_ptr = &block_ptr[0]
        data64.local_rows = &local_rows[0] if nnz > 0 else NULL
        data64.local_cols = &local_cols[0] if nnz > 0 else NULL
        data64.values = &values[0] if nnz > 0 else NULL
        with nogil:
            if keys_ptr == NULL:
                status = cmf_sgd_blocks_f64(&params, &model64, &data64, &blocks[0], n_visit,
                                            seed, scratch_ptr, n_scratch, &sse)
            else:
                status = cmf_sgd_blocks_keyed_f64(&params, &model64, &data64, &blocks[0], keys_ptr,
                                                  n_visit, seed, scratch_ptr, n_scratch, &sse)
    if status != CMF_OK:
        _raise_for_status(status)
    return sse


# ---------------------------------------------------------------------------
# cdef functions for other Cython extensions, declared in _kernels.pxd and
# exported through this module's C-API capsule. They only repack raw
# pointers into the C structs; the C core does every check.

cdef int sgd_epoch_f32(float *row_factors, float *col_factors,
                       float *row_bias, float *col_bias,
                       int32_t n_rows, int32_t n_cols, int32_t n_factors,
                       double global_mean,
                       const int32_t *rows, const int32_t *cols,
                       const float *values, int64_t n,
                       const int64_t *order, int64_t n_order,
                       double learning_rate, double regularization,
                       double bias_regularization, bint update_biases,
                       double *sse) noexcept nogil:
    cdef cmf_params params = cmf_default_params()
    cdef cmf_model_f32 model
    cdef cmf_triplets_f32 data
    params.learning_rate = learning_rate
    params.regularization = regularization
    params.bias_regularization = bias_regularization
    params.update_biases = update_biases
    model.n_rows = n_rows
    model.n_cols = n_cols
    model.n_factors = n_factors
    model.row_factors = row_factors
    model.col_factors = col_factors
    model.row_bias = row_bias
    model.col_bias = col_bias
    model.global_mean = global_mean
    # Plain SGD through this entry point: no AdaGrad accumulators.
    model.row_adagrad = NULL
    model.col_adagrad = NULL
    data.rows = rows
    data.cols = cols
    data.values = values
    data.n = n
    return cmf_sgd_epoch_f32(&params, &model, &data, order, n_order, sse)


cdef int sgd_epoch_f64(double *row_factors, double *col_factors,
                       double *row_bias, double *col_bias,
                       int32_t n_rows, int32_t n_cols, int32_t n_factors,
                       double global_mean,
                       const int32_t *rows, const int32_t *cols,
                       const double *values, int64_t n,
                       const int64_t *order, int64_t n_order,
                       double learning_rate, double regularization,
                       double bias_regularization, bint update_biases,
                       double *sse) noexcept nogil:
    cdef cmf_params params = cmf_default_params()
    cdef cmf_model_f64 model
    cdef cmf_triplets_f64 data
    params.learning_rate = learning_rate
    params.regularization = regularization
    params.bias_regularization = bias_regularization
    params.update_biases = update_biases
    model.n_rows = n_rows
    model.n_cols = n_cols
    model.n_factors = n_factors
    model.row_factors = row_factors
    model.col_factors = col_factors
    model.row_bias = row_bias
    model.col_bias = col_bias
    model.global_mean = global_mean
    # Plain SGD through this entry point: no AdaGrad accumulators.
    model.row_adagrad = NULL
    model.col_adagrad = NULL
    data.rows = rows
    data.cols = cols
    data.values = values
    data.n = n
    return cmf_sgd_epoch_f64(&params, &model, &data, order, n_order, sse)


cdef int predict_f32(const float *row_factors, const float *col_factors,
                     const float *row_bias, const float *col_bias,
                     int32_t n_rows, int32_t n_cols, int32_t n_factors,
                     double global_mean,
                     const int32_t *rows, const int32_t *cols, int64_t n,
                     float *out) noexcept nogil:
    # The C model struct is shared with the epoch and so holds non-const
    # pointers; cmf_predict_f32 only reads through them.
    cdef cmf_model_f32 model
    model.n_rows = n_rows
    model.n_cols = n_cols
    model.n_factors = n_factors
    model.row_factors = <float *>row_factors
    model.col_factors = <float *>col_factors
    model.row_bias = <float *>row_bias
    model.col_bias = <float *>col_bias
    model.global_mean = global_mean
    # Plain SGD through this entry point: no AdaGrad accumulators.
    model.row_adagrad = NULL
    model.col_adagrad = NULL
    return cmf_predict_f32(&model, rows, cols, n, out)


cdef int predict_f64(const double *row_factors, const double *col_factors,
                     const double *row_bias, const double *col_bias,
                     int32_t n_rows, int32_t n_cols, int32_t n_factors,
                     double global_mean,
                     const int32_t *rows, const int32_t *cols, int64_t n,
                     double *out) noexcept nogil:
    cdef cmf_model_f64 model
    model.n_rows = n_rows
    model.n_cols = n_cols
    model.n_factors = n_factors
    model.row_factors = <double *>row_factors
    model.col_factors = <double *>col_factors
    model.row_bias = <double *>row_bias
    model.col_bias = <double *>col_bias
    model.global_mean = global_mean
    # Plain SGD through this entry point: no AdaGrad accumulators.
    model.row_adagrad = NULL
    model.col_adagrad = NULL
    return cmf_predict_f64(&model, rows, cols, n, out)


cdef const char *status_message(int status) noexcept nogil:
    return cmf_strerror(<cmf_status>status)
