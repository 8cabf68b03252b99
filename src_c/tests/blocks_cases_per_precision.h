/*
 * blocks_cases_per_precision.h -- the cases of test_blocks.c that depend
 * on the precision, written once; test_blocks.c includes this file once
 * per precision with REAL (float, double) and SUF (f32, f64) defined, after
 * reference_per_precision.h for the same precision. No include guard on
 * purpose.
 *
 * Every case runs the library and the scalar reference from identical
 * starts and requires identical bits (memcmp) of every array and of the
 * sum of squared errors.
 */
#if !defined(REAL) || !defined(SUF)
#  error "define REAL and SUF first"
#endif

#include <string.h>

#include "cmf.h"
#include "check.h"

#define CASE_CAT_(a, b) a##b
#define CASE_CAT(a, b) CASE_CAT_(a, b)
#define CT(name) CASE_CAT(name, SUF)
#define CMODEL CASE_CAT(cmf_model_, SUF)
#define CTRIPLETS CASE_CAT(cmf_triplets_, SUF)
#define CBLOCKED CASE_CAT(cmf_blocked_, SUF)

/* One model's storage: always N_ROWS x MAX_K and N_COLS x MAX_K, so that
 * a model declared smaller than its grid (the bounds cases) has memory
 * behind it even when a broken kernel writes past its declared rows. */
typedef struct CT(store_) {
    REAL P[N_ROWS * MAX_K], Q[N_COLS * MAX_K];
    REAL b[N_ROWS], c[N_COLS];
    REAL gu[2 * N_ROWS], gi[2 * N_COLS];
    CMODEL model;
} CT(store_);

static CT(store_) CT(kernel_store_), CT(ref_store_);
static REAL CT(values_)[N_ENTRIES], CT(blocked_values_)[N_ENTRIES];
static int64_t CT(block_ptr_)[MAX_BLOCKS + 1];
static uint16_t CT(local_rows_)[N_ENTRIES], CT(local_cols_)[N_ENTRIES];

static void CT(init_store_)(CT(store_) *s, int32_t n_rows, int32_t n_cols,
                            int32_t k)
{
    int32_t t;
    for (t = 0; t < N_ROWS * MAX_K; ++t)
        s->P[t] = (REAL)init_p[t];
    for (t = 0; t < N_COLS * MAX_K; ++t)
        s->Q[t] = (REAL)init_q[t];
    for (t = 0; t < N_ROWS; ++t) {
        s->b[t] = (REAL)init_b[t];
        s->gu[2 * t] = 1;
        s->gu[2 * t + 1] = 1;
    }
    for (t = 0; t < N_COLS; ++t) {
        s->c[t] = (REAL)init_c[t];
        s->gi[2 * t] = 1;
        s->gi[2 * t + 1] = 1;
    }
    s->model.n_rows = n_rows;
    s->model.n_cols = n_cols;
    s->model.n_factors = k;
    s->model.row_factors = s->P;
    s->model.col_factors = s->Q;
    s->model.row_bias = s->b;
    s->model.col_bias = s->c;
    s->model.global_mean = 3.0;
    s->model.row_adagrad = s->gu;
    s->model.col_adagrad = s->gi;
}

static int CT(same_stores_)(void)
{
    const CT(store_) *a = &CT(kernel_store_), *b = &CT(ref_store_);
    return memcmp(a->P, b->P, sizeof a->P) == 0 &&
           memcmp(a->Q, b->Q, sizeof a->Q) == 0 &&
           memcmp(a->b, b->b, sizeof a->b) == 0 &&
           memcmp(a->c, b->c, sizeof a->c) == 0 &&
           memcmp(a->gu, b->gu, sizeof a->gu) == 0 &&
           memcmp(a->gi, b->gi, sizeof a->gi) == 0;
}

static CTRIPLETS CT(triplets_)(void)
{
    CTRIPLETS data;
    int32_t t;
    for (t = 0; t < N_ENTRIES; ++t)
        CT(values_)[t] = (REAL)entry_values[t];
    data.rows = entry_rows;
    data.cols = entry_cols;
    data.values = CT(values_);
    data.n = N_ENTRIES;
    data.weights = NULL;
    return data;
}

