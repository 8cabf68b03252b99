/*
 * cmf_blocks.c -- cache-blocked SGD: partition of the entries into a grid
 * of row-range x column-range blocks, the deterministic shuffles inside a
 * block and of an epoch's blocks, and the blocked epoch for float and double, each compiled for the
 * baseline and (on x86 with gcc or clang) for AVX2 and AVX-512, chosen at
 * run time.
 */
#include "cmf.h"
#include "cmf_cpu.h"
#include "cmf_splitmix.h"

int32_t cmf_n_blocks(int32_t n, int32_t block_size)
{
    if (n <= 0 || block_size < 1)
        return 0;
    return (int32_t)(((int64_t)n + block_size - 1) / block_size);
}

cmf_status cmf_block_order(uint64_t seed, int32_t block, int64_t n,
                           int32_t *order)
{
    uint64_t state;
    int64_t t;
    if (n < 0 || n > INT32_MAX)
        return CMF_ERR_INVALID_PARAMETER;
    if (n > 0 && order == NULL)
        return CMF_ERR_NULL_POINTER;
    /* Mix the block into the seed through one round of the generator, so
     * that neighbouring blocks get unrelated streams. */
    state = seed ^ UINT64_C(0xD1B54A32D192ED03);
    state += (uint64_t)(uint32_t)block * CMF_SPLITMIX_GOLDEN;
    state = cmf_splitmix64_next(&state);
    /* The "inside-out" Fisher-Yates shuffle: entry t goes to a uniform
     * position s <= t and the one there moves to t, so the order is built
     * in one pass. Each 64-bit draw gives two 32-bit numbers, and each
     * index below t + 1 is the top half of a 32x32-bit product (Lemire's
     * multiply-shift; its bias, below n / 2^32, is irrelevant for a
     * visiting order, and it needs no division). */
    if (n > 0)
        order[0] = 0;
    for (t = 1; t < n; t += 2) {
        const uint64_t r = cmf_splitmix64_next(&state);
        int64_t s = (int64_t)(((r >> 32) * (uint64_t)(t + 1)) >> 32);
        order[t] = order[s];
        order[s] = (int32_t)t;
        if (t + 1 < n) {
            s = (int64_t)(((r & UINT64_C(0xFFFFFFFF)) * (uint64_t)(t + 2)) >> 32);
            order[t + 1] = order[s];
            order[s] = (int32_t)(t + 1);
        }
    }
    return CMF_OK;
}

/* A uniform integer in [0, bound), bound in 1..2^32, from the top 32 bits
 * of the stream's next outputs: Lemire's multiply-shift, with rejection of
 * the 2^32 mod bound low products that would make it biased. */
static uint32_t cmf_bounded_(uint64_t *state, uint64_t bound)
{
    const uint64_t threshold = ((UINT64_C(1) << 32) - bound) % bound;
    for (;;) {
        const uint64_t m = (cmf_splitmix64_next(state) >> 32) * bound;
        if ((m & UINT64_C(0xFFFFFFFF)) >= threshold)
            return (uint32_t)(m >> 32);
    }
}

/* The inside-out Fisher-Yates shuffle of first, first + 1, ..., first + n - 1
 * into out[0], out[stride], ..., out[(n - 1) * stride]. */
static void cmf_shuffle_(uint64_t *state, int32_t first, int32_t n,
                         int32_t *out, int64_t stride)
{
    int32_t i;
    if (n > 0)
        out[0] = first;
    for (i = 1; i < n; ++i) {
        const int64_t j = (int64_t)cmf_bounded_(state, (uint64_t)i + 1);
        out[i * stride] = out[j * stride];
        out[j * stride] = first + i;
    }
}

