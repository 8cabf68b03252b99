/*
 * cmf_update_impl.h -- the single-entry SGD update, written once for a
 * floating type and an instruction-set variant.
 *
 * Not a public header and has no include guard on purpose: it is included
 * once per (precision, instruction set) after defining
 *     CMF_REAL     the element type (float or double)
 *     CMF_NAME(x)  how to suffix a function name for this instantiation
 *     CMF_MODEL    the matching cmf_model_* type
 *     CMF_TARGET   a function attribute selecting the instruction set
 *                  (empty for the baseline the compiler targets)
 *
 * Why the loops look the way they do
 * ----------------------------------
 * The dot product keeps CMF_LANES (16) independent partial sums, lane j
 * summing the products of coordinates f with f % 16 == j, and adds them in
 * a fixed pairwise tree at the end. Coordinates are processed in whole
 * chunks of 16 by a fixed-length inner loop, which the compiler maps onto
 * vector registers of whatever width the variant has (SSE2, AVX2, AVX-512,
 * NEON), but the arithmetic, and therefore every bit of the result, is the
 * same in every variant: each lane is a sequential sum, and the build
 * disables floating-point contraction (-ffp-contract=off), so no variant
 * fuses a multiply-add that another does not. A run on an AVX-512 machine
 * and one on a baseline machine give identical factors.
 *
 * The partial sums have the type CMF_DOT_REAL: double for float64 models,
 * float for float32 ones. A float32 model rounds every factor to 24 bits
 * anyway; 16 lanes of at most k/16 terms each keep the relative rounding
 * error of the dot product near k/16 float ulps (about 4e-7 at k = 64),
 * far below the noise of one SGD step, and the squared errors returned
 * (the loss) are still summed in double. Measured on W2 (k = 64, blocked
 * epoch, AVX-512): 36-38 ns per update with float lanes against 43-45 ns
 * with double ones, whose conversions halve the vector width. Define
 * CMF_FLOAT_DOT_REAL=double to build the all-double variant.
 *
 * The factor update is written in CMF_REAL: in float32 it is rounded to
 * float32 anyway when stored, and computing it in float keeps twice as many
 * lanes per vector. Both updates read p and q before either is written.
 *
 * Loop counters are size_t: Python's build flags include -fwrapv, under
 * which gcc must assume signed counters may wrap and gives up vectorising
 * these loops (measured: 3.5x slower updates).
 */
#if !defined(CMF_REAL) || !defined(CMF_MODEL) || !defined(CMF_TARGET) || \
    !defined(CMF_DOT_REAL)
#  error "define CMF_REAL, CMF_DOT_REAL, CMF_NAME, CMF_MODEL and CMF_TARGET"
#endif

#ifndef CMF_LANES
#  define CMF_LANES 16
#endif

/* Dot product of two k-vectors in the fixed lane layout above. */
CMF_TARGET static CMF_INLINE double CMF_NAME(dot_)(
    const CMF_REAL *CMF_RESTRICT p, const CMF_REAL *CMF_RESTRICT q, int32_t k)
{
    CMF_DOT_REAL acc[CMF_LANES];
    const size_t n_chunks = (size_t)k / CMF_LANES;
    const size_t tail = (size_t)k % CMF_LANES;
    size_t c, j;
    for (j = 0; j < CMF_LANES; ++j)
        acc[j] = 0;
    /* Whole chunks of CMF_LANES coordinates: a fixed-length inner loop that
     * the compiler maps onto vector registers with no peeling or tails. */
    for (c = 0; c < n_chunks; ++c, p += CMF_LANES, q += CMF_LANES) {
        for (j = 0; j < CMF_LANES; ++j)
            acc[j] += (CMF_DOT_REAL)p[j] * (CMF_DOT_REAL)q[j];
    }
    for (j = 0; j < tail; ++j)
        acc[j] += (CMF_DOT_REAL)p[j] * (CMF_DOT_REAL)q[j];
    /* Fixed pairwise tree; each level a constant-length loop, so that it
     * unrolls into a few vector adds and shuffles. */
#if CMF_LANES != 16
#  error "the reduction below is written for 16 lanes"
#endif
    for (j = 0; j < 8; ++j)
        acc[j] += acc[j + 8];
    for (j = 0; j < 4; ++j)
        acc[j] += acc[j + 4];
    for (j = 0; j < 2; ++j)
        acc[j] += acc[j + 2];
    return (double)acc[0] + (double)acc[1];
}

/*
 * One update for the entry (u, i, r); u and i must be valid. Returns the
 * error e = r - r_hat before the update.
 */
