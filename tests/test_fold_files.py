"""Folds given as files (MovieLens's u1.base/u1.test ...): reading, label maps, cross-validation, the CLI.

The files are written by the tests in the u1.base format (tab-separated
``user item rating timestamp``); predictions are checked against a NumPy
transcription of the model's formula, with the global mean plus the item
bias for a user only a test file names.
"""

import json
import re
import warnings

import numpy as np
import pytest

from cmf import MatrixFactorization, _cli_options
from cmf.cli import build_parser, main
from cmf.io import load_ratings
from cmf.model_selection import GridSearch, PredefinedFolds, cross_validate, leave_last_out, temporal_split
from cmf._folds import align_pair, parse_fold_files

FAST = ["--factors", "3", "--epochs", "15", "--learning-rate", "0.02", "--seed", "1", "--duplicates", "keep"]


def _write(path, records):
    path.write_text("".join(f"{u}\t{i}\t{r:g}\t{t}\n" for u, i, r, t in records))
    return path


@pytest.fixture(scope="module")
def fold_files(tmp_path_factory):
    """Two folds of 600 ratings by 30 users of 40 items; each test file adds a user (999) and an item (9999) of its own."""
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 31, 600), rng.integers(101, 141, 600)
    values = np.clip(np.round(3 + (users % 5 - 2) * 0.4 + (items % 3 - 1) * 0.6 + rng.normal(0, 0.3, 600)), 1, 5)
    records = list(zip(users.tolist(), items.tolist(), values.tolist(), rng.integers(8.7e8, 8.9e8, 600).tolist()))
    where = tmp_path_factory.mktemp("ml")
    pairs = []
    for fold in (1, 2):
        test = np.zeros(600, bool)
        test[(fold - 1) * 300: fold * 300: 3] = True
        extra = [(999, 101, 4.0, 880000000), (7, 9999, 2.0, 880000001)]
        base = _write(where / f"u{fold}.base", [rec for rec, t in zip(records, test) if not t])
        held = _write(where / f"u{fold}.test", [rec for rec, t in zip(records, test) if t] + extra)
        pairs.append((base, held))
    return pairs


def _predict(model, users, items):
    """mu + b_u + c_i + p_u . q_i from the fitted arrays, with the unknown side's terms left out."""
    u = model.user_labels_.tolist()
    i = model.item_labels_.tolist()
    out = []
    for user, item in zip(users, items):
        known_u, known_i = user in u, item in i
        value = model.global_mean_
        value += model.user_bias_[u.index(user)] if known_u else 0.0
        value += model.item_bias_[i.index(item)] if known_i else 0.0
        if known_u and known_i:
            value += float(np.dot(model.user_factors_[u.index(user)], model.item_factors_[i.index(item)]))
        out.append(value)
    return np.clip(out, *model.rating_scale_)


# ----------------------------------------------------------------------
# The pair syntax
# ----------------------------------------------------------------------
def test_fold_file_pairs_are_parsed():
    assert parse_fold_files("u1.base:u1.test, u2.base:u2.test") == [("u1.base", "u1.test"), ("u2.base", "u2.test")]
    assert parse_fold_files(r"C:\ml\u1.base:C:\ml\u1.test") == [(r"C:\ml\u1.base", r"C:\ml\u1.test")]
    assert parse_fold_files("d/u1.base:C:/d/u1.test") == [("d/u1.base", "C:/d/u1.test")]
    assert parse_fold_files("/ml/u1.base:/ml/u1.test") == [("/ml/u1.base", "/ml/u1.test")]


@pytest.mark.parametrize("text", ["u1.base", "u1.base:", ":u1.test", "a:b:c", "a:b,,c:d", "a:b;c:d"])
def test_malformed_pairs_are_refused(text):
    with pytest.raises(ValueError, match="TRAIN:TEST pairs separated by commas"):
        parse_fold_files(text)


# ----------------------------------------------------------------------
# Reading the pairs
# ----------------------------------------------------------------------
def test_each_pair_is_read_in_its_training_files_label_maps(fold_files):
    base, held = fold_files[0]
    folds = list(PredefinedFolds([(str(base), held)]).split())
    assert len(folds) == 1
    train, test = folds[0]
    alone = load_ratings(base)
    # the training set is the file read alone
    assert train.shape == alone.shape and train.user_labels.labels.tolist() == alone.user_labels.labels.tolist()
    np.testing.assert_array_equal(train.rows, alone.rows)
    np.testing.assert_array_equal(train.timestamps, alone.timestamps)
    # the test set: its lines, in order, with the same index as training for a shared label
    lines = [line.split("\t") for line in held.read_text().splitlines()]
    assert test.user_labels.labels[test.rows].tolist() == [int(f[0]) for f in lines]
    assert test.item_labels.labels[test.cols].tolist() == [int(f[1]) for f in lines]
    assert test.timestamps.tolist() == [int(f[3]) for f in lines]
    shared = test.rows < train.shape[0]
    assert (train.user_labels.labels[test.rows[shared]] == test.user_labels.labels[test.rows[shared]]).all()
    # the test file's own user and item come after the training file's
    assert test.user_labels.labels[train.shape[0]:].tolist() == [999]
    assert test.item_labels.labels[train.shape[1]:].tolist() == [9999]


