/*
 * cmf_update_per_isa.h -- the single-entry SGD update, written once for a
 * floating type and an instruction-set variant.
 *
 * Not a public header and has no include guard on purpose: it is included
 * once per (precision, instruction set), with the template parameters of
 * cmf_template.h defined (CMF_REAL, CMF_REAL_BYTES, CMF_SUFFIX, CMF_ISA,
 * CMF_TARGET, CMF_VEC_BYTES). Every function it defines is static and
 * named CMF_TV(name).
 *
 * Why the loops look the way they do
 * ----------------------------------
 * The dot product keeps CMF_LANES (16) independent partial sums, lane j
 * summing the products of coordinates f with f % 16 == j, and adds them in
 * a fixed pairwise tree at the end. Coordinates are processed in whole
 * chunks of 16, which map onto vector registers of whatever width the
 * variant has (SSE2, AVX2, AVX-512, NEON), but the arithmetic, and
 * therefore every bit of the result, is the same in every variant: each
 * lane is a sequential sum, and the build disables floating-point
 * contraction (-ffp-contract=off), so no variant fuses a multiply-add that
 * another does not. A run on an AVX-512 machine and one on a baseline
 * machine give identical factors.
 *
 * With gcc and clang a chunk is one value of a 16-lane vector type (the
 * compilers' vector extension), so the code generated is exactly one
 * vector operation per line below, whatever the compiler's loop heuristics
 * would make of a loop. Other compilers (MSVC, or CMF_PORTABLE) get plain
 * loops over the 16 lanes doing the same arithmetic in the same order;
 * .ci/c.sh checks that both give the same bits.
 *
 * Every function takes the number of whole chunks (k / 16) and the tail
 * (k % 16) as arguments: the blocked epoch calls them with a constant
 * chunk count for each common k (see cmf_blocks_per_isa.h), so that after
 * inlining the chunk loops are fully unrolled, the partial sums stay in
 * registers and no loop counter is left (at k = 16 the loops alone were
 * about 70 instructions per update).
 *
 * The partial sums have the model's type: a float32 model rounds every
 * factor to 24 bits anyway; 16 lanes of at most k/16 terms each keep the
 * relative rounding error of the dot product near k/16 float ulps (about
 * 4e-7 at k = 64), far below the noise of one SGD step, and the squared
 * errors returned (the loss) are summed in double. The factor update is
 * written in CMF_REAL too. Both updates read p and q before either is
 * written.
 *
 * Loop counters are size_t: Python's build flags include -fwrapv, under
 * which gcc must assume signed counters may wrap and gives up vectorising
 * loops (measured: 3.5x slower updates).
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX) || \
    !defined(CMF_ISA) || !defined(CMF_TARGET) || !defined(CMF_VEC_BYTES)
#  error "define the template parameters of cmf_template.h first"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmf.h"
#include "cmf_compiler.h"
#include "cmf_template.h"

#ifndef CMF_LANES
#  define CMF_LANES 16
#endif
#if CMF_LANES != 16
#  error "the reductions below are written for 16 lanes"
#endif

#if CMF_VECTOR_EXT
/* One vector register, and the narrower vectors of the reduction tree. A
 * chunk of 16 coordinates is CMF_SUB registers. */
#  define CMF_SUB (CMF_LANES / CMF_VEC_LANES)
typedef CMF_REAL CMF_TV(vec_)
    __attribute__((vector_size(CMF_VEC_LANES * sizeof(CMF_REAL))));
typedef CMF_REAL CMF_TV(vec8_)
    __attribute__((vector_size(8 * sizeof(CMF_REAL))));
typedef CMF_REAL CMF_TV(vec4_)
    __attribute__((vector_size(4 * sizeof(CMF_REAL))));
typedef CMF_REAL CMF_TV(vec2_)
    __attribute__((vector_size(2 * sizeof(CMF_REAL))));
/* Integer lanes of the same width, for masking. */
#  if CMF_REAL_BYTES == 4
typedef int32_t CMF_TV(ilane_);
#  elif CMF_REAL_BYTES == 8
typedef int64_t CMF_TV(ilane_);
#  else
#    error "define CMF_REAL_BYTES (4 or 8) with CMF_REAL"
#  endif
typedef CMF_TV(ilane_) CMF_TV(ivec_)
    __attribute__((vector_size(CMF_VEC_LANES * sizeof(CMF_REAL))));
