"""Sample weights from every form of input to the training loop, following their entries.

What the training loop receives is recorded by wrapping ``cmf._train.loop.train``;
the expected weights are computed here with NumPy from the input (the split's
permutation, the duplicates' weighted means), never read from the code under test.
"""

from __future__ import annotations

import warnings

import json

import numpy as np
import pytest

import cmf
from cmf._dataset import RatingDataset
from cmf._train.schedule import MAX_CUTS
from cmf._train.stats import weight_hint
from cmf.cli import main
from cmf.io import load_ratings


@pytest.fixture
def seen(monkeypatch):
    """The (training, validation) Triplets of every fit, recorded on their way into the loop."""
    from cmf._train import loop

    calls = []
    original = loop.train

    def record(data, valid, *args, **kwargs):
        calls.append((data, valid))
        return original(data, valid, *args, **kwargs)

    monkeypatch.setattr(loop, "train", record)
    return calls


def _model(**params):
    return cmf.MatrixFactorization(**{**dict(n_factors=2, max_epochs=2, dtype="float64", random_state=0), **params})


def _fit(model, method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return getattr(model, method)(*args, **kwargs)


# ----------------------------------------------------------------------
# fit(X, sample_weight=W)
# ----------------------------------------------------------------------
def test_dense_weights_are_read_at_the_observed_cells(seen):
    X = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, 2.0]])
    W = np.array([[0.5, np.nan, 2.0], [-7.0, 3.0, 1.5]])  # unobserved cells may hold anything
    _fit(_model(), "fit", X, sample_weight=W)
    data, _ = seen[-1]
    np.testing.assert_array_equal(data.weights, [0.5, 2.0, 3.0, 1.5])
    np.testing.assert_array_equal(data.values, [1.0, 3.0, 5.0, 2.0])


def test_sparse_weights_follow_the_sparse_entries(seen):
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.coo_matrix(([4.0, 1.0, 2.0], ([1, 0, 0], [0, 2, 1])), shape=(2, 3))
    W = sparse.coo_matrix(([0.25, 4.0, 2.0], ([1, 0, 0], [0, 2, 1])), shape=(2, 3))
    _fit(_model(), "fit", X, sample_weight=W)
    data, _ = seen[-1]
    # Row-major order: (0, 1), (0, 2), (1, 0).
    np.testing.assert_array_equal(data.values, [2.0, 1.0, 4.0])
    np.testing.assert_array_equal(data.weights, [2.0, 4.0, 0.25])
    _fit(_model(), "fit", X, sample_weight=W.toarray())
    np.testing.assert_array_equal(seen[-1][0].weights, [2.0, 4.0, 0.25])


@pytest.mark.parametrize("W, match", [
    (np.ones((2, 2)), r"sample_weight has shape \(2, 2\) but X has shape \(2, 3\)"),
    (np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]), r"sample_weight is 0 at the observed cell \(row 0, column 2\)"),
    (np.array([[1.0, 1.0, 1.0], [np.inf, 1.0, 1.0]]), r"is inf at the observed cell \(row 1, column 0\)"),
    (np.array([[1.0, -2.0, 1.0], [1.0, 1.0, 1.0]]), r"-2 at the observed cell.*finite and > 0"),
])
def test_bad_dense_weights_raise_and_leave_a_fitted_model_as_it_was(W, match):
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 2.0]])
    model = _fit(_model(), "fit", X)
    before = model.user_factors_.copy()
    with pytest.raises(ValueError, match=match):
        model.fit(X, sample_weight=W)
    np.testing.assert_array_equal(model.user_factors_, before)


def test_unit_weights_give_the_bits_of_no_weights():
    X = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 2.0], [5.0, 1.0, np.nan]])
    plain = _fit(_model(max_epochs=5), "fit", X)
    weighted = _fit(_model(max_epochs=5), "fit", X, sample_weight=np.ones(X.shape))
    np.testing.assert_array_equal(plain.user_factors_, weighted.user_factors_)
    np.testing.assert_array_equal(plain.item_bias_, weighted.item_bias_)


