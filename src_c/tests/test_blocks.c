/*
 * test_blocks.c -- unit tests of the cache-blocked API of cmf.h: the
 * partition (cmf_partition_*), the order inside a block (cmf_block_order),
 * the blocked epoch (cmf_sgd_blocks_*) and AdaGrad in both epochs, each
 * against a plain scalar reference of the documented rules
 * (reference_per_precision.h) bit for bit, for every instruction-set
 * variant this build and CPU run (cmf_params.simd_variant).
 *
 * Self-contained and quick, so that it can be built and run outside CMake
 * (from the repository root; about 3 s of CPU with gcc at -O0, most of it
 * compiling the blocked kernels' many instantiations):
 *
 *   gcc -std=c99 -O0 -Isrc_c src_c/tests/test_blocks.c src_c/cmf_blocks.c \
 *       src_c/cmf_sgd.c -lm -o /tmp/test_blocks && /tmp/test_blocks
 *
 * Prints one line per failure and a closing "N passed, N failed" line;
 * exits non-zero when anything failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmf.h"
#include "check.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* The data: a 37 x 29 model, blocks of 8 x 6 (so the last row and column
 * blocks are partial), entries with repeated pairs in random order. */
#define N_ROWS 37
#define N_COLS 29
#define ROW_BLOCK 8
#define COL_BLOCK 6
#define MAX_BLOCKS 25
#define N_ENTRIES 900
#define MAX_K 150

static int32_t entry_rows[N_ENTRIES], entry_cols[N_ENTRIES];
static double entry_values[N_ENTRIES];
static int64_t repeat_order[N_ENTRIES];
static int32_t visit_order[MAX_BLOCKS];
static double init_p[N_ROWS * MAX_K], init_q[N_COLS * MAX_K];
static double init_b[N_ROWS], init_c[N_COLS];
static int n_variants_compared = 0;

/* A fixed pseudo-random stream (xorshift64): the same data everywhere. */
static uint64_t rng_state = UINT64_C(88172645463325252);
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double nan_value(void)
{
    volatile double zero = 0.0;
    return zero / zero;
}

static void make_data(void)
{
    int32_t t;
    for (t = 0; t < N_ENTRIES; ++t) {
        entry_rows[t] = (int32_t)(uniform() * N_ROWS);
        entry_cols[t] = (int32_t)(uniform() * N_COLS);
        entry_values[t] = 1.0 + 4.0 * uniform();
        repeat_order[t] = (int64_t)(uniform() * N_ENTRIES);
    }
    for (t = 0; t < N_ROWS * MAX_K; ++t)
        init_p[t] = 0.4 * (uniform() - 0.5);
    for (t = 0; t < N_COLS * MAX_K; ++t)
        init_q[t] = 0.4 * (uniform() - 0.5);
    for (t = 0; t < N_ROWS; ++t)
        init_b[t] = 0.2 * (uniform() - 0.5);
    for (t = 0; t < N_COLS; ++t)
        init_c[t] = 0.2 * (uniform() - 0.5);
    /* The blocks in a shuffled order: 7 is prime to 25. */
    for (t = 0; t < MAX_BLOCKS; ++t)
        visit_order[t] = (t * 7 + 3) % MAX_BLOCKS;
}

#define REAL float
#define SUF f32
#define SUF_IS_F32 1
#include "reference_per_precision.h"
#include "blocks_cases_per_precision.h"
#undef REAL
#undef SUF
#undef SUF_IS_F32

#define REAL double
#define SUF f64
#define SUF_IS_F32 0
#include "reference_per_precision.h"
#include "blocks_cases_per_precision.h"
#undef REAL
#undef SUF
#undef SUF_IS_F32

/* ------------------------------------------------------------------------
 * cmf_block_order
 * ------------------------------------------------------------------------ */

static int is_permutation(const int32_t *order, int32_t n)
{
    static unsigned char seen[4096];
    int32_t t;
    memset(seen, 0, sizeof seen);
    for (t = 0; t < n; ++t) {
        if (order[t] < 0 || order[t] >= n || seen[order[t]])
            return 0;
        seen[order[t]] = 1;
    }
    return 1;
}

