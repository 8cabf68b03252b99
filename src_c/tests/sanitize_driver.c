/*
 * sanitize_driver.c -- drives every function of the public C API through
 * its normal and error paths, checking each result, so that a build under
 * AddressSanitizer / UndefinedBehaviorSanitizer or valgrind's memcheck sees
 * every branch that touches memory. Used by .ci/sanitize.sh.
 *
 * Build (from the repository root):
 *   cc -std=c99 -Isrc_c src_c/tests/sanitize_driver.c src_c/cmf_sgd.c -lm
 * Exit status 0 when every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmf.h"

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            ++failures;                                                    \
        }                                                                  \
    } while (0)

#define K 3
#define N_ROWS 4
#define N_COLS 5
#define N_DATA 7

static const int32_t ROWS[N_DATA] = {0, 0, 1, 2, 3, 3, 1};
static const int32_t COLS[N_DATA] = {0, 4, 2, 1, 3, 0, 2};
static const double VALUES[N_DATA] = {3.0, 1.0, 4.0, 1.0, 4.0, 4.0, 3.5};

static void test_strerror(void)
{
    int s;
    for (s = -1; s <= 5; ++s) {
        const char *msg = cmf_strerror((cmf_status)s);
        CHECK(msg != NULL && strlen(msg) > 0);
    }
    CHECK(strcmp(cmf_strerror(CMF_OK), "success") == 0);
}

static void test_params(void)
{
    cmf_params p = cmf_default_params();
    CHECK(cmf_check_params(&p) == CMF_OK);
    CHECK(cmf_check_params(NULL) == CMF_ERR_NULL_POINTER);
    p.learning_rate = 0.0;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p.learning_rate = NAN;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = cmf_default_params();
    p.regularization = -1.0;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = cmf_default_params();
    p.bias_regularization = INFINITY;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
}

/*
 * The same test body for both precisions: one hand-checked update, an
 * epoch in stored order and in a given order, the error paths, prediction
 * with out-of-range pairs, and divergence.
 */
