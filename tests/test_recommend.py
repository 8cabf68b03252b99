"""Recommender methods: labels, recommend, similar items/users, fold_in, partial_fit, persistence, plots."""

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf import recommend as rec
from cmf._dataset import RatingDataset
from cmf._reference import reference_epoch
from cmf.recommend import solve_fold_in
from cmf.datasets import make_ratings
from cmf.exceptions import NotFittedError


def small_model(labelled=True, validation=None, **params):
    """A model fitted to 40 users x 25 items of synthetic ratings."""
    gen = make_ratings(40, 25, 400, rank=3, random_state=1)
    if labelled:
        users = np.array([f"u{r:02d}" for r in range(40)])[gen.rows]
        items = (np.arange(25) * 1000 + 7)[gen.cols]  # large, sparse integer ids
        data = RatingDataset.from_labels(users, items, gen.values)
    else:
        data = RatingDataset(gen.rows, gen.cols, gen.values, gen.shape)
    kw = dict(n_factors=4, learning_rate=0.02, regularization=0.05, max_epochs=30, random_state=0, dtype="float64")
    kw.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MatrixFactorization(**kw).fit_ratings(data, validation=validation), data


def dense_scores(model):
    return model.global_mean_ + model.user_bias_[:, None] + model.item_bias_[None, :] + model.user_factors_ @ model.item_factors_.T


def seen_mask(data):
    mask = np.zeros(data.shape, dtype=bool)
    mask[data.rows, data.cols] = True
    return mask


# ---------------------------------------------------------------- labels
def test_predict_takes_labels_after_fit_ratings():
    model, data = small_model()
    assert model.user_labels_.tolist()[:2] == ["u00", "u01"]
    u, i = data.rows[:5], data.cols[:5]
    expected = dense_scores(model)[u, i]
    got = model.predict(data.user_labels.labels[u], data.item_labels.labels[i])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        model.predict("nobody", 7, unknown="error")
    with pytest.raises(KeyError, match="unknown item 8"):
        model.predict("u00", 8, unknown="error")


def test_fit_triplets_after_fit_ratings_drops_labels():
    model, data = small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_triplets(data.rows, data.cols, data.values)
    assert model.user_labels_ is None and model.item_labels_ is None
    assert isinstance(model.predict(0, 1), float)


def test_failed_fit_ratings_leaves_model_unchanged():
    model, data = small_model()
    before = model.user_factors_.copy()
    with pytest.raises(ValueError):
        model.set_params(learning_rate=-1).fit_ratings(data)
    np.testing.assert_array_equal(model.user_factors_, before)
    assert model.user_labels_[0] == "u00"


def test_fit_ratings_validation_fraction_and_patience():
    model, data = small_model(validation=0.2, patience=2, max_epochs=200)
    assert np.isfinite(model.history_["val_rmse"]).all()
    with pytest.raises(ValueError, match="patience needs validation"):
        MatrixFactorization(patience=2).fit_ratings(data)


# ---------------------------------------------------------------- recommend
@pytest.mark.parametrize("labelled", [True, False])
def test_recommend_matches_brute_force(labelled):
    model, data = small_model(labelled)
    scores = dense_scores(model)
    scores[seen_mask(data)] = -np.inf
    for u in (0, 7, 39):
        want = np.argsort(-scores[u], kind="stable")[:5]
        user = data.user_labels.labels[u] if labelled else u
        items, got = model.recommend(user, n=5, shrinkage=0)
        expect_items = data.item_labels.labels[want] if labelled else want
        np.testing.assert_array_equal(items, expect_items)
        np.testing.assert_allclose(got, scores[u, want], rtol=1e-10)


def test_batched_recommend_equals_single_calls_in_any_block_size():
    model, data = small_model()
    users = data.user_labels.labels[[3, 0, 3, 17]]
    items, scores = model.recommend(users, n=4)
    small_items, small_scores = model.recommend(users, n=4, batch_size=1)
    np.testing.assert_array_equal(items, small_items)
    np.testing.assert_allclose(scores, small_scores)
    for row, user in enumerate(users):
        one_items, one_scores = model.recommend(user, n=4)
        np.testing.assert_array_equal(items[row], one_items)
        np.testing.assert_allclose(scores[row], one_scores)


