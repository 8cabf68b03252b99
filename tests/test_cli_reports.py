"""What ``cmf train``, ``cmf evaluate`` and ``cmf tune`` report: the model they keep, figures that are finite, names.

Each figure is recomputed here from what the command saved or was given
(the model file, the rating files), never read back from the code that
printed it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from cmf._cli_evaluate import summary, table
from cmf.cli import main
from cmf.datasets import make_ratings


def _write(path, users, items, values, last=None):
    last = np.zeros(len(users), dtype=np.int64) if last is None else last
    with open(path, "w") as f:
        for u, i, v, t in zip(users, items, values, last):
            f.write(f"{u}\t{i}\t{v:g}\t{t}\n")
    return path


def test_a_dash_for_the_model_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    # "-" is standard output (cmf recommend --all --out -); a model is a
    # binary file that the other commands read by name.
    monkeypatch.chdir(tmp_path)
    for argv in (["train", "missing.data", "--out", "-"], ["tune", "missing.data", "-o", "-"],
                 ["train", "missing.data", "--loss", "bpr", "--out", "-"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err == (f"cmf {argv[0]}: error: --out -: a model is a binary .npz file, which is not written to "
                       "standard output; name a file instead, such as --out model.npz\n")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------
# cmf evaluate --loss kl: finite, with the pairs left out counted
# ----------------------------------------------------------------------
def test_evaluate_kl_counts_the_pairs_it_cannot_predict_and_stays_finite(tmp_path, capsys):
    gen = make_ratings(30, 20, 400, rank=2, random_state=2)
    users, items = gen.rows + 1, gen.cols + 1
    values = np.clip(np.round(gen.values), 1, 5)
    test = np.arange(len(values)) % 4 == 0
    # User 30 and item 20 are rated in the test file only (unknown to the model).
    test |= (users == 30) | (items == 20)
    train_path = _write(tmp_path / "a.base", users[~test], items[~test], values[~test])
    test_path = _write(tmp_path / "a.test", users[test], items[test], values[test])
    cold = ~np.isin(users[test], users[~test]) | ~np.isin(items[test], items[~test])
    assert cold.sum() >= 2
    argv = ["evaluate", "--folds-files", f"{train_path}:{test_path}", "--loss", "kl", "--nonnegative",
            "--factors", "3", "--epochs", "20", "--duplicates", "keep"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning would be an error here
        assert main([*argv, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert np.isfinite(metrics["kl"]["mean"]) and metrics["kl"]["mean"] > 0
    assert metrics["kl_skipped_pairs"]["folds"] == [cold.sum()] and metrics["kl_pairs"]["folds"] == [test.sum()]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"({cold.sum()} of {test.sum()} pairs left out)" in text
    assert f"left out of the KL divergence: {cold.sum()} of {test.sum()} held-out pairs" in text
    assert "inf" not in text and "nan" not in text


def test_an_infinite_fold_prints_as_such_without_a_numpy_warning():
    keywords = {"metrics": ("kl",), "k": 10, "threshold": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = summary([{"kl": np.inf, "kl_skipped_pairs": 0}, {"kl": 0.5, "kl_skipped_pairs": 0}], keywords)
        lines = table(result, keywords)
    assert lines == [" KL divergence  inf +- nan"]
