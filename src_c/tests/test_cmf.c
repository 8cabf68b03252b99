/*
 * test_cmf.c -- unit tests of the public C API in cmf.h.
 *
 * Only cmf.h is used, so the tests hold for any implementation of the
 * kernel behind it. The expected numbers of the epoch tests were computed
 * by hand from the update rules in cmf.h (see each test's comment).
 * Prints one line per failure and a closing "N passed, N failed" line;
 * exits non-zero when anything failed.
 */
#include "cmf.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void check_close_(double got, double expected, double tol,
                         const char *what, const char *file, int line)
{
    double diff = got - expected;
    if (diff < 0.0)
        diff = -diff;
    if (diff <= tol * (1.0 + (expected < 0.0 ? -expected : expected))) {
        ++n_passed;
    } else {
        ++n_failed;
        printf("FAILED %s:%d: %s = %.17g, expected %.17g\n", file, line,
               what, got, expected);
    }
}

#define CHECK_CLOSE(got, expected, tol) \
    check_close_((double)(got), (expected), (tol), #got, __FILE__, __LINE__)
#define CHECK_STATUS(call, expected) \
    check_((call) == (expected), #call " == " #expected, __FILE__, __LINE__)

/* Tolerances: relative, for values of order 1. */
#define TOL64 1e-14
#define TOL32 1e-6

/*
 * The hand-computed case: one row, two columns, k = 2, mu = 1,
 * gamma = 0.1, lambda = 0.5, lambda_b = 0.25,
 *     P = [[1, 2]], Q = [[0.5, -1], [2, 0]], b = [0.5], c = [0, 1],
 *     entries (0, 0, 2) then (0, 1, 5).
 * Entry 1: r_hat = 1 + 0.5 + 0 + (0.5 - 2) = 0, e = 2;
 *     b0 = 0.5 + 0.1 (2 - 0.125) = 0.6875, c0 = 0.2,
 *     p = [1 + 0.1 (1 - 0.5), 2 + 0.1 (-2 - 1)] = [1.05, 1.7],
 *     q0 = [0.5 + 0.1 (2 - 0.25), -1 + 0.1 (4 + 0.5)] = [0.675, -0.55].
 * Entry 2: r_hat = 1 + 0.6875 + 1 + (2.1 + 0) = 4.7875, e = 0.2125;
 *     b0 = 0.6875 + 0.1 (0.2125 - 0.171875) = 0.6915625,
 *     c1 = 1 + 0.1 (0.2125 - 0.25) = 0.99625,
 *     p = [1.05 + 0.1 (0.425 - 0.525), 1.7 + 0.1 (0 - 0.85)] = [1.04, 1.615],
 *     q1 = [2 + 0.1 (0.223125 - 1), 0 + 0.1 (0.36125)] = [1.9223125, 0.036125].
 * sse = 2^2 + 0.2125^2 = 4.04515625.
 */
static const int32_t hand_rows[2] = {0, 0};
static const int32_t hand_cols[2] = {0, 1};

static cmf_params hand_params(void)
{
    cmf_params params = cmf_default_params();
    params.learning_rate = 0.1;
    params.regularization = 0.5;
    params.bias_regularization = 0.25;
    params.update_biases = 1;
    return params;
}

static void test_epoch_hand_computed_f64(void)
{
    const double values[2] = {2.0, 5.0};
    double P[2] = {1.0, 2.0}, Q[4] = {0.5, -1.0, 2.0, 0.0};
    double b[1] = {0.5}, c[2] = {0.0, 1.0};
    cmf_params params = hand_params();
    cmf_model_f64 model;
    cmf_triplets_f64 data;
    double sse = -1.0;

    model.n_rows = 1; model.n_cols = 2; model.n_factors = 2;
    model.row_factors = P; model.col_factors = Q;
    model.row_bias = b; model.col_bias = c; model.global_mean = 1.0;
    data.rows = hand_rows; data.cols = hand_cols; data.values = values;
    data.n = 2; data.weights = NULL;

    CHECK_STATUS(cmf_sgd_epoch_f64(&params, &model, &data, NULL, 0, &sse),
                 CMF_OK);
    CHECK_CLOSE(sse, 4.04515625, TOL64);
    CHECK_CLOSE(P[0], 1.04, TOL64);
    CHECK_CLOSE(P[1], 1.615, TOL64);
    CHECK_CLOSE(Q[0], 0.675, TOL64);
    CHECK_CLOSE(Q[1], -0.55, TOL64);
    CHECK_CLOSE(Q[2], 1.9223125, TOL64);
    CHECK_CLOSE(Q[3], 0.036125, TOL64);
    CHECK_CLOSE(b[0], 0.6915625, TOL64);
    CHECK_CLOSE(c[0], 0.2, TOL64);
    CHECK_CLOSE(c[1], 0.99625, TOL64);
}

static void test_epoch_hand_computed_f32(void)
{
    const float values[2] = {2.0f, 5.0f};
    float P[2] = {1.0f, 2.0f}, Q[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    float b[1] = {0.5f}, c[2] = {0.0f, 1.0f};
    cmf_params params = hand_params();
    cmf_model_f32 model;
    cmf_triplets_f32 data;
    double sse = -1.0;

    model.n_rows = 1; model.n_cols = 2; model.n_factors = 2;
    model.row_factors = P; model.col_factors = Q;
    model.row_bias = b; model.col_bias = c; model.global_mean = 1.0;
    data.rows = hand_rows; data.cols = hand_cols; data.values = values;
    data.n = 2; data.weights = NULL;

    CHECK_STATUS(cmf_sgd_epoch_f32(&params, &model, &data, NULL, 0, &sse),
                 CMF_OK);
    CHECK_CLOSE(sse, 4.04515625, TOL32);
    CHECK_CLOSE(P[0], 1.04, TOL32);
    CHECK_CLOSE(P[1], 1.615, TOL32);
    CHECK_CLOSE(Q[0], 0.675, TOL32);
    CHECK_CLOSE(Q[1], -0.55, TOL32);
    CHECK_CLOSE(Q[2], 1.9223125, TOL32);
    CHECK_CLOSE(Q[3], 0.036125, TOL32);
    CHECK_CLOSE(b[0], 0.6915625, TOL32);
    CHECK_CLOSE(c[0], 0.2, TOL32);
    CHECK_CLOSE(c[1], 0.99625, TOL32);
}

/*
 * The same model visiting only entry 1, (0, 1, 5), through order:
 * r_hat = 1 + 0.5 + 1 + (2 + 0) = 4.5, e = 0.5;
 *     b0 = 0.5 + 0.1 (0.5 - 0.125) = 0.5375, c1 = 1 + 0.1 (0.5 - 0.25) = 1.025,
 *     p = [1 + 0.1 (1 - 0.5), 2 + 0.1 (0 - 1)] = [1.05, 1.9],
 *     q1 = [2 + 0.1 (0.5 - 1), 0 + 0.1 (1 - 0)] = [1.95, 0.1];
 * Q's row 0 and c0 are untouched; sse = 0.25.
 */
static void test_epoch_order_selects_entries(void)
{
    const double values[2] = {2.0, 5.0};
    const int64_t order[1] = {1};
    double P[2] = {1.0, 2.0}, Q[4] = {0.5, -1.0, 2.0, 0.0};
    double b[1] = {0.5}, c[2] = {0.0, 1.0};
    cmf_params params = hand_params();
    cmf_model_f64 model;
    cmf_triplets_f64 data;
    double sse = -1.0;

    model.n_rows = 1; model.n_cols = 2; model.n_factors = 2;
    model.row_factors = P; model.col_factors = Q;
    model.row_bias = b; model.col_bias = c; model.global_mean = 1.0;
    data.rows = hand_rows; data.cols = hand_cols; data.values = values;
    data.n = 2; data.weights = NULL;

    CHECK_STATUS(cmf_sgd_epoch_f64(&params, &model, &data, order, 1, &sse),
                 CMF_OK);
    CHECK_CLOSE(sse, 0.25, TOL64);
    CHECK_CLOSE(P[0], 1.05, TOL64);
    CHECK_CLOSE(P[1], 1.9, TOL64);
    CHECK(Q[0] == 0.5 && Q[1] == -1.0);
    CHECK_CLOSE(Q[2], 1.95, TOL64);
    CHECK_CLOSE(Q[3], 0.1, TOL64);
    CHECK_CLOSE(b[0], 0.5375, TOL64);
    CHECK(c[0] == 0.0);
    CHECK_CLOSE(c[1], 1.025, TOL64);

    /* An empty order visits nothing and leaves the model alone. */
    CHECK_STATUS(cmf_sgd_epoch_f64(&params, &model, &data, order, 0, &sse),
                 CMF_OK);
    CHECK(sse == 0.0);
    CHECK_CLOSE(P[0], 1.05, TOL64);
}

/*
 * Unbiased: update_biases = 0 and NULL biases, entry (0, 0, 2) only:
 * r_hat = 1 + (0.5 - 2) = -0.5, e = 2.5;
 *     p = [1 + 0.1 (1.25 - 0.5), 2 + 0.1 (-2.5 - 1)] = [1.075, 1.65],
 *     q0 = [0.5 + 0.1 (2.5 - 0.25), -1 + 0.1 (5 + 0.5)] = [0.725, -0.45];
 * sse = 6.25.
 */
static void test_epoch_without_biases(void)
{
    const float values[2] = {2.0f, 5.0f};
    const int64_t order[1] = {0};
    float P[2] = {1.0f, 2.0f}, Q[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    cmf_params params = hand_params();
    cmf_model_f32 model;
    cmf_triplets_f32 data;
    double sse = -1.0;

    params.update_biases = 0;
    model.n_rows = 1; model.n_cols = 2; model.n_factors = 2;
    model.row_factors = P; model.col_factors = Q;
    model.row_bias = NULL; model.col_bias = NULL; model.global_mean = 1.0;
    data.rows = hand_rows; data.cols = hand_cols; data.values = values;
    data.n = 2; data.weights = NULL;

    CHECK_STATUS(cmf_sgd_epoch_f32(&params, &model, &data, order, 1, &sse),
                 CMF_OK);
    CHECK_CLOSE(sse, 6.25, TOL32);
    CHECK_CLOSE(P[0], 1.075, TOL32);
    CHECK_CLOSE(P[1], 1.65, TOL32);
    CHECK_CLOSE(Q[0], 0.725, TOL32);
    CHECK_CLOSE(Q[1], -0.45, TOL32);
    CHECK(Q[2] == 2.0f && Q[3] == 0.0f);
}

/* A NULL order equals the identity order, bit for bit, and two runs from
 * the same inputs give the same bits. */
static void test_epoch_is_deterministic(void)
{
    enum { M = 5, N = 4, K = 3, NNZ = 12 };
    int32_t rows[NNZ], cols[NNZ];
    double values[NNZ];
    int64_t order[NNZ];
    double P1[M * K], Q1[N * K], b1[M], c1[N];
    double P2[M * K], Q2[N * K], b2[M], c2[N];
    cmf_params params = cmf_default_params();
    cmf_model_f64 m1, m2;
    cmf_triplets_f64 data;
    double sse1 = 0.0, sse2 = 0.0;
    int t;

    for (t = 0; t < NNZ; ++t) {
        rows[t] = (int32_t)((t * 3) % M);
        cols[t] = (int32_t)((t * 7) % N);
        values[t] = 1.0 + 0.25 * (double)((t * 5) % 9);
        order[t] = t;
    }
    for (t = 0; t < M * K; ++t)
        P1[t] = P2[t] = 0.01 * (double)((t * 13) % 11 - 5);
    for (t = 0; t < N * K; ++t)
        Q1[t] = Q2[t] = 0.01 * (double)((t * 17) % 7 - 3);
    for (t = 0; t < M; ++t)
        b1[t] = b2[t] = 0.0;
    for (t = 0; t < N; ++t)
        c1[t] = c2[t] = 0.0;
    m1.n_rows = m2.n_rows = M;
    m1.n_cols = m2.n_cols = N;
    m1.n_factors = m2.n_factors = K;
    m1.global_mean = m2.global_mean = 2.0;
    m1.row_factors = P1; m1.col_factors = Q1; m1.row_bias = b1; m1.col_bias = c1;
    m2.row_factors = P2; m2.col_factors = Q2; m2.row_bias = b2; m2.col_bias = c2;
    data.rows = rows; data.cols = cols; data.values = values; data.n = NNZ;
    data.weights = NULL;

    CHECK_STATUS(cmf_sgd_epoch_f64(&params, &m1, &data, NULL, 0, &sse1), CMF_OK);
    CHECK_STATUS(cmf_sgd_epoch_f64(&params, &m2, &data, order, NNZ, &sse2), CMF_OK);
    CHECK(sse1 == sse2 && sse1 > 0.0);
    CHECK(memcmp(P1, P2, sizeof P1) == 0);
    CHECK(memcmp(Q1, Q2, sizeof Q1) == 0);
    CHECK(memcmp(b1, b2, sizeof b1) == 0);
    CHECK(memcmp(c1, c2, sizeof c1) == 0);
}

static void test_strerror(void)
{
    const cmf_status codes[5] = {CMF_OK, CMF_ERR_NULL_POINTER,
                                 CMF_ERR_INVALID_PARAMETER,
                                 CMF_ERR_INDEX_OUT_OF_RANGE,
                                 CMF_ERR_NON_FINITE};
    int i, j;
    CHECK(CMF_OK == 0 && CMF_ERR_NULL_POINTER == 1 &&
          CMF_ERR_INVALID_PARAMETER == 2 && CMF_ERR_INDEX_OUT_OF_RANGE == 3 &&
          CMF_ERR_NON_FINITE == 4);
    for (i = 0; i < 5; ++i) {
        const char *text = cmf_strerror(codes[i]);
        CHECK(text != NULL && text[0] != '\0');
        for (j = 0; j < i; ++j)
            CHECK(strcmp(text, cmf_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(cmf_strerror(CMF_OK), "success") == 0);
    CHECK(strstr(cmf_strerror(CMF_ERR_NON_FINITE), "learning rate") != NULL);
    CHECK(strcmp(cmf_strerror((cmf_status)99), "unknown cmf status") == 0);
    CHECK(strcmp(cmf_strerror((cmf_status)-1), "unknown cmf status") == 0);
}

static void test_params(void)
{
    cmf_params params = cmf_default_params();
    CHECK(params.learning_rate == 0.005);
    CHECK(params.regularization == 0.02);
    CHECK(params.bias_regularization == 0.02);
    CHECK(params.update_biases == 1);
    CHECK_STATUS(cmf_check_params(&params), CMF_OK);
    CHECK_STATUS(cmf_check_params(NULL), CMF_ERR_NULL_POINTER);

    params.regularization = 0.0;
    params.bias_regularization = 0.0;
    CHECK_STATUS(cmf_check_params(&params), CMF_OK);

#define CHECK_BAD_PARAM(field, value)                                       \
    do {                                                                    \
        cmf_params bad = cmf_default_params();                              \
        bad.field = (value);                                                \
        CHECK_STATUS(cmf_check_params(&bad), CMF_ERR_INVALID_PARAMETER);   \
    } while (0)
    CHECK_BAD_PARAM(learning_rate, 0.0);
    CHECK_BAD_PARAM(learning_rate, -0.1);
    CHECK_BAD_PARAM(learning_rate, HUGE_VAL);
    CHECK_BAD_PARAM(learning_rate, NAN);
    CHECK_BAD_PARAM(regularization, -1e-9);
    CHECK_BAD_PARAM(regularization, HUGE_VAL);
    CHECK_BAD_PARAM(regularization, NAN);
    CHECK_BAD_PARAM(bias_regularization, -1.0);
    CHECK_BAD_PARAM(bias_regularization, HUGE_VAL);
    CHECK_BAD_PARAM(bias_regularization, NAN);
#undef CHECK_BAD_PARAM
}

/* A small valid double model for the error tests; fixture_init resets it so
 * that each case starts from the same values. */
typedef struct fixture {
    double P[4], Q[4], b[2], c[2], values[3];
    int32_t rows[3], cols[3];
    int64_t order[3];
    cmf_params params;
    cmf_model_f64 model;
    cmf_triplets_f64 data;
} fixture;

static void fixture_init(fixture *f)
{
    int t;
    for (t = 0; t < 4; ++t) {
        f->P[t] = 0.1 * (double)(t + 1);
        f->Q[t] = -0.1 * (double)(t + 1);
    }
    f->b[0] = f->b[1] = f->c[0] = f->c[1] = 0.0;
    f->rows[0] = 0; f->rows[1] = 1; f->rows[2] = 1;
    f->cols[0] = 1; f->cols[1] = 0; f->cols[2] = 1;
    f->values[0] = 1.0; f->values[1] = 2.0; f->values[2] = 3.0;
    f->order[0] = 2; f->order[1] = 0; f->order[2] = 1;
    f->params = cmf_default_params();
    f->model.n_rows = 2; f->model.n_cols = 2; f->model.n_factors = 2;
    f->model.row_factors = f->P; f->model.col_factors = f->Q;
    f->model.row_bias = f->b; f->model.col_bias = f->c;
    f->model.global_mean = 2.0;
    f->data.rows = f->rows; f->data.cols = f->cols;
    f->data.values = f->values; f->data.n = 3;
    f->data.weights = NULL;
}

static cmf_status run(fixture *f, double *sse)
{
    return cmf_sgd_epoch_f64(&f->params, &f->model, &f->data, f->order, 3, sse);
}

static void test_epoch_null_pointers(void)
{
    fixture f;
    double sse;

    fixture_init(&f);
    CHECK_STATUS(run(&f, &sse), CMF_OK);
    CHECK_STATUS(cmf_sgd_epoch_f64(NULL, &f.model, &f.data, NULL, 0, &sse),
                 CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, NULL, &f.data, NULL, 0, &sse),
                 CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, NULL, NULL, 0, &sse),
                 CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, &f.data, NULL, 0, NULL),
                 CMF_ERR_NULL_POINTER);

    fixture_init(&f); f.model.row_factors = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);
    fixture_init(&f); f.model.col_factors = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);
    fixture_init(&f); f.model.row_bias = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);
    fixture_init(&f); f.model.col_bias = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);
    fixture_init(&f); f.data.values = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);
    fixture_init(&f); f.data.rows = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NULL_POINTER);

    /* Biases may be NULL when they are not used. */
    fixture_init(&f);
    f.params.update_biases = 0;
    f.model.row_bias = f.model.col_bias = NULL;
    CHECK_STATUS(run(&f, &sse), CMF_OK);

    /* No entries: the data arrays may be NULL and the SSE is 0. */
    fixture_init(&f);
    f.data.rows = NULL; f.data.cols = NULL; f.data.values = NULL; f.data.n = 0;
    sse = -1.0;
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, &f.data, NULL, 0, &sse),
                 CMF_OK);
    CHECK(sse == 0.0);
    CHECK(f.P[0] == 0.1);
}

