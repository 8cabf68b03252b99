/*
 * cmf_bpr.c -- implicit feedback: the pairwise ranking (BPR) epoch of
 * cmf.h. The parts that do not depend on the precision are here (the
 * sampler's generator, the parameters, the per-epoch layout of the
 * positives in random blocks); the epoch itself is written once in
 * cmf_bpr_per_precision.h and compiled for float and double.
 */
#include "cmf.h"
#include "cmf_splitmix.h"

static uint64_t bpr_mix_(uint64_t h, uint64_t v)
{
    uint64_t state = h + v * CMF_SPLITMIX_GOLDEN;
    return cmf_splitmix64_next(&state);
}

/* key(seed, epoch, tag, index) of cmf.h: tag 0 user blocks, 1 item blocks,
 * 2 the block streams. */
static uint64_t bpr_key_(uint64_t seed, int64_t epoch, uint64_t tag,
                         int32_t index)
{
    uint64_t h = bpr_mix_(seed ^ UINT64_C(0xD1B54A32D192ED03),
                          (uint64_t)epoch);
    h = bpr_mix_(h, tag);
    return bpr_mix_(h, (uint64_t)(uint32_t)index);
}

/* Lemire's multiply-shift: a 32-bit draw scaled to [0, n), n < 2^32. */
static int64_t bpr_scale_(uint64_t draw32, uint64_t n)
{
    return (int64_t)((draw32 * n) >> 32);
}

static int32_t bpr_side_block_(uint64_t seed, int64_t epoch, uint64_t tag,
                               int32_t index, int32_t n_blocks)
{
    return (int32_t)bpr_scale_(bpr_key_(seed, epoch, tag, index) >> 32,
                               (uint64_t)n_blocks);
}

/* The largest B: B * B blocks and B * B + 1 offsets fit an int32_t. */
#define CMF_BPR_MAX_BLOCKS 46340

cmf_bpr_params cmf_bpr_default_params(void)
{
    /* learning_rate, regularization, bias_regularization, update_biases,
     * reject_positives, max_tries, compute_loss, negatives */
    const cmf_bpr_params defaults = {0.01, 0.01, 0.01, 1, 1, 10, 0,
                                     CMF_BPR_UNIFORM};
    return defaults;
}

/* Finite test without isfinite(), whose C99 macro MSVC only recently got. */
static int bpr_finite_(double x)
{
    return x - x == 0.0;
}

/* A finite step (> 0) or penalty (>= 0). */
static int bpr_rate_ok_(double x, int positive)
{
    return bpr_finite_(x) && (positive ? x > 0.0 : x >= 0.0);
}

cmf_status cmf_bpr_check_params(const cmf_bpr_params *params)
{
    if (params == NULL)
        return CMF_ERR_NULL_POINTER;
    return bpr_rate_ok_(params->learning_rate, 1) &&
                   bpr_rate_ok_(params->regularization, 0) &&
                   bpr_rate_ok_(params->bias_regularization, 0) &&
                   params->max_tries >= 1 &&
                   (params->negatives == CMF_BPR_UNIFORM ||
                    params->negatives == CMF_BPR_POPULARITY)
               ? CMF_OK
               : CMF_ERR_INVALID_PARAMETER;
}

/* The checks of the interactions that the layout makes (and the epoch
 * relies on for the binary search): sizes, indptr, sorted indices. */
static cmf_status bpr_check_data_(const cmf_interactions *data)
{
    int32_t u;
    if (data == NULL)
        return CMF_ERR_NULL_POINTER;
    if (data->n_rows < 0 || data->n_cols < 0)
        return CMF_ERR_INVALID_PARAMETER;
    if (data->indptr == NULL)
        return CMF_ERR_NULL_POINTER;
    if (data->indptr[0] != 0)
        return CMF_ERR_INVALID_PARAMETER;
    for (u = 0; u < data->n_rows; ++u) {
        const int64_t start = data->indptr[u], end = data->indptr[u + 1];
        int64_t t;
        if (end < start || end > INT32_MAX)
            return CMF_ERR_INVALID_PARAMETER;
        if (end > start && data->indices == NULL)
            return CMF_ERR_NULL_POINTER;
        for (t = start; t < end; ++t) {
            const int32_t i = data->indices[t];
            if ((uint32_t)i >= (uint32_t)data->n_cols ||
                (t > start && i <= data->indices[t - 1]))
                return CMF_ERR_INDEX_OUT_OF_RANGE;
        }
    }
    return CMF_OK;
}

/* The items of the positives grouped by item block (the draws of
 * CMF_BPR_POPULARITY), likewise by a counting sort. */
static void bpr_weighted_(const cmf_interactions *data, uint64_t seed,
                          int64_t epoch, cmf_bpr_grid *layout)
{
    const int32_t n_blocks = layout->n_blocks;
    const int64_t nnz = data->indptr[data->n_rows];
    int64_t b, t;
    for (b = 0; b <= n_blocks; ++b)
        layout->weighted_ptr[b] = 0;
    for (t = 0; t < nnz; ++t)
        ++layout->weighted_ptr[bpr_side_block_(seed, epoch, 1,
                                               data->indices[t], n_blocks) + 1];
    for (b = 0; b < n_blocks; ++b)
        layout->weighted_ptr[b + 1] += layout->weighted_ptr[b];
    for (t = 0; t < nnz; ++t) {
        const int32_t item = data->indices[t];
        layout->weighted[layout->weighted_ptr[
            bpr_side_block_(seed, epoch, 1, item, n_blocks)]++] = item;
    }
    for (b = n_blocks; b > 0; --b)
        layout->weighted_ptr[b] = layout->weighted_ptr[b - 1];
    layout->weighted_ptr[0] = 0;
}

