/*
 * cmf_blocks_api_impl.h -- partition and blocked epoch entry points for one
 * precision: argument checks, then the instruction-set variant the CPU
 * supports.
 *
 * Not a public header and has no include guard on purpose:
 * cmf_blocks_precision.h includes it once per precision, after
 * instantiating the loop's baseline, AVX2 and AVX-512 variants; the
 * variant to run comes from cmf_cpu_variant_ (cmf_blocks.c).
 */
#define CMF_PNAME(base) CMF_CAT(base, CMF_SUFFIX)
#define CMF_PMODEL CMF_CAT(cmf_model_, CMF_SUFFIX)
#define CMF_PTRIPLETS CMF_CAT(cmf_triplets_, CMF_SUFFIX)
#define CMF_PBLOCKED CMF_CAT(cmf_blocked_, CMF_SUFFIX)

cmf_status CMF_PNAME(cmf_partition_)(const CMF_PTRIPLETS *data,
                                     int32_t n_rows, int32_t n_cols,
                                     int32_t row_block_size,
                                     int32_t col_block_size,
                                     int64_t *block_ptr,
                                     uint16_t *local_rows,
                                     uint16_t *local_cols,
                                     CMF_REAL *values)
{
    int32_t n_row_blocks, n_col_blocks;
    int64_t n_blocks, b, t;

    if (data == NULL || block_ptr == NULL)
        return CMF_ERR_NULL_POINTER;
    if (data->n < 0 || n_rows < 0 || n_cols < 0 ||
        row_block_size < 1 || row_block_size > CMF_MAX_BLOCK_SIZE ||
        col_block_size < 1 || col_block_size > CMF_MAX_BLOCK_SIZE)
        return CMF_ERR_INVALID_PARAMETER;
    if (data->n > 0 && (data->rows == NULL || data->cols == NULL ||
                        data->values == NULL || local_rows == NULL ||
                        local_cols == NULL || values == NULL))
        return CMF_ERR_NULL_POINTER;
    n_row_blocks = cmf_n_blocks(n_rows, row_block_size);
    n_col_blocks = cmf_n_blocks(n_cols, col_block_size);
    n_blocks = (int64_t)n_row_blocks * n_col_blocks;

    /* Counting sort in two passes; block_ptr serves first as the counts,
     * then as each block's write cursor, and is shifted back at the end,
     * so no other memory is needed. */
    for (b = 0; b <= n_blocks; ++b)
        block_ptr[b] = 0;
    for (t = 0; t < data->n; ++t) {
        const int32_t u = data->rows[t], i = data->cols[t];
        if ((uint32_t)u >= (uint32_t)n_rows || (uint32_t)i >= (uint32_t)n_cols)
            return CMF_ERR_INDEX_OUT_OF_RANGE;
        ++block_ptr[(int64_t)(u / row_block_size) * n_col_blocks +
                    i / col_block_size + 1];
    }
    for (b = 0; b < n_blocks; ++b)
        block_ptr[b + 1] += block_ptr[b];
    for (t = 0; t < data->n; ++t) {
        const int32_t u = data->rows[t], i = data->cols[t];
        const int64_t blk = (int64_t)(u / row_block_size) * n_col_blocks +
                            i / col_block_size;
        const int64_t dest = block_ptr[blk]++;
        local_rows[dest] = (uint16_t)(u % row_block_size);
        local_cols[dest] = (uint16_t)(i % col_block_size);
        values[dest] = data->values[t];
    }
    /* Each cursor now points at the next block's start: shift them up. */
    for (b = n_blocks; b > 0; --b)
        block_ptr[b] = block_ptr[b - 1];
    block_ptr[0] = 0;
    return CMF_OK;
}

static cmf_status CMF_PNAME(sgd_blocks_checked_)(const cmf_params *params,
                                                 CMF_PMODEL *model,
                                                 const CMF_PBLOCKED *blocked,
                                                 const int32_t *blocks,
                                                 const int32_t *keys,
                                                 int64_t n_visit, uint64_t seed,
                                                 int32_t *scratch,
                                                 int64_t n_scratch, double *sse)
{
    cmf_status status;
    int64_t n_blocks, v;

    if (sse == NULL || blocked == NULL || model == NULL)
        return CMF_ERR_NULL_POINTER;
    *sse = 0.0;
    status = cmf_check_params(params);
    if (status != CMF_OK)
        return status;
    if (model->row_factors == NULL || model->col_factors == NULL ||
        (params->update_biases &&
         (model->row_bias == NULL || model->col_bias == NULL)) ||
        (params->adaptive &&
         (model->row_adagrad == NULL || model->col_adagrad == NULL)))
        return CMF_ERR_NULL_POINTER;
    if (model->n_rows < 0 || model->n_cols < 0 || model->n_factors < 1 ||
        n_visit < 0 || n_scratch < 0 || blocked->n_row_blocks < 0 ||
        blocked->n_col_blocks < 0 || blocked->row_block_size < 1 ||
        blocked->row_block_size > CMF_MAX_BLOCK_SIZE ||
        blocked->col_block_size < 1 ||
        blocked->col_block_size > CMF_MAX_BLOCK_SIZE)
        return CMF_ERR_INVALID_PARAMETER;
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

    switch (cmf_cpu_variant_()) {
#if CMF_X86_AVX512
    case CMF_VARIANT_AVX512_:
        status = CMF_PNAME(blocks_loop_avx512_)(params, model, blocked, blocks,
                                                 keys, n_visit, seed, scratch,
                                                 sse);
        break;
#endif
#if CMF_X86_DISPATCH
    case CMF_VARIANT_AVX2_:
        status = CMF_PNAME(blocks_loop_avx2_)(params, model, blocked, blocks,
                                               keys, n_visit, seed, scratch,
                                               sse);
        break;
#endif
    default:
        status = CMF_PNAME(blocks_loop_base_)(params, model, blocked, blocks,
                                               keys, n_visit, seed, scratch,
                                               sse);
        break;
    }
    if (status == CMF_OK && *sse - *sse != 0.0)
        return CMF_ERR_NON_FINITE;
    return status;
}

cmf_status CMF_PNAME(cmf_sgd_blocks_)(const cmf_params *params,
                                      CMF_PMODEL *model,
                                      const CMF_PBLOCKED *blocked,
                                      const int32_t *blocks, int64_t n_visit,
                                      uint64_t seed, int32_t *scratch,
                                      int64_t n_scratch, double *sse)
{
    return CMF_PNAME(sgd_blocks_checked_)(params, model, blocked, blocks, NULL,
                                          n_visit, seed, scratch, n_scratch,
                                          sse);
}

cmf_status CMF_PNAME(cmf_sgd_blocks_keyed_)(const cmf_params *params,
                                            CMF_PMODEL *model,
                                            const CMF_PBLOCKED *blocked,
                                            const int32_t *blocks,
                                            const int32_t *keys,
                                            int64_t n_visit, uint64_t seed,
                                            int32_t *scratch,
                                            int64_t n_scratch, double *sse)
{
    if (n_visit > 0 && keys == NULL) {
        if (sse != NULL)
            *sse = 0.0;
        return CMF_ERR_NULL_POINTER;
    }
    return CMF_PNAME(sgd_blocks_checked_)(params, model, blocked, blocks, keys,
                                          n_visit, seed, scratch, n_scratch,
                                          sse);
}

#undef CMF_PNAME
#undef CMF_PMODEL
#undef CMF_PTRIPLETS
#undef CMF_PBLOCKED
