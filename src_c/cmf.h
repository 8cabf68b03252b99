/*
 * cmf.h -- public C API of cmf, biased matrix factorization by stochastic
 * gradient descent (SGD).
 *
 * Model
 * -----
 * A partly observed matrix R (n_rows x n_cols) is approximated by
 *
 *     r_hat(u, i) = mu + b_u + c_i + p_u . q_i
 *
 * where mu is a constant (usually the mean of the observed values), b and c
 * are row and column biases and p_u, q_i are rows of the factor matrices
 * P (n_rows x k) and Q (n_cols x k). Training minimises, over the observed
 * entries only,
 *
 *     sum_(u,i,r) [ (r - r_hat)^2 + lambda (|p_u|^2 + |q_i|^2)
 *                                 + lambda_b (b_u^2 + c_i^2) ]
 *
 * by SGD. For each observed triplet (u, i, r), in the order given by the
 * caller, with e = r - r_hat computed once from the current parameters:
 *
 *     b_u <- b_u + gamma (e - lambda_b b_u)
 *     c_i <- c_i + gamma (e - lambda_b c_i)
 *     p_u <- p_u + gamma (e q_i - lambda p_u)     (old q_i)
 *     q_i <- q_i + gamma (e p_u - lambda q_i)     (old p_u)
 *
 * Only row u of P and b, and row i of Q and c, change for that triplet.
 *
 * Design rules
 * ------------
 * - Plain C99. Every symbol starts with cmf_ / CMF_.
 * - No allocation, no global state, no printing, no random numbers: the
 *   caller owns every buffer and chooses the visiting order. The same inputs
 *   always give the same bits.
 * - Every function returns a cmf_status; outputs go through pointers.
 * - Single and double precision share one implementation; sums of squares
 *   and dot products are accumulated in double in both.
 *
 * Status codes
 * ------------
 *     CMF_OK                       0  success
 *     CMF_ERR_NULL_POINTER         1  a required pointer argument is NULL
 *     CMF_ERR_INVALID_PARAMETER    2  n_factors < 1, negative sizes, or a
 *                                     learning rate / regularisation that is
 *                                     not finite, not > 0 (learning rate) or
 *                                     negative (regularisation)
 *     CMF_ERR_INDEX_OUT_OF_RANGE   3  a row, column or order index lies
 *                                     outside the model or the data
 *     CMF_ERR_NON_FINITE           4  the loss became NaN or infinite: SGD
 *                                     diverged (use a smaller learning rate)
 *
 * Thread safety
 * -------------
 * All functions are reentrant. cmf_sgd_epoch_* may run concurrently on the
 * same model from several threads only when the triplets each thread visits
 * share no row and no column (disjoint blocks, as in stratified SGD);
 * cmf_predict_* may run concurrently with each other on any data, but not
 * with an epoch that writes the same model. cmf_strerror,
 * cmf_default_params and cmf_check_params touch no shared data and are safe
 * from any thread at any time.
 *
 * Ownership
 * ---------
 * The caller allocates and frees every buffer. The library keeps no pointer
 * after a call returns and never writes through a const pointer; the model
 * arrays of an epoch and the out array of a prediction are its only outputs.
 *
 * Building against the library
 * ----------------------------
 * - Standalone: src_c/CMakeLists.txt builds and installs a static and a
 *   shared libcmf, this header and cmf.pc, so that
 *       cc -std=c99 prog.c $(pkg-config --cflags --libs cmf)
 *   compiles a program. Code linking the Windows DLL defines CMF_SHARED
 *   (the CMake target cmf_shared does so for its users).
 * - From Python: cmf.get_include() returns the folder of this header in the
 *   installed package. Cython code need not link at all:
 *       from cmf._kernels cimport sgd_epoch_f64
 *   reaches these functions through the module's C-API capsule (see
 *   cmf/_kernels.pxd).
 *
 * Version
 * -------
 * CMF_VERSION_MAJOR, _MINOR and _PATCH give the version of this API; they
 * equal the numeric part of the Python package's cmf.__version__ (the build
 * refuses to proceed when they differ).
 *
 * Example: examples/c/train.c.
 */
#ifndef CMF_H
#define CMF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMF_VERSION_MAJOR 0
#define CMF_VERSION_MINOR 1
#define CMF_VERSION_PATCH 0

/* Symbol visibility: define CMF_SHARED when building or using a DLL. */
#if defined(_WIN32) && defined(CMF_SHARED)
#  ifdef CMF_BUILDING
#    define CMF_API __declspec(dllexport)
#  else
#    define CMF_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && defined(CMF_SHARED)
#  define CMF_API __attribute__((visibility("default")))
#else
#  define CMF_API
#endif

/** Status returned by every function of this API. */
typedef enum cmf_status {
    CMF_OK = 0,
    CMF_ERR_NULL_POINTER = 1,
    CMF_ERR_INVALID_PARAMETER = 2,
    CMF_ERR_INDEX_OUT_OF_RANGE = 3,
    CMF_ERR_NON_FINITE = 4
} cmf_status;

/**
 * Return a static, human-readable description of a status code.
 *
 * @param status (in) any value; unknown codes give "unknown cmf status".
 * @return a NUL-terminated string owned by the library; never NULL, never
 *         to be freed.
 */
CMF_API const char *cmf_strerror(cmf_status status);

/** Hyperparameters of one SGD epoch. Obtain defaults from
 *  cmf_default_params() and change the fields you need. */
