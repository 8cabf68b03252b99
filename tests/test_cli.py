"""The ``cmf`` command line: the demo, the version, and the recommender subcommands.

It never misleads: every option is used, the help states the defaults the
code uses, non-convergence is said, output paths are checked first and
errors name the option the user typed.
"""

import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cmf
from cmf import MatrixFactorization, _cli_commands, _cli_progress
from cmf._tune import MAX_EPOCHS, default_space
from cmf.cli import build_parser, main
from cmf.datasets import example_matrix, make_ratings
from cmf.model_selection import tune

ROOT = Path(__file__).resolve().parents[1]


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
    assert [row["stage"] for row in result["results"]][:3] == [0, 0, 0] and result["model"] == str(out)
    assert len(result["results"]) <= 3 + 3 * 1  # then at most --extend 3 races of ceil(3 / 3)
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


def test_predict_reads_a_header_line_and_refuses_text_ids_for_an_integer_model(model_file, tmp_path, capsys):
    # A header would make every id text, and every pair unknown to a model
    # of integer ids: it is dropped, with a note, and the pair is known.
    model = MatrixFactorization.load(model_file)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("user\titem\n60\t140\n")
    assert main(["predict", str(model_file), str(pairs), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert len(rows) == 1 and rows[0]["user"] == 60 and rows[0]["known"] is True
    assert rows[0]["prediction"] == pytest.approx(model.predict(60, 140), abs=1e-6)
    assert "read as a header" in captured.err
    pairs.write_text("60\t140\n3\tx\n")
    assert main(["predict", str(model_file), str(pairs)]) == 1
    err = capsys.readouterr().err
    assert "('3', 'x')" in err and "not an integer" in err


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
        (["predict", "{model}", "{unknown_pairs}", "--unknown", "error"], "unknown item 5"),
        (["predict", "{missing}", "{unknown_pairs}"], "not a readable cmf model"),
        (["predict", "{missing}", "{unknown_pairs}", "--clip", "5", "1"], "--clip 5 1: LOW must not exceed HIGH"),
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
    # Fifteen epochs do not converge: stderr holds that warning and nothing else (no bar, no traceback).
    assert ok.returncode == 0 and "trained on" in ok.stdout
    assert ok.stderr.splitlines() == ["cmf train: warning: stopped at --epochs 15 before converging; raise --epochs, "
                                      "or pass --validation to stop when held-out ratings stop improving"]
    bad = subprocess.run([exe, "train", str(tmp_path / "none.csv")], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "no such rating file" in bad.stderr


def test_progress_bar_updates_per_epoch(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the whole bar
    fake_err = io.StringIO()
    fake_err.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", fake_err)
    bar = _cli_progress.EpochProgressBar(3, "training", quiet=False)
    assert bar.bar is not None
    for epoch in (1, 2):
        bar({"epoch": epoch, "train_loss": 1.0, "train_rmse": 0.5, "val_rmse": 0.6, "seconds": 0.1})
    bar.bar.refresh()  # tqdm redraws at most every 0.1 s by itself
    assert bar.bar.n == 2 and "val_rmse=0.6000" in fake_err.getvalue() and "2/3" in fake_err.getvalue()
    bar.close()
    assert _cli_progress.EpochProgressBar(3, "x", quiet=True).bar is None


def test_no_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    fake_err = io.StringIO()
    fake_err.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", fake_err)
    bar = _cli_progress.EpochProgressBar(3, "training", quiet=False)
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


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if a command reads its rating file."""
    def refuse(*args, **kwargs):
        raise AssertionError("the rating file was read before the options were checked")

    monkeypatch.setattr(_cli_commands, "load_ratings", refuse)


# ----------------------------------------------------------------------
# cmf tune uses every option it accepts
# ----------------------------------------------------------------------
def test_tune_holds_given_model_options_fixed(ratings_file, tmp_path, capsys):
    out = tmp_path / "tuned"
    argv = ["tune", str(ratings_file), "--factors", "7", "--learning-rate", "0.013", "--regularization", "0.031",
            "--bias-regularization", "0.011", "--budget", "3", "--epochs", "12", "--jobs", "1", "--json",
            "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["results"]) == 3
    for row in [*result["results"], result["best_params"]]:
        assert (row["n_factors"], row["learning_rate"], row["regularization"], row["bias_regularization"]) \
            == (7, 0.013, 0.031, 0.011)
    model = MatrixFactorization.load(str(out) + ".npz")
    assert (model.n_factors, model.learning_rate, model.regularization, model.bias_regularization) \
        == (7, 0.013, 0.031, 0.011)


def test_tune_lists_and_ranges_narrow_the_search(ratings_file, capsys):
    argv = ["tune", str(ratings_file), "--factors", "3,5", "--learning-rate", "0.004:0.006",
            "--regularization", "0.05,0.07", "--budget", "8", "--epochs", "6", "--jobs", "1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert {row["n_factors"] for row in rows} <= {3, 5}
    assert {row["regularization"] for row in rows} <= {0.05, 0.07}
    assert all(0.004 <= row["learning_rate"] <= 0.006 for row in rows)
    assert len({row["learning_rate"] for row in rows}) == len(rows) >= 8  # drawn, not fixed
    # what the user gave stays as given, however the rest of the space moves
    assert out["space"]["n_factors"] == {"kind": "list", "initial": [3, 5], "final": [3, 5], "searched": [3, 5],
                                         "extended": []}
    assert out["space"]["learning_rate"]["searched"] == [0.004, 0.006]
    assert out["space"]["learning_rate"]["extended"] == []


def test_tune_without_model_options_searches_the_default_space(ratings_file, capsys):
    argv = ["tune", str(ratings_file), "--budget", "6", "--epochs", "4", "--jobs", "1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {row["n_factors"] for row in out["results"] if row["stage"] == 0} <= {64, 128, 256}
    assert {row["n_factors"] for row in out["results"]} <= set(out["space"]["n_factors"]["searched"])
    assert out["space"]["n_factors"]["initial"] == [64, 128, 256]


def test_tune_threads_reach_every_parallel_fit(ratings_file, tmp_path, capsys):
    if "n_threads" not in MatrixFactorization().get_params():
        pytest.skip("this build has no n_threads")
    out = tmp_path / "t.npz"
    argv = ["tune", str(ratings_file), "--factors", "3", "--threads", "2", "--jobs", "2", "--budget", "2",
            "--epochs", "3", "--json", "--out", str(out)]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert {row["n_threads"] for row in rows} == {2} and len(rows) >= 2  # not one thread per parallel fit
    assert MatrixFactorization.load(out).n_threads == 2


def test_help_states_the_defaults_the_code_uses():
    parser = build_parser()
    tune_help = parser._subparsers._group_actions[0].choices["tune"].format_help()
    train_help = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert inspect.signature(tune).parameters["max_epochs"].default is None  # the cap starts at MAX_EPOCHS
    assert " ".join(tune_help.split()).count(f"(default: {MAX_EPOCHS}, doubled while") == 1
    assert build_parser().parse_args(["tune", "r.data"]).epochs is None
    rng = np.random.default_rng(0)
    choices = sorted({default_space()["n_factors"](rng) for _ in range(200)})
    limit = default_space()["n_factors"].limit
    assert f"searched among {', '.join(map(str, choices))}, up to {limit} where" in " ".join(tune_help.split())
    epochs = MatrixFactorization().max_epochs
    assert f"maximum number of epochs (default {epochs})" in " ".join(train_help.split())
    assert build_parser().parse_args(["train", "r.data"]).epochs == epochs


# ----------------------------------------------------------------------
# Non-convergence is said, and "converged" is in every JSON output
# ----------------------------------------------------------------------
def test_train_says_it_stopped_before_converging(ratings_file, capsys):
    assert main(["train", str(ratings_file), "--factors", "3", "--epochs", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["converged"] is False
    assert "cmf train: warning: stopped at --epochs 2 before converging" in captured.err
    assert main(["train", str(ratings_file), "--factors", "3", "--epochs", "2"]) == 0
    assert "stopped at --epochs 2 before converging" in capsys.readouterr().err


def test_train_that_converges_says_nothing_more(ratings_file, capsys):
    argv = ["train", str(ratings_file), "--factors", "3", "--epochs", "500", "--validation", "0.1", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["converged"] is True and summary["epochs"] < 500 and captured.err == ""


def test_evaluate_and_tune_report_convergence(ratings_file, capsys):
    assert main(["evaluate", str(ratings_file), "--factors", "3", "--epochs", "2", "--folds", "2", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["converged"] is False and out["folds_converged"] == [False, False]
    assert "2 of 2 folds stopped at --epochs 2 before converging" in captured.err
    assert main(["tune", str(ratings_file), "--factors", "3", "--budget", "1", "--epochs", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["converged"] is False
    assert "stopped at --epochs 2" in captured.err


def test_tune_result_says_whether_the_best_converged():
    data = make_ratings(60, 40, 900, rank=2, random_state=0)
    capped = tune(data, budget=1, min_epochs=2, max_epochs=2, refit=False, n_jobs=1)
    assert capped.converged is False and capped.results[0]["converged"] is False
    stopped = tune(data, budget=1, max_epochs=1000, patience=2, refit=False, n_jobs=1,
                   space={"n_factors": [3], "learning_rate": [0.05]})
    assert stopped.converged is True and stopped.results[0]["epochs"] < 1000


# ----------------------------------------------------------------------
# Output paths: checked before any work, and the file written is named
# ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "tune"])
def test_bad_output_directory_is_refused_before_reading(command, tmp_path, no_reading, capsys):
    target = tmp_path / "nodir" / "x.npz"
    assert main([command, str(tmp_path / "r.data"), "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cmf {command}: error: cannot write the model to {str(target)!r}")
    assert "does not exist" in err and ".tmp" not in err


def test_out_without_suffix_names_the_file_written(ratings_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(ratings_file), "--factors", "3", "--epochs", "3", "--out", "mymodel"]) == 0
    assert "saved to mymodel.npz" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mymodel.npz"]
    assert main(["train", str(ratings_file), "--factors", "3", "--epochs", "3", "--out", "other", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "other.npz"
    try:
        MatrixFactorization.load("mymodel")
    except ValueError:
        pytest.skip("MatrixFactorization.load does not add .npz yet")
    assert main(["recommend", "mymodel", "--user", "7", "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


# ----------------------------------------------------------------------
# Errors name the option the user typed
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "r.data", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (["train", "r.data", "--learning-rate", "-1"], "argument --learning-rate: must be > 0, got -1"),
        (["train", "r.data", "--factors", "0"], "argument --factors: must be >= 1, got 0"),
        (["train", "r.data", "--factors", "16,32"], "argument --factors: a list or range of values (16,32) is for 'cmf tune' only"),
        (["train", "r.data", "--epochs", "ten"], "argument --epochs: must be an integer, got 'ten'"),
        (["train", "r.data", "--learning-rate", "fast"], "argument --learning-rate: must be 'auto' or a number, got 'fast'"),
        (["tune", "r.data", "--learning-rate", "auto:0.1"], "argument --learning-rate: a range LOW:HIGH"),
        (["train", "r.data", "--validation", "1.5"], "argument --validation: must be a fraction between 0 and 1"),
        (["train", "r.data", "--regularization", "nan"], "argument --regularization:"),
        (["tune", "r.data", "--validation", "0"], "argument --validation: must be a fraction"),
        (["tune", "r.data", "--learning-rate", "0.1:0.01"], "argument --learning-rate: a range LOW:HIGH, drawn log-uniformly, needs 0 < LOW <= HIGH"),
        (["tune", "r.data", "--regularization", "0:0.1"], "needs 0 < LOW <= HIGH, got 0:0.1"),
        (["tune", "r.data", "--jobs", "0"], "argument --jobs: must be a positive integer or -1"),
        (["evaluate", "r.data", "--folds", "1"], "argument --folds: must be >= 2, got 1"),
        (["evaluate", "r.data", "-k", "0"], "argument -k: must be >= 1, got 0"),
        (["recommend", "m.npz", "--user", "1", "-n", "0"], "argument -n: must be >= 1, got 0"),
        (["demo", "--ratings", "-5"], "argument --ratings: must be >= 1, got -5"),
    ],
)
def test_bad_option_values_name_the_option(argv, message, no_reading, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "{small}", "--validation", "0.1"], "--validation 0.1 holds out 0 of the 4 ratings"),
        (["tune", "{small}", "--validation", "0.1"], "--validation 0.1 holds out 0 of the 4 ratings"),
        (["evaluate", "{small}", "--folds", "5"], "--folds 5 needs at least 5 ratings; the file has 4"),
        (["train", "{small}", "--patience", "3"], "--patience 3 needs --validation"),
        (["evaluate", "{ratings}", "--threshold", "99"], "--threshold 99 is above every rating (the ratings run from {low:g} to {high:g})"),
    ],
)
def test_errors_that_depend_on_the_data_name_the_option(argv, message, ratings_file, tmp_path, capsys):
    small = tmp_path / "small.data"
    small.write_text("1\t1\t5\t0\n2\t1\t4\t0\n1\t2\t3\t0\n2\t2\t1\t0\n")
    values = np.loadtxt(ratings_file)[:, 2]
    message = message.format(low=values.min(), high=values.max())
    argv = [a.format(small=small, ratings=ratings_file) for a in argv] + ["--epochs", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cmf {argv[0]}: error: {message}")
    assert "test_size" not in err and "nan" not in err


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_step_too_small_to_move_the_model_is_not_blamed_on_epochs(ratings_file, capsys, command):
    # Such a fit ends long before --epochs; raising --epochs would change nothing.
    assert main([command, str(ratings_file), "--learning-rate", "1e-12", "--epochs", "200"]) == 0
    err = capsys.readouterr().err
    assert "made no progress in" in err and "--learning-rate 1e-12 is too small" in err
    assert "raise --epochs" not in err


def test_a_divergence_names_the_command_line_options(ratings_file, capsys):
    # The estimator's message says learning_rate='auto'; on the command line that is --learning-rate auto.
    assert main(["train", str(ratings_file), "--learning-rate", "50", "--epochs", "5", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cmf train: error: SGD diverged")
    assert "--learning-rate auto" in err and "a larger --regularization" in err
    assert "learning_rate" not in err
    assert "the model" not in err and "(e.g. to unit variance)." in err  # the command saves no model


# ----------------------------------------------------------------------
# python -m cmf from the root of a clone
# ----------------------------------------------------------------------
@pytest.mark.skipif(not (ROOT / "cmf" / "__init__.py").is_file(), reason="needs the source tree beside the tests")
def test_python_m_cmf_from_a_source_tree_without_the_extension(tmp_path):
    # A clone's root: its cmf/ folder, without the compiled extension, comes
    # first on sys.path and shadows the cmf that is importable from elsewhere.
    shutil.copytree(ROOT / "cmf", tmp_path / "cmf",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "cmf", "demo", "--small-only"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    if result.returncode == 0:
        assert "completed" in result.stdout
        return
    assert result.stderr.count("\n") <= 1 and "Traceback" not in result.stderr
    assert "compiled extension is not built" in result.stderr and "pip install -e ." in result.stderr
