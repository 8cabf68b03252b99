/*
 * reference_per_precision.h -- a plain scalar C reference of the epochs of
 * cmf.h, for test_blocks.c: one entry at a time, no vectors, no groups, no
 * gathering, no prefetching. Written from the update rules in cmf.h
 * (cmf_params and the model comment) and the documented rounding points
 * of cmf_update_per_isa.h, so that it gives the kernel's exact bits:
 *
 * - dot product: 16 partial sums of the model's type, coordinate f of the
 *   whole chunks in lane f % 16; the k % 16 coordinates past them in the
 *   last lanes (16 - tail + m) when k > 16, in lanes 0 .. tail - 1 when
 *   k < 16; then the tree j + 8, j + 4, j + 2 and the last two lanes added
 *   in double;
 * - plain update: e = r - ((mu + dot) + (b_u + c_i)) in double, biases
 *   rounded once from their double update, ge = (REAL)(lr e) and
 *   gr = (REAL)(lr lambda), p <- p + (ge q - gr p), q <- q + (ge p - gr q),
 *   both from the old values, in the model's type;
 * - AdaGrad: e as above; per bias H += g_b^2 then
 *   b += lr / sqrt(H) g_b; per factor row G += |g|^2 / k (|g|^2 a sum of
 *   squares of the model's type in 16 lanes, the tail in lanes 0 ..
 *   tail - 1, the same tree), then step lr / sqrt(G), all from the old p
 *   and q;
 * - the squared error e^2 of each entry, before its update, summed in
 *   double in visiting order.
 *
 * Included once per precision with REAL (float, double) and SUF (f32,
 * f64) defined; no include guard on purpose.
 */
#if !defined(REAL) || !defined(SUF)
#  error "define REAL and SUF first"
#endif

#include <math.h>
#include <stdint.h>

#include "cmf.h"

#define REF_CAT_(a, b) a##b
#define REF_CAT(a, b) REF_CAT_(a, b)
#define RT(name) REF_CAT(name, SUF)
#define RMODEL REF_CAT(cmf_model_, SUF)
#define RTRIPLETS REF_CAT(cmf_triplets_, SUF)
#define RBLOCKED REF_CAT(cmf_blocked_, SUF)

static double RT(ref_tree_)(REAL *acc)
{
    int j;
    for (j = 0; j < 8; ++j)
        acc[j] += acc[j + 8];
    for (j = 0; j < 4; ++j)
        acc[j] += acc[j + 4];
    for (j = 0; j < 2; ++j)
        acc[j] += acc[j + 2];
    return (double)acc[0] + (double)acc[1];
}

static double RT(ref_dot_)(const REAL *p, const REAL *q, int32_t k)
{
    REAL acc[16];
    const int32_t n_chunks = k / 16, tail = k % 16;
    int32_t f, m;
    for (m = 0; m < 16; ++m)
        acc[m] = 0;
    for (f = 0; f < 16 * n_chunks; ++f)
        acc[f % 16] += p[f] * q[f];
    for (m = 0; m < tail; ++m) {
        f = 16 * n_chunks + m;
        acc[n_chunks > 0 ? 16 - tail + m : m] += p[f] * q[f];
    }
    return RT(ref_tree_)(acc);
}

/* Sum over f of (a x_f - b y_f)^2, each term rounded to REAL. */
static double RT(ref_grad_sq_)(const REAL *x, const REAL *y, REAL a, REAL b,
                               int32_t k)
{
    REAL acc[16];
    int32_t f;
    for (f = 0; f < 16; ++f)
        acc[f] = 0;
    for (f = 0; f < k; ++f) {
        const REAL g = (REAL)(a * x[f] - b * y[f]);
        /* whole chunks by f % 16; the tail (f >= 16 (k / 16)) in lanes
         * 0 .. tail - 1, which is also f % 16 */
        acc[f % 16] += g * g;
    }
    return RT(ref_tree_)(acc);
}

