"""The shape of the package, checked from its source.

Every check reads the files of ``cmf/`` (and its subpackages) as text or
through :mod:`ast`, so it sees the tree being tested, not an installed copy:

- every module imports on its own, in a fresh interpreter;
- no import cycle among cmf modules, counting every import statement
  wherever it stands (top level or inside a function), ``from cmf import x``
  and relative forms included; imports under ``if TYPE_CHECKING:`` are left
  out, since they never run;
- no import inside a function or a class body, except of the optional
  dependencies in :data:`OPTIONAL` (and the standard-library modules in
  :data:`LAZY_STDLIB`, each with its reason);
- no function or method with more than :data:`MAX_POSITIONAL` positional
  parameters (positional-only and positional-or-keyword, ``self`` and
  ``cls`` included), in the Python modules and in the ``def``, ``cpdef``
  and ``cdef`` functions of the Cython sources (``*.pyx``, ``*.pyx.tp``);
- no module longer than :data:`MAX_LINES` lines, unless its module
  docstring says why in a sentence that starts with "This module is long
  because". This is the convention: a long module is allowed when the
  reason is written where the next reader looks first.

Each checker is a function of source text (or of an import graph) that
returns the violations it finds; the ``test_checker_*`` tests feed each one a
small violating example, so that a checker that finds nothing cannot pass
for a clean package.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cmf"
if not (PACKAGE / "__init__.py").is_file():
    # A copy of the tests run against an installed wheel has no source to read.
    pytest.skip("the checks read the package's source, which is not next to these tests", allow_module_level=True)
MAX_POSITIONAL = 8
MAX_LINES = 400
LONG_REASON = "This module is long because"
# Imported lazily on purpose: optional extras, or heavy and needed by few calls.
OPTIONAL = frozenset({"dask", "distributed", "pandas", "matplotlib", "tqdm", "scipy"})
# Standard-library modules a function may import, with the reason; none today.
LAZY_STDLIB: dict[str, str] = {}


# ----------------------------------------------------------------------
# The files and their module names
# ----------------------------------------------------------------------
def _python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _cython_files() -> list[Path]:
    """The Cython sources; a ``.pyx`` generated from a ``.pyx.tp`` is the template's."""
    templates = sorted(PACKAGE.rglob("*.pyx.tp"))
    generated = {t.with_suffix("") for t in templates}
    return templates + sorted(p for p in PACKAGE.rglob("*.pyx") if p not in generated)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).parts)
    parts[-1] = parts[-1].split(".")[0]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


MODULES = {_module_name(p): p for p in _python_files() + _cython_files()}


# ----------------------------------------------------------------------
# Import graph
# ----------------------------------------------------------------------
def _resolve_from(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module name of ``from <level dots><target> import ...`` in ``module``."""
    if level == 0:
        return target or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _known(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a cmf module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports_of(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The cmf modules that ``source`` (the module ``module``) imports, from anywhere in it.

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is
    a module, else of ``pkg`` (whose ``__init__`` provides the name). The
    parent packages Python initialises on the way are not counted: every
    module would otherwise depend on ``cmf/__init__.py``.
    """
    tree = ast.parse(source)
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(alias.name, modules) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, is_package, node.level, node.module)
            for alias in node.names:
                target = _known(f"{base}.{alias.name}", modules)
                if target != f"{base}.{alias.name}":
                    target = _known(base, modules)
                if target is not None:
                    found.add(target)
    found.discard(module)
    return found


_CYTHON_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+([^\n(]+|\([^)]*\))|import[ \t]+([\w.]+))",
                            re.MULTILINE)


def cython_imports_of(source: str, module: str, modules: set[str]) -> set[str]:
    """The cmf modules a Cython source imports at run time (``cimport`` is compile time)."""
    found = set()
    for match in _CYTHON_IMPORT.finditer(source):
        base, names, plain = match.groups()
        if plain is not None:
            target = _known(plain, modules)
            found.update([target] if target else [])
            continue
        for name in re.split(r"[\s,()]+", names.split("#")[0]):
            name = name.split(" as ")[0].strip()
            if name:
                target = _known(f"{base}.{name}", modules)
                target = target if target == f"{base}.{name}" else _known(base, modules)
                found.update([target] if target else [])
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Every cmf module mapped to the cmf modules it imports."""
    names = set(MODULES)
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            graph[name] |= imports_of(text, name, _is_package(path), names)
        else:
            graph[name] |= cython_imports_of(text, name, names)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# ----------------------------------------------------------------------
# Imports inside functions
# ----------------------------------------------------------------------
def nested_imports(source: str) -> list[tuple[int, str]]:
    """``(line, statement)`` of every import inside a function or class body, except allowed ones."""
    allowed = OPTIONAL | set(LAZY_STDLIB)
    found = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if nested and isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.Import):
                    roots = {alias.name.split(".")[0] for alias in child.names}
                else:
                    roots = {"" if child.level else (child.module or "").split(".")[0]}
                if not roots <= allowed:
                    found.append((child.lineno, ast.unparse(child)))
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


# ----------------------------------------------------------------------
# Positional parameters
# ----------------------------------------------------------------------
def python_signatures(source: str) -> list[tuple[int, str, int]]:
    """``(line, name, positional parameters)`` of every function, method and lambda."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            name = getattr(node, "name", "<lambda>")
            out.append((node.lineno, name, len(node.args.posonlyargs) + len(node.args.args)))
    return out


