/*
 * cmf_template.h -- writing a body once and compiling it once per
 * precision and once per instruction set, and the one naming rule for it.
 *
 * Files
 * -----
 * A header's name says what it varies over:
 *     cmf_*_per_precision.h  a body compiled once per precision (float,
 *                            double); instantiated by cmf_precisions.h,
 *                            or included by such a body (the model check)
 *     cmf_*_per_isa.h        a body compiled once per (precision,
 *                            instruction set); instantiated by cmf_isas.h,
 *                            or for the baseline alone by its includer
 *     cmf_compiler.h, cmf_cpu.h, cmf_prefetch.h, cmf_template.h
 *                            vary over nothing (include guards)
 * The bodies have no include guard. Each includes every header it uses and
 * takes nothing from its includer but the template parameters below, which
 * it checks with #error.
 *
 * Template parameters (defined around each inclusion of a body, undefined
 * after it)
 * ---------------------------------------------------------------------
 *     CMF_REAL        the element type: float or double     (precision)
 *     CMF_REAL_BYTES  sizeof(CMF_REAL) for #if: 4 or 8      (precision)
 *     CMF_SUFFIX      the precision's name suffix: f32, f64 (precision)
 *     CMF_ISA         the instruction set's name part: base_, avx2_, avx512_
 *     CMF_TARGET      the function attribute that selects it (empty for
 *                     base_, the instruction set the compiler targets)
 *     CMF_VEC_BYTES   bytes per vector register: 16 (base_), 32, 64
 *
 * Derived names (defined here, once; one meaning each)
 * ----------------------------------------------------
 *     CMF_CAT(a, b)   a and b pasted together after both are expanded
 *     CMF_T(name)     name with the precision suffix, for every symbol
 *                     that varies by precision: CMF_T(cmf_sgd_epoch_) is
 *                     cmf_sgd_epoch_f32 or cmf_sgd_epoch_f64
 *     CMF_TV(name)    name with the instruction set and the precision, for
 *                     every symbol that varies by both (all static):
 *                     CMF_TV(dot_) is dot_base_f32, dot_avx2_f64, ...
 *     CMF_MODEL, CMF_TRIPLETS, CMF_BLOCKED
 *                     the precision's cmf_model_*, cmf_triplets_* and
 *                     cmf_blocked_* types of cmf.h
 *     CMF_VEC_LANES   elements per vector register:
 *                     CMF_VEC_BYTES / CMF_REAL_BYTES
 * Every other CMF_ macro of the internal headers is a plain constant or
 * switch that means the same in every instantiation.
 */
#ifndef CMF_TEMPLATE_H
#define CMF_TEMPLATE_H

#define CMF_CAT_(a, b) a##b
#define CMF_CAT(a, b) CMF_CAT_(a, b)

#define CMF_T(name) CMF_CAT(name, CMF_SUFFIX)
#define CMF_TV(name) CMF_CAT(CMF_CAT(name, CMF_ISA), CMF_SUFFIX)

#define CMF_MODEL CMF_T(cmf_model_)
#define CMF_TRIPLETS CMF_T(cmf_triplets_)
#define CMF_BLOCKED CMF_T(cmf_blocked_)

#define CMF_VEC_LANES (CMF_VEC_BYTES / CMF_REAL_BYTES)

#endif /* CMF_TEMPLATE_H */
