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
    int half, j;
    /* lane j += lane j + half, for half = 8, 4, 2 */
    for (half = 8; half > 1; half /= 2)
        for (j = 0; j < half; ++j)
            acc[j] += acc[j + half];
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

/* One bias b with gradient step g = e - lambda_b b: plain SGD moves it by
 * lr g; AdaGrad (h not NULL) first adds g^2 to its accumulator h, then
 * moves it by lr / sqrt(h) g. */
static void RT(ref_bias_)(REAL *bias, REAL *h, double e, double lr,
                          double lambda_b)
{
    const double old = (double)*bias;
    const double g = e - lambda_b * old;
    double rate = lr;
    if (h != NULL) {
        const double sum = (double)*h + g * g;
        *h = (REAL)sum;
        rate = lr / sqrt(sum);
    }
    *bias = (REAL)(old + rate * g);
}

/* AdaGrad's step size for one factor row x (the other vector y): its
 * accumulator g grows by |e y - lambda x|^2 / k first. */
static double RT(ref_adagrad_rate_)(REAL *g, const REAL *y, const REAL *x,
                                    double e, double lr, double lambda,
                                    int32_t k)
{
    const double sum = (double)*g +
        RT(ref_grad_sq_)(y, x, (REAL)e, (REAL)lambda, k) / (double)k;
    *g = (REAL)sum;
    return lr / sqrt(sum);
}

/* p <- p + (ep q - rp p) and q <- q + (eq p - rq q), both from the old
 * vectors, in the model's type. */
static void RT(ref_move_)(REAL *p, REAL *q, int32_t k, REAL ep, REAL rp,
                          REAL eq, REAL rq)
{
    int32_t f;
    for (f = 0; f < k; ++f) {
        const REAL old_p = p[f];
        const REAL old_q = q[f];
        p[f] = old_p + (ep * old_q - rp * old_p);
        q[f] = old_q + (eq * old_p - rq * old_q);
    }
}

/* One entry's update; returns e. */
static double RT(ref_update_)(const cmf_params *params, RMODEL *model,
                              int32_t u, int32_t i, double r)
{
    const int32_t k = model->n_factors;
    REAL *p = model->row_factors + (size_t)u * (size_t)k;
    REAL *q = model->col_factors + (size_t)i * (size_t)k;
    const double lr = params->learning_rate;
    const double lambda = params->regularization;
    const int adagrad = params->adaptive;
    double e = model->global_mean + RT(ref_dot_)(p, q, k);

    if (params->update_biases) {
        e = r - (e + ((double)model->row_bias[u] + (double)model->col_bias[i]));
        RT(ref_bias_)(model->row_bias + u,
                      adagrad ? model->row_adagrad + 2 * (size_t)u + 1 : NULL,
                      e, lr, params->bias_regularization);
        RT(ref_bias_)(model->col_bias + i,
                      adagrad ? model->col_adagrad + 2 * (size_t)i + 1 : NULL,
                      e, lr, params->bias_regularization);
    } else {
        e = r - e;
    }
    if (adagrad) {
        /* Both rates from the old p and q, before either moves. */
        const double rate_p = RT(ref_adagrad_rate_)(
            model->row_adagrad + 2 * (size_t)u, q, p, e, lr, lambda, k);
        const double rate_q = RT(ref_adagrad_rate_)(
            model->col_adagrad + 2 * (size_t)i, p, q, e, lr, lambda, k);
        RT(ref_move_)(p, q, k, (REAL)(rate_p * e), (REAL)(rate_p * lambda),
                      (REAL)(rate_q * e), (REAL)(rate_q * lambda));
    } else {
        RT(ref_move_)(p, q, k, (REAL)(lr * e), (REAL)(lr * lambda),
                      (REAL)(lr * e), (REAL)(lr * lambda));
    }
    return e;
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
        /* Block b = R n_col_blocks + C starts at row R row_block_size and
         * column C col_block_size (row-major numbering, cmf.h). */
        const int64_t R = blocks[v] / blocked->n_col_blocks;
        const int64_t C = blocks[v] % blocked->n_col_blocks;
        const int64_t first = blocked->block_ptr[blocks[v]];
        const int64_t n = blocked->block_ptr[blocks[v] + 1] - first;
        if (cmf_block_order(seed, blocks[v], n, scratch) != CMF_OK)
            return CMF_ERR_INVALID_PARAMETER;
        for (t = 0; t < n; ++t) {
            const int64_t j = first + scratch[t];
            const int64_t u = R * blocked->row_block_size + blocked->local_rows[j];
            const int64_t i = C * blocked->col_block_size + blocked->local_cols[j];
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
