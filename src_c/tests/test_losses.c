/*
 * test_losses.c -- the losses, sample weights, L1 and non-negative factors
 * of the epochs (cmf.h, "Other losses, weights, L1 and non-negative
 * factors"), on one entry computed by hand.
 *
 * Every case is one row, one column, k = 2, gamma = 0.1, lambda = 0.5,
 * lambda_b = 0.25, mu = 0, P = [[1, 2]] and Q = [[0.5, q1]], run through the
 * plain and the blocked epoch in double and in float; the expected factors,
 * biases and loss were computed on paper from the rules in cmf.h (see each
 * case's comment). Prints one line per failure and a closing "N passed, N
 * failed" line; exits non-zero when anything failed.
 */
#include "cmf.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct hand_case {
    const char *name;
    int loss;
    double r, w;         /* w < 0: no weights (NULL) */
    double l1;
    int nonnegative;
    int biased;          /* b = [0.5], c = [0] when set */
    double q1;           /* Q = [[0.5, q1]] */
    double p[2], q[2];   /* expected factors */
    double b, c;         /* expected biases (when biased) */
    double ell;          /* expected (weighted) loss */
} hand_case;

static int close_(double got, double expected, double tol)
{
    const double scale = 1.0 + fabs(expected);
    return fabs(got - expected) <= tol * scale;
}

static cmf_params case_params(const hand_case *h)
{
    cmf_params params = cmf_default_params();
    params.learning_rate = 0.1;
    params.regularization = 0.5;
    params.bias_regularization = 0.25;
    params.update_biases = h->biased;
    params.loss = h->loss;
    params.l1_regularization = h->l1;
    params.nonnegative = h->nonnegative;
    return params;
}

/* The case in double (blocked: through one 1 x 1 block) or in float. */
static void run_f64(const hand_case *h, int blocked)
{
    const cmf_params params = case_params(h);
    const int32_t rows[1] = {0}, cols[1] = {0};
    const double values[1] = {h->r}, weights[1] = {h->w};
    double P[2] = {1.0, 2.0}, Q[2] = {0.5, 0.0}, b[1] = {0.5}, c[1] = {0.0};
    double ell = -1.0;
    cmf_model_f64 model;
    memset(&model, 0, sizeof model);
    Q[1] = h->q1;
    model.n_rows = model.n_cols = 1;
    model.n_factors = 2;
    model.row_factors = P;
    model.col_factors = Q;
    model.row_bias = h->biased ? b : NULL;
    model.col_bias = h->biased ? c : NULL;
    if (!blocked) {
        const cmf_triplets_f64 data = {rows, cols, values, 1,
                                       h->w < 0 ? NULL : weights};
        CHECK(cmf_sgd_epoch_f64(&params, &model, &data, NULL, 0, &ell) == CMF_OK);
    } else {
        const int64_t block_ptr[2] = {0, 1};
        const uint16_t zero[1] = {0};
        const int32_t blocks[1] = {0};
        int32_t scratch[1];
        const cmf_blocked_f64 grid = {1, 1, 1, 1, block_ptr, zero, zero, values,
                                      h->w < 0 ? NULL : weights};
        CHECK(cmf_sgd_blocks_f64(&params, &model, &grid, blocks, 1, 3, scratch,
                                 1, &ell) == CMF_OK);
    }
    if (!(close_(P[0], h->p[0], 1e-14) && close_(P[1], h->p[1], 1e-14) &&
          close_(Q[0], h->q[0], 1e-14) && close_(Q[1], h->q[1], 1e-14) &&
          close_(ell, h->ell, 1e-14) &&
          (!h->biased || (close_(b[0], h->b, 1e-14) && close_(c[0], h->c, 1e-14)))))
        printf("case %s (double, %s): p = [%.17g, %.17g], q = [%.17g, %.17g], "
               "b = %.17g, c = %.17g, loss = %.17g\n", h->name,
               blocked ? "blocked" : "plain", P[0], P[1], Q[0], Q[1], b[0],
               c[0], ell);
    CHECK(close_(P[0], h->p[0], 1e-14) && close_(P[1], h->p[1], 1e-14));
    CHECK(close_(Q[0], h->q[0], 1e-14) && close_(Q[1], h->q[1], 1e-14));
    CHECK(close_(ell, h->ell, 1e-14));
    CHECK(!h->biased || (close_(b[0], h->b, 1e-14) && close_(c[0], h->c, 1e-14)));
    if (h->nonnegative)
        CHECK(P[0] >= 0 && P[1] >= 0 && Q[0] >= 0 && Q[1] >= 0);
}