def test_recommend_excludes_seen_and_pads():
    model, data = small_model(labelled=False)
    seen = seen_mask(data)
    u = int(np.argmax(seen.sum(1)))
    items, scores = model.recommend(u, n=100)
    assert len(items) == (~seen[u]).sum() and not seen[u, items].any()
    items_all, _ = model.recommend(u, n=100, exclude_seen=False)
    assert len(items_all) == 25
    batch_items, batch_scores = model.recommend([u, u], n=25)
    assert batch_items.shape == (2, 25)
    n_free = (~seen[u]).sum()
    assert (batch_items[0, n_free:] == -1).all() and np.isnan(batch_scores[0, n_free:]).all()


def test_recommend_string_padding_and_errors():
    model, data = small_model()
    items, _ = model.recommend(["u00"], n=25)
    assert (items[0][~np.isin(np.arange(25), np.arange(len(model.recommend("u00", n=25)[0])))] == -1).all()
    with pytest.raises(KeyError, match="unknown user"):
        model.recommend("zz")
    with pytest.raises(ValueError, match="n must be"):
        model.recommend("u00", n=0)
    with pytest.raises(TypeError):
        model.recommend("u00", n=2.5)
    with pytest.raises(NotFittedError):
        MatrixFactorization().recommend(0)


def test_unlabelled_model_rejects_out_of_range_and_non_integer_users():
    model, _ = small_model(labelled=False)
    with pytest.raises(KeyError, match="unknown user 40"):
        model.recommend(40)
    with pytest.raises(TypeError, match="integer indices"):
        model.recommend("3")


