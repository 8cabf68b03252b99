"""Sphinx configuration: the API reference is built from the installed cmf.

Build with ``sphinx-build -W -b html docs docs/_build/html`` after
installing the package with its ``docs`` extra (see .ci/docs.sh).
"""

import cmf

project = "cmf"
author = "The cmf developers"
copyright = "The cmf developers"
version = release = cmf.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinxarg.ext",  # the command-line page, generated from cmf.cli's parser
    "myst_parser",  # dask.md
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# One page per topic; members are listed by numpydoc, not repeated by autodoc.
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

exclude_patterns = ["_build"]
html_theme = "alabaster"

# The Dask page documents cmf.dask without installing Dask for the docs.
autodoc_mock_imports = ["dask", "distributed"]
