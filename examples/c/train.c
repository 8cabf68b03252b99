/*
 * Compile against an installed libcmf (src_c/CMakeLists.txt installs it and
 * a pkg-config file):
 *     cc -std=c99 -O2 train.c $(pkg-config --cflags --libs cmf) -o train
 * or, from the repository root, against a build tree of src_c:
 *     cmake -S src_c -B build && cmake --build build
 *     cc -std=c99 -O2 -Isrc_c examples/c/train.c build/libcmf.a -lm -o train
 * Run:
 *     ./train examples/c/ratings.txt
 *
 * train.c -- fit cmf's model to triplets read from a text file with the C
 * API alone: read "row column value" lines ('#' starts a comment line),
 * train a few epochs in a shuffled order, report the training RMSE and
 * predict a few pairs, one of them for a row the data never mentions.
 *
 * The library draws no random numbers: the caller initialises the factors
 * and shuffles the visiting order, here with a small xorshift generator so
 * that every run prints the same numbers. Exits with status 1 if training
 * fails or does not lower the error.
 */
#include "cmf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_FACTORS 2
#define N_EPOCHS 400

/* xorshift64*: a tiny, seeded generator, good enough for an example. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t next_u64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform in [-0.5, 0.5). */
static double next_centered(void)
{
    return (double)(next_u64() >> 11) / 9007199254740992.0 - 0.5;
}

typedef struct triplets {
    int32_t *rows, *cols;
    double *values;
    int64_t n, capacity;
} triplets;

static int push(triplets *t, long row, long col, double value)
{
    if (t->n == t->capacity) {
        int64_t cap = t->capacity ? 2 * t->capacity : 64;
        int32_t *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        int32_t *cols = rows ? realloc(t->cols, (size_t)cap * sizeof *cols) : NULL;
        double *values = cols ? realloc(t->values, (size_t)cap * sizeof *values) : NULL;
        if (rows) t->rows = rows;
        if (cols) t->cols = cols;
        if (values == NULL)
            return -1;
        t->values = values;
        t->capacity = cap;
    }
    t->rows[t->n] = (int32_t)row;
    t->cols[t->n] = (int32_t)col;
    t->values[t->n] = value;
    t->n++;
    return 0;
}

/* Read triplets; returns 0 on success, prints the problem otherwise. */
static int load(const char *path, triplets *t)
{
    char line[256];
    long lineno = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        long row, col;
        double value;
        ++lineno;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%ld %ld %lf", &row, &col, &value) != 3 ||
            row < 0 || col < 0 || row > INT32_MAX || col > INT32_MAX) {
            fprintf(stderr, "%s:%ld: expected 'row column value' with "
                    "non-negative indices\n", path, lineno);
            fclose(f);
            return -1;
        }
        if (push(t, row, col, value) != 0) {
            fprintf(stderr, "out of memory\n");
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "ratings.txt";
    triplets t = {NULL, NULL, NULL, 0, 0};
    cmf_triplets_f64 data;
    /* Designated initialiser: every field not named is zero or NULL. */
    cmf_model_f64 model = {.n_factors = N_FACTORS};
    cmf_params params = cmf_default_params();
    int64_t *order = NULL;
    double sse = 0.0, first_rmse = 0.0, rmse = 0.0, mean = 0.0;
    double pred[3];
    const int32_t pred_rows[3] = {0, 0, 1000};
    const int32_t pred_cols[3] = {0, 1, 0};
    cmf_status status = CMF_OK;
    int64_t j;
    int epoch, exit_code = EXIT_FAILURE;

    if (load(path, &t) != 0)
        goto cleanup;
    if (t.n == 0) {
        fprintf(stderr, "%s holds no triplets\n", path);
        goto cleanup;
    }
    for (j = 0; j < t.n; ++j) {
        if (t.rows[j] >= model.n_rows) model.n_rows = t.rows[j] + 1;
        if (t.cols[j] >= model.n_cols) model.n_cols = t.cols[j] + 1;
        mean += t.values[j];
    }
    model.global_mean = mean / (double)t.n;
    data.rows = t.rows;
    data.cols = t.cols;
    data.values = t.values;
    data.n = t.n;
    data.weights = NULL; /* every rating weighs 1 */

    model.row_factors = malloc((size_t)model.n_rows * N_FACTORS * sizeof(double));
    model.col_factors = malloc((size_t)model.n_cols * N_FACTORS * sizeof(double));
    model.row_bias = calloc((size_t)model.n_rows, sizeof(double));
    model.col_bias = calloc((size_t)model.n_cols, sizeof(double));
    order = malloc((size_t)t.n * sizeof *order);
    if (!model.row_factors || !model.col_factors || !model.row_bias ||
        !model.col_bias || !order) {
        fprintf(stderr, "out of memory\n");
        goto cleanup;
    }
    for (j = 0; j < (int64_t)model.n_rows * N_FACTORS; ++j)
        model.row_factors[j] = 0.2 * next_centered();
    for (j = 0; j < (int64_t)model.n_cols * N_FACTORS; ++j)
        model.col_factors[j] = 0.2 * next_centered();
    for (j = 0; j < t.n; ++j)
        order[j] = j;

    params.learning_rate = 0.02;
    params.regularization = 0.01;
    params.bias_regularization = 0.01;
    printf("%lld entries, %d x %d matrix, %d factors\n", (long long)t.n,
           (int)model.n_rows, (int)model.n_cols, N_FACTORS);

    for (epoch = 1; epoch <= N_EPOCHS; ++epoch) {
        /* Fisher-Yates shuffle of the visiting order. */
        for (j = t.n - 1; j > 0; --j) {
            int64_t k = (int64_t)(next_u64() % (uint64_t)(j + 1));
            int64_t tmp = order[j];
            order[j] = order[k];
            order[k] = tmp;
        }
        status = cmf_sgd_epoch_f64(&params, &model, &data, order, t.n, &sse);
        if (status != CMF_OK) {
            fprintf(stderr, "epoch %d: %s\n", epoch, cmf_strerror(status));
            goto cleanup;
        }
        /* sse is measured during the pass, before each entry's update. */
        rmse = sqrt(sse / (double)t.n);
        if (epoch == 1)
            first_rmse = rmse;
        if (epoch == 1 || epoch % 100 == 0)
            printf("epoch %3d  training RMSE %.4f\n", epoch, rmse);
    }

    status = cmf_predict_f64(&model, pred_rows, pred_cols, 3, pred);
    if (status != CMF_OK) {
        fprintf(stderr, "predict: %s\n", cmf_strerror(status));
        goto cleanup;
    }
    for (j = 0; j < 3; ++j)
        printf("prediction (%d, %d) = %.4f\n", (int)pred_rows[j],
               (int)pred_cols[j], pred[j]);
    printf("row 1000 is unknown: its prediction is the mean %.4f plus "
           "column 0's bias\n", model.global_mean);
    exit_code = rmse < first_rmse ? EXIT_SUCCESS : EXIT_FAILURE;
    if (exit_code != EXIT_SUCCESS)
        fprintf(stderr, "training did not lower the RMSE\n");

cleanup:
    free(order);
    free(model.row_factors);
    free(model.col_factors);
    free(model.row_bias);
    free(model.col_bias);
    free(t.rows);
    free(t.cols);
    free(t.values);
    return exit_code;
}