static void test_block_order_is_a_permutation_of_seed_and_block(void)
{
    static const int32_t sizes[] = {1, 2, 3, 5, 64, 65, 1000, 4096};
    static int32_t a[4096], b[4096];
    size_t s;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        const int32_t n = sizes[s];
        /* Whatever the output held before does not matter. */
        memset(a, 0x55, sizeof a);
        memset(b, 0xAA, sizeof b);
        CHECK(cmf_block_order(12345, 6, n, a) == CMF_OK);
        CHECK(is_permutation(a, n));
        CHECK(cmf_block_order(12345, 6, n, b) == CMF_OK);
        CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)n) == 0);
        if (n >= 64) {
            CHECK(cmf_block_order(12346, 6, n, b) == CMF_OK);
            CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)n) != 0);
            CHECK(cmf_block_order(12345, 7, n, b) == CMF_OK);
            CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)n) != 0);
        }
    }
    CHECK(cmf_block_order(1, 0, 0, NULL) == CMF_OK);
    CHECK(cmf_block_order(1, 0, 1, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_block_order(1, 0, -1, a) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_block_order(1, 0, (int64_t)INT32_MAX + 1, a) ==
          CMF_ERR_INVALID_PARAMETER);
}

/* The rank (0 .. 23) of a permutation of 0 .. 3 in lexicographic order. */
static int rank4(const int32_t *order)
{
    int rank = 0, t, s;
    for (t = 0; t < 4; ++t) {
        int smaller = 0;
        for (s = t + 1; s < 4; ++s)
            smaller += order[s] < order[t];
        rank = rank * (4 - t) + smaller;
    }
    return rank;
}

/*
 * Pearson's chi-square of the 24 permutations of a block of 4 over 24000
 * orders: seeds 0 .. 23999 for one block (by_seed), or blocks 0 .. 23999
 * for one seed. Each permutation is expected 1000 times.
 */
static double chi_square_of_orders(int by_seed)
{
    long counts[24];
    int32_t order[4];
    double chi2 = 0.0;
    int32_t draw;
    int r;
    memset(counts, 0, sizeof counts);
    for (draw = 0; draw < 24000; ++draw) {
        const cmf_status status = by_seed
            ? cmf_block_order((uint64_t)draw, 3, 4, order)
            : cmf_block_order(UINT64_C(20240601), draw, 4, order);
        if (status != CMF_OK || !is_permutation(order, 4))
            return 1e9;
        ++counts[rank4(order)];
    }
    for (r = 0; r < 24; ++r)
        chi2 += (counts[r] - 1000.0) * (counts[r] - 1000.0) / 1000.0;
    return chi2;
}

/* Every permutation of a small block equally likely: the chi-square
 * statistic (23 degrees of freedom) below its 0.1 % critical value 49.73.
 * The seeds are fixed, so the test is deterministic; a shuffle that
 * reaches only some permutations (Sattolo's algorithm gives only the 6
 * cyclic ones) gives a statistic in the tens of thousands. */
static void test_block_order_is_uniform(void)
{
    const double by_seed = chi_square_of_orders(1);
    const double by_block = chi_square_of_orders(0);
    CHECK(by_seed < 49.73);
    CHECK(by_block < 49.73);
    printf("block order of 4, 24000 draws: chi-square %.1f by seed, %.1f by "
           "block (critical 49.73)\n", by_seed, by_block);
}

/* ------------------------------------------------------------------------
 * cmf_params.simd_variant
 * ------------------------------------------------------------------------ */

static void test_simd_variants_are_listed_and_checked(void)
{
    cmf_params params = cmf_default_params();
    int v, n_names = 0;
    CHECK(params.simd_variant == CMF_SIMD_AUTO);
    CHECK(cmf_simd_supported(CMF_SIMD_AUTO));
    CHECK(cmf_simd_supported(CMF_SIMD_BASELINE));
    CHECK(!cmf_simd_supported(-1));
    CHECK(!cmf_simd_supported(CMF_SIMD_LAST + 1));
    CHECK(cmf_simd_name(-1) == NULL);
    CHECK(cmf_simd_name(CMF_SIMD_LAST + 1) == NULL);
    CHECK(strcmp(cmf_simd_name(CMF_SIMD_AUTO), "auto") == 0);
    CHECK(strcmp(cmf_simd_name(CMF_SIMD_BASELINE), "baseline") == 0);
    for (v = CMF_SIMD_BASELINE; v <= CMF_SIMD_LAST; ++v) {
        params.simd_variant = v;
        CHECK(cmf_check_params(&params) ==
              (cmf_simd_supported(v) ? CMF_OK : CMF_ERR_INVALID_PARAMETER));
        /* The widest one is what cmf_simd_variant names. */
        if (cmf_simd_supported(v) && v != CMF_SIMD_NEON)
            n_names += strcmp(cmf_simd_name(v), cmf_simd_variant()) == 0;
    }
    CHECK(n_names == 1);
    params.simd_variant = 99;
    CHECK(cmf_check_params(&params) == CMF_ERR_INVALID_PARAMETER);
    params.simd_variant = -1;
    CHECK(cmf_check_params(&params) == CMF_ERR_INVALID_PARAMETER);
}

