/*
 * cmf_blocks_per_precision.h -- everything cmf_blocks.c compiles for one
 * precision: the blocked loop for each instruction set this build holds,
 * then the public entry points, which check their arguments and run the
 * variant the CPU supports.
 *
 * Not a public header and has no include guard on purpose: cmf_blocks.c
 * instantiates it through cmf_precisions.h once per precision, with the
 * precision's template parameters of cmf_template.h defined.
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX)
#  error "define the precision's template parameters of cmf_template.h first"
#endif

#include <stddef.h>
#include <stdint.h>

#include "cmf.h"
#include "cmf_check_per_precision.h"
#include "cmf_cpu.h"
#include "cmf_template.h"

/* The blocked loop, blocks_loop_<isa>_<precision>, per instruction set. */
#define CMF_PER_ISA "cmf_blocks_per_isa.h"
#include "cmf_isas.h"

#if CMF_VECTOR_EXT
/* The partition's per-entry loops, partition_blocks_<isa>_<precision> and
 * partition_locals_<isa>_<precision>, per instruction set. */
#define CMF_PER_ISA "cmf_partition_per_isa.h"
#include "cmf_isas.h"
#endif

/*
 * A grid the blocked functions accept: block sizes 1..CMF_MAX_BLOCK_SIZE,
 * block counts >= 0 and at most INT32_MAX blocks in all, so that every
 * block number and block number + 1 is an int32_t.
 */
static cmf_status CMF_T(check_grid_)(int32_t n_row_blocks,
                                     int32_t n_col_blocks,
                                     int32_t row_block_size,
                                     int32_t col_block_size)
{
    if (n_row_blocks < 0 || n_col_blocks < 0 ||
        row_block_size < 1 || row_block_size > CMF_MAX_BLOCK_SIZE ||
        col_block_size < 1 || col_block_size > CMF_MAX_BLOCK_SIZE ||
        (int64_t)n_row_blocks * n_col_blocks > INT32_MAX)
        return CMF_ERR_INVALID_PARAMETER;
    return CMF_OK;
}

#if CMF_VECTOR_EXT
/* The partition's per-entry loops of one instruction set. */
typedef struct CMF_T(partition_loops_) {
    uint32_t (*blocks)(const cmf_partition_grid_ *, const int32_t *,
                       const int32_t *, size_t, uint32_t *);
    void (*locals)(const cmf_partition_grid_ *, const int32_t *,
                   const int32_t *, size_t, uint32_t *, uint16_t *,
                   uint16_t *);
} CMF_T(partition_loops_);

/* Those of the widest instruction set this build holds and the CPU runs:
 * integer arithmetic, the same bits in every one. */
static CMF_T(partition_loops_) CMF_T(partition_loops_for_cpu_)(void)
{
    CMF_T(partition_loops_) loops;
#define CMF_LOOPS_(isa)                                                     \
    loops.blocks = CMF_T(CMF_CAT(partition_blocks_, isa));                 \
    loops.locals = CMF_T(CMF_CAT(partition_locals_, isa))
    switch (cmf_cpu_variant_()) {
#if CMF_X86_AVX512
    case CMF_VARIANT_AVX512_:
        CMF_LOOPS_(avx512_);
        break;
#endif
#if CMF_X86_DISPATCH
    case CMF_VARIANT_AVX2_:
        CMF_LOOPS_(avx2_);
        break;
#endif
    default:
        CMF_LOOPS_(base_);
        break;
    }
#undef CMF_LOOPS_
    return loops;
}

/*
 * The counting pass: block_ptr[b + 1] = the entries of block b, or
 * CMF_ERR_INDEX_OUT_OF_RANGE. A chunk of entries at a time: a vectorised
 * loop computes the chunk's blocks (cmf_partition_per_isa.h), a plain one
 * counts them. Both passes on W1 (80,000 entries, 32 blocks; AMD EPYC,
 * gcc -O3): 0.37 ms in one fused loop each (as before), 0.22 ms in chunks
 * with AVX-512, 0.20 with AVX2, 0.26 with SSE2 alone.
 */
