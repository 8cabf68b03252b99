/*
 * cmf_precisions.h -- include the body named by CMF_PER_PRECISION (a
 * cmf_*_per_precision.h file name in quotes) once for float and once for
 * double, with the precision's template parameters (cmf_template.h).
 *
 * No include guard: each .c file holding per-precision code includes it
 * once, after defining CMF_PER_PRECISION, which is undefined here after
 * use.
 */
#ifndef CMF_PER_PRECISION
#  error "define CMF_PER_PRECISION as the body to instantiate"
#endif

#define CMF_REAL float
#define CMF_REAL_BYTES 4
#define CMF_SUFFIX f32
#include CMF_PER_PRECISION
#undef CMF_REAL
#undef CMF_REAL_BYTES
#undef CMF_SUFFIX

#define CMF_REAL double
#define CMF_REAL_BYTES 8
#define CMF_SUFFIX f64
#include CMF_PER_PRECISION
#undef CMF_REAL
#undef CMF_REAL_BYTES
#undef CMF_SUFFIX

#undef CMF_PER_PRECISION
