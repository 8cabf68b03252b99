"""recommend's controls (candidates, exclude, min_support, shrinkage), item counts, cmf recommend --all, cmf similar.

Every ranking is checked against a brute-force NumPy ranking of the full
float64 score matrix, with item counts taken from the training data.
"""

import csv
import json
import warnings

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf import recommend as rec
from cmf._cli_recommend import recommendation_lines
from cmf._dataset import RatingDataset
from cmf.cli import main
from cmf.datasets import make_ratings

N_USERS, N_ITEMS = 30, 40


def fitted(labelled=True, **params):
    """A model fitted to 30 users x 40 items whose items have from 0 to about 30 raters.

    Item 39 is never rated: the unlabelled model has it (with no rater), the
    labelled one does not know it (38 or 39 items, as the thinning leaves them).
    """
    rng = np.random.default_rng(5)
    gen = make_ratings(N_USERS, N_ITEMS, 500, rank=3, random_state=2)
    # Thin the ratings of some items, so that item counts spread out; item 39 is never rated.
    keep = rng.random(len(gen.rows)) < np.linspace(1.0, 0.05, N_ITEMS)[gen.cols]
    keep &= gen.cols != N_ITEMS - 1
    rows, cols, values = gen.rows[keep], gen.cols[keep], gen.values[keep]
    if labelled:
        users = np.array([f"u{r:02d}" for r in range(N_USERS)])
        items = np.arange(N_ITEMS) * 10 + 3
        data = RatingDataset.from_labels(users[rows], items[cols], values)
        # from_labels sorts the labels: these are the model's indices too
        assert data.user_labels.labels.tolist() == users.tolist()
    else:
        data = RatingDataset(rows, cols, values, (N_USERS, N_ITEMS))
    kw = dict(n_factors=3, learning_rate=0.02, regularization=0.05, max_epochs=20, random_state=0, dtype="float64")
    kw.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MatrixFactorization(**kw).fit_ratings(data)
    return model, data


def user_labels(model):
    return model.user_labels_ if model.user_labels_ is not None else np.arange(N_USERS)


def item_labels(model):
    return model.item_labels_ if model.item_labels_ is not None else np.arange(model.item_factors_.shape[0])


def counts_of(data):
    """Distinct raters per item, from the training pairs."""
    pairs = np.unique(np.stack([data.rows, data.cols]), axis=1)
    return np.bincount(pairs[1], minlength=data.shape[1])


def brute_force(model, data, n, *, candidates=None, exclude=None, min_support=0, shrinkage=25.0,
                exclude_seen=True, own=None):
    """Top-n item indices and scores per user (lists, unpadded), from the full score matrix."""
    counts = counts_of(data).astype(np.float64)
    w = counts / (counts + shrinkage) if shrinkage > 0 else np.ones(data.shape[1])
    S = (model.global_mean_ + model.user_bias_[:, None]
         + w[None, :] * (model.item_bias_[None, :] + model.user_factors_ @ model.item_factors_.T))
    w = w.astype(np.float64)
    allowed = np.ones(data.shape[1], bool) if candidates is None else np.isin(np.arange(data.shape[1]), candidates)
    if exclude is not None:
        allowed[exclude] = False
    allowed &= counts >= min_support
    S[:, ~allowed] = -np.inf
    if exclude_seen:
        S[data.rows, data.cols] = -np.inf
    for u, items in (own or {}).items():
        S[u, items] = -np.inf
    out = []
    for u in range(N_USERS):
        order = np.argsort(-S[u], kind="stable")[:n]
        order = order[np.isfinite(S[u, order])]
        out.append((order, np.clip(S[u, order], *model.rating_scale_)))
    return out


def assert_matches(model, got_items, got_scores, want, rows=range(N_USERS)):
    labels = item_labels(model)
    for r, u in enumerate(rows):
        items, scores = want[u]
        m = len(items)
        np.testing.assert_array_equal(got_items[r][:m], labels[items])
        np.testing.assert_allclose(got_scores[r][:m], scores, rtol=1e-12)
        assert np.isnan(got_scores[r][m:]).all()
        pad = "" if labels.dtype.kind == "U" else -1
        assert (np.asarray(got_items[r][m:]) == pad).all()


