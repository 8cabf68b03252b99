"""Build the C core and its Cython binding as one extension module.

Everything else about the package lives in pyproject.toml. The C sources are
compiled with the compiler's defaults plus optimisation; never with
-march=native or fast-math, so that a wheel runs on every CPU of its platform
and gives the same bits as a source build.

The float and double variants of the Cython binding are written once, in the
Tempita templates cmf/_kernels.pyx.tp and cmf/_kernels.pxd.tp; the build
expands them into cmf/_kernels.pyx and cmf/_kernels.pxd (not kept in git)
before Cython runs, as scikit-learn does.

The public header src_c/cmf.h is the one copy kept in git; the build copies
it into the package (cmf/include/cmf.h) so that ``cmf.get_include()`` finds
it in an installed wheel, after checking that its CMF_VERSION_* macros agree
with cmf/_version.py.
"""
import os
import re
import sys
from glob import glob

import numpy
from Cython import Tempita
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
# The rating-file reader of the C core is its own small extension
# (cmf._reader); every other C file of the core goes into cmf._kernels, so
# that new kernel files need no edit here.
READER_SOURCES = ["src_c/cmf_read.c"]
C_SOURCES = sorted(set(glob("src_c/*.c")) - set(READER_SOURCES))
PUBLIC_HEADER = os.path.join("src_c", "cmf.h")

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    # -ffp-contract=off: no fused multiply-add unless written, so that the
    # baseline, AVX2 and AVX-512 variants of the kernel (see
    # src_c/cmf_cpu.h) give the same bits; clang contracts by default.
    # -fno-wrapv undoes the -fwrapv in Python's own CFLAGS, which stops gcc
    # from vectorising loops with signed counters (neither the C core nor
    # Cython's output relies on wrapping signed arithmetic).
    extra_compile_args = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-wrapv"]


def _read(path):
    with open(os.path.join(HERE, path), encoding="utf-8") as f:
        return f.read()


def _check_versions():
    """Refuse to build when cmf.h and cmf/_version.py disagree."""
    python_version = re.search(r'__version__ = "([^"]+)"', _read("cmf/_version.py")).group(1)
    header = _read(PUBLIC_HEADER)
    parts = [
        re.search(rf"#define CMF_VERSION_{name} (\d+)", header).group(1)
        for name in ("MAJOR", "MINOR", "PATCH")
    ]
    c_version = ".".join(parts)
    # A pre-release suffix (0.2.0rc1) keeps the numeric part of the release.
    if re.match(r"\d+\.\d+\.\d+", python_version).group(0) != c_version:
        raise SystemExit(
            f"version mismatch: cmf/_version.py says {python_version}, "
            f"src_c/cmf.h says {c_version}; change both together"
        )


class build_py_with_header(build_py):
    """Also copy the public C header into the built package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "cmf", "include")
        self.mkpath(target)
        self.copy_file(PUBLIC_HEADER, os.path.join(target, "cmf.h"))

    def get_outputs(self, include_bytecode=True):
        header = os.path.join(self.build_lib, "cmf", "include", "cmf.h")
        return [*super().get_outputs(include_bytecode), header]


def _expand_templates():
    """Write cmf/X from each Tempita template cmf/X.tp whose expansion changed.

    An unchanged expansion is not rewritten, so that Cython does not
    recompile what has not changed.
    """
    for template in sorted(glob(os.path.join(HERE, "cmf", "*.tp"))):
        text = Tempita.sub(_read(template))
        target = template[: -len(".tp")]
        if os.path.exists(target) and _read(target) == text:
            continue
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)


_check_versions()
_expand_templates()

extensions = [
    Extension(
        "cmf._kernels",
        sources=["cmf/_kernels.pyx", *C_SOURCES],
        # The kernel body lives in headers; without them listed, an in-tree
        # rebuild after editing a header silently reuses the stale object.
        depends=sorted(glob("src_c/*.h")),
        include_dirs=["src_c", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=extra_compile_args,
        libraries=[] if sys.platform == "win32" else ["m"],  # sqrt (adaptive steps)
    ),
    Extension(
        "cmf._reader",
        sources=["cmf/_reader.pyx", *READER_SOURCES],
        depends=["src_c/cmf.h"],
        include_dirs=["src_c"],
        extra_compile_args=extra_compile_args,
    ),
]

setup(
    cmdclass={"build_py": build_py_with_header},
    ext_modules=cythonize(
        extensions,
        # freethreading_compatible: the module keeps no global state and the
        # C core none either, so free-threaded CPython need not re-enable
        # the GIL when it imports cmf._kernels.
        compiler_directives={"language_level": "3", "freethreading_compatible": True},
    ),
)
