/*
 * cmf_sgd.c -- the SGD epoch and the prediction for float and double,
 * built from the one body in cmf_epoch_per_precision.h, plus the small
 * helpers that do not depend on the precision.
 */
#include "cmf.h"
#include "cmf_cpu.h"


const char *cmf_strerror(cmf_status status)
{
    switch (status) {
    case CMF_OK:
        return "success";
    case CMF_ERR_NULL_POINTER:
        return "a required pointer argument is NULL";
    case CMF_ERR_INVALID_PARAMETER:
        return "invalid parameter: n_factors must be >= 1, sizes >= 0, "
               "learning_rate finite and > 0, regularizations finite and >= 0, "
               "simd_variant one this build and CPU run, loss a cmf_loss; "
               "adaptive only with the squared loss, no L1, weights or nonnegative";
    case CMF_ERR_INDEX_OUT_OF_RANGE:
        return "a row, column or order index is outside the model or data";
    case CMF_ERR_NON_FINITE:
        return "the loss became NaN or infinite: SGD diverged; "
               "use a smaller learning rate";
    case CMF_ERR_PARSE:
        return "a line of the text could not be read";
    }
    return "unknown cmf status";
}

cmf_params cmf_default_params(void)
{
    cmf_params params;
    params.learning_rate = 0.005;
    params.regularization = 0.02;
    params.bias_regularization = 0.02;
    params.update_biases = 1;
    params.adaptive = 0;
    params.simd_variant = CMF_SIMD_AUTO;
    params.loss = CMF_LOSS_SQUARED;
    params.l1_regularization = 0.0;
    params.nonnegative = 0;
    return params;
}

/* Finite test without isfinite(), whose C99 macro MSVC only recently got. */
static int is_finite_(double x)
{
    return x - x == 0.0;
}

cmf_status cmf_check_params(const cmf_params *params)
{
    if (params == NULL)
        return CMF_ERR_NULL_POINTER;
    if (!is_finite_(params->learning_rate) || !(params->learning_rate > 0.0))
        return CMF_ERR_INVALID_PARAMETER;
    if (!is_finite_(params->regularization) || params->regularization < 0.0)
        return CMF_ERR_INVALID_PARAMETER;
    if (!is_finite_(params->bias_regularization) ||
        params->bias_regularization < 0.0)
        return CMF_ERR_INVALID_PARAMETER;
    if (cmf_cpu_requested_(params->simd_variant) < 0)
        return CMF_ERR_INVALID_PARAMETER;
    if (params->loss < CMF_LOSS_SQUARED || params->loss > CMF_LOSS_LAST)
        return CMF_ERR_INVALID_PARAMETER;
    if (!is_finite_(params->l1_regularization) ||
        params->l1_regularization < 0.0)
        return CMF_ERR_INVALID_PARAMETER;
    /* AdaGrad's step is written for the squared loss alone. */
    if (params->adaptive &&
        (params->loss != CMF_LOSS_SQUARED || params->l1_regularization > 0.0 ||
         params->nonnegative))
        return CMF_ERR_INVALID_PARAMETER;
    return CMF_OK;
}

/* The epoch and prediction, once per precision. */
#define CMF_PER_PRECISION "cmf_epoch_per_precision.h"
#include "cmf_precisions.h"