cmf_status cmf_epoch_schedule(uint64_t seed, int64_t epoch,
                              int32_t n_row_blocks, int32_t n_col_blocks,
                              int32_t n_tiles, int32_t *work, int32_t *blocks,
                              int64_t *tile_starts, uint64_t *block_seed)
{
    /* The Latin square, and the first row (column) block of each tile row
     * (column). */
    int32_t alpha[CMF_MAX_TILES], beta[CMF_MAX_TILES], gamma[CMF_MAX_TILES];
    int32_t row_bound[CMF_MAX_TILES + 1], col_bound[CMF_MAX_TILES + 1];
    const int32_t G = n_tiles, ncb = n_col_blocks;
    /* The row blocks in their drawn orders, tile row after tile row, then
     * the column blocks likewise (set once work is known not to be NULL:
     * arithmetic on a null pointer is undefined). */
    int32_t *row_order, *col_order;
    uint64_t state;
    int64_t offset;
    int32_t a, b, s, j, i, k;

    if (tile_starts == NULL || block_seed == NULL)
        return CMF_ERR_NULL_POINTER;
    if (n_row_blocks < 0 || n_col_blocks < 0 || G < 1 || G > CMF_MAX_TILES ||
        (int64_t)n_row_blocks * n_col_blocks > INT32_MAX ||
        (G > 1 && (G > n_row_blocks || G > n_col_blocks)))
        return CMF_ERR_INVALID_PARAMETER;
    if ((blocks == NULL || work == NULL) && n_row_blocks > 0 && n_col_blocks > 0)
        return CMF_ERR_NULL_POINTER;
    row_order = work;
    col_order = work == NULL ? NULL : work + n_row_blocks;

    /* The stream: the seed hashed, the epoch mixed in, hashed again. */
    state = seed ^ UINT64_C(0x243F6A8885A308D3);
    state = cmf_splitmix64_next(&state);
    state ^= (uint64_t)epoch;
    state = cmf_splitmix64_next(&state);
    cmf_shuffle_(&state, 0, G, alpha, 1);
    cmf_shuffle_(&state, 0, G, beta, 1);
    cmf_shuffle_(&state, 0, G, gamma, 1);
    for (a = 0; a <= G; ++a) {
        row_bound[a] = (int32_t)((int64_t)a * n_row_blocks / G);
        col_bound[a] = (int32_t)((int64_t)a * n_col_blocks / G);
    }
    if ((int64_t)n_row_blocks * n_col_blocks > 0) {
        for (a = 0; a < G; ++a)
            cmf_shuffle_(&state, row_bound[a], row_bound[a + 1] - row_bound[a],
                         row_order + row_bound[a], 1);
        for (b = 0; b < G; ++b)
            cmf_shuffle_(&state, col_bound[b], col_bound[b + 1] - col_bound[b],
                         col_order + col_bound[b], 1);
    }
    *block_seed = cmf_splitmix64_next(&state);

    /* Stratum s, slot j: tile (alpha[j], beta[(j + gamma[s]) % G]), its
     * blocks row by row. A grid without blocks writes only the starts. */
    offset = 0;
    for (s = 0; s < G; ++s)
        for (j = 0; j < G; ++j) {
            a = alpha[j];
            b = beta[(j + gamma[s]) % G];
            tile_starts[(int64_t)s * G + j] = offset;
            if (blocks == NULL)
                continue;
            for (i = row_bound[a]; i < row_bound[a + 1]; ++i)
                for (k = col_bound[b]; k < col_bound[b + 1]; ++k)
                    blocks[offset++] = row_order[i] * ncb + col_order[k];
        }
    tile_starts[(int64_t)G * G] = offset;
    return CMF_OK;
}

const char *cmf_simd_variant(void)
{
    switch (cmf_cpu_variant_()) {
    case CMF_VARIANT_AVX512_: return "avx512";
    case CMF_VARIANT_AVX2_: return "avx2";
    default: return "baseline";
    }
}

int cmf_simd_supported(int variant)
{
    return cmf_cpu_requested_(variant) >= 0;
}