_CYTHON_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?(c?p?def)[ \t]+", re.MULTILINE)
_QUALIFIERS = r"(?:\s*(?:->[^:]+|nogil|noexcept|with\s+gil|except\s*[?*+]?\s*[-\w.]*|const))*"
_ENDS_DEFINITION = re.compile(_QUALIFIERS + r"\s*:")


def _closing(text: str, start: int) -> int:
    """Index of the bracket that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced brackets from offset {start}")


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def cython_signatures(source: str) -> list[tuple[int, str, int]]:
    """``(line, name, positional parameters)`` of every def, cpdef and cdef function.

    A ``cdef`` line is a function when a name and a parenthesised parameter
    list follow on the same logical line, with no ``=`` before them, and the
    definition ends with ``:`` (after qualifiers such as ``nogil`` or
    ``except -1``); ``cdef class``, ``cdef extern`` and variable
    declarations are skipped. Parameters count up to the first ``*``.
    """
    out = []
    for match in _CYTHON_DEF.finditer(source):
        keyword, head_start = match.group(1), match.end()
        paren = source.find("(", head_start)
        head = source[head_start:paren]
        if keyword not in ("def", "cdef", "cpdef") or paren < 0 or "\n" in head or "=" in head \
                or re.match(r"(class|extern|struct|union|enum|packed|ctypedef)\b", head.strip()):
            continue
        close = _closing(source, paren)
        if not _ENDS_DEFINITION.match(source, close + 1):
            continue
        name = re.sub(r"\s+", " ", head).strip().split(" ")[-1].lstrip("*&")
        count = 0
        for param in _split_top_level(source[paren + 1:close]):
            if param.startswith("*"):
                break
            if param != "/":
                count += 1
        out.append((source.count("\n", 0, match.start()) + 1, name, count))
    return out


# ----------------------------------------------------------------------
# Module length
# ----------------------------------------------------------------------
def module_docstring(source: str, python: bool) -> str:
    """The module docstring; for Cython (and Tempita) the first triple-quoted string."""
    if python:
        return ast.get_docstring(ast.parse(source)) or ""
    match = re.search(r'"""(.*?)"""', source, re.DOTALL)
    return match.group(1) if match else ""


def too_long(source: str, python: bool) -> bool:
    """Whether the module is over :data:`MAX_LINES` lines without saying why."""
    if len(source.splitlines()) <= MAX_LINES:
        return False
    return LONG_REASON not in " ".join(module_docstring(source, python).split())


# ----------------------------------------------------------------------
# The checks on the package
# ----------------------------------------------------------------------
def _run_import(module: str, cwd: Path) -> tuple[str, int, str]:
    # Outside the source tree, so that the interpreter imports cmf from where
    # this test process does (the installed package, or PYTHONPATH).
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    result = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, cwd=cwd,
                            timeout=300)
    lines = result.stderr.strip().splitlines()
    return module, result.returncode, lines[-1] if lines else ""


def test_every_module_imports_alone_in_a_fresh_interpreter(tmp_path):
    # cmf.__main__ runs the command line when imported: it is exercised by
    # tests/test_cli.py through ``python -m cmf``.
    names = sorted(name for name in MODULES if name != "cmf.__main__")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: _run_import(name, tmp_path), names))
    failed = [f"{module}: {error}" for module, status, error in results if status != 0]
    assert not failed, "modules that do not import on their own:\n" + "\n".join(failed)


def test_no_import_cycle_among_cmf_modules():
    found = cycles(import_graph())
    assert not found, "import cycles (each line one strongly connected component):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_no_import_inside_a_function_except_optional_dependencies():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {statement}"
        for path in _python_files()
        for line, statement in nested_imports(path.read_text(encoding="utf-8"))
    ]
    assert not found, "imports that belong at the top of their module:\n" + "\n".join(found)


def test_no_function_takes_more_than_eight_positional_parameters():
    found = []
    for path in _python_files() + _cython_files():
        text = path.read_text(encoding="utf-8")
        signatures = python_signatures(text) if path.suffix == ".py" else cython_signatures(text)
        found += [f"{path.relative_to(ROOT)}:{line}: {name} takes {n}"
                  for line, name, n in signatures if n > MAX_POSITIONAL]
    assert not found, (f"functions with more than {MAX_POSITIONAL} positional parameters "
                       "(make the rest keyword-only or group them):\n" + "\n".join(found))


def test_no_module_is_long_without_saying_why():
    found = [
        f"{path.relative_to(ROOT)}: {len(path.read_text(encoding='utf-8').splitlines())} lines"
        for path in _python_files() + _cython_files()
        if too_long(path.read_text(encoding="utf-8"), path.suffix == ".py")
    ]
    assert not found, (f"modules over {MAX_LINES} lines whose docstring has no sentence "
                       f"starting with {LONG_REASON!r}:\n" + "\n".join(found))


# ----------------------------------------------------------------------
# The checkers find what they are meant to find
# ----------------------------------------------------------------------
def test_checker_finds_cycles_through_every_import_form():
    modules = {"cmf", "cmf.a", "cmf.b", "cmf.c", "cmf.sub", "cmf.sub.d"}
    sources = {
        "cmf.a": "from cmf import b\n",                       # a module named in a from-import
        "cmf.b": "def f():\n    from . import c\n",           # relative, inside a function
        "cmf.c": "import cmf.sub.d\n",
        "cmf.sub.d": "from ..a import x\n",                    # two levels up
        "cmf": "from cmf.a import thing\n",
    }
    graph = {name: imports_of(text, name, name in ("cmf", "cmf.sub"), modules) for name, text in sources.items()}
    assert graph["cmf.a"] == {"cmf.b"} and graph["cmf.b"] == {"cmf.c"} and graph["cmf.sub.d"] == {"cmf.a"}
    assert cycles(graph) == [["cmf.a", "cmf.b", "cmf.c", "cmf.sub.d"]]
    graph["cmf.sub.d"] = set()
    assert cycles(graph) == []
    # an attribute of the package counts as an import of cmf/__init__.py
    assert imports_of("from cmf import MatrixFactorization\n", "cmf.x", False, modules) == {"cmf"}
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cmf import a\n"
    assert imports_of(typed, "cmf.x", False, modules) == set()
    pyx = "from cmf._libcmf cimport (\n    f,\n)\nfrom cmf.a import (\n    g,\n)\nimport cmf.b\n"
    assert cython_imports_of(pyx, "cmf._k", modules | {"cmf._libcmf"}) == {"cmf.a", "cmf.b"}


def test_checker_finds_imports_inside_functions_and_classes():
    source = (
        "import os\n"
        "try:\n    import tqdm\nexcept ImportError:\n    tqdm = None\n"
        "def f():\n    import pandas as pd\n    from matplotlib.figure import Figure\n"
        "    from cmf import model\n    import json\n"
        "class C:\n    from . import x\n    def m(self):\n        import dask.array\n"
    )
    assert [line for line, _ in nested_imports(source)] == [9, 10, 12]


def test_checker_counts_positional_parameters():
    source = "def f(a, b, /, c, *args, d, e):\n    g = lambda x, y: x\nclass C:\n    def m(self, a, b=1, *, k):\n        pass\n"
    assert sorted(python_signatures(source)) == [(1, "f", 3), (2, "<lambda>", 2), (4, "m", 3)]
    pyx = (
        "cdef int x = f(1, 2)\n"
        "cdef double[:, ::1] P\n"
        "cdef class Model:\n"
        "    def __init__(self, a, b, *, c):\n        pass\n"
        "cdef extern from \"cmf.h\" nogil:\n    int cmf_f(int a, int b)\n"
        "cdef int sgd_{{sfx}}(const float *P, float[:, ::1] Q,\n"
        "                     int a, int b, int c, int d, int e, int f, int g) except -1 nogil:\n    pass\n"
        "cpdef object g(a, b=(1, 2), *rest):\n    pass\n"
        "def h(double[::1] x not None, y):\n    pass\n"
    )
    assert cython_signatures(pyx) == [(4, "__init__", 3), (8, "sgd_{{sfx}}", 9), (11, "g", 2), (13, "h", 2)]


def test_checker_finds_long_modules_without_a_reason():
    body = "x = 1\n" * MAX_LINES
    assert too_long('"""Short."""\n' + body, True)
    assert not too_long('"""Short.\n\nThis module is long\nbecause it is."""\n' + body, True)
    assert not too_long('"""Short."""\n' + body[6:], True)
    assert too_long('# cython: x\n"""Bindings."""\n' + body, False)
    assert not too_long('{{py:\nA = 1\n}}\n"""Bindings. This module is long because of C."""\n' + body, False)


@pytest.mark.parametrize("name", ["cmf", "cmf.model", "cmf.io", "cmf._kernels"])
def test_the_package_is_where_the_checks_look(name):
    assert name in MODULES
