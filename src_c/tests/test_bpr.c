/*
 * test_bpr.c -- unit tests of the pairwise ranking (BPR) API of cmf.h:
 * what cmf_bpr_layout writes (every positive once, in its block; the items
 * and the weighted items of each block), that blocks sharing no user block
 * and no item block give the same bits in any order (what makes threads
 * safe and their results identical), and the status codes of bad input.
 * The numbers themselves are checked against a NumPy transcription in
 * tests/test_bpr_kernel.py.
 *
 *   gcc -std=c99 -Isrc_c src_c/tests/test_bpr.c src_c/cmf_bpr.c -lm \
 *       -o /tmp/test_bpr && /tmp/test_bpr
 *
 * Prints one line per failure and a closing "N passed, N failed" line;
 * exits non-zero when anything failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmf.h"
#include "check.h"

#define N_ROWS 31
#define N_COLS 23
#define K 5
#define B 3
#define MAX_NNZ (N_ROWS * N_COLS)

static int64_t indptr[N_ROWS + 1];
static int32_t indices[MAX_NNZ];
static int64_t block_ptr[B * B + 1], weighted_ptr[B + 1];
static int32_t rows[MAX_NNZ], cols[MAX_NNZ], weighted[MAX_NNZ];
static int32_t item_ptr[B + 1], items[N_COLS];

/* A fixed pseudo-random stream (a 32-bit linear congruential generator):
 * the same data everywhere. */
static uint32_t lcg_state = 12345u;
static double uniform(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (double)(lcg_state >> 8) / 16777216.0;
}

static cmf_interactions make_data(void)
{
    const cmf_interactions data = {N_ROWS, N_COLS, indptr, indices};
    int32_t u, i;
    int64_t nnz = 0;
    indptr[0] = 0;
    for (u = 0; u < N_ROWS; ++u) {
        for (i = 0; i < N_COLS; ++i)
            if (uniform() < 0.3)
                indices[nnz++] = i;
        indptr[u + 1] = nnz;
    }
    return data;
}

static cmf_bpr_grid make_grid(void)
{
    const cmf_bpr_grid grid = {B, block_ptr, rows, cols, item_ptr, items,
                               weighted_ptr, weighted};
    return grid;
}

static void test_layout(void)
{
    cmf_interactions data = make_data();
    cmf_bpr_grid grid = make_grid();
    const int64_t nnz = indptr[N_ROWS];
    int seen[N_ROWS][N_COLS], item_seen[N_COLS], count[N_COLS];
    int64_t t;
    int32_t b, u, i, ok = 1;
    memset(seen, 0, sizeof seen);
    memset(item_seen, 0, sizeof item_seen);
    memset(count, 0, sizeof count);
    CHECK(cmf_bpr_layout(&data, 42, 3, &grid) == CMF_OK);
    CHECK(block_ptr[0] == 0 && block_ptr[B * B] == nnz);
    CHECK(item_ptr[0] == 0 && item_ptr[B] == N_COLS);
    CHECK(weighted_ptr[0] == 0 && weighted_ptr[B] == nnz);
    for (b = 0; b < B * B; ++b) {
        ok &= block_ptr[b] <= block_ptr[b + 1];
        for (t = block_ptr[b]; t < block_ptr[b + 1]; ++t) {
            /* the item's block is this block's column: it is among the
             * items of item block b % B */
            int found = 0;
            int32_t s;
            for (s = item_ptr[b % B]; s < item_ptr[b % B + 1]; ++s)
                found |= items[s] == cols[t];
            ok &= found;
            ++seen[rows[t]][cols[t]];
        }
    }
    CHECK(ok);
    for (u = 0; u < N_ROWS; ++u)
        for (t = indptr[u]; t < indptr[u + 1]; ++t)
            ok &= seen[u][indices[t]] == 1 && (--seen[u][indices[t]], 1);
    for (u = 0; u < N_ROWS; ++u)
        for (i = 0; i < N_COLS; ++i)
            ok &= seen[u][i] == 0; /* nothing but the positives */
    CHECK(ok);
    for (i = 0; i < N_COLS; ++i)
        ++item_seen[items[i]];
    for (t = 0; t < nnz; ++t)
        ++count[indices[t]];
    for (b = 0; b < B; ++b)
        for (t = weighted_ptr[b]; t < weighted_ptr[b + 1]; ++t)
            --count[weighted[t]];
    for (i = 0; i < N_COLS; ++i)
        ok &= item_seen[i] == 1 && count[i] == 0;
    CHECK(ok);
}