/* The entries partitioned into blocks of ROW_BLOCK x COL_BLOCK over the
 * full N_ROWS x N_COLS shape. */
static CBLOCKED CT(blocked_)(void)
{
    const CTRIPLETS data = CT(triplets_)();
    CBLOCKED grid;
    CHECK(CT(cmf_partition_)(&data, N_ROWS, N_COLS, ROW_BLOCK, COL_BLOCK,
                             CT(block_ptr_), CT(local_rows_), CT(local_cols_),
                             CT(blocked_values_)) == CMF_OK);
    grid.n_row_blocks = cmf_n_blocks(N_ROWS, ROW_BLOCK);
    grid.n_col_blocks = cmf_n_blocks(N_COLS, COL_BLOCK);
    grid.row_block_size = ROW_BLOCK;
    grid.col_block_size = COL_BLOCK;
    grid.block_ptr = CT(block_ptr_);
    grid.local_rows = CT(local_rows_);
    grid.local_cols = CT(local_cols_);
    grid.values = CT(blocked_values_);
    grid.weights = NULL;
    return grid;
}

static cmf_params CT(params_)(int biases, int adaptive, int simd)
{
    cmf_params params = cmf_default_params();
    params.learning_rate = adaptive ? 0.05 : 0.02;
    params.regularization = 0.05;
    params.bias_regularization = 0.03;
    params.update_biases = biases;
    params.adaptive = adaptive;
    params.simd_variant = simd;
    return params;
}

/*
 * Two blocked epochs (blocks in a shuffled order, two seeds) by the
 * library and by the reference, from the same start: 1 when every bit
 * agrees and the factors moved. The model is declared n_rows x n_cols
 * (smaller than the grid's shape for the bounds cases); *status gets the
 * library's status of the last epoch run, which must equal the
 * reference's.
 */
static int CT(blocked_agrees_)(int32_t k, int biases, int adaptive, int simd,
                               int32_t n_rows, int32_t n_cols,
                               cmf_status *status)
{
    static int32_t scratch_kernel[N_ENTRIES], scratch_ref[N_ENTRIES];
    const CBLOCKED grid = CT(blocked_)();
    const cmf_params params = CT(params_)(biases, adaptive, simd);
    const int32_t n_blocks = grid.n_row_blocks * grid.n_col_blocks;
    double sse_kernel = -1.0, sse_ref = -2.0;
    cmf_status st_kernel = CMF_OK, st_ref = CMF_OK;
    int epoch, same_sse = 1;

    CT(init_store_)(&CT(kernel_store_), n_rows, n_cols, k);
    CT(init_store_)(&CT(ref_store_), n_rows, n_cols, k);
    for (epoch = 0; epoch < 2 && st_kernel == CMF_OK; ++epoch) {
        const uint64_t seed = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(epoch + 1);
        st_kernel = CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model,
                                        &grid, visit_order, n_blocks, seed,
                                        scratch_kernel, N_ENTRIES, &sse_kernel);
        st_ref = CT(ref_blocks_)(&params, &CT(ref_store_).model, &grid,
                                 visit_order, n_blocks, seed, scratch_ref,
                                 &sse_ref);
        same_sse &= memcmp(&sse_kernel, &sse_ref, sizeof sse_kernel) == 0;
        if (st_kernel != st_ref)
            break;
    }
    *status = st_kernel;
    return st_kernel == st_ref && same_sse && CT(same_stores_)() &&
           CT(kernel_store_).P[0] != (REAL)init_p[0];
}

/* The same for two plain epochs (cmf_sgd_epoch_*): stored order, then an
 * order with repeated entries. */