static void test_epoch_invalid_parameters(void)
{
    fixture f;
    double sse;

    fixture_init(&f); f.params.learning_rate = 0.0;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f); f.params.regularization = NAN;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f); f.model.n_factors = 0;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f); f.model.n_rows = -1;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f); f.model.n_cols = -2;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f); f.data.n = -1;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INVALID_PARAMETER);
    fixture_init(&f);
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, &f.data, f.order, -1,
                                   &sse),
                 CMF_ERR_INVALID_PARAMETER);
    /* A rejected call changes nothing. */
    CHECK(f.P[0] == 0.1 && f.Q[3] == -0.4 && f.b[0] == 0.0);
    /* n_order is ignored without an order array. */
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, &f.data, NULL, -1,
                                   &sse),
                 CMF_OK);
}

static void test_epoch_index_out_of_range(void)
{
    fixture f;
    double sse;

    fixture_init(&f); f.rows[1] = 2;   /* == n_rows */
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.rows[1] = -1;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.cols[0] = 2;   /* == n_cols */
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.cols[2] = INT32_MIN;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.order[1] = 3;  /* == data.n */
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.order[2] = -1;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
    fixture_init(&f); f.order[0] = INT64_MAX;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_INDEX_OUT_OF_RANGE);
}

static void test_epoch_non_finite(void)
{
    fixture f;
    double sse;
    int64_t many[300];
    int t;

    fixture_init(&f); f.values[1] = NAN;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NON_FINITE);
    CHECK(sse != sse); /* NaN */
    fixture_init(&f); f.values[0] = HUGE_VAL;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NON_FINITE);
    fixture_init(&f); f.P[1] = NAN;
    CHECK_STATUS(run(&f, &sse), CMF_ERR_NON_FINITE);

    /* Divergence: a huge step makes the parameters overflow. */
    fixture_init(&f);
    f.params.learning_rate = 1e6;
    for (t = 0; t < 300; ++t)
        many[t] = t % 3;
    CHECK_STATUS(cmf_sgd_epoch_f64(&f.params, &f.model, &f.data, many, 300,
                                   &sse),
                 CMF_ERR_NON_FINITE);

    /* A finite run reports a finite SSE. */
    fixture_init(&f);
    CHECK_STATUS(run(&f, &sse), CMF_OK);
    CHECK(sse - sse == 0.0 && sse > 0.0);
}

