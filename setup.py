"""Build the C core and its Cython binding as one extension module.

Everything else about the package lives in pyproject.toml. The C sources are
compiled with the compiler's defaults plus optimisation; never with
-march=native or fast-math, so that a wheel runs on every CPU of its platform
and gives the same bits as a source build.
"""
import glob
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

C_SOURCES = ["src_c/cmf_sgd.c", "src_c/cmf_blocks.c"]

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    # -ffp-contract=off: no fused multiply-add unless written, so that the
    # baseline, AVX2 and AVX-512 variants of the kernel (see
    # src_c/cmf_templating.h) give the same bits; clang contracts by default.
    # -fno-wrapv undoes the -fwrapv in Python's own CFLAGS, which stops gcc
    # from vectorising loops with signed counters (neither the C core nor
    # Cython's output relies on wrapping signed arithmetic).
    extra_compile_args = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-wrapv"]

extensions = [
    Extension(
        "cmf._kernels",
        sources=["cmf/_kernels.pyx", *C_SOURCES],
        # Rebuild when a header changes (setuptools only tracks sources).
        depends=sorted(glob.glob("src_c/*.h")),
        include_dirs=["src_c", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=extra_compile_args,
        libraries=[] if sys.platform == "win32" else ["m"],  # sqrt (adaptive steps)
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
