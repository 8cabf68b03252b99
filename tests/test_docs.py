"""The Sphinx documentation reaches every page and documents the command line from its parser.

The HTML build itself, with warnings as errors, is run by ``.ci/docs.sh``;
these checks read the sources, so that a page left out of the index or a
command-line page that no longer follows the parser fails the test suite.
"""

import re
from pathlib import Path

import pytest

import cmf.recommend
from cmf.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(not (DOCS / "index.rst").is_file(), reason="the docs are not beside the tests")


def _toctree(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    block = re.search(r"\.\. toctree::\n((?:\s+:[^\n]*\n)*)((?:\n|\s+\S[^\n]*\n)*)", text)
    return block.group(2).split() if block else []


def test_every_page_is_reachable_from_the_index():
    pages = {p.stem for p in DOCS.iterdir() if p.suffix in (".rst", ".md")} - {"index"}
    assert pages >= {"cli", "recommend", "dask"}
    assert set(_toctree(DOCS / "index.rst")) == pages


def test_the_command_line_page_is_generated_from_the_parser():
    text = (DOCS / "cli.rst").read_text(encoding="utf-8")
    directive = re.search(r"\.\. argparse::\n((?:\s+:\w+: [^\n]*\n)+)", text)
    assert directive, "docs/cli.rst must use the sphinx-argparse directive"
    fields = dict(re.findall(r":(\w+): ([^\n]*)", directive.group(1)))
    assert fields["module"] == "cmf.cli" and fields["func"] == "build_parser" and fields["prog"] == "cmf"
    assert build_parser().prog == "cmf"


def test_the_recommender_page_documents_every_public_function():
    text = (DOCS / "recommend.rst").read_text(encoding="utf-8")
    members = re.search(r"\.\. automodule:: cmf\.recommend\n\s+:members: ([^\n]*)", text)
    assert members and {m.strip() for m in members.group(1).split(",")} == set(cmf.recommend.__all__)


def test_the_docs_extra_installs_every_extension_the_build_uses():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    extra = re.search(r"^docs = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    names = {re.split(r"[<>=!~ \[]", req.strip(' "'))[0].lower() for req in extra.group(1).split(",")}
    for module, package in {"sphinxarg.ext": "sphinx-argparse", "myst_parser": "myst-parser", "numpydoc": "numpydoc"}.items():
        assert f'"{module}"' in conf and package in names
    assert '"$ROOT[docs]"' in (ROOT / ".ci" / "docs.sh").read_text(encoding="utf-8")
