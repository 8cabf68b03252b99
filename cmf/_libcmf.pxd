# Declarations of the public C API in src_c/cmf.h, line for line.
# Kept apart from _kernels.pxd so that Cython code which cimports cmf's
# kernels needs neither the header nor any linking (see _kernels.pxd).
from libc.stdint cimport int32_t, int64_t, uint16_t, uint64_t

cdef extern from "cmf.h" nogil:
    ctypedef enum cmf_status:
        CMF_OK
        CMF_ERR_NULL_POINTER
        CMF_ERR_INVALID_PARAMETER
        CMF_ERR_INDEX_OUT_OF_RANGE
        CMF_ERR_NON_FINITE

    const char *cmf_strerror(cmf_status status)

    ctypedef struct cmf_params:
        double learning_rate
        double regularization
        double bias_regularization
        int update_biases
        int adaptive

    cmf_params cmf_default_params()
    cmf_status cmf_check_params(const cmf_params *params)

    ctypedef struct cmf_model_f32:
        int32_t n_rows
        int32_t n_cols
        int32_t n_factors
        float *row_factors
        float *col_factors
        float *row_bias
        float *col_bias
        double global_mean
        float *row_adagrad
        float *col_adagrad

    ctypedef struct cmf_model_f64:
        int32_t n_rows
        int32_t n_cols
        int32_t n_factors
        double *row_factors
        double *col_factors
        double *row_bias
        double *col_bias
        double global_mean
        double *row_adagrad
        double *col_adagrad

    ctypedef struct cmf_triplets_f32:
        const int32_t *rows
        const int32_t *cols
        const float *values
        int64_t n

    ctypedef struct cmf_triplets_f64:
        const int32_t *rows
        const int32_t *cols
        const double *values
        int64_t n

    cmf_status cmf_sgd_epoch_f32(const cmf_params *params, cmf_model_f32 *model,
                                 const cmf_triplets_f32 *data,
                                 const int64_t *order, int64_t n_order,
                                 double *sse)
    cmf_status cmf_sgd_epoch_f64(const cmf_params *params, cmf_model_f64 *model,
                                 const cmf_triplets_f64 *data,
                                 const int64_t *order, int64_t n_order,
                                 double *sse)
    cmf_status cmf_predict_f32(const cmf_model_f32 *model, const int32_t *rows,
                               const int32_t *cols, int64_t n, float *out)
    cmf_status cmf_predict_f64(const cmf_model_f64 *model, const int32_t *rows,
                               const int32_t *cols, int64_t n, double *out)

    int CMF_MAX_BLOCK_SIZE

    ctypedef struct cmf_blocked_f32:
        int32_t n_row_blocks
        int32_t n_col_blocks
        int32_t row_block_size
        int32_t col_block_size
        const int64_t *block_ptr
        const uint16_t *local_rows
        const uint16_t *local_cols
        const float *values

    ctypedef struct cmf_blocked_f64:
        int32_t n_row_blocks
        int32_t n_col_blocks
        int32_t row_block_size
        int32_t col_block_size
        const int64_t *block_ptr
        const uint16_t *local_rows
        const uint16_t *local_cols
        const double *values

    int32_t cmf_n_blocks(int32_t n, int32_t block_size)
    cmf_status cmf_partition_f32(const cmf_triplets_f32 *data, int32_t n_rows,
                                 int32_t n_cols, int32_t row_block_size,
                                 int32_t col_block_size, int64_t *block_ptr,
                                 uint16_t *local_rows, uint16_t *local_cols,
                                 float *values)
    cmf_status cmf_partition_f64(const cmf_triplets_f64 *data, int32_t n_rows,
                                 int32_t n_cols, int32_t row_block_size,
                                 int32_t col_block_size, int64_t *block_ptr,
                                 uint16_t *local_rows, uint16_t *local_cols,
                                 double *values)
    cmf_status cmf_block_order(uint64_t seed, int32_t block, int64_t n,
                               int32_t *order)
    cmf_status cmf_sgd_blocks_f32(const cmf_params *params, cmf_model_f32 *model,
                                  const cmf_blocked_f32 *blocked,
                                  const int32_t *blocks, int64_t n_visit,
                                  uint64_t seed, int32_t *scratch,
                                  int64_t n_scratch, double *sse)
    cmf_status cmf_sgd_blocks_f64(const cmf_params *params, cmf_model_f64 *model,
                                  const cmf_blocked_f64 *blocked,
                                  const int32_t *blocks, int64_t n_visit,
                                  uint64_t seed, int32_t *scratch,
                                  int64_t n_scratch, double *sse)
    cmf_status cmf_sgd_blocks_keyed_f32(const cmf_params *params,
                                        cmf_model_f32 *model,
                                        const cmf_blocked_f32 *blocked,
                                        const int32_t *blocks, const int32_t *keys,
                                        int64_t n_visit, uint64_t seed,
                                        int32_t *scratch, int64_t n_scratch,
                                        double *sse)
    cmf_status cmf_sgd_blocks_keyed_f64(const cmf_params *params,
                                        cmf_model_f64 *model,
                                        const cmf_blocked_f64 *blocked,
                                        const int32_t *blocks, const int32_t *keys,
                                        int64_t n_visit, uint64_t seed,
                                        int32_t *scratch, int64_t n_scratch,
                                        double *sse)
    const char *cmf_simd_variant()