/*
 * Prediction with P = [[1, 2], [3, 4]], Q = [[0.5, 0.25]], b = [0.1, 0.2],
 * c = [-0.3], mu = 3:
 *     (0, 0): 3 + 0.1 - 0.3 + (0.5 + 0.5)  = 3.8
 *     (1, 0): 3 + 0.2 - 0.3 + (1.5 + 1.0)  = 5.4
 *     (2, 0): unknown row:  3 - 0.3        = 2.7
 *     (1, 5): unknown column: 3 + 0.2      = 3.2
 *     (-1, -1): both unknown: 3
 * and without biases (0, 0) gives 3 + 1 = 4.
 */
/*
 * Penalty with P = [[1, 2], [3, 4]] (rows weighted 2 and 1), Q = [[0.5,
 * 0.25]] (weight 4), b = [0.1, 0.2], c = [-0.3], lambda = 0.5, lambda_b = 2:
 *     factors: 2 * 5 + 1 * 25 + 4 * 0.3125          = 36.25, times 0.5
 *     biases:  2 * 0.01 + 1 * 0.04 + 4 * 0.09        = 0.42,  times 2
 *     total                                          = 18.125 + 0.84
 * and without biases 18.125. Then 11 rows of 19 ones, row r weighted r + 1
 * (66 in all): 19 * 66 = 1254 per side, through every path of the sums
 * (whole steps of vectors and of eight rows, and the tails of both).
 */