CMF_TARGET static CMF_INLINE double CMF_NAME(update_one_)(
    const cmf_params *params, CMF_MODEL *model, int32_t u, int32_t i,
    double r)
{
    const int32_t k = model->n_factors;
    CMF_REAL *CMF_RESTRICT p = model->row_factors + (size_t)u * (size_t)k;
    CMF_REAL *CMF_RESTRICT q = model->col_factors + (size_t)i * (size_t)k;
    const double lr = params->learning_rate;
    double pred = model->global_mean + CMF_NAME(dot_)(p, q, k);
    double e;
    CMF_REAL ge, gr;
    const size_t n_chunks = (size_t)k / CMF_LANES;
    const size_t tail = (size_t)k % CMF_LANES;
    size_t c, j;

    if (params->update_biases)
        pred += (double)model->row_bias[u] + (double)model->col_bias[i];
    e = r - pred;

    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        const double bu = (double)model->row_bias[u];
        const double ci = (double)model->col_bias[i];
        model->row_bias[u] = (CMF_REAL)(bu + lr * (e - lrb * bu));
        model->col_bias[i] = (CMF_REAL)(ci + lr * (e - lrb * ci));
    }
    /* p + lr (e q - reg p) with the two products folded into constants:
     * the same value up to rounding, one multiply fewer per coordinate. */
    ge = (CMF_REAL)(lr * e);
    gr = (CMF_REAL)(lr * params->regularization);
    for (c = 0; c < n_chunks; ++c, p += CMF_LANES, q += CMF_LANES) {
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_REAL pf = p[j];
            const CMF_REAL qf = q[j];
            p[j] = pf + (ge * qf - gr * pf);
            q[j] = qf + (ge * pf - gr * qf);
        }
    }
    for (j = 0; j < tail; ++j) {
        const CMF_REAL pf = p[j];
        const CMF_REAL qf = q[j];
        p[j] = pf + (ge * qf - gr * pf);
        q[j] = qf + (ge * pf - gr * qf);
    }
    return e;
}

/*
 * Two updates, for entries (u1, i1, r1) then (u2, i2, r2), with u1 != u2
 * and i1 != i2 (checked by the caller). They then read and write disjoint
 * memory, so computing both errors first and both updates after gives
 * exactly the bits of update_one_ twice in a row; written this way the two
 * dependency chains (load, dot product, error, update) are independent
 * instructions the CPU overlaps, instead of one long chain after another.
 * The squared errors are added to *total in visiting order.
 */
CMF_TARGET static CMF_INLINE void CMF_NAME(update_two_)(
    const cmf_params *params, CMF_MODEL *model, int32_t u1, int32_t i1,
    double r1, int32_t u2, int32_t i2, double r2, double *total)
{
    const int32_t k = model->n_factors;
    CMF_REAL *CMF_RESTRICT p1 = model->row_factors + (size_t)u1 * (size_t)k;
    CMF_REAL *CMF_RESTRICT q1 = model->col_factors + (size_t)i1 * (size_t)k;
    CMF_REAL *CMF_RESTRICT p2 = model->row_factors + (size_t)u2 * (size_t)k;
    CMF_REAL *CMF_RESTRICT q2 = model->col_factors + (size_t)i2 * (size_t)k;
    const double lr = params->learning_rate;
    double pred1 = model->global_mean + CMF_NAME(dot_)(p1, q1, k);
    double pred2 = model->global_mean + CMF_NAME(dot_)(p2, q2, k);
    double e1, e2;
    CMF_REAL ge1, ge2, gr;
    const size_t n_chunks = (size_t)k / CMF_LANES;
    const size_t tail = (size_t)k % CMF_LANES;
    size_t c, j;

    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        const double bu1 = (double)model->row_bias[u1];
        const double ci1 = (double)model->col_bias[i1];
        const double bu2 = (double)model->row_bias[u2];
        const double ci2 = (double)model->col_bias[i2];
        pred1 += bu1 + ci1;
        pred2 += bu2 + ci2;
        e1 = r1 - pred1;
        e2 = r2 - pred2;
        model->row_bias[u1] = (CMF_REAL)(bu1 + lr * (e1 - lrb * bu1));
        model->col_bias[i1] = (CMF_REAL)(ci1 + lr * (e1 - lrb * ci1));
        model->row_bias[u2] = (CMF_REAL)(bu2 + lr * (e2 - lrb * bu2));
        model->col_bias[i2] = (CMF_REAL)(ci2 + lr * (e2 - lrb * ci2));
    } else {
        e1 = r1 - pred1;
        e2 = r2 - pred2;
    }
    *total += e1 * e1;
    *total += e2 * e2;

    ge1 = (CMF_REAL)(lr * e1);
    ge2 = (CMF_REAL)(lr * e2);
    gr = (CMF_REAL)(lr * params->regularization);
    for (c = 0; c < n_chunks; ++c) {
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_REAL pf = p1[j], qf = q1[j];
            p1[j] = pf + (ge1 * qf - gr * pf);
            q1[j] = qf + (ge1 * pf - gr * qf);
        }
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_REAL pf = p2[j], qf = q2[j];
            p2[j] = pf + (ge2 * qf - gr * pf);
            q2[j] = qf + (ge2 * pf - gr * qf);
        }
        p1 += CMF_LANES; q1 += CMF_LANES; p2 += CMF_LANES; q2 += CMF_LANES;
    }
    for (j = 0; j < tail; ++j) {
        const CMF_REAL pf = p1[j], qf = q1[j];
        p1[j] = pf + (ge1 * qf - gr * pf);
        q1[j] = qf + (ge1 * pf - gr * qf);
    }
    for (j = 0; j < tail; ++j) {
        const CMF_REAL pf = p2[j], qf = q2[j];
        p2[j] = pf + (ge2 * qf - gr * pf);
        q2[j] = qf + (ge2 * pf - gr * qf);
    }
}

