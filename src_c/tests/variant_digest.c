/*
 * variant_digest.c -- prints a digest of the exact bits a fixed set of
 * epochs produces, one line per case (precision, k, biases, the update:
 * plain SGD, AdaGrad or the generic one (absolute loss, weights, L1 and
 * non-negative factors), blocked or not). .ci/c.sh builds it for every way the kernels can be
 * compiled (plain C loops with CMF_PORTABLE; vector code for the baseline,
 * AVX2 and AVX-512; with and without __builtin_shufflevector) and requires
 * identical output: the promise of cmf_update_per_isa.h that every variant
 * computes the same bits.
 *
 * Build (from the repository root):
 *   cc -std=c99 -Isrc_c src_c/tests/variant_digest.c src_c/cmf_sgd.c \
 *      src_c/cmf_blocks.c -lm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmf.h"

#define N_ROWS 300
#define N_COLS 200
#define N_ENTRIES 6000
#define MAX_K 150

/* FNV-1a over bytes: any change of any bit changes the digest. */
static unsigned long long fnv1a(unsigned long long h, const void *data,
                                size_t n)
{
    const unsigned char *b = (const unsigned char *)data;
    size_t t;
    for (t = 0; t < n; ++t) {
        h ^= b[t];
        h *= 1099511628211ULL;
    }
    return h;
}

/* A fixed pseudo-random stream (xorshift64), so that every build sees the
 * same data without depending on the C library's rand(). */
