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

#ifndef CMF_GATHER
#  define CMF_GATHER 64
#endif

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
    const char *band_next, *band_end;
    size_t band_step;

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

        if (v + 1 < n_visit) {
            /* The entries are read in a random order, which the hardware
             * prefetcher cannot follow: each block's first pass over its
             * (lrows, lcols, values) would take one cache miss per line in
             * the critical path. Fetch the next block's entries now, in
             * sequence, so that they are in cache when it starts (measured
             * on W2, k = 64: 39.5 -> 37.5 ns per update). */
            const int32_t next = blocks[v + 1];
            const int64_t nstart = blocked->block_ptr[next];
            /* A block far larger than usual would not stay in L2 anyway:
             * fetch at most its first 16384 entries (128 KiB in float32). */
            const int64_t nall = blocked->block_ptr[next + 1] - nstart;
            const size_t nlen = (size_t)(nall < 16384 ? nall : 16384);
            cmf_prefetch_span_(blocked->local_rows + nstart, nlen * sizeof(uint16_t));
            cmf_prefetch_span_(blocked->local_cols + nstart, nlen * sizeof(uint16_t));
            cmf_prefetch_span_(blocked->values + nstart, nlen * sizeof(CMF_REAL));
        }
        /* When the next block starts another row band, stream that band's
         * row factors into L2 a few lines per update over this block: one
         * sequential pass that the memory system serves faster than the
         * random first touches it replaces (measured on W2, k = 64: about
         * 1.5 ns per update less). The rows' per-entry prefetch below
         * still covers rows that were evicted since. */
        band_next = band_end = NULL;
        band_step = 0;
        if (prefetch && len > 0 && v + 1 < n_visit &&
            blocks[v + 1] / blocked->n_col_blocks != block / blocked->n_col_blocks) {
            const int64_t r0 = (int64_t)(blocks[v + 1] / blocked->n_col_blocks) *
                               blocked->row_block_size;
            const int64_t r1 = r0 + blocked->row_block_size < model->n_rows ?
                               r0 + blocked->row_block_size : model->n_rows;
            if (r0 < r1) {
                band_next = (const char *)(model->row_factors + (size_t)r0 * (size_t)k);
                band_end = (const char *)(model->row_factors + (size_t)r1 * (size_t)k);
                band_step = ((size_t)(band_end - band_next) / 64 + (size_t)len - 1) /
                            (size_t)len;
            }
        }
        /* keys (optional) name the block for its order: the number it has
         * in a larger grid this one is a piece of (cmf_sgd_blocks_keyed). */
        cmf_block_order(seed, keys != NULL ? keys[v] : block, len, scratch);
        t = 0;
        while (t < len) {
            /* Entries are taken CMF_GATHER at a time from the random order
             * into small arrays first: those loads are independent of each
             * other and overlap, whereas reading lrows[scratch[t]] at each
             * update puts two dependent loads (one often an L1 miss: the
             * factor rows evict the block's entries) before the factor
             * rows' addresses are known. Pairs never straddle two gathers;
             * neither that nor the gathering changes any result. */
            int32_t gu[CMF_GATHER], gi[CMF_GATHER];
            double gr[CMF_GATHER];
            const int64_t base = t;
            const int64_t stop = len - t > CMF_GATHER ? t + CMF_GATHER : len;
            int64_t g;
            for (g = base; g < stop; ++g) {
                const int32_t j = scratch[g];
                gu[g - base] = row0 + (int32_t)lrows[j];
                gi[g - base] = col0 + (int32_t)lcols[j];
                gr[g - base] = (double)vals[j];
            }
            while (t < stop) {
            if (band_next < band_end) {
                size_t s;
                for (s = 0; s < band_step && band_next < band_end; ++s, band_next += 64)
                    cmf_prefetch_line_l2_(band_next);
            }
            const int32_t u = gu[t - base];
            const int32_t i = gi[t - base];
            const double r = gr[t - base];
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
                    params, model, u, i, r);
                total += e * e;
                t += 1;
                continue;
            }
            if (t + 1 < stop) {
                const int32_t u2 = gu[t + 1 - base];
                const int32_t i2 = gi[t + 1 - base];
                if (u2 != u && i2 != i && (uint32_t)u2 < (uint32_t)model->n_rows &&
                    (uint32_t)i2 < (uint32_t)model->n_cols) {
                    /* Independent pair: both at once, same bits. */
                    CMF_NAME(update_two_)(params, model, u, i, r, u2, i2,
                                          gr[t + 1 - base], &total);
                    t += 2;
                    continue;
                }
            }
            {
                const double e = CMF_NAME(update_one_)(params, model, u, i, r);
                total += e * e;
            }
            t += 1;
            }
        }
    }
    *sse = total;
    return CMF_OK;
}