static void run_f32(const hand_case *h, int blocked)
{
    const cmf_params params = case_params(h);
    const int32_t rows[1] = {0}, cols[1] = {0};
    const float values[1] = {(float)h->r}, weights[1] = {(float)h->w};
    float P[2] = {1.0f, 2.0f}, Q[2] = {0.5f, 0.0f}, b[1] = {0.5f}, c[1] = {0.0f};
    double ell = -1.0;
    cmf_model_f32 model;
    memset(&model, 0, sizeof model);
    Q[1] = (float)h->q1;
    model.n_rows = model.n_cols = 1;
    model.n_factors = 2;
    model.row_factors = P;
    model.col_factors = Q;
    model.row_bias = h->biased ? b : NULL;
    model.col_bias = h->biased ? c : NULL;
    if (!blocked) {
        const cmf_triplets_f32 data = {rows, cols, values, 1,
                                       h->w < 0 ? NULL : weights};
        CHECK(cmf_sgd_epoch_f32(&params, &model, &data, NULL, 0, &ell) == CMF_OK);
    } else {
        const int64_t block_ptr[2] = {0, 1};
        const uint16_t zero[1] = {0};
        const int32_t blocks[1] = {0};
        int32_t scratch[1];
        const cmf_blocked_f32 grid = {1, 1, 1, 1, block_ptr, zero, zero, values,
                                      h->w < 0 ? NULL : weights};
        CHECK(cmf_sgd_blocks_f32(&params, &model, &grid, blocks, 1, 3, scratch,
                                 1, &ell) == CMF_OK);
    }
    CHECK(close_(P[0], h->p[0], 1e-6) && close_(P[1], h->p[1], 1e-6));
    CHECK(close_(Q[0], h->q[0], 1e-6) && close_(Q[1], h->q[1], 1e-6));
    CHECK(close_(ell, h->ell, 1e-6));
    CHECK(!h->biased || (close_(b[0], h->b, 1e-6) && close_(c[0], h->c, 1e-6)));
}

