/*
 * cmf_blocks.c -- cache-blocked SGD: partition of the entries into a grid
 * of row-range x column-range blocks, the deterministic shuffle inside a
 * block, and the blocked epoch for float and double, each compiled for the
 * baseline and (on x86 with gcc or clang) for AVX2 and AVX-512, chosen at
 * run time.
 */
#include "cmf.h"
#include "cmf_cpu.h"

int32_t cmf_n_blocks(int32_t n, int32_t block_size)
{
    if (n <= 0 || block_size < 1)
        return 0;
    return (int32_t)(((int64_t)n + block_size - 1) / block_size);
}

/* splitmix64 (Steele, Lea and Flood 2014): a counter-based generator whose
 * whole state is one 64-bit integer, so a block's stream is a pure function
 * of (seed, block) and nothing is kept between calls. */
static uint64_t cmf_splitmix64_(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
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
    state += (uint64_t)(uint32_t)block * UINT64_C(0x9E3779B97F4A7C15);
    state = cmf_splitmix64_(&state);
    /* The "inside-out" Fisher-Yates shuffle: entry t goes to a uniform
     * position s <= t and the one there moves to t, so the order is built
     * in one pass. Each 64-bit draw gives two 32-bit numbers, and each
     * index below t + 1 is the top half of a 32x32-bit product (Lemire's
     * multiply-shift; its bias, below n / 2^32, is irrelevant for a
     * visiting order, and it needs no division). */
    if (n > 0)
        order[0] = 0;
    for (t = 1; t < n; t += 2) {
        const uint64_t r = cmf_splitmix64_(&state);
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

/* The blocked loops and entry points, once per precision. */
#define CMF_PER_PRECISION "cmf_blocks_per_precision.h"
#include "cmf_precisions.h"
