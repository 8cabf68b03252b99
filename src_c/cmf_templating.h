/*
 * cmf_templating.h -- helpers for writing a kernel once and instantiating it
 * for float and double (the PyWavelets pattern): a body in cmf_sgd_impl.h
 * refers to CMF_REAL and CMF_NAME(x), and cmf_sgd.c includes it once per
 * precision with those macros defined.
 */
#ifndef CMF_TEMPLATING_H
#define CMF_TEMPLATING_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define CMF_CAT_(a, b) a##b
#define CMF_CAT(a, b) CMF_CAT_(a, b)

/* restrict is C99; MSVC spells it __restrict and C++ has neither. */
#if defined(_MSC_VER)
#  define CMF_RESTRICT __restrict
#elif defined(__cplusplus)
#  define CMF_RESTRICT
#else
#  define CMF_RESTRICT restrict
#endif

/* inline is C99; MSVC's C compiler spells it __inline. */
#if defined(_MSC_VER)
#  define CMF_INLINE __inline
#else
#  define CMF_INLINE inline
#endif

/*
 * Run-time selection of instruction sets. With gcc or clang on x86 the
 * kernels are compiled a second and third time with
 * __attribute__((target("avx2"))) and target("avx512f") and picked with
 * __builtin_cpu_supports, so a wheel built for the baseline still uses the
 * wide vectors where the CPU has them. Elsewhere (MSVC, arm64, where NEON is
 * the baseline anyway) only the baseline build exists. Define
 * CMF_NO_DISPATCH to force the baseline everywhere.
 */
#if !defined(CMF_NO_DISPATCH) && (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__x86_64__) || defined(__i386__))
#  define CMF_X86_DISPATCH 1
#  define CMF_TARGET_AVX2 __attribute__((target("avx2")))
#  define CMF_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#  define CMF_X86_DISPATCH 0
#endif

/* Type of the partial sums of a float32 dot product (see
 * cmf_update_impl.h); double reproduces a fully double dot product. */
#ifndef CMF_FLOAT_DOT_REAL
#  define CMF_FLOAT_DOT_REAL float
#endif

/* Entries looked ahead when prefetching factor rows. */
#ifndef CMF_PREFETCH_DISTANCE
#  define CMF_PREFETCH_DISTANCE 8
#endif

/* Factor matrices smaller than this (bytes) stay in cache: no prefetch. */
#ifndef CMF_PREFETCH_MIN_BYTES
#  define CMF_PREFETCH_MIN_BYTES ((size_t)2 << 20)
#endif

/* Ask for the cache lines of row `index` of a row-major matrix of `width`
 * elements of `size` bytes; a hint only, and a no-op where unsupported. */
static CMF_INLINE void cmf_prefetch_row_(const void *base, int32_t index,
                                         int32_t width, size_t size)
{
#if defined(__GNUC__) || defined(__clang__)
    const char *row = (const char *)base + (size_t)index * (size_t)width * size;
    const size_t bytes = (size_t)width * size;
    size_t off;
    for (off = 0; off < bytes; off += 64)
        __builtin_prefetch(row + off, 1, 3);
#else
    (void)base; (void)index; (void)width; (void)size;
#endif
}

#endif /* CMF_TEMPLATING_H */