CASES = [
    dict(),
    dict(shrinkage=0),
    dict(shrinkage=3.5, min_support=8),
    dict(candidates=[1, 4, 9, 16, 25, 36, 37], shrinkage=0),
    dict(candidates=list(range(0, 38, 3)), exclude=[3, 12, 13], min_support=2),
    dict(exclude=list(range(10)), exclude_seen=False, shrinkage=100),
]


@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(c) or "defaults")
def test_controls_match_a_brute_force_ranking(labelled, case):
    model, data = fitted(labelled)
    want = brute_force(model, data, 6, **case)
    kw = dict(case)
    labels = item_labels(model)
    for key in ("candidates", "exclude"):
        if key in kw:
            kw[key] = labels[kw[key]]
    items, scores = model.recommend(user_labels(model), n=6, **kw)
    assert items.shape == scores.shape == (N_USERS, 6)
    assert_matches(model, items, scores, want)
    for u in (0, 17):  # one user: the same, unpadded
        one_items, one_scores = rec.recommend(model, user_labels(model)[u], n=6, **kw)
        assert_matches(model, [one_items], [one_scores], want, rows=[u])
        assert len(one_items) == len(want[u][0])


def test_candidates_and_exclude_take_sets_and_small_blocks():
    model, data = fitted()
    labels = item_labels(model)
    want = brute_force(model, data, 4, candidates=[2, 5, 7, 30, 31], exclude=[5])
    items, scores = model.recommend(user_labels(model), n=4, candidates=set(labels[[2, 5, 7, 30, 31]]),
                                    exclude=frozenset([labels[5]]), batch_size=7)
    assert_matches(model, items, scores, want)


@pytest.mark.parametrize("labelled", [True, False])
def test_exclude_per_user_mapping(labelled):
    model, data = fitted(labelled)
    users, labels = user_labels(model), item_labels(model)
    own = {0: [0, 1, 2], 5: [10], 29: list(range(20))}
    want = brute_force(model, data, 5, own=own)
    items, scores = model.recommend(users, n=5, exclude={users[u]: labels[v] for u, v in own.items()})
    assert_matches(model, items, scores, want)
    one = model.recommend(users[29], n=5, exclude={users[29]: labels[own[29]], users[3]: labels[:1]})
    assert_matches(model, [one[0]], [one[1]], want, rows=[29])


def test_default_shrinkage_scores_by_hand():
    # Item 39 has no rater: its score is mu + b_u whatever its factors; an item
    # with n raters counts n / (n + 25) of its bias and factors.
    model, data = fitted(labelled=False)
    counts = counts_of(data)
    assert counts[39] == 0
    u, i = 4, int(np.argmax(counts))
    items, scores = model.recommend(u, n=N_ITEMS, exclude_seen=False, clip=False)
    assert len(items) == N_ITEMS
    got = dict(zip(items.tolist(), scores.tolist()))
    assert got[39] == pytest.approx(model.global_mean_ + model.user_bias_[u], rel=1e-12)
    deviation = model.item_bias_[i] + model.user_factors_[u] @ model.item_factors_[i]
    assert got[i] == pytest.approx(model.global_mean_ + model.user_bias_[u] + counts[i] / (counts[i] + 25) * deviation,
                                   rel=1e-12)


def test_shrinkage_zero_scores_are_the_predictions():
    model, _ = fitted()
    user = user_labels(model)[3]
    items, scores = model.recommend(user, n=8, shrinkage=0)
    np.testing.assert_allclose(scores, model.predict(np.repeat(user, len(items)), items), rtol=1e-12)


@pytest.mark.parametrize("labelled", [True, False])
def test_nothing_left_is_padded(labelled):
    model, data = fitted(labelled)
    labels, users = item_labels(model), user_labels(model)
    pad = "" if labels.dtype.kind == "U" else -1
    for kw in (dict(min_support=10_000), dict(candidates=labels[:3], exclude=labels[:3]), dict(candidates=[])):
        items, scores = model.recommend(users[:4], n=3, **kw)
        assert items.shape == (4, 3) and (items == pad).all() and np.isnan(scores).all()
        one_items, one_scores = model.recommend(users[0], n=3, **kw)
        assert one_items.shape == one_scores.shape == (0,)