/* One entry's update; returns e. */
static double RT(ref_update_)(const cmf_params *params, RMODEL *model,
                              int32_t u, int32_t i, double r)
{
    const int32_t k = model->n_factors;
    REAL *p = model->row_factors + (size_t)u * (size_t)k;
    REAL *q = model->col_factors + (size_t)i * (size_t)k;
    const double lr = params->learning_rate;
    const double reg = params->regularization;
    const double lrb = params->bias_regularization;
    const double pred = model->global_mean + RT(ref_dot_)(p, q, k);
    double e;
    int32_t f;

    if (!params->adaptive) {
        const REAL gr = (REAL)(lr * reg);
        REAL ge;
        if (params->update_biases) {
            const double bu = (double)model->row_bias[u];
            const double ci = (double)model->col_bias[i];
            e = r - (pred + (bu + ci));
            model->row_bias[u] = (REAL)(bu + lr * (e - lrb * bu));
            model->col_bias[i] = (REAL)(ci + lr * (e - lrb * ci));
        } else {
            e = r - pred;
        }
        ge = (REAL)(lr * e);
        for (f = 0; f < k; ++f) {
            const REAL pf = p[f], qf = q[f];
            p[f] = pf + (ge * qf - gr * pf);
            q[f] = qf + (ge * pf - gr * qf);
        }
        return e;
    } else {
        REAL *gu = model->row_adagrad + 2 * (size_t)u;
        REAL *gi = model->col_adagrad + 2 * (size_t)i;
        double sp, sq, Gu, Gi, su, si;
        REAL ep, rp, eq, rq;
        e = params->update_biases
            ? r - (pred + ((double)model->row_bias[u] + (double)model->col_bias[i]))
            : r - pred;
        if (params->update_biases) {
            const double bu = (double)model->row_bias[u];
            const double ci = (double)model->col_bias[i];
            const double gbu = e - lrb * bu, gci = e - lrb * ci;
            const double hu = (double)gu[1] + gbu * gbu;
            const double hi = (double)gi[1] + gci * gci;
            gu[1] = (REAL)hu;
            gi[1] = (REAL)hi;
            model->row_bias[u] = (REAL)(bu + lr / sqrt(hu) * gbu);
            model->col_bias[i] = (REAL)(ci + lr / sqrt(hi) * gci);
        }
        sp = RT(ref_grad_sq_)(q, p, (REAL)e, (REAL)reg, k);
        sq = RT(ref_grad_sq_)(p, q, (REAL)e, (REAL)reg, k);
        Gu = (double)gu[0] + sp / (double)k;
        Gi = (double)gi[0] + sq / (double)k;
        su = lr / sqrt(Gu);
        si = lr / sqrt(Gi);
        gu[0] = (REAL)Gu;
        gi[0] = (REAL)Gi;
        ep = (REAL)(su * e);
        rp = (REAL)(su * reg);
        eq = (REAL)(si * e);
        rq = (REAL)(si * reg);
        for (f = 0; f < k; ++f) {
            const REAL pf = p[f], qf = q[f];
            p[f] = pf + (ep * qf - rp * pf);
            q[f] = qf + (eq * pf - rq * qf);
        }
        return e;
    }
}

/* cmf_sgd_epoch_* (order may be NULL for the stored order); returns the
 * status the kernel must return. */
static cmf_status RT(ref_epoch_)(const cmf_params *params, RMODEL *model,
                                 const RTRIPLETS *data, const int64_t *order,
                                 int64_t n_order, double *sse)
{
    const int64_t n = order != NULL ? n_order : data->n;
    double total = 0.0;
    int64_t t;
    for (t = 0; t < n; ++t) {
        const int64_t j = order != NULL ? order[t] : t;
        const int32_t u = data->rows[j], i = data->cols[j];
        double e;
        if (u < 0 || u >= model->n_rows || i < 0 || i >= model->n_cols) {
            *sse = total;
            return CMF_ERR_INDEX_OUT_OF_RANGE;
        }
        e = RT(ref_update_)(params, model, u, i, (double)data->values[j]);
        total += e * e;
    }
    *sse = total;
    return total - total == 0.0 ? CMF_OK : CMF_ERR_NON_FINITE;
}

/* cmf_sgd_blocks_*: the blocks in the given order, each in the order of
 * cmf_block_order(seed, block, ...), scratch of at least the largest. */
static cmf_status RT(ref_blocks_)(const cmf_params *params, RMODEL *model,
                                  const RBLOCKED *blocked,
                                  const int32_t *blocks, int64_t n_visit,
                                  uint64_t seed, int32_t *scratch,
                                  double *sse)
{
    double total = 0.0;
    int64_t v, t;
    for (v = 0; v < n_visit; ++v) {
        const int32_t block = blocks[v];
        const int64_t start = blocked->block_ptr[block];
        const int64_t len = blocked->block_ptr[block + 1] - start;
        const int64_t row0 = (int64_t)(block / blocked->n_col_blocks) *
                             blocked->row_block_size;
        const int64_t col0 = (int64_t)(block % blocked->n_col_blocks) *
                             blocked->col_block_size;
        if (cmf_block_order(seed, block, len, scratch) != CMF_OK)
            return CMF_ERR_INVALID_PARAMETER;
        for (t = 0; t < len; ++t) {
            const int64_t j = start + scratch[t];
            const int64_t u = row0 + blocked->local_rows[j];
            const int64_t i = col0 + blocked->local_cols[j];
            double e;
            if (u >= model->n_rows || i >= model->n_cols) {
                *sse = total;
                return CMF_ERR_INDEX_OUT_OF_RANGE;
            }
            e = RT(ref_update_)(params, model, (int32_t)u, (int32_t)i,
                                (double)blocked->values[j]);
            total += e * e;
        }
    }
    *sse = total;
    return total - total == 0.0 ? CMF_OK : CMF_ERR_NON_FINITE;
}

#undef RT
#undef RMODEL
#undef RTRIPLETS
#undef RBLOCKED
#undef REF_CAT
#undef REF_CAT_