/* 16 zeros then 16 ones: the 16 entries from index `tail` on select the
 * last `tail` lanes of a chunk. */
static const CMF_TV(ilane_) CMF_TV(tail_mask_)[2 * CMF_LANES] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
/* Lanes lo .. lo + n - 1 of a vector x as a vector of n lanes: a register
 * extract with __builtin_shufflevector (clang, gcc >= 12), a copy through
 * memory with older compilers (slower, same bits). */
#  if CMF_HAVE_SHUFFLEVECTOR
#    define CMF_LO8_(x) __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7)
#    define CMF_HI8_(x) __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15)
#    define CMF_LO4_(x) __builtin_shufflevector(x, x, 0, 1, 2, 3)
#    define CMF_HI4_(x) __builtin_shufflevector(x, x, 4, 5, 6, 7)
#  endif
#endif

/* The fixed pairwise tree over 16 partial sums: lanes j and j + 8, then
 * j and j + 4, then j and j + 2, and the last two added in double. */
CMF_TARGET static CMF_ALWAYS_INLINE double CMF_TV(sum_lanes_)(
    CMF_REAL *acc)
{
    size_t j;
    for (j = 0; j < 8; ++j)
        acc[j] += acc[j + 8];
    for (j = 0; j < 4; ++j)
        acc[j] += acc[j + 4];
    for (j = 0; j < 2; ++j)
        acc[j] += acc[j + 2];
    return (double)acc[0] + (double)acc[1];
}

/* Dot product of two k-vectors (k = 16 n_chunks + tail) in the lane
 * layout above. When k > 16 the tail is one more chunk, the last 16
 * coordinates, with the products of the first 16 - tail (already counted)
 * replaced by +0: the tail's coordinate 16 n_chunks + m goes to lane
 * 16 - tail + m. When k < 16 coordinate f goes to lane f, the other lanes
 * getting 0 * 0. Either way the tail is vector code too (a scalar tail
 * would pass the lanes through memory, in the critical path). */
CMF_TARGET static CMF_ALWAYS_INLINE double CMF_TV(dot_)(
    const CMF_REAL *CMF_RESTRICT p, const CMF_REAL *CMF_RESTRICT q,
    const size_t n_chunks, const size_t tail)
{
    CMF_REAL pad_p[CMF_LANES], pad_q[CMF_LANES];
    size_t c, j;
#if CMF_VECTOR_EXT
    typedef CMF_TV(vec_) vec;
    vec acc[CMF_SUB];
    size_t s;
    for (s = 0; s < CMF_SUB; ++s)
        acc[s] = (vec){0};
    for (c = 0; c < n_chunks; ++c, p += CMF_LANES, q += CMF_LANES) {
        for (s = 0; s < CMF_SUB; ++s) {
            vec x, y;
            memcpy(&x, p + s * CMF_VEC_LANES, sizeof x);
            memcpy(&y, q + s * CMF_VEC_LANES, sizeof y);
            acc[s] += x * y;
        }
    }
    if (tail > 0 && n_chunks > 0) {
        /* The last 16 coordinates, of which the first 16 - tail were in
         * the last chunk: their products are masked to +0. */
        typedef CMF_TV(ivec_) ivec;
        const CMF_REAL *pe = p + tail - CMF_LANES, *qe = q + tail - CMF_LANES;
        for (s = 0; s < CMF_SUB; ++s) {
            vec x, y;
            ivec m;
            memcpy(&x, pe + s * CMF_VEC_LANES, sizeof x);
            memcpy(&y, qe + s * CMF_VEC_LANES, sizeof y);
            memcpy(&m, CMF_TV(tail_mask_) + tail + s * CMF_VEC_LANES, sizeof m);
            acc[s] += (vec)((ivec)(x * y) & m);
        }
    } else if (tail > 0) {
        for (j = 0; j < CMF_LANES; ++j) {
            pad_p[j] = j < tail ? p[j] : 0;
            pad_q[j] = j < tail ? q[j] : 0;
        }
        for (s = 0; s < CMF_SUB; ++s) {
            vec x, y;
            memcpy(&x, pad_p + s * CMF_VEC_LANES, sizeof x);
            memcpy(&y, pad_q + s * CMF_VEC_LANES, sizeof y);
            acc[s] += x * y;
        }
    }
    {
        /* The tree of sum_lanes_: whole registers first, then halves. */
#  if CMF_VEC_LANES == 2
        CMF_TV(vec2_) h = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                            ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        return (double)h[0] + (double)h[1];
#  else
        CMF_TV(vec4_) h;
#    if CMF_VEC_LANES == 4
        h = (acc[0] + acc[2]) + (acc[1] + acc[3]);
#    else
        CMF_TV(vec8_) e;
#      if CMF_VEC_LANES == 8
        e = acc[0] + acc[1];
#      elif CMF_VEC_LANES == 16 && CMF_HAVE_SHUFFLEVECTOR
        e = CMF_LO8_(acc[0]) + CMF_HI8_(acc[0]);
#      elif CMF_VEC_LANES == 16
        CMF_TV(vec8_) hi;
        memcpy(&e, &acc[0], sizeof e);
        memcpy(&hi, (const char *)&acc[0] + sizeof e, sizeof hi);
        e += hi;
#      else
#        error "CMF_VEC_LANES must be 2, 4, 8 or 16"
#      endif
#      if CMF_HAVE_SHUFFLEVECTOR
        h = CMF_LO4_(e) + CMF_HI4_(e);
#      else
        {
            CMF_TV(vec4_) hi4;
            memcpy(&h, &e, sizeof h);
            memcpy(&hi4, (const char *)&e + sizeof h, sizeof hi4);
            h += hi4;
        }
#      endif
#    endif
        return (double)(h[0] + h[2]) + (double)(h[1] + h[3]);
#  endif
    }
#else
    CMF_REAL acc[CMF_LANES];
    for (j = 0; j < CMF_LANES; ++j)
        acc[j] = 0;
    for (c = 0; c < n_chunks; ++c, p += CMF_LANES, q += CMF_LANES) {
        for (j = 0; j < CMF_LANES; ++j)
            acc[j] += p[j] * q[j];
    }
    if (tail > 0 && n_chunks > 0) {
        const CMF_REAL *pe = p + tail - CMF_LANES, *qe = q + tail - CMF_LANES;
        for (j = 0; j < CMF_LANES; ++j)
            acc[j] += j + tail >= CMF_LANES ? pe[j] * qe[j] : (CMF_REAL)0;
    } else if (tail > 0) {
        for (j = 0; j < CMF_LANES; ++j) {
            pad_p[j] = j < tail ? p[j] : 0;
            pad_q[j] = j < tail ? q[j] : 0;
        }
        for (j = 0; j < CMF_LANES; ++j)
            acc[j] += pad_p[j] * pad_q[j];
    }
    return CMF_TV(sum_lanes_)(acc);
#endif
}