cmf_status cmf_bpr_layout(const cmf_interactions *data, uint64_t seed,
                          int64_t epoch, cmf_bpr_grid *layout)
{
    int32_t u, i, n_blocks;
    int64_t b, n_grid, nnz;
    cmf_status status;

    status = layout != NULL ? bpr_check_data_(data) : CMF_ERR_NULL_POINTER;
    if (status != CMF_OK)
        return status;
    n_blocks = layout->n_blocks;
    if (n_blocks < 1 || n_blocks > CMF_BPR_MAX_BLOCKS)
        return CMF_ERR_INVALID_PARAMETER;
    nnz = data->indptr[data->n_rows];
    if (layout->block_ptr == NULL || layout->item_ptr == NULL ||
        (nnz > 0 && (layout->rows == NULL || layout->cols == NULL)) ||
        (data->n_cols > 0 && layout->items == NULL))
        return CMF_ERR_NULL_POINTER;
    n_grid = (int64_t)n_blocks * n_blocks;

    /* The items by block: a counting sort, item_ptr serving first as the
     * counts and then as the write cursors, shifted back at the end. */
    for (b = 0; b <= n_blocks; ++b)
        layout->item_ptr[b] = 0;
    for (i = 0; i < data->n_cols; ++i)
        ++layout->item_ptr[bpr_side_block_(seed, epoch, 1, i, n_blocks) + 1];
    for (b = 0; b < n_blocks; ++b)
        layout->item_ptr[b + 1] += layout->item_ptr[b];
    for (i = 0; i < data->n_cols; ++i) {
        const int32_t c = bpr_side_block_(seed, epoch, 1, i, n_blocks);
        layout->items[layout->item_ptr[c]++] = i;
    }
    for (b = n_blocks; b > 0; --b)
        layout->item_ptr[b] = layout->item_ptr[b - 1];
    layout->item_ptr[0] = 0;

    /* The positives by block, likewise; an item's block is found again by
     * hashing it (cheaper than memory for it). */
    for (b = 0; b <= n_grid; ++b)
        layout->block_ptr[b] = 0;
    for (u = 0; u < data->n_rows; ++u) {
        const int64_t row = (int64_t)bpr_side_block_(seed, epoch, 0, u,
                                                     n_blocks) * n_blocks;
        int64_t t;
        for (t = data->indptr[u]; t < data->indptr[u + 1]; ++t)
            ++layout->block_ptr[row + bpr_side_block_(
                seed, epoch, 1, data->indices[t], n_blocks) + 1];
    }
    for (b = 0; b < n_grid; ++b)
        layout->block_ptr[b + 1] += layout->block_ptr[b];
    for (u = 0; u < data->n_rows; ++u) {
        const int64_t row = (int64_t)bpr_side_block_(seed, epoch, 0, u,
                                                     n_blocks) * n_blocks;
        int64_t t;
        for (t = data->indptr[u]; t < data->indptr[u + 1]; ++t) {
            const int32_t item = data->indices[t];
            const int64_t at = layout->block_ptr[
                row + bpr_side_block_(seed, epoch, 1, item, n_blocks)]++;
            layout->rows[at] = u;
            layout->cols[at] = item;
        }
    }
    for (b = n_grid; b > 0; --b)
        layout->block_ptr[b] = layout->block_ptr[b - 1];
    layout->block_ptr[0] = 0;
    if (layout->weighted_ptr != NULL && layout->weighted != NULL)
        bpr_weighted_(data, seed, epoch, layout);
    return CMF_OK;
}

cmf_status cmf_bpr_draws(uint64_t seed, int64_t epoch, int32_t block,
                         int64_t n, uint64_t *out)
{
    uint64_t state;
    int64_t t;
    if (n < 0)
        return CMF_ERR_INVALID_PARAMETER;
    if (n > 0 && out == NULL)
        return CMF_ERR_NULL_POINTER;
    state = bpr_key_(seed, epoch, 2, block);
    for (t = 0; t < n; ++t)
        out[t] = cmf_splitmix64_next(&state);
    return CMF_OK;
}

/* Whether item i is among the n sorted items: a binary search without
 * branches on the data (a conditional move per halving), since a negative
 * is found or not at random and a mispredicted branch costs more than the
 * comparison. */
static int bpr_contains_(const int32_t *items, int64_t n, int32_t i)
{
    const int32_t *base = items;
    if (n <= 0)
        return 0;
    while (n > 1) {
        const int64_t half = n / 2;
        base = (base[half - 1] < i) ? base + half : base;
        n -= half;
    }
    return *base == i;
}

/* The epoch, once per precision. */
#define CMF_PER_PRECISION "cmf_bpr_per_precision.h"
#include "cmf_precisions.h"