# ----------------------------------------------------------------------
# fit_triplets(sample_weight=w) and duplicates
# ----------------------------------------------------------------------
def test_triplet_weights_and_validation_weights(seen):
    _fit(_model(), "fit_triplets", [0, 1, 2], [1, 0, 1], [3.0, 4.0, 5.0], sample_weight=[1.0, 2.0, 0.5],
         validation=([0, 2], [0, 0], [2.0, 1.0], [3.0, 0.25]))
    data, valid = seen[-1]
    np.testing.assert_array_equal(data.weights, [1.0, 2.0, 0.5])
    np.testing.assert_array_equal(valid.weights, [3.0, 0.25])
    _fit(_model(), "fit_triplets", [0, 1], [1, 0], [3.0, 4.0], validation=([0], [0], [2.0]))
    assert seen[-1][0].weights is None and seen[-1][1].weights is None


@pytest.mark.parametrize("weights, match", [
    ([1.0, 2.0], r"one weight per observed entry, shape \(3,\), got shape \(2,\)"),
    ([1.0, np.nan, 1.0], "NaN or infinite weight at position 1"),
    ([1.0, 1.0, 0.0], "weight 0 at position 2; weights must be > 0"),
    (["a", "b", "c"], "sample_weight must hold numbers"),
])
def test_bad_triplet_weights_raise(weights, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _model().fit_triplets([0, 1, 2], [1, 0, 1], [3.0, 4.0, 5.0], sample_weight=weights)


def test_validation_weights_are_checked():
    with pytest.raises(ValueError, match="validation weights has the weight -1"):
        _model().fit_triplets([0, 1], [1, 0], [3.0, 4.0], validation=([0], [0], [2.0], [-1.0]))


def test_duplicates_last_keeps_the_last_weight_and_mean_weighs_the_values(seen):
    rows, cols = [0, 1, 0, 0, 1], [0, 1, 0, 0, 0]
    values, weights = [1.0, 2.0, 3.0, 5.0, 4.0], [1.0, 2.0, 3.0, 0.5, 4.0]
    _fit(_model(duplicates="last"), "fit_triplets", rows, cols, values, sample_weight=weights)
    data, _ = seen[-1]
    np.testing.assert_array_equal(data.values, [2.0, 5.0, 4.0])
    np.testing.assert_array_equal(data.weights, [2.0, 0.5, 4.0])
    _fit(_model(duplicates="mean"), "fit_triplets", rows, cols, values, sample_weight=weights)
    data, _ = seen[-1]
    # (0, 0): values 1, 3, 5 of weights 1, 3, 0.5: weighted mean 12.5 / 4.5, mean weight 4.5 / 3.
    np.testing.assert_allclose(data.values, [12.5 / 4.5, 2.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(data.weights, [1.5, 2.0, 4.0], rtol=1e-15)
    with pytest.raises(ValueError, match="repeat"):
        _model(duplicates="error").fit_triplets(rows, cols, values, sample_weight=weights)


# ----------------------------------------------------------------------
# Rating data sets
# ----------------------------------------------------------------------
def _ratings(n=40, seed=3):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, 6, n), rng.integers(0, 5, n)
    return rows, cols, rng.integers(1, 6, n).astype(float), rng.uniform(0.5, 3.0, n)


def test_a_validation_fraction_keeps_each_rating_with_its_weight(seen):
    rows, cols, values, weights = _ratings()
    data = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), values, (6, 5), weights=weights)
    _fit(_model(duplicates="keep", random_state=11), "fit_ratings", data, validation=0.25)
    train, valid = seen[-1]
    perm = np.random.default_rng(11).permutation(len(values))  # the split's documented permutation
    cut = len(values) - 10
    for part, index in ((train, perm[:cut]), (valid, perm[cut:])):
        np.testing.assert_array_equal(part.values, values[index])
        np.testing.assert_array_equal(part.weights, weights[index])
        np.testing.assert_array_equal(part.rows, rows[index])


def test_fit_ratings_sample_weight_replaces_the_data_sets_and_early_stopping_sees_weights(seen):
    rows, cols, values, weights = _ratings()
    data = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), values, (6, 5))
    test = data.subset(np.arange(5))
    test = RatingDataset(test.rows, test.cols, test.values, test.shape, weights=np.full(5, 2.0))
    _fit(_model(duplicates="keep", patience=2), "fit_ratings", data, validation=test, sample_weight=weights)
    train, valid = seen[-1]
    np.testing.assert_array_equal(train.weights, weights)
    np.testing.assert_array_equal(valid.weights, np.full(5, 2.0))
    with pytest.raises(ValueError, match=r"shape \(40,\), got shape \(3,\)"):
        _model().fit_ratings(data, sample_weight=[1.0, 2.0, 3.0])