static void test_penalty(void)
{
    double P[4] = {1.0, 2.0, 3.0, 4.0}, Q[2] = {0.5, 0.25};
    double b[2] = {0.1, 0.2}, c[1] = {-0.3};
    float Pf[4] = {1.0f, 2.0f, 3.0f, 4.0f}, Qf[2] = {0.5f, 0.25f};
    float bf[2] = {0.1f, 0.2f}, cf[1] = {-0.3f};
    const double rw[2] = {2.0, 1.0}, cw[1] = {4.0};
    double ones[11 * 19], w[11], out = -1.0;
    float onesf[11 * 19];
    cmf_model_f64 model = {2, 1, 2, NULL, NULL, NULL, NULL, 0.0, NULL, NULL};
    cmf_model_f32 modelf = {2, 1, 2, NULL, NULL, NULL, NULL, 0.0, NULL, NULL};
    int t;

    for (t = 0; t < 11 * 19; ++t) {
        ones[t] = 1.0;
        onesf[t] = 1.0f;
    }
    for (t = 0; t < 11; ++t)
        w[t] = (double)(t + 1);
    model.row_factors = P; model.col_factors = Q; model.row_bias = b; model.col_bias = c;
    modelf.row_factors = Pf; modelf.col_factors = Qf; modelf.row_bias = bf; modelf.col_bias = cf;

    CHECK_STATUS(cmf_penalty_f64(&model, rw, cw, 0.5, 2.0, &out), CMF_OK);
    CHECK_CLOSE(out, 18.125 + 0.84, TOL64);
    CHECK_STATUS(cmf_penalty_f32(&modelf, rw, cw, 0.5, 2.0, &out), CMF_OK);
    CHECK_CLOSE(out, 18.125 + 0.84, TOL32);
    CHECK(P[0] == 1.0 && Q[1] == 0.25 && b[1] == 0.2); /* only read */
    model.col_bias = NULL; /* one bias array: no bias term */
    CHECK_STATUS(cmf_penalty_f64(&model, rw, cw, 0.5, 2.0, &out), CMF_OK);
    CHECK_CLOSE(out, 18.125, TOL64);

    model.n_rows = 11; model.n_cols = 11; model.n_factors = 19;
    model.row_factors = ones; model.col_factors = ones;
    model.row_bias = NULL;
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0, 0.0, &out), CMF_OK);
    CHECK_CLOSE(out, 2.0 * 1254.0, TOL64);
    modelf.n_rows = 11; modelf.n_cols = 0; modelf.n_factors = 19;
    modelf.row_factors = onesf; modelf.row_bias = NULL; modelf.col_bias = NULL;
    CHECK_STATUS(cmf_penalty_f32(&modelf, w, NULL, 0.5, 0.0, &out), CMF_OK);
    CHECK_CLOSE(out, 0.5 * 1254.0, TOL64);

    /* Errors: *penalty is 0 after any. */
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0, 0.0, NULL), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_penalty_f64(NULL, w, w, 1.0, 0.0, &out), CMF_ERR_NULL_POINTER);
    CHECK(out == 0.0);
    CHECK_STATUS(cmf_penalty_f64(&model, NULL, w, 1.0, 0.0, &out), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_penalty_f64(&model, w, NULL, 1.0, 0.0, &out), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, -1.0, 0.0, &out), CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0, -1.0, &out), CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0 / 0.0, 0.0, &out), CMF_ERR_INVALID_PARAMETER);
    model.n_factors = 0;
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0, 0.0, &out), CMF_ERR_INVALID_PARAMETER);
    model.n_factors = 19; model.col_factors = NULL;
    CHECK_STATUS(cmf_penalty_f64(&model, w, w, 1.0, 0.0, &out), CMF_ERR_NULL_POINTER);
}