static int CT(plain_agrees_)(int32_t k, int biases, int adaptive)
{
    const CTRIPLETS data = CT(triplets_)();
    const cmf_params params = CT(params_)(biases, adaptive, CMF_SIMD_AUTO);
    double sse_kernel = -1.0, sse_ref = -2.0;
    int same = 1;

    CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, k);
    CT(init_store_)(&CT(ref_store_), N_ROWS, N_COLS, k);
    same &= CT(cmf_sgd_epoch_)(&params, &CT(kernel_store_).model, &data,
                               NULL, 0, &sse_kernel) == CMF_OK;
    same &= CT(ref_epoch_)(&params, &CT(ref_store_).model, &data, NULL, 0,
                           &sse_ref) == CMF_OK;
    same &= memcmp(&sse_kernel, &sse_ref, sizeof sse_kernel) == 0;
    same &= CT(cmf_sgd_epoch_)(&params, &CT(kernel_store_).model, &data,
                               repeat_order, N_ENTRIES, &sse_kernel) == CMF_OK;
    same &= CT(ref_epoch_)(&params, &CT(ref_store_).model, &data,
                           repeat_order, N_ENTRIES, &sse_ref) == CMF_OK;
    same &= memcmp(&sse_kernel, &sse_ref, sizeof sse_kernel) == 0;
    return same && CT(same_stores_)() && CT(kernel_store_).P[0] != (REAL)init_p[0];
}

static void CT(test_epochs_equal_the_reference_)(void)
{
    static const int32_t ks[] = {1, 7, 16, 20, 37, 64, 144, 150};
    size_t a;
    int biases, adaptive;
    cmf_status status;
    for (a = 0; a < sizeof ks / sizeof ks[0]; ++a)
        for (biases = 0; biases < 2; ++biases)
            for (adaptive = 0; adaptive < 2; ++adaptive) {
                const int ok = CT(blocked_agrees_)(ks[a], biases, adaptive,
                                                   CMF_SIMD_AUTO, N_ROWS,
                                                   N_COLS, &status);
                CHECK(ok && status == CMF_OK);
                CHECK(CT(plain_agrees_)(ks[a], biases, adaptive));
                if (!ok || status != CMF_OK)
                    printf("  (%s k=%d biases=%d adaptive=%d)\n", STR(SUF),
                           (int)ks[a], biases, adaptive);
            }
}

/* Every variant this build and CPU run computes the reference's bits, so
 * all compute the same; the others are refused. */
static void CT(test_every_variant_equals_the_reference_)(void)
{
    static const int32_t ks[] = {3, 16, 37, 64, 150};
    int v, biases, adaptive;
    size_t a;
    cmf_status status;
    for (v = CMF_SIMD_BASELINE; v <= CMF_SIMD_LAST; ++v) {
        if (!cmf_simd_supported(v)) {
            const CBLOCKED grid = CT(blocked_)();
            const cmf_params params = CT(params_)(1, 0, v);
            int32_t scratch[1];
            double sse = -1.0;
            int32_t block = 0;
            CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, 4);
            CHECK(cmf_check_params(&params) == CMF_ERR_INVALID_PARAMETER);
            CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid,
                                      &block, 0, 1, scratch, 1, &sse) ==
                  CMF_ERR_INVALID_PARAMETER);
            continue;
        }
        for (a = 0; a < sizeof ks / sizeof ks[0]; ++a)
            for (biases = 0; biases < 2; ++biases)
                for (adaptive = 0; adaptive < 2; ++adaptive) {
                    const int ok = CT(blocked_agrees_)(ks[a], biases, adaptive,
                                                       v, N_ROWS, N_COLS,
                                                       &status);
                    CHECK(ok && status == CMF_OK);
                    if (!ok || status != CMF_OK)
                        printf("  (%s %s k=%d biases=%d adaptive=%d)\n",
                               STR(SUF), cmf_simd_name(v), (int)ks[a],
                               biases, adaptive);
                }
        if (SUF_IS_F32)
            ++n_variants_compared;
    }
}

/*
 * A grid reaching beyond the model: entries of the last rows (columns)
 * are outside a model declared with fewer. The epoch returns
 * CMF_ERR_INDEX_OUT_OF_RANGE at the first such entry in visiting order,
 * the model updated up to it, exactly as the reference.
 */
static void CT(test_entries_outside_the_model_are_reported_)(void)
{
    int adaptive;
    cmf_status status;
    for (adaptive = 0; adaptive < 2; ++adaptive) {
        CHECK(CT(blocked_agrees_)(16, 1, adaptive, CMF_SIMD_AUTO, N_ROWS - 5,
                                  N_COLS, &status));
        CHECK(status == CMF_ERR_INDEX_OUT_OF_RANGE);
        CHECK(CT(blocked_agrees_)(5, 1, adaptive, CMF_SIMD_AUTO, N_ROWS,
                                  N_COLS - 3, &status));
        CHECK(status == CMF_ERR_INDEX_OUT_OF_RANGE);
    }
}