static cmf_status CMF_T(partition_count_)(const cmf_partition_grid_ *grid,
                                          const CMF_TRIPLETS *data,
                                          int64_t *block_ptr)
{
    const CMF_T(partition_loops_) loops = CMF_T(partition_loops_for_cpu_)();
    uint32_t blk[CMF_PARTITION_CHUNK];
    int64_t t;
    for (t = 0; t < data->n; t += CMF_PARTITION_CHUNK) {
        const size_t n = data->n - t < CMF_PARTITION_CHUNK ?
                         (size_t)(data->n - t) : CMF_PARTITION_CHUNK;
        size_t l;
        if (loops.blocks(grid, data->rows + t, data->cols + t, n, blk))
            return CMF_ERR_INDEX_OUT_OF_RANGE;
        for (l = 0; l < n; ++l)
            ++block_ptr[blk[l] + 1];
    }
    return CMF_OK;
}

/* The scattering pass, in input order so that each block keeps it
 * (stable): entry t goes to block_ptr[its block]++. By chunks likewise. */
static void CMF_T(partition_scatter_)(const cmf_partition_grid_ *grid,
                                      const CMF_TRIPLETS *data,
                                      int64_t *block_ptr, uint16_t *local_rows,
                                      uint16_t *local_cols, CMF_REAL *values,
                                      CMF_REAL *weights)
{
    const CMF_T(partition_loops_) loops = CMF_T(partition_loops_for_cpu_)();
    uint32_t blk[CMF_PARTITION_CHUNK];
    uint16_t chunk_rows[CMF_PARTITION_CHUNK], chunk_cols[CMF_PARTITION_CHUNK];
    int64_t t;
    for (t = 0; t < data->n; t += CMF_PARTITION_CHUNK) {
        const size_t n = data->n - t < CMF_PARTITION_CHUNK ?
                         (size_t)(data->n - t) : CMF_PARTITION_CHUNK;
        const CMF_REAL *chunk_values = data->values + t;
        size_t l;
        loops.locals(grid, data->rows + t, data->cols + t, n, blk,
                     chunk_rows, chunk_cols);
        if (data->weights != NULL) {
            const CMF_REAL *chunk_weights = data->weights + t;
            for (l = 0; l < n; ++l) {
                const int64_t dest = block_ptr[blk[l]]++;
                local_rows[dest] = chunk_rows[l];
                local_cols[dest] = chunk_cols[l];
                values[dest] = chunk_values[l];
                weights[dest] = chunk_weights[l];
            }
        } else {
            for (l = 0; l < n; ++l) {
                const int64_t dest = block_ptr[blk[l]]++;
                local_rows[dest] = chunk_rows[l];
                local_cols[dest] = chunk_cols[l];
                values[dest] = chunk_values[l];
            }
        }
    }
}

#else /* !CMF_VECTOR_EXT */

/*
 * The same two passes without the vector extensions' compilers (MSVC,
 * CMF_PORTABLE), whose loops may stay scalar: then one fused loop per pass
 * is faster than the chunks (on W1 with gcc -fno-tree-vectorize: 0.33
 * against 0.45 ms).
 */
static cmf_status CMF_T(partition_count_)(const cmf_partition_grid_ *grid,
                                          const CMF_TRIPLETS *data,
                                          int64_t *block_ptr)
{
    int64_t t;
    for (t = 0; t < data->n; ++t) {
        const uint32_t u = (uint32_t)data->rows[t], i = (uint32_t)data->cols[t];
        if (u >= grid->n_rows || i >= grid->n_cols)
            return CMF_ERR_INDEX_OUT_OF_RANGE;
        ++block_ptr[cmf_divide_(u, grid->row_mult, grid->row_shift) * grid->n_col_blocks +
                    cmf_divide_(i, grid->col_mult, grid->col_shift) + 1];
    }
    return CMF_OK;
}

