/*
 * cmf_bpr_per_precision.h -- the BPR epoch over blocks of a layout (see
 * "Implicit feedback" in cmf.h), written once for a floating type.
 *
 * Not a public header and has no include guard on purpose: cmf_bpr.c
 * instantiates it through cmf_precisions.h once per precision, with the
 * precision's template parameters of cmf_template.h defined, after its own
 * static helpers (cmf_splitmix64_next, bpr_key_, bpr_scale_, bpr_contains_,
 * bpr_finite_). The loops are plain C: a step reads three factor rows at
 * random and waits on memory more than on arithmetic.
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX)
#  error "define the precision's template parameters of cmf_template.h first"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cmf.h"
#include "cmf_compiler.h"
#include "cmf_prefetch.h"
#include "cmf_template.h"

/* x without the biases: p . (q_i - q_j) in double, eight partial sums
 * added in a fixed tree (the same bits with every compiler; eight chains
 * hide the latency of the additions). */
static double CMF_T(bpr_dot_)(const CMF_REAL *CMF_RESTRICT p,
                              const CMF_REAL *CMF_RESTRICT qi,
                              const CMF_REAL *CMF_RESTRICT qj, int32_t k)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int32_t f = 0, l;
    for (; f + 8 <= k; f += 8)
        for (l = 0; l < 8; ++l)
            s[l] += (double)p[f + l] * ((double)qi[f + l] - (double)qj[f + l]);
    for (l = 0; f < k; ++f, ++l)
        s[l] += (double)p[f] * ((double)qi[f] - (double)qj[f]);
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* One step for the triple (u, i, j); returns x before it. The rows are
 * distinct (i != j), so restrict holds. */
static double CMF_T(bpr_step_)(const cmf_bpr_params *params,
                               CMF_MODEL *model, int32_t u, int32_t i,
                               int32_t j)
{
    const int32_t k = model->n_factors;
    CMF_REAL *CMF_RESTRICT p = model->row_factors + (size_t)u * (size_t)k;
    CMF_REAL *CMF_RESTRICT qi = model->col_factors + (size_t)i * (size_t)k;
    CMF_REAL *CMF_RESTRICT qj = model->col_factors + (size_t)j * (size_t)k;
    const double lr = params->learning_rate, reg = params->regularization;
    double x = CMF_T(bpr_dot_)(p, qi, qj, k), g;
    int32_t f;
    if (params->update_biases)
        x += (double)model->col_bias[i] - (double)model->col_bias[j];
    /* sigmoid(-x) without overflow for either sign. */
    if (x > 0.0) {
        const double e = exp(-x);
        g = e / (1.0 + e);
    } else {
        g = 1.0 / (1.0 + exp(x));
    }
    {
        /* The factor step in the model's precision, as the squared-loss
         * epoch does (vector registers hold twice as many floats). */
        const CMF_REAL lr_r = (CMF_REAL)lr, g_r = (CMF_REAL)g;
        const CMF_REAL reg_r = (CMF_REAL)reg;
        for (f = 0; f < k; ++f) {
            const CMF_REAL pu = p[f], a = qi[f], b = qj[f];
            p[f] = pu + lr_r * (g_r * (a - b) - reg_r * pu);
            qi[f] = a + lr_r * (g_r * pu - reg_r * a);
            qj[f] = b + lr_r * (-g_r * pu - reg_r * b);
        }
    }
    if (params->update_biases) {
        const double breg = params->bias_regularization;
        const double ci = (double)model->col_bias[i];
        const double cj = (double)model->col_bias[j];
        model->col_bias[i] = (CMF_REAL)(ci + lr * (g - breg * ci));
        model->col_bias[j] = (CMF_REAL)(cj + lr * (-g - breg * cj));
    }
    return x;
}

