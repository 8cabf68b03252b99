/*
 * cmf_sgd_impl.h -- the SGD kernel, written once for a floating type.
 *
 * Not a public header and has no include guard on purpose: cmf_sgd.c
 * includes it once per precision after defining
 *     CMF_REAL     the element type (float or double)
 *     CMF_SUFFIX   f32 or f64, appended to every function name
 */
#if !defined(CMF_REAL) || !defined(CMF_SUFFIX)
#  error "define CMF_REAL and CMF_SUFFIX before including cmf_sgd_impl.h"
#endif

#define CMF_NAME(base) CMF_CAT(base, CMF_SUFFIX)
#define CMF_MODEL CMF_CAT(cmf_model_, CMF_SUFFIX)
#define CMF_TRIPLETS CMF_CAT(cmf_triplets_, CMF_SUFFIX)

static cmf_status CMF_NAME(check_model_)(const CMF_MODEL *model,
                                         int need_biases)
{
    if (model == NULL || model->row_factors == NULL ||
        model->col_factors == NULL)
        return CMF_ERR_NULL_POINTER;
    if (need_biases && (model->row_bias == NULL || model->col_bias == NULL))
        return CMF_ERR_NULL_POINTER;
    if (model->n_rows < 0 || model->n_cols < 0 || model->n_factors < 1)
        return CMF_ERR_INVALID_PARAMETER;
    return CMF_OK;
}

/*
 * One update for the entry (u, i, r). Both factor rows are updated from
 * their values before this update: p is read into pu_old before p is
 * written, so q's gradient uses the old p (the classic bug is to use the
 * freshly written one). Returns the error e = r - r_hat before the update.
 */
static double CMF_NAME(update_one_)(const cmf_params *params,
                                    CMF_MODEL *model, int32_t u, int32_t i,
                                    double r)
{
    const int32_t k = model->n_factors;
    CMF_REAL *CMF_RESTRICT p = model->row_factors + (size_t)u * (size_t)k;
    CMF_REAL *CMF_RESTRICT q = model->col_factors + (size_t)i * (size_t)k;
    const double lr = params->learning_rate;
    const double reg = params->regularization;
    double dot = 0.0;
    double pred, e;
    int32_t f;

    for (f = 0; f < k; ++f)
        dot += (double)p[f] * (double)q[f];
    pred = model->global_mean + dot;
    if (params->update_biases)
        pred += (double)model->row_bias[u] + (double)model->col_bias[i];
    e = r - pred;

    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        const double bu = (double)model->row_bias[u];
        const double ci = (double)model->col_bias[i];
        model->row_bias[u] = (CMF_REAL)(bu + lr * (e - lrb * bu));
        model->col_bias[i] = (CMF_REAL)(ci + lr * (e - lrb * ci));
    }
    for (f = 0; f < k; ++f) {
        const double pf = (double)p[f];
        const double qf = (double)q[f];
        p[f] = (CMF_REAL)(pf + lr * (e * qf - reg * pf));
        q[f] = (CMF_REAL)(qf + lr * (e * pf - reg * qf));
    }
    return e;
}

cmf_status CMF_NAME(cmf_sgd_epoch_)(const cmf_params *params,
                                    CMF_MODEL *model,
                                    const CMF_TRIPLETS *data,
                                    const int64_t *order, int64_t n_order,
                                    double *sse)
{
    cmf_status status;
    double total = 0.0;
    int64_t t, n_visit;

    if (sse == NULL || data == NULL)
        return CMF_ERR_NULL_POINTER;
    *sse = 0.0;
    status = cmf_check_params(params);
    if (status != CMF_OK)
        return status;
    status = CMF_NAME(check_model_)(model, params->update_biases);
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
        double e;
        if (j < 0 || j >= data->n)
            goto out_of_range;
        u = data->rows[j];
        i = data->cols[j];
        /* Unsigned comparison folds the < 0 and >= size tests into one. */
        if ((uint32_t)u >= (uint32_t)model->n_rows ||
            (uint32_t)i >= (uint32_t)model->n_cols)
            goto out_of_range;
        e = CMF_NAME(update_one_)(params, model, u, i, (double)data->values[j]);
        total += e * e;
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

cmf_status CMF_NAME(cmf_predict_)(const CMF_MODEL *model,
                                  const int32_t *rows, const int32_t *cols,
                                  int64_t n, CMF_REAL *out)
{
    int64_t t;
    if (model == NULL || (n > 0 && (rows == NULL || cols == NULL ||
                                    out == NULL)))
        return CMF_ERR_NULL_POINTER;
    if (n < 0 || model->n_factors < 1 || model->n_rows < 0 ||
        model->n_cols < 0)
        return CMF_ERR_INVALID_PARAMETER;
    if ((model->n_rows > 0 && model->row_factors == NULL) ||
        (model->n_cols > 0 && model->col_factors == NULL))
        return CMF_ERR_NULL_POINTER;

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
            double dot = 0.0;
            int32_t f;
            for (f = 0; f < k; ++f)
                dot += (double)p[f] * (double)q[f];
            pred += dot;
        }
        out[t] = (CMF_REAL)pred;
    }
    return CMF_OK;
}

#undef CMF_NAME
#undef CMF_MODEL
#undef CMF_TRIPLETS