/* ------------------------------------------------------------------------
 * cmf_epoch_schedule
 * ------------------------------------------------------------------------ */

#define SCHED_MAX_BLOCKS 4096

/* The properties of a schedule that can be checked by hand: every block once;
 * each tile the rectangle of its tile row's and tile column's blocks, its
 * row orders and column orders shared by the tiles of that tile row and
 * tile column; each stratum's tiles on distinct tile rows and columns. */
static int schedule_is_well_formed(int32_t nrb, int32_t ncb, int32_t G,
                                   const int32_t *blocks,
                                   const int64_t *tile_starts)
{
    static int32_t row_order[SCHED_MAX_BLOCKS], col_order[SCHED_MAX_BLOCKS];
    int32_t s, j, i, k, row_seen[CMF_MAX_TILES], col_seen[CMF_MAX_TILES];
    const int32_t n = nrb * ncb;
    if (!is_permutation(blocks, n) || tile_starts[0] != 0 ||
        tile_starts[G * G] != n)
        return 0;
    for (i = 0; i < nrb; ++i)
        row_order[i] = -1;
    for (i = 0; i < ncb; ++i)
        col_order[i] = -1;
    for (s = 0; s < G; ++s) {
        for (j = 0; j < G; ++j)
            row_seen[j] = col_seen[j] = 0;
        for (j = 0; j < G; ++j) {
            const int32_t *tile = blocks + tile_starts[s * G + j];
            const int32_t r0 = tile[0] / ncb, c0 = tile[0] % ncb;
            /* The tile row and column of the first block; the tile's shape. */
            int32_t ta = 0, tb = 0, n_rows, width;
            while ((int64_t)(ta + 1) * nrb / G <= r0)
                ++ta;
            while ((int64_t)(tb + 1) * ncb / G <= c0)
                ++tb;
            n_rows = (int32_t)((int64_t)(ta + 1) * nrb / G - (int64_t)ta * nrb / G);
            width = (int32_t)((int64_t)(tb + 1) * ncb / G - (int64_t)tb * ncb / G);
            if (tile_starts[s * G + j + 1] - tile_starts[s * G + j] !=
                    (int64_t)n_rows * width || row_seen[ta]++ || col_seen[tb]++)
                return 0;
            for (i = 0; i < n_rows; ++i)
                for (k = 0; k < width; ++k) {
                    const int32_t r = tile[i * width + k] / ncb;
                    const int32_t c = tile[i * width + k] % ncb;
                    /* Inside the tile's ranges, rows by rows. */
                    if (r < (int64_t)ta * nrb / G || r >= (int64_t)(ta + 1) * nrb / G ||
                        c < (int64_t)tb * ncb / G || c >= (int64_t)(tb + 1) * ncb / G ||
                        r != tile[i * width] / ncb || c != tile[k] % ncb)
                        return 0;
                    /* The same position in every tile of the tile row (column). */
                    if (k == 0) {
                        const int32_t at = (int32_t)((int64_t)ta * nrb / G) + i;
                        if (row_order[at] >= 0 && row_order[at] != r)
                            return 0;
                        row_order[at] = r;
                    }
                    if (i == 0) {
                        const int32_t at = (int32_t)((int64_t)tb * ncb / G) + k;
                        if (col_order[at] >= 0 && col_order[at] != c)
                            return 0;
                        col_order[at] = c;
                    }
                }
        }
    }
    return 1;
}

static void test_epoch_schedule_tiles_the_grid(void)
{
    static int32_t blocks[SCHED_MAX_BLOCKS], again[SCHED_MAX_BLOCKS], work[1024];
    static int64_t starts[CMF_MAX_TILES * CMF_MAX_TILES + 1];
    static int64_t starts_again[CMF_MAX_TILES * CMF_MAX_TILES + 1];
    static const int32_t grids[][3] = {{1, 1, 1}, {3, 5, 2}, {4, 8, 4},
                                       {5, 9, 3}, {13, 4, 4}, {40, 33, 16},
                                       {1, 7, 1}, {64, 64, 64}};
    size_t g;
    int64_t epoch;
    for (g = 0; g < sizeof grids / sizeof grids[0]; ++g) {
        const int32_t nrb = grids[g][0], ncb = grids[g][1], G = grids[g][2];
        int differs = 0;
        for (epoch = 1; epoch <= 3; ++epoch) {
            uint64_t seed = 0, seed_again = 1;
            CHECK(cmf_epoch_schedule(UINT64_C(77), epoch, nrb, ncb, G, work, blocks,
                                     starts, &seed) == CMF_OK);
            CHECK(schedule_is_well_formed(nrb, ncb, G, blocks, starts));
            /* A pure function of its arguments. */
            CHECK(cmf_epoch_schedule(UINT64_C(77), epoch, nrb, ncb, G, work, again,
                                     starts_again, &seed_again) == CMF_OK);
            CHECK(seed == seed_again &&
                  memcmp(blocks, again, sizeof(int32_t) * (size_t)(nrb * ncb)) == 0 &&
                  memcmp(starts, starts_again,
                         sizeof(int64_t) * (size_t)(G * G + 1)) == 0);
            /* Another epoch, another order (for grids with a choice). */
            CHECK(cmf_epoch_schedule(UINT64_C(77), epoch + 100, nrb, ncb, G,
                                     work, again, starts_again, &seed_again) == CMF_OK);
            CHECK(seed != seed_again);
            differs |= memcmp(blocks, again, sizeof(int32_t) * (size_t)(nrb * ncb)) != 0;
        }
        CHECK(differs == (nrb * ncb > 1));
    }
}

