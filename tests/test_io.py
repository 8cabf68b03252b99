"""Reading rating files and DataFrames."""

import os

import numpy as np
import pytest

from cmf.datasets import RatingData, make_ratings
from cmf.io import ParseError, RatingDataset, as_dataset, from_dataframe, guess_format, load_pairs, load_ratings


TRIPLES = [("10", "100", "4"), ("20", "100", "3"), ("10", "300", "5"), ("30", "200", "1.5")]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_triples(data, user_kind=int):
    """The data set holds TRIPLES, whatever the label kind."""
    users = data.user_labels.labels[data.rows]
    items = data.item_labels.labels[data.cols]
    got = sorted(zip(map(str, users), map(str, items), data.values.tolist()))
    want = sorted((u, i, float(r)) for u, i, r in TRIPLES)
    assert got == want
    assert data.shape == (3, 3)
    assert data.rows.dtype == np.int32 and data.cols.dtype == np.int32
    assert isinstance(users[0].item(), user_kind)


@pytest.mark.parametrize(
    "name, text, fmt",
    [
        ("u.data", "".join(f"{u}\t{i}\t{r}\t881250949\n" for u, i, r in TRIPLES), "movielens"),
        ("ratings.dat", "".join(f"{u}::{i}::{r}::978300760\n" for u, i, r in TRIPLES), "movielens-dat"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},{r},1\n" for u, i, r in TRIPLES),
         "movielens-csv"),
        ("train.txt", "".join(f"{u} {i} {r}\n" for u, i, r in TRIPLES), "libmf"),
        ("plain.csv", "".join(f"{u},{i},{r}\n" for u, i, r in TRIPLES), "csv"),
        ("plain.tsv", "".join(f"{u}\t{i}\t{r}\n" for u, i, r in TRIPLES), "tsv"),
    ],
)
def test_formats_are_guessed_and_read(tmp_path, name, text, fmt):
    path = write(tmp_path, name, text)
    assert guess_format(path) == fmt
    data = load_ratings(path)
    check_triples(data)
    assert data.source == os.fspath(path)
    # an explicit format gives the same result
    again = load_ratings(path, format=fmt)
    np.testing.assert_array_equal(again.values, data.values)


def test_format_override_beats_the_guess(tmp_path):
    # a .csv name, but the content is LIBMF text
    path = write(tmp_path, "odd.csv", "".join(f"{u} {i} {r}\n" for u, i, r in TRIPLES))
    check_triples(load_ratings(path, format="libmf"))


def test_generic_csv_with_named_columns_and_string_labels(tmp_path):
    text = "stars;sku;who\n4;p-1;ann\n2;p-2;bob\n5;p-1;bob\n"
    data = load_ratings(write(tmp_path, "x.csv", text), format="csv", sep=";", columns=("who", "sku", "stars"))
    assert data.user_labels.labels.tolist() == ["ann", "bob"]
    assert data.item_labels.labels.tolist() == ["p-1", "p-2"]
    users = data.user_labels.labels[data.rows].tolist()
    items = data.item_labels.labels[data.cols].tolist()
    assert sorted(zip(users, items, data.values.tolist())) == [("ann", "p-1", 4.0), ("bob", "p-1", 5.0), ("bob", "p-2", 2.0)]


def test_generic_columns_by_position_and_header_aliases(tmp_path):
    text = "ts\titem_id\tuser_id\trating\n1\t7\t1\t3\n1\t8\t2\t4\n"
    by_name = load_ratings(write(tmp_path, "a.tsv", text), format="tsv")
    assert by_name.user_labels.labels.tolist() == [1, 2] and by_name.item_labels.labels.tolist() == [7, 8]
    by_pos = load_ratings(write(tmp_path, "b.tsv", text), format="tsv", columns=(2, 1, 3), header=True)
    np.testing.assert_array_equal(by_pos.values, by_name.values)


def test_leading_zeros_keep_string_labels_and_comments_blank_lines_skipped(tmp_path):
    text = "# a comment\n\n007 1 3\n7 1 4\n"
    data = load_ratings(write(tmp_path, "z.txt", text))
    assert data.user_labels.labels.tolist() == ["007", "7"]


def test_unparseable_rating_names_file_and_line(tmp_path):
    path = write(tmp_path, "u.data", "1\t1\t5\t0\n\n2\t1\tfive\t0\n")
    with pytest.raises(ParseError, match=r"u\.data, line 3: the rating 'five'") as info:
        load_ratings(path)
    assert info.value.line == 3


def test_short_line_names_file_and_line(tmp_path):
    path = write(tmp_path, "r.dat", "1::2::3::4\n1::2\n")
    with pytest.raises(ParseError, match=r"line 2: expected at least 3 fields"):
        load_ratings(path)


def test_non_finite_rating_rejected(tmp_path):
    with pytest.raises(ParseError, match="line 2"):
        load_ratings(write(tmp_path, "r.txt", "1 1 3\n1 2 nan\n"))


@pytest.mark.parametrize(
    "text, match",
    [("", "no ratings"), ("# only a comment\n", "no ratings"), ("userId,movieId,rating\n", "header but no ratings")],
)
def test_empty_files(tmp_path, text, match):
    with pytest.raises(ParseError, match=match):
        load_ratings(write(tmp_path, "e.csv", text))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such rating file"):
        load_ratings(tmp_path / "nope.data")
    with pytest.raises(IsADirectoryError):
        load_ratings(tmp_path, format="libmf")