/* A NaN rating, or one so large that its squared error overflows, gives
 * CMF_ERR_NON_FINITE from both epochs. */
static void CT(test_non_finite_loss_is_reported_)(void)
{
    static int32_t scratch[N_ENTRIES];
    static const double bad[2] = {0.0, 1e300};
    int b, adaptive;
    for (b = 0; b < 2; ++b)
        for (adaptive = 0; adaptive < 2; ++adaptive) {
            CBLOCKED grid;
            CTRIPLETS data;
            cmf_params params = CT(params_)(1, adaptive, CMF_SIMD_AUTO);
            double sse = 0.0;
            const double saved = entry_values[N_ENTRIES / 2];
            if (b == 1 && sizeof(REAL) == sizeof(float))
                continue; /* 1e300 is no float; the NaN case covers f32 */
            entry_values[N_ENTRIES / 2] = b == 0 ? nan_value() : bad[b];
            grid = CT(blocked_)();
            data = CT(triplets_)();
            entry_values[N_ENTRIES / 2] = saved;
            CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, 8);
            CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid,
                                      visit_order,
                                      grid.n_row_blocks * grid.n_col_blocks,
                                      7, scratch, N_ENTRIES, &sse) ==
                  CMF_ERR_NON_FINITE);
            CHECK(sse - sse != 0.0);
            CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, 8);
            CHECK(CT(cmf_sgd_epoch_)(&params, &CT(kernel_store_).model, &data,
                                     NULL, 0, &sse) == CMF_ERR_NON_FINITE);
            CHECK(sse - sse != 0.0);
        }
}

/*
 * The partition: block_ptr counts each block's entries, every block holds
 * exactly the entries whose row and column fall in it, in input order
 * (stable), with local indices and values alike.
 */
static void CT(test_partition_is_a_stable_counting_sort_)(void)
{
    const CBLOCKED grid = CT(blocked_)();
    const int32_t n_blocks = grid.n_row_blocks * grid.n_col_blocks;
    int32_t blk, t;
    int ok_ptr = CT(block_ptr_)[0] == 0 && CT(block_ptr_)[n_blocks] == N_ENTRIES;
    int ok_entries = 1;
    CHECK(grid.n_row_blocks == (N_ROWS + ROW_BLOCK - 1) / ROW_BLOCK);
    CHECK(grid.n_col_blocks == (N_COLS + COL_BLOCK - 1) / COL_BLOCK);
    for (blk = 0; blk < n_blocks; ++blk) {
        const int32_t R = blk / grid.n_col_blocks, C = blk % grid.n_col_blocks;
        int64_t pos = CT(block_ptr_)[blk];
        ok_ptr &= CT(block_ptr_)[blk] <= CT(block_ptr_)[blk + 1];
        /* The input entries of this block, in input order. */
        for (t = 0; t < N_ENTRIES; ++t) {
            if (entry_rows[t] / ROW_BLOCK != R || entry_cols[t] / COL_BLOCK != C)
                continue;
            ok_entries &= pos < CT(block_ptr_)[blk + 1] &&
                          R * ROW_BLOCK + CT(local_rows_)[pos] == entry_rows[t] &&
                          C * COL_BLOCK + CT(local_cols_)[pos] == entry_cols[t] &&
                          CT(blocked_values_)[pos] == (REAL)entry_values[t];
            ++pos;
        }
        ok_entries &= pos == CT(block_ptr_)[blk + 1];
    }
    CHECK(ok_ptr);
    CHECK(ok_entries);
}

