/*
 * cmf_epoch_per_precision.h -- the SGD epoch in the caller's order, the
 * prediction and the penalty, written once for a floating type.
 *
 * Not a public header and has no include guard on purpose: cmf_sgd.c
 * instantiates it through cmf_precisions.h once per precision, with the
 * precision's template parameters of cmf_template.h defined. The epoch
 * runs the update compiled for the baseline instruction set only (its
 * random order waits on memory, not on arithmetic); the blocked epoch is
 * the one dispatched per instruction set.
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX)
#  error "define the precision's template parameters of cmf_template.h first"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cmf.h"
#include "cmf_check_per_precision.h"
#include "cmf_prefetch.h"
#include "cmf_template.h"

/* The update step, compiled for the baseline instruction set. */
#define CMF_ISA base_
#define CMF_TARGET
#define CMF_VEC_BYTES 16 /* SSE2, NEON */
#include "cmf_update_per_isa.h"

cmf_status CMF_T(cmf_sgd_epoch_)(const cmf_params *params,
                                 CMF_MODEL *model, const CMF_TRIPLETS *data,
                                 const int64_t *order, int64_t n_order,
                                 double *sse)
{
    cmf_status status;
    double total = 0.0;
    int64_t t, n_visit;
    int generic;

    if (sse == NULL || data == NULL)
        return CMF_ERR_NULL_POINTER;
    status = CMF_T(check_epoch_call_)(params, model, sse);
    if (status != CMF_OK)
        return status;
    if (data->n < 0 || (order != NULL && n_order < 0))
        return CMF_ERR_INVALID_PARAMETER;
    n_visit = (order != NULL) ? n_order : data->n;
    if (n_visit > 0 &&
        (data->rows == NULL || data->cols == NULL || data->values == NULL))
        return CMF_ERR_NULL_POINTER;
    if (params->adaptive && data->weights != NULL)
        return CMF_ERR_INVALID_PARAMETER;
    /* Decided once: the grouped squared-loss update, or the generic one. */
    generic = CMF_T(needs_generic_)(params, data->weights != NULL);

    for (t = 0; t < n_visit; ++t) {
        const int64_t j = (order != NULL) ? order[t] : t;
        int32_t u, i;
        double r;
        if (j < 0 || j >= data->n)
            goto out_of_range;
        u = data->rows[j];
        i = data->cols[j];
        /* Unsigned comparison folds the < 0 and >= size tests into one. */
        if ((uint32_t)u >= (uint32_t)model->n_rows ||
            (uint32_t)i >= (uint32_t)model->n_cols)
            goto out_of_range;
        if (order != NULL && t + CMF_PREFETCH_DISTANCE < n_visit) {
            /* Random order: fetch a later entry's factor rows now so that
             * its cache misses overlap with this update's arithmetic. */
            const int64_t jn = order[t + CMF_PREFETCH_DISTANCE];
            if (jn >= 0 && jn < data->n) {
                const int32_t un = data->rows[jn], in = data->cols[jn];
                if ((uint32_t)un < (uint32_t)model->n_rows &&
                    (uint32_t)in < (uint32_t)model->n_cols) {
                    cmf_prefetch_row_(model->row_factors, un,
                                      model->n_factors, sizeof(CMF_REAL));
                    cmf_prefetch_row_(model->col_factors, in,
                                      model->n_factors, sizeof(CMF_REAL));
                }
            }
        }
        r = (double)data->values[j];
        if (params->adaptive) {
            const double e = CMF_TV(update_adaptive_)(params, model, u, i, r);
            total += e * e;
        } else if (generic) {
            const double w =
                data->weights != NULL ? (double)data->weights[j] : 1.0;
            CMF_TV(update_generic_)(params, model, &u, &i, &r, &w, 1, &total,
                                    (size_t)model->n_factors / CMF_LANES,
                                    (size_t)model->n_factors % CMF_LANES);
        } else {
            CMF_TV(update_group_)(params, model, &u, &i, &r, 1, &total,
                                  (size_t)model->n_factors / CMF_LANES,
                                  (size_t)model->n_factors % CMF_LANES);
        }
    }
    *sse = total;
    /* total - total is 0 for finite totals and NaN for NaN or inf. */
    if (total - total != 0.0)
        return CMF_ERR_NON_FINITE;
    return CMF_OK;

out_of_range:
    *sse = total;
    return CMF_ERR_INDEX_OUT_OF_RANGE;
}

