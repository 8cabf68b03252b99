/*
 * cmf_splitmix.h -- splitmix64 (Steele, Lea and Flood 2014), the stream
 * every random choice of the core draws from: the block orders and epoch
 * schedules (cmf_blocks.c), the BPR sampler (cmf_bpr.c) and the initial
 * factors (cmf_normal.c). Its whole state is one 64-bit counter, so a
 * stream is a pure function of the key it starts from and nothing is kept
 * between calls. Private: not installed.
 */
#ifndef CMF_SPLITMIX_H
#define CMF_SPLITMIX_H

#include <stdint.h>

#include "cmf_compiler.h"

/** The increment of the counter (the golden ratio in 64-bit fixed point). */
#define CMF_SPLITMIX_GOLDEN UINT64_C(0x9E3779B97F4A7C15)

/* The next output of the stream; advances *state. Forced inline: the
 * initial factors draw one per value. */
static CMF_ALWAYS_INLINE uint64_t cmf_splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += CMF_SPLITMIX_GOLDEN);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#endif /* CMF_SPLITMIX_H */