static void CT(test_partition_errors_)(void)
{
    CTRIPLETS data = CT(triplets_)();
    int64_t ptr[5] = {-7, -7, -7, -7, -7};
    int32_t bad_rows[1] = {0}, bad_cols[1] = {0};
    CTRIPLETS one;
    REAL one_value[1] = {1};
    uint16_t lr[1], lc[1];
    REAL v[1];
    /* More than INT32_MAX blocks: refused before block_ptr is written. */
    data.n = 0;
    CHECK(CT(cmf_partition_)(&data, INT32_MAX, 2, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_partition_)(&data, 65536, 65536, 1, 2, ptr, lr, lc, v) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(ptr[0] == -7 && ptr[1] == -7);
    /* Block sizes outside 1 .. CMF_MAX_BLOCK_SIZE, negative sizes. */
    CHECK(CT(cmf_partition_)(&data, 4, 4, 0, 1, ptr, lr, lc, v) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_partition_)(&data, 4, 4, 1, CMF_MAX_BLOCK_SIZE + 1, ptr, lr,
                             lc, v) == CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_partition_)(&data, -1, 4, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INVALID_PARAMETER);
    data.n = -1;
    CHECK(CT(cmf_partition_)(&data, 4, 4, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_partition_)(NULL, 4, 4, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_NULL_POINTER);
    data.n = 0;
    CHECK(CT(cmf_partition_)(&data, 4, 4, 1, 1, NULL, lr, lc, v) ==
          CMF_ERR_NULL_POINTER);
    /* No entries, no rows: one empty block list. */
    CHECK(CT(cmf_partition_)(&data, 0, 0, 1, 1, ptr, NULL, NULL, NULL) == CMF_OK);
    CHECK(ptr[0] == 0);
    /* An entry outside the shape, on either side and either end (2 x 2
     * blocks of one: block_ptr has 5 entries). */
    one.rows = bad_rows;
    one.cols = bad_cols;
    one.values = one_value;
    one.n = 1;
    one.weights = NULL;
    CHECK(CT(cmf_partition_)(&one, 2, 2, 1, 1, ptr, NULL, lc, v) ==
          CMF_ERR_NULL_POINTER);
    bad_rows[0] = 2;
    CHECK(CT(cmf_partition_)(&one, 2, 2, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    bad_rows[0] = -1;
    CHECK(CT(cmf_partition_)(&one, 2, 2, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    bad_rows[0] = 0;
    bad_cols[0] = 2;
    CHECK(CT(cmf_partition_)(&one, 2, 2, 1, 1, ptr, lr, lc, v) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    bad_cols[0] = 1;
    CHECK(CT(cmf_partition_)(&one, 2, 2, 1, 1, ptr, lr, lc, v) == CMF_OK);
    CHECK(ptr[0] == 0 && ptr[1] == 0 && ptr[2] == 1 && ptr[3] == 1 && ptr[4] == 1);
    CHECK(lr[0] == 0 && lc[0] == 0 && v[0] == 1);
}

/*
 * The partition against a plain counting sort (each block's entries
 * gathered by a scan of the input, in input order), bit for bit, weights
 * included: entry counts around the partition's chunks of 256, one block,
 * many partial ones, and rows near 2^31 whose blocks its multiply-shift
 * division must get right.
 */
#ifndef PART_MAX_N
#  define PART_MAX_N 1100
#  define PART_MAX_BLOCKS 32770
#endif
static int32_t CT(part_rows_)[PART_MAX_N], CT(part_cols_)[PART_MAX_N];
static REAL CT(part_values_)[PART_MAX_N], CT(part_weights_)[PART_MAX_N];
static int64_t CT(part_ptr_)[2][PART_MAX_BLOCKS + 1];
static uint16_t CT(part_lr_)[2][PART_MAX_N], CT(part_lc_)[2][PART_MAX_N];
static REAL CT(part_v_)[2][PART_MAX_N], CT(part_w_)[2][PART_MAX_N];

/* Output 1: the first n entries ordered by block with a stable insertion
 * sort (blocks by plain division), block_ptr by counting. */
static void CT(plain_partition_)(int32_t n, int32_t row_size, int32_t col_size,
                                 int32_t n_col_blocks, int64_t n_blocks)
{
    static int32_t order[PART_MAX_N];
    static int64_t blk[PART_MAX_N];
    int64_t b;
    int32_t t, s;
    for (t = 0; t < n; ++t) {
        blk[t] = (int64_t)(CT(part_rows_)[t] / row_size) * n_col_blocks +
                 CT(part_cols_)[t] / col_size;
        /* Insert t after every entry of a block <= its own. */
        for (s = t; s > 0 && blk[order[s - 1]] > blk[t]; --s)
            order[s] = order[s - 1];
        order[s] = t;
    }
    for (b = 0; b <= n_blocks; ++b)
        CT(part_ptr_)[1][b] = 0;
    for (t = 0; t < n; ++t)
        ++CT(part_ptr_)[1][blk[t] + 1];
    for (b = 0; b < n_blocks; ++b)
        CT(part_ptr_)[1][b + 1] += CT(part_ptr_)[1][b];
    for (s = 0; s < n; ++s) {
        const int32_t e = order[s];
        CT(part_lr_)[1][s] = (uint16_t)(CT(part_rows_)[e] % row_size);
        CT(part_lc_)[1][s] = (uint16_t)(CT(part_cols_)[e] % col_size);
        CT(part_v_)[1][s] = CT(part_values_)[e];
        CT(part_w_)[1][s] = CT(part_weights_)[e];
    }
}

static void CT(test_partition_matches_a_plain_counting_sort_)(void)
{
    /* shape, block sizes */
    static const int32_t grids[][4] = {
        {300, 200, 300, 200},  /* one block */
        {300, 200, 7, 13},     /* 43 x 16 blocks, partial ones on both sides */
        {300, 200, 1, 200},    /* a block per row */
        {300, 200, 65536, 1},  /* a block per column */
        {INT32_MAX, 2, 65535, 2}, /* rows near 2^31: 32769 blocks */
        {INT32_MAX, 1, 65536, 1}  /* 32768 blocks of 2^16 rows */
    };
    static const int32_t sizes[] = {0, 1, 255, 256, 257, 513, 1100};
    uint64_t state = UINT64_C(0x9E3779B97F4A7C15);
    size_t g, s;
    int same = 1, weighted_same = 1, n_cases = 0;
    for (g = 0; g < sizeof grids / sizeof grids[0]; ++g) {
        const int32_t n_rows = grids[g][0], n_cols = grids[g][1];
        const int32_t row_size = grids[g][2], col_size = grids[g][3];
        const int32_t nrb = cmf_n_blocks(n_rows, row_size);
        const int32_t ncb = cmf_n_blocks(n_cols, col_size);
        const int64_t n_blocks = (int64_t)nrb * ncb;
        int32_t t;
        for (t = 0; t < PART_MAX_N; ++t) {
            /* xorshift64: rows near block boundaries half the time. */
            uint64_t r;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            r = state >> 11;
            if (n_rows > 65536 && (r & 1)) {
                const int64_t edge = (int64_t)((r >> 1) % (uint64_t)nrb) * row_size;
                const int64_t u = edge + (int64_t)((r >> 20) % 3) - 1;
                CT(part_rows_)[t] = (int32_t)(u < 0 ? 0 : u >= n_rows ? n_rows - 1 : u);
            } else {
                CT(part_rows_)[t] = (int32_t)((r >> 1) % (uint64_t)n_rows);
            }
            CT(part_cols_)[t] = (int32_t)((r >> 40) % (uint64_t)n_cols);
            CT(part_values_)[t] = (REAL)t + (REAL)0.5;
            CT(part_weights_)[t] = (REAL)(2 * t + 1);
        }
        CT(part_rows_)[PART_MAX_N - 1] = n_rows - 1;
        for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            const int32_t n = sizes[s];
            CTRIPLETS data;
            data.rows = CT(part_rows_);
            data.cols = CT(part_cols_);
            data.values = CT(part_values_);
            data.n = n;
            data.weights = NULL;
            CT(plain_partition_)(n, row_size, col_size, ncb, n_blocks);
            CHECK(CT(cmf_partition_)(&data, n_rows, n_cols, row_size, col_size,
                                     CT(part_ptr_)[0], CT(part_lr_)[0],
                                     CT(part_lc_)[0], CT(part_v_)[0]) == CMF_OK);
            same &= memcmp(CT(part_ptr_)[0], CT(part_ptr_)[1],
                           sizeof(int64_t) * (size_t)(n_blocks + 1)) == 0 &&
                    memcmp(CT(part_lr_)[0], CT(part_lr_)[1], sizeof(uint16_t) * (size_t)n) == 0 &&
                    memcmp(CT(part_lc_)[0], CT(part_lc_)[1], sizeof(uint16_t) * (size_t)n) == 0 &&
                    memcmp(CT(part_v_)[0], CT(part_v_)[1], sizeof(REAL) * (size_t)n) == 0;
            data.weights = CT(part_weights_);
            memset(CT(part_w_)[0], 0, sizeof CT(part_w_)[0]);
            CHECK(CT(cmf_partition_weighted_)(&data, n_rows, n_cols, row_size,
                                              col_size, CT(part_ptr_)[0],
                                              CT(part_lr_)[0], CT(part_lc_)[0],
                                              CT(part_v_)[0], CT(part_w_)[0]) == CMF_OK);
            weighted_same &= memcmp(CT(part_ptr_)[0], CT(part_ptr_)[1],
                                    sizeof(int64_t) * (size_t)(n_blocks + 1)) == 0 &&
                             memcmp(CT(part_v_)[0], CT(part_v_)[1], sizeof(REAL) * (size_t)n) == 0 &&
                             memcmp(CT(part_w_)[0], CT(part_w_)[1], sizeof(REAL) * (size_t)n) == 0;
            ++n_cases;
        }
        /* An entry outside the shape in the last chunk, past the first. */
        {
            CTRIPLETS data;
            const int32_t saved = CT(part_cols_)[PART_MAX_N - 2];
            CT(part_cols_)[PART_MAX_N - 2] = n_cols;
            data.rows = CT(part_rows_);
            data.cols = CT(part_cols_);
            data.values = CT(part_values_);
            data.n = PART_MAX_N;
            data.weights = NULL;
            CHECK(CT(cmf_partition_)(&data, n_rows, n_cols, row_size, col_size,
                                     CT(part_ptr_)[0], CT(part_lr_)[0],
                                     CT(part_lc_)[0], CT(part_v_)[0]) ==
                  CMF_ERR_INDEX_OUT_OF_RANGE);
            CT(part_cols_)[PART_MAX_N - 2] = saved;
        }
    }
    CHECK(n_cases == 42);
    CHECK(same);
    CHECK(weighted_same);
}

/* The blocked epoch's own argument checks, all before any update. */
static void CT(test_blocked_epoch_errors_)(void)
{
    static int32_t scratch[N_ENTRIES];
    CBLOCKED grid = CT(blocked_)();
    const cmf_params params = CT(params_)(1, 0, CMF_SIMD_AUTO);
    const int32_t n_blocks = grid.n_row_blocks * grid.n_col_blocks;
    int32_t blocks[2] = {0, n_blocks};
    double sse = -1.0;
    int32_t biggest = 0, b;
    for (b = 0; b < n_blocks; ++b)
        if (CT(block_ptr_)[b + 1] - CT(block_ptr_)[b] > biggest)
            biggest = (int32_t)(CT(block_ptr_)[b + 1] - CT(block_ptr_)[b]);
    CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, 4);
    CT(init_store_)(&CT(ref_store_), N_ROWS, N_COLS, 4);
    CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid, blocks,
                              2, 1, scratch, N_ENTRIES, &sse) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    blocks[1] = -1;
    CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid, blocks,
                              2, 1, scratch, N_ENTRIES, &sse) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid,
                              visit_order, n_blocks, 1, scratch, biggest - 1,
                              &sse) == CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(same_stores_)()); /* nothing ran */
    grid.row_block_size = CMF_MAX_BLOCK_SIZE + 1;
    CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid,
                              visit_order, n_blocks, 1, scratch, N_ENTRIES,
                              &sse) == CMF_ERR_INVALID_PARAMETER);
    grid.row_block_size = ROW_BLOCK;
    grid.n_row_blocks = 65536;
    grid.n_col_blocks = 65536;
    CHECK(CT(cmf_sgd_blocks_)(&params, &CT(kernel_store_).model, &grid,
                              visit_order, n_blocks, 1, scratch, N_ENTRIES,
                              &sse) == CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_sgd_blocks_keyed_)(&params, &CT(kernel_store_).model, &grid,
                                    visit_order, NULL, n_blocks, 1, scratch,
                                    N_ENTRIES, &sse) == CMF_ERR_NULL_POINTER);
    CHECK(CT(same_stores_)());
}

