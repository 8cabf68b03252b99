/*
 * test_stats.c -- unit tests of cmf_count_indices and cmf_exact_sums_*: the
 * status codes, counts against a plain loop, and exact sums on cases whose
 * sum is known exactly (cancellations that a double sum gets wrong, chunks
 * summed fast in double and term by term). The sums of random data are
 * checked against Python's Fractions in tests/test_exact.py.
 *
 *   gcc -std=c99 -Isrc_c src_c/tests/test_stats.c src_c/cmf_stats.c -lm \
 *       -o /tmp/test_stats && /tmp/test_stats
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

#define N 1000

static int64_t sums[CMF_EXACT_SUM_BINS], squares[CMF_EXACT_SUM_BINS];
/* Take each of n terms out of bins, one call each: a single term lands in
 * the bins its counterpart did (a chunk of the same large terms may be
 * added as one double, elsewhere) and cancels it there, so that what is
 * left decodes exactly (decoded() adds the bins in double). */
static int take_out(double term, int n, int64_t *bins)
{
    const double minus = -term;
    int ok = 1;
    while (n-- > 0)
        ok &= cmf_exact_sums_f64(&minus, 1, bins, NULL) == CMF_OK;
    return ok;
}

/* The value of bins whose sum is a double: bin 2e weighs 2^(e - 1075 + 26),
 * bin 2e + 1 weighs 2^(e - 1075). Exact for the cases below, whose bins
 * have at most a few non-zero bins of nearby weights. */
static double decoded(const int64_t *bins)
{
    double total = 0.0;
    int i;
    for (i = 0; i < CMF_EXACT_SUM_BINS; ++i)
        if (bins[i] != 0)
            total += ldexp((double)bins[i], i / 2 - 1075 + (i % 2 == 0 ? 26 : 0));
    return total;
}

/* The sum held by bins times 2^scale, as an int64, when that is a whole
 * number within range: each bin's contribution must be one (*ok is
 * cleared otherwise). Exact where decoded() is not. */
static int64_t scaled_integer(const int64_t *bins, int scale, int *ok)
{
    int64_t total = 0;
    int i;
    *ok = 1;
    for (i = 0; i < CMF_EXACT_SUM_BINS; ++i) {
        const int shift = i / 2 - 1075 + (i % 2 == 0 ? 26 : 0) + scale;
        int64_t part = bins[i];
        if (part == 0)
            continue;
        if (shift >= 0) {
            *ok &= shift < 62 && (part < 0 ? -part : part) < (INT64_C(1) << (62 - shift));
            part = *ok ? part * (INT64_C(1) << shift) : 0;
        } else {
            const int64_t unit = shift > -62 ? INT64_C(1) << -shift : 0;
            *ok &= unit != 0 && part % unit == 0;
            part = *ok ? part / unit : 0;
        }
        total += part;
    }
    return total;
}

static void clear(void)
{
    memset(sums, 0, sizeof sums);
    memset(squares, 0, sizeof squares);
}

static void test_counts(void)
{
    int32_t index[N];
    int64_t counts[7], expected[7];
    int t, ok = 1;
    /* Runs of equal indices (sorted data) and alternations. */
    for (t = 0; t < N; ++t)
        index[t] = t < 300 ? t / 100 : (t * 5) % 7;
    memset(counts, 0, sizeof counts);
    memset(expected, 0, sizeof expected);
    for (t = 0; t < N; ++t)
        ++expected[index[t]];
    CHECK(cmf_count_indices(index, N, 7, counts) == CMF_OK);
    for (t = 0; t < 7; ++t)
        ok &= counts[t] == expected[t];
    CHECK(ok);
    /* Counts add up over calls. */
    CHECK(cmf_count_indices(index, 10, 7, counts) == CMF_OK);
    CHECK(counts[0] == expected[0] + 10);

    CHECK(cmf_count_indices(NULL, 0, 7, counts) == CMF_OK);
    CHECK(cmf_count_indices(NULL, 3, 7, counts) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_count_indices(index, -1, 7, counts) == CMF_ERR_INVALID_PARAMETER);
    index[5] = 7;
    memset(counts, 0, sizeof counts);
    CHECK(cmf_count_indices(index, N, 7, counts) == CMF_ERR_INDEX_OUT_OF_RANGE);
    /* Only the five indices before the bad one are counted. */
    CHECK(counts[0] == 5 && counts[1] == 0);
    index[5] = -1;
    CHECK(cmf_count_indices(index, N, 7, counts) == CMF_ERR_INDEX_OUT_OF_RANGE);
}