static void test_predict(void)
{
    double P[4] = {1.0, 2.0, 3.0, 4.0}, Q[2] = {0.5, 0.25};
    double b[2] = {0.1, 0.2}, c[1] = {-0.3};
    float Pf[4] = {1.0f, 2.0f, 3.0f, 4.0f}, Qf[2] = {0.5f, 0.25f};
    float bf[2] = {0.1f, 0.2f}, cf[1] = {-0.3f};
    const int32_t rows[5] = {0, 1, 2, 1, -1};
    const int32_t cols[5] = {0, 0, 0, 5, -1};
    const double expected[5] = {3.8, 5.4, 2.7, 3.2, 3.0};
    double out[5];
    float outf[5];
    cmf_model_f64 model;
    cmf_model_f32 modelf;
    int t;

    model.n_rows = 2; model.n_cols = 1; model.n_factors = 2;
    model.row_factors = P; model.col_factors = Q;
    model.row_bias = b; model.col_bias = c; model.global_mean = 3.0;
    modelf.n_rows = 2; modelf.n_cols = 1; modelf.n_factors = 2;
    modelf.row_factors = Pf; modelf.col_factors = Qf;
    modelf.row_bias = bf; modelf.col_bias = cf; modelf.global_mean = 3.0;

    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 5, out), CMF_OK);
    CHECK_STATUS(cmf_predict_f32(&modelf, rows, cols, 5, outf), CMF_OK);
    for (t = 0; t < 5; ++t) {
        CHECK_CLOSE(out[t], expected[t], TOL64);
        CHECK_CLOSE(outf[t], expected[t], TOL32);
    }
    CHECK(P[0] == 1.0 && Q[1] == 0.25 && b[1] == 0.2); /* only read */

    model.row_bias = NULL; model.col_bias = NULL;
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out), CMF_OK);
    CHECK_CLOSE(out[0], 4.0, TOL64);

    /* Errors. */
    CHECK_STATUS(cmf_predict_f64(NULL, rows, cols, 1, out), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, NULL, cols, 1, out), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, NULL, 1, out), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, NULL), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, -1, out),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_predict_f64(&model, NULL, NULL, 0, NULL), CMF_OK);
    model.n_factors = 0;
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out),
                 CMF_ERR_INVALID_PARAMETER);
    modelf.row_factors = NULL;
    CHECK_STATUS(cmf_predict_f32(&modelf, rows, cols, 1, outf),
                 CMF_ERR_NULL_POINTER);
}

