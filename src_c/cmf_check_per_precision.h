/*
 * cmf_check_per_precision.h -- the one model check, written once for a
 * floating type and used by every entry point that takes a model (epoch,
 * prediction, blocked epochs).
 *
 * Not a public header and has no include guard on purpose: each
 * per-precision body that takes a model includes it, with the precision's
 * template parameters of cmf_template.h defined, so that each translation
 * unit holds its own static copy.
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX)
#  error "define the precision's template parameters of cmf_template.h first"
#endif

#include <stddef.h>

#include "cmf.h"
#include "cmf_template.h"

/*
 * The check of a model that every function taking one runs first (after
 * its own outputs and parameters): for an epoch with params, or for a
 * prediction when params is NULL.
 *
 * An epoch needs both factor arrays, the biases when params->update_biases
 * and the AdaGrad accumulators when params->adaptive; a prediction needs
 * only the factors of a side that has rows (n_rows > 0, n_cols > 0).
 * Either way n_rows >= 0, n_cols >= 0 and n_factors >= 1. Missing arrays
 * (CMF_ERR_NULL_POINTER) are reported before sizes out of range
 * (CMF_ERR_INVALID_PARAMETER).
 */
static cmf_status CMF_T(check_model_)(const CMF_MODEL *model,
                                      const cmf_params *params)
{
    if (model == NULL)
        return CMF_ERR_NULL_POINTER;
    if (params != NULL) {
        /* An epoch reads and writes every array its parameters use. */
        if (model->row_factors == NULL || model->col_factors == NULL)
            return CMF_ERR_NULL_POINTER;
        if (params->update_biases &&
            (model->row_bias == NULL || model->col_bias == NULL))
            return CMF_ERR_NULL_POINTER;
        if (params->adaptive &&
            (model->row_adagrad == NULL || model->col_adagrad == NULL))
            return CMF_ERR_NULL_POINTER;
    } else if ((model->n_rows > 0 && model->row_factors == NULL) ||
               (model->n_cols > 0 && model->col_factors == NULL)) {
        /* A prediction reads the factors of a non-empty side only. */
        return CMF_ERR_NULL_POINTER;
    }
    if (model->n_rows < 0 || model->n_cols < 0 || model->n_factors < 1)
        return CMF_ERR_INVALID_PARAMETER;
    return CMF_OK;
}


/*
 * The opening every epoch entry point (plain and blocked) shares, after
 * the checks of its own data: *sse is set to 0 before anything can fail,
 * then the parameters and the model are checked.
 */
static cmf_status CMF_T(check_epoch_call_)(const cmf_params *params,
                                           const CMF_MODEL *model, double *sse)
{
    cmf_status status;
    if (sse == NULL)
        return CMF_ERR_NULL_POINTER;
    *sse = 0.0;
    status = cmf_check_params(params);
    if (status != CMF_OK)
        return status;
    return CMF_T(check_model_)(model, params);
}


/*
 * Whether an epoch runs the generic per-entry update (cmf_update_per_isa.h)
 * instead of the grouped squared-loss one: another loss, L1, non-negative
 * factors or weights. Decided once per call.
 */
static int CMF_T(needs_generic_)(const cmf_params *params, int weighted)
{
    return params->loss != CMF_LOSS_SQUARED ||
           params->l1_regularization > 0.0 || params->nonnegative || weighted;
}
