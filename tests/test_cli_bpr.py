"""``cmf train --loss bpr``, ``cmf recommend`` on a BPR model file, ``cmf evaluate --loss bpr``, and BPR's labels.

Every ranking the command line prints is checked against a cmf.BPR fitted
here on indices numbered independently (the sorted distinct labels), with
the labels mapped back by hand, and the evaluation against a brute-force
NumPy ranking of the full catalogue.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import cmf
from cmf import _cli_options
from cmf.cli import main
from cmf.io import RatingDataset, load_ratings
from cmf.metrics import catalogue_metrics

N_USERS, N_ITEMS, PER_USER = 24, 15, 6
FAST = ["--factors", "4", "--epochs", "15", "--seed", "3"]


def _rows(seed: int = 0) -> list[tuple[str, str, int]]:
    """Interactions with string labels: each user rates PER_USER distinct items 1-5."""
    rng = np.random.default_rng(seed)
    return [(f"u{u:02d}", f"it{i:02d}", int(rng.integers(1, 6)))
            for u in range(N_USERS) for i in rng.choice(N_ITEMS, size=PER_USER, replace=False)]


def _write(path, rows) -> str:
    path.write_text("".join(f"{u}\t{i}\t{r}\n" for u, i, r in rows))
    return str(path)


def _reference(rows, threshold=None, **params):
    """cmf.BPR fitted on indices numbered by hand (sorted distinct labels), with its label lists."""
    users = sorted({u for u, _, _ in rows})
    items = sorted({i for _, i, _ in rows})
    kept = [(users.index(u), items.index(i)) for u, i, r in rows if threshold is None or r >= threshold]
    rows_idx, cols_idx = np.array(kept).T
    model = cmf.BPR(**{"n_factors": 4, "n_epochs": 15, "random_state": 3, **params})
    return model.fit_pairs(rows_idx, cols_idx, shape=(len(users), len(items))), users, items


def _printed(capsys) -> list[tuple[str, str, float]]:
    return [(line.split("\t")[0], line.split("\t")[1], float(line.split("\t")[2]))
            for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def interactions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = _rows()
    return rows, _write(tmp_path / "clicks.tsv", rows)


def test_train_bpr_then_recommend_prints_the_labels_of_the_reference_ranking(interactions, capsys):
    rows, path = interactions
    assert main(["train", path, "--loss", "bpr", *FAST, "--out", "m", "--quiet"]) == 0
    ref, users, items = _reference(rows)
    for user in ("u00", "u07", "u23"):
        capsys.readouterr()
        assert main(["recommend", "m.npz", "--user", user, "-n", "4"]) == 0
        expected_items, expected_scores = ref.recommend(users.index(user), n=4)
        printed = _printed(capsys)
        assert [item for _, item, _ in printed] == [items[j] for j in expected_items]
        assert [rank for rank, _, _ in printed] == ["1", "2", "3", "4"]
        np.testing.assert_allclose([s for _, _, s in printed], expected_scores, atol=5e-5)
        seen = {i for u, i, _ in rows if u == user}
        assert not seen & {item for _, item, _ in printed}


def test_recommend_all_writes_every_users_labelled_list(interactions, capsys):
    rows, path = interactions
    assert main(["train", path, "--loss", "bpr", *FAST, "--out", "m.npz", "--quiet"]) == 0
    assert main(["recommend", "m.npz", "--all", "-n", "3", "--out", "recs.tsv"]) == 0
    ref, users, items = _reference(rows)
    lines = open("recs.tsv", encoding="utf-8").read().splitlines()
    assert lines[0] == "user\trank\titem\tscore"
    expected = []
    top, scores = ref.recommend(np.arange(len(users)), n=3)
    for u, (row, vals) in enumerate(zip(top, scores)):
        expected += [(users[u], str(r), items[j], v) for r, (j, v) in enumerate(zip(row, vals), 1)]
    got = [line.split("\t") for line in lines[1:]]
    assert [g[:3] for g in got] == [list(e[:3]) for e in expected]
    np.testing.assert_allclose([float(g[3]) for g in got], [e[3] for e in expected], atol=5e-5)


def test_threshold_keeps_the_rows_rated_at_least_it(interactions, capsys):
    rows, path = interactions
    assert main(["train", path, "--loss", "bpr", *FAST, "--threshold", "4", "--json", "--out", "m.npz"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["interactions"] == len({(u, i) for u, i, r in rows if r >= 4})
    assert (summary["rows"], summary["users"], summary["items"]) == (len(rows), N_USERS, N_ITEMS)
    ref, users, items = _reference(rows, threshold=4)
    model = cmf.BPR.load("m.npz")
    np.testing.assert_array_equal(model.item_factors_, ref.item_factors_)
    assert model.item_labels_.tolist() == items and model.user_labels_.tolist() == users


def test_model_options_not_given_take_bprs_defaults(interactions):
    _, path = interactions
    assert main(["train", path, "--loss", "bpr", "--epochs", "2", "--out", "d.npz", "--quiet"]) == 0
    assert main(["train", path, "--loss", "bpr", "--epochs", "2", "--factors", "100", "--regularization", "0.1",
                 "--out", "g.npz", "--quiet"]) == 0
    defaults = {n: p.default for n, p in inspect.signature(cmf.BPR).parameters.items()}
    d, g = cmf.BPR.load("d.npz"), cmf.BPR.load("g.npz")
    # 100 and 0.1 are also the rating model's defaults: given, they are used all the same
    assert (d.n_factors, d.regularization, d.learning_rate) == (defaults["n_factors"], defaults["regularization"],
                                                                defaults["learning_rate"])
    assert (g.n_factors, g.regularization, g.n_epochs) == (100, 0.1, 2)
    assert _cli_options.DEFAULTS["n_factors"] == 100 != defaults["n_factors"]


def test_evaluate_bpr_matches_a_brute_force_ranking_of_the_catalogue(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = _rows(1)
    rng = np.random.default_rng(5)
    test = np.zeros(len(rows), bool)
    test[np.arange(0, len(rows), PER_USER) + rng.integers(0, PER_USER, N_USERS)] = True  # one test row per user
    train_rows = [r for r, t in zip(rows, test) if not t]
    _write(tmp_path / "a.base", train_rows)
    _write(tmp_path / "a.test", [r for r, t in zip(rows, test) if t])
    assert main(["evaluate", "--folds-files", "a.base:a.test", "--loss", "bpr", "--protocol", "catalogue",
                 "--baselines", "none", "-k", "3", "--json", *FAST]) == 0
    got = json.loads(capsys.readouterr().out)["metrics"]
    ref, users, items = _reference(train_rows)
    scores = ref.user_factors_.astype(float) @ ref.item_factors_.T.astype(float) + ref.item_bias_.astype(float)
    hits = []
    for (u, i, _), t in zip(rows, test):
        if not t or i not in items:
            continue
        row = scores[users.index(u)].copy()
        row[[items.index(j) for uu, j, _ in train_rows if uu == u]] = -np.inf
        top = np.argsort(-row, kind="stable")[:3]
        hits.append(items.index(i) in top)
    assert got["precision"]["mean"] == pytest.approx(np.mean(hits) / 3, abs=1e-12)
    assert got["hit_rate"]["mean"] == pytest.approx(np.mean(hits), abs=1e-12)


def test_catalogue_metrics_take_a_bpr_model_as_its_scores(interactions, tmp_path):
    _, path = interactions
    data = load_ratings(path, progress=False)
    train, test = cmf.model_selection.train_test_split(data, 0.25, random_state=0)
    model = cmf.BPR(n_factors=4, n_epochs=10, random_state=0).fit_ratings(train)
    assert catalogue_metrics(model, train, test) == catalogue_metrics(model.scores, train, test)
    assert cmf.model_selection.evaluate(model, test, protocol="catalogue", train=train)["precision"] == \
        catalogue_metrics(model.scores, train, test)["precision"]
    with pytest.raises(ValueError, match="predicts no rating: pass protocol='catalogue'"):
        cmf.model_selection.evaluate(model, test)
    other = load_ratings(_write(tmp_path / "x.tsv", [("a00", "it00", 1), *_rows()]), progress=False)
    with pytest.raises(ValueError, match="label"):
        catalogue_metrics(model, other, other)


@pytest.mark.parametrize("argv, match", [
    (["train", "F", "--loss", "bpr", "--learning-rate", "auto"], "--learning-rate auto"),
    (["train", "F", "--loss", "bpr", "--validation", "0.2", "--patience", "0"], "--patience 0 turns early stopping off"),
    (["train", "F", "--loss", "bpr", "--patience", "3"], "--patience 3 needs --validation"),
    (["train", "F", "--loss", "bpr", "--duplicates", "mean"], "--duplicates mean"),
    (["train", "F", "--threshold", "3"], "--threshold"),
    (["train", "F", "--loss", "bpr", "--threshold", "9"], "--threshold 9 is above every rating"),
    (["evaluate", "F", "--loss", "bpr"], "--protocol catalogue"),
])
def test_options_that_do_not_suit_bpr_are_refused_by_name(interactions, capsys, argv, match):
    _, path = interactions
    assert main([path if a == "F" else a for a in argv]) == 1
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_rating_controls_are_refused_on_a_bpr_model_file(interactions, capsys, tmp_path):
    _, path = interactions
    assert main(["train", path, "--loss", "bpr", *FAST, "--out", "m.npz", "--quiet"]) == 0
    (tmp_path / "c.txt").write_text("it01\n")
    for extra, option in ((["--min-support", "2"], "--min-support"), (["--candidates", "c.txt"], "--candidates"),
                          (["--shrinkage", "0"], "--shrinkage")):
        assert main(["recommend", "m.npz", "--user", "u01", *extra]) == 1
        assert f"{option} is a control of rating models" in capsys.readouterr().err
    assert main(["recommend", "m.npz", "--user", "nobody"]) == 1
    assert "unknown user 'nobody'" in capsys.readouterr().err
    (tmp_path / "pairs.txt").write_text("u01 it02\n")
    for argv in (["similar", "m.npz", "--item", "it02"], ["predict", "m.npz", "pairs.txt"]):
        assert main(argv) == 1
        assert f"holds a BPR model (cmf train --loss bpr), which ranks items and has none of a rating model's " \
               f"predictions for cmf {argv[0]}: use cmf recommend" in capsys.readouterr().err


def test_train_bpr_as_a_subprocess(interactions, tmp_path):
    _, path = interactions
    run = subprocess.run([sys.executable, "-m", "cmf", "train", path, "--loss", "bpr", *FAST, "--out", "s.npz"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "trained BPR on 144 interactions (every row; 24 users x 15 items)" in run.stdout
    assert (tmp_path / "s.npz").exists()


# ----------------------------------------------------------------------
# BPR's labels in Python
# ----------------------------------------------------------------------
def test_fit_ratings_keeps_labels_through_save_and_load(interactions, tmp_path):
    rows, path = interactions
    model = cmf.BPR(n_factors=4, n_epochs=15, random_state=3).fit_ratings(load_ratings(path, progress=False))
    ref, users, items = _reference(rows)
    got_items, got_scores = model.recommend(["u05", "u11"], n=5)
    want_items, want_scores = ref.recommend([users.index("u05"), users.index("u11")], n=5)
    assert got_items.tolist() == [[items[j] for j in row] for row in want_items]
    np.testing.assert_array_equal(got_scores, want_scores)
    back = cmf.BPR.load(model.save(tmp_path / "b"))
    assert back.user_labels_.tolist() == users and back.item_labels_.tolist() == items
    assert back.recommend("u05", n=5)[0].tolist() == got_items[0].tolist()
    with pytest.raises(KeyError, match="unknown user 'zz'"):
        model.recommend("zz")


def test_an_index_fit_has_no_labels_and_a_refit_drops_them(interactions):
    _, path = interactions
    model = cmf.BPR(n_factors=2, n_epochs=2, random_state=0).fit_ratings(load_ratings(path, progress=False))
    assert model.user_labels_ is not None
    model.fit_pairs([0, 1, 2], [1, 2, 0])
    assert model.user_labels_ is None and model.item_labels_ is None
    assert model.recommend(0, n=2)[0].dtype.kind == "i"


def test_padding_of_short_lists_with_string_labels_is_empty(tmp_path):
    data = RatingDataset.from_labels(["a", "a", "b"], ["x", "y", "x"], np.ones(3))
    model = cmf.BPR(n_factors=2, n_epochs=3, random_state=0).fit_ratings(data)
    items, scores = model.recommend("a", n=2)
    assert items.tolist() == ["", ""] and np.isnan(scores).all()  # both items seen
    items, scores = model.recommend("b", n=2)
    assert items.tolist() == ["y", ""] and np.isnan(scores[1]) and not np.isnan(scores[0])


def test_a_file_with_one_label_member_is_refused(tmp_path):
    model = cmf.BPR(n_factors=2, n_epochs=1, random_state=0).fit_ratings(
        RatingDataset.from_labels(["a", "b"], ["x", "y"], np.ones(2)))
    name = model.save(tmp_path / "m.npz")
    with np.load(name) as f:
        members = {k: f[k] for k in f.files if k != "item_labels"}
    np.savez(tmp_path / "bad.npz", **members)
    with pytest.raises(ValueError, match="user_labels without item_labels"):
        cmf.BPR.load(tmp_path / "bad.npz")


# ----------------------------------------------------------------------
# Early stopping on held-out interactions
# ----------------------------------------------------------------------
def _split(seed: int = 0):
    data = load_ratings_from_rows(_rows(seed))
    return cmf.model_selection.train_test_split(data, 0.25, random_state=seed)


def load_ratings_from_rows(rows):
    users, items, ratings = zip(*rows)
    return RatingDataset.from_labels(list(users), list(items), np.array(ratings, float))


def test_early_stopping_keeps_the_factors_of_the_best_check():
    train, valid = _split()
    params = dict(n_factors=4, learning_rate=0.05, n_epochs=300, random_state=2)
    model = cmf.BPR(**params).fit_ratings(train, validation=valid, patience=10, check_every=5)
    ndcg = np.array(model.history_["val_ndcg"])
    run = len(ndcg)
    checks = np.flatnonzero(~np.isnan(ndcg)) + 1
    assert checks.tolist() == list(range(5, run + 1, 5)) and run < 300  # it stopped
    best = model.best_epoch_
    assert best == checks[np.argmax(ndcg[checks - 1])] == model.n_epochs_
    assert run - best >= 10 and run - 5 - best < 10  # at the first check 10 epochs past the best
    # the same bits as a fit of best epochs on the training part, scored independently
    plain = cmf.BPR(**{**params, "n_epochs": best}).fit_ratings(train)
    np.testing.assert_array_equal(model.user_factors_, plain.user_factors_)
    np.testing.assert_array_equal(model.item_bias_, plain.item_bias_)
    assert ndcg[best - 1] == pytest.approx(catalogue_metrics(plain.scores, train, valid)["ndcg"], abs=1e-12)
    assert model.history_["correct"][:best] == plain.history_["correct"]


def test_early_stopping_survives_save_and_load_and_checks_its_input(tmp_path):
    train, valid = _split(1)
    model = cmf.BPR(n_factors=3, n_epochs=20, random_state=0).fit_ratings(train, validation=valid, check_every=4)
    back = cmf.BPR.load(model.save(tmp_path / "s.npz"))
    assert back.best_epoch_ == model.best_epoch_ and np.array_equal(back.history_["val_ndcg"],
                                                                     model.history_["val_ndcg"], equal_nan=True)
    assert cmf.BPR(n_factors=3, n_epochs=2).fit_ratings(train).best_epoch_ is None
    other = RatingDataset.from_labels(["a"], ["b"], np.ones(1))
    with pytest.raises(ValueError, match="validation must hold the same users and items"):
        cmf.BPR(n_epochs=2).fit_ratings(train, validation=other)
    with pytest.raises(ValueError, match="check_every"):
        cmf.BPR(n_epochs=2).fit_ratings(train, validation=valid, check_every=0)


def test_cmf_train_bpr_validation_stops_early(interactions, capsys):
    rows, path = interactions
    argv = ["train", path, "--loss", "bpr", "--factors", "4", "--learning-rate", "0.05", "--epochs", "300",
            "--seed", "2", "--validation", "0.25", "--json", "--out", "v.npz"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    model = cmf.BPR.load("v.npz")
    assert summary["best_epoch"] == model.best_epoch_ == model.n_epochs_ == summary["epochs"]
    assert summary["epochs_run"] == len(model.history_["epoch"]) < 300
    assert summary["validation_ndcg"] == pytest.approx(np.nanmax(model.history_["val_ndcg"]), abs=1e-15)
    train, _ = cmf.model_selection.train_test_split(load_ratings(path, progress=False), 0.25, random_state=2)
    plain = cmf.BPR(n_factors=4, learning_rate=0.05, n_epochs=model.n_epochs_, random_state=2).fit_ratings(train)
    np.testing.assert_array_equal(model.item_factors_, plain.item_factors_)
