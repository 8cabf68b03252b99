"""Where the C header of cmf's core lives, for code that builds on it."""

from __future__ import annotations

import os

__all__ = ["get_include"]


def get_include() -> str:
    """Return the directory that contains ``cmf.h``, the C API of cmf's core.

    Extension modules that call the C functions declared in ``cmf.h``
    directly should add this directory to their include path, and so should
    Cython code that cimports ``cmf._kernels``: its functions are reached
    through the module's C-API capsule (no linking), but they take the
    structs of ``cmf.h``, whose definitions the consumer's compiler needs.

    Returns
    -------
    str
        Absolute path of the folder holding ``cmf.h``.

    See Also
    --------
    numpy.get_include : The same for NumPy's headers.

    Notes
    -----
    An installed cmf (wheel or ``pip install .``) ships the header as
    ``cmf/include/cmf.h``. In a source checkout used without installing, the
    folder ``src_c`` next to the package is returned instead.

    Examples
    --------
    With setuptools, in ``setup.py``::

        import cmf
        from setuptools import Extension

        ext = Extension("my_ext", ["my_ext.c"], include_dirs=[cmf.get_include()])

    >>> import os, cmf
    >>> os.path.isfile(os.path.join(cmf.get_include(), "cmf.h"))
    True
    """
    package_dir = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(package_dir, "include")
    if os.path.isfile(os.path.join(installed, "cmf.h")):
        return installed
    # A source checkout (editable install): the header's one copy in git.
    return os.path.join(os.path.dirname(package_dir), "src_c")