static void CMF_T(partition_scatter_)(const cmf_partition_grid_ *grid,
                                      const CMF_TRIPLETS *data,
                                      int64_t *block_ptr, uint16_t *local_rows,
                                      uint16_t *local_cols, CMF_REAL *values,
                                      CMF_REAL *weights)
{
    int64_t t;
    for (t = 0; t < data->n; ++t) {
        const uint32_t u = (uint32_t)data->rows[t], i = (uint32_t)data->cols[t];
        const uint32_t row_block = cmf_divide_(u, grid->row_mult, grid->row_shift);
        const uint32_t col_block = cmf_divide_(i, grid->col_mult, grid->col_shift);
        const int64_t dest = block_ptr[row_block * grid->n_col_blocks + col_block]++;
        local_rows[dest] = (uint16_t)(u - row_block * grid->row_block_size);
        local_cols[dest] = (uint16_t)(i - col_block * grid->col_block_size);
        values[dest] = data->values[t];
        if (data->weights != NULL)
            weights[dest] = data->weights[t];
    }
}

#endif /* CMF_VECTOR_EXT */

cmf_status CMF_T(cmf_partition_weighted_)(const CMF_TRIPLETS *data,
                                          int32_t n_rows, int32_t n_cols,
                                          int32_t row_block_size,
                                          int32_t col_block_size,
                                          int64_t *block_ptr,
                                          uint16_t *local_rows,
                                          uint16_t *local_cols,
                                          CMF_REAL *values, CMF_REAL *weights)
{
    int32_t n_row_blocks, n_col_blocks;
    int64_t n_blocks, b;
    cmf_status status;
    cmf_partition_grid_ grid;

    if (data == NULL || block_ptr == NULL)
        return CMF_ERR_NULL_POINTER;
    if (data->n < 0 || n_rows < 0 || n_cols < 0)
        return CMF_ERR_INVALID_PARAMETER;
    n_row_blocks = cmf_n_blocks(n_rows, row_block_size);
    n_col_blocks = cmf_n_blocks(n_cols, col_block_size);
    status = CMF_T(check_grid_)(n_row_blocks, n_col_blocks, row_block_size,
                                col_block_size);
    if (status != CMF_OK)
        return status;
    if (data->n > 0 && (data->rows == NULL || data->cols == NULL ||
                        data->values == NULL || local_rows == NULL ||
                        local_cols == NULL || values == NULL ||
                        (data->weights != NULL && weights == NULL)))
        return CMF_ERR_NULL_POINTER;
    n_blocks = (int64_t)n_row_blocks * n_col_blocks;
    grid = cmf_partition_grid_make_(n_rows, n_cols, n_col_blocks,
                                    row_block_size, col_block_size);

    /* Counting sort in two passes; block_ptr serves first as the counts,
     * then as each block's write cursor, and is shifted back at the end,
     * so no memory is needed beyond the outputs (and 2 KiB of stack). */
    for (b = 0; b <= n_blocks; ++b)
        block_ptr[b] = 0;
    status = CMF_T(partition_count_)(&grid, data, block_ptr);
    if (status != CMF_OK)
        return status;
    for (b = 0; b < n_blocks; ++b)
        block_ptr[b + 1] += block_ptr[b];
    CMF_T(partition_scatter_)(&grid, data, block_ptr, local_rows, local_cols,
                              values, weights);
    /* Each cursor now points at the next block's start: shift them up. */
    for (b = n_blocks; b > 0; --b)
        block_ptr[b] = block_ptr[b - 1];
    block_ptr[0] = 0;
    return CMF_OK;
}

cmf_status CMF_T(cmf_partition_)(const CMF_TRIPLETS *data, int32_t n_rows,
                                 int32_t n_cols, int32_t row_block_size,
                                 int32_t col_block_size, int64_t *block_ptr,
                                 uint16_t *local_rows, uint16_t *local_cols,
                                 CMF_REAL *values)
{
    /* Weighted data need the weights' output (CMF_ERR_NULL_POINTER). */
    return CMF_T(cmf_partition_weighted_)(data, n_rows, n_cols, row_block_size,
                                          col_block_size, block_ptr, local_rows,
                                          local_cols, values, NULL);
}

