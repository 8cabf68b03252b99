/*
 * cmf_blocks_precision.h -- everything cmf_blocks.c compiles for one
 * precision: the blocked loop for each instruction set this build
 * dispatches to, then the public entry points that pick among them.
 *
 * Not a public header and has no include guard on purpose: cmf_blocks.c
 * includes it once per precision after defining CMF_REAL, CMF_REAL_BYTES,
 * CMF_SUFFIX, CMF_MODEL and CMF_BLOCKED. A vector register holds
 * CMF_VEC_BYTES bytes: 16 for the baseline (SSE2, NEON), 32 for AVX2, 64
 * for AVX-512.
 */
#define CMF_NAME(base) CMF_CAT(CMF_CAT(base, CMF_ISA), CMF_SUFFIX)
#define CMF_VEC_LANES (CMF_VEC_BYTES / CMF_REAL_BYTES)

#define CMF_ISA base_
#define CMF_TARGET
#define CMF_VEC_BYTES 16
#include "cmf_blocks_impl.h"
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES

#if CMF_X86_DISPATCH
#define CMF_ISA avx2_
#define CMF_TARGET CMF_TARGET_AVX2
#define CMF_VEC_BYTES 32
#include "cmf_blocks_impl.h"
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
#endif

#if CMF_X86_AVX512
#define CMF_ISA avx512_
#define CMF_TARGET CMF_TARGET_AVX512
#define CMF_VEC_BYTES 64
#include "cmf_blocks_impl.h"
#undef CMF_ISA
#undef CMF_TARGET
#undef CMF_VEC_BYTES
#endif

#undef CMF_NAME
#undef CMF_VEC_LANES

#include "cmf_blocks_api_impl.h"