def test_split_subset_and_dataframe_keep_weights():
    rows, cols, values, weights = _ratings()
    data = RatingDataset.from_labels(rows, cols, values, weights=weights)
    train, test = cmf.model_selection.train_test_split(data, 0.3, random_state=1)
    perm = np.random.default_rng(1).permutation(len(values))
    np.testing.assert_array_equal(test.weights, weights[perm[len(values) - 12:]])
    with pytest.raises(ValueError, match="weights must be > 0"):
        RatingDataset.from_labels([1], [2], [3.0], weights=[0.0])
    pd = pytest.importorskip("pandas")
    frame = data.to_dataframe()
    np.testing.assert_array_equal(frame["weight"].to_numpy(), weights)
    again = cmf.io.from_dataframe(frame, weight="weight")
    np.testing.assert_array_equal(again.weights, weights)
    assert cmf.io.from_dataframe(frame).weights is None  # never read unless named
    with pytest.raises(KeyError, match="no column 'w'"):
        cmf.io.from_dataframe(frame, weight="w")
    assert isinstance(frame, pd.DataFrame)


def test_partial_fit_takes_the_batchs_weights(seen):
    rows, cols, values, weights = _ratings()
    data = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), values, (6, 5), weights=weights)
    model = _fit(_model(duplicates="keep"), "fit_ratings", data.subset(np.arange(20)))
    _fit(model, "partial_fit", data.subset(np.arange(20, 40)), epochs=1)
    np.testing.assert_array_equal(seen[-1][0].weights, weights[20:])


# ----------------------------------------------------------------------
# Rating files and the command line
# ----------------------------------------------------------------------
def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_load_ratings_reads_a_weight_column(tmp_path):
    path = _write(tmp_path / "r.tsv", ["u1\ti1\t5\t2.5", "# note", "u2\ti1\t3\t0.5", "", "u1\ti2\t4\t1"])
    data = load_ratings(path, weight_column=3)
    np.testing.assert_array_equal(data.values, [5.0, 3.0, 4.0])
    np.testing.assert_array_equal(data.weights, [2.5, 0.5, 1.0])
    # A fourth column of whole numbers would be read as timestamps: as weights it is not.
    whole = _write(tmp_path / "w.tsv", ["1\t1\t5\t2", "2\t1\t3\t1"])
    assert load_ratings(whole).timestamps is not None
    got = load_ratings(whole, weight_column=3)
    assert got.timestamps is None and got.weights.tolist() == [2.0, 1.0]
    named = _write(tmp_path / "h.csv", ["user,item,rating,w", "1,1,5,2", "2,1,3,4"])
    assert load_ratings(named, weight_column="w").weights.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("lines, column, match", [
    (["1\t1\t5\t2", "2\t1\t3"], 3, r"line 2: .* too few fields for the weight column 3"),
    (["1\t1\t5\t2", "2\t1\t3\tx"], 3, r"line 2: .* no number in the weight column 3"),
    (["1\t1\t5\t2", "2\t1\t3\t-1"], 3, "weight -1 at position 1; weights must be > 0"),
    (["1\t1\t5\t2"], 1, "is the user or item column"),
    (["1\t1\t5\t2"], "w", "has no header line"),
])
def test_bad_weight_columns_raise(tmp_path, lines, column, match):
    path = _write(tmp_path / "r.tsv", lines)
    with pytest.raises(ValueError, match=match):
        load_ratings(path, weight_column=column)


def test_cli_train_and_evaluate_with_a_loss_and_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 30, 600), rng.integers(0, 20, 600)
    signs = np.where(rng.standard_normal((30, 2)) @ rng.standard_normal((20, 2)).T > 0, 1, 0)  # 0/1 labels
    lines = [f"{a}\t{b}\t{signs[a, b]}\t{w:.2f}" for a, b, w in zip(u, i, rng.uniform(0.5, 2.0, 600))]
    path = _write(tmp_path / "labels.tsv", lines)
    out = tmp_path / "m.npz"
    common = ["--factors", "3", "--epochs", "5", "--duplicates", "keep", "--loss", "logistic"]
    assert main(["train", str(path), *common, "--l1", "0.001", "--nonnegative", "--weight-column", "3",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "loss logistic: predictions are decision values" in text
    model = cmf.MatrixFactorization.load(out)
    assert (model.loss, model.l1, model.nonnegative) == ("logistic", 0.001, True)
    assert main(["evaluate", str(path), *common, "--folds", "2", "--weight-column", "3"]) == 0
    text = capsys.readouterr().out
    assert "log loss" in text and "accuracy" in text and "RMSE" not in text
    assert main(["train", str(path), *common[:-1], "hinge", "--weight-column", "1"]) == 1
    assert "is the user or item column" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(path), "--loss", "poisson"])
    assert "invalid choice: 'poisson'" in capsys.readouterr().err