typedef struct cmf_params {
    /** Step size gamma; finite and > 0. Default 0.005. */
    double learning_rate;
    /** L2 penalty lambda on the factor vectors; finite and >= 0.
     *  Default 0.02. */
    double regularization;
    /** L2 penalty lambda_b on the biases; finite and >= 0. Default 0.02. */
    double bias_regularization;
    /** Non-zero: update the row and column biases (they must then be
     *  non-NULL in the model). Zero: the biases are neither read nor
     *  written, and the model may hold NULL for them. Default 1. */
    int update_biases;
} cmf_params;

/**
 * Default hyperparameters (learning_rate 0.005, regularization 0.02,
 * bias_regularization 0.02, update_biases 1).
 *
 * @return a filled cmf_params by value.
 */
CMF_API cmf_params cmf_default_params(void);

/**
 * Check a parameter set.
 *
 * @param params (in) the parameters to check.
 * @return CMF_OK, CMF_ERR_NULL_POINTER or CMF_ERR_INVALID_PARAMETER.
 */
CMF_API cmf_status cmf_check_params(const cmf_params *params);

/**
 * The parameters of a model, in single precision. All buffers belong to the
 * caller, are C-contiguous (row-major) and must not overlap.
 */
typedef struct cmf_model_f32 {
    int32_t n_rows;      /**< number of rows m (users), >= 0 */
    int32_t n_cols;      /**< number of columns n (items), >= 0 */
    int32_t n_factors;   /**< latent dimension k, >= 1 */
    float *row_factors;  /**< (in/out) P, dimension [n_rows * n_factors] */
    float *col_factors;  /**< (in/out) Q, dimension [n_cols * n_factors] */
    float *row_bias;     /**< (in/out)(optional) b, dimension [n_rows];
                              NULL allowed when update_biases is 0 */
    float *col_bias;     /**< (in/out)(optional) c, dimension [n_cols];
                              NULL allowed when update_biases is 0 */
    double global_mean;  /**< mu, the constant offset of every prediction */
} cmf_model_f32;

/** The same as cmf_model_f32 in double precision. */
typedef struct cmf_model_f64 {
    int32_t n_rows;
    int32_t n_cols;
    int32_t n_factors;
    double *row_factors;
    double *col_factors;
    double *row_bias;
    double *col_bias;
    double global_mean;
} cmf_model_f64;

/**
 * Observed entries as three parallel arrays (coordinate / triplet format).
 * The arrays belong to the caller and are only read.
 */
typedef struct cmf_triplets_f32 {
    const int32_t *rows;   /**< (in) row index of each entry, [n] */
    const int32_t *cols;   /**< (in) column index of each entry, [n] */
    const float *values;   /**< (in) observed value of each entry, [n] */
    int64_t n;             /**< number of entries, >= 0 */
} cmf_triplets_f32;

/** The same as cmf_triplets_f32 with double values. */
typedef struct cmf_triplets_f64 {
    const int32_t *rows;
    const int32_t *cols;
    const double *values;
    int64_t n;
} cmf_triplets_f64;

/**
 * Run one SGD pass over the observed entries, updating the model in place.
 *
 * @param params  (in) hyperparameters; checked with cmf_check_params.
 * @param model   (in/out) the factors and biases to update.
 * @param data    (in) the observed entries.
 * @param order   (in)(optional) the visiting order: order[t] is the index in
 *                data of the t-th entry to visit, dimension [n_order];
 *                entries may repeat. NULL visits data in stored order
 *                (0, 1, ..., data->n - 1) and n_order is then ignored.
 * @param n_order (in) number of entries of order to visit, >= 0.
 * @param sse     (out) sum over the visited entries of e^2, the squared
 *                error just before each entry's update; accumulated in
 *                double.
 * @return CMF_OK; CMF_ERR_NULL_POINTER, CMF_ERR_INVALID_PARAMETER (model
 *         sizes or params), CMF_ERR_INDEX_OUT_OF_RANGE (the model is left
 *         updated up to the offending entry), CMF_ERR_NON_FINITE (the sum of
 *         squared errors is NaN or infinite; the model then holds non-finite
 *         values and should be restored by the caller).
 */
CMF_API cmf_status cmf_sgd_epoch_f32(const cmf_params *params,
                                     cmf_model_f32 *model,
                                     const cmf_triplets_f32 *data,
                                     const int64_t *order, int64_t n_order,
                                     double *sse);

/** Double-precision version of cmf_sgd_epoch_f32. */
CMF_API cmf_status cmf_sgd_epoch_f64(const cmf_params *params,
                                     cmf_model_f64 *model,
                                     const cmf_triplets_f64 *data,
                                     const int64_t *order, int64_t n_order,
                                     double *sse);

/**
 * Predict r_hat(rows[t], cols[t]) for t < n. The model is only read.
 * A pair whose row is negative or >= n_rows (or column outside [0, n_cols))
 * falls back to the parts of the model that exist: mu plus the known bias,
 * as for a row or column never seen in training.
 *
 * @param model (in) the model; biases are used when non-NULL.
 * @param rows  (in) row indices, dimension [n].
 * @param cols  (in) column indices, dimension [n].
 * @param n     (in) number of pairs, >= 0.
 * @param out   (out) predictions, dimension [n], owned by the caller.
 * @return CMF_OK, CMF_ERR_NULL_POINTER or CMF_ERR_INVALID_PARAMETER.
 */
CMF_API cmf_status cmf_predict_f32(const cmf_model_f32 *model,
                                   const int32_t *rows, const int32_t *cols,
                                   int64_t n, float *out);

/** Double-precision version of cmf_predict_f32. */
CMF_API cmf_status cmf_predict_f64(const cmf_model_f64 *model,
                                   const int32_t *rows, const int32_t *cols,
                                   int64_t n, double *out);

#ifdef __cplusplus
}
#endif

#endif /* CMF_H */