def test_bad_options(tmp_path):
    path = write(tmp_path, "x.txt", "1 1 3\n")
    with pytest.raises(ValueError, match="unknown format"):
        load_ratings(path, format="parquet")
    with pytest.raises(ValueError, match="3 columns"):
        load_ratings(path, columns=(0, 1))
    with pytest.raises(ValueError, match="need a header"):
        load_ratings(path, columns=("u", "i", "r"), header=False)
    with pytest.raises(ParseError, match="no user column"):
        load_ratings(write(tmp_path, "h.csv", "a,b,c\n1,2,3\n"), columns=("user", "b", "c"))
    with pytest.raises(TypeError, match="positions"):
        load_ratings(path, columns=(0, True, 2))


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"1 1 3\n\xff\xfe 2 4\n")
    with pytest.raises(ParseError, match="UTF-8"):
        load_ratings(path)


def test_dataframe_input():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"UserId": ["u2", "u1", "u2"], "item": [10, 20, 20], "score": [1.0, 2.0, 3.0]})
    for data in (from_dataframe(df), load_ratings(df), as_dataset(df)):
        assert data.user_labels.labels.tolist() == ["u1", "u2"]
        assert data.item_labels.labels.tolist() == [10, 20]
        assert data.values.tolist() == [1.0, 2.0, 3.0]
        assert data.rows.tolist() == [1, 0, 1]
    back = from_dataframe(df).to_dataframe()
    assert back["user"].tolist() == ["u2", "u1", "u2"] and back["item"].tolist() == [10, 20, 20]


def test_dataframe_errors():
    pd = pytest.importorskip("pandas")
    with pytest.raises(KeyError, match="no user column"):
        from_dataframe(pd.DataFrame({"a": [1], "item": [1], "rating": [1.0]}))
    with pytest.raises(KeyError, match="no column 'who'"):
        from_dataframe(pd.DataFrame({"user": [1], "item": [1], "rating": [1.0]}), user="who")
    with pytest.raises(ValueError, match="missing or infinite rating at row 1"):
        from_dataframe(pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [1.0, None]}))
    with pytest.raises(ValueError, match="numeric"):
        from_dataframe(pd.DataFrame({"user": [1], "item": [1], "rating": ["good"]}))
    with pytest.raises(ValueError, match="missing values"):
        from_dataframe(pd.DataFrame({"user": ["a", None], "item": [1, 1], "rating": [1.0, 2.0]}))


def test_as_dataset_forms():
    gen = make_ratings(30, 20, 100, rank=2, random_state=0)
    data = as_dataset(gen)
    assert not data.labelled and data.shape == (30, 20) and len(data) == 100
    tup = as_dataset((np.array([0, 2]), np.array([1, 1]), np.array([3.0, 4.0])))
    assert tup.shape == (3, 2)
    with pytest.raises(TypeError, match="RatingDataset"):
        as_dataset([1, 2, 3])
    assert "indexed" in repr(data)


def test_make_ratings_returns_the_one_rating_record():
    gen = make_ratings(30, 20, 100, rank=2, random_state=0)
    assert isinstance(gen, RatingDataset) and as_dataset(gen) is gen and RatingData is RatingDataset
    assert len(gen) == 100 and gen.shape == (30, 20) and not gen.labelled and gen.source is None
    rows, cols, values, shape = gen  # unpacks like the record it returned before
    assert rows is gen.rows and cols is gen.cols and values is gen.values and shape == (30, 20)
    assert rows.dtype == np.int32 and cols.dtype == np.int32 and values.dtype == np.float32
    triplets = gen.triplets(np.float64)
    np.testing.assert_array_equal(triplets.values, gen.values.astype(np.float64))
    assert make_ratings(5, 4, 6, rank=1, dtype=np.float64, random_state=0).values.dtype == np.float64


def test_load_pairs(tmp_path):
    users, items = load_pairs(write(tmp_path, "p.tsv", "1\t10\n2\t20\textra\n"))
    assert users.tolist() == [1, 2] and items.tolist() == [10, 20]
    users, items = load_pairs(write(tmp_path, "p.csv", "ann,x\n"))
    assert users.tolist() == ["ann"] and items.tolist() == ["x"]
    with pytest.raises(ParseError, match="line 2"):
        load_pairs(write(tmp_path, "bad.txt", "1 2\n3\n"))
    with pytest.raises(ParseError, match="no pairs"):
        load_pairs(write(tmp_path, "none.txt", "\n"))


def test_movielens_100k(movielens_path):
    data = load_ratings(movielens_path)
    assert len(data) == 100_000 and data.shape == (943, 1682)
    raw = np.loadtxt(movielens_path, dtype=np.int64, max_rows=5)
    np.testing.assert_array_equal(data.user_labels.labels[data.rows[:5]], raw[:, 0])
    np.testing.assert_array_equal(data.item_labels.labels[data.cols[:5]], raw[:, 1])
    np.testing.assert_array_equal(data.values[:5], raw[:, 2])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_pairs_are_read_from_a_pipe_which_can_be_read_only_once(tmp_path, read_through_fifo):
    # ``cmf predict MODEL <(cut -f1,2 u.data)`` passes a FIFO: guessing the
    # separator must not consume the data.
    users, items = read_through_fifo(tmp_path, "196\t242\n186\t302\n", load_pairs)
    assert users.tolist() == [196, 186] and items.tolist() == [242, 302]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_ratings_are_read_from_a_pipe(tmp_path, read_through_fifo):
    text = "\ufeffuser\titem\trating\n196\t242\t3\n186\t302\t4.5\n"
    data = read_through_fifo(tmp_path, text, lambda path: load_ratings(path, format="tsv"))
    assert data.user_labels.labels[data.rows].tolist() == [196, 186]
    assert data.item_labels.labels[data.cols].tolist() == [242, 302] and data.values.tolist() == [3.0, 4.5]