cmf_status CMF_T(cmf_predict_)(const CMF_MODEL *model, const int32_t *rows,
                               const int32_t *cols, int64_t n, CMF_REAL *out)
{
    cmf_status status;
    int64_t t;
    if (n > 0 && (rows == NULL || cols == NULL || out == NULL))
        return CMF_ERR_NULL_POINTER;
    status = CMF_T(check_model_)(model, NULL);
    if (status != CMF_OK)
        return status;
    if (n < 0)
        return CMF_ERR_INVALID_PARAMETER;

    for (t = 0; t < n; ++t) {
        const int32_t u = rows[t], i = cols[t];
        const int known_u = (uint32_t)u < (uint32_t)model->n_rows;
        const int known_i = (uint32_t)i < (uint32_t)model->n_cols;
        double pred = model->global_mean;
        if (known_u && model->row_bias != NULL)
            pred += (double)model->row_bias[u];
        if (known_i && model->col_bias != NULL)
            pred += (double)model->col_bias[i];
        if (known_u && known_i) {
            const int32_t k = model->n_factors;
            const CMF_REAL *p = model->row_factors + (size_t)u * (size_t)k;
            const CMF_REAL *q = model->col_factors + (size_t)i * (size_t)k;
            pred += CMF_TV(dot_)(p, q, (size_t)k / CMF_LANES,
                                 (size_t)k % CMF_LANES);
        }
        out[t] = (CMF_REAL)pred;
    }
    return CMF_OK;
}

/*
 * The penalty's sums, in the order NumPy's einsum on x86-64's baseline
 * instruction set (SSE, no fused multiply-add) adds them, which computed
 * this penalty before it moved here: the losses of a fit, and the
 * decisions the bold driver takes on them, keep their bits.
 *
 * A row's squares are summed in CMF_REAL in CMF_PENALTY_LANES lanes (the
 * values of one 16-byte vector), four vectors a step, the fourth's squares
 * added first; then a vector (or what is left of the row) a step; then the
 * lanes pairwise.
 */
#define CMF_PENALTY_LANES (16 / CMF_REAL_BYTES)
/* Entries of NumPy's iteration buffer: each chunk is summed on its own. */
#define CMF_PENALTY_CHUNK 8192

/* The squared norms of `count` (up to 8) rows of x, side by side: each row
 * is one chain of additions, and the rows' chains overlap in the CPU. */
static void CMF_T(row_squares_)(const CMF_REAL *x, int32_t width, int count,
                                double *out)
{
    CMF_REAL acc[8][CMF_PENALTY_LANES];
    int32_t j;
    int r, l;
    for (r = 0; r < 8; ++r)
        for (l = 0; l < CMF_PENALTY_LANES; ++l)
            acc[r][l] = 0;
    for (j = 0; width - j >= 4 * CMF_PENALTY_LANES; j += 4 * CMF_PENALTY_LANES) {
        for (r = 0; r < count; ++r) {
            const CMF_REAL *v = x + (size_t)r * (size_t)width + j;
            for (l = 0; l < CMF_PENALTY_LANES; ++l) {
                const CMF_REAL a0 = v[l];
                const CMF_REAL a1 = v[l + CMF_PENALTY_LANES];
                const CMF_REAL a2 = v[l + 2 * CMF_PENALTY_LANES];
                const CMF_REAL a3 = v[l + 3 * CMF_PENALTY_LANES];
                CMF_REAL s = a3 * a3 + acc[r][l];
                s = a2 * a2 + s;
                s = a1 * a1 + s;
                acc[r][l] = a0 * a0 + s;
            }
        }
    }
    for (; j < width; j += CMF_PENALTY_LANES)
        for (r = 0; r < count; ++r) {
            const CMF_REAL *v = x + (size_t)r * (size_t)width + j;
            for (l = 0; l < CMF_PENALTY_LANES && j + l < width; ++l)
                acc[r][l] = v[l] * v[l] + acc[r][l];
        }
    for (r = 0; r < count; ++r)
#if CMF_PENALTY_LANES == 4
        out[r] = (double)((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]));
#else
        out[r] = (double)(acc[r][0] + acc[r][1]);
#endif
}

/*
 * Sum over the n rows r of x (width values each) of w[r] * |x_r|^2 in
 * double, per chunk of CMF_PENALTY_CHUNK rows: two lanes (even and odd
 * rows), eight rows a step, the last two first, then two rows a step; the
 * lanes added, and the chunks one after the other.
 */
static double CMF_T(weighted_squares_)(const CMF_REAL *x, int32_t n,
                                       int32_t width, const double *w)
{
    double total = 0.0;
    int32_t start, j, l;
    for (start = 0; start < n; start += CMF_PENALTY_CHUNK) {
        const int32_t m = n - start < CMF_PENALTY_CHUNK ? n - start : CMF_PENALTY_CHUNK;
        const double *wc = w + start;
        const CMF_REAL *xc = x + (size_t)start * (size_t)width;
        double acc[2] = {0.0, 0.0}, sq[8];
        for (j = 0; m - j >= 8; j += 8) {
            CMF_T(row_squares_)(xc + (size_t)j * (size_t)width, width, 8, sq);
            for (l = 0; l < 2; ++l) {
                double s = wc[j + 6 + l] * sq[6 + l] + acc[l];
                s = wc[j + 4 + l] * sq[4 + l] + s;
                s = wc[j + 2 + l] * sq[2 + l] + s;
                acc[l] = wc[j + l] * sq[l] + s;
            }
        }
        if (j < m) {
            CMF_T(row_squares_)(xc + (size_t)j * (size_t)width, width,
                                (int)(m - j), sq);
            for (l = 0; j + l < m; ++l)
                acc[l % 2] = wc[j + l] * sq[l] + acc[l % 2];
        }
        total = total + (acc[0] + acc[1]);
    }
    return total;
}