# ---------------------------------------------------------------- similarity
@pytest.mark.parametrize("axis", [0, 1])
def test_similar_matches_brute_force_cosine(axis):
    model, data = small_model(labelled=False)
    F = (model.user_factors_, model.item_factors_)[axis]
    unit = F / np.linalg.norm(F, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    method = (model.similar_users, model.similar_items)[axis]
    for x in (0, 5):
        want = np.argsort(-sims[x], kind="stable")[:3]
        got, values = method(x, n=3)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(values, sims[x, want])
        assert x not in got
    batch, _ = method([0, 5], n=3)
    np.testing.assert_array_equal(batch[1], method(5, n=3)[0])


def test_similar_items_with_labels_and_zero_factor_item():
    model, data = small_model()
    Q = model.item_factors_.copy()  # fitted arrays are read-only snapshots
    Q[3] = 0  # an item with no signal is similar to nothing
    model.item_factors_ = Q
    items, sims = model.similar_items(data.item_labels.labels[0], n=24)
    zero_label = data.item_labels.labels[3]
    assert sims[list(items).index(zero_label)] == 0.0
    assert data.item_labels.labels[0] not in items


# ---------------------------------------------------------------- fold_in
def augmented_lstsq(Q, c, r, mu, reg, reg_b, biased):
    """The same ridge problem as an ordinary least-squares system with extra rows."""
    n, k = Q.shape
    if biased:
        X = np.hstack([np.ones((n, 1)), Q])
        y = r - mu - c
        d = np.r_[reg_b, np.full(k, reg)]
    else:
        X, y, d = Q, r, np.full(k, reg)
    A = np.vstack([X, np.diag(np.sqrt(n * d))])
    rhs = np.r_[y, np.zeros(len(d))]
    return np.linalg.lstsq(A, rhs, rcond=None)[0]


@pytest.mark.parametrize("biased", [True, False])
def test_fold_in_solves_the_ridge_problem(biased):
    model, data = small_model(labelled=False, biased=biased)
    items = np.array([1, 4, 4, 9, 20])
    ratings = np.array([5.0, 3.0, 4.0, 1.0, 2.5])
    out = model.fold_in(items, ratings)
    theta = augmented_lstsq(model.item_factors_[items], model.item_bias_[items], ratings, model.global_mean_,
                            model.regularization, model.bias_regularization, biased)
    got = np.r_[out.bias, out.factors] if biased else out.factors
    np.testing.assert_allclose(got, theta, rtol=1e-9, atol=1e-12)
    assert out.user is None and model.shape_ == (40, 25)
    if not biased:
        assert out.bias == 0.0


def test_solve_fold_in_recovers_an_exact_user_without_penalty():
    rng = np.random.default_rng(3)
    Q, c = rng.normal(size=(12, 4)), rng.normal(size=12)
    p, b, mu = rng.normal(size=4), 0.7, 3.2
    r = mu + b + c + Q @ p
    bias, factors = solve_fold_in(Q, c, r, mu, 0.0, 0.0, True)
    assert bias == pytest.approx(b) and np.allclose(factors, p)
    # fewer ratings than unknowns and no penalty: the minimum-norm solution, finite
    bias, factors = solve_fold_in(Q[:2], c[:2], r[:2], mu, 0.0, 0.0, True)
    assert np.isfinite(factors).all()


def test_fold_in_add_makes_the_user_usable():
    model, data = small_model()
    items = data.item_labels.labels[[0, 2]]
    out = model.fold_in(items, [5.0, 1.0], add=True, user="newbie")
    assert out.user == "newbie" and model.shape_ == (41, 25)
    j = data.item_labels.to_index(items)
    expect = model.global_mean_ + out.bias + model.item_bias_[j] + model.item_factors_[j] @ out.factors
    np.testing.assert_allclose(model.predict(["newbie"] * 2, items, clip=False), expect, rtol=1e-10)
    recs, _ = model.recommend("newbie", n=25)
    assert not np.isin(items, recs).any() and len(recs) == 23
    with pytest.raises(ValueError, match="already in the model"):
        model.fold_in(items, [1.0, 2.0], add=True, user="newbie")
    with pytest.raises(ValueError, match="strings"):
        model.fold_in(items, [1.0, 2.0], add=True)


def test_fold_in_add_integer_labels_and_unlabelled():
    model, data = small_model(labelled=False)
    out = model.fold_in([0, 1], [4.0, 2.0], add=True)
    assert out.user == 40 and model.predict(40, 0) == pytest.approx(
        model.global_mean_ + out.bias + model.item_bias_[0] + model.item_factors_[0] @ out.factors)
    gen = make_ratings(10, 5, 30, rank=2, random_state=0)
    labelled = RatingDataset.from_labels(gen.rows + 100, gen.cols, gen.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MatrixFactorization(n_factors=2, max_epochs=5, random_state=0).fit_ratings(labelled)
    assert m.fold_in([0], [3.0], add=True).user == int(labelled.user_labels.labels.max()) + 1


@pytest.mark.parametrize(
    "items, ratings, err",
    [([0, 1], [1.0], ValueError), ([], [], ValueError), ([0], [np.nan], ValueError), ([99], [1.0], KeyError)],
)
def test_fold_in_errors(items, ratings, err):
    model, _ = small_model(labelled=False)
    with pytest.raises(err):
        model.fold_in(np.array(items, dtype=int), ratings)


# ---------------------------------------------------------------- partial_fit
def test_partial_fit_one_epoch_equals_the_reference_epoch_from_the_current_state():
    model, data = small_model(labelled=False, shuffle=False)
    start = [model.user_factors_.copy(), model.item_factors_.copy(), model.user_bias_.copy(),
             model.item_bias_.copy()]
    rows, cols, vals = data.rows[:50], data.cols[:50], data.values[:50].astype(np.float64)
    model.partial_fit((rows, cols, vals), epochs=1)
    P, Q, b, c = start
    reference_epoch(rows, cols, vals, P, Q, b, c, model.global_mean_,
                    learning_rate=model.learning_rate, regularization=model.regularization,
                    bias_regularization=model.bias_regularization)
    np.testing.assert_allclose(model.user_factors_, P, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.user_bias_, b, rtol=1e-10, atol=1e-12)


def test_partial_fit_grows_for_new_users_and_items_with_labels():
    model, data = small_model()
    P_before, mu = model.user_factors_.copy(), model.global_mean_
    untouched = [i for i in range(40) if data.user_labels.labels[i] not in ("u00",)]
    model.partial_fit((np.array(["u00", "zed", "zed"]), np.array([7, 7, 999_999]), np.array([4.0, 5.0, 3.0])), epochs=3)
    assert model.shape_ == (41, 26)
    assert model.user_labels_[-1] == "zed" and model.item_labels_[-1] == 999_999
    assert model.global_mean_ == mu
    np.testing.assert_array_equal(model.user_factors_[untouched], P_before[untouched])
    assert np.isfinite(model.predict("zed", 999_999))
    recs, _ = model.recommend("zed", n=30)
    assert 7 not in recs and 999_999 not in recs


def test_partial_fit_unlabelled_grows_by_index_and_unfitted_is_fit():
    model, _ = small_model(labelled=False)
    model.partial_fit((np.array([45]), np.array([30]), np.array([4.0])), epochs=2)
    assert model.shape_ == (46, 31) and model.user_labels_ is None
    fresh = MatrixFactorization(n_factors=2, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.partial_fit((np.array([0, 1]), np.array([1, 0]), np.array([3.0, 4.0])))
    assert fresh.shape_ == (2, 2)


def test_partial_fit_errors():
    model, data = small_model()
    with pytest.raises(ValueError, match="n_factors and dtype"):
        model.set_params(n_factors=5).partial_fit(data)
    model.set_params(n_factors=4)
    with pytest.raises(ValueError, match="same length"):
        model.partial_fit((np.array(["u00"]), np.array([7, 7]), np.array([1.0])))
    with pytest.raises(TypeError, match="labelled"):
        model.partial_fit(make_ratings(5, 5, 5, rank=1, random_state=0))
    with pytest.raises(ValueError, match="epochs"):
        model.partial_fit(data, epochs=0)


# ---------------------------------------------------------------- persistence
def test_save_load_keeps_labels_and_seen_items(tmp_path):
    model, data = small_model()
    model.fold_in([7], [5.0], add=True, user="later")
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        assert npz["user_labels"].dtype.kind == "U" and npz["item_labels"].dtype == np.int64
    loaded = MatrixFactorization.load(path)
    np.testing.assert_array_equal(loaded.user_labels_, model.user_labels_)
    for user in ("u05", "later"):
        np.testing.assert_array_equal(loaded.recommend(user, n=6)[0], model.recommend(user, n=6)[0])
    assert loaded.predict("later", 7) == pytest.approx(model.predict("later", 7))


def test_save_load_unlabelled(tmp_path):
    model, _ = small_model(labelled=False)
    model.save(tmp_path / "m.npz")
    loaded = MatrixFactorization.load(tmp_path / "m.npz")
    assert loaded.user_labels_ is None
    np.testing.assert_array_equal(loaded.recommend(3, n=5)[0], model.recommend(3, n=5)[0])


def test_load_rejects_inconsistent_extra_arrays(tmp_path):
    model, _ = small_model()
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        files = dict(npz)
    files["user_labels"] = files["user_labels"][:-1]
    np.savez(tmp_path / "bad.npz", **files)
    with pytest.raises(ValueError, match="user labels"):
        MatrixFactorization.load(tmp_path / "bad.npz")
    files = dict(np.load(tmp_path / "m.npz", allow_pickle=False))
    files["seen_indices"] = files["seen_indices"] + 1000
    np.savez(tmp_path / "bad2.npz", **files)
    with pytest.raises(ValueError, match="seen-items"):
        MatrixFactorization.load(tmp_path / "bad2.npz")


# ---------------------------------------------------------------- plots
def test_plot_history_draws_lines_and_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    model, _ = small_model()
    ax = model.plot_history()
    assert len(ax.lines) == 1  # training only
    np.testing.assert_allclose(ax.lines[0].get_ydata(), model.history_["train_rmse"])
    early, _ = small_model(validation=0.2, patience=2, max_epochs=200)
    path = tmp_path / "history.png"
    ax = early.plot_history(path=path)
    assert len(ax.lines) == 3  # training, validation, best epoch
    np.testing.assert_allclose(ax.lines[1].get_ydata(), early.history_["val_rmse"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.figure import Figure

    own = Figure().add_subplot()
    assert model.plot_history(ax=own) is own and len(own.lines) == 1


def test_fit_ratings_validation_from_another_file_is_matched_by_label(tmp_path):
    from cmf.io import load_ratings

    (tmp_path / "train.txt").write_text("a x 5\na y 3\nb x 4\nb z 1\nc y 2\nc z 4\n")
    (tmp_path / "valid.txt").write_text("b y 2\nzz x 3\nc x 5\n")  # user zz is unknown: dropped
    train, valid = load_ratings(tmp_path / "train.txt"), load_ratings(tmp_path / "valid.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MatrixFactorization(n_factors=2, max_epochs=5, random_state=0, dtype="float64")
        model.fit_ratings(train, validation=valid)
    pred = model.predict(["b", "c"], ["y", "x"])
    last = np.sqrt(np.mean((pred - np.array([2.0, 5.0])) ** 2))
    assert model.history_["val_rmse"][-1] == pytest.approx(last, rel=1e-9)
    indexed = RatingDataset(np.array([0, 1], np.int32), np.array([0, 1], np.int32), np.ones(2, np.float32), (2, 2))
    with pytest.raises(ValueError, match="both be labelled"):
        MatrixFactorization().fit_ratings(train, validation=indexed)
    with pytest.raises(ValueError, match="outside the training data"):
        MatrixFactorization().fit_ratings(indexed, validation=(np.array([5]), np.array([0]), np.array([1.0])))


def test_model_file_without_seen_items_needs_exclude_seen_false(tmp_path):
    model, _ = small_model(labelled=False)
    model.save(tmp_path / "m.npz")
    files = dict(np.load(tmp_path / "m.npz", allow_pickle=False))
    del files["seen_indptr"], files["seen_indices"]
    np.savez(tmp_path / "plain.npz", **files)
    loaded = MatrixFactorization.load(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="exclude_seen=False"):
        loaded.recommend(0)
    with pytest.raises(ValueError, match="which shrinkage need; pass shrinkage=0$"):
        loaded.recommend(0, exclude_seen=False)
    np.testing.assert_array_equal(loaded.recommend(0, n=3, exclude_seen=False, shrinkage=0)[0],
                                  model.recommend(0, n=3, exclude_seen=False, shrinkage=0)[0])


# ---------------------------------------------------------------- the module
def test_module_functions_answer_as_the_methods():
    model, data = small_model()
    users, items = data.user_labels.labels[[0, 3]], data.item_labels.labels[[1, 2]]
    pairs = [
        (rec.recommend(model, users, n=4), model.recommend(users, n=4)),
        (rec.recommend(model, users[0], 5, exclude_seen=False), model.recommend(users[0], 5, exclude_seen=False)),
        (rec.similar_items(model, items, 3), model.similar_items(items, 3)),
        (rec.similar_users(model, users[1], n=2), model.similar_users(users[1], n=2)),
        (rec.fold_in(model, items, [4.0, 2.0])[:2], model.fold_in(items, [4.0, 2.0])[:2]),
    ]
    for got, want in pairs:
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    out = rec.fold_in(model, items, [4.0, 2.0], add=True, user="new")
    assert out.user == "new" and model.user_labels_[-1] == "new"
    with pytest.raises(NotFittedError):
        rec.recommend(MatrixFactorization(), 0)


def test_recommend_module_does_not_import_the_estimator():
    # cmf.model's methods call cmf.recommend, so the reverse import would be a cycle.
    tree = ast.parse(Path(rec.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {"cmf", "cmf.model"} & imported
