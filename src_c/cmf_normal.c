/*
 * cmf_normal.c -- the standard normal draws of a model's initial factors:
 * Marsaglia and Tsang's ziggurat (tables in cmf_ziggurat.h) over one
 * splitmix64 stream per row, so that any split of the rows (into chunks
 * between which a caller can take Ctrl-C, or across threads) gives the same
 * bits. About a quarter of the time NumPy's standard_normal takes here
 * (2.2 against 9 ns a value): its generator is reached through a function
 * pointer per draw, and those draws were half of a small fit's setup.
 */
#include "cmf.h"
#include "cmf_splitmix.h"
#include "cmf_ziggurat.h"

#include <math.h>

/* 2^-53: a 53-bit integer times it is a uniform double in [0, 1). */
#define CMF_TWO_TO_MINUS_53 (1.0 / 9007199254740992.0)

/* Multiplying by these is exact, and unlike a branch on the sign bit (a coin
 * flip per draw) costs no mispredictions. */
static const double cmf_normal_sign_[2] = {1.0, -1.0};

/* A uniform double in (0, 1]: never 0, whose logarithm the tail takes. */
static double cmf_uniform_open_zero_(uint64_t *state)
{
    return (double)((cmf_splitmix64_next(state) >> 11) + 1) * CMF_TWO_TO_MINUS_53;
}

/* A draw from the normal tail beyond R (Marsaglia 1964), negated when asked. */
static double cmf_normal_tail_(uint64_t *state, int negative)
{
    double a, b;
    do {
        a = -log(cmf_uniform_open_zero_(state)) / CMF_ZIGGURAT_R;
        b = -log(cmf_uniform_open_zero_(state));
    } while (b + b <= a * a);
    return negative ? -(CMF_ZIGGURAT_R + a) : CMF_ZIGGURAT_R + a;
}

/* The slow path of the ziggurat for a draw r whose point was not accepted at
 * once (about 1% of draws): the tail, or the wedge test, and then new draws
 * until one is accepted. Kept out of line so that the fast path stays in
 * registers inside the row loop. */
static double cmf_normal_slow_(uint64_t *state, uint64_t r)
{
    for (;;) {
        const int layer = (int)(r & 0xFF);
        const int negative = (int)((r >> 8) & 1);
        const uint64_t j = r >> 12;
        const double x = (double)(int64_t)j * cmf_ziggurat_w[layer] * cmf_normal_sign_[negative];
        double y;
        if (j < cmf_ziggurat_k[layer])
            return x;
        if (layer == 0)
            return cmf_normal_tail_(state, negative);
        /* The wedge: a uniform height in the layer, under the curve or not. */
        y = cmf_ziggurat_f[layer] + (cmf_ziggurat_f[layer + 1] - cmf_ziggurat_f[layer]) *
            ((double)(cmf_splitmix64_next(state) >> 11) * CMF_TWO_TO_MINUS_53);
        if (y < exp(-0.5 * x * x))
            return x;
        r = cmf_splitmix64_next(state);
    }
}

/* One standard normal from the stream: bits 0-7 of a draw pick the layer,
 * bit 8 the sign, bits 12-63 the point in the layer. */
static CMF_ALWAYS_INLINE double cmf_standard_normal_(uint64_t *state)
{
    const uint64_t r = cmf_splitmix64_next(state);
    const uint64_t j = r >> 12;
    if (j >= cmf_ziggurat_k[r & 0xFF])
        return cmf_normal_slow_(state, r);
    return (double)(int64_t)j * cmf_ziggurat_w[r & 0xFF] * cmf_normal_sign_[(r >> 8) & 1];
}

/* Both precisions: exactly one of out32 and out64 is given. */
static cmf_status cmf_normal_rows_(uint64_t seed, int64_t first_row, int64_t n_rows,
                                   int32_t k, int64_t row_stride, double scale,
                                   float *out32, double *out64)
{
    int64_t i;
    int32_t t;
    if (first_row < 0 || n_rows < 0 || k < 0 || row_stride < k || scale - scale != 0.0)
        return CMF_ERR_INVALID_PARAMETER;
    if (n_rows > 0 && row_stride > 0 && out32 == NULL && out64 == NULL)
        return CMF_ERR_NULL_POINTER;
    for (i = 0; i < n_rows; ++i) {
        const int64_t at = i * row_stride;
        uint64_t state = (seed ^ UINT64_C(0x13198A2E03707344)) + (uint64_t)(first_row + i) * CMF_SPLITMIX_GOLDEN;
        state = cmf_splitmix64_next(&state);
        if (out32 != NULL) {
            for (t = 0; t < k; ++t)
                out32[at + t] = (float)(scale * cmf_standard_normal_(&state));
            for (; t < row_stride; ++t)
                out32[at + t] = 0.0f;
        } else {
            for (t = 0; t < k; ++t)
                out64[at + t] = scale * cmf_standard_normal_(&state);
            for (; t < row_stride; ++t)
                out64[at + t] = 0.0;
        }
    }
    return CMF_OK;
}

cmf_status cmf_normal_rows_f32(uint64_t seed, int64_t first_row, int64_t n_rows, int32_t k,
                               int64_t row_stride, double scale, float *out)
{
    return cmf_normal_rows_(seed, first_row, n_rows, k, row_stride, scale, out, NULL);
}

cmf_status cmf_normal_rows_f64(uint64_t seed, int64_t first_row, int64_t n_rows, int32_t k,
                               int64_t row_stride, double scale, double *out)
{
    return cmf_normal_rows_(seed, first_row, n_rows, k, row_stride, scale, NULL, out);
}