def test_labels_of_different_kinds_are_compared_as_one_file_would(tmp_path):
    train = load_ratings(_write(tmp_path / "a.base", [(1, 10, 4, 1), (2, 10, 3, 2), (2, 11, 5, 3)]))
    test = load_ratings(_write(tmp_path / "a.test", [("2", 11, 1, 4), ("007", 10, 2, 5)]))
    assert train.user_labels.labels.dtype.kind == "i" and test.user_labels.labels.dtype.kind == "U"
    train2, test2 = align_pair(train, test)
    assert train2.user_labels.labels.tolist() == ["1", "2"]  # strings now, same indices
    np.testing.assert_array_equal(train2.rows, train.rows)
    assert test2.user_labels.labels[test2.rows].tolist() == ["2", "007"]
    assert test2.rows.tolist() == [1, 2]  # "2" is training's user 1; "007" is new, not "7"
    with pytest.raises(ValueError, match="both be labelled"):
        align_pair(train, (train.rows, train.cols, train.values))


def test_missing_files_are_named_before_any_is_read(fold_files, tmp_path):
    base, held = fold_files[0]
    with pytest.raises(FileNotFoundError, match=r"fold file '.*u3.test' .* is missing"):
        PredefinedFolds([(base, held), (base, tmp_path / "u3.test")])
    with pytest.raises(FileNotFoundError, match="a directory, not a rating file"):
        PredefinedFolds([(base, tmp_path)])
    with pytest.raises(TypeError, match=r"\(train, test\) pair"):
        PredefinedFolds([str(base)])
    with pytest.raises(ValueError, match="no folds given"):
        PredefinedFolds([])
    with pytest.raises(ValueError, match="TRAIN:TEST"):
        PredefinedFolds(f"{base}")


def test_cross_validate_on_fold_files_scores_unknown_ids_as_the_global_mean_plus_the_known_bias(fold_files):
    est = MatrixFactorization(n_factors=3, max_epochs=15, random_state=1)
    folds = PredefinedFolds(",".join(f"{a}:{b}" for a, b in fold_files))
    assert folds.get_n_splits() == len(folds) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_validate(est, None, cv=folds, metrics=("rmse", "mae"))
        expected = []
        for base, held in fold_files:
            model = MatrixFactorization(n_factors=3, max_epochs=15, random_state=1).fit_ratings(load_ratings(base))
            lines = [line.split("\t") for line in held.read_text().splitlines()]
            pred = _predict(model, [int(f[0]) for f in lines], [int(f[1]) for f in lines])
            truth = np.array([float(f[2]) for f in lines])
            expected.append(np.sqrt(np.mean((pred - truth) ** 2)))
            assert abs(pred[-2] - (model.global_mean_ + model.item_bias_[0])) < 1e-6  # user 999, item 101
    np.testing.assert_allclose(scores["test_rmse"], expected, rtol=1e-5)


def test_a_search_scores_on_fold_files_and_refits_on_the_data_given(fold_files):
    base, held = fold_files[0]
    everything = load_ratings(base)
    est = MatrixFactorization(n_factors=3, max_epochs=10, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearch(est, {"regularization": [0.01, 0.1]}, cv=PredefinedFolds(fold_files)).fit(everything)
    assert [len(row["split_scores"]) for row in search.results_] == [2, 2]
    assert search.best_estimator_.shape_ == everything.shape


def test_pairs_of_data_sets_are_folds_too(fold_files):
    base, held = fold_files[0]
    via_files = next(PredefinedFolds([(base, held)]).split())
    via_sets = next(PredefinedFolds([(load_ratings(base), load_ratings(held))]).split())
    for a, b in zip(via_files, via_sets):
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.cols, b.cols)
        assert a.shape == b.shape


