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
 * Other losses, weights, L1 and non-negative factors
 * --------------------------------------------------
 * cmf_params.loss chooses the loss ell(r, r_hat) of an entry (LIBMF's
 * objectives). The update multiplies, in place of e, the negative
 * derivative of the loss in the prediction, z:
 *
 *     CMF_LOSS_SQUARED        z = r - r_hat               ell = (r - r_hat)^2
 *     CMF_LOSS_ABSOLUTE       z = sign(r - r_hat)         ell = |r - r_hat|
 *                             (0 at 0)
 *     CMF_LOSS_KL             z = r / r_hat - 1           ell = r log(r / r_hat)
 *                             (-1 at r = 0)                     - r + r_hat
 *                                                         (r log r := 0 at r = 0)
 *     CMF_LOSS_LOGISTIC       z = r / (1 + exp(r r_hat))  ell = log(1 + exp(-r r_hat))
 *     CMF_LOSS_HINGE          z = r if r r_hat < 1, else 0
 *                                                         ell = max(0, 1 - r r_hat)
 *     CMF_LOSS_SQUARED_HINGE  z = r max(0, 1 - r r_hat)   ell = max(0, 1 - r r_hat)^2
 *
 * (as for the squared loss, z omits the constant factor 2 of the squared
 * losses' derivatives). The generalized KL divergence needs r >= 0 and
 * r_hat > 0: use it with nonnegative, no biases and mu = 0 (an entry with
 * r > 0 and r_hat <= 0 makes the loss non-finite). The classification
 * losses expect r = +1 or -1 and usually mu = 0. Each entry t may carry a
 * weight w_t > 0 (cmf_triplets_*.weights, cmf_blocked_*.weights): z and ell
 * are multiplied by it; the L2 terms of the step are not. Then, when
 * l1_regularization > 0, every coordinate x of the updated p_u and q_i is
 * soft-thresholded, x <- sign(x) max(|x| - gamma l1, 0), and with
 * nonnegative clamped, x <- max(x, 0). Biases are neither thresholded nor
 * clamped. Written out, for one entry:
 *
 *     z, ell <- w z, w ell            (from the old parameters)
 *     b_u, c_i, p_u, q_i: the steps above with e replaced by z
 *     p_u, q_i <- soft threshold (l1), then clamp at 0 (nonnegative)
 *
 * The squared loss without weights, L1 or clamping runs the fast grouped
 * update; any of the options runs the generic update, grouped the same way
 * in the blocked epochs (up to four entries of distinct rows and distinct
 * columns at once, the same bits as one at a time), whose squared loss
 * with all weights 1 gives the same bits. The epochs' sse
 * output is then the sum of the weighted ell, and the objective
 * adds l1 sum_(u,i,r) (|p_u|_1 + |q_i|_1) (cmf_penalty_l1_*).
 *
 * Design rules
 * ------------
 * - Plain C99. Every symbol starts with cmf_ / CMF_.
 * - No allocation, no global state, no printing, no random numbers: the
 *   caller owns every buffer and chooses the visiting order. The same inputs
 *   always give the same bits. (The exceptions to the random numbers, the
 *   orders of the blocked epochs (cmf_block_order, cmf_epoch_schedule),
 *   the BPR sampler and the initial factors (cmf_normal_rows_*), draw from
 *   counter-based streams that are pure functions of the caller's seed:
 *   see "Cache-blocked epochs", "Implicit feedback" and "Initial
 *   factors".)
 * - Every function returns a cmf_status; outputs go through pointers.
 * - Single and double precision share one implementation. Sums of squared
 *   errors are accumulated in double in both; dot products in double for
 *   double, and for float in 16 float partial sums added in a fixed tree
 *   (see cmf_update_per_isa.h), which gives the same bits on every CPU.
 *
 * Status codes
 * ------------
 *     CMF_OK                       0  success
 *     CMF_ERR_NULL_POINTER         1  a required pointer argument is NULL
 *     CMF_ERR_INVALID_PARAMETER    2  n_factors < 1, negative sizes, a
 *                                     learning rate / regularisation that is
 *                                     not finite, not > 0 (learning rate) or
 *                                     negative (regularisation), a SIMD
 *                                     variant this build or CPU lacks, an
 *                                     unknown loss, or adaptive with another
 *                                     loss, L1, nonnegative or weights
 *     CMF_ERR_INDEX_OUT_OF_RANGE   3  a row, column or order index lies
 *                                     outside the model or the data
 *     CMF_ERR_NON_FINITE           4  the loss became NaN or infinite: SGD
 *                                     diverged (use a smaller learning rate)
 *     CMF_ERR_PARSE                5  a line of a rating file could not be
 *                                     read; cmf_read_result says which and
 *                                     why (see "Reading rating files")
 *
 * Thread safety
 * -------------
 * All functions are reentrant. cmf_sgd_epoch_* may run concurrently on the
 * same model from several threads only when the triplets each thread visits
 * share no row and no column (disjoint blocks, as in stratified SGD);
 * cmf_predict_* may run concurrently with each other on any data, but not
 * with an epoch that writes the same model. cmf_strerror,
 * cmf_default_params, cmf_check_params, cmf_simd_supported and
 * cmf_simd_name touch no shared data and are safe from any thread at any
 * time.
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
    CMF_ERR_NON_FINITE = 4,
    CMF_ERR_PARSE = 5
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
    /** Non-zero: adaptive step sizes (AdaGrad per factor row, as LIBMF).
     *  Each factor row keeps an accumulator G, starting at 1; an update
     *  with gradient step g = e q_i - lambda p_u (and likewise for q_i)
     *  does G_u += |g|^2 / k, then p_u += learning_rate / sqrt(G_u) g.
     *  Each bias has its own accumulator H: H_u += g_b^2, then
     *  b_u += learning_rate / sqrt(H_u) g_b with g_b = e - lambda_b b_u.
     *  The model's row_adagrad and col_adagrad must then be non-NULL.
     *  Default 0 (plain SGD with the constant learning_rate). */
    int adaptive;
    /** The instruction-set variant the blocked epochs (cmf_sgd_blocks_*)
     *  run: CMF_SIMD_AUTO (0), the widest this build holds and this CPU
     *  runs (what cmf_simd_variant names), or one of enum cmf_simd. Every
     *  variant computes the same bits; choosing one serves to compare them
     *  (see cmf_simd_supported). A value that is no cmf_simd, or a variant
     *  this build does not hold or this CPU does not run, is refused by
     *  cmf_check_params, and so by every epoch, with
     *  CMF_ERR_INVALID_PARAMETER. The plain epoch and the prediction have
     *  one variant only (the baseline) and run it whatever this says.
     *  Default CMF_SIMD_AUTO. */
    int simd_variant;
    /** The loss of each entry, a cmf_loss (see "Other losses" above). A
     *  value that is no cmf_loss is refused. Default CMF_LOSS_SQUARED. */
    int loss;
    /** L1 penalty on the factors: after each update every coordinate of
     *  p_u and q_i moves learning_rate * l1_regularization towards 0,
     *  stopping at 0; finite and >= 0. Default 0 (no threshold). */
    double l1_regularization;
    /** Non-zero: after each update, negative coordinates of p_u and q_i
     *  are set to 0 (projected SGD; the biases are not clamped). Start from
     *  non-negative factors. Default 0. adaptive may not be combined with
     *  a loss other than CMF_LOSS_SQUARED, l1_regularization > 0 or
     *  nonnegative (CMF_ERR_INVALID_PARAMETER), nor with weights. */
    int nonnegative;
} cmf_params;

/** The losses of cmf_params.loss (see "Other losses" above). */
typedef enum cmf_loss {
    CMF_LOSS_SQUARED = 0,      /**< (r - r_hat)^2, the default */
    CMF_LOSS_ABSOLUTE = 1,     /**< |r - r_hat| */
    CMF_LOSS_KL = 2,           /**< generalized KL divergence, r >= 0 */
    CMF_LOSS_LOGISTIC = 3,     /**< log(1 + exp(-r r_hat)), r = +-1 */
    CMF_LOSS_HINGE = 4,        /**< max(0, 1 - r r_hat), r = +-1 */
    CMF_LOSS_SQUARED_HINGE = 5 /**< max(0, 1 - r r_hat)^2, r = +-1 */
} cmf_loss;

/** The largest cmf_loss value. */
#define CMF_LOSS_LAST 5

/** The instruction-set variants of the blocked epochs, for
 *  cmf_params.simd_variant. */
typedef enum cmf_simd {
    CMF_SIMD_AUTO = 0,     /**< the widest one this build and CPU run */
    CMF_SIMD_BASELINE = 1, /**< the code for the compiler's target: SSE2 on
                                x86-64, NEON on arm64, plain C loops
                                elsewhere or with CMF_PORTABLE; always there */
    CMF_SIMD_AVX2 = 2,     /**< x86 with gcc or clang; CPU with AVX2 */
    CMF_SIMD_AVX512 = 3,   /**< x86 with gcc or clang (not CMF_NO_AVX512);
                                CPU with AVX-512F */
    CMF_SIMD_NEON = 4      /**< arm64 builds using the vector extension:
                                the baseline code, which is NEON there */
} cmf_simd;

/** The largest cmf_simd value: loop 1 .. CMF_SIMD_LAST over
 *  cmf_simd_supported to list the variants one can ask for. */
#define CMF_SIMD_LAST 4

/**
 * Whether cmf_params.simd_variant may name this variant here.
 *
 * @param variant (in) any value.
 * @return 1 when variant is CMF_SIMD_AUTO, or a cmf_simd this build holds
 *         and this CPU runs; 0 otherwise (also for values that are no
 *         cmf_simd).
 */
CMF_API int cmf_simd_supported(int variant);

/**
 * The name of a variant: "auto", "baseline", "avx2", "avx512" or "neon".
 *
 * @param variant (in) any value.
 * @return a static string owned by the library; NULL for a value that is
 *         no cmf_simd.
 */
CMF_API const char *cmf_simd_name(int variant);

/**
 * Default hyperparameters (learning_rate 0.005, regularization 0.02,
 * bias_regularization 0.02, update_biases 1, adaptive 0, simd_variant
 * CMF_SIMD_AUTO, loss CMF_LOSS_SQUARED, l1_regularization 0,
 * nonnegative 0).
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
 *
 * Any alignment works, but the epochs run fastest when every factor row
 * starts on a 64-byte boundary: factor buffers aligned to 64 bytes and
 * n_factors a multiple of 16. A caller free to choose may pad rows with
 * zeros up to a multiple of 16: zero factors stay exactly zero and add
 * nothing to predictions (the Python package trains this way; at k = 100
 * a cache-resident epoch measured 35 ns per update unpadded, 26 padded).
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
    /** (in/out)(optional) AdaGrad accumulators of the rows, dimension
     *  [2 * n_rows]: entry 2u for p_u, entry 2u + 1 for b_u; start at 1.
     *  Read and written only when params->adaptive; NULL allowed otherwise. */
    float *row_adagrad;
    /** (in/out)(optional) the same for the columns, dimension [2 * n_cols]. */
    float *col_adagrad;
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
    double *row_adagrad;
    double *col_adagrad;
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
    /** (in)(optional) weight of each entry, [n], finite and > 0 (not
     *  checked: a weight that is not makes the loss meaningless or
     *  non-finite); NULL weighs every entry 1. Code that fills the struct
     *  field by field must set it (to NULL for no weights). */
    const float *weights;
} cmf_triplets_f32;

