# cmf's SGD kernel for other Cython extensions.
#
#     from cmf._kernels cimport sgd_epoch_f64, predict_f64, status_message
#
# These functions are exported through the C-API capsule of the compiled
# module cmf._kernels: a consumer cimports them and calls them like its own
# cdef functions, with no header on its include path and no linking. The
# module cmf._kernels is imported when the consumer is. (The C declarations
# live in cmf/_libcmf.pxd; code that includes cmf.h itself should use
# cmf.get_include() and cimport that instead.)
#
# The functions wrap the C API of src_c/cmf.h (copied into the package as
# cmf/include/cmf.h, where the model and every rule are documented). They
# take raw pointers to C-contiguous buffers owned by the caller, never hold
# the GIL, never raise, and return a status code:
#
#     0  success                      3  index out of range
#     1  a required pointer is NULL   4  non-finite loss (SGD diverged)
#     2  invalid parameter or size
#
# status_message(code) gives the text. Shapes: row_factors [n_rows * n_factors],
# col_factors [n_cols * n_factors], row_bias [n_rows], col_bias [n_cols]
# (both may be NULL when update_biases is 0, and in predict_*), rows, cols and
# values [n], order [n_order] (NULL visits 0 .. n - 1 and ignores n_order),
# out [n]. Two calls may run at once from different threads when they write
# disjoint rows and columns of the model.
from libc.stdint cimport int32_t, int64_t


# One SGD epoch, updating the factors and biases in place; *sse receives the
# sum of squared errors seen before each update.
cdef int sgd_epoch_f32(float *row_factors, float *col_factors,
                       float *row_bias, float *col_bias,
                       int32_t n_rows, int32_t n_cols, int32_t n_factors,
                       double global_mean,
                       const int32_t *rows, const int32_t *cols,
                       const float *values, int64_t n,
                       const int64_t *order, int64_t n_order,
                       double learning_rate, double regularization,
                       double bias_regularization, bint update_biases,
                       double *sse) noexcept nogil

cdef int sgd_epoch_f64(double *row_factors, double *col_factors,
                       double *row_bias, double *col_bias,
                       int32_t n_rows, int32_t n_cols, int32_t n_factors,
                       double global_mean,
                       const int32_t *rows, const int32_t *cols,
                       const double *values, int64_t n,
                       const int64_t *order, int64_t n_order,
                       double learning_rate, double regularization,
                       double bias_regularization, bint update_biases,
                       double *sse) noexcept nogil

# out[t] = global_mean + row_bias[rows[t]] + col_bias[cols[t]]
#          + row_factors[rows[t]] . col_factors[cols[t]], with the parts of
# an unknown row or column left out. The model is only read.
cdef int predict_f32(const float *row_factors, const float *col_factors,
                     const float *row_bias, const float *col_bias,
                     int32_t n_rows, int32_t n_cols, int32_t n_factors,
                     double global_mean,
                     const int32_t *rows, const int32_t *cols, int64_t n,
                     float *out) noexcept nogil

cdef int predict_f64(const double *row_factors, const double *col_factors,
                     const double *row_bias, const double *col_bias,
                     int32_t n_rows, int32_t n_cols, int32_t n_factors,
                     double global_mean,
                     const int32_t *rows, const int32_t *cols, int64_t n,
                     double *out) noexcept nogil

# A static, NUL-terminated description of a status code; never NULL.
cdef const char *status_message(int status) noexcept nogil
