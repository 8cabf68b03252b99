/*
 * cmf_compiler.h -- what the core needs from the compiler beyond C99:
 * restrict and inline spellings, forced inlining, and whether the gcc /
 * clang extensions (vector types, __builtin_shufflevector, builtins) may be
 * used. Nothing here depends on the precision or the instruction set.
 */
#ifndef CMF_COMPILER_H
#define CMF_COMPILER_H

/*
 * Compiler extensions (prefetch builtins, target attributes, vector types)
 * are used only with gcc and clang, and only behind this switch. Defining
 * CMF_PORTABLE builds the plain C99 fallbacks instead, as a compiler
 * without those extensions would; .ci/c.sh compiles and tests the core
 * that way.
 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(CMF_PORTABLE)
#  define CMF_GNU_EXTENSIONS 1
#else
#  define CMF_GNU_EXTENSIONS 0
#endif

/*
 * The kernels are written with the 16-lane vector types of gcc and clang
 * (__attribute__((vector_size))) where available, and with plain loops
 * doing the same arithmetic elsewhere (see cmf_update_per_isa.h).
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

/* A function that must be inlined into its caller: the blocked epoch's
 * body is instantiated once per common chunk count this way. */
#if CMF_GNU_EXTENSIONS
#  define CMF_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#  define CMF_ALWAYS_INLINE __forceinline
#else
#  define CMF_ALWAYS_INLINE CMF_INLINE
#endif

#endif /* CMF_COMPILER_H */
