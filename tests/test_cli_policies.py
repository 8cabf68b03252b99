"""The command line's data policies: repeated pairs, the rating scale, clipping and unknown ids.

Expected numbers come from the saved model's arrays with NumPy (global mean
plus biases plus the factors' dot product), not from the code under test.
"""

import json

import numpy as np
import pytest

from cmf import MatrixFactorization
from cmf.cli import main

FAST = ["--factors", "3", "--epochs", "30", "--learning-rate", "0.05", "--seed", "1"]


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory):
    """Six users (1..6) x four items (11..14), ratings 1-5, each pair once."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "u.data"
    lines = [f"{u}\t{i}\t{int(rng.integers(1, 6))}\t0" for u in range(1, 7) for i in range(11, 15) if (u + i) % 5]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def model_file(ratings_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m.npz"
    assert main(["train", str(ratings_file), *FAST, "--out", str(out), "--quiet"]) == 0
    return out


def _raw(model, user, item):
    """mu + b_u + c_i + p_u . q_i, or the fallback mu + known bias, from the saved arrays."""
    users, items = list(model.user_labels_), list(model.item_labels_)
    score = model.global_mean_
    if user in users:
        score += model.user_bias_[users.index(user)]
    if item in items:
        score += model.item_bias_[items.index(item)]
    if user in users and item in items:
        score += float(model.user_factors_[users.index(user)] @ model.item_factors_[items.index(item)])
    return float(score)


def test_predict_falls_back_for_unknown_ids_and_says_how_many(model_file, tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t11\n1\t99\n77\t12\n")
    assert main(["predict", str(model_file), str(pairs), "--no-clip"]) == 0
    captured = capsys.readouterr()
    model = MatrixFactorization.load(model_file)
    got = [float(line.split("\t")[2]) for line in captured.out.splitlines()]
    expected = [_raw(model, 1, 11), _raw(model, 1, 99), _raw(model, 77, 12)]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert "2 of 3 pairs have a user or item the model does not know" in captured.err

    assert main(["predict", str(model_file), str(pairs), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["known"] for row in rows] == [True, False, False]


def test_predict_skip_leaves_unknown_pairs_out_and_error_refuses_them(model_file, tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t11\n1\t99\n2\t12\n")
    assert main(["predict", str(model_file), str(pairs), "--unknown", "skip"]) == 0
    captured = capsys.readouterr()
    assert [line.split("\t")[:2] for line in captured.out.splitlines()] == [["1", "11"], ["2", "12"]]
    assert "1 of 3 pairs" in captured.err and "left out" in captured.err

    assert main(["predict", str(model_file), str(pairs), "--unknown", "error"]) == 1
    err = capsys.readouterr().err
    assert "unknown item 99" in err and "--unknown fallback" in err


def test_predictions_and_recommendations_are_clipped_to_the_training_scale(tmp_path, capsys):
    # Ratings of 1 and 5 only, a strong item bias: raw scores leave [1, 5].
    path = tmp_path / "polar.data"
    path.write_text("".join(f"{u}\t{i}\t{5 if i < 3 else 1}\t0\n" for u in range(1, 9) for i in range(1, 6)
                            if (u, i) != (1, 1) and (u, i) != (1, 5)))
    out = tmp_path / "polar.npz"
    assert main(["train", str(path), "--factors", "2", "--epochs", "200", "--learning-rate", "0.1",
                 "--regularization", "0", "--out", str(out), "--quiet"]) == 0
    model = MatrixFactorization.load(out)
    assert model.rating_scale_ == (1.0, 5.0)
    raw = [_raw(model, 1, 1), _raw(model, 1, 5)]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 1\n1 5\n")
    assert main(["predict", str(out), str(pairs)]) == 0
    got = [float(line.split("\t")[2]) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(got, np.clip(raw, 1, 5), atol=1e-4)
    assert main(["predict", str(out), str(pairs), "--no-clip"]) == 0
    got = [float(line.split("\t")[2]) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(got, raw, atol=1e-4)

    assert main(["recommend", str(out), "--user", "1", "-n", "2", "--json", "--shrinkage", "0"]) == 0
    clipped = json.loads(capsys.readouterr().out)
    assert main(["recommend", str(out), "--user", "1", "-n", "2", "--json", "--no-clip", "--shrinkage", "0"]) == 0
    unclipped = json.loads(capsys.readouterr().out)
    assert clipped["items"] == unclipped["items"] == [1, 5]  # the unseen items, best first
    np.testing.assert_allclose(unclipped["scores"], raw, atol=1e-4)
    np.testing.assert_allclose(clipped["scores"], np.clip(raw, 1, 5), atol=1e-4)


def test_repeated_pairs_are_counted_once_for_the_file_and_follow_duplicates(tmp_path, capsys):
    path = tmp_path / "dup.data"
    path.write_text("1\t11\t1\t0\n2\t11\t3\t0\n1\t11\t5\t0\n2\t12\t4\t0\n1\t12\t2\t0\n2\t12\t4\t0\n")
    assert main(["evaluate", str(path), "--folds", "2", "--factors", "2", "--epochs", "5", "--threshold", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("2 ratings repeat a (user, item) pair") == 1 and "--duplicates keep" in err

    assert main(["train", str(path), "--epochs", "5", "--duplicates", "keep"]) == 0
    assert "repeat" not in capsys.readouterr().err

    assert main(["train", str(path), "--epochs", "5", "--duplicates", "error"]) == 1
    err = capsys.readouterr().err
    assert "2 ratings repeat" in err and "user 1, item 11" in err

    out = tmp_path / "mean.npz"
    assert main(["train", str(path), "--epochs", "5", "--duplicates", "mean", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ratings"] == 6  # the file's lines; the fit merges them
    assert MatrixFactorization.load(out).duplicates == "mean"


def test_rating_scale_refuses_ratings_outside_it_and_is_stored(ratings_file, tmp_path, capsys):
    bad = tmp_path / "bad.data"
    bad.write_text("1\t11\t4\t0\n2\t11\t7\t0\n")
    assert main(["train", str(bad), "--epochs", "3", "--rating-scale", "1", "5"]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "7" in err and "--rating-scale" in err

    assert main(["train", str(ratings_file), "--epochs", "3", "--rating-scale", "5", "1"]) == 1
    assert "--rating-scale 5 1: LOW must be below HIGH" in capsys.readouterr().err

    assert main(["train", str(ratings_file), "--epochs", "3"]) == 0
    assert "ratings 1 to 5, to which predictions are clipped" in capsys.readouterr().out

    out = tmp_path / "scaled.npz"
    assert main(["train", str(ratings_file), "--epochs", "3", "--rating-scale", "0.5", "5", "--out", str(out),
                 "--quiet"]) == 0
    assert MatrixFactorization.load(out).rating_scale_ == (0.5, 5.0)


def _tab_lines(sep="\t"):
    return "".join(f"{u}{sep}{i}{sep}{(u * i) % 5 + 1}{sep}0\n" for u in (196, 186, 22) for i in (242, 302, 377))


def test_a_byte_order_mark_does_not_turn_ids_into_text(tmp_path, capsys):
    path = tmp_path / "bom.data"
    path.write_bytes(b"\xef\xbb\xbf" + _tab_lines().encode())
    out = tmp_path / "bom.npz"
    assert main(["train", str(path), "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    assert MatrixFactorization.load(out).user_labels_.tolist() == [22, 186, 196]
    assert main(["recommend", str(out), "--user", "196", "--include-seen", "-n", "1"]) == 0


def test_a_header_line_is_skipped_and_no_header_suggests_header(tmp_path, capsys):
    path = tmp_path / "named.tsv"
    path.write_text("user\titem\trating\ttimestamp\n" + _tab_lines())
    assert main(["train", str(path), "--epochs", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ratings"] == 9
    assert main(["train", str(path), "--epochs", "3", "--no-header"]) == 1
    err = capsys.readouterr().err
    assert "line 1" in err and "--header" in err


def test_another_separator_is_named_with_the_option_to_pass(tmp_path, capsys):
    path = tmp_path / "semicolons.txt"
    path.write_text(_tab_lines(";"))
    assert main(["train", str(path), "--epochs", "3"]) == 1
    assert "--sep ';'" in capsys.readouterr().err
    assert main(["train", str(path), "--epochs", "3", "--sep", ";", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ratings"] == 9


def test_columns_option_reads_a_file_whose_timestamps_are_bad_as_its_error_says(ratings_file, tmp_path, capsys):
    # The reader's hint named only the Python parameter; the command line now
    # has the option it names, and the three columns train as the file's do.
    bad = tmp_path / "u.data"
    lines = ratings_file.read_text().splitlines()
    lines[5] = lines[5][:-1] + "later"  # a timestamp on the sixth line that is not a number
    bad.write_text("\n".join(lines) + "\n")
    assert main(["train", str(bad), *FAST, "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "timestamp 'later' is not an integer" in error and "(--columns 0,1,2)" in error
    out_bad, out_good = tmp_path / "bad.npz", tmp_path / "good.npz"
    assert main(["train", str(bad), *FAST, "--columns", "0,1,2", "--out", str(out_bad), "--quiet"]) == 0
    assert main(["train", str(ratings_file), *FAST, "--out", str(out_good), "--quiet"]) == 0
    a, b = MatrixFactorization.load(out_bad), MatrixFactorization.load(out_good)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


@pytest.mark.parametrize("text", ["0,1", "0,1,2,3,4", "0,,2"])
def test_columns_option_must_name_three_or_four_columns(ratings_file, text, capsys):
    with pytest.raises(SystemExit):
        main(["train", str(ratings_file), "--columns", text])
    assert "--columns: must name the user, item and rating columns" in capsys.readouterr().err


def test_predict_says_an_unbiased_model_predicts_unknown_pairs_as_zero(ratings_file, tmp_path, capsys):
    """A KL model has no mean or biases: its fallback is 0, and the note must not name a mean."""
    out = tmp_path / "kl.npz"
    assert main(["train", str(ratings_file), *FAST, "--loss", "kl", "--nonnegative", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t11\n1\t99\n")
    assert main(["predict", str(out), str(pairs), "--no-clip"]) == 0
    captured = capsys.readouterr()
    model = MatrixFactorization.load(out)
    assert model.global_mean_ == 0.0
    got = [float(line.split("\t")[2]) for line in captured.out.splitlines()]
    np.testing.assert_allclose(got, [float(model.user_factors_[0] @ model.item_factors_[0]), 0.0], atol=1e-4)
    assert "predicted as 0, since the model has no global mean or biases" in captured.err
    assert "global mean and the known biases" not in captured.err


def test_predict_says_a_classification_model_falls_back_on_its_biases_alone(ratings_file, tmp_path, capsys):
    """A logistic model's global mean is fixed at 0: an unknown item gets the user's bias, and the note says so."""
    out = tmp_path / "logistic.npz"
    assert main(["train", str(ratings_file), *FAST, "--loss", "logistic", "--threshold", "3", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t11\n1\t99\n")
    assert main(["predict", str(out), str(pairs)]) == 0
    captured = capsys.readouterr()
    model = MatrixFactorization.load(out)
    assert model.global_mean_ == 0.0
    got = [float(line.split("\t")[2]) for line in captured.out.splitlines()]
    assert got[1] == pytest.approx(float(model.user_bias_[0]), abs=1e-4)
    assert "predicted from the known biases alone, since the model has no global mean" in captured.err
    assert "global mean and the known biases" not in captured.err