static void test_epoch_schedule_fixed_case(void)
{
    /* 3 x 5 blocks, G = 2: tile rows {0} | {1, 2}, tile columns {0, 1} |
     * {2, 3, 4}. Stratum 0: tile (0, 0) as rows [0] x columns [1, 0], then
     * tile (1, 1) as rows [1, 2] x columns [4, 2, 3]; stratum 1: tiles
     * (0, 1) and (1, 0) from the same orders. The draws behind them are
     * those of the definition in cmf.h (the same case is pinned in
     * tests/test_blocks.py, computed there by a separate implementation). */
    static const int32_t expected[15] = {1, 0, 9, 7, 8, 14, 12, 13,
                                         4, 2, 3, 6, 5, 11, 10};
    static const int64_t expected_starts[5] = {0, 2, 8, 11, 15};
    int32_t blocks[15], work[3 + 5];
    static const int32_t expected_work[8] = {0, 1, 2, 1, 0, 4, 2, 3};
    int64_t starts[5];
    uint64_t seed = 0;
    CHECK(cmf_epoch_schedule(1, 2, 3, 5, 2, work, blocks, starts, &seed) ==
          CMF_OK);
    CHECK(memcmp(work, expected_work, sizeof work) == 0);
    CHECK(memcmp(blocks, expected, sizeof blocks) == 0);
    CHECK(memcmp(starts, expected_starts, sizeof starts) == 0);
    CHECK(seed == UINT64_C(0xBEFE892A6FEA4980));
    /* One block. */
    CHECK(cmf_epoch_schedule(1, 2, 1, 1, 1, work, blocks, starts, &seed) ==
          CMF_OK);
    CHECK(blocks[0] == 0 && starts[0] == 0 && starts[1] == 1);
}

static void test_epoch_schedule_errors(void)
{
    int32_t blocks[16], work[8];
    int64_t starts[17];
    uint64_t seed = 0;
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, 0, work, blocks, starts, &seed) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_epoch_schedule(1, 1, 3, 4, 4, work, blocks, starts, &seed) ==
          CMF_ERR_INVALID_PARAMETER); /* more tiles than row blocks */
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, CMF_MAX_TILES + 1, work, blocks, starts,
                             &seed) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_epoch_schedule(1, 1, -1, 4, 1, work, blocks, starts, &seed) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_epoch_schedule(1, 1, 65536, 65536, 1, work, blocks, starts, &seed) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, 2, work, NULL, starts, &seed) ==
          CMF_ERR_NULL_POINTER);
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, 2, NULL, blocks, starts, &seed) ==
          CMF_ERR_NULL_POINTER);
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, 2, work, blocks, NULL, &seed) ==
          CMF_ERR_NULL_POINTER);
    CHECK(cmf_epoch_schedule(1, 1, 4, 4, 2, work, blocks, starts, NULL) ==
          CMF_ERR_NULL_POINTER);
    /* No blocks: nothing to order, but a seed all the same. */
    CHECK(cmf_epoch_schedule(1, 1, 0, 4, 1, NULL, NULL, starts, &seed) == CMF_OK);
    CHECK(starts[0] == 0 && starts[1] == 0);
}

int main(void)
{
    int v;
    make_data();
    test_block_order_is_a_permutation_of_seed_and_block();
    test_block_order_is_uniform();
    test_simd_variants_are_listed_and_checked();
    test_epoch_schedule_tiles_the_grid();
    test_epoch_schedule_fixed_case();
    test_epoch_schedule_errors();
    run_cases_f32();
    run_cases_f64();
    printf("variants compared:");
    for (v = CMF_SIMD_BASELINE; v <= CMF_SIMD_LAST; ++v)
        if (cmf_simd_supported(v))
            printf(" %s", cmf_simd_name(v));
    printf(" (%d)\n", n_variants_compared);
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