/* Sum over r < n of w[r] * v[r]^2 in double, (w v) v, per chunk in order. */
static double CMF_T(weighted_bias_squares_)(const CMF_REAL *v, int32_t n,
                                            const double *w)
{
    double total = 0.0;
    int32_t start, r;
    for (start = 0; start < n; start += CMF_PENALTY_CHUNK) {
        const int32_t end = n - start < CMF_PENALTY_CHUNK ? n : start + CMF_PENALTY_CHUNK;
        double acc = 0.0;
        for (r = start; r < end; ++r)
            acc += w[r] * (double)v[r] * (double)v[r];
        total = total + acc;
    }
    return total;
}

/* The checks both penalties make of their common arguments; *penalty is
 * set to 0 first, so that it holds 0 on any error. */
static cmf_status CMF_T(check_penalty_args_)(const CMF_MODEL *model,
                                             const double *row_weights,
                                             const double *col_weights,
                                             double *penalty)
{
    cmf_status status;
    if (penalty == NULL)
        return CMF_ERR_NULL_POINTER;
    *penalty = 0.0;
    status = CMF_T(check_model_)(model, NULL);
    if (status != CMF_OK)
        return status;
    if ((model->n_rows > 0 && row_weights == NULL) ||
        (model->n_cols > 0 && col_weights == NULL))
        return CMF_ERR_NULL_POINTER;
    return CMF_OK;
}

cmf_status CMF_T(cmf_penalty_)(const CMF_MODEL *model,
                               const double *row_weights,
                               const double *col_weights,
                               double regularization,
                               double bias_regularization, double *penalty)
{
    double total;
    cmf_status status =
        CMF_T(check_penalty_args_)(model, row_weights, col_weights, penalty);
    if (status != CMF_OK)
        return status;
    /* x - x == 0 is false for NaN and infinities. */
    if (!(regularization - regularization == 0.0) || regularization < 0.0 ||
        !(bias_regularization - bias_regularization == 0.0) ||
        bias_regularization < 0.0)
        return CMF_ERR_INVALID_PARAMETER;

    total = regularization *
            (CMF_T(weighted_squares_)(model->row_factors, model->n_rows,
                                      model->n_factors, row_weights) +
             CMF_T(weighted_squares_)(model->col_factors, model->n_cols,
                                      model->n_factors, col_weights));
    if (model->row_bias != NULL && model->col_bias != NULL)
        total += bias_regularization *
                 (CMF_T(weighted_bias_squares_)(model->row_bias, model->n_rows,
                                                row_weights) +
                  CMF_T(weighted_bias_squares_)(model->col_bias, model->n_cols,
                                                col_weights));
    *penalty = total;
    return CMF_OK;
}

/* Sum over the n rows r of x (width values each) of w[r] |x_r|_1, each
 * row's absolute values added in double in order. */
static double CMF_T(weighted_abs_)(const CMF_REAL *x, int32_t n, int32_t width,
                                   const double *w)
{
    double total = 0.0;
    int32_t r, j;
    for (r = 0; r < n; ++r) {
        const CMF_REAL *v = x + (size_t)r * (size_t)width;
        double row = 0.0;
        for (j = 0; j < width; ++j)
            row += fabs((double)v[j]);
        total += w[r] * row;
    }
    return total;
}

cmf_status CMF_T(cmf_penalty_l1_)(const CMF_MODEL *model,
                                  const double *row_weights,
                                  const double *col_weights,
                                  double l1_regularization, double *penalty)
{
    cmf_status status =
        CMF_T(check_penalty_args_)(model, row_weights, col_weights, penalty);
    if (status != CMF_OK)
        return status;
    if (!(l1_regularization - l1_regularization == 0.0) ||
        l1_regularization < 0.0)
        return CMF_ERR_INVALID_PARAMETER;
    *penalty = l1_regularization *
               (CMF_T(weighted_abs_)(model->row_factors, model->n_rows,
                                     model->n_factors, row_weights) +
                CMF_T(weighted_abs_)(model->col_factors, model->n_cols,
                                     model->n_factors, col_weights));
    return CMF_OK;
}

#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