/* Run the blocks of every stratum, in the given order inside each. */
static cmf_status run_strata(const cmf_bpr_params *params,
                             cmf_model_f64 *model,
                             const cmf_interactions *data,
                             const cmf_bpr_grid *grid, int reverse,
                             int one_call)
{
    int32_t s, r, blocks[B];
    cmf_bpr_stats stats;
    cmf_status status = CMF_OK;
    for (s = 0; s < B && status == CMF_OK; ++s) {
        for (r = 0; r < B; ++r) {
            const int32_t row = reverse ? B - 1 - r : r;
            blocks[r] = row * B + (row + s) % B;
        }
        if (one_call) {
            status = cmf_bpr_blocks_f64(params, model, data, grid, 42, 3,
                                        blocks, B, &stats);
        } else {
            for (r = 0; r < B && status == CMF_OK; ++r)
                status = cmf_bpr_blocks_f64(params, model, data, grid, 42,
                                            3, blocks + r, 1, &stats);
        }
    }
    return status;
}

static void test_any_order_inside_a_stratum(void)
{
    cmf_interactions data = make_data();
    cmf_bpr_grid grid = make_grid();
    static double P[3][N_ROWS * K], Q[3][N_COLS * K], c[3][N_COLS];
    cmf_bpr_params params = cmf_bpr_default_params();
    int v, t;
    params.learning_rate = 0.05;
    params.negatives = CMF_BPR_POPULARITY;
    CHECK(cmf_bpr_layout(&data, 42, 3, &grid) == CMF_OK);
    for (t = 0; t < N_ROWS * K; ++t)
        P[0][t] = P[1][t] = P[2][t] = uniform() - 0.5;
    for (t = 0; t < N_COLS * K; ++t)
        Q[0][t] = Q[1][t] = Q[2][t] = uniform() - 0.5;
    for (t = 0; t < N_COLS; ++t)
        c[0][t] = c[1][t] = c[2][t] = 0.0;
    for (v = 0; v < 3; ++v) {
        cmf_model_f64 model = {N_ROWS, N_COLS, K, P[v], Q[v], NULL, c[v],
                               0.0, NULL, NULL};
        CHECK(run_strata(&params, &model, &data, &grid, v == 1, v == 2) ==
              CMF_OK);
    }
    for (v = 1; v < 3; ++v) {
        CHECK(memcmp(P[0], P[v], sizeof P[0]) == 0);
        CHECK(memcmp(Q[0], Q[v], sizeof Q[0]) == 0);
        CHECK(memcmp(c[0], c[v], sizeof c[0]) == 0);
    }
}

/* cmf_bpr_blocks_f32 with seed 0 and epoch 0. */
static cmf_status run32(const cmf_bpr_params *params, cmf_model_f32 *model,
                        const cmf_interactions *data,
                        const cmf_bpr_grid *grid, const int32_t *blocks,
                        int64_t n_visit, cmf_bpr_stats *stats)
{
    return cmf_bpr_blocks_f32(params, model, data, grid, 0, 0, blocks,
                              n_visit, stats);
}