/* Sum of squares of (a x - b y) over k coordinates, in the lane layout of
 * dot_: the squared norm of one AdaGrad gradient step. */
CMF_TARGET static CMF_INLINE double CMF_NAME(grad_sq_)(
    const CMF_REAL *CMF_RESTRICT x, const CMF_REAL *CMF_RESTRICT y,
    CMF_REAL a, CMF_REAL b, int32_t k)
{
    CMF_DOT_REAL acc[CMF_LANES];
    const size_t n_chunks = (size_t)k / CMF_LANES;
    const size_t tail = (size_t)k % CMF_LANES;
    size_t c, j;
    for (j = 0; j < CMF_LANES; ++j)
        acc[j] = 0;
    for (c = 0; c < n_chunks; ++c, x += CMF_LANES, y += CMF_LANES) {
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_DOT_REAL g = (CMF_DOT_REAL)(a * x[j] - b * y[j]);
            acc[j] += g * g;
        }
    }
    for (j = 0; j < tail; ++j) {
        const CMF_DOT_REAL g = (CMF_DOT_REAL)(a * x[j] - b * y[j]);
        acc[j] += g * g;
    }
    for (j = 0; j < 8; ++j)
        acc[j] += acc[j + 8];
    for (j = 0; j < 4; ++j)
        acc[j] += acc[j + 4];
    for (j = 0; j < 2; ++j)
        acc[j] += acc[j + 2];
    return (double)acc[0] + (double)acc[1];
}

/*
 * One AdaGrad update (params->adaptive) for the entry (u, i, r); see
 * cmf_params.adaptive. Both gradient norms are taken from the old p and q
 * before either is written. Returns e.
 */
CMF_TARGET static CMF_INLINE double CMF_NAME(update_adaptive_)(
    const cmf_params *params, CMF_MODEL *model, int32_t u, int32_t i,
    double r)
{
    const int32_t k = model->n_factors;
    CMF_REAL *CMF_RESTRICT p = model->row_factors + (size_t)u * (size_t)k;
    CMF_REAL *CMF_RESTRICT q = model->col_factors + (size_t)i * (size_t)k;
    CMF_REAL *CMF_RESTRICT gu = model->row_adagrad + 2 * (size_t)u;
    CMF_REAL *CMF_RESTRICT gi = model->col_adagrad + 2 * (size_t)i;
    const double lr = params->learning_rate;
    const double reg = params->regularization;
    double pred = model->global_mean + CMF_NAME(dot_)(p, q, k);
    double e, sp, sq;
    CMF_REAL ep, rp, eq, rq, ce, cr;
    const size_t n = (size_t)k;
    size_t f;

    if (params->update_biases)
        pred += (double)model->row_bias[u] + (double)model->col_bias[i];
    e = r - pred;
    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        const double bu = (double)model->row_bias[u];
        const double ci = (double)model->col_bias[i];
        const double gbu = e - lrb * bu, gci = e - lrb * ci;
        const double hu = (double)gu[1] + gbu * gbu;
        const double hi = (double)gi[1] + gci * gci;
        gu[1] = (CMF_REAL)hu;
        gi[1] = (CMF_REAL)hi;
        model->row_bias[u] = (CMF_REAL)(bu + lr / sqrt(hu) * gbu);
        model->col_bias[i] = (CMF_REAL)(ci + lr / sqrt(hi) * gci);
    }
    ce = (CMF_REAL)e;
    cr = (CMF_REAL)reg;
    sp = CMF_NAME(grad_sq_)(q, p, ce, cr, k); /* |e q - reg p|^2 */
    sq = CMF_NAME(grad_sq_)(p, q, ce, cr, k); /* |e p - reg q|^2 */
    {
        const double Gu = (double)gu[0] + sp / (double)k;
        const double Gi = (double)gi[0] + sq / (double)k;
        const double su = lr / sqrt(Gu), si = lr / sqrt(Gi);
        gu[0] = (CMF_REAL)Gu;
        gi[0] = (CMF_REAL)Gi;
        ep = (CMF_REAL)(su * e);
        rp = (CMF_REAL)(su * reg);
        eq = (CMF_REAL)(si * e);
        rq = (CMF_REAL)(si * reg);
    }
    for (f = 0; f < n; ++f) {
        const CMF_REAL pf = p[f];
        const CMF_REAL qf = q[f];
        p[f] = pf + (ep * qf - rp * pf);
        q[f] = qf + (eq * pf - rq * qf);
    }
    return e;
}