def test_unknown_items_are_refused_naming_them():
    model, _ = fitted()
    with pytest.raises(KeyError, match=r"candidates holds 2 item\(s\) the model does not know, such as 5"):
        model.recommend("u00", candidates=[3, 5, 7])
    with pytest.raises(KeyError, match="exclude holds 1 item"):
        model.recommend("u00", exclude=[3, 999])
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        model.recommend("u00", exclude={"nobody": [3]})
    plain, _ = fitted(labelled=False)
    with pytest.raises(KeyError, match="such as 40"):
        plain.recommend(0, candidates=[1, 40])
    with pytest.raises(TypeError, match="integer item indices"):
        plain.recommend(0, exclude=["a"])


@pytest.mark.parametrize("kw, error, message", [
    (dict(min_support=-1), ValueError, "min_support"),
    (dict(min_support=2.5), TypeError, "min_support"),
    (dict(shrinkage=-1.0), ValueError, "shrinkage"),
    (dict(shrinkage=float("nan")), ValueError, "shrinkage"),
    (dict(candidates=[[3, 13]]), ValueError, "candidates must be a 1-D collection"),
])
def test_bad_controls(kw, error, message):
    model, _ = fitted()
    with pytest.raises(error, match=message):
        model.recommend("u00", **kw)


def test_counts_count_each_rater_once_and_follow_fold_in():
    users = np.array([0, 0, 0, 1, 2, 2])
    items = np.array([0, 0, 1, 1, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MatrixFactorization(n_factors=2, max_epochs=3, random_state=0, duplicates="keep").fit_ratings(
            RatingDataset(users, items, np.arange(6.0), (3, 3)))
    np.testing.assert_array_equal(model._snapshot().item_counts, [1, 3, 1])
    for threshold, left in ((2, [1]), (1, [0, 1, 2]), (4, [])):
        got, _ = model.recommend(0, n=3, exclude_seen=False, min_support=threshold)
        assert sorted(got.tolist()) == left
    model.fold_in([0, 2], [4.0, 5.0], add=True)
    np.testing.assert_array_equal(model._snapshot().item_counts, [2, 3, 2])
    assert sorted(model.recommend(0, n=3, exclude_seen=False, min_support=2)[0].tolist()) == [0, 1, 2]


def test_model_file_keeps_counts_and_an_old_file_says_what_it_cannot_do(tmp_path):
    model, data = fitted()
    model.save(tmp_path / "m.npz")
    loaded = MatrixFactorization.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded._snapshot().item_counts, counts_of(data))
    users = user_labels(model)
    for a, b in zip(loaded.recommend(users, n=5, min_support=3), model.recommend(users, n=5, min_support=3)):
        np.testing.assert_array_equal(a, b)
    # A file written before the seen items were stored: no counts.
    files = dict(np.load(tmp_path / "m.npz", allow_pickle=False))
    del files["seen_indptr"], files["seen_indices"]
    np.savez(tmp_path / "old.npz", **files)
    old = MatrixFactorization.load(tmp_path / "old.npz")
    assert old._snapshot().item_counts is None
    for kw, fixes in ((dict(exclude_seen=False), "shrinkage=0"),
                      (dict(exclude_seen=False, shrinkage=0, min_support=2), "min_support=0"),
                      (dict(min_support=2), "exclude_seen=False and shrinkage=0 and min_support=0")):
        with pytest.raises(ValueError, match=f"does not know its training ratings.*; pass {fixes}$"):
            old.recommend("u00", **kw)
    with pytest.raises(ValueError, match="min_support=0"):
        rec.similar_items(old, 3, min_support=2)
    want = brute_force(model, data, 5, shrinkage=0, exclude_seen=False)
    assert_matches(model, *old.recommend(users, n=5, exclude_seen=False, shrinkage=0), want)


def cosine_top(F, i, n, keep=None):
    unit = F / np.linalg.norm(F, axis=1, keepdims=True)
    sims = unit @ unit[i]
    sims[i] = -np.inf
    if keep is not None:
        sims[~keep] = -np.inf
    order = np.argsort(-sims, kind="stable")[:n]
    order = order[np.isfinite(sims[order])]
    return order, sims[order]


def test_similar_items_min_support_matches_brute_force():
    model, data = fitted()
    labels = item_labels(model)
    keep = counts_of(data) >= 12
    order, sims = cosine_top(model.item_factors_, 5, 6, keep)
    got, got_sims = rec.similar_items(model, labels[5], 6, min_support=12)
    np.testing.assert_array_equal(got, labels[order])
    np.testing.assert_allclose(got_sims, sims, rtol=1e-10)
    method, method_sims = model.similar_items(labels[5], 6, min_support=12)  # the method forwards it
    np.testing.assert_array_equal(method, labels[order])
    np.testing.assert_array_equal(method_sims, got_sims)
    many, many_sims = rec.similar_items(model, labels[[5, 6]], 30, min_support=12)
    left = int(keep.sum())
    assert many.shape == (2, 30) and (many[0, left:] == -1).all() and np.isnan(many_sims[0, left:]).all()


# ---------------------------------------------------------------- the command line
@pytest.fixture
def saved(tmp_path):
    model, data = fitted()
    path = tmp_path / "m.npz"
    model.save(path)
    return model, data, path


def read_tsv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["user", "rank", "item", "score"]
    return rows[1:]


def check_batch(model, rows, n, **kw):
    users = user_labels(model)
    items, scores = model.recommend(users, n=n, **kw)
    want = [(str(u), str(r + 1), str(items[k, r]), f"{scores[k, r]:.4f}")
            for k, u in enumerate(users) for r in range(n) if np.isfinite(scores[k, r])]
    assert [tuple(r) for r in rows] == want
    return len(want)


def test_batch_output_is_every_users_recommendations(saved, tmp_path, capsys, monkeypatch):
    model, data, path = saved
    out = tmp_path / "recs.tsv"
    assert main(["recommend", str(path), "--all", "--out", str(out), "-n", "4"]) == 0
    assert check_batch(model, read_tsv(out), 4) == N_USERS * 4
    assert "wrote 120 recommendations for 30 users" in capsys.readouterr().err
    # candidates, exclusions and a minimum support from files and options
    labels = item_labels(model)
    (tmp_path / "cand.txt").write_text("# candidates\n" + "\n".join(map(str, labels[::2])) + "\n\n")
    (tmp_path / "excl.txt").write_text(f"{labels[0]}\n{labels[4]}\n")
    assert main(["recommend", str(path), "--all", "--out", str(out), "-n", "5", "--candidates",
                 str(tmp_path / "cand.txt"), "--exclude", str(tmp_path / "excl.txt"), "--min-support", "11",
                 "--shrinkage", "2", "--include-seen"]) == 0
    n = check_batch(model, read_tsv(out), 5, candidates=labels[::2], exclude=labels[[0, 4]], min_support=11,
                    shrinkage=2, exclude_seen=False)
    left = np.zeros(len(labels), bool)
    left[::2] = True
    left[[0, 4]] = False
    left &= counts_of(data) >= 11
    assert 0 < left.sum() < 5 and n == N_USERS * left.sum()  # short lists, no padding lines
    capsys.readouterr()
    assert main(["recommend", str(path), "--all", "-n", "3", "--no-clip"]) == 0  # to stdout
    lines = capsys.readouterr().out.splitlines()
    check_batch(model, [line.split("\t") for line in lines[1:]], 3, clip=False)
    # "--out -" is standard output too, not a file named "-".
    monkeypatch.chdir(tmp_path)
    assert main(["recommend", str(path), "--all", "-n", "3", "--no-clip", "--out", "-"]) == 0
    assert capsys.readouterr().out.splitlines() == lines and not (tmp_path / "-").exists()


def test_batch_lines_come_a_block_at_a_time(saved):
    model, _, _ = saved
    controls = dict(exclude_seen=True, min_support=0, shrinkage=25.0)
    chunks = list(recommendation_lines(model, 3, controls, block=7))
    assert len(chunks) == 5  # 30 users in blocks of 7
    assert all(c.count("\n") == 7 * 3 for c in chunks[:-1])
    check_batch(model, [line.split("\t") for line in "".join(chunks).splitlines()], 3)


def test_recommend_for_one_user_with_controls(saved, tmp_path, capsys):
    model, _, path = saved
    labels = item_labels(model)
    (tmp_path / "cand.txt").write_text("\n".join(map(str, labels[10:20])) + "\n")
    assert main(["recommend", str(path), "--user", "u03", "-n", "3", "--candidates", str(tmp_path / "cand.txt"),
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    items, scores = model.recommend("u03", n=3, candidates=labels[10:20])
    assert got["items"] == items.tolist() and np.allclose(got["scores"], scores, rtol=1e-12)
    (tmp_path / "all.txt").write_text("\n".join(map(str, labels)) + "\n")
    assert main(["recommend", str(path), "--user", "u03", "--exclude", str(tmp_path / "all.txt")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no item is left to recommend" in captured.err


# The options of a bad call (after MODEL; {tmp} is the test's directory) -> what stderr says.
BAD_CALLS = {
    "--all --json": "--json prints one user's recommendations",
    "--user u01 --out x.tsv": "--out writes every user's recommendations: use it with --all",
    "--all --out {tmp}": "is a directory",
    "--all --out {tmp}/no/such/dir/x.tsv": "does not exist",
    "--user u01 --candidates {tmp}/bad.txt": "bad.txt, line 2: unknown item 'x7'",
    "--user u01 --candidates {tmp}/unknown.txt": "unknown.txt, line 1: unknown item 8 (1 of 2",
    "--user u01 --exclude {tmp}/empty.txt": "lists no item",
    "--user u01 --candidates 3,4,5": "--candidates 3,4,5: no such file; --candidates takes a file of item ids",
    "--user u01 --min-support -1": "argument --min-support",
    "--user u01 --shrinkage -1": "argument --shrinkage",
}


@pytest.mark.parametrize("call", BAD_CALLS)
def test_recommend_errors_name_the_option(saved, tmp_path, capsys, call):
    _, _, path = saved
    (tmp_path / "bad.txt").write_text("3\nx7\n")
    (tmp_path / "unknown.txt").write_text("8\n13\n")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    argv = ["recommend", str(path)] + call.replace("{tmp}", str(tmp_path)).split()
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects the value itself
        status = exc.code
    assert status != 0
    assert BAD_CALLS[call] in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()


def test_similar_command(saved, capsys):
    model, data, path = saved
    labels = item_labels(model)
    assert main(["similar", str(path), "--item", str(labels[5]), "-n", "4", "--min-support", "12"]) == 0
    order, sims = cosine_top(model.item_factors_, 5, 4, counts_of(data) >= 12)
    got = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(int(r), int(i)) for r, i, _ in got] == [(k + 1, int(labels[j])) for k, j in enumerate(order)]
    np.testing.assert_allclose([float(s) for _, _, s in got], sims, atol=1e-4)
    assert main(["similar", str(path), "--user", "u02", "-n", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    order, sims = cosine_top(model.user_factors_, 2, 3)
    assert out["user"] == "u02" and out["similar"] == user_labels(model)[order].tolist()
    np.testing.assert_allclose(out["similarities"], sims, rtol=1e-10)
    assert main(["similar", str(path), "--user", "u02", "--min-support", "3"]) == 1
    assert "use it with --item" in capsys.readouterr().err
    assert main(["similar", str(path), "--item", "nope"]) == 1
    assert "unknown item 'nope'" in capsys.readouterr().err


def test_recommend_from_an_old_model_file_names_the_options(saved, tmp_path, capsys):
    model, data, path = saved
    files = dict(np.load(path, allow_pickle=False))
    del files["seen_indptr"], files["seen_indices"]
    np.savez(tmp_path / "old.npz", **files)
    assert main(["recommend", str(tmp_path / "old.npz"), "--user", "u01"]) == 1
    assert capsys.readouterr().err.endswith("; pass --include-seen and --shrinkage 0\n")
    assert main(["recommend", str(tmp_path / "old.npz"), "--user", "u01", "-n", "3", "--include-seen",
                 "--shrinkage", "0"]) == 0
    want = brute_force(model, data, 3, shrinkage=0, exclude_seen=False)[1][0]
    listed = [int(line.split("\t")[1]) for line in capsys.readouterr().out.splitlines()]
    assert listed == item_labels(model)[want].tolist()