/* A 1 x 1 model with k = 2 and biases, over the caller's arrays. */
static void one_by_one_model(cmf_model_f64 *model, double *p, double *q,
                             double *b, double *c)
{
    memset(model, 0, sizeof *model);
    model->n_rows = 1;
    model->n_cols = 1;
    model->n_factors = 2;
    model->row_factors = p;
    model->col_factors = q;
    model->row_bias = b;
    model->col_bias = c;
}

/*
 * Every entry point that takes a model runs the same model check: the
 * epoch and the two blocked epochs answer alike on each fault, and the
 * prediction needs only the factors of a non-empty side.
 */
static cmf_status epoch_status(const cmf_params *params, cmf_model_f64 *model)
{
    static const int32_t rows[1] = {0}, cols[1] = {0};
    static const double vals[1] = {4.0};
    static const int64_t block_ptr[2] = {0, 1};
    static const uint16_t zero16[1] = {0};
    const cmf_triplets_f64 data = {rows, cols, vals, 1, NULL};
    const cmf_blocked_f64 grid = {1, 1, 1, 1, block_ptr, zero16, zero16, vals, NULL};
    const int32_t blocks[1] = {0}, keys[1] = {0};
    int32_t scratch[1];
    double sse;
    const cmf_status status = cmf_sgd_epoch_f64(params, model, &data, NULL, 0,
                                                &sse);
    CHECK_STATUS(cmf_sgd_blocks_f64(params, model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 status);
    CHECK_STATUS(cmf_sgd_blocks_keyed_f64(params, model, &grid, blocks, keys,
                                          1, 0, scratch, 1, &sse),
                 status);
    return status;
}

static void test_model_check(void)
{
    double p[2] = {1.0, 2.0}, q[2] = {0.5, -1.0}, b[1] = {0.5}, c[1] = {0.0};
    double g[2] = {1.0, 1.0}, out[1];
    const int32_t rows[1] = {0}, cols[1] = {0};
    cmf_params params = cmf_default_params();
    cmf_model_f64 model;

    one_by_one_model(&model, p, q, b, c);
    CHECK_STATUS(epoch_status(&params, NULL), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(NULL, rows, cols, 1, out), CMF_ERR_NULL_POINTER);
    /* AdaGrad needs the accumulators; a prediction never reads them. */
    params.adaptive = 1;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    model.row_adagrad = g;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    params.adaptive = 0;
    /* The biases are needed only when updated. */
    model.col_bias = NULL;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out), CMF_OK);
    params.update_biases = 0;
    CHECK_STATUS(epoch_status(&params, &model), CMF_OK);
    /* An epoch needs both factor arrays, even of an empty side; a
     * prediction only those of a side with rows. Missing arrays are
     * reported before sizes. */
    model.row_factors = NULL;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out),
                 CMF_ERR_NULL_POINTER);
    model.n_factors = 0;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    model.n_factors = 2;
    model.n_rows = 0;
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out), CMF_OK);
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_NULL_POINTER);
    model.row_factors = p;
    model.n_rows = -1;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_predict_f64(&model, rows, cols, 1, out),
                 CMF_ERR_INVALID_PARAMETER);
    model.n_rows = 1;
    model.n_cols = -1;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_INVALID_PARAMETER);
    model.n_cols = 1;
    model.n_factors = 0;
    CHECK_STATUS(epoch_status(&params, &model), CMF_ERR_INVALID_PARAMETER);
}

