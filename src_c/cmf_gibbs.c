/*
 * cmf_gibbs.c -- one half of a Gibbs sweep of Bayesian probabilistic matrix
 * factorization (Salakhutdinov and Mnih, ICML 2008): every row of one side
 * drawn from its Gaussian conditional posterior given the other side, the
 * prior and caller-given standard normals. Double precision only; rows are
 * independent, so any split of the rows across threads gives the same bits.
 */
#include "cmf.h"

#include <math.h>

/* Finite test without isfinite() or HUGE_VAL (a compiler builtin in some C
 * libraries), as in cmf_sgd.c. */
static int cmf_gibbs_finite_(double x)
{
    return x - x == 0.0;
}

/* Lower Cholesky factor L of the k x k symmetric matrix a, in place (only
 * the lower triangle is read and written), with the reciprocal 1 / L[j][j]
 * stored on the diagonal: the diagonal is only ever divided by, and one
 * division per column instead of one per entry halves the cost of a row
 * at k = 10. Returns 0 when a pivot is not a positive finite number: a is
 * then not (numerically) positive definite. */
static int cmf_cholesky_(double *a, int32_t k)
{
    int32_t i, j, t;
    for (j = 0; j < k; ++j) {
        double d = a[(int64_t)j * k + j];
        for (t = 0; t < j; ++t)
            d -= a[(int64_t)j * k + t] * a[(int64_t)j * k + t];
        if (!(d > 0.0) || !cmf_gibbs_finite_(d))
            return 0;
        d = 1.0 / sqrt(d);
        a[(int64_t)j * k + j] = d;
        for (i = j + 1; i < k; ++i) {
            double s = a[(int64_t)i * k + j];
            for (t = 0; t < j; ++t)
                s -= a[(int64_t)i * k + t] * a[(int64_t)j * k + t];
            a[(int64_t)i * k + j] = s * d;
        }
    }
    return 1;
}

cmf_status cmf_gibbs_rows(const cmf_gibbs_side *side, const cmf_gibbs_prior *prior,
                          int32_t row_begin, int32_t row_end,
                          const double *normals, double *work, double *out)
{
    int32_t k, r, a, b;
    double *chol, *rhs, *prior_rhs;
    if (side == NULL || prior == NULL || work == NULL)
        return CMF_ERR_NULL_POINTER;
    k = side->n_factors;
    if (k < 1 || side->n_rows < 0 || side->n_other < 0 || row_begin < 0 ||
        row_end < row_begin || row_end > side->n_rows ||
        !(prior->noise_precision > 0.0) || !cmf_gibbs_finite_(prior->noise_precision))
        return CMF_ERR_INVALID_PARAMETER;
    if (row_end == row_begin)
        return CMF_OK;
    if (side->indptr == NULL || prior->mean == NULL || prior->precision == NULL ||
        normals == NULL || out == NULL || (side->n_other > 0 && side->other == NULL))
        return CMF_ERR_NULL_POINTER;
    chol = work;
    rhs = work + (int64_t)k * k;
    prior_rhs = rhs + k;
    /* Lambda mu, the prior's share of every row's right-hand side. */
    for (a = 0; a < k; ++a) {
        double s = 0.0;
        for (b = 0; b < k; ++b)
            s += prior->precision[(int64_t)a * k + b] * prior->mean[b];
        prior_rhs[a] = s;
    }
    for (r = row_begin; r < row_end; ++r) {
        const int64_t begin = side->indptr[r], end = side->indptr[r + 1];
        const double alpha = prior->noise_precision;
        const double *z = normals + (int64_t)r * k;
        double *x = out + (int64_t)r * k;
        int64_t e;
        if (begin < 0 || end < begin)
            return CMF_ERR_INVALID_PARAMETER;
        if (end > begin && (side->indices == NULL || side->values == NULL))
            return CMF_ERR_NULL_POINTER;
        /* S = sum v v^T (lower triangle) and t = sum r v over the row's
         * entries, kept in chol and rhs until the prior is added. */
        for (a = 0; a < k; ++a) {
            rhs[a] = 0.0;
            for (b = 0; b <= a; ++b)
                chol[(int64_t)a * k + b] = 0.0;
        }
        for (e = begin; e < end; ++e) {
            const int32_t j = side->indices[e];
            const double *v;
            const double value = side->values[e];
            if (j < 0 || j >= side->n_other)
                return CMF_ERR_INDEX_OUT_OF_RANGE;
            v = side->other + (int64_t)j * k;
            for (a = 0; a < k; ++a) {
                double *row = chol + (int64_t)a * k;
                const double va = v[a];
                for (b = 0; b <= a; ++b)
                    row[b] += va * v[b];
                rhs[a] += value * va;
            }
        }
        /* precision_r = Lambda + alpha S; right-hand side Lambda mu + alpha t. */
        for (a = 0; a < k; ++a) {
            for (b = 0; b <= a; ++b)
                chol[(int64_t)a * k + b] = prior->precision[(int64_t)a * k + b] +
                                           alpha * chol[(int64_t)a * k + b];
            rhs[a] = prior_rhs[a] + alpha * rhs[a];
        }
        if (!cmf_cholesky_(chol, k))
            return CMF_ERR_INVALID_PARAMETER;
        /* precision_r = L L^T, so mean_r = L^-T L^-1 rhs and the draw
         * mean_r + L^-T z = L^-T (L^-1 rhs + z): one forward substitution,
         * add z, one back substitution. */
        for (a = 0; a < k; ++a) {
            double s = rhs[a];
            for (b = 0; b < a; ++b)
                s -= chol[(int64_t)a * k + b] * rhs[b];
            rhs[a] = s * chol[(int64_t)a * k + a];
        }
        for (a = 0; a < k; ++a)
            rhs[a] += z[a];
        for (a = k - 1; a >= 0; --a) {
            double s = rhs[a];
            for (b = a + 1; b < k; ++b)
                s -= chol[(int64_t)b * k + a] * x[b];
            x[a] = s * chol[(int64_t)a * k + a];
        }
        for (a = 0; a < k; ++a) {
            if (!cmf_gibbs_finite_(x[a]))
                return CMF_ERR_NON_FINITE;
        }
    }
    return CMF_OK;
}