cmf_status CMF_T(cmf_bpr_blocks_)(const cmf_bpr_params *params,
                                  CMF_MODEL *model,
                                  const cmf_interactions *data,
                                  const cmf_bpr_grid *layout,
                                  uint64_t seed, int64_t epoch,
                                  const int32_t *blocks, int64_t n_visit,
                                  cmf_bpr_stats *stats)
{
    cmf_status status;
    double loss = 0.0;
    int64_t v, n_samples = 0, n_correct = 0, n_skipped = 0, nnz, n_grid;
    const int tries = params != NULL ? params->max_tries : 0;

    if (stats == NULL)
        return CMF_ERR_NULL_POINTER;
    stats->loss = 0.0;
    stats->n_samples = stats->n_correct = stats->n_skipped = 0;
    status = cmf_bpr_check_params(params);
    if (status != CMF_OK)
        return status;
    if (model == NULL || data == NULL || layout == NULL || data->indptr == NULL)
        return CMF_ERR_NULL_POINTER;
    if (model->row_factors == NULL || model->col_factors == NULL ||
        (params->update_biases && model->col_bias == NULL))
        return CMF_ERR_NULL_POINTER;
    if (model->n_factors < 1 || model->n_rows != data->n_rows ||
        model->n_cols != data->n_cols || data->n_rows < 0 ||
        layout->n_blocks < 1 || layout->n_blocks > CMF_BPR_MAX_BLOCKS ||
        n_visit < 0)
        return CMF_ERR_INVALID_PARAMETER;
    if (n_visit > 0 && (blocks == NULL || layout->block_ptr == NULL ||
                        layout->item_ptr == NULL))
        return CMF_ERR_NULL_POINTER;
    nnz = data->indptr[data->n_rows];
    n_grid = (int64_t)layout->n_blocks * layout->n_blocks;

    for (v = 0; v < n_visit; ++v) {
        const int32_t block = blocks[v];
        const int32_t *negatives;
        int64_t start, n, first_item, m, n_negatives, t;
        uint64_t state;
        if (block < 0 || block >= n_grid) {
            status = CMF_ERR_INDEX_OUT_OF_RANGE;
            goto done;
        }
        start = layout->block_ptr[block];
        n = layout->block_ptr[block + 1] - start;
        if (params->negatives == CMF_BPR_POPULARITY) {
            if (layout->weighted_ptr == NULL || layout->weighted == NULL) {
                status = CMF_ERR_NULL_POINTER;
                goto done;
            }
            negatives = layout->weighted;
            first_item = layout->weighted_ptr[block % layout->n_blocks];
            m = layout->weighted_ptr[block % layout->n_blocks + 1] - first_item;
            n_negatives = nnz;
        } else {
            negatives = layout->items;
            first_item = layout->item_ptr[block % layout->n_blocks];
            m = layout->item_ptr[block % layout->n_blocks + 1] - first_item;
            n_negatives = data->n_cols;
        }
        if (start < 0 || n < 0 || start + n > nnz ||
            n > (int64_t)UINT32_MAX || first_item < 0 || m < 0 ||
            first_item + m > n_negatives || (n > 0 && m == 0)) {
            status = CMF_ERR_INVALID_PARAMETER;
            goto done;
        }
        if (n > 0 && (layout->rows == NULL || layout->cols == NULL ||
                      negatives == NULL)) {
            status = CMF_ERR_NULL_POINTER;
            goto done;
        }
        state = bpr_key_(seed, epoch, 2, block);
        for (t = 0; t < n; ++t) {
            uint64_t r = cmf_splitmix64_next(&state);
            const int64_t e = start + bpr_scale_(r >> 32, (uint64_t)n);
            const int32_t u = layout->rows[e], i = layout->cols[e];
            int32_t j = -1;
            int attempt;
            double x;
            if ((uint32_t)u >= (uint32_t)model->n_rows ||
                (uint32_t)i >= (uint32_t)model->n_cols) {
                status = CMF_ERR_INDEX_OUT_OF_RANGE;
                goto done;
            }
            if (t + 1 < n) {
                /* The next sample's rows, from a copy of the stream: most
                 * samples draw once, and a wrong guess only costs the
                 * fetch. */
                uint64_t peek = state;
                const uint64_t rn = cmf_splitmix64_next(&peek);
                const int64_t en = start + bpr_scale_(rn >> 32, (uint64_t)n);
                const int32_t jn = negatives[first_item +
                    bpr_scale_(rn & UINT64_C(0xFFFFFFFF), (uint64_t)m)];
                const int32_t k = model->n_factors;
                const int32_t un = layout->rows[en], in = layout->cols[en];
                if ((uint32_t)un < (uint32_t)model->n_rows &&
                    (uint32_t)in < (uint32_t)model->n_cols) {
                    cmf_prefetch_row_(model->row_factors, un, k,
                                      sizeof(CMF_REAL));
                    cmf_prefetch_row_(model->col_factors, in, k,
                                      sizeof(CMF_REAL));
                }
                if ((uint32_t)jn < (uint32_t)model->n_cols)
                    cmf_prefetch_row_(model->col_factors, jn, k,
                                      sizeof(CMF_REAL));
            }
            for (attempt = 0; attempt < tries; ++attempt) {
                int32_t candidate;
                if (attempt > 0)
                    r = cmf_splitmix64_next(&state);
                candidate = negatives[first_item +
                    bpr_scale_(r & UINT64_C(0xFFFFFFFF), (uint64_t)m)];
                if ((uint32_t)candidate >= (uint32_t)model->n_cols) {
                    status = CMF_ERR_INDEX_OUT_OF_RANGE;
                    goto done;
                }
                if (candidate == i ||
                    (params->reject_positives &&
                     bpr_contains_(data->indices + data->indptr[u],
                                   data->indptr[u + 1] - data->indptr[u],
                                   candidate)))
                    continue;
                j = candidate;
                break;
            }
            if (j < 0) {
                ++n_skipped;
                continue;
            }
            x = CMF_T(bpr_step_)(params, model, u, i, j);
            if (!bpr_finite_(x)) {
                status = CMF_ERR_NON_FINITE;
                goto done;
            }
            ++n_samples;
            n_correct += x > 0.0;
            /* ln(1 + exp(-x)), stable for either sign. */
            if (params->compute_loss)
                loss += x > 0.0 ? log1p(exp(-x)) : log1p(exp(x)) - x;
        }
    }
done:
    stats->loss = loss;
    stats->n_samples = n_samples;
    stats->n_correct = n_correct;
    stats->n_skipped = n_skipped;
    return status;
}
