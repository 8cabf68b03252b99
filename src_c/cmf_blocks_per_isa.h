/*
 * cmf_blocks_per_isa.h -- the inner loop of the blocked epoch, written once
 * for a floating type and an instruction-set variant.
 *
 * Not a public header and has no include guard on purpose:
 * cmf_blocks_per_precision.h instantiates it through cmf_isas.h once per
 * (precision, instruction set), with the template parameters of
 * cmf_template.h defined. The arguments have been checked by the caller
 * (the grid has at most INT32_MAX blocks), except the per-entry row and
 * column, which are checked here.
 */
#include <stddef.h>
#include <stdint.h>

#include "cmf.h"
#include "cmf_compiler.h"
#include "cmf_prefetch.h"
#include "cmf_template.h"
#include "cmf_update_per_isa.h"

#ifndef CMF_GATHER
#  define CMF_GATHER 64
#endif

/* Which update blocks_run_ makes: grouped squared loss, AdaGrad, or the
 * generic update of the other losses, weights, L1 and nonnegative (grouped
 * too). */
#ifndef CMF_MODE_GROUPED
#  define CMF_MODE_GROUPED 0
#  define CMF_MODE_ADAPTIVE 1
#  define CMF_MODE_GENERIC 2
#endif

/*
 * The blocked epoch for k = 16 n_chunks + (k % 16); mode is a CMF_MODE_.
 * Both are constants at each call site in blocks_loop_ below, so that
 * every instantiation is specialised (the grouped one has no trace of the
 * others).
 */
CMF_TARGET static CMF_ALWAYS_INLINE cmf_status CMF_TV(blocks_run_)(
    const cmf_params *params, CMF_MODEL *model, const CMF_BLOCKED *blocked,
    const int32_t *blocks, const int32_t *keys, int64_t n_visit,
    uint64_t seed, int32_t *scratch, double *sse, const size_t n_chunks,
    const int mode)
{
    const int32_t k = model->n_factors;
    const size_t tail = (size_t)k % CMF_LANES;
    const size_t size = sizeof(CMF_REAL);
    /* Prefetching pays only when the factors do not fit in cache; on a
     * small model it is pure overhead (about 60 instructions per pair). */
    const int prefetch = ((size_t)model->n_rows + (size_t)model->n_cols) *
                         (size_t)k * size > CMF_PREFETCH_MIN_BYTES;
    double total = 0.0;
    int64_t v, t, fetched;
    const char *band_next, *band_end;
    size_t band_step;

    for (v = 0; v < n_visit; ++v) {
        const int32_t block = blocks[v];
        const int64_t start = blocked->block_ptr[block];
        const int64_t len = blocked->block_ptr[block + 1] - start;
        /* The block's first row and column in 64 bits: a grid may be
         * larger than the model (its entries outside are reported), and
         * its far blocks' origins need not fit in int32. */
        const int64_t row0 = (int64_t)(block / blocked->n_col_blocks) *
                             blocked->row_block_size;
        const int64_t col0 = (int64_t)(block % blocked->n_col_blocks) *
                             blocked->col_block_size;
        const uint16_t *lrows = blocked->local_rows + start;
        const uint16_t *lcols = blocked->local_cols + start;
        const CMF_REAL *vals = blocked->values + start;
        const CMF_REAL *wts =
            blocked->weights != NULL ? blocked->weights + start : NULL;

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
        fetched = 0;
        while (t < len) {
            /* Entries are taken CMF_GATHER at a time from the random order
             * into small arrays first, and checked there: those loads are
             * independent of each other and overlap, whereas reading
             * lrows[scratch[t]] at each update puts two dependent loads
             * (one often an L1 miss: the factor rows evict the block's
             * entries) before the factor rows' addresses are known. Groups
             * never straddle two gathers; neither that nor the gathering
             * changes any result. */
            int32_t gu[CMF_GATHER], gi[CMF_GATHER];
            double gr[CMF_GATHER], gw[CMF_GATHER];
            const int64_t n_gather = len - t > CMF_GATHER ? CMF_GATHER : len - t;
            int64_t n_ok, g;
            for (n_ok = 0; n_ok < n_gather; ++n_ok) {
                const int32_t j = scratch[t + n_ok];
                const int64_t u = row0 + lrows[j];
                const int64_t i = col0 + lcols[j];
                if (u >= model->n_rows || i >= model->n_cols)
                    break; /* updated up to this entry, then reported */
                gu[n_ok] = (int32_t)u;
                gi[n_ok] = (int32_t)i;
                gr[n_ok] = (double)vals[j];
                if (mode == CMF_MODE_GENERIC)
                    gw[n_ok] = wts != NULL ? (double)wts[j] : 1.0;
            }
            if (band_next < band_end) {
                /* This gather's share of the next row band. */
                const char *stop = band_next + 64 * band_step * (size_t)n_ok;
                for (; band_next < band_end && band_next < stop; band_next += 64)
                    cmf_prefetch_line_l2_(band_next);
            }
            g = 0;
            while (g < n_ok) {
                size_t n_group = 1;
                if (prefetch) {
                    /* The order within a block is random: fetch the factor
                     * rows of the entries CMF_PREFETCH_DISTANCE ahead now
                     * so that their cache misses overlap with these
                     * updates. A row outside the model is only a hint
                     * here; it is rejected in its turn. */
                    const int64_t ahead = t + g + CMF_PREFETCH_DISTANCE + 4;
                    for (; fetched < ahead && fetched < len; ++fetched) {
                        const int32_t jn = scratch[fetched];
                        const int64_t un = row0 + lrows[jn];
                        const int64_t in = col0 + lcols[jn];
                        if (un < model->n_rows && in < model->n_cols) {
                            cmf_prefetch_row_(model->row_factors, (int32_t)un,
                                              k, size);
                            cmf_prefetch_row_(model->col_factors, (int32_t)in,
                                              k, size);
                        }
                    }
                }
                /* Up to 4 entries with pairwise distinct rows and
                 * pairwise distinct columns make one group (not with
                 * AdaGrad, whose update has no grouped form). */
                if (mode != CMF_MODE_ADAPTIVE && g + 4 <= n_ok) {
                    const int32_t *u = gu + g, *i = gi + g;
                    if (u[0] != u[1] && u[0] != u[2] && u[0] != u[3] &&
                        u[1] != u[2] && u[1] != u[3] && u[2] != u[3] &&
                        i[0] != i[1] && i[0] != i[2] && i[0] != i[3] &&
                        i[1] != i[2] && i[1] != i[3] && i[2] != i[3])
                        n_group = 4;
                }
                if (mode != CMF_MODE_ADAPTIVE && n_group == 1 && g + 2 <= n_ok &&
                    gu[g] != gu[g + 1] && gi[g] != gi[g + 1])
                    n_group = 2;
                /* Each group size a constant, so each call is unrolled. */
                if (mode == CMF_MODE_ADAPTIVE) {
                    const double e = CMF_TV(update_adaptive_)(
                        params, model, gu[g], gi[g], gr[g]);
                    total += e * e;
                } else if (mode == CMF_MODE_GENERIC) {
                    if (n_group == 4)
                        CMF_TV(update_generic_)(params, model, gu + g, gi + g, gr + g,
                                                gw + g, 4, &total, n_chunks, tail);
                    else if (n_group == 2)
                        CMF_TV(update_generic_)(params, model, gu + g, gi + g, gr + g,
                                                gw + g, 2, &total, n_chunks, tail);
                    else
                        CMF_TV(update_generic_)(params, model, gu + g, gi + g, gr + g,
                                                gw + g, 1, &total, n_chunks, tail);
                } else if (n_group == 4) {
                    CMF_TV(update_group_)(params, model, gu + g, gi + g,
                                            gr + g, 4, &total, n_chunks, tail);
                } else if (n_group == 2) {
                    CMF_TV(update_group_)(params, model, gu + g, gi + g,
                                            gr + g, 2, &total, n_chunks, tail);
                } else {
                    CMF_TV(update_group_)(params, model, gu + g, gi + g,
                                            gr + g, 1, &total, n_chunks, tail);
                }
                g += (int64_t)n_group;
            }
            if (n_ok < n_gather) {
                *sse = total;
                return CMF_ERR_INDEX_OUT_OF_RANGE;
            }
            t += n_gather;
        }
    }
    *sse = total;
    return CMF_OK;
}