def test_cli_refuses_ratings_for_a_classification_loss(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "r.tsv", ["1\t1\t5", "1\t2\t3", "2\t1\t4"])
    assert main(["train", str(path), "--loss", "hinge", "--epochs", "2", "--factors", "2"]) == 1
    # The advice is the command line's option, not Python code.
    err = capsys.readouterr().err
    assert "pass --threshold RATING" in err and "3, 4, 5" in err and "np.where" not in err


def test_the_gibbs_sampler_refuses_weights_it_would_ignore():
    model = cmf.BayesianMatrixFactorization(n_factors=2, random_state=0)
    with pytest.raises(ValueError, match="unweighted posterior: leave out sample_weight"):
        model.fit_triplets([0, 1, 1], [0, 0, 1], [3.0, 4.0, 5.0], sample_weight=[1.0, 2.0, 1.0])
    assert not model.__sklearn_is_fitted__()


@pytest.mark.parametrize("loss, unweighted, weighted", [
    ("squared", 11 / 3, 19 / 11),  # the (weighted) mean of the pair's ratings 1, 5, 5
    ("absolute", None, 1.0),  # the weighted median: 1 outweighs the two 5s
])
def test_weights_pull_a_repeated_pair_to_its_weighted_mean_or_median_in_shuffled_epochs(loss, unweighted, weighted):
    rows, cols = [0, 0, 0, 1, 1, 1, 0, 0], [0, 1, 2, 0, 1, 2, 0, 0]
    values = [1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 5.0, 5.0]
    params = dict(n_factors=1, loss=loss, duplicates="keep", regularization=0.0, bias_regularization=0.0,
                  learning_rate=0.01, max_epochs=3000, tol=0.0, dtype="float64", random_state=0)
    heavy = _fit(cmf.MatrixFactorization(**params), "fit_triplets", rows, cols, values,
                 sample_weight=[9.0, 1, 1, 1, 1, 1, 1, 1])
    assert heavy.predict(0, 0) == pytest.approx(weighted, abs=0.05)
    if unweighted is not None:
        plain = _fit(cmf.MatrixFactorization(**params), "fit_triplets", rows, cols, values)
        assert plain.predict(0, 0) == pytest.approx(unweighted, abs=0.15)


def test_cli_threshold_labels_ratings_for_a_classification_loss_and_kl_drops_the_biases(tmp_path, monkeypatch, capsys):
    # --threshold 4 makes ratings 4 and 5 the +1 labels, the rest -1: the
    # same model as fitting those labels from Python.
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    u, i, r = rng.integers(0, 20, 300), rng.integers(0, 15, 300), rng.integers(1, 6, 300)
    path = _write(tmp_path / "r.tsv", [f"{a}\t{b}\t{c}" for a, b, c in zip(u, i, r)])
    common = ["--factors", "2", "--epochs", "4", "--learning-rate", "0.05", "--duplicates", "keep", "--seed", "3"]
    assert main(["train", str(path), *common, "--loss", "logistic", "--threshold", "4", "--out", "c.npz"]) == 0
    cli = cmf.MatrixFactorization.load("c.npz")
    data = load_ratings(path, progress=False)
    py = cmf.MatrixFactorization(n_factors=2, max_epochs=4, learning_rate=0.05, duplicates="keep", random_state=3,
                                 loss="logistic").fit_triplets(data.rows, data.cols, np.where(data.values >= 4, 1, -1),
                                                               shape=data.shape)
    np.testing.assert_array_equal(cli.user_factors_, py.user_factors_)
    assert main(["train", str(path), *common, "--threshold", "4"]) == 1
    assert "--loss squared fits every rating" in capsys.readouterr().err
    assert main(["train", str(path), "--loss", "kl", "--nonnegative", "--epochs", "3", "--out", "k.npz"]) == 0
    assert cmf.MatrixFactorization.load("k.npz").biased is False