static unsigned long long state = 88172645463325252ULL;
static double uniform(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static int32_t rows[N_ENTRIES], cols[N_ENTRIES];
static double values[N_ENTRIES], weights[N_ENTRIES];
static int32_t order[N_ENTRIES];
static int64_t order64[N_ENTRIES];
static int64_t block_ptr[64 * 64 + 1];
static uint16_t local_rows[N_ENTRIES], local_cols[N_ENTRIES];
static int32_t visit[64 * 64];

#define DIGEST_CASE(SUF, REAL)                                               \
static int digest_##SUF(int32_t k, int biases, int mode, int blocked)        \
{                                                                            \
    static REAL P[N_ROWS * MAX_K], Q[N_COLS * MAX_K];                        \
    static REAL b[N_ROWS], c[N_COLS], gu[2 * N_ROWS], gi[2 * N_COLS];        \
    static REAL vals[N_ENTRIES], blocked_vals[N_ENTRIES];                    \
    static REAL wts[N_ENTRIES], blocked_wts[N_ENTRIES];                      \
    const int adaptive = mode == 1, generic = mode == 2;                     \
    cmf_model_##SUF model;                                                   \
    cmf_params params = cmf_default_params();                                \
    cmf_triplets_##SUF data;                                                 \
    cmf_blocked_##SUF grid;                                                  \
    unsigned long long h = 14695981039346656037ULL;                          \
    double sse = 0.0, total = 0.0;                                           \
    int32_t t, epoch, n_blocks;                                              \
    for (t = 0; t < N_ROWS * k; ++t)                                         \
        P[t] = (REAL)(0.2 * (uniform() - 0.5));                              \
    for (t = 0; t < N_COLS * k; ++t)                                         \
        Q[t] = (REAL)(0.2 * (uniform() - 0.5));                              \
    for (t = 0; t < N_ROWS; ++t) { b[t] = 0; gu[2*t] = gu[2*t+1] = 1; }      \
    for (t = 0; t < N_COLS; ++t) { c[t] = 0; gi[2*t] = gi[2*t+1] = 1; }      \
    for (t = 0; t < N_ENTRIES; ++t) {                                        \
        vals[t] = (REAL)values[t];                                           \
        wts[t] = (REAL)weights[t];                                           \
    }                                                                        \
    model.n_rows = N_ROWS; model.n_cols = N_COLS; model.n_factors = k;       \
    model.row_factors = P; model.col_factors = Q;                            \
    model.row_bias = b; model.col_bias = c; model.global_mean = 3.0;         \
    model.row_adagrad = gu; model.col_adagrad = gi;                          \
    params.learning_rate = adaptive ? 0.05 : 0.01;                           \
    params.regularization = 0.05;                                            \
    params.update_biases = biases;                                           \
    params.adaptive = adaptive;                                              \
    if (generic) {                                                           \
        params.loss = CMF_LOSS_ABSOLUTE;                                     \
        params.l1_regularization = 0.01;                                     \
        params.nonnegative = 1;                                              \
    }                                                                        \
    data.rows = rows; data.cols = cols; data.values = vals;                  \
    data.n = N_ENTRIES; data.weights = generic ? wts : NULL;                 \
    /* Blocks of 40 x 30 so that several blocks, a partial last block and */ \
    /* groups of independent entries all occur. */                           \
    if (cmf_partition_weighted_##SUF(&data, N_ROWS, N_COLS, 40, 30,          \
                                     block_ptr, local_rows, local_cols,      \
                                     blocked_vals,                           \
                                     generic ? blocked_wts : NULL) != CMF_OK) \
        return 1;                                                            \
    grid.n_row_blocks = cmf_n_blocks(N_ROWS, 40);                            \
    grid.n_col_blocks = cmf_n_blocks(N_COLS, 30);                            \
    grid.row_block_size = 40; grid.col_block_size = 30;                      \
    grid.block_ptr = block_ptr; grid.local_rows = local_rows;                \
    grid.local_cols = local_cols; grid.values = blocked_vals;                \
    grid.weights = generic ? blocked_wts : NULL;                             \
    n_blocks = grid.n_row_blocks * grid.n_col_blocks;                        \
    for (t = 0; t < n_blocks; ++t)                                           \
        visit[t] = (t * 7 + 3) % n_blocks;                                   \
    for (epoch = 0; epoch < 3; ++epoch) {                                    \
        cmf_status st = blocked                                              \
            ? cmf_sgd_blocks_##SUF(&params, &model, &grid, visit, n_blocks,  \
                                   (uint64_t)epoch + 1, order, N_ENTRIES,    \
                                   &sse)                                     \
            : cmf_sgd_epoch_##SUF(&params, &model, &data, order64,           \
                                  N_ENTRIES, &sse);                          \
        if (st != CMF_OK)                                                    \
            return 1;                                                        \
        total += sse;                                                        \
    }                                                                        \
    h = fnv1a(h, P, sizeof(REAL) * (size_t)(N_ROWS * k));                    \
    h = fnv1a(h, Q, sizeof(REAL) * (size_t)(N_COLS * k));                    \
    h = fnv1a(h, b, sizeof b);                                               \
    h = fnv1a(h, c, sizeof c);                                               \
    h = fnv1a(h, &total, sizeof total);                                      \
    printf("%s k=%3d biases=%d mode=%d blocked=%d %016llx\n", #SUF,         \
           (int)k, biases, mode, blocked, h);                                \
    return 0;                                                                \
}

DIGEST_CASE(f32, float)
DIGEST_CASE(f64, double)

int main(void)
{
    static const int32_t ks[] = {1, 7, 16, 20, 37, 64, 100, 128, 144, 150};
    size_t a;
    int32_t t;
    int biases, mode, blocked, failed = 0;
    for (t = 0; t < N_ENTRIES; ++t) {
        rows[t] = (int32_t)(uniform() * N_ROWS);
        cols[t] = (int32_t)(uniform() * N_COLS);
        values[t] = 1.0 + 4.0 * uniform();
        weights[t] = 0.25 + 2.0 * uniform();
        order64[t] = (int64_t)(uniform() * N_ENTRIES);
    }
    fprintf(stderr, "kernels: %s\n", cmf_simd_variant());
    for (a = 0; a < sizeof ks / sizeof ks[0]; ++a)
        for (blocked = 0; blocked < 2; ++blocked)
            for (biases = 0; biases < 2; ++biases)
                for (mode = 0; mode < 3; ++mode) {
                    failed |= digest_f32(ks[a], biases, mode, blocked);
                    failed |= digest_f64(ks[a], biases, mode, blocked);
                }
    return failed;
}