/* p <- p + (ge q - gr p) and q <- q + (ge p - gr q), both from the old p
 * and q, over k = 16 n_chunks + tail coordinates. (The products lr e and
 * lr lambda are folded into ge and gr: one multiply fewer per coordinate,
 * the same value up to rounding.) */
CMF_TARGET static CMF_ALWAYS_INLINE void CMF_TV(step_)(
    CMF_REAL *CMF_RESTRICT p, CMF_REAL *CMF_RESTRICT q, const CMF_REAL ge,
    const CMF_REAL gr, const size_t n_chunks, const size_t tail)
{
    size_t c, j;
    for (c = 0; c < n_chunks; ++c, p += CMF_LANES, q += CMF_LANES) {
#if CMF_VECTOR_EXT
        size_t s;
        for (s = 0; s < CMF_SUB; ++s) {
            CMF_TV(vec_) pf, qf, pn, qn;
            memcpy(&pf, p + s * CMF_VEC_LANES, sizeof pf);
            memcpy(&qf, q + s * CMF_VEC_LANES, sizeof qf);
            pn = pf + (ge * qf - gr * pf);
            qn = qf + (ge * pf - gr * qf);
            memcpy(p + s * CMF_VEC_LANES, &pn, sizeof pn);
            memcpy(q + s * CMF_VEC_LANES, &qn, sizeof qn);
        }
#else
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_REAL pf = p[j];
            const CMF_REAL qf = q[j];
            p[j] = pf + (ge * qf - gr * pf);
            q[j] = qf + (ge * pf - gr * qf);
        }
#endif
    }
