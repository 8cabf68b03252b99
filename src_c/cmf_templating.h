/*
 * cmf_templating.h -- helpers for writing a kernel once and instantiating it
 * for float and double (the PyWavelets pattern): a body in cmf_sgd_impl.h
 * refers to CMF_REAL and CMF_NAME(x), and cmf_sgd.c includes it once per
 * precision with those macros defined.
 */
#ifndef CMF_TEMPLATING_H
#define CMF_TEMPLATING_H

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

#endif /* CMF_TEMPLATING_H */
