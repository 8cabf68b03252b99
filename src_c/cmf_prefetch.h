/*
 * cmf_prefetch.h -- cache hints for the epochs: how far ahead to look, and
 * three ways to ask for memory early. Each is a hint only, and a no-op
 * without the gcc / clang builtins (cmf_compiler.h); none changes a result.
 */
#ifndef CMF_PREFETCH_H
#define CMF_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "cmf_compiler.h"

/* Entries looked ahead when prefetching factor rows. */
#ifndef CMF_PREFETCH_DISTANCE
#  define CMF_PREFETCH_DISTANCE 8
#endif

/* Factor matrices smaller than this (bytes) stay in cache: no prefetch. */
#ifndef CMF_PREFETCH_MIN_BYTES
#  define CMF_PREFETCH_MIN_BYTES ((size_t)2 << 20)
#endif

/* Ask for the cache lines of row `index` of a row-major matrix of `width`
 * elements of `size` bytes (for writing). */
static CMF_INLINE void cmf_prefetch_row_(const void *base, int32_t index,
                                         int32_t width, size_t size)
{
#if CMF_GNU_EXTENSIONS
    const char *row = (const char *)base + (size_t)index * (size_t)width * size;
    const size_t bytes = (size_t)width * size;
    size_t off;
    for (off = 0; off < bytes; off += 64)
        __builtin_prefetch(row + off, 1, 3);
#else
    (void)base; (void)index; (void)width; (void)size;
#endif
}

/* Ask for the cache lines of `bytes` contiguous bytes at `p` (for
 * reading). */
static CMF_INLINE void cmf_prefetch_span_(const void *p, size_t bytes)
{
#if CMF_GNU_EXTENSIONS
    const char *c = (const char *)p;
    size_t off;
    for (off = 0; off < bytes; off += 64)
        __builtin_prefetch(c + off, 0, 3);
#else
    (void)p; (void)bytes;
#endif
}

/* Ask for one cache line into L2 (not L1, which the current updates use). */
static CMF_INLINE void cmf_prefetch_line_l2_(const void *p)
{
#if CMF_GNU_EXTENSIONS
    __builtin_prefetch(p, 1, 2);
#else
    (void)p;
#endif
}

#endif /* CMF_PREFETCH_H */