/* Several tiles in one call: the same bits as one cmf_sgd_blocks call per
 * tile, for the model and every tile's sum; all checks before any update. */
static void CT(test_tiles_equal_blocks_per_tile_)(void)
{
    static int32_t scratch[N_ENTRIES];
    const CBLOCKED grid = CT(blocked_)();
    const cmf_params params = CT(params_)(1, 0, CMF_SIMD_AUTO);
    int32_t blocks[MAX_BLOCKS], bad[MAX_BLOCKS], work[2 * MAX_BLOCKS];
    int64_t starts[3 * 3 + 1], backwards[3];
    double sse[3 * 3], sse_ref;
    uint64_t seed;
    int epoch, t, same = 1;
    CT(init_store_)(&CT(kernel_store_), N_ROWS, N_COLS, 9);
    CT(init_store_)(&CT(ref_store_), N_ROWS, N_COLS, 9);
    for (epoch = 1; epoch <= 2; ++epoch) {
        CHECK(cmf_epoch_schedule(5, epoch, grid.n_row_blocks,
                                 grid.n_col_blocks, 3, work, blocks, starts,
                                 &seed) == CMF_OK);
        /* All nine tiles in the first epoch; tiles 1..8 in the second, after
         * tile 0 alone (a slice of tile_starts). */
        if (epoch == 1) {
            CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid,
                                     blocks, starts, 9, seed, scratch,
                                     N_ENTRIES, sse) == CMF_OK);
        } else {
            CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid,
                                     blocks, starts, 1, seed, scratch,
                                     N_ENTRIES, sse) == CMF_OK);
            CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid,
                                     blocks, starts + 1, 8, seed, scratch,
                                     N_ENTRIES, sse + 1) == CMF_OK);
        }
        for (t = 0; t < 9; ++t) {
            CHECK(CT(cmf_sgd_blocks_)(&params, &CT(ref_store_).model, &grid,
                                      blocks + starts[t],
                                      starts[t + 1] - starts[t], seed,
                                      scratch, N_ENTRIES, &sse_ref) == CMF_OK);
            same &= memcmp(&sse[t], &sse_ref, sizeof sse_ref) == 0;
        }
    }
    CHECK(same && CT(same_stores_)());
    CHECK(CT(kernel_store_).P[0] != (REAL)init_p[0]);

    /* Errors, found before the first tile runs. */
    memcpy(bad, blocks, sizeof bad);
    bad[MAX_BLOCKS - 1] = MAX_BLOCKS; /* in the last tile */
    sse[0] = -1.0;
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, bad,
                             starts, 9, seed, scratch, N_ENTRIES, sse) ==
          CMF_ERR_INDEX_OUT_OF_RANGE);
    CHECK(sse[0] == 0.0);
    backwards[0] = 0;
    backwards[1] = 4;
    backwards[2] = 3;
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, blocks,
                             backwards, 2, seed, scratch, N_ENTRIES, sse) ==
          CMF_ERR_INVALID_PARAMETER);
    backwards[0] = -1;
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, blocks,
                             backwards, 1, seed, scratch, N_ENTRIES, sse) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, blocks,
                             starts, 9, seed, scratch, 1, sse) ==
          CMF_ERR_INVALID_PARAMETER); /* scratch too short */
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, NULL,
                             starts, 9, seed, scratch, N_ENTRIES, sse) ==
          CMF_ERR_NULL_POINTER);
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, blocks,
                             starts, -1, seed, scratch, N_ENTRIES, sse) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(CT(cmf_sgd_tiles_)(&params, &CT(kernel_store_).model, &grid, blocks,
                             NULL, 0, seed, scratch, N_ENTRIES, NULL) == CMF_OK);
    CHECK(CT(same_stores_)()); /* nothing ran */
}

static void CT(run_cases_)(void)
{
    CT(test_partition_is_a_stable_counting_sort_)();
    CT(test_partition_errors_)();
    CT(test_partition_matches_a_plain_counting_sort_)();
    CT(test_epochs_equal_the_reference_)();
    CT(test_every_variant_equals_the_reference_)();
    CT(test_entries_outside_the_model_are_reported_)();
    CT(test_non_finite_loss_is_reported_)();
    CT(test_blocked_epoch_errors_)();
    CT(test_tiles_equal_blocks_per_tile_)();
}

#undef CT
#undef CMODEL
#undef CTRIPLETS
#undef CBLOCKED
#undef CASE_CAT
#undef CASE_CAT_