static void test_errors(void)
{
    cmf_interactions data = make_data();
    cmf_bpr_grid grid = make_grid();
    static float P[N_ROWS * K], Q[N_COLS * K], c[N_COLS];
    cmf_model_f32 model = {N_ROWS, N_COLS, K, P, Q, NULL, c, 0.0,
                           NULL, NULL};
    cmf_bpr_params params = cmf_bpr_default_params();
    cmf_bpr_stats stats;
    const int32_t block0 = 0, outside = B * B;
    uint64_t draw;
    int32_t saved;

    CHECK(cmf_bpr_check_params(NULL) == CMF_ERR_NULL_POINTER);
    params.max_tries = 0;
    CHECK(cmf_bpr_check_params(&params) == CMF_ERR_INVALID_PARAMETER);
    params = cmf_bpr_default_params();
    params.negatives = 2;
    CHECK(cmf_bpr_check_params(&params) == CMF_ERR_INVALID_PARAMETER);
    params = cmf_bpr_default_params();
    params.learning_rate = 0.0;
    CHECK(run32(&params, &model, &data, &grid, &block0, 1, &stats)
          == CMF_ERR_INVALID_PARAMETER);
    params = cmf_bpr_default_params();

    CHECK(cmf_bpr_layout(&data, 0, 0, NULL) == CMF_ERR_NULL_POINTER);
    grid.n_blocks = 0;
    CHECK(cmf_bpr_layout(&data, 0, 0, &grid) == CMF_ERR_INVALID_PARAMETER);
    grid.n_blocks = B;
    saved = indices[1];
    indices[1] = indices[0]; /* a repeated item: not strictly increasing */
    CHECK(cmf_bpr_layout(&data, 0, 0, &grid) == CMF_ERR_INDEX_OUT_OF_RANGE);
    indices[1] = N_COLS; /* outside the catalogue */
    CHECK(cmf_bpr_layout(&data, 0, 0, &grid) == CMF_ERR_INDEX_OUT_OF_RANGE);
    indices[1] = saved;
    CHECK(cmf_bpr_layout(&data, 0, 0, &grid) == CMF_OK);
    {
        /* A hand-made grid whose block has positives but no items to draw
           negatives from is refused, not read past its items. */
        int32_t b = 0, kept;
        while (grid.block_ptr[b + 1] == grid.block_ptr[b]) ++b;
        kept = grid.item_ptr[b % B + 1];
        grid.item_ptr[b % B + 1] = grid.item_ptr[b % B];
        CHECK(run32(&params, &model, &data, &grid, &b, 1, &stats)
              == CMF_ERR_INVALID_PARAMETER);
        grid.item_ptr[b % B + 1] = kept;
    }

    CHECK(run32(&params, &model, &data, &grid, &block0, 1, NULL)
          == CMF_ERR_NULL_POINTER);
    CHECK(run32(&params, &model, &data, &grid, &outside, 1, &stats)
          == CMF_ERR_INDEX_OUT_OF_RANGE);
    model.n_rows = N_ROWS - 1;
    CHECK(run32(&params, &model, &data, &grid, &block0, 1, &stats)
          == CMF_ERR_INVALID_PARAMETER);
    model.n_rows = N_ROWS;
    model.col_bias = NULL;
    CHECK(run32(&params, &model, &data, &grid, &block0, 1, &stats)
          == CMF_ERR_NULL_POINTER);
    model.col_bias = c;
    params.negatives = CMF_BPR_POPULARITY;
    grid.weighted = NULL;
    CHECK(run32(&params, &model, &data, &grid, &block0, 1, &stats)
          == CMF_ERR_NULL_POINTER);
    CHECK(run32(&params, &model, &data, &grid, &block0, 0, &stats)
          == CMF_OK);
    CHECK(stats.n_samples == 0 && stats.loss == 0.0);

    CHECK(cmf_bpr_draws(0, 0, 0, -1, &draw) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_bpr_draws(0, 0, 0, 1, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_bpr_draws(0, 0, 0, 0, NULL) == CMF_OK);
}

int main(void)
{
    test_layout();
    test_any_order_inside_a_stratum();
    test_errors();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
