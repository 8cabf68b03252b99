/*
 * test_gibbs.c -- unit tests of cmf_gibbs_rows (cmf.h).
 *
 * A one-factor case and a two-factor case worked out by hand (2 x 2
 * inverse and Cholesky factor in closed form), a row with no entries (a
 * draw from the prior), the same bits from one call and from a split of
 * the rows into two calls, and each error status. Prints one line per
 * failure and a closing "N passed, N failed" line; exits non-zero when
 * anything failed.
 */
#include "cmf.h"

#include <math.h>
#include <string.h>

#include "check.h"

static int close_to(double got, double expected)
{
    return fabs(got - expected) <= 1e-13 * (1.0 + fabs(expected));
}

static cmf_gibbs_side side_of(int32_t n_rows, int32_t n_other, int32_t k, const int64_t *indptr,
                              const int32_t *indices, const double *values, const double *other)
{
    cmf_gibbs_side side;
    side.n_rows = n_rows;
    side.n_other = n_other;
    side.n_factors = k;
    side.indptr = indptr;
    side.indices = indices;
    side.values = values;
    side.other = other;
    return side;
}

static cmf_gibbs_prior prior_of(const double *mean, const double *precision, double alpha)
{
    cmf_gibbs_prior prior;
    prior.mean = mean;
    prior.precision = precision;
    prior.noise_precision = alpha;
    return prior;
}

/* k = 1: row 0 has entries (j=0, r=3) and (j=1, r=-1) with y = 2 and 1;
 * Lambda = 1, mu = 0.5, alpha = 2:
 *     precision = 1 + 2 (4 + 1) = 11, L = sqrt(11),
 *     mean = (0.5 + 2 (3 * 2 - 1 * 1)) / 11 = 10.5 / 11,
 *     x = mean + z / sqrt(11).
 * Row 1 has no entries: x = mu + z / sqrt(Lambda) = 0.5 + z. */
static void test_one_factor(void)
{
    const int64_t indptr[3] = {0, 2, 2};
    const int32_t indices[2] = {0, 1};
    const double values[2] = {3.0, -1.0};
    const double other[2] = {2.0, 1.0};
    const double mean[1] = {0.5}, precision[1] = {1.0};
    const double normals[2] = {0.3, -1.25};
    double work[3], out[2] = {0.0, 0.0};
    cmf_gibbs_side side = side_of(2, 2, 1, indptr, indices, values, other);
    cmf_gibbs_prior prior = prior_of(mean, precision, 2.0);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 2, normals, work, out) == CMF_OK);
    CHECK(close_to(out[0], 10.5 / 11.0 + 0.3 / sqrt(11.0)));
    CHECK(close_to(out[1], 0.5 - 1.25));
}

/* k = 2, one row with entries y_0 = (1, 0) value 1 and y_1 = (1, 1) value 2;
 * Lambda = I, mu = 0, alpha = 1:
 *     S = [[2, 1], [1, 1]], precision P = [[3, 1], [1, 2]],
 *     rhs = 1 (1, 0) + 2 (1, 1) = (3, 2), P^-1 = [[2, -1], [-1, 3]] / 5,
 *     mean = (4, 3) / 5,
 *     L = [[sqrt 3, 0], [1 / sqrt 3, sqrt(5 / 3)]],
 *     L^-T z: w1 = z1 / sqrt(5/3), w0 = (z0 - w1 / sqrt 3) / sqrt 3. */
static void test_two_factors(void)
{
    const int64_t indptr[2] = {0, 2};
    const int32_t indices[2] = {0, 1};
    const double values[2] = {1.0, 2.0};
    const double other[4] = {1.0, 0.0, 1.0, 1.0};
    const double mean[2] = {0.0, 0.0}, precision[4] = {1.0, 0.0, 0.0, 1.0};
    const double normals[2] = {0.7, -0.4};
    const double w1 = -0.4 / sqrt(5.0 / 3.0);
    const double w0 = (0.7 - w1 / sqrt(3.0)) / sqrt(3.0);
    double work[8], out[2];
    cmf_gibbs_side side = side_of(1, 2, 2, indptr, indices, values, other);
    cmf_gibbs_prior prior = prior_of(mean, precision, 1.0);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_OK);
    CHECK(close_to(out[0], 0.8 + w0));
    CHECK(close_to(out[1], 0.6 + w1));
}

