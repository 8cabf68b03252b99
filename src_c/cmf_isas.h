/*
 * cmf_isas.h -- include the body named by CMF_PER_ISA (a cmf_*_per_isa.h
 * file name in quotes) once for each instruction set this build holds
 * (cmf_cpu.h): the baseline, then AVX2 and AVX-512 where dispatched, with
 * the instruction set's template parameters (cmf_template.h).
 *
 * No include guard: a per-precision body includes it once per precision,
 * after defining CMF_PER_ISA, which is undefined here after use.
 */
#ifndef CMF_PER_ISA
#  error "define CMF_PER_ISA as the body to instantiate"
#endif

#include "cmf_cpu.h"

#define CMF_ISA base_
#define CMF_TARGET
#define CMF_VEC_BYTES 16 /* SSE2, NEON */
#include CMF_PER_ISA
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES

#if CMF_X86_DISPATCH
#define CMF_ISA avx2_
#define CMF_TARGET CMF_TARGET_AVX2
#define CMF_VEC_BYTES 32
#include CMF_PER_ISA
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
#endif

#if CMF_X86_AVX512
#define CMF_ISA avx512_
#define CMF_TARGET CMF_TARGET_AVX512
#define CMF_VEC_BYTES 64
#include CMF_PER_ISA
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
#endif

#undef CMF_PER_ISA
