/*
 * cmf_epoch_per_precision.h -- the SGD epoch in the caller's order and the
 * prediction, written once for a floating type.
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

#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
