"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    if not README.exists():
        return []
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests (wheel-only test run)")
def test_readme_examples_run(tmp_path, monkeypatch, recwarn):
    blocks = _python_blocks()
    assert len(blocks) >= 3, "the README should show the quick-start, sparse and triplet examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    # The quick-start fills exactly the two unknown cells, close to the truth.
    filled = namespace["model"]
    assert filled.n_epochs_ >= 1
    assert (tmp_path / "model.npz").exists()
    assert not [w for w in recwarn if "ConvergenceWarning" in type(w.message).__name__]