#if CMF_VECTOR_EXT
    if (tail > 0 && n_chunks > 0) {
        /* The last 16 coordinates again, keeping the first 16 - tail as
         * they are (already updated) and updating the tail: the same bits
         * as the scalar loop below. */
        typedef CMF_TV(vec_) vec;
        typedef CMF_TV(ivec_) ivec;
        CMF_REAL *pe = p + tail - CMF_LANES, *qe = q + tail - CMF_LANES;
        size_t s;
        for (s = 0; s < CMF_SUB; ++s) {
            vec pf, qf, pn, qn;
            ivec m;
            memcpy(&pf, pe + s * CMF_VEC_LANES, sizeof pf);
            memcpy(&qf, qe + s * CMF_VEC_LANES, sizeof qf);
            memcpy(&m, CMF_TV(tail_mask_) + tail + s * CMF_VEC_LANES, sizeof m);
            pn = pf + (ge * qf - gr * pf);
            qn = qf + (ge * pf - gr * qf);
            pn = (vec)(((ivec)pn & m) | ((ivec)pf & ~m));
            qn = (vec)(((ivec)qn & m) | ((ivec)qf & ~m));
            memcpy(pe + s * CMF_VEC_LANES, &pn, sizeof pn);
            memcpy(qe + s * CMF_VEC_LANES, &qn, sizeof qn);
        }
        return;
    }
#endif
    for (j = 0; j < tail; ++j) {
        const CMF_REAL pf = p[j];
        const CMF_REAL qf = q[j];
        p[j] = pf + (ge * qf - gr * pf);
        q[j] = qf + (ge * pf - gr * qf);
    }
}

/*
 * n_group (1 to 4) updates, for entries (u[g], i[g], r[g]) in order g =
 * 0, 1, ..., whose rows are pairwise distinct and whose columns are
 * pairwise distinct (checked by the caller); u and i must be valid and
 * 16 n_chunks + tail == model->n_factors. Each update computes the error
 * e = r - r_hat from the entry's old factors and biases, then moves both.
 * The entries read and write disjoint memory, so computing all errors
 * first and all updates after gives exactly the bits of n_group single
 * updates in a row. Written
 * this way the dependency chains (load, dot product, error, update) are
 * independent instructions that the CPU overlaps, and every load of the
 * group comes before its stores, so no load waits on an earlier store it
 * might alias. The squared errors are added to *total in visiting order.
 */
CMF_TARGET static CMF_ALWAYS_INLINE void CMF_TV(update_group_)(
    const cmf_params *params, CMF_MODEL *model, const int32_t *u,
    const int32_t *i, const double *r, const size_t n_group, double *total,
    const size_t n_chunks, const size_t tail)
{
    const size_t k = (size_t)model->n_factors;
    const double lr = params->learning_rate;
    const CMF_REAL gr = (CMF_REAL)(lr * params->regularization);
    CMF_REAL *p[4], *q[4];
    double e[4];
    size_t g;

    for (g = 0; g < n_group; ++g) {
        p[g] = model->row_factors + (size_t)u[g] * k;
        q[g] = model->col_factors + (size_t)i[g] * k;
        e[g] = model->global_mean + CMF_TV(dot_)(p[g], q[g], n_chunks, tail);
    }
    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        double bu[4], ci[4];
        for (g = 0; g < n_group; ++g) {
            bu[g] = (double)model->row_bias[u[g]];
            ci[g] = (double)model->col_bias[i[g]];
            e[g] = r[g] - (e[g] + (bu[g] + ci[g]));
        }
        for (g = 0; g < n_group; ++g) {
            model->row_bias[u[g]] = (CMF_REAL)(bu[g] + lr * (e[g] - lrb * bu[g]));
            model->col_bias[i[g]] = (CMF_REAL)(ci[g] + lr * (e[g] - lrb * ci[g]));
        }
    } else {
        for (g = 0; g < n_group; ++g)
            e[g] = r[g] - e[g];
    }
    for (g = 0; g < n_group; ++g)
        *total += e[g] * e[g];
    for (g = 0; g < n_group; ++g)
        CMF_TV(step_)(p[g], q[g], (CMF_REAL)(lr * e[g]), gr, n_chunks, tail);
}

/* a when c is non-zero, else b, chosen with bit masks instead of a
 * branch: the bits of a or b exactly, as c ? a : b. */
typedef char CMF_TV(double_is_64_bits_)[sizeof(double) == 8 ? 1 : -1];
CMF_TARGET static CMF_ALWAYS_INLINE double CMF_TV(select_)(const int c,
                                                         const double a,
                                                         const double b)
{
    const uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    uint64_t x, y;
    double out;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    x = (x & m) | (y & ~m);
    memcpy(&out, &x, sizeof out);
    return out;
}