def test_cli_evaluate_thresholds_ratings_into_labels_as_train_does(tmp_path, capsys):
    rng = np.random.default_rng(2)
    u, i, r = rng.integers(0, 20, 300), rng.integers(0, 15, 300), rng.integers(1, 6, 300)
    path = _write(tmp_path / "r.tsv", [f"{a}\t{b}\t{c}" for a, b, c in zip(u, i, r)])
    common = ["--factors", "2", "--epochs", "4", "--learning-rate", "0.05", "--duplicates", "keep", "--seed", "3",
              "--folds", "2", "--loss", "logistic"]
    assert main(["evaluate", str(path), *common]) == 1
    assert "pass --threshold RATING" in capsys.readouterr().err
    assert main(["evaluate", str(path), *common, "--threshold", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # The figures of a classification loss, from the labels of ratings >= 4.
    assert set(result["metrics"]) == {"logloss", "accuracy"} and result["threshold"] == 4.0
    assert 0.0 <= result["metrics"]["accuracy"]["mean"] <= 1.0 and result["metrics"]["logloss"]["mean"] > 0


# ----------------------------------------------------------------------
# Weights far from 1: a weight multiplies its rating's step
# ----------------------------------------------------------------------
def test_weight_hint_names_the_mean_weight_and_the_division_only_far_from_one():
    assert weight_hint(None) == weight_hint(1.0) == weight_hint(0.1) == weight_hint(10.0) == ""
    for mean, shown in ((8.84e8, "8.84e+08"), (0.001, "0.001"), (11.0, "11")):
        hint = weight_hint(mean)
        assert f"the sample weights average {shown}" in hint and f"Divide the weights by {shown}," in hint
        assert "step size x weight x error" in hint


def _random_ratings(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 30, n), rng.integers(0, 20, n), rng.integers(1, 6, n).astype(float)


def test_timestamps_taken_for_weights_fail_with_the_cause_and_the_fix():
    # Weights of 1e9 make every step a billion times too large: no epoch
    # is kept, and the error says why, whatever max_epochs ends the fit.
    rows, cols, values = _random_ratings()
    for max_epochs, said in ((5, "all 5 epochs raised"), (100, "20 epochs in a row")):
        model = _model(n_factors=4, max_epochs=max_epochs, duplicates="keep")
        with pytest.raises(cmf.DivergenceError, match=said) as info:
            model.fit_triplets(rows, cols, values, sample_weight=np.full(len(values), 1e9))
        assert "the sample weights average 1e+09" in str(info.value)
        assert "Divide the weights by 1e+09" in str(info.value)
        # The weights are the likely cause: their hint comes before the generic advice.
        text = str(info.value)
        assert text.index("The likely cause: the sample weights") < text.index("larger regularization")
        assert "Otherwise, use a larger regularization" in text
        # Every epoch run is recorded on the error, the last one too; the model stays unfitted.
        assert info.value.epoch == len(info.value.history["kept"]) <= max_epochs
        assert info.value.history["kept"] == [0.0] * info.value.epoch
        assert not model.__sklearn_is_fitted__()


def test_a_constant_step_diverging_on_large_weights_leads_with_them():
    rows, cols, values = _random_ratings()
    model = _model(n_factors=4, learning_rate=0.01, duplicates="keep")
    with pytest.raises(cmf.DivergenceError, match="smaller learning_rate") as info:
        model.fit_triplets(rows, cols, values, sample_weight=np.full(len(values), 1e9))
    text = str(info.value)
    assert text.startswith("SGD diverged at epoch 1: the training loss became NaN or infinite. The likely cause: "
                           "the sample weights average 1e+09")
    assert text.index("Divide the weights by 1e+09") < text.index("Otherwise, use a smaller learning_rate")
    assert text.endswith("; the model is left as it was before the fit.")


def test_tiny_weights_are_named_when_the_fit_stops_at_max_epochs():
    rows, cols, values = _random_ratings()
    with pytest.warns(cmf.ConvergenceWarning, match="max_epochs=5") as caught:
        _model(n_factors=4, max_epochs=5, duplicates="keep").fit_triplets(
            rows, cols, values, sample_weight=np.full(len(values), 1e-3))
    assert "the sample weights average 0.001" in str(caught[0].message)
    with pytest.warns(cmf.ConvergenceWarning) as caught:  # weights of about 1: no word on them
        _model(n_factors=4, max_epochs=5, duplicates="keep").fit_triplets(
            rows, cols, values, sample_weight=np.full(len(values), 2.0))
    assert "sample weights" not in str(caught[0].message)


def test_a_continued_fit_that_keeps_no_epoch_keeps_its_model_and_says_so():
    # partial_fit starts from a fitted model: when every epoch rises and is
    # undone, that model stands (a warning), where a fit from a random
    # start has nothing to keep (a DivergenceError).
    rows, cols, values = _random_ratings()
    model = _fit(_model(n_factors=4, max_epochs=30, duplicates="keep"), "fit_triplets", rows, cols, values)
    before = (model.user_factors_.copy(), model.item_factors_.copy(), model.user_bias_.copy())
    model.set_params(max_epochs=3)
    batch = RatingDataset(rows.astype(np.int32), cols.astype(np.int32), values, (30, 20),
                          weights=np.full(len(values), 1e9))
    with pytest.warns(cmf.ConvergenceWarning, match="all 3 epochs raised the training loss and were undone") as w:
        model.partial_fit(batch)
    assert "the one training continued from" in str(w[0].message) and "average 1e+09" in str(w[0].message)
    assert model.history_["kept"] == [0.0] * 3
    for got, want in zip((model.user_factors_, model.item_factors_, model.user_bias_), before):
        np.testing.assert_array_equal(got, want)
    # Past MAX_CUTS epochs in a row it is a divergence: the model still
    # stands, its count and history too (those of the warned run above);
    # the error's history holds every epoch run, the last too.
    with pytest.raises(cmf.DivergenceError, match=f"{MAX_CUTS} epochs in a row, up to epoch {MAX_CUTS},") as info:
        model.partial_fit(batch, epochs=MAX_CUTS + 5)
    assert info.value.epoch == MAX_CUTS and info.value.history["kept"] == [0.0] * MAX_CUTS
    assert model.n_epochs_ == 3 and model.history_["kept"] == [0.0] * 3
    for got, want in zip((model.user_factors_, model.item_factors_, model.user_bias_), before):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------
# mu with weights: the weighted mean
# ----------------------------------------------------------------------
def test_mu_is_the_correctly_rounded_weighted_mean():
    from fractions import Fraction

    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, 40, 500), rng.integers(0, 30, 500)
    values = rng.integers(1, 6, 500).astype(np.float32) + rng.random(500).astype(np.float32)
    weights = rng.uniform(0.2, 3.0, 500).astype(np.float32)
    model = _fit(_model(max_epochs=2, duplicates="keep"), "fit_triplets", rows, cols, values, sample_weight=weights)
    exact = sum(Fraction(float(w)) * Fraction(float(v)) for w, v in zip(weights, values)) / sum(
        Fraction(float(w)) for w in weights)
    assert model.global_mean_ == float(exact)
    # Not the plain mean: the weights move it.
    assert abs(model.global_mean_ - float(np.mean(values, dtype=np.float64))) > 1e-3


def test_integer_weights_give_the_mean_of_the_repeated_ratings():
    rows, cols = np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 0, 2])
    values, weights = np.array([1.0, 5.0, 4.0, 2.0, 3.0]), np.array([3, 1, 2, 1, 4])
    weighted = _fit(_model(max_epochs=2), "fit_triplets", rows, cols, values, sample_weight=weights.astype(float))
    repeated = _fit(_model(max_epochs=2, duplicates="keep"), "fit_triplets", np.repeat(rows, weights),
                    np.repeat(cols, weights), np.repeat(values, weights))
    assert weighted.global_mean_ == repeated.global_mean_ == (3 * 1 + 5 + 2 * 4 + 2 + 4 * 3) / 11


def test_weighted_mean_of_values_near_the_float64_limit_does_not_overflow():
    from cmf._train.stats import weighted_mean

    values = np.array([1e308, 1.5e308, -2e307])
    weights = np.array([2.0, 1.0, 1.0])
    assert weighted_mean(values, weights) == pytest.approx(0.5e308 + 0.375e308 - 0.05e308, rel=1e-15)  # (2e308 + 1.5e308 - 2e307) / 4
