"""The README's Python examples run as written and do what they say."""

import re
from pathlib import Path

import numpy as np
import pytest

import cmf
import cmf.datasets

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.skipif(
    not README.exists(), reason="README.md is not beside the tests (wheel-only test run)"
)


def _python_blocks():
    # The quick-start examples; the recommender walk-through, which needs a
    # rating file, is run by test_walkthrough.py.
    text = README.read_text(encoding="utf-8").split("## Recommender walk-through")[0]
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert len(blocks) >= 4, "the README should show the quick-start, masking, sparse and triplet examples"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", cmf.ConvergenceWarning)
        # Quick-start: the two unknown cells are filled close to the true 1.0,
        # every known cell is returned as given.
        exec(compile(blocks[0], "README quick-start", "exec"), ns)
        completed = ns["model"].complete(ns["R"])
        truth = cmf.datasets.example_matrix()
        known = ~np.isnan(ns["R"])
        np.testing.assert_array_equal(completed[known], truth[known])
        assert abs(completed[0, 1] - 1.0) < 0.3 and abs(completed[2, 4] - 1.0) < 0.3
        for block in blocks[1:]:
            exec(compile(block, "README example", "exec"), ns)
    assert (tmp_path / "model.npz").exists()
    assert len(ns["model"].history_["val_rmse"]) == ns["model"].n_epochs_