/* The checks of a blocked call that do not depend on its blocks. */
static cmf_status CMF_T(check_blocked_call_)(const cmf_params *params,
                                             CMF_MODEL *model,
                                             const CMF_BLOCKED *blocked,
                                             int64_t n_scratch, double *sse)
{
    cmf_status status;
    if (sse == NULL || blocked == NULL || model == NULL)
        return CMF_ERR_NULL_POINTER;
    status = CMF_T(check_epoch_call_)(params, model, sse);
    if (status != CMF_OK)
        return status;
    if (n_scratch < 0 || (params->adaptive && blocked->weights != NULL))
        return CMF_ERR_INVALID_PARAMETER;
    return CMF_T(check_grid_)(blocked->n_row_blocks, blocked->n_col_blocks,
                              blocked->row_block_size,
                              blocked->col_block_size);
}

/* The checks of the blocks a call visits: in the grid, each no longer
 * than the scratch, their arrays there. */
static cmf_status CMF_T(check_visits_)(const CMF_BLOCKED *blocked,
                                       const int32_t *blocks, int64_t n_visit,
                                       const int32_t *scratch,
                                       int64_t n_scratch)
{
    int64_t n_blocks, v;
    if (n_visit == 0)
        return CMF_OK;
    if (blocks == NULL || blocked->block_ptr == NULL)
        return CMF_ERR_NULL_POINTER;
    n_blocks = (int64_t)blocked->n_row_blocks * blocked->n_col_blocks;
    for (v = 0; v < n_visit; ++v) {
        int64_t len;
        if (blocks[v] < 0 || blocks[v] >= n_blocks)
            return CMF_ERR_INDEX_OUT_OF_RANGE;
        len = blocked->block_ptr[blocks[v] + 1] - blocked->block_ptr[blocks[v]];
        if (len < 0 || len > INT32_MAX)
            return CMF_ERR_INVALID_PARAMETER;
        if (len > n_scratch)
            return CMF_ERR_INVALID_PARAMETER;
        if (len > 0 && (scratch == NULL || blocked->local_rows == NULL ||
                        blocked->local_cols == NULL || blocked->values == NULL))
            return CMF_ERR_NULL_POINTER;
    }
    return CMF_OK;
}

/* Run checked blocks with the variant the parameters ask for. */
static cmf_status CMF_T(run_visits_)(const cmf_params *params,
                                     CMF_MODEL *model,
                                     const CMF_BLOCKED *blocked,
                                     const int32_t *blocks,
                                     const int32_t *keys, int64_t n_visit,
                                     uint64_t seed, int32_t *scratch,
                                     double *sse)
{
    cmf_status status;
    *sse = 0.0;
    if (n_visit == 0)
        return CMF_OK;
#define CMF_RUN_LOOP_(isa)                                                  \
    CMF_T(CMF_CAT(blocks_loop_, isa))(params, model, blocked, blocks, keys, \
                                      n_visit, seed, scratch, sse)
    /* cmf_check_params (in check_epoch_call_) refused a variant not
     * held or not run here, so the request is one of the cases below. */
    switch (cmf_cpu_requested_(params->simd_variant)) {
#if CMF_X86_AVX512
    case CMF_VARIANT_AVX512_:
        status = CMF_RUN_LOOP_(avx512_);
        break;
#endif
#if CMF_X86_DISPATCH
    case CMF_VARIANT_AVX2_:
        status = CMF_RUN_LOOP_(avx2_);
        break;
#endif
    default:
        status = CMF_RUN_LOOP_(base_);
        break;
    }
#undef CMF_RUN_LOOP_
    if (status == CMF_OK && *sse - *sse != 0.0)
        return CMF_ERR_NON_FINITE;
    return status;
}