static void test_hand_cases(void)
{
    /* Logistic, r = 1, pred = 0.5 - 2 = -1.5: z = 1 / (1 + e^-1.5). */
    const double zl = 1.0 / (1.0 + exp(-1.5));
    const hand_case cases[] = {
        /* Absolute, r = 2, pred = -1.5: z = sign(3.5) = 1, loss 3.5;
         * p = [1 + 0.1 (0.5 - 0.5), 2 + 0.1 (-1 - 1)] = [1, 1.8],
         * q = [0.5 + 0.1 (1 - 0.25), -1 + 0.1 (2 + 0.5)] = [0.575, -0.75]. */
        {"absolute", CMF_LOSS_ABSOLUTE, 2.0, -1, 0, 0, 0, -1.0,
         {1.0, 1.8}, {0.575, -0.75}, 0, 0, 3.5},
        /* The same with biases b = 0.5, c = 0: pred = -1, z = 1, loss 3;
         * b = 0.5 + 0.1 (1 - 0.125) = 0.5875, c = 0.1; factors as above. */
        {"absolute, biased", CMF_LOSS_ABSOLUTE, 2.0, -1, 0, 0, 1, -1.0,
         {1.0, 1.8}, {0.575, -0.75}, 0.5875, 0.1, 3.0},
        /* The same, non-negative: q1 = -0.75 is clamped to 0. */
        {"absolute, nonnegative", CMF_LOSS_ABSOLUTE, 2.0, -1, 0, 1, 0, -1.0,
         {1.0, 1.8}, {0.575, 0.0}, 0, 0, 3.5},
        /* KL, r = 5, Q = [[0.5, 1]]: pred = 2.5, z = 5 / 2.5 - 1 = 1,
         * loss 5 ln 2 - 5 + 2.5; p = [1 + 0.1 (0.5 - 0.5), 2 + 0.1 (1 - 1)],
         * q = [0.5 + 0.1 (1 - 0.25), 1 + 0.1 (2 - 0.5)] = [0.575, 1.15]. */
        {"kl", CMF_LOSS_KL, 5.0, -1, 0, 1, 0, 1.0,
         {1.0, 2.0}, {0.575, 1.15}, 0, 0, 5.0 * log(2.0) - 2.5},
        /* KL at r = 0: z = -1, loss = pred = 2.5;
         * p = [1 + 0.1 (-0.5 - 0.5), 2 + 0.1 (-1 - 1)] = [0.9, 1.8],
         * q = [0.5 + 0.1 (-1 - 0.25), 1 + 0.1 (-2 - 0.5)] = [0.375, 0.75]. */
        {"kl, r = 0", CMF_LOSS_KL, 0.0, -1, 0, 1, 0, 1.0,
         {0.9, 1.8}, {0.375, 0.75}, 0, 0, 2.5},
        /* Logistic, r = 1: loss ln(1 + e^1.5);
         * p = [1 + 0.1 (0.5 zl - 0.5), 2 + 0.1 (-zl - 1)],
         * q = [0.5 + 0.1 (zl - 0.25), -1 + 0.1 (2 zl + 0.5)]. */
        {"logistic", CMF_LOSS_LOGISTIC, 1.0, -1, 0, 0, 0, -1.0,
         {1.0 + 0.1 * (0.5 * zl - 0.5), 2.0 + 0.1 * (-zl - 1.0)},
         {0.5 + 0.1 * (zl - 0.25), -1.0 + 0.1 * (2.0 * zl + 0.5)}, 0, 0,
         log(1.0 + exp(1.5))},
        /* Hinge, r = 1: margin -1.5 < 1, z = 1, loss 2.5: as absolute. */
        {"hinge", CMF_LOSS_HINGE, 1.0, -1, 0, 0, 0, -1.0,
         {1.0, 1.8}, {0.575, -0.75}, 0, 0, 2.5},
        /* Hinge, r = -1: margin 1.5, z = 0, loss 0: only the L2 decay,
         * p = 0.95 [1, 2], q = 0.95 [0.5, -1]. */
        {"hinge, margin met", CMF_LOSS_HINGE, -1.0, -1, 0, 0, 0, -1.0,
         {0.95, 1.9}, {0.475, -0.95}, 0, 0, 0.0},
        /* The same with l1 = 1: every coordinate 0.1 closer to 0. */
        {"hinge, l1", CMF_LOSS_HINGE, -1.0, -1, 1.0, 0, 0, -1.0,
         {0.85, 1.8}, {0.375, -0.85}, 0, 0, 0.0},
        /* Squared hinge, r = 1: slack 2.5, z = 2.5, loss 6.25;
         * p = [1 + 0.1 (1.25 - 0.5), 2 + 0.1 (-2.5 - 1)] = [1.075, 1.65],
         * q = [0.5 + 0.1 (2.5 - 0.25), -1 + 0.1 (5 + 0.5)] = [0.725, -0.45]. */
        {"squared hinge", CMF_LOSS_SQUARED_HINGE, 1.0, -1, 0, 0, 0, -1.0,
         {1.075, 1.65}, {0.725, -0.45}, 0, 0, 6.25},
        /* Squared, r = 2, weight 3: e = 3.5, z = 10.5, loss 3 * 12.25;
         * p = [1 + 0.1 (5.25 - 0.5), 2 + 0.1 (-10.5 - 1)] = [1.475, 0.85],
         * q = [0.5 + 0.1 (10.5 - 0.25), -1 + 0.1 (21 + 0.5)] = [1.525, 1.15]. */
        {"squared, weight 3", CMF_LOSS_SQUARED, 2.0, 3.0, 0, 0, 0, -1.0,
         {1.475, 0.85}, {1.525, 1.15}, 0, 0, 36.75},
        /* Absolute, weight 0.5, l1 = 0.5 (threshold 0.05), non-negative:
         * z = 0.5, loss 1.75; p = [1 + 0.1 (0.25 - 0.5), 2 + 0.1 (-0.5 - 1)]
         * = [0.975, 1.85] -> [0.925, 1.8]; q = [0.5 + 0.1 (0.5 - 0.25),
         * -1 + 0.1 (1 + 0.5)] = [0.525, -0.85] -> [0.475, -0.8] -> [0.475, 0]. */
        {"absolute, weight, l1, nonnegative", CMF_LOSS_ABSOLUTE, 2.0, 0.5, 0.5,
         1, 0, -1.0, {0.925, 1.8}, {0.475, 0.0}, 0, 0, 1.75},
    };
    size_t t;
    int blocked;
    for (t = 0; t < sizeof cases / sizeof cases[0]; ++t)
        for (blocked = 0; blocked < 2; ++blocked) {
            run_f64(&cases[t], blocked);
            run_f32(&cases[t], blocked);
        }
}