/*
 * Grids beyond int32: a partition or a blocked epoch whose grid has more
 * than INT32_MAX blocks, or block sizes out of range, is refused before
 * anything is written; a block whose first row does not fit in int32
 * (65536 x 65536 = 2^32, which an int32 product wraps to row 0) is outside
 * the model, not row 0.
 */
#define FAR_ROW_BLOCKS 65537
static int64_t far_block_ptr[FAR_ROW_BLOCKS + 1];

static void test_blocks_grid_range(void)
{
    const int32_t rows[1] = {0}, cols[1] = {0};
    const double vals[1] = {4.0};
    const cmf_triplets_f64 data = {rows, cols, vals, 1, NULL};
    const float valsf[1] = {4.0f};
    const cmf_triplets_f32 dataf = {rows, cols, valsf, 1, NULL};
    const uint16_t zero16[1] = {0};
    int64_t block_ptr[3] = {-7, -7, -7};
    uint16_t lr[1], lc[1];
    double out[1], p[2] = {1.0, 2.0}, q[2] = {0.5, -1.0}, b[1] = {0.5},
           c[1] = {0.25};
    float outf[1];
    int32_t blocks[1] = {0}, keys[1] = {0}, scratch[1];
    double sse = -1.0;
    cmf_params params = cmf_default_params();
    cmf_model_f64 model;
    cmf_blocked_f64 grid;
    int64_t v;

    /* cmf_partition_*: (2^31 - 1) x 2 blocks of 1 x 1. */
    CHECK_STATUS(cmf_partition_f64(&data, INT32_MAX, 2, 1, 1, block_ptr, lr,
                                   lc, out),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_partition_f32(&dataf, 2, INT32_MAX, 1, 1, block_ptr, lr,
                                   lc, outf),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK(block_ptr[0] == -7 && block_ptr[1] == -7 && block_ptr[2] == -7);
    CHECK_STATUS(cmf_partition_f64(&data, 2, 2, 0, 1, block_ptr, lr, lc, out),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_partition_f64(&data, 2, 2, 1, CMF_MAX_BLOCK_SIZE + 1,
                                   block_ptr, lr, lc, out),
                 CMF_ERR_INVALID_PARAMETER);
    /* The largest block count that fits is accepted (one block here). */
    CHECK_STATUS(cmf_partition_f64(&data, 1, 1, CMF_MAX_BLOCK_SIZE,
                                   CMF_MAX_BLOCK_SIZE, block_ptr, lr, lc, out),
                 CMF_OK);
    CHECK(block_ptr[0] == 0 && block_ptr[1] == 1);

    one_by_one_model(&model, p, q, b, c);
    memset(&grid, 0, sizeof grid);
    grid.row_block_size = 1;
    grid.col_block_size = 1;
    grid.block_ptr = block_ptr;
    grid.local_rows = zero16;
    grid.local_cols = zero16;
    grid.values = vals;

    /* cmf_sgd_blocks_*: the grid is checked before the blocks visited. */
    grid.n_row_blocks = 65536;
    grid.n_col_blocks = 65536;
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK(sse == 0.0);
    CHECK_STATUS(cmf_sgd_blocks_keyed_f64(&params, &model, &grid, blocks,
                                          keys, 1, 0, scratch, 1, &sse),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 0, 0,
                                    scratch, 1, &sse),
                 CMF_ERR_INVALID_PARAMETER);
    grid.n_row_blocks = -1;
    grid.n_col_blocks = 1;
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 CMF_ERR_INVALID_PARAMETER);
    grid.n_row_blocks = 1;
    grid.row_block_size = CMF_MAX_BLOCK_SIZE + 1;
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 CMF_ERR_INVALID_PARAMETER);
    CHECK(p[0] == 1.0 && q[0] == 0.5 && b[0] == 0.5 && c[0] == 0.25);

    /* Block 65536 of a 65537 x 1 grid of 65536-row blocks starts at row
     * 2^32: its entry at local row 0 is outside the 1-row model. */
    for (v = 0; v <= FAR_ROW_BLOCKS; ++v)
        far_block_ptr[v] = v == FAR_ROW_BLOCKS ? 1 : 0;
    grid.n_row_blocks = FAR_ROW_BLOCKS;
    grid.n_col_blocks = 1;
    grid.row_block_size = CMF_MAX_BLOCK_SIZE;
    grid.col_block_size = 1;
    grid.block_ptr = far_block_ptr;
    blocks[0] = FAR_ROW_BLOCKS - 1;
    keys[0] = 3;
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 CMF_ERR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(cmf_sgd_blocks_keyed_f64(&params, &model, &grid, blocks,
                                          keys, 1, 0, scratch, 1, &sse),
                 CMF_ERR_INDEX_OUT_OF_RANGE);
    CHECK(sse == 0.0);
    CHECK(p[0] == 1.0 && p[1] == 2.0 && q[0] == 0.5 && q[1] == -1.0 &&
          b[0] == 0.5 && c[0] == 0.25);
    /* The same entry in block 0 is row 0: updated. */
    blocks[0] = 0;
    far_block_ptr[1] = 1;
    far_block_ptr[FAR_ROW_BLOCKS] = 1;
    CHECK_STATUS(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 0,
                                    scratch, 1, &sse),
                 CMF_OK);
    CHECK(sse > 0.0 && b[0] != 0.5);
}

int main(void)
{
    test_epoch_hand_computed_f64();
    test_epoch_hand_computed_f32();
    test_epoch_order_selects_entries();
    test_epoch_without_biases();
    test_epoch_is_deterministic();
    test_strerror();
    test_params();
    test_epoch_null_pointers();
    test_epoch_invalid_parameters();
    test_epoch_index_out_of_range();
    test_epoch_non_finite();
    test_predict();
    test_penalty();
    test_model_check();
    test_blocks_grid_range();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