/*
 * The blocked epoch, specialised for k < 144 (chunk counts 0 to 8) and
 * plain SGD with the squared loss; other k, AdaGrad and the generic update
 * take the general instantiation. Measured on W2 (10M ratings, AVX-512,
 * one thread): see benchmarks/README.md.
 */
CMF_TARGET static cmf_status CMF_TV(blocks_loop_)(
    const cmf_params *params, CMF_MODEL *model, const CMF_BLOCKED *blocked,
    const int32_t *blocks, const int32_t *keys, int64_t n_visit,
    uint64_t seed, int32_t *scratch, double *sse)
{
    const size_t n_chunks = (size_t)model->n_factors / CMF_LANES;
#define CMF_RUN_(chunks, mode)                                              \
    CMF_TV(blocks_run_)(params, model, blocked, blocks, keys, n_visit,    \
                          seed, scratch, sse, chunks, mode)
    if (params->adaptive)
        return CMF_RUN_(n_chunks, CMF_MODE_ADAPTIVE);
    if (CMF_T(needs_generic_)(params, blocked->weights != NULL))
        return CMF_RUN_(n_chunks, CMF_MODE_GENERIC);
    switch (n_chunks) {
    case 0: return CMF_RUN_(0, CMF_MODE_GROUPED);
    case 1: return CMF_RUN_(1, CMF_MODE_GROUPED);
    case 2: return CMF_RUN_(2, CMF_MODE_GROUPED);
    case 3: return CMF_RUN_(3, CMF_MODE_GROUPED);
    case 4: return CMF_RUN_(4, CMF_MODE_GROUPED);
    case 5: return CMF_RUN_(5, CMF_MODE_GROUPED);
    case 6: return CMF_RUN_(6, CMF_MODE_GROUPED);
    case 7: return CMF_RUN_(7, CMF_MODE_GROUPED);
    case 8: return CMF_RUN_(8, CMF_MODE_GROUPED);
    default: return CMF_RUN_(n_chunks, CMF_MODE_GROUPED);
    }
#undef CMF_RUN_
}