/* Weights of 1 give the bits of no weights (the grouped update runs
 * without weights, the generic one with them). */
static void test_weights_of_one(void)
{
    const int32_t rows[4] = {0, 1, 0, 1}, cols[4] = {0, 1, 1, 0};
    const double values[4] = {3.0, 1.0, 4.0, 2.0}, ones[4] = {1, 1, 1, 1};
    double P1[4] = {0.1, 0.2, 0.3, -0.4}, Q1[4] = {0.5, -0.6, 0.7, 0.8};
    double P2[4], Q2[4], b1[2] = {0, 0}, c1[2] = {0, 0}, b2[2] = {0, 0},
           c2[2] = {0, 0};
    double sse1 = 0.0, sse2 = 0.0;
    const cmf_params params = cmf_default_params();
    cmf_triplets_f64 data = {rows, cols, values, 4, NULL};
    cmf_model_f64 m1 = {2, 2, 2, P1, Q1, b1, c1, 2.5, NULL, NULL};
    cmf_model_f64 m2 = {2, 2, 2, P2, Q2, b2, c2, 2.5, NULL, NULL};
    int epoch;
    memcpy(P2, P1, sizeof P1);
    memcpy(Q2, Q1, sizeof Q1);
    for (epoch = 0; epoch < 3; ++epoch) {
        data.weights = NULL;
        CHECK(cmf_sgd_epoch_f64(&params, &m1, &data, NULL, 0, &sse1) == CMF_OK);
        data.weights = ones;
        CHECK(cmf_sgd_epoch_f64(&params, &m2, &data, NULL, 0, &sse2) == CMF_OK);
    }
    CHECK(memcmp(P1, P2, sizeof P1) == 0 && memcmp(Q1, Q2, sizeof Q1) == 0);
    CHECK(memcmp(b1, b2, sizeof b1) == 0 && memcmp(c1, c2, sizeof c1) == 0);
    CHECK(sse1 == sse2);
}

