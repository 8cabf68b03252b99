/*
 * test_normal.c -- unit tests of cmf_normal_rows_*: the status codes, that
 * a row's values depend only on (seed, row) whatever the split into calls,
 * the padding, float as the double rounded once, and the moments of a
 * million draws. The values themselves are checked against a transcription
 * of cmf.h's definition in tests/test_initial_factors.py.
 *
 *   gcc -std=c99 -Isrc_c src_c/tests/test_normal.c src_c/cmf_normal.c -lm \
 *       -o /tmp/test_normal && /tmp/test_normal
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

#define ROWS 1000
#define K 1000
#define STRIDE 1008

static double big[ROWS * K];
static double split[ROWS * STRIDE];
static float single[ROWS * STRIDE];

int main(void)
{
    const uint64_t seed = UINT64_C(0xC0FFEE);
    double sum = 0.0, sum_sq = 0.0, beyond = 0.0;
    int64_t i, t;
    int same = 1, zeros = 1, rounded = 1;

    /* Status codes. */
    CHECK(cmf_normal_rows_f64(seed, 0, 2, 3, 3, 1.0, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_normal_rows_f64(seed, 0, 0, 3, 3, 1.0, NULL) == CMF_OK);
    CHECK(cmf_normal_rows_f64(seed, -1, 1, 3, 3, 1.0, big) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_normal_rows_f64(seed, 0, -1, 3, 3, 1.0, big) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_normal_rows_f64(seed, 0, 1, -1, 3, 1.0, big) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_normal_rows_f32(seed, 0, 1, 4, 3, 1.0, single) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_normal_rows_f64(seed, 0, 1, 3, 3, HUGE_VAL, big) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_normal_rows_f64(seed, 0, 1, 3, 3, HUGE_VAL - HUGE_VAL, big) == CMF_ERR_INVALID_PARAMETER);

    /* A million draws in one call. */
    CHECK(cmf_normal_rows_f64(seed, 0, ROWS, K, K, 1.0, big) == CMF_OK);
    for (i = 0; i < ROWS * K; ++i) {
        sum += big[i];
        sum_sq += big[i] * big[i];
        beyond += fabs(big[i]) > 3.654152885361009;
    }
    /* Mean within 5 standard errors of 0, variance within 5 of 1 (the
     * variance of a squared standard normal is 2), and the mass beyond
     * the ziggurat's base, 2.58e-4, within 5 standard errors. */
    CHECK(fabs(sum / (ROWS * K)) < 5.0 / 1000.0);
    CHECK(fabs(sum_sq / (ROWS * K) - 1.0) < 5.0 * sqrt(2.0) / 1000.0);
    CHECK(fabs(beyond / (ROWS * K) - 2.58e-4) < 5.0 * sqrt(2.58e-4 / (ROWS * K)));

    /* The same rows in pieces of 1, 333 and 666 rows, padded to STRIDE. */
    memset(split, 0xFF, sizeof split);
    CHECK(cmf_normal_rows_f64(seed, 0, 1, K, STRIDE, 1.0, split) == CMF_OK);
    CHECK(cmf_normal_rows_f64(seed, 1, 333, K, STRIDE, 1.0, split + STRIDE) == CMF_OK);
    CHECK(cmf_normal_rows_f64(seed, 334, ROWS - 334, K, STRIDE, 1.0, split + 334 * STRIDE) == CMF_OK);
    for (i = 0; i < ROWS; ++i) {
        for (t = 0; t < K; ++t)
            same &= split[i * STRIDE + t] == big[i * K + t];
        for (t = K; t < STRIDE; ++t)
            zeros &= split[i * STRIDE + t] == 0.0;
    }
    CHECK(same);
    CHECK(zeros);

    /* float: scale times the double draw, rounded once. */
    CHECK(cmf_normal_rows_f32(seed, 0, ROWS, K, STRIDE, 0.1, single) == CMF_OK);
    for (i = 0; i < ROWS; ++i)
        for (t = 0; t < K; ++t)
            rounded &= single[i * STRIDE + t] == (float)(0.1 * big[i * K + t]);
    CHECK(rounded);

    /* Another seed, other values. */
    CHECK(cmf_normal_rows_f64(seed + 1, 0, 1, K, K, 1.0, split) == CMF_OK);
    CHECK(memcmp(split, big, K * sizeof(double)) != 0);

    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed != 0;
}