/* Rows drawn in one call and in two calls over a split give the same bits. */
static void test_split(void)
{
    enum { N = 7, M = 5, K = 3, NNZ = 12 };
    const int64_t indptr[N + 1] = {0, 2, 2, 5, 6, 8, 11, 12};
    const int32_t indices[NNZ] = {0, 4, 1, 2, 3, 0, 1, 4, 2, 3, 4, 0};
    const double values[NNZ] = {0.5, -1.0, 1.5, 0.25, -0.75, 2.0, -0.5, 1.0, 0.0, -2.0, 0.5, 1.25};
    double other[M * K], normals[N * K], work[K * (K + 2)], one[N * K], two[N * K];
    const double mean[K] = {0.1, -0.2, 0.3};
    const double precision[K * K] = {2.0, 0.5, 0.0, 0.5, 1.5, 0.25, 0.0, 0.25, 1.0};
    cmf_gibbs_side side;
    cmf_gibbs_prior prior;
    int i;
    for (i = 0; i < M * K; ++i)
        other[i] = sin(1.0 + i);
    for (i = 0; i < N * K; ++i)
        normals[i] = cos(2.0 * i);
    side = side_of(N, M, K, indptr, indices, values, other);
    prior = prior_of(mean, precision, 1.5);
    memset(one, 0, sizeof one);
    memset(two, 0, sizeof two);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, N, normals, work, one) == CMF_OK);
    CHECK(cmf_gibbs_rows(&side, &prior, 4, N, normals, work, two) == CMF_OK);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 4, normals, work, two) == CMF_OK);
    CHECK(memcmp(one, two, sizeof one) == 0);
    /* An empty range writes nothing. */
    two[0] = 42.0;
    CHECK(cmf_gibbs_rows(&side, &prior, 3, 3, normals, work, two) == CMF_OK);
    CHECK(two[0] == 42.0);
}

static void test_errors(void)
{
    const int64_t indptr[2] = {0, 1};
    int32_t indices[1] = {0};
    const double values[1] = {1.0}, other[1] = {1.0}, mean[1] = {0.0}, normals[1] = {0.0};
    double precision[1] = {1.0}, work[3], out[1];
    cmf_gibbs_side side = side_of(1, 1, 1, indptr, indices, values, other);
    cmf_gibbs_prior prior = prior_of(mean, precision, 1.0);
    CHECK(cmf_gibbs_rows(NULL, &prior, 0, 1, normals, work, out) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_gibbs_rows(&side, NULL, 0, 1, normals, work, out) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, NULL, out) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, NULL, work, out) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, NULL) == CMF_ERR_NULL_POINTER);
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 2, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_gibbs_rows(&side, &prior, 1, 0, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    CHECK(cmf_gibbs_rows(&side, &prior, -1, 1, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    prior.noise_precision = 0.0;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    prior.noise_precision = HUGE_VAL;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    prior.noise_precision = 1.0;
    side.n_factors = 0;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    side.n_factors = 1;
    indices[0] = 1;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INDEX_OUT_OF_RANGE);
    indices[0] = -1;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INDEX_OUT_OF_RANGE);
    indices[0] = 0;
    /* Lambda = -2: the posterior precision -2 + 1 is not positive. */
    precision[0] = -2.0;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_ERR_INVALID_PARAMETER);
    precision[0] = 1.0;
    CHECK(cmf_gibbs_rows(&side, &prior, 0, 1, normals, work, out) == CMF_OK);
    CHECK(close_to(out[0], 0.5));
}

int main(void)
{
    test_one_factor();
    test_two_factors();
    test_split();
    test_errors();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed != 0;
}