/*
 * The loss of one entry (see "Other losses" in cmf.h): returns z, the
 * negative derivative of the loss in the prediction, and writes the loss
 * value to *ell; in double. A small switch, run per entry by the generic
 * update only: the grouped squared-loss update above never reaches it.
 *
 * The absolute loss's sign of the error is chosen without a branch (the
 * same bits): the absolute loss fits medians, so near the fit the error is
 * positive for about half the ratings, at random, and a branch on it
 * mispredicts about every other update (measured on 1M ratings, k = 32:
 * about 0.75x the time per update). The margins of the classification
 * losses become predictable as the fit improves (most ratings on the right
 * side), where their branches measured faster than masks.
 */
CMF_TARGET static CMF_INLINE double CMF_TV(loss_)(const int loss, const double r,
                                       const double pred, double *ell)
{
    double d, m;
    switch (loss) {
    case CMF_LOSS_ABSOLUTE:
        d = r - pred;
        *ell = fabs(d);
        return CMF_TV(select_)(d > 0.0, 1.0,
                               CMF_TV(select_)(d < 0.0, -1.0, 0.0));
    case CMF_LOSS_KL:
        if (r == 0.0) { /* r log(r / pred) is 0 at r = 0 */
            *ell = pred;
            return -1.0;
        }
        *ell = r * log(r / pred) - r + pred;
        return r / pred - 1.0;
    case CMF_LOSS_LOGISTIC:
        m = r * pred;
        /* log(1 + exp(-m)) without overflow for either sign of m; for a
         * large m, exp(m) is inf and z is 0, as it should be. */
        *ell = m > 0.0 ? log1p(exp(-m)) : -m + log1p(exp(m));
        return r / (1.0 + exp(m));
    case CMF_LOSS_HINGE:
        m = r * pred;
        *ell = m < 1.0 ? 1.0 - m : 0.0;
        return m < 1.0 ? r : 0.0;
    case CMF_LOSS_SQUARED_HINGE:
        m = r * pred;
        d = m < 1.0 ? 1.0 - m : 0.0;
        *ell = d * d;
        return r * d;
    default: /* CMF_LOSS_SQUARED */
        d = r - pred;
        *ell = d * d;
        return d;
    }
}

/* After a step: the L1 soft threshold of the k coordinates of x by t (when
 * t > 0), then the clamp at 0 (when nonnegative). Plain loops: they run
 * only with those options. */
CMF_TARGET static CMF_INLINE void CMF_TV(shrink_)(CMF_REAL *CMF_RESTRICT x, const size_t k,
                                       const CMF_REAL t, const int nonnegative)
{
    size_t f;
    if (t > 0)
        for (f = 0; f < k; ++f)
            x[f] = x[f] > t ? x[f] - t : (x[f] < -t ? x[f] + t : (CMF_REAL)0);
    if (nonnegative)
        for (f = 0; f < k; ++f)
            x[f] = x[f] < 0 ? (CMF_REAL)0 : x[f];
}

/*
 * The generic update of n_group (1 to 4) entries (u[g], i[g], r[g]) of
 * weights w[g], in order g = 0, 1, ..., for every loss, weights, L1 and
 * non-negative factors (see "Other losses" in cmf.h). As for update_group_,
 * their rows are pairwise distinct and their columns pairwise distinct
 * (checked by the caller), u and i are valid and 16 n_chunks + tail ==
 * model->n_factors. Each entry's update computes z and the loss from its
 * old parameters, multiplies both by w, steps the biases and factors as
 * update_group_ does with z in place of e (both factor steps from the old
 * p and q), then thresholds and clamps the two factor rows. The entries
 * read and write disjoint memory, so doing each of these phases for the
 * whole group before the next gives exactly the bits of n_group single
 * updates in a row, and lets the CPU overlap the entries' dependency
 * chains (dot product, loss, step) as in update_group_: measured on 1M
 * ratings (k = 32, float32, AVX-512, one thread) about 15% less time per
 * update for KL and logistic, whose log, exp and division are long
 * latencies, and within a few percent either way for the cheap losses
 * and for weights. The weighted losses are added to *total in visiting
 * order. For the squared loss with
 * w = 1 and neither option, every operation is update_group_'s, in the
 * same order: the same bits (multiplying by 1 is exact).
 */