#define DEFINE_EPOCH_TEST(REAL, SUF)                                           \
    static void test_epoch_##SUF(void)                                         \
    {                                                                          \
        /* Heap buffers of the exact size, so ASan sees any overrun. */        \
        REAL *P = malloc(sizeof(REAL) * N_ROWS * K);                           \
        REAL *Q = malloc(sizeof(REAL) * N_COLS * K);                           \
        REAL *b = malloc(sizeof(REAL) * N_ROWS);                               \
        REAL *c = malloc(sizeof(REAL) * N_COLS);                               \
        REAL *vals = malloc(sizeof(REAL) * N_DATA);                            \
        int32_t *rows = malloc(sizeof(int32_t) * N_DATA);                      \
        int32_t *cols = malloc(sizeof(int32_t) * N_DATA);                      \
        int64_t *order = malloc(sizeof(int64_t) * N_DATA);                     \
        REAL *out = malloc(sizeof(REAL) * 4);                                  \
        int32_t prow[4] = {0, 3, -1, N_ROWS};                                  \
        int32_t pcol[4] = {4, 0, 2, N_COLS + 7};                               \
        cmf_model_##SUF model;                                                 \
        cmf_triplets_##SUF data;                                               \
        cmf_params params = cmf_default_params();                              \
        double sse = -1.0, e, pred;                                            \
        int t, f;                                                              \
        for (t = 0; t < N_ROWS * K; ++t) P[t] = (REAL)(0.1 * ((t % 5) - 2));   \
        for (t = 0; t < N_COLS * K; ++t) Q[t] = (REAL)(0.05 * ((t % 7) - 3));  \
        for (t = 0; t < N_ROWS; ++t) b[t] = 0;                                 \
        for (t = 0; t < N_COLS; ++t) c[t] = 0;                                 \
        for (t = 0; t < N_DATA; ++t) {                                         \
            rows[t] = ROWS[t];                                                 \
            cols[t] = COLS[t];                                                 \
            vals[t] = (REAL)VALUES[t];                                         \
            order[t] = N_DATA - 1 - t;                                         \
        }                                                                      \
        model.n_rows = N_ROWS;                                                 \
        model.n_cols = N_COLS;                                                 \
        model.n_factors = K;                                                   \
        model.row_factors = P;                                                 \
        model.col_factors = Q;                                                 \
        model.row_bias = b;                                                    \
        model.col_bias = c;                                                    \
        model.global_mean = 3.0;                                               \
        data.rows = rows;                                                      \
        data.cols = cols;                                                      \
        data.values = vals;                                                    \
        data.n = 1;                                                            \
        data.weights = NULL;                                                   \
                                                                               \
        /* One update by hand: entry (0, 0, 3.0). */                           \
        {                                                                      \
            double p0[K], q0[K], dot = 0.0;                                    \
            for (f = 0; f < K; ++f) {                                          \
                p0[f] = P[f];                                                  \
                q0[f] = Q[f];                                                  \
                dot += p0[f] * q0[f];                                          \
            }                                                                  \
            e = 3.0 - (3.0 + dot);                                             \
            CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)   \
                  == CMF_OK);                                                  \
            CHECK(fabs(sse - e * e) < 1e-6);                                   \
            CHECK(fabs(b[0] - params.learning_rate * e) < 1e-6);               \
            CHECK(b[1] == 0 && c[1] == 0);                                     \
            for (f = 0; f < K; ++f) {                                          \
                double lr = params.learning_rate, reg = params.regularization; \
                CHECK(fabs(P[f] - (p0[f] + lr * (e * q0[f] - reg * p0[f])))    \
                      < 1e-6);                                                 \
                CHECK(fabs(Q[f] - (q0[f] + lr * (e * p0[f] - reg * q0[f])))    \
                      < 1e-6);                                                 \
            }                                                                  \
        }                                                                      \
                                                                               \
        /* Full epochs: stored order, then a given order; the SSE falls. */    \
        data.n = N_DATA;                                                       \
        {                                                                      \
            double first = 0.0, last = 0.0;                                    \
            params.learning_rate = 0.05;                                       \
            for (t = 0; t < 200; ++t) {                                        \
                CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data,              \
                                          (t % 2) ? order : NULL, N_DATA,      \
                                          &sse) == CMF_OK);                    \
                if (t == 0) first = sse;                                       \
                last = sse;                                                    \
            }                                                                  \
            CHECK(last < first);                                               \
        }                                                                      \
        /* Unbiased: NULL biases are allowed and never touched. */             \
        params.update_biases = 0;                                              \
        model.row_bias = NULL;                                                 \
        model.col_bias = NULL;                                                 \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_OK);                                                      \
        params.update_biases = 1;                                              \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_NULL_POINTER);                                        \
        model.row_bias = b;                                                    \
        model.col_bias = c;                                                    \
                                                                               \
        /* Error paths. */                                                     \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, NULL)       \
              == CMF_ERR_NULL_POINTER);                                        \
        CHECK(cmf_sgd_epoch_##SUF(&params, NULL, &data, NULL, 0, &sse)         \
              == CMF_ERR_NULL_POINTER);                                        \
        CHECK(cmf_sgd_epoch_##SUF(NULL, &model, &data, NULL, 0, &sse)          \
              == CMF_ERR_NULL_POINTER);                                        \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, NULL, NULL, 0, &sse)        \
              == CMF_ERR_NULL_POINTER);                                        \
        order[0] = N_DATA; /* one past the end */                              \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, order, N_DATA, &sse) \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        order[0] = -1;                                                         \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, order, N_DATA, &sse) \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        order[0] = (int64_t)1 << 40; /* beyond int32 */                        \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, order, N_DATA, &sse) \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        order[0] = 0;                                                          \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, order, -1, &sse)     \
              == CMF_ERR_INVALID_PARAMETER);                                   \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, order, 0, &sse)      \
              == CMF_OK && sse == 0.0);                                        \
        rows[N_DATA - 1] = N_ROWS;                                             \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        rows[N_DATA - 1] = -3;                                                 \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        rows[N_DATA - 1] = ROWS[N_DATA - 1];                                   \
        cols[2] = N_COLS;                                                      \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_INDEX_OUT_OF_RANGE);                                  \
        cols[2] = COLS[2];                                                     \
        data.n = -1;                                                           \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_INVALID_PARAMETER);                                   \
        data.n = 0;                                                            \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_OK && sse == 0.0);                                        \
        data.n = N_DATA;                                                       \
        model.n_factors = 0;                                                   \
        CHECK(cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0, &sse)       \
              == CMF_ERR_INVALID_PARAMETER);                                   \
        CHECK(cmf_predict_##SUF(&model, prow, pcol, 4, out)                    \
              == CMF_ERR_INVALID_PARAMETER);                                   \
        model.n_factors = K;                                                   \
                                                                               \
        /* Prediction, including pairs outside the model. */                   \
        CHECK(cmf_predict_##SUF(&model, prow, pcol, 4, out) == CMF_OK);        \
        pred = model.global_mean + b[0] + c[4];                                \
        for (f = 0; f < K; ++f) pred += (double)P[f] * Q[4 * K + f];           \
        CHECK(fabs(out[0] - pred) < 1e-5);                                     \
        CHECK(fabs(out[2] - (model.global_mean + c[2])) < 1e-6);               \
        CHECK(fabs(out[3] - model.global_mean) < 1e-6);                        \
        CHECK(cmf_predict_##SUF(&model, prow, pcol, 0, NULL) == CMF_OK);       \
        CHECK(cmf_predict_##SUF(&model, prow, pcol, -1, out)                   \
              == CMF_ERR_INVALID_PARAMETER);                                   \
        CHECK(cmf_predict_##SUF(NULL, prow, pcol, 4, out)                      \
              == CMF_ERR_NULL_POINTER);                                        \
        CHECK(cmf_predict_##SUF(&model, NULL, pcol, 4, out)                    \
              == CMF_ERR_NULL_POINTER);                                        \
                                                                               \
        /* Divergence: a huge step makes the loss overflow. */                 \
        params.learning_rate = 1e30;                                           \
        for (t = 0; t < N_DATA; ++t) vals[t] = (REAL)(1e30 * (t + 1));         \
        {                                                                      \
            cmf_status s = CMF_OK;                                             \
            for (t = 0; t < 10 && s == CMF_OK; ++t)                            \
                s = cmf_sgd_epoch_##SUF(&params, &model, &data, NULL, 0,       \
                                        &sse);                                 \
            CHECK(s == CMF_ERR_NON_FINITE);                                    \
        }                                                                      \
        free(P);                                                               \
        free(Q);                                                               \
        free(b);                                                               \
        free(c);                                                               \
        free(vals);                                                            \
        free(rows);                                                            \
        free(cols);                                                            \
        free(order);                                                           \
        free(out);                                                             \
    }

DEFINE_EPOCH_TEST(float, f32)
DEFINE_EPOCH_TEST(double, f64)

int main(void)
{
    test_strerror();
    test_params();
    test_epoch_f32();
    test_epoch_f64();
    if (failures) {
        fprintf(stderr, "sanitize_driver: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sanitize_driver: all checks passed\n");
    return 0;
}