# ----------------------------------------------------------------------
# cmf evaluate
# ----------------------------------------------------------------------
def test_cli_evaluate_folds_files_end_to_end(fold_files, capsys):
    spec = ",".join(f"{a}:{b}" for a, b in fold_files)
    assert main(["evaluate", "--folds-files", spec, *FAST, "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["folds"] == 2 and len(out["metrics"]["rmse"]["folds"]) == 2
    assert "fold 1: 2 of 102 test ratings name a user or item that" in captured.err
    params = _cli_options.model_params(build_parser().parse_args(["evaluate", "--folds-files", spec, *FAST]))
    expected = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for base, held in fold_files:
            model = MatrixFactorization(**params).fit_ratings(load_ratings(base))
            lines = [line.split("\t") for line in held.read_text().splitlines()]
            pred = _predict(model, [int(f[0]) for f in lines], [int(f[1]) for f in lines])
            expected.append(np.sqrt(np.mean((pred - np.array([float(f[2]) for f in lines])) ** 2)))
    np.testing.assert_allclose(out["metrics"]["rmse"]["folds"], expected, rtol=1e-5)
    # the option may be repeated too
    assert main(["evaluate", "--folds-files", f"{fold_files[0][0]}:{fold_files[0][1]}",
                 "--folds-files", f"{fold_files[1][0]}:{fold_files[1][1]}", *FAST, "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["rmse"]["folds"] == out["metrics"]["rmse"]["folds"]


@pytest.mark.parametrize("option, split", [(["--time-split", "0.25"], lambda d: temporal_split(d, 0.25)),
                                           (["--leave-last", "2"], lambda d: leave_last_out(d, 2))])
def test_cli_evaluate_splits_by_time(fold_files, capsys, option, split):
    base = fold_files[0][0]
    assert main(["evaluate", str(base), *option, *FAST, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["folds"] == 1
    params = _cli_options.model_params(build_parser().parse_args(["evaluate", str(base), *FAST]))
    train, test = split(load_ratings(base))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MatrixFactorization(**params).fit_ratings(train)
    users, items = train.user_labels.labels[test.rows], train.item_labels.labels[test.cols]
    rmse = np.sqrt(np.mean((_predict(model, users.tolist(), items.tolist()) - test.values) ** 2))
    assert out["metrics"]["rmse"]["folds"] == pytest.approx([rmse], rel=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["{base}", "--folds-files", "{base}:{test}"], "pass RATINGS or --folds-files, not both"),
    ([], r"needs a rating file \(RATINGS\), or training and test files \(--folds-files"),
    (["--folds-files", "{base}:{base}.missing"], r"fold file '.*\.missing' .* is missing"),
    (["{base}", "--columns", "0,1,2", "--leave-last", "1"], "--leave-last needs timestamps .* --columns U,I,R,T"),
    (["{base}", "--columns", "0,1,2", "--time-split", "0.2"], "--time-split needs timestamps"),
])
def test_cli_evaluate_fold_source_errors(fold_files, capsys, argv, message):
    base, test = fold_files[0]
    argv = [arg.format(base=base, test=test) for arg in argv]
    assert main(["evaluate", *argv, *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cmf evaluate: error: ")
    assert re.search(message, err), err


@pytest.mark.parametrize("argv, message", [
    (["--folds-files", "u1.base"], "TRAIN:TEST pairs"),
    (["u.data", "--leave-last", "0"], "--leave-last: must be >= 1"),
    (["u.data", "--time-split", "1"], "--time-split: must be a fraction"),
    (["u.data", "--folds", "3", "--leave-last", "1"], "--leave-last: not allowed with argument --folds"),
])
def test_cli_evaluate_fold_options_are_checked_as_parsed(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# ----------------------------------------------------------------------
# The full-catalogue protocol on fold files
# ----------------------------------------------------------------------
def test_catalogue_metrics_leave_out_what_only_the_test_file_names(fold_files, capsys):
    from cmf.io import RatingDataset
    from cmf.metrics import catalogue_metrics

    base, held = fold_files[0]
    train, test = next(iter(PredefinedFolds([(base, held)]).split()))
    model = MatrixFactorization(n_factors=3, max_epochs=15, learning_rate=0.02, tol=0.0, random_state=1,
                                duplicates="keep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 15 epochs with tol=0: never "converged"
        model.fit_ratings(train)
    known = (test.rows < train.shape[0]) & (test.cols < train.shape[1])
    assert (~known).sum() == 2  # user 999 and item 9999
    # the same test set without those two lines, in the training file's label maps
    plain = RatingDataset(test.rows[known], test.cols[known], test.values[known], train.shape,
                          train.user_labels, train.item_labels)
    for scorer in (model, "most_popular", "bias_only"):
        assert catalogue_metrics(scorer, train, test) == catalogue_metrics(scorer, train, plain)
    spec = f"{base}:{held}"
    assert main(["evaluate", "--folds-files", spec, *FAST, "--protocol", "catalogue", "--json"]) == 0
    out = capsys.readouterr()
    assert "2 of 102 test ratings" in out.err and "left out of the ranking" in out.err
    got = json.loads(out.out)
    assert got["protocol"] == "catalogue"
