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
#include <string.h>

/*
 * Compiler extensions (prefetch builtins, target attributes) are used only
 * with gcc and clang, and only behind this switch. Defining CMF_PORTABLE
 * builds the plain C99 fallbacks instead, as a compiler without those
 * extensions would; .ci/c.sh compiles and tests the core that way.
 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(CMF_PORTABLE)
#  define CMF_GNU_EXTENSIONS 1
#else
#  define CMF_GNU_EXTENSIONS 0
#endif

/*
 * The kernels are written with the 16-lane vector types of gcc and clang
 * (__attribute__((vector_size))) where available, and with plain loops
 * doing the same arithmetic elsewhere (see cmf_update_impl.h).
 */
#define CMF_VECTOR_EXT CMF_GNU_EXTENSIONS

/* __builtin_shufflevector (clang; gcc from 12) narrows a vector register
 * without a trip through memory. */
#ifndef CMF_HAVE_SHUFFLEVECTOR
#  define CMF_HAVE_SHUFFLEVECTOR 0
#  if CMF_VECTOR_EXT && defined(__has_builtin)
#    if __has_builtin(__builtin_shufflevector)
#      undef CMF_HAVE_SHUFFLEVECTOR
#      define CMF_HAVE_SHUFFLEVECTOR 1
#    endif
#  endif
#endif

/* A function that must be inlined into its caller: the blocked epoch's
 * body is instantiated once per common chunk count this way. */
#if CMF_GNU_EXTENSIONS
#  define CMF_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#  define CMF_ALWAYS_INLINE __forceinline
#else
#  define CMF_ALWAYS_INLINE CMF_INLINE
#endif

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
 * CMF_NO_DISPATCH to force the baseline everywhere, or CMF_NO_AVX512 to
 * stop at AVX2 (.ci/c.sh builds both to compare the variants' bits).
 */
#if !defined(CMF_NO_DISPATCH) && CMF_GNU_EXTENSIONS && \
    (defined(__x86_64__) || defined(__i386__))
#  define CMF_X86_DISPATCH 1
#  define CMF_TARGET_AVX2 __attribute__((target("avx2")))
#  define CMF_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#  define CMF_X86_DISPATCH 0
#endif
#if CMF_X86_DISPATCH && !defined(CMF_NO_AVX512)
#  define CMF_X86_AVX512 1
#else
#  define CMF_X86_AVX512 0
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

/* Ask for the cache lines of `bytes` contiguous bytes at `p` (for reading);
 * a hint only, and a no-op where unsupported. */
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

/* Ask for one cache line into L2 (not L1, which the current updates use);
 * a hint only, and a no-op where unsupported. */
static CMF_INLINE void cmf_prefetch_line_l2_(const void *p)
{
#if CMF_GNU_EXTENSIONS
    __builtin_prefetch(p, 1, 2);
#else
    (void)p;
#endif
}

#endif /* CMF_TEMPLATING_H */