static void test_sums_f64(void)
{
    double v[N];
    int t;
    /* 2^60 + 1 - 2^60, twice per chunk position: a double sum gives 0. */
    for (t = 0; t < N; t += 4) {
        v[t] = ldexp(1.0, 60);
        v[t + 1] = 1.0;
        v[t + 2] = -ldexp(1.0, 60);
        v[t + 3] = 0.5;
    }
    clear();
    CHECK(cmf_exact_sums_f64(v, N, sums, squares) == CMF_OK);
    CHECK(decoded(sums) == 1.5 * (N / 4));

    /* Squares: 2 * 2^120 + 1 + 0.25 per four values. Taking the 2^120s out
     * exactly leaves 1.25 per four, which a double sum would have lost. */
    CHECK(take_out(ldexp(1.0, 120), 2 * (N / 4), squares));
    CHECK(decoded(squares) == 1.25 * (N / 4));

    /* Integer ratings: every chunk takes the fast path, one double each. */
    for (t = 0; t < N; ++t)
        v[t] = 1.0 + t % 5;
    clear();
    CHECK(cmf_exact_sums_f64(v, N, sums, squares) == CMF_OK);
    CHECK(decoded(sums) == 3.0 * N);
    CHECK(decoded(squares) == 11.0 * N); /* (1 + 4 + 9 + 16 + 25) / 5 */

    /* A square's three exact parts: (1 + 2^-40)^2 = 1 + 2^-39 + 2^-80. */
    v[0] = 1.0 + ldexp(1.0, -40);
    clear();
    CHECK(cmf_exact_sums_f64(v, 1, sums, squares) == CMF_OK);
    CHECK(squares[2 * 1023] == INT64_C(1) << 26);             /* 1 */
    CHECK(decoded(squares) - 1.0 == ldexp(1.0, -39));         /* 2^-80 below a double's reach */
    {
        /* Take 1 and 2^-39 out: 2^-80 is left in the bins. */
        int64_t rest[CMF_EXACT_SUM_BINS];
        double minus[2];
        memcpy(rest, squares, sizeof rest);
        minus[0] = -1.0;
        minus[1] = -ldexp(1.0, -39);
        CHECK(cmf_exact_sums_f64(minus, 2, rest, NULL) == CMF_OK);
        CHECK(decoded(rest) == ldexp(1.0, -80));
    }

    /* Errors. */
    clear();
    v[7] = NAN;
    CHECK(cmf_exact_sums_f64(v, N, sums, NULL) == CMF_ERR_NON_FINITE);
    v[7] = INFINITY;
    CHECK(cmf_exact_sums_f64(v, N, sums, NULL) == CMF_ERR_NON_FINITE);
    v[7] = 1e301;
    CHECK(cmf_exact_sums_f64(v, N, sums, NULL) == CMF_OK);        /* sums alone take it */
    CHECK(cmf_exact_sums_f64(v, N, sums, squares) == CMF_ERR_NON_FINITE);
    CHECK(cmf_exact_sums_f64(v, -1, sums, NULL) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_exact_sums_f64(v, CMF_EXACT_SUM_MAX_TERMS + 1, sums, NULL) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_exact_sums_f64(v, CMF_EXACT_SUM_MAX_TERMS / 3 + 1, sums, squares) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_exact_sums_f64(v, 1, NULL, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_exact_sums_f64(NULL, 1, sums, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_exact_sums_f64(NULL, 0, sums, squares) == CMF_OK);
}

static void test_sums_f32(void)
{
    float v[N];
    int t;
    /* Mixed magnitudes, so that chunks are summed term by term: 2^20 + 2^-20
     * - 2^20 per three values, as floats. */
    for (t = 0; t + 3 <= N; t += 3) {
        v[t] = (float)ldexp(1.0, 20);
        v[t + 1] = (float)ldexp(1.0, -20);
        v[t + 2] = -(float)ldexp(1.0, 20);
    }
    v[N - 1] = 0.0f;
    clear();
    CHECK(cmf_exact_sums_f32(v, N, sums, squares) == CMF_OK);
    CHECK(decoded(sums) == (N / 3) * ldexp(1.0, -20));
    /* The squares: 2 * 2^40 + 2^-40 per three values; without the 2^40s,
     * taken out exactly, the 2^-40s are left. */
    CHECK(take_out(ldexp(1.0, 40), 2 * (N / 3), squares));
    CHECK(decoded(squares) == (N / 3) * ldexp(1.0, -40));
    /* Whole numbers near 2^22 and 85 halves among them: the sum of their
     * squares is a multiple of 1/4 near 2^52, where doubles are multiples
     * of 1/2. The float path must see that they are off its grid (multiples
     * of 1 below 2^22 here) and add them exactly another way. */
    {
        uint64_t times4 = 0, squares4 = 0; /* 2v and 4v^2 are whole */
        int ok_sums, ok_squares;
        for (t = 0; t < 256; ++t) {
            v[t] = (float)(4194000 + t) + (t % 3 == 0 && t < 253 ? 0.5f : 0.0f);
            times4 += (uint64_t)(4.0 * v[t]);
            squares4 += (uint64_t)(2.0 * v[t]) * (uint64_t)(2.0 * v[t]);
        }
        clear();
        CHECK(cmf_exact_sums_f32(v, 256, sums, squares) == CMF_OK);
        CHECK((uint64_t)scaled_integer(sums, 2, &ok_sums) == times4 && ok_sums);
        CHECK((uint64_t)scaled_integer(squares, 2, &ok_squares) == squares4 && ok_squares);
    }
    /* Subnormal floats square to normal doubles, exactly. */
    v[0] = (float)ldexp(1.0, -149);
    clear();
    CHECK(cmf_exact_sums_f32(v, 1, sums, squares) == CMF_OK);
    CHECK(decoded(sums) == ldexp(1.0, -149));
    CHECK(decoded(squares) == ldexp(1.0, -298));
    /* -0 and sign. */
    v[0] = -0.0f;
    v[1] = -2.5f;
    clear();
    CHECK(cmf_exact_sums_f32(v, 2, sums, squares) == CMF_OK);
    CHECK(decoded(sums) == -2.5 && decoded(squares) == 6.25);
    v[1] = NAN;
    CHECK(cmf_exact_sums_f32(v, 2, sums, squares) == CMF_ERR_NON_FINITE);
}

int main(void)
{
    test_counts();
    test_sums_f64();
    test_sums_f32();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed != 0;
}