static void test_params_and_refusals(void)
{
    const cmf_params defaults = cmf_default_params();
    cmf_params p;
    const int32_t rows[2] = {1, 0}, cols[2] = {0, 0};
    const double values[2] = {7.0, 8.0}, weights[2] = {2.0, 3.0};
    const cmf_triplets_f64 data = {rows, cols, values, 2, weights};
    int64_t block_ptr[3];
    uint16_t lr[2], lc[2];
    double out[2], out_w[2], P[2] = {1.0, 1.0}, Q[1] = {1.0}, G[4] = {1, 1, 1, 1};
    double sse = -1.0, penalty = -1.0;
    cmf_model_f64 model = {2, 1, 1, P, Q, NULL, NULL, 0.0, G, G};

    CHECK(defaults.loss == CMF_LOSS_SQUARED);
    CHECK(defaults.l1_regularization == 0.0 && defaults.nonnegative == 0);
    p = defaults; p.loss = CMF_LOSS_LAST + 1;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.loss = -1;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.l1_regularization = -0.5;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.l1_regularization = sqrt(-1.0);
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.adaptive = 1; p.loss = CMF_LOSS_HINGE;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.adaptive = 1; p.nonnegative = 1;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.adaptive = 1; p.l1_regularization = 0.1;
    CHECK(cmf_check_params(&p) == CMF_ERR_INVALID_PARAMETER);
    p = defaults; p.loss = CMF_LOSS_SQUARED_HINGE; p.l1_regularization = 1;
    p.nonnegative = 1;
    CHECK(cmf_check_params(&p) == CMF_OK);
    /* AdaGrad with weights: refused before any update. */
    p = defaults; p.adaptive = 1; p.update_biases = 0;
    CHECK(cmf_sgd_epoch_f64(&p, &model, &data, NULL, 0, &sse) ==
          CMF_ERR_INVALID_PARAMETER);
    CHECK(P[0] == 1.0 && P[1] == 1.0 && Q[0] == 1.0 && sse == 0.0);

    /* The weighted partition permutes the weights with the values; the
     * plain one refuses weighted data. Rows 1 then 0 in blocks of one row:
     * block 0 holds entry 1, block 1 entry 0. */
    CHECK(cmf_partition_weighted_f64(&data, 2, 1, 1, 1, block_ptr, lr, lc, out,
                                     out_w) == CMF_OK);
    CHECK(out[0] == 8.0 && out[1] == 7.0 && out_w[0] == 3.0 && out_w[1] == 2.0);
    CHECK(cmf_partition_f64(&data, 2, 1, 1, 1, block_ptr, lr, lc, out) ==
          CMF_ERR_NULL_POINTER);
    CHECK(cmf_partition_weighted_f64(&data, 2, 1, 1, 1, block_ptr, lr, lc, out,
                                     NULL) == CMF_ERR_NULL_POINTER);

    /* L1 penalty: rows weighted 2 and 3, |p_0| = |p_1| = 1; column weighted
     * 5, |q_0| = 1: 0.5 (2 + 3 + 5) = 5. */
    {
        const double w[2] = {2.0, 3.0}, v[1] = {5.0};
        double Pn[2] = {1.0, -1.0};
        const cmf_model_f64 m = {2, 1, 1, Pn, Q, NULL, NULL, 0.0, NULL, NULL};
        CHECK(cmf_penalty_l1_f64(&m, w, v, 0.5, &penalty) == CMF_OK);
        CHECK(penalty == 5.0);
        CHECK(cmf_penalty_l1_f64(&m, w, v, -0.5, &penalty) ==
              CMF_ERR_INVALID_PARAMETER);
        CHECK(cmf_penalty_l1_f64(&m, NULL, v, 0.5, &penalty) ==
              CMF_ERR_NULL_POINTER);
    }
}

/* KL with a zero prediction for a positive value: a non-finite loss. */
static void test_kl_diverges_at_zero_prediction(void)
{
    const int32_t rows[1] = {0}, cols[1] = {0};
    const double values[1] = {2.0};
    const cmf_triplets_f64 data = {rows, cols, values, 1, NULL};
    double P[2] = {1.0, 0.0}, Q[2] = {0.0, 1.0}, sse = 0.0;
    cmf_model_f64 model = {1, 1, 2, P, Q, NULL, NULL, 0.0, NULL, NULL};
    cmf_params p = cmf_default_params();
    p.update_biases = 0;
    p.loss = CMF_LOSS_KL;
    p.nonnegative = 1;
    CHECK(cmf_sgd_epoch_f64(&p, &model, &data, NULL, 0, &sse) ==
          CMF_ERR_NON_FINITE);
}

int main(void)
{
    test_hand_cases();
    test_weights_of_one();
    test_params_and_refusals();
    test_kl_diverges_at_zero_prediction();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
