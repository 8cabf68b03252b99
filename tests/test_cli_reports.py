"""What ``cmf train``, ``cmf evaluate`` and ``cmf tune`` report: the model they keep, figures that are finite, names.

Each figure is recomputed here from what the command saved or was given
(the model file, the rating files), never read back from the code that
printed it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf._cli_evaluate import summary, table
from cmf.cli import main
from cmf.datasets import make_ratings
from cmf.io import load_ratings


def _write(path, users, items, values, last=None):
    last = np.zeros(len(users), dtype=np.int64) if last is None else last
    with open(path, "w") as f:
        for u, i, v, t in zip(users, items, values, last):
            f.write(f"{u}\t{i}\t{v:g}\t{t}\n")
    return path


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory):
    """A u.data-style file: 60 users x 40 items, 900 ratings 1 to 5 (all in the bold driver's probe)."""
    gen = make_ratings(60, 40, 900, rank=2, random_state=0)
    path = tmp_path_factory.mktemp("data") / "u.data"
    return _write(path, gen.rows + 1, gen.cols + 101, np.clip(np.round(gen.values), 1, 5))


# ----------------------------------------------------------------------
# cmf train: the figures of the model it keeps
# ----------------------------------------------------------------------
def test_train_reports_the_rmse_of_the_model_it_keeps_not_of_an_undone_epoch(ratings_file, tmp_path, capsys):
    # Find an epoch the bold driver undoes, then stop the fit right there:
    # the model saved is the epoch before it, and so must be the RMSE.
    full = tmp_path / "full.npz"
    assert main(["train", str(ratings_file), "--factors", "3", "--epochs", "80", "--out", str(full), "--quiet"]) == 0
    kept = MatrixFactorization.load(full).history_["kept"]
    assert 0.0 in kept
    stop = kept.index(0.0) + 1  # 1-based: the first epoch undone
    out = tmp_path / "m.npz"
    argv = ["train", str(ratings_file), "--factors", "3", "--epochs", str(stop), "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)["train_rmse"]
    model = MatrixFactorization.load(out)
    assert model.history_["kept"][-1] == 0.0 and model.n_epochs_ == stop
    data = load_ratings(ratings_file, progress=False)
    users, items = data.user_labels.labels[data.rows], data.item_labels.labels[data.cols]
    pred = model.predict(users, items, clip=False).astype(np.float64)
    rmse = float(np.sqrt(np.mean((data.values - pred) ** 2)))
    assert reported == pytest.approx(rmse, rel=1e-5)
    undone = model.history_["train_rmse"][-1]
    assert abs(undone - rmse) > 1e-4  # what it printed before: the undone epoch's figure
    assert main(argv) == 0
    assert f"training RMSE {rmse:.4f}" in capsys.readouterr().out


def test_timestamps_as_weights_end_in_one_line_naming_the_cause_and_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gen = make_ratings(60, 40, 900, rank=2, random_state=1)
    stamps = 880_000_000 + np.random.default_rng(1).integers(0, 10_000_000, len(gen.values))
    path = _write(tmp_path / "u.data", gen.rows + 1, gen.cols + 1, np.clip(np.round(gen.values), 1, 5), stamps)
    mean = f"{np.mean(stamps):.3g}"
    for epochs, said in (("5", "all 5 epochs raised the training loss"), ("50", "20 epochs in a row")):
        argv = ["train", str(path), "--weight-column", "3", "--factors", "3", "--epochs", epochs, "--out", "w"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"cmf train: error: SGD diverged: {said}") and err.count("\n") == 1
        assert f"the sample weights average {mean}" in err and f"Divide the weights (--weight-column) by {mean}" in err
        # The likely cause first, then the generic advice.
        assert err.index("The likely cause: the sample weights") < err.index("use a larger --regularization")
        # In the options' words, and no word on a model that the command does not save.
        assert "learning_rate" not in err and "max_epochs" not in err and "the model" not in err
        assert not (tmp_path / "w.npz").exists()
    # Weights near 1 train as usual, with no word on them.
    path = _write(tmp_path / "v.data", gen.rows + 1, gen.cols + 1, np.clip(np.round(gen.values), 1, 5),
                  1 + stamps % 3)
    assert main(["train", str(path), "--weight-column", "3", "--factors", "3", "--epochs", "3"]) == 0
    captured = capsys.readouterr()
    assert "weighted training RMSE" in captured.out and "weights" not in captured.err


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


def test_a_single_fold_prints_its_figures_without_a_spread():
    keywords = {"metrics": ("rmse", "mae"), "k": 10, "threshold": None}
    lines = table(summary([{"rmse": 0.91234, "mae": 0.71}], keywords), keywords)
    assert lines == ["          RMSE  0.9123", "           MAE  0.7100"]
    two = table(summary([{"rmse": 0.9, "mae": 0.7}, {"rmse": 1.0, "mae": 0.8}], keywords), keywords)
    assert two == ["          RMSE  0.9500 +- 0.0500", "           MAE  0.7500 +- 0.0500"]