/** The same as cmf_triplets_f32 with double values. */
typedef struct cmf_triplets_f64 {
    const int32_t *rows;
    const int32_t *cols;
    const double *values;
    int64_t n;
    const double *weights;
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
 *                error just before each entry's update (for another loss
 *                or with weights, of the weighted loss w ell); accumulated
 *                in double.
 * @return CMF_OK; CMF_ERR_NULL_POINTER, CMF_ERR_INVALID_PARAMETER (model
 *         sizes or params, or weights with adaptive),
 *         CMF_ERR_INDEX_OUT_OF_RANGE (the model is left
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

/**
 * The regularisation part of the objective (see "Model" above) summed over
 * the observed entries, each row and column weighted by its entries:
 *
 *     lambda   (sum_u w_u |p_u|^2 + sum_i v_i |q_i|^2)
 *   + lambda_b (sum_u w_u b_u^2   + sum_i v_i c_i^2)
 *
 * with w = row_weights and v = col_weights (usually the number of observed
 * entries in each row and column). The bias term is left out unless both
 * bias arrays are given. The model is only read; nothing is allocated.
 *
 * The order of the additions is fixed, so the same inputs give the same
 * bits everywhere: it is that of NumPy's einsum on x86-64's baseline (SSE,
 * no fused multiply-add), which the Python package summed this with before.
 * Each row's squares are summed in the model's precision in four float (two
 * double) lanes, four vectors of lanes a step with the last vector's
 * squares added first, then one vector a step, the lanes added pairwise;
 * the weighted rows in double, in chunks of 8192 rows, each in two lanes
 * (even and odd rows) eight rows a step, the last two first; the weighted
 * squared biases in double in order, per chunk of 8192; then
 * lambda (rows + columns) + lambda_b (row biases + column biases).
 *
 * @param model               (in) the model; biases are used when both are
 *                            non-NULL.
 * @param row_weights         (in) w, dimension [n_rows] (may be NULL when
 *                            n_rows is 0).
 * @param col_weights         (in) v, dimension [n_cols] (may be NULL when
 *                            n_cols is 0).
 * @param regularization      (in) lambda, finite and >= 0.
 * @param bias_regularization (in) lambda_b, finite and >= 0.
 * @param penalty             (out) the sum; NaN or infinite when the model
 *                            holds such values or the sum overflows (the
 *                            caller judges that, as for a loss).
 * @return CMF_OK, CMF_ERR_NULL_POINTER (penalty, a factor array of a
 *         non-empty side or its weights) or CMF_ERR_INVALID_PARAMETER
 *         (model sizes, a regularisation not finite or negative).
 */
CMF_API cmf_status cmf_penalty_f32(const cmf_model_f32 *model,
                                   const double *row_weights, const double *col_weights,
                                   double regularization, double bias_regularization,
                                   double *penalty);

/** Double-precision version of cmf_penalty_f32. */
CMF_API cmf_status cmf_penalty_f64(const cmf_model_f64 *model,
                                   const double *row_weights, const double *col_weights,
                                   double regularization, double bias_regularization,
                                   double *penalty);

/**
 * The L1 part of the objective (see "Other losses" above), summed over the
 * observed entries like cmf_penalty_f32's:
 *
 *     l1 (sum_u w_u |p_u|_1 + sum_i v_i |q_i|_1)
 *
 * Each row's absolute values are added in double in order, each row's sum
 * times its weight added in double in order, rows then columns, then
 * multiplied by l1. The model is only read; nothing is allocated.
 *
 * @param model             (in) the model (its biases are not used).
 * @param row_weights       (in) w, dimension [n_rows] (may be NULL when
 *                          n_rows is 0).
 * @param col_weights       (in) v, dimension [n_cols] (may be NULL when
 *                          n_cols is 0).
 * @param l1_regularization (in) l1, finite and >= 0.
 * @param penalty           (out) the sum (NaN or infinite as for
 *                          cmf_penalty_f32).
 * @return as cmf_penalty_f32.
 */
CMF_API cmf_status cmf_penalty_l1_f32(const cmf_model_f32 *model,
                                      const double *row_weights, const double *col_weights,
                                      double l1_regularization, double *penalty);

/** Double-precision version of cmf_penalty_l1_f32. */
CMF_API cmf_status cmf_penalty_l1_f64(const cmf_model_f64 *model,
                                      const double *row_weights, const double *col_weights,
                                      double l1_regularization, double *penalty);

/* ------------------------------------------------------------------------
 * Cache-blocked epochs
 * ------------------------------------------------------------------------
 * For large matrices most of an update's time goes into fetching p_u and
 * q_i from memory. The blocked API first sorts the entries (once) into a
 * grid of blocks, block (R, C) holding the entries whose row lies in
 * [R * row_block_size, (R + 1) * row_block_size) and whose column lies in
 * [C * col_block_size, (C + 1) * col_block_size); an epoch then visits whole
 * blocks, so the factor rows one block touches stay in cache. Blocks are
 * numbered row-major: block = R * n_col_blocks + C. Inside a block the
 * entries are visited in a pseudo-random order that is a pure function of
 * (seed, block) (see cmf_block_order), so the result does not depend on
 * which thread runs a block or when.
 *
 * Two blocks that share no row range and no column range touch disjoint
 * parts of the model: cmf_sgd_blocks_* may run on them concurrently from
 * several threads on the same model, and the result is bit-identical to
 * running them one after the other in any order.
 *
 * An epoch as cmf fits it: cmf_epoch_schedule gives the blocks in tiles
 * and strata; each stratum's tiles run concurrently (cmf_sgd_blocks_* per
 * tile, a thread each) or one after the other (cmf_sgd_tiles_*, several
 * tiles per call), strata one after the other, with the same bits.
 */

/** Largest row_block_size / col_block_size: local indices are 16-bit. */
#define CMF_MAX_BLOCK_SIZE 65536

/** Largest n_tiles of cmf_epoch_schedule. */
#define CMF_MAX_TILES 256

/**
 * Entries sorted into blocks by cmf_partition_f32. The arrays belong to the
 * caller and are only read by the epoch.
 */
typedef struct cmf_blocked_f32 {
    int32_t n_row_blocks;      /**< ceil(n_rows / row_block_size), >= 0 */
    int32_t n_col_blocks;      /**< ceil(n_cols / col_block_size), >= 0 */
    int32_t row_block_size;    /**< rows per row block, 1..CMF_MAX_BLOCK_SIZE */
    int32_t col_block_size;    /**< columns per column block, same range */
    /** (in) entries of block b are [block_ptr[b], block_ptr[b + 1]);
     *  dimension [n_row_blocks * n_col_blocks + 1], block_ptr[0] == 0. */
    const int64_t *block_ptr;
    /** (in) row of each entry minus its block's first row, [nnz] */
    const uint16_t *local_rows;
    /** (in) column of each entry minus its block's first column, [nnz] */
    const uint16_t *local_cols;
    /** (in) value of each entry, [nnz], nnz = block_ptr[n_blocks] */
    const float *values;
    /** (in)(optional) weight of each entry, [nnz], as in cmf_triplets_f32
     *  (written by cmf_partition_weighted_f32); NULL weighs every entry 1.
     *  Code that fills the struct field by field must set it. */
    const float *weights;
} cmf_blocked_f32;

/** The same as cmf_blocked_f32 with double values. */
typedef struct cmf_blocked_f64 {
    int32_t n_row_blocks;
    int32_t n_col_blocks;
    int32_t row_block_size;
    int32_t col_block_size;
    const int64_t *block_ptr;
    const uint16_t *local_rows;
    const uint16_t *local_cols;
    const double *values;
    const double *weights;
} cmf_blocked_f64;

/**
 * Number of blocks of block_size needed to cover n indices:
 * ceil(n / block_size), or 0 when n <= 0 or block_size < 1.
 */
CMF_API int32_t cmf_n_blocks(int32_t n, int32_t block_size);

/**
 * Sort triplets into blocks (a stable counting sort: two passes over the
 * data, O(nnz + n_blocks) time, no memory beyond the outputs).
 *
 * @param data           (in) the entries; every row in [0, n_rows) and
 *                       column in [0, n_cols).
 * @param n_rows, n_cols (in) matrix shape, >= 0.
 * @param row_block_size (in) rows per block, 1..CMF_MAX_BLOCK_SIZE.
 * @param col_block_size (in) columns per block, 1..CMF_MAX_BLOCK_SIZE.
 * @param block_ptr      (out) block offsets, dimension
 *                       [cmf_n_blocks(n_rows, row_block_size) *
 *                        cmf_n_blocks(n_cols, col_block_size) + 1].
 * @param local_rows     (out) [data->n] row minus its block's first row.
 * @param local_cols     (out) [data->n] column minus its block's first one.
 * @param values         (out) [data->n] the values, permuted alike.
 *                       All outputs are owned by the caller; within a block
 *                       the entries keep their input order.
 * @return CMF_OK, CMF_ERR_NULL_POINTER (also for data with weights: they
 *         need cmf_partition_weighted_f32), CMF_ERR_INVALID_PARAMETER (also
 *         when the grid would have more than INT32_MAX blocks: block
 *         numbers are int32_t; block_ptr is then not written) or
 *         CMF_ERR_INDEX_OUT_OF_RANGE (an entry outside the shape; the
 *         outputs are then unspecified).
 */
CMF_API cmf_status cmf_partition_f32(const cmf_triplets_f32 *data,
                                     int32_t n_rows, int32_t n_cols,
                                     int32_t row_block_size,
                                     int32_t col_block_size,
                                     int64_t *block_ptr, uint16_t *local_rows,
                                     uint16_t *local_cols, float *values);

/** Double-precision version of cmf_partition_f32. */
CMF_API cmf_status cmf_partition_f64(const cmf_triplets_f64 *data,
                                     int32_t n_rows, int32_t n_cols,
                                     int32_t row_block_size,
                                     int32_t col_block_size,
                                     int64_t *block_ptr, uint16_t *local_rows,
                                     uint16_t *local_cols, double *values);

/**
 * cmf_partition_f32 that also permutes the entries' weights: weights[d]
 * is data->weights[t] for the entry t written to position d.
 *
 * @param weights (out)(optional) [data->n], owned by the caller; written
 *                when data->weights is non-NULL (it must then be non-NULL
 *                too, else CMF_ERR_NULL_POINTER), not touched and may be
 *                NULL otherwise.
 * Other parameters and the return value: as cmf_partition_f32.
 */
CMF_API cmf_status cmf_partition_weighted_f32(
    const cmf_triplets_f32 *data, int32_t n_rows, int32_t n_cols,
    int32_t row_block_size, int32_t col_block_size, int64_t *block_ptr,
    uint16_t *local_rows, uint16_t *local_cols, float *values,
    float *weights);

/** Double-precision version of cmf_partition_weighted_f32. */
CMF_API cmf_status cmf_partition_weighted_f64(
    const cmf_triplets_f64 *data, int32_t n_rows, int32_t n_cols,
    int32_t row_block_size, int32_t col_block_size, int64_t *block_ptr,
    uint16_t *local_rows, uint16_t *local_cols, double *values,
    double *weights);

/* ------------------------------------------------------------------------
 * Statistics of the data
 * ------------------------------------------------------------------------
 * Before its first epoch a fit counts the entries of every row and column
 * (for the penalty) and takes the mean of the values (the global offset)
 * and their spread around it (the scale of the initial factors). The sums
 * behind the mean and the spread are exact: each term is added with no
 * rounding at all, so they do not depend on the order of the entries, and
 * sums of pieces (files, processes, a cluster's tiles) merge into the same
 * bits. An exact sum is an array of CMF_EXACT_SUM_BINS int64_t bins, zeroed
 * by the caller, that holds
 *
 *     sum = sum over e in 1..2046 of (bins[2e] 2^26 + bins[2e + 1]) 2^(e - 1075)
 *
 * exactly. A double (-1)^s m 2^(e - 1075) (e its biased IEEE exponent, 1
 * for subnormals, m its integer significand) is added as (-1)^s (m >> 26)
 * to bins[2e] and (-1)^s (m & (2^26 - 1)) to bins[2e + 1]; a run of terms
 * whose sum in double is exact may be added as that one double. Bins 0, 1,
 * 4094 and 4095 stay zero. Rounding the sum (or sum / n, the mean) to a
 * double is left to the caller, which needs integers wider than 64 bits
 * for it.
 */

/** Elements of the bins of an exact sum: two per double exponent. */
#define CMF_EXACT_SUM_BINS 4096

/** Most terms one set of bins can take over all calls without overflow. */
#define CMF_EXACT_SUM_MAX_TERMS (INT64_C(1) << 36)

/**
 * Count the occurrences of each index: counts[i] += number of t with
 * index[t] == i.
 *
 * @param index  (in) [n] the indices, each in [0, size).
 * @param n      (in) number of indices, >= 0.
 * @param size   (in) number of counters, >= 0.
 * @param counts (in,out) [size] the counts, added to (zero them first for
 *               a fresh count); owned by the caller.
 * @return CMF_OK, CMF_ERR_NULL_POINTER, CMF_ERR_INVALID_PARAMETER (n or
 *         size negative) or CMF_ERR_INDEX_OUT_OF_RANGE (the indices before
 *         the first one outside [0, size) are then counted).
 */
CMF_API cmf_status cmf_count_indices(const int32_t *index, int64_t n,
                                     int32_t size, int64_t *counts);

/**
 * Add values, and optionally their squares, to exact sums (see above). A
 * float value's square is exact in double; a double value's square is
 * added as three exact parts, Dekker's split of the value multiplied out
 * (parts that fall among the subnormals, for values below about 2^-485,
 * are rounded: the same bits whatever the order).
 *
 * @param values      (in) [n] the values.
 * @param n           (in) number of values, 0..CMF_EXACT_SUM_MAX_TERMS;
 *                    the total over all calls into one set of bins must
 *                    stay within that bound too (a double's square counts
 *                    three).
 * @param sum_bins    (in,out) [CMF_EXACT_SUM_BINS] the values' exact sum
 *                    is added to it.
 * @param square_bins (in,out)(optional) [CMF_EXACT_SUM_BINS] the squares'
 *                    exact sum is added to it; NULL for none.
 * @return CMF_OK, CMF_ERR_NULL_POINTER, CMF_ERR_INVALID_PARAMETER or
 *         CMF_ERR_NON_FINITE (a value is infinite or NaN, or a double value
 *         is beyond 1e300 in magnitude while squares are summed; the sums
 *         are then unspecified).
 */
CMF_API cmf_status cmf_exact_sums_f32(const float *values, int64_t n,
                                      int64_t *sum_bins, int64_t *square_bins);

/** Double-precision version of cmf_exact_sums_f32. */
CMF_API cmf_status cmf_exact_sums_f64(const double *values, int64_t n,
                                      int64_t *sum_bins, int64_t *square_bins);

/**
 * The visiting order inside a block: a permutation of 0 .. n-1 that depends
 * only on (seed, block), from a splitmix64 stream (two 32-bit draws per
 * 64-bit output) and an "inside-out" Fisher-Yates shuffle. cmf_sgd_blocks_*
 * visits block b's entries in exactly the order
 * cmf_block_order(seed, b, len_b, .) returns.
 *
 * @param seed  (in) any 64-bit value (typically derived from the user's
 *              seed and the epoch number).
 * @param block (in) the block number.
 * @param n     (in) number of entries, 0..INT32_MAX.
 * @param order (out) dimension [n], owned by the caller.
 * @return CMF_OK, CMF_ERR_NULL_POINTER or CMF_ERR_INVALID_PARAMETER.
 */
CMF_API cmf_status cmf_block_order(uint64_t seed, int32_t block, int64_t n,
                                   int32_t *order);

/**
 * The order of the blocks in one epoch of a stratified blocked fit, a pure
 * function of (seed, epoch, grid), with the seed of the orders inside the
 * blocks.
 *
 * The grid's G x G tiles: tile row a holds the row blocks r_a .. r_(a+1) - 1,
 * r_a = floor(a * n_row_blocks / G), tile column b the column blocks
 * c_b .. c_(b+1) - 1, c_b = floor(b * n_col_blocks / G). The epoch is G
 * strata of G tiles each; the tiles of a stratum share no row block and no
 * column block, so they may run concurrently (cmf_sgd_blocks_* from several
 * threads) in any order with the same bits.
 *
 * Definition (all arithmetic modulo 2^64). The stream is splitmix64:
 *
 *     next():  state += 0x9E3779B97F4A7C15; z = state;
 *              z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *              z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *              return z ^ (z >> 31);
 *
 * started from state = seed ^ 0x243F6A8885A308D3; state = next();
 * state ^= (uint64_t)epoch; state = next(). A uniform draw(n) in [0, n),
 * 1 <= n <= 2^31, is Lemire's multiply-shift with rejection (exactly
 * uniform): repeat m = (next() >> 32) * n until (m mod 2^32) >=
 * (2^32 - n) mod n, then return m >> 32. shuffle(v_0, ..., v_(n-1)) is the
 * inside-out Fisher-Yates shuffle: out[0] = v_0, then for i = 1 .. n - 1,
 * j = draw(i + 1), out[i] = out[j], out[j] = v_i (no draw when n <= 1).
 * In this order:
 *
 *     alpha = shuffle(0 .. G-1); beta = shuffle(0 .. G-1);
 *     gamma = shuffle(0 .. G-1);
 *     for a = 0 .. G-1: rows_a = shuffle(r_a, ..., r_(a+1) - 1);
 *     for b = 0 .. G-1: cols_b = shuffle(c_b, ..., c_(b+1) - 1);
 *     *block_seed = next();
 *
 * Tile (a, b) is the list of blocks rows_a[i] * n_col_blocks + cols_b[k],
 * row by row (i outer, k inner). Slot j of stratum s holds tile
 * (alpha[j], beta[(j + gamma[s]) mod G]). blocks lists the tiles slot by
 * slot, stratum after stratum: the tile at slot j of stratum s is
 * blocks[tile_starts[s * G + j] .. tile_starts[s * G + j + 1]).
 * A grid without blocks (n_row_blocks or n_col_blocks 0) draws no rows_a
 * and cols_b: *block_seed is then the draw after gamma.
 *
 * @param seed         (in) the fit's seed, any value.
 * @param epoch        (in) the epoch number, any value.
 * @param n_row_blocks (in) row blocks of the grid, >= 0.
 * @param n_col_blocks (in) column blocks, >= 0; at most INT32_MAX blocks
 *                     in all.
 * @param n_tiles      (in) G, tiles per side: 1 .. CMF_MAX_TILES, and when
 *                     above 1 at most n_row_blocks and n_col_blocks (every
 *                     tile then holds a block).
 * @param work         (out) work space, dimension
 *                     [n_row_blocks + n_col_blocks], owned by the caller:
 *                     left holding rows_0, ..., rows_(G-1) then cols_0, ...,
 *                     cols_(G-1). May be NULL when the grid has no blocks.
 * @param blocks       (out) dimension [n_row_blocks * n_col_blocks], owned
 *                     by the caller: every block once, in visiting order.
 *                     May be NULL when the grid has no blocks.
 * @param tile_starts  (out) dimension [G * G + 1], owned by the caller:
 *                     where each tile starts in blocks; tile_starts[0] = 0,
 *                     tile_starts[G * G] = n_row_blocks * n_col_blocks.
 * @param block_seed   (out) the seed of the orders inside the blocks, for
 *                     cmf_sgd_blocks_* and cmf_sgd_tiles_*.
 * @return CMF_OK, CMF_ERR_NULL_POINTER, or CMF_ERR_INVALID_PARAMETER for a
 *         grid or n_tiles out of range (nothing is then written).
 */
CMF_API cmf_status cmf_epoch_schedule(uint64_t seed, int64_t epoch,
                                      int32_t n_row_blocks,
                                      int32_t n_col_blocks, int32_t n_tiles,
                                      int32_t *work, int32_t *blocks,
                                      int64_t *tile_starts,
                                      uint64_t *block_seed);

/**
 * Run SGD over the entries of the given blocks, one block after the other,
 * each in the order cmf_block_order(seed, block, ...) gives.
 *
 * @param params    (in) hyperparameters, as for cmf_sgd_epoch_f32.
 * @param model     (in/out) the factors and biases to update.
 * @param blocked   (in) entries sorted by cmf_partition_f32.
 * @param blocks    (in) block numbers to visit, in this order, dimension
 *                  [n_visit]; each in [0, n_row_blocks * n_col_blocks).
 * @param n_visit   (in) number of blocks to visit, >= 0.
 * @param seed      (in) seed of the orders inside the blocks.
 * @param scratch   (out) work space for a block's order, dimension
 *                  [n_scratch], owned by the caller; one per thread.
 * @param n_scratch (in) its length, at least the largest visited block.
 * @param sse       (out) sum of the squared errors before each update
 *                  (of the weighted losses, as for cmf_sgd_epoch_f32),
 *                  accumulated in double.
 * @return as cmf_sgd_epoch_f32; CMF_ERR_INVALID_PARAMETER also when
 *         scratch is too short, or when the grid is out of range: a block
 *         size outside 1..CMF_MAX_BLOCK_SIZE, a negative block count, or
 *         n_row_blocks * n_col_blocks > INT32_MAX. Blocks are checked
 *         before any update. A grid may reach beyond the model (its first
 *         rows and columns are computed in 64 bits): an entry outside the
 *         model gives CMF_ERR_INDEX_OUT_OF_RANGE in its turn, the model
 *         then updated up to that entry.
 *
 * Thread safety: concurrent calls on the same model are safe when the sets
 * of blocks they visit share no row block and no column block, and each
 * call has its own scratch.
 */
CMF_API cmf_status cmf_sgd_blocks_f32(const cmf_params *params,
                                      cmf_model_f32 *model,
                                      const cmf_blocked_f32 *blocked,
                                      const int32_t *blocks, int64_t n_visit,
                                      uint64_t seed, int32_t *scratch,
                                      int64_t n_scratch, double *sse);

/** Double-precision version of cmf_sgd_blocks_f32. */
CMF_API cmf_status cmf_sgd_blocks_f64(const cmf_params *params,
                                      cmf_model_f64 *model,
                                      const cmf_blocked_f64 *blocked,
                                      const int32_t *blocks, int64_t n_visit,
                                      uint64_t seed, int32_t *scratch,
                                      int64_t n_scratch, double *sse);

/**
 * The same as cmf_sgd_blocks_f32, except that block blocks[v] is visited in
 * the order cmf_block_order(seed, keys[v], ...) instead of
 * cmf_block_order(seed, blocks[v], ...).
 *
 * This runs a piece of a larger grid on a slab of the model and gives the
 * same bits as the whole: cut a rectangle of blocks out of a partition
 * (its own block_ptr, a model whose row 0 and column 0 are the rectangle's
 * first row and column), number its blocks row-major within the rectangle
 * and pass as keys their numbers in the whole grid. The distributed fit
 * (cmf.dask) runs each tile of the grid this way on the worker holding it.
 *
 * @param keys (in) the block numbers seeding the orders, dimension
 *             [n_visit]; any values (they are not indices). May be NULL
 *             only when n_visit is 0.
 * Other parameters and the return value: as cmf_sgd_blocks_f32.
 */
CMF_API cmf_status cmf_sgd_blocks_keyed_f32(const cmf_params *params,
                                            cmf_model_f32 *model,
                                            const cmf_blocked_f32 *blocked,
                                            const int32_t *blocks,
                                            const int32_t *keys,
                                            int64_t n_visit, uint64_t seed,
                                            int32_t *scratch,
                                            int64_t n_scratch, double *sse);

/** Double-precision version of cmf_sgd_blocks_keyed_f32. */
CMF_API cmf_status cmf_sgd_blocks_keyed_f64(const cmf_params *params,
                                            cmf_model_f64 *model,
                                            const cmf_blocked_f64 *blocked,
                                            const int32_t *blocks,
                                            const int32_t *keys,
                                            int64_t n_visit, uint64_t seed,
                                            int32_t *scratch,
                                            int64_t n_scratch, double *sse);

/**
 * Run several tiles of blocks one after the other, each exactly as one
 * cmf_sgd_blocks_f32 call on its blocks would (the same updates, the same
 * bits), writing each tile's sum of squared errors to its own slot: one
 * call where a fit would make n_tiles, for epochs too short for the calls'
 * overhead not to count.
 *
 * @param params      (in) hyperparameters, as for cmf_sgd_epoch_f32.
 * @param model       (in/out) the factors and biases to update.
 * @param blocked     (in) entries sorted by cmf_partition_f32.
 * @param blocks      (in) block numbers; tile t visits
 *                    blocks[tile_starts[t] .. tile_starts[t + 1]) in this
 *                    order. Each visited one in
 *                    [0, n_row_blocks * n_col_blocks).
 * @param tile_starts (in) dimension [n_tiles + 1], non-decreasing and
 *                    >= 0 (for instance a slice of cmf_epoch_schedule's).
 * @param n_tiles     (in) number of tiles to run, >= 0.
 * @param seed        (in) seed of the orders inside the blocks.
 * @param scratch     (out) work space, dimension [n_scratch], owned by the
 *                    caller; at least the largest visited block.
 * @param n_scratch   (in) its length.
 * @param sse         (out) dimension [n_tiles], owned by the caller:
 *                    sse[t] is tile t's sum of squared errors, as
 *                    cmf_sgd_blocks_f32 would give it (0 for tiles not
 *                    run).
 * @return as cmf_sgd_blocks_f32, every argument and every tile's blocks
 *         checked before any update; CMF_ERR_INVALID_PARAMETER also for
 *         decreasing or negative tile_starts. On CMF_ERR_NON_FINITE or
 *         CMF_ERR_INDEX_OUT_OF_RANGE in tile t, the tiles before it have
 *         run, tile t up to that entry, the later ones not.
 */
CMF_API cmf_status cmf_sgd_tiles_f32(const cmf_params *params,
                                     cmf_model_f32 *model,
                                     const cmf_blocked_f32 *blocked,
                                     const int32_t *blocks,
                                     const int64_t *tile_starts,
                                     int64_t n_tiles, uint64_t seed,
                                     int32_t *scratch, int64_t n_scratch,
                                     double *sse);

/** Double-precision version of cmf_sgd_tiles_f32. */
CMF_API cmf_status cmf_sgd_tiles_f64(const cmf_params *params,
                                     cmf_model_f64 *model,
                                     const cmf_blocked_f64 *blocked,
                                     const int32_t *blocks,
                                     const int64_t *tile_starts,
                                     int64_t n_tiles, uint64_t seed,
                                     int32_t *scratch, int64_t n_scratch,
                                     double *sse);

/* ------------------------------------------------------------------------
 * Reading rating files
 * ------------------------------------------------------------------------
 * A tokenizer for delimited text (u.data, ratings.dat, ratings.csv, LIBMF)
 * held in a buffer of the caller's, and a hash table that numbers integer
 * ids. Like the rest of the API they allocate nothing and keep no state
 * between calls, so a caller reads a file of any size in chunks: it passes
 * whole lines (a chunk cut after its last newline; the end of the buffer
 * ends the last line) and output arrays of any capacity, and calls again
 * with the rest when a call stops early.
 *
 * A line is split into fields by the separator (one byte such as ',' or
 * '\t', two bytes such as "::", or runs of white space), after a trailing
 * "\r" is dropped; spaces and tabs around each field are stripped. Blank
 * lines and comment lines (first non-blank bytes equal to the comment
 * prefix) are skipped but counted as lines. Fields past the last column
 * used are ignored.
 *
 * Ids: a user or item field that is a canonical integer (an optional '-',
 * then "0" or digits without a leading zero, within int64; so "007", "+7"
 * and "-0" are not) is stored as that integer; any other text is reported
 * (cmf_read_result.user_text / item_text) so that the caller labels the
 * whole column by its text: "007" and "7" stay different labels.
 * Ratings: decimal numbers ([+-]digits[.digits][e[+-]digits]), correctly
 * rounded to double, finite. Up to 15 significant digits and exponents
 * within +-22 are converted exactly by the library itself; longer numbers
 * go through strtod, which reads '.' as the decimal point only in the "C"
 * LC_NUMERIC locale (the default of C programs and of Python).
 * Timestamps: [+-]digits within int64.
 */

/** What is wrong with the line at which cmf_read_lines stopped. */
typedef enum cmf_read_error {
    CMF_READ_NO_ERROR = 0,
    CMF_READ_TOO_FEW_FIELDS = 1, /* fewer fields than the columns used */
    CMF_READ_BAD_RATING = 2,     /* not a finite decimal number */
    CMF_READ_BAD_TIMESTAMP = 3,  /* not an integer within int64 */
    CMF_READ_EMPTY_ID = 4        /* an empty user or item field */
} cmf_read_error;

/** How the lines are laid out. */
typedef struct cmf_read_format {
    const char *sep;     /* separator bytes (need not be NUL-terminated) */
    int32_t sep_len;     /* 1 or 2; 0 means runs of spaces, tabs, \v, \f */
    const char *comment; /* comment prefix, or NULL */
    int32_t comment_len; /* its length; 0 means no comment lines */
    int32_t user_col;    /* 0-based field positions, < 64 */
    int32_t item_col;
    int32_t rating_col;  /* -1: no rating column (pairs to predict) */
    int32_t time_col;    /* -1: no timestamp column */
} cmf_read_format;

/** Output arrays, each of at least `capacity` elements, owned by the caller. */
typedef struct cmf_read_columns {
    int64_t capacity;     /* records that fit; >= 1 */
    int64_t *user_ids;    /* required: the id, or 0 when not an integer */
    int64_t *item_ids;    /* required */
    int64_t *user_offsets; /* optional (NULL): where each user field starts */
    int32_t *user_lengths; /* in the buffer, and its length (stripped) */
    int64_t *item_offsets; /* optional, likewise for items */
    int32_t *item_lengths;
    double *ratings_f64;  /* the ratings; either pointer may be NULL, not */
    float *ratings_f32;   /* both unless rating_col is -1 (float: the
                             double rounded) */
    int64_t *timestamps;  /* required when time_col >= 0, else unused */
} cmf_read_columns;

/** What a call of cmf_read_lines did. */
typedef struct cmf_read_result {
    int64_t n_records;   /* records written to the output arrays */
    int64_t n_lines;     /* lines consumed, blank and comment lines included;
                            on CMF_ERR_PARSE the lines before the bad one */
    int64_t n_bytes;     /* bytes consumed: the call stopped at the start of
                            line n_lines + 1 (end of the buffer when all
                            was read; else the output was full or, on
                            CMF_ERR_PARSE, this is where the bad line starts) */
    int32_t user_text;   /* 1 when some user field was not a canonical integer */
    int32_t item_text;   /* 1 likewise for items */
    cmf_read_error error; /* CMF_READ_NO_ERROR unless CMF_ERR_PARSE */
    int32_t n_fields;    /* on CMF_READ_TOO_FEW_FIELDS: fields found */
} cmf_read_result;

/**
 * Parse whole lines of delimited text into columns.
 *
 * @param buf (in) the text; need not be NUL-terminated.
 * @param len (in) its length in bytes, >= 0.
 * @param format (in) separator, comment prefix and the columns to keep;
 *        user_col and item_col in 0..63, rating_col and time_col in
 *        -1..63, sep_len 0..2, comment_len >= 0.
 * @param out (in) output arrays; records go to index 0, 1, ...
 * @param result (out) counts, flags and, on error, what went wrong.
 * @return CMF_OK when the buffer was read to its end or the output filled
 *         up (compare result->n_bytes with len); CMF_ERR_PARSE at the first
 *         line that cannot be read (its records are not written);
 *         CMF_ERR_NULL_POINTER, CMF_ERR_INVALID_PARAMETER for bad arguments.
 */
CMF_API cmf_status cmf_read_lines(const char *buf, int64_t len,
                                  const cmf_read_format *format,
                                  const cmf_read_columns *out,
                                  cmf_read_result *result);

/**
 * Copy fields of a buffer into fixed-width, NUL-padded slots, so that a
 * caller can turn them into an array of strings at once.
 *
 * @param buf (in) the text the offsets refer to.
 * @param offsets, lengths (in) n fields, as cmf_read_lines reports them;
 *        every length in 0..width.
 * @param n (in) number of fields, >= 0.
 * @param width (in) slot width in bytes, >= 1.
 * @param dest (out) n * width bytes; field j goes to dest + j * width.
 * @return CMF_OK, CMF_ERR_NULL_POINTER, or CMF_ERR_INVALID_PARAMETER (a
 *         negative count or width, a length outside 0..width).
 */
CMF_API cmf_status cmf_read_gather(const char *buf, const int64_t *offsets,
                                   const int32_t *lengths, int64_t n,
                                   int32_t width, char *dest);

/**
 * A hash table numbering distinct int64 ids in order of first appearance,
 * in the caller's memory. Start with every slot -1 and n_distinct 0.
 */
typedef struct cmf_id_table {
    int64_t capacity;   /* slots: a power of two >= 2 */
    int32_t *slots;     /* capacity codes, -1 for an empty slot */
    int64_t *distinct;  /* capacity / 2 entries: the id of each code */
    int64_t n_distinct; /* codes given so far (in and out) */
} cmf_id_table;

/**
 * Give each id its code: the position of its first appearance among the
 * distinct ids seen by this table so far (across calls).
 *
 * The table holds at most capacity / 2 distinct ids (a half-empty table
 * keeps probes short). When it is full the call stops early: the caller
 * moves the distinct ids to a table twice as large (calling this function
 * on table->distinct, which gives them the same codes) and continues.
 *
 * @param ids (in) n ids.
 * @param n (in) >= 0.
 * @param table (in, out) the table.
 * @param codes (out) n codes, int32.
 * @param n_done (out) ids coded: n unless the table became full.
 * @return CMF_OK, CMF_ERR_NULL_POINTER, or CMF_ERR_INVALID_PARAMETER (a
 *         capacity that is not a power of two >= 2 or above 2^32, n < 0,
 *         n_distinct outside 0..capacity / 2).
 */
CMF_API cmf_status cmf_factorize_i64(const int64_t *ids, int64_t n,
                                     cmf_id_table *table, int32_t *codes,
                                     int64_t *n_done);

/**
 * Name of the instruction-set variant cmf_sgd_blocks_* uses on this CPU
 * with simd_variant CMF_SIMD_AUTO: "avx512", "avx2" or "baseline". All
 * variants give identical results.
 *
 * @return a static string owned by the library.
 */
CMF_API const char *cmf_simd_variant(void);

/* ------------------------------------------------------------------------
 * Repeated pairs
 * ------------------------------------------------------------------------
 * Data may hold several entries for one (row, column) pair. cmf_find_repeats
 * counts them and says, for every entry, which entries share its pair, in
 * O(n + n_rows + n_cols) time and without sorting the pairs: a stable
 * counting sort of the entries by row (skipped when the rows are already
 * non-decreasing), then one pass over each row's entries in input order
 * with a mark per column saying where the current row first had it.
 */

/**
 * Find the entries whose (row, column) pair an earlier entry already has.
 * "Earlier" and "first" / "last" refer to the input order, positions
 * 0 .. n-1 of rows and cols.
 *
 * @param rows      (in) row of each entry, dimension [n]; each in
 *                  [0, n_rows).
 * @param cols      (in) column of each entry, dimension [n]; each in
 *                  [0, n_cols).
 * @param n         (in) number of entries, >= 0.
 * @param n_rows    (in) number of rows, >= 0.
 * @param n_cols    (in) number of columns, >= 0.
 * @param work      (scratch) dimension [n + n_rows + n_cols + 1], owned by
 *                  the caller; its contents on entry do not matter and on
 *                  return are unspecified. May be NULL when n is 0.
 * @param first     (out)(optional) dimension [n]: first[p] is the position
 *                  of the first entry with the pair of entry p (p itself
 *                  when no earlier entry has it). NULL: not computed.
 * @param last      (out)(optional) dimension [n]: last[p] is the position
 *                  of the last entry with the pair of entry p (p itself
 *                  when no later entry has it). NULL: not computed.
 * @param n_repeats (out) the number of entries whose pair an earlier entry
 *                  has (those with first[p] != p): n minus the number of
 *                  distinct pairs.
 * @return CMF_OK; CMF_ERR_NULL_POINTER (n_repeats, or rows, cols or work
 *         when n > 0); CMF_ERR_INVALID_PARAMETER (a negative size);
 *         CMF_ERR_INDEX_OUT_OF_RANGE (an entry outside the shape). Every
 *         entry is checked before any output is written: on an error,
 *         first, last and *n_repeats are left as they were.
 */
CMF_API cmf_status cmf_find_repeats(const int32_t *rows, const int32_t *cols,
                                    int64_t n, int32_t n_rows, int32_t n_cols,
                                    int64_t *work, int64_t *first,
                                    int64_t *last, int64_t *n_repeats);

/* ------------------------------------------------------------------------
 * Implicit feedback: pairwise ranking (BPR)
 * ------------------------------------------------------------------------
 * For data without values (clicks, views, purchases: "user u interacted
 * with item i"), Bayesian personalised ranking (Rendle et al. 2009) learns
 * scores s(u, i) = p_u . q_i + c_i that rank each user's items above the
 * others, by SGD on sampled triples (u, i, j): i an item u interacted with
 * (a positive), j an item drawn at random (a negative). With
 *
 *     x = p_u . (q_i - q_j) + (c_i - c_j)      (biases only when used)
 *     g = sigmoid(-x) = 1 / (1 + exp(x))
 *
 * one step ascends ln sigmoid(x) - lambda/2 (|p_u|^2 + |q_i|^2 + |q_j|^2)
 * - lambda_b/2 (c_i^2 + c_j^2), every right-hand side from the values
 * before the step:
 *
 *     p_u <- p_u + gamma (g (q_i - q_j) - lambda p_u)
 *     q_i <- q_i + gamma (g p_u - lambda q_i)
 *     q_j <- q_j + gamma (-g p_u - lambda q_j)
 *     c_i <- c_i + gamma (g - lambda_b c_i)
 *     c_j <- c_j + gamma (-g - lambda_b c_j)
 *
 * The model is a cmf_model_f32 / _f64 whose row biases and global mean are
 * neither read nor written (the row bias and mu do not change a user's
 * ranking), so cmf_predict_* with row_bias NULL and global_mean 0 gives the
 * scores. x (its dot product summed in double) and g are computed in
 * double, the factor step from them in the model's precision.
 *
 * Sampling and threads. An epoch first lays the positives out
 * (cmf_bpr_layout): for a grid of B x B blocks, every user and every item
 * gets a block number drawn afresh each epoch, a pure function of (seed,
 * epoch, index); block (R, C) holds the positives (u, i) with u in user
 * block R and i in item block C. Then, block by block, a block with n
 * positives runs n samples: sample t draws a positive uniformly (with
 * replacement) from the block and a negative from item block C: uniformly
 * over its items (CMF_BPR_UNIFORM), or in proportion to their numbers of
 * positives (CMF_BPR_POPULARITY, as implicit's BPR samples: a uniform draw
 * among the positives of the block's items, over all users). With
 * reject_positives, a negative the user interacted with
 * (found by binary search in its sorted positives) is drawn again, up to
 * max_tries draws in all, after which the sample is skipped (counted in
 * n_skipped). j == i is always drawn again. Every draw comes from one
 * splitmix64 stream per block, seeded by (seed, epoch, block): 64 bits per
 * sample, the positive from the high 32 bits and the negative from the low
 * 32 (Lemire's multiply-shift), each repeated negative from a further
 * 64-bit draw. Since the item blocks are random each epoch, a negative is
 * marginally uniform over all items.
 *
 * Blocks (R, C) and (R', C') with R != R' and C != C' touch disjoint rows
 * and columns of the model: a stratum of B such blocks, e.g. (R, (R + s)
 * mod B) for R = 0 .. B-1, may run on B threads at once, and since each
 * block's samples depend only on (seed, epoch, block) the result is the
 * same bits whichever thread runs a block and however many threads there
 * are. B = 1 is the plain sequential epoch.
 *
 * Generator, exactly (all arithmetic modulo 2^64, G = 0x9E3779B97F4A7C15):
 *     next(s):    s += G; z = s; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *                 z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *                 return z ^ (z >> 31)
 *     mix(h, v):  s = h + v * G; return next(s)
 *     key(seed, epoch, tag, index) =
 *                 mix(mix(mix(seed ^ 0xD1B54A32D192ED03, epoch), tag), index)
 *     user block of u:  (key(seed, epoch, 0, u) >> 32) * B >> 32
 *     item block of i:  (key(seed, epoch, 1, i) >> 32) * B >> 32
 *     block stream:     s = key(seed, epoch, 2, block), then next(s) ...
 *     from a draw r:    position in the block's positives
 *                       ((r >> 32) * n) >> 32; position among the item
 *                       block's items (or its weighted items)
 *                       ((r & 0xFFFFFFFF) * m) >> 32
 * (epoch, tag and index enter as unsigned 64-bit integers: an int64 epoch
 * by two's complement, int32 indices zero-extended through uint32_t.)
 */

/** Positives of implicit feedback by row (CSR); only read. */
typedef struct cmf_interactions {
    int32_t n_rows;          /**< number of users, >= 0 */
    int32_t n_cols;          /**< number of items, >= 0 */
    /** (in) row u's items are indices[indptr[u] .. indptr[u + 1]);
     *  dimension [n_rows + 1], indptr[0] == 0, non-decreasing. */
    const int64_t *indptr;
    /** (in) item indices, dimension [indptr[n_rows]], each in
     *  [0, n_cols), strictly increasing within a row. */
    const int32_t *indices;
} cmf_interactions;

/** How a BPR epoch draws its negatives (cmf_bpr_params.negatives). */
typedef enum cmf_bpr_negatives {
    CMF_BPR_UNIFORM = 0,    /**< every item of the block alike */
    CMF_BPR_POPULARITY = 1  /**< in proportion to the item's positives */
} cmf_bpr_negatives;

/** Hyperparameters of a BPR epoch; defaults from cmf_bpr_default_params. */
typedef struct cmf_bpr_params {
    /** Step size gamma; finite and > 0. Default 0.01. */
    double learning_rate;
    /** L2 penalty lambda on p_u, q_i and q_j; finite, >= 0. Default 0.01. */
    double regularization;
    /** L2 penalty lambda_b on c_i and c_j; finite, >= 0. Default 0.01. */
    double bias_regularization;
    /** Non-zero: item biases c are used and updated (model->col_bias then
     *  non-NULL). Zero: they are neither read nor written. Default 1. */
    int update_biases;
    /** Non-zero: a negative the user interacted with is drawn again.
     *  Default 1. */
    int reject_positives;
    /** Draws of a negative per sample, >= 1. Default 10. */
    int32_t max_tries;
    /** Non-zero: cmf_bpr_stats.loss is summed (a log and an exp per
     *  sample, about a tenth of an epoch's time); zero: it stays 0.
     *  Default 0. */
    int compute_loss;
    /** A cmf_bpr_negatives; CMF_BPR_POPULARITY needs the layout's
     *  weighted arrays. Default CMF_BPR_UNIFORM. */
    int negatives;
} cmf_bpr_params;

/** Where a BPR epoch's blocks are, written by cmf_bpr_layout. The caller
 *  owns the arrays; the epoch only reads them. */
typedef struct cmf_bpr_grid {
    int32_t n_blocks;   /**< B: the grid is B x B, 1 <= B <= 46340 */
    /** block (R, C) = R * B + C holds positives [block_ptr[b],
     *  block_ptr[b + 1]); dimension [B * B + 1]. */
    int64_t *block_ptr;
    int32_t *rows;      /**< user of each positive, [nnz] */
    int32_t *cols;      /**< item of each positive, [nnz] */
    /** item block C's items are items[item_ptr[C] .. item_ptr[C + 1]);
     *  dimension [B + 1]. */
    int32_t *item_ptr;
    int32_t *items;     /**< the items grouped by block, [n_cols] */
    /** (optional) item block C's weighted items are weighted[weighted_ptr[C]
     *  .. weighted_ptr[C + 1]): the item of every positive whose item is in
     *  block C, in the order of the data; dimension [B + 1]. NULL (with
     *  weighted) when the epochs draw uniform negatives. */
    int64_t *weighted_ptr;
    int32_t *weighted;  /**< (optional) [nnz], see weighted_ptr */
} cmf_bpr_grid;

/** What a BPR epoch did (all outputs). */
typedef struct cmf_bpr_stats {
    /** with compute_loss, the sum over the samples of ln(1 + exp(-x)), the
     *  log-loss before each step, in double; else 0 */
    double loss;
    int64_t n_samples;  /**< samples run (steps taken) */
    int64_t n_correct;  /**< samples with x > 0 before the step */
    int64_t n_skipped;  /**< samples skipped: no negative in max_tries */
} cmf_bpr_stats;

/**
 * Default BPR hyperparameters (learning_rate 0.01, regularization 0.01,
 * bias_regularization 0.01, update_biases 1, reject_positives 1,
 * max_tries 10, compute_loss 0, negatives CMF_BPR_UNIFORM); the step sizes and penalties are those
 * of implicit's BayesianPersonalizedRanking.
 *
 * @return a filled cmf_bpr_params by value.
 */
CMF_API cmf_bpr_params cmf_bpr_default_params(void);

/**
 * Check BPR parameters.
 *
 * @param params (in) the parameters to check.
 * @return CMF_OK, CMF_ERR_NULL_POINTER or CMF_ERR_INVALID_PARAMETER.
 */
CMF_API cmf_status cmf_bpr_check_params(const cmf_bpr_params *params);

/**
 * Lay one epoch's positives out in a B x B grid of random blocks (see
 * above), checking the interactions on the way.
 *
 * @param data   (in) the positives; checked: sizes >= 0, indptr[0] == 0,
 *               non-decreasing, indices in range and strictly increasing
 *               within each row.
 * @param seed   (in) any 64-bit value: the fit's seed.
 * @param epoch  (in) the epoch number (any value).
 * @param layout (in/out) n_blocks set by the caller (1..46340) and every
 *               array allocated by the caller with the dimensions given in
 *               cmf_bpr_grid; the arrays are written (a counting sort:
 *               O(nnz + n_rows + n_cols + B^2) time, no other memory),
 *               weighted_ptr and weighted when both are non-NULL.
 * @return CMF_OK; CMF_ERR_NULL_POINTER; CMF_ERR_INVALID_PARAMETER (sizes,
 *         n_blocks, or indptr not starting at 0 and non-decreasing, or
 *         nnz > INT32_MAX); CMF_ERR_INDEX_OUT_OF_RANGE (an item outside
 *         [0, n_cols), or a row's items not strictly increasing). The
 *         data are checked before anything is written.
 */
CMF_API cmf_status cmf_bpr_layout(const cmf_interactions *data, uint64_t seed,
                                  int64_t epoch, cmf_bpr_grid *layout);

/**
 * Run the BPR samples of the given blocks of one epoch, one block after the
 * other (see above for what is drawn and what a step does).
 *
 * @param params  (in) hyperparameters; checked with cmf_bpr_check_params.
 * @param model   (in/out) P (n_rows x k), Q (n_cols x k) and, with
 *                update_biases, the item biases col_bias; row_bias,
 *                global_mean and the AdaGrad arrays are ignored. Its
 *                n_rows and n_cols must equal the data's.
 * @param data    (in) the positives the layout was made from (for the
 *                rejection of a user's positives).
 * @param layout  (in) written by cmf_bpr_layout for this (seed, epoch).
 * @param seed    (in) the seed the layout was made with.
 * @param epoch   (in) the epoch the layout was made for.
 * @param blocks  (in) block numbers to run, in this order, [n_visit];
 *                each in [0, B * B). May be NULL when n_visit is 0.
 * @param n_visit (in) number of blocks, >= 0.
 * @param stats   (out) what the samples did, summed over the blocks.
 * @return CMF_OK; CMF_ERR_NULL_POINTER (also CMF_BPR_POPULARITY without
 *         the weighted arrays); CMF_ERR_INVALID_PARAMETER (params, model
 *         sizes, a model that does not match the data, a layout whose
 *         offsets are not within 0..nnz and non-decreasing, or a block with
 *         2^32 positives or more); CMF_ERR_INDEX_OUT_OF_RANGE (a block
 *         number, or a layout entry outside the model; the model is updated
 *         up to there); CMF_ERR_NON_FINITE (x became NaN or infinite: SGD
 *         diverged; the model is updated up to there and should be restored
 *         by the caller).
 *
 * Thread safety: concurrent calls on the same model are safe when the sets
 * of blocks they run share no user block and no item block.
 */
CMF_API cmf_status cmf_bpr_blocks_f32(const cmf_bpr_params *params,
                                      cmf_model_f32 *model,
                                      const cmf_interactions *data,
                                      const cmf_bpr_grid *layout,
                                      uint64_t seed, int64_t epoch,
                                      const int32_t *blocks, int64_t n_visit,
                                      cmf_bpr_stats *stats);

/** Double-precision version of cmf_bpr_blocks_f32. */
CMF_API cmf_status cmf_bpr_blocks_f64(
    const cmf_bpr_params *params, cmf_model_f64 *model,
    const cmf_interactions *data, const cmf_bpr_grid *layout, uint64_t seed,
    int64_t epoch, const int32_t *blocks, int64_t n_visit,
    cmf_bpr_stats *stats);

/**
 * The draws of the BPR sampler, for tests and for callers that replay an
 * epoch: the first n outputs of block `block`'s stream for (seed, epoch).
 *
 * @param out (out) dimension [n], owned by the caller.
 * @param n   (in) >= 0.
 * @return CMF_OK, CMF_ERR_NULL_POINTER or CMF_ERR_INVALID_PARAMETER.
 */
CMF_API cmf_status cmf_bpr_draws(uint64_t seed, int64_t epoch, int32_t block,
                                 int64_t n, uint64_t *out);

/* ------------------------------------------------------------------------
 * Gibbs sampling for Bayesian matrix factorization
 * ------------------------------------------------------------------------
 * Bayesian probabilistic matrix factorization (Salakhutdinov and Mnih,
 * ICML 2008) models centred ratings as r = x_u . y_i + noise of precision
 * alpha, with Gaussian priors on the rows of X and Y. A Gibbs sweep draws
 * every row of X given Y, then every row of Y given X; cmf_gibbs_rows does
 * one such half sweep, for a range of rows. For row u with entries (j, r):
 *
 *     precision_u = Lambda + alpha sum_j y_j y_j^T        (= L L^T)
 *     mean_u      = precision_u^-1 (Lambda mu + alpha sum_j r y_j)
 *     x_u         = mean_u + L^-T z_u
 *
 * where z_u holds k standard normals the caller drew, so that the random
 * numbers (and hence the results) do not depend on the library or on how
 * the rows are split across threads. All arithmetic is in double. Each
 * row is computed from the inputs alone, so calls on disjoint row ranges
 * may run concurrently (each with its own work space) and give the same
 * bits as one call over all rows.
 */

/** One side of a Gibbs half sweep: the rows to draw and the other side. */
typedef struct cmf_gibbs_side {
    int32_t n_rows;        /* rows of the side drawn, >= 0 */
    int32_t n_other;       /* rows of the other side, >= 0 */
    int32_t n_factors;     /* k, >= 1 */
    const int64_t *indptr; /* [n_rows + 1]: row r's entries are
                              indptr[r] .. indptr[r + 1] - 1 (CSR) */
    const int32_t *indices; /* [indptr[n_rows]]: the other side's row of
                               each entry, in [0, n_other) */
    const double *values;  /* [indptr[n_rows]]: each entry's rating minus
                              the global mean */
    const double *other;   /* [n_other x k], row-major: the other side's
                              current rows (y_j) */
} cmf_gibbs_side;

/** The prior of the rows drawn and the noise of the ratings. */
typedef struct cmf_gibbs_prior {
    const double *mean;      /* [k]: mu */
    const double *precision; /* [k x k], row-major: Lambda, symmetric
                                positive definite (only its lower triangle
                                is read) */
    double noise_precision;  /* alpha, finite and > 0 */
} cmf_gibbs_prior;

/**
 * Draw rows row_begin .. row_end - 1 of one side from their conditional
 * posterior (see above).
 *
 * @param side      (in) the entries by row and the other side's rows.
 * @param prior     (in) prior mean and precision, noise precision.
 * @param row_begin (in) first row drawn, in [0, n_rows].
 * @param row_end   (in) one past the last row drawn, in [row_begin, n_rows].
 * @param normals   (in) [n_rows x k], row-major: standard normals; row r of
 *                  the draw uses normals[r * k .. r * k + k - 1] (indexed
 *                  by the row itself, not by its place in the range).
 * @param work      (scratch) [k * (k + 2)] doubles owned by the caller;
 *                  contents on entry do not matter, on return unspecified.
 *                  Concurrent calls need one each.
 * @param out       (out) [n_rows x k], row-major: row r of the draw goes to
 *                  out[r * k ..]; other rows are not touched. Must not
 *                  overlap side->other.
 * @return CMF_OK; CMF_ERR_NULL_POINTER (side, prior or work; or, for a
 *         non-empty range, indptr, the prior's arrays, normals, out,
 *         other when n_other > 0, indices and values when a row has
 *         entries); CMF_ERR_INVALID_PARAMETER (k < 1, a negative size, a
 *         row range outside [0, n_rows], a noise precision that is not
 *         finite and > 0, decreasing or negative indptr, or a posterior
 *         precision that is not positive definite: a prior precision
 *         that is not); CMF_ERR_INDEX_OUT_OF_RANGE (an entry's index
 *         outside [0, n_other)); CMF_ERR_NON_FINITE (a draw that is NaN or
 *         infinite: non-finite inputs). On an error the rows before the
 *         failing one have been written.
 */
CMF_API cmf_status cmf_gibbs_rows(const cmf_gibbs_side *side,
                                  const cmf_gibbs_prior *prior,
                                  int32_t row_begin, int32_t row_end,
                                  const double *normals, double *work,
                                  double *out);

/* ------------------------------------------------------------------------
 * Initial factors
 * ------------------------------------------------------------------------
 * cmf starts a fit from factors drawn from a normal distribution, drawn by
 * cmf_normal_rows_* so that the draws are as fast as the rest of the setup
 * and the same on every platform that computes log and exp alike (the draws
 * of a standard normal by NumPy, in comparison, took about half a W1 fit's
 * setup).
 *
 * Definition. Row u's values are successive standard normals from the
 * splitmix64 stream of cmf_epoch_schedule (all arithmetic modulo 2^64)
 * started from state = (seed ^ 0x13198A2E03707344) + u * 0x9E3779B97F4A7C15;
 * state = next(). Each standard normal is Marsaglia and Tsang's ziggurat
 * with 256 layers over the tables of cmf_ziggurat.h (R = 3.654152885361009;
 * src_c/tools/make_ziggurat.py defines them): r = next(); layer
 * i = r & 0xFF, sign = bit 8 of r, j = r >> 12; x = +-j * w[i];
 *
 *     j < k[i]:  return x
 *     i == 0:    the tail: repeat a = -log(u1) / R, b = -log(u2) until
 *                2 b > a^2, return +-(R + a)
 *     otherwise: y = f[i] + (f[i+1] - f[i]) * (next() >> 11) 2^-53;
 *                return x if y < exp(-x^2 / 2), else start again
 *
 * where u1, u2 = ((next() >> 11) + 1) 2^-53, each its own draw, in (0, 1].
 * Rows are independent: any split of them into calls (or threads) gives the
 * same bits.
 */

/**
 * Fill n_rows rows of a row-major array with scaled standard normals: row i
 * gets scale * z_0, ..., scale * z_(k-1) of row first_row + i's stream (see
 * above), computed in double and rounded once to float, then zeros up to
 * the row stride (padding columns).
 *
 * @param seed       (in) any 64-bit value.
 * @param first_row  (in) the stream number of out's first row, >= 0.
 * @param n_rows     (in) rows to fill, >= 0.
 * @param k          (in) normals per row, >= 0.
 * @param row_stride (in) elements from one row of out to the next, >= k.
 * @param scale      (in) finite: every normal is multiplied by it.
 * @param out        (out) dimension [n_rows * row_stride], owned by the
 *                   caller. May be NULL when it has no elements.
 * @return CMF_OK; CMF_ERR_INVALID_PARAMETER (a negative first_row, n_rows
 *         or k, row_stride < k, or scale not finite); CMF_ERR_NULL_POINTER.
 */
CMF_API cmf_status cmf_normal_rows_f32(uint64_t seed, int64_t first_row,
                                       int64_t n_rows, int32_t k,
                                       int64_t row_stride, double scale,
                                       float *out);

/** Double-precision version of cmf_normal_rows_f32 (no rounding). */
CMF_API cmf_status cmf_normal_rows_f64(uint64_t seed, int64_t first_row,
                                       int64_t n_rows, int32_t k,
                                       int64_t row_stride, double scale,
                                       double *out);

#ifdef __cplusplus
}
#endif

#endif /* CMF_H */