const char *cmf_simd_name(int variant)
{
    static const char *const names[CMF_SIMD_LAST + 1] = {
        "auto", "baseline", "avx2", "avx512", "neon"};
    if (variant < 0 || variant > CMF_SIMD_LAST)
        return NULL;
    return names[variant];
}

/* Division of indices 0 .. 2^31 - 1 by a block size d in 1 .. 2^16 as a
 * multiplication and a shift (Granlund and Montgomery 1994): the partition
 * divides every entry's row and column twice, and with hardware division
 * (20 to 40 cycles) it took a third longer on MovieLens 100K. With
 * L = ceil(log2 d), shift = 31 + L and multiplier = floor(2^shift / d) + 1,
 * the quotient (u * multiplier) >> shift is exact: the multiplier exceeds
 * 2^shift / d by at most 1, which adds at most u / 2^shift < 1 / d to
 * u / d (as u d < 2^31 2^L), too little to reach the next integer; and
 * the multiplier is below 2^32 (2^31 + 1 when d = 2^L; otherwise
 * 2^(L-1) < d, so 2^shift / d < 2^32 and the floor is at most 2^32 - 2;
 * the largest, 0xFFFE0004, is d = 2^15 + 1), so u * multiplier < 2^63 is
 * a 32 x 32 -> 64-bit product, which vector units compute (see
 * cmf_partition_per_isa.h). */
typedef struct cmf_divider_ {
    uint64_t multiplier;
    int shift;
} cmf_divider_;

static cmf_divider_ cmf_divider_make_(int32_t d)
{
    cmf_divider_ div;
    int log2_ceil = 0;
    while ((INT64_C(1) << log2_ceil) < d)
        ++log2_ceil;
    div.shift = 31 + log2_ceil;
    div.multiplier = (UINT64_C(1) << div.shift) / (uint64_t)d + 1;
    return div;
}

/* u / d for the divider of d, given as its two fields: u < 2^31 and the
 * multiplier below 2^32, as above. Inlined into the loops that vectorise. */
static CMF_ALWAYS_INLINE uint32_t cmf_divide_(uint32_t u, uint32_t multiplier, int shift)
{
    return (uint32_t)(((uint64_t)u * multiplier) >> shift);
}

/* The grid as the partition's per-entry loops see it (all below 2^32):
 * the shape, entry (u, i)'s block ((u * row_mult) >> row_shift) *
 * n_col_blocks + ((i * col_mult) >> col_shift), and the block sizes. */
typedef struct cmf_partition_grid_ {
    uint32_t n_rows, n_cols;
    uint32_t row_mult, col_mult;
    int row_shift, col_shift;
    uint32_t n_col_blocks;
    uint32_t row_block_size, col_block_size;
} cmf_partition_grid_;

static cmf_partition_grid_ cmf_partition_grid_make_(int32_t n_rows, int32_t n_cols,
                                                    int32_t n_col_blocks,
                                                    int32_t row_block_size,
                                                    int32_t col_block_size)
{
    const cmf_divider_ by_rows = cmf_divider_make_(row_block_size);
    const cmf_divider_ by_cols = cmf_divider_make_(col_block_size);
    cmf_partition_grid_ grid;
    grid.n_rows = (uint32_t)n_rows;
    grid.n_cols = (uint32_t)n_cols;
    grid.row_mult = (uint32_t)by_rows.multiplier;
    grid.col_mult = (uint32_t)by_cols.multiplier;
    grid.row_shift = by_rows.shift;
    grid.col_shift = by_cols.shift;
    grid.n_col_blocks = (uint32_t)n_col_blocks;
    grid.row_block_size = (uint32_t)row_block_size;
    grid.col_block_size = (uint32_t)col_block_size;
    return grid;
}

/* Entries per call of those loops: their outputs (2 KiB) stay in L1
 * until the counting or scattering loop reads them. */
#define CMF_PARTITION_CHUNK 256

/* The blocked loops and entry points, once per precision. */
#define CMF_PER_PRECISION "cmf_blocks_per_precision.h"
#include "cmf_precisions.h"
