"""What the installed package ships for users and for code that builds on it.

These checks are fast and need no network; the ones that build wheels and
sdists live in .ci/packaging.sh.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from pathlib import Path

import pytest

import cmf
import cmf._kernels
from cmf import _version

PACKAGE_DIR = Path(cmf.__file__).parent
HEADER = Path(cmf.get_include()) / "cmf.h"
REPO_HEADER = Path(__file__).resolve().parents[1] / "src_c" / "cmf.h"


def _header_version(text: str) -> str:
    parts = [re.search(rf"#define CMF_VERSION_{p} (\d+)", text) for p in ("MAJOR", "MINOR", "PATCH")]
    assert all(parts), "cmf.h must define CMF_VERSION_MAJOR, _MINOR and _PATCH"
    return ".".join(m.group(1) for m in parts)


def _pxd_cdef_names(text: str) -> set[str]:
    """Names of the functions a .pxd declares (``... name(`` at line start)."""
    return set(re.findall(r"^\s*(?:cdef\s+)?[\w\s\*]*?\b(\w+)\s*\(", text, flags=re.M))


def test_version_is_one_number():
    assert cmf.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*(\.dev\d+)?", cmf.__version__)
    numeric = re.match(r"\d+\.\d+\.\d+", cmf.__version__).group(0)
    assert _header_version(HEADER.read_text()) == numeric


def test_distribution_metadata_reports_the_same_version():
    try:
        installed = importlib.metadata.version("cmf-sgd")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("cmf is imported without being installed as the cmf-sgd distribution")
    assert installed == cmf.__version__


def test_get_include_holds_the_public_header():
    include = cmf.get_include()
    assert os.path.isabs(include)
    text = HEADER.read_text()
    assert "#ifndef CMF_H" in text
    for name in ("cmf_sgd_epoch_f32", "cmf_sgd_epoch_f64", "cmf_predict_f64", "cmf_strerror"):
        assert name in text


def test_installed_header_is_the_one_in_git():
    if not REPO_HEADER.is_file() or REPO_HEADER == HEADER:
        pytest.skip("no source checkout next to the tests to compare with")
    assert HEADER.read_bytes() == REPO_HEADER.read_bytes()


def test_package_ships_pxd_files_and_py_typed():
    for name in ("_kernels.pxd", "_libcmf.pxd", "py.typed"):
        assert (PACKAGE_DIR / name).is_file(), f"cmf/{name} is not installed"


def test_wheel_record_has_no_sources_or_tests():
    files = importlib.metadata.files("cmf-sgd") if _is_installed() else None
    if not files:
        pytest.skip("cmf is not installed from a wheel with a RECORD")
    names = [str(f).replace("\\", "/") for f in files]
    if not any(name.startswith("cmf/") for name in names):
        pytest.skip("an editable install records no package files")
    assert "cmf/include/cmf.h" in names
    assert [n for n in names if n.endswith((".c", ".pyx"))] == []
    assert [n for n in names if n.startswith("tests/")] == []


def _is_installed() -> bool:
    try:
        importlib.metadata.distribution("cmf-sgd")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_kernels_pxd_declares_exactly_the_exported_functions():
    declared = _pxd_cdef_names((PACKAGE_DIR / "_kernels.pxd").read_text())
    exported = set(cmf._kernels.__pyx_capi__)
    assert declared == exported
    assert {"sgd_epoch_f32", "sgd_epoch_f64", "predict_f32", "predict_f64", "status_message"} <= exported


def test_libcmf_pxd_declares_every_function_of_the_header():
    header_functions = set(re.findall(r"\bCMF_API\b[^;(]*?\b(cmf_\w+)\s*\(", HEADER.read_text()))
    assert len(header_functions) >= 7
    declared = _pxd_cdef_names((PACKAGE_DIR / "_libcmf.pxd").read_text())
    assert header_functions - declared == set()


def test_free_threaded_python_keeps_the_gil_disabled():
    import sys
    import sysconfig

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("not a free-threaded CPython build")
    if os.environ.get("PYTHON_GIL") == "1":
        pytest.skip("the GIL was enabled on purpose with PYTHON_GIL=1")
    # Importing an extension that does not declare itself free-threading
    # compatible would have switched the GIL back on.
    assert not sys._is_gil_enabled()
