/*
 * cmf_blocks_impl.h -- the inner loop of the blocked epoch, written once for
 * a floating type and an instruction-set variant.
 *
 * Not a public header and has no include guard on purpose: cmf_blocks.c
 * includes it once per (precision, instruction set) after defining
 * CMF_REAL, CMF_NAME, CMF_MODEL, CMF_BLOCKED and CMF_TARGET (see
 * cmf_update_impl.h). The arguments have been checked by the caller,
 * except the per-entry row and column, which are checked here.
 */
#include "cmf_update_impl.h"

CMF_TARGET static cmf_status CMF_NAME(blocks_loop_)(
    const cmf_params *params, CMF_MODEL *model, const CMF_BLOCKED *blocked,
    const int32_t *blocks, const int32_t *keys, int64_t n_visit,
    uint64_t seed, int32_t *scratch, double *sse)
{
    const int32_t k = model->n_factors;
    const size_t size = sizeof(CMF_REAL);
    /* Prefetching pays only when the factors do not fit in cache; on a
     * small model it is pure overhead (about 60 instructions per pair). */
    const int prefetch = ((size_t)model->n_rows + (size_t)model->n_cols) *
                         (size_t)k * size > CMF_PREFETCH_MIN_BYTES;
    double total = 0.0;
    int64_t v, t;

    for (v = 0; v < n_visit; ++v) {
        const int32_t block = blocks[v];
        const int64_t start = blocked->block_ptr[block];
        const int64_t len = blocked->block_ptr[block + 1] - start;
        const int32_t row0 = (block / blocked->n_col_blocks) *
                             blocked->row_block_size;
        const int32_t col0 = (block % blocked->n_col_blocks) *
                             blocked->col_block_size;
        const uint16_t *lrows = blocked->local_rows + start;
        const uint16_t *lcols = blocked->local_cols + start;
        const CMF_REAL *vals = blocked->values + start;

        /* keys (optional) name the block for its order: the number it has
         * in a larger grid this one is a piece of (cmf_sgd_blocks_keyed). */
        cmf_block_order(seed, keys != NULL ? keys[v] : block, len, scratch);
        t = 0;
        while (t < len) {
            const int32_t j = scratch[t];
            const int32_t u = row0 + (int32_t)lrows[j];
            const int32_t i = col0 + (int32_t)lcols[j];
            if ((uint32_t)u >= (uint32_t)model->n_rows ||
                (uint32_t)i >= (uint32_t)model->n_cols) {
                *sse = total;
                return CMF_ERR_INDEX_OUT_OF_RANGE;
            }
            if (prefetch && t + CMF_PREFETCH_DISTANCE + 1 < len) {
                /* The order within a block is random: fetch the factor rows
                 * of the entries two steps ahead now so that their cache
                 * misses overlap with these updates. A row outside the
                 * model is only a hint here; it is rejected in its turn. */
                int32_t a;
                for (a = 0; a < 2; ++a) {
                    const int32_t jn = scratch[t + CMF_PREFETCH_DISTANCE + a];
                    const int32_t un = row0 + (int32_t)lrows[jn];
                    const int32_t in = col0 + (int32_t)lcols[jn];
                    if ((uint32_t)un < (uint32_t)model->n_rows &&
                        (uint32_t)in < (uint32_t)model->n_cols) {
                        cmf_prefetch_row_(model->row_factors, un, k, size);
                        cmf_prefetch_row_(model->col_factors, in, k, size);
                    }
                }
            }
            if (params->adaptive) {
                const double e = CMF_NAME(update_adaptive_)(
                    params, model, u, i, (double)vals[j]);
                total += e * e;
                t += 1;
                continue;
            }
            if (t + 1 < len) {
                const int32_t j2 = scratch[t + 1];
                const int32_t u2 = row0 + (int32_t)lrows[j2];
                const int32_t i2 = col0 + (int32_t)lcols[j2];
                if (u2 != u && i2 != i && (uint32_t)u2 < (uint32_t)model->n_rows &&
                    (uint32_t)i2 < (uint32_t)model->n_cols) {
                    /* Independent pair: both at once, same bits. */
                    CMF_NAME(update_two_)(params, model, u, i, (double)vals[j],
                                          u2, i2, (double)vals[j2], &total);
                    t += 2;
                    continue;
                }
            }
            {
                const double e = CMF_NAME(update_one_)(params, model, u, i,
                                                       (double)vals[j]);
                total += e * e;
            }
            t += 1;
        }
    }
    *sse = total;
    return CMF_OK;
}
