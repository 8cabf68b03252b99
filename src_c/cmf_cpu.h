/*
 * cmf_cpu.h -- the instruction sets the kernels are compiled for, and the
 * one place the CPU is asked which of them it runs.
 *
 * With gcc or clang on x86 the per-instruction-set bodies are compiled a
 * second and third time with __attribute__((target("avx2"))) and
 * target("avx512f") and picked with __builtin_cpu_supports, so a wheel
 * built for the baseline still uses the wide vectors where the CPU has
 * them. Elsewhere (MSVC, arm64, where NEON is the baseline anyway) only the
 * baseline build exists. Define CMF_NO_DISPATCH to force the baseline
 * everywhere, or CMF_NO_AVX512 to stop at AVX2 (.ci/c.sh builds both to
 * compare the variants' bits).
 */
#ifndef CMF_CPU_H
#define CMF_CPU_H

#include "cmf_compiler.h"

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

/* The instruction-set variants of the kernels a build can hold. */
typedef enum cmf_variant_ {
    CMF_VARIANT_BASE_,
    CMF_VARIANT_AVX2_,
    CMF_VARIANT_AVX512_
} cmf_variant_;

/* The widest variant this build holds and this CPU runs: asked by the
 * blocked epoch's dispatch (for CMF_SIMD_AUTO) and by cmf_simd_variant
 * alike, so the two cannot disagree. */
static CMF_INLINE cmf_variant_ cmf_cpu_variant_(void)
{
#if CMF_X86_AVX512
    if (__builtin_cpu_supports("avx512f"))
        return CMF_VARIANT_AVX512_;
#endif
#if CMF_X86_DISPATCH
    if (__builtin_cpu_supports("avx2"))
        return CMF_VARIANT_AVX2_;
#endif
    return CMF_VARIANT_BASE_;
}

/* The variant a cmf_params.simd_variant asks for (a cmf_simd of cmf.h),
 * or -1 when it is none, or one this build does not hold or this CPU does
 * not run. cmf_check_params refuses the -1 cases, so the blocked epoch's
 * dispatch always gets a variant it holds. */
static CMF_INLINE int cmf_cpu_requested_(int simd_variant)
{
    switch (simd_variant) {
    case 0: /* CMF_SIMD_AUTO */
        return (int)cmf_cpu_variant_();
    case 1: /* CMF_SIMD_BASELINE */
        return (int)CMF_VARIANT_BASE_;
#if CMF_X86_DISPATCH
    case 2: /* CMF_SIMD_AVX2 */
        return __builtin_cpu_supports("avx2") ? (int)CMF_VARIANT_AVX2_ : -1;
#endif
#if CMF_X86_AVX512
    case 3: /* CMF_SIMD_AVX512 */
        return __builtin_cpu_supports("avx512f") ? (int)CMF_VARIANT_AVX512_ : -1;
#endif
#if CMF_VECTOR_EXT && (defined(__aarch64__) || defined(__ARM_NEON))
    case 4: /* CMF_SIMD_NEON: the baseline code is NEON code there */
        return (int)CMF_VARIANT_BASE_;
#endif
    default:
        return -1;
    }
}

#endif /* CMF_CPU_H */