CMF_TARGET static CMF_ALWAYS_INLINE void CMF_TV(update_generic_)(
    const cmf_params *params, CMF_MODEL *model, const int32_t *u,
    const int32_t *i, const double *r, const double *w, const size_t n_group,
    double *total, const size_t n_chunks, const size_t tail)
{
    const size_t k = (size_t)model->n_factors;
    const double lr = params->learning_rate;
    const CMF_REAL gr = (CMF_REAL)(lr * params->regularization);
    CMF_REAL *p[4], *q[4];
    double pred[4], bu[4] = {0.0, 0.0, 0.0, 0.0}, ci[4] = {0.0, 0.0, 0.0, 0.0};
    double z[4], ell[4];
    size_t g;

    for (g = 0; g < n_group; ++g) {
        p[g] = model->row_factors + (size_t)u[g] * k;
        q[g] = model->col_factors + (size_t)i[g] * k;
        pred[g] = model->global_mean + CMF_TV(dot_)(p[g], q[g], n_chunks, tail);
    }
    if (params->update_biases) {
        for (g = 0; g < n_group; ++g) {
            bu[g] = (double)model->row_bias[u[g]];
            ci[g] = (double)model->col_bias[i[g]];
            pred[g] = pred[g] + (bu[g] + ci[g]);
        }
    }
    for (g = 0; g < n_group; ++g) {
        z[g] = w[g] * CMF_TV(loss_)(params->loss, r[g], pred[g], &ell[g]);
        ell[g] = w[g] * ell[g];
    }
    if (params->update_biases) {
        const double lrb = params->bias_regularization;
        for (g = 0; g < n_group; ++g) {
            model->row_bias[u[g]] = (CMF_REAL)(bu[g] + lr * (z[g] - lrb * bu[g]));
            model->col_bias[i[g]] = (CMF_REAL)(ci[g] + lr * (z[g] - lrb * ci[g]));
        }
    }
    for (g = 0; g < n_group; ++g)
        CMF_TV(step_)(p[g], q[g], (CMF_REAL)(lr * z[g]), gr, n_chunks, tail);
    if (params->l1_regularization > 0.0 || params->nonnegative) {
        const CMF_REAL t = (CMF_REAL)(lr * params->l1_regularization);
        for (g = 0; g < n_group; ++g) {
            CMF_TV(shrink_)(p[g], k, t, params->nonnegative);
            CMF_TV(shrink_)(q[g], k, t, params->nonnegative);
        }
    }
    for (g = 0; g < n_group; ++g)
        *total += ell[g];
}

/* Sum of squares of (a x - b y) over k coordinates, in the lane layout of
 * dot_: the squared norm of one AdaGrad gradient step. */
CMF_TARGET static CMF_INLINE double CMF_TV(grad_sq_)(
    const CMF_REAL *CMF_RESTRICT x, const CMF_REAL *CMF_RESTRICT y,
    CMF_REAL a, CMF_REAL b, int32_t k)
{
    CMF_REAL acc[CMF_LANES];
    const size_t n_chunks = (size_t)k / CMF_LANES;
    const size_t tail = (size_t)k % CMF_LANES;
    size_t c, j;
    for (j = 0; j < CMF_LANES; ++j)
        acc[j] = 0;
    for (c = 0; c < n_chunks; ++c, x += CMF_LANES, y += CMF_LANES) {
        for (j = 0; j < CMF_LANES; ++j) {
            const CMF_REAL g = (CMF_REAL)(a * x[j] - b * y[j]);
            acc[j] += g * g;
        }
    }
    for (j = 0; j < tail; ++j) {
        const CMF_REAL g = (CMF_REAL)(a * x[j] - b * y[j]);
        acc[j] += g * g;
    }
    return CMF_TV(sum_lanes_)(acc);
}

/*
 * One AdaGrad update (params->adaptive) for the entry (u, i, r); see
 * cmf_params.adaptive. Both gradient norms are taken from the old p and q
 * before either is written. Returns e.
 */
CMF_TARGET static CMF_INLINE double CMF_TV(update_adaptive_)(
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
    double pred = model->global_mean +
                  CMF_TV(dot_)(p, q, (size_t)k / CMF_LANES, (size_t)k % CMF_LANES);
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
    sp = CMF_TV(grad_sq_)(q, p, ce, cr, k); /* |e q - reg p|^2 */
    sq = CMF_TV(grad_sq_)(p, q, ce, cr, k); /* |e p - reg q|^2 */
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

#undef CMF_SUB
#undef CMF_LO8_
#undef CMF_HI8_
#undef CMF_LO4_
#undef CMF_HI4_