static cmf_status CMF_T(sgd_blocks_checked_)(const cmf_params *params,
                                             CMF_MODEL *model,
                                             const CMF_BLOCKED *blocked,
                                             const int32_t *blocks,
                                             const int32_t *keys,
                                             int64_t n_visit, uint64_t seed,
                                             int32_t *scratch,
                                             int64_t n_scratch, double *sse)
{
    cmf_status status = CMF_T(check_blocked_call_)(params, model, blocked,
                                                   n_scratch, sse);
    if (status != CMF_OK)
        return status;
    if (n_visit < 0)
        return CMF_ERR_INVALID_PARAMETER;
    status = CMF_T(check_visits_)(blocked, blocks, n_visit, scratch, n_scratch);
    if (status != CMF_OK)
        return status;
    return CMF_T(run_visits_)(params, model, blocked, blocks, keys, n_visit,
                              seed, scratch, sse);
}

cmf_status CMF_T(cmf_sgd_blocks_)(const cmf_params *params, CMF_MODEL *model,
                                  const CMF_BLOCKED *blocked,
                                  const int32_t *blocks, int64_t n_visit,
                                  uint64_t seed, int32_t *scratch,
                                  int64_t n_scratch, double *sse)
{
    return CMF_T(sgd_blocks_checked_)(params, model, blocked, blocks, NULL,
                                      n_visit, seed, scratch, n_scratch, sse);
}

cmf_status CMF_T(cmf_sgd_blocks_keyed_)(const cmf_params *params,
                                        CMF_MODEL *model,
                                        const CMF_BLOCKED *blocked,
                                        const int32_t *blocks,
                                        const int32_t *keys, int64_t n_visit,
                                        uint64_t seed, int32_t *scratch,
                                        int64_t n_scratch, double *sse)
{
    if (n_visit > 0 && keys == NULL) {
        if (sse != NULL)
            *sse = 0.0;
        return CMF_ERR_NULL_POINTER;
    }
    return CMF_T(sgd_blocks_checked_)(params, model, blocked, blocks, keys,
                                      n_visit, seed, scratch, n_scratch, sse);
}

cmf_status CMF_T(cmf_sgd_tiles_)(const cmf_params *params, CMF_MODEL *model,
                                 const CMF_BLOCKED *blocked,
                                 const int32_t *blocks,
                                 const int64_t *tile_starts, int64_t n_tiles,
                                 uint64_t seed, int32_t *scratch,
                                 int64_t n_scratch, double *sse)
{
    double ignored;
    cmf_status status;
    int64_t t;
    if (n_tiles > 0 && (sse == NULL || tile_starts == NULL))
        return CMF_ERR_NULL_POINTER;
    if (n_tiles < 0)
        return CMF_ERR_INVALID_PARAMETER;
    for (t = 0; t < n_tiles; ++t)
        sse[t] = 0.0;
    status = CMF_T(check_blocked_call_)(params, model, blocked, n_scratch,
                                        &ignored);
    if (status != CMF_OK)
        return status;
    /* Every tile checked before the first update. */
    for (t = 0; t < n_tiles; ++t) {
        if (tile_starts[t] < 0 || tile_starts[t + 1] < tile_starts[t])
            return CMF_ERR_INVALID_PARAMETER;
        if (tile_starts[t + 1] == tile_starts[t])
            continue;
        if (blocks == NULL)
            return CMF_ERR_NULL_POINTER;
        status = CMF_T(check_visits_)(blocked, blocks + tile_starts[t],
                                      tile_starts[t + 1] - tile_starts[t],
                                      scratch, n_scratch);
        if (status != CMF_OK)
            return status;
    }
    for (t = 0; t < n_tiles; ++t) {
        if (tile_starts[t + 1] == tile_starts[t])
            continue; /* sse[t] stays 0, as for an empty cmf_sgd_blocks */
        status = CMF_T(run_visits_)(params, model, blocked,
                                    blocks + tile_starts[t], NULL,
                                    tile_starts[t + 1] - tile_starts[t], seed,
                                    scratch, &sse[t]);
        if (status != CMF_OK)
            return status;
    }
    return CMF_OK;
}
