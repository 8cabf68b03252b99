"""The ``cmf`` command line: the demo, the version, and the recommender subcommands."""

import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import cmf
from cmf import MatrixFactorization, _cli_commands
from cmf.cli import main
from cmf.datasets import example_matrix, make_ratings


# ----------------------------------------------------------------------
# The demo and the version
# ----------------------------------------------------------------------
def _block(lines: list[str], title: str, n_rows: int = 4) -> list[str]:
    start = next(k for k, line in enumerate(lines) if title in line)
    return lines[start + 1:start + 1 + n_rows]


def _cells(row: str) -> list[str]:
    return re.findall(r"\?|-?\d+\.\d+\*?", row)


def test_demo_small_only_completes_the_seed_matrix(capsys):
    assert main(["demo", "--small-only"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "converged after" in out and "completed" in out
    assert "Synthetic ratings" not in out  # --small-only skips the large part

    given = [_cells(row) for row in _block(lines, "given")]
    completed = [_cells(row) for row in _block(lines, "completed")]
    truth = example_matrix()
    assert [len(row) for row in completed] == [5] * 4
    filled = {(i, j) for i, row in enumerate(completed) for j, cell in enumerate(row) if cell.endswith("*")}
    unknown = {(i, j) for i, row in enumerate(given) for j, cell in enumerate(row) if cell == "?"}
    assert filled == unknown == {(0, 1), (2, 4)}
    for i, row in enumerate(completed):
        for j, cell in enumerate(row):
            value = float(cell.rstrip("*"))
            if (i, j) in filled:
                assert value == pytest.approx(truth[i, j], abs=0.25)
            else:
                assert value == truth[i, j]  # observed cells printed unchanged

    # The loss table falls from the first shown epoch to the last.
    table = [line.split() for line in lines if re.match(r"^\s+\d+\s+\d+\.\d+\s+\d+\.\d+$", line)]
    losses = [float(row[1]) for row in table]
    assert len(losses) >= 2 and losses[-1] < 0.1 * losses[0]


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_python_m_cmf_version(tmp_path):
    # Run outside the source tree so the installed package is the one imported.
    result = subprocess.run([sys.executable, "-m", "cmf", "--version"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cmf {cmf.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", cmf.__version__)


# ----------------------------------------------------------------------
# The recommender subcommands
# ----------------------------------------------------------------------
FAST = ["--factors", "3", "--epochs", "15", "--learning-rate", "0.02", "--seed", "1"]


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory):
    """A u.data-style file: 60 users (ids 1..60) x 40 items (ids 101..140)."""
    gen = make_ratings(60, 40, 900, rank=2, random_state=0)
    path = tmp_path_factory.mktemp("data") / "u.data"
    with open(path, "w") as f:
        for r, c, v in zip(gen.rows, gen.cols, np.clip(np.round(gen.values), 1, 5)):
            f.write(f"{r + 1}\t{c + 101}\t{int(v)}\t0\n")
    return path


@pytest.fixture(scope="module")
def model_file(ratings_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model.npz"
    assert main(["train", str(ratings_file), *FAST, "--out", str(out), "--quiet"]) == 0
    return out


def test_train_saves_a_labelled_model(ratings_file, tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["train", str(ratings_file), *FAST, "--validation", "0.1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "trained on 810 ratings" in text and "validation RMSE" in text and str(out) in text
    model = MatrixFactorization.load(out)
    assert model.n_factors == 3 and model.user_labels_[0] == 1 and model.item_labels_[0] == 101
    assert model.max_epochs == 15 and model.patience == 5


def test_train_json_and_quiet(ratings_file, capsys):
    assert main(["train", str(ratings_file), *FAST, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ratings"] == 900 and summary["epochs"] <= 15 and summary["validation_rmse"] is None
    assert main(["train", str(ratings_file), *FAST, "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_threads_option_does_not_crash(ratings_file, capsys):
    assert main(["train", str(ratings_file), *FAST, "--threads", "2", "--quiet"]) == 0
    if "n_threads" not in MatrixFactorization().get_params():
        assert main(["train", str(ratings_file), *FAST, "--threads", "2"]) == 0
        assert "--threads is ignored" in capsys.readouterr().err


def test_evaluate_reports_every_metric(ratings_file, capsys):
    assert main(["evaluate", str(ratings_file), *FAST, "--folds", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) == {"rmse", "mae", "precision", "recall", "ndcg"}
    assert len(out["metrics"]["rmse"]["folds"]) == 3
    assert main(["evaluate", str(ratings_file), *FAST, "--folds", "2", "--jobs", "2"]) == 0
    text = capsys.readouterr().out
    assert "RMSE" in text and "NDCG@10" in text


def test_tune_writes_the_best_model(ratings_file, tmp_path, capsys):
    out = tmp_path / "tuned.npz"
    assert main(["tune", str(ratings_file), "--budget", "3", "--epochs", "20", "--jobs", "1",
                 "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["results"]) == 3 and result["model"] == str(out)
    model = MatrixFactorization.load(out)
    assert model.n_factors == result["best_params"]["n_factors"]


def test_predict_pairs_with_labels(model_file, tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 101\n60 140\n")
    assert main(["predict", str(model_file), str(pairs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = MatrixFactorization.load(model_file)
    assert lines[0].split("\t")[:2] == ["1", "101"]
    assert float(lines[1].split("\t")[2]) == pytest.approx(model.predict(60, 140), abs=1e-4)
    assert main(["predict", str(model_file), str(pairs), "--json", "--clip", "1", "5"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["user"] == 1 and 1 <= rows[0]["prediction"] <= 5


def test_recommend_for_a_user(model_file, capsys):
    assert main(["recommend", str(model_file), "--user", "7", "-n", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = MatrixFactorization.load(model_file)
    items, _ = model.recommend(7, n=4)
    assert [int(line.split("\t")[1]) for line in lines] == items.tolist()
    assert main(["recommend", str(model_file), "--user", "7", "-n", "2", "--json", "--include-seen"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == model.recommend(7, n=2, exclude_seen=False)[0].tolist()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "{missing}"], "no such rating file"),
        (["train", "{bad}"], "line 3"),
        (["recommend", "{model}", "--user", "9999"], "unknown user 9999"),
        (["recommend", "{model}", "--user", "bob"], "unknown user 'bob'"),
        (["predict", "{model}", "{unknown_pairs}"], "unknown item 5"),
        (["predict", "{missing}", "{unknown_pairs}"], "not a readable cmf model"),
        (["train", "{ratings}", "--learning-rate", "-1"], "learning_rate must be > 0"),
    ],
)
def test_errors_go_to_stderr_with_status_1(args, message, ratings_file, model_file, tmp_path, capsys):
    bad = tmp_path / "bad.data"
    bad.write_text("1\t1\t5\t0\n2\t1\t4\t0\n3\t1\tgood\t0\n")
    unknown_pairs = tmp_path / "pairs.txt"
    unknown_pairs.write_text("1 5\n")
    names = dict(missing=tmp_path / "nope.data", bad=bad, model=model_file, ratings=ratings_file,
                 unknown_pairs=unknown_pairs)
    argv = [a.format(**names) for a in args]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.startswith(f"cmf {argv[0]}: error:")


@pytest.mark.skipif(shutil.which("cmf") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "cmf")),
                    reason="the cmf console script is not installed")
def test_console_script_without_terminal_has_no_bar_and_no_traceback(ratings_file, tmp_path):
    exe = shutil.which("cmf") or os.path.join(os.path.dirname(sys.executable), "cmf")
    ok = subprocess.run([exe, "train", str(ratings_file), *FAST], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stderr == "" and "trained on" in ok.stdout
    bad = subprocess.run([exe, "train", str(tmp_path / "none.csv")], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "no such rating file" in bad.stderr


def test_progress_bar_updates_per_epoch(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the whole bar
    fake_err = io.StringIO()
    fake_err.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", fake_err)
    bar = _cli_commands._EpochProgressBar(3, "training", quiet=False)
    assert bar.bar is not None
    for epoch in (1, 2):
        bar({"epoch": epoch, "train_loss": 1.0, "train_rmse": 0.5, "val_rmse": 0.6, "seconds": 0.1})
    bar.bar.refresh()  # tqdm redraws at most every 0.1 s by itself
    assert bar.bar.n == 2 and "val_rmse=0.6000" in fake_err.getvalue() and "2/3" in fake_err.getvalue()
    bar.close()
    assert _cli_commands._EpochProgressBar(3, "x", quiet=True).bar is None


def test_no_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    fake_err = io.StringIO()
    fake_err.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", fake_err)
    bar = _cli_commands._EpochProgressBar(3, "training", quiet=False)
    bar({"epoch": 1, "train_loss": 1.0, "train_rmse": 0.5, "val_rmse": float("nan"), "seconds": 0.1})
    bar.close()
    assert bar.bar is None and fake_err.getvalue() == ""


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(model_file, tmp_path):
    # ``cmf predict MODEL PAIRS | head -1``: the reader closes the pipe after
    # one line; cmf must stop quietly with status 0, not report EPIPE.
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 101\n" * 200_000)
    proc = subprocess.Popen([sys.executable, "-m", "cmf", "predict", str(model_file), str(pairs)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert first.startswith(b"1\t101\t")
    assert "Broken pipe" not in err and "Traceback" not in err
