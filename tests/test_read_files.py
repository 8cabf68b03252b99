"""Rating files read by the C tokenizer: chunks, label coding and the clean-data rules.

Expected values come from the text written in each test or from NumPy
parsing the same numbers, never from the reader itself.
"""

import gzip

import numpy as np
import pytest

import cmf._layout
import cmf._textread
from cmf.io import ParseError, load_pairs, load_ratings
from cmf.model_selection import train_test_split


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def triples(data):
    """(user label, item label, rating) of every rating, in file order."""
    users = data.user_labels.labels[data.rows].tolist()
    items = data.item_labels.labels[data.cols].tolist()
    return list(zip(users, items, data.values.tolist()))


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Reads of a few bytes and tokenizer buffers of 3 records, to cross every boundary."""
    monkeypatch.setattr(cmf._layout, "HEAD_BYTES", 5)
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", 7)
    monkeypatch.setattr(cmf._textread, "CAPACITY", 3)


def test_bom_is_stripped_so_integer_labels_stay_integers(tmp_path):
    path = write(tmp_path, "u.data", "\ufeff196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    data = load_ratings(path)
    assert data.user_labels.labels.tolist() == [186, 196]
    assert data.user_labels.labels.dtype == np.int64


@pytest.mark.parametrize(
    "name, text",
    [
        ("u.data", "user\titem\trating\ttimestamp\n1\t10\t4\t5\n2\t20\t3\t6\n"),
        ("ratings.dat", "user::item::rating\n1::10::4\n2::20::3\n"),
        ("train.txt", "user item rating\n1 10 4\n2 20 3\n"),
        ("plain.csv", "\ufeffuser,item,rating\n1,10,4\n2,20,3\n"),
    ],
)
def test_header_line_is_detected_in_every_format(tmp_path, name, text):
    data = load_ratings(write(tmp_path, name, text))
    assert triples(data) == [(1, 10, 4.0), (2, 20, 3.0)]


def test_a_first_line_with_a_nan_rating_is_an_error_not_a_header(tmp_path):
    with pytest.raises(ParseError, match="line 1: the rating 'nan' is not a finite number"):
        load_ratings(write(tmp_path, "u.data", "1\t1\tnan\n1\t2\t3\n"))


def test_a_first_line_of_whole_ids_and_a_broken_rating_is_an_error_not_a_header(tmp_path):
    # Taken for a header, the line would be skipped and the rating lost in silence.
    path = write(tmp_path, "u.data", "1\t2\tfive\t0\n1\t3\t4\t0\n")
    with pytest.raises(ParseError, match=r"line 1: the rating 'five' is not a finite number.*header=True \(--header\)"):
        load_ratings(path)
    assert triples(load_ratings(path, header=True)) == [(1, 3, 4.0)]
    # Ids that are names leave such a line a header, as before.
    assert triples(load_ratings(write(tmp_path, "named.tsv", "u1\ti1\tscore\n1\t3\t4\n"), format="tsv")) == [
        (1, 3, 4.0)]


def test_header_false_with_a_header_line_suggests_header_true(tmp_path):
    path = write(tmp_path, "u.data", "# made by hand\nuser\titem\trating\n1\t10\t4\n")
    with pytest.raises(ParseError, match=r"line 2: the rating 'rating' is not a finite number.*header=True \(--header\)"):
        load_ratings(path, header=False)


@pytest.mark.parametrize("sep", [";", "|"])
def test_too_few_fields_names_the_separator_the_line_uses(tmp_path, sep):
    path = write(tmp_path, "r.csv", f"1{sep}10{sep}4\n")
    with pytest.raises(ParseError, match=rf"line 1: expected at least 3 fields separated by commas, found 1.*"
                                         rf"separated by '\{sep}'\? pass sep='\{sep}' \(--sep '\{sep}'\)"):
        load_ratings(path)
    assert triples(load_ratings(path, sep=sep)) == [(1, 10, 4.0)]


def test_spaces_in_a_tab_file_are_named(tmp_path):
    path = write(tmp_path, "u.data", "1\t10\t4\n2 20 3\n")
    with pytest.raises(ParseError, match=r"line 2: .*white space\? pass format='libmf'"):
        load_ratings(path)


def test_timestamps_are_kept_and_follow_subsets_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 30, 200), rng.integers(1, 40, 200)
    stamps = users * 1000 + items  # a function of the pair, checkable after any split
    text = "".join(f"{u}\t{i}\t{1 + (u + i) % 5}\t{t}\n" for u, i, t in zip(users, items, stamps))
    data = load_ratings(write(tmp_path, "u.data", text))
    assert data.timestamps.dtype == np.int64
    np.testing.assert_array_equal(data.timestamps, stamps)
    train, test = train_test_split(data, test_size=0.25, random_state=0)
    for part in (train, test, data.subset(np.arange(10))):
        expected = data.user_labels.labels[part.rows] * 1000 + data.item_labels.labels[part.cols]
        np.testing.assert_array_equal(part.timestamps, expected)
    assert len(train.timestamps) + len(test.timestamps) == 200


def test_timestamp_column_by_header_name_or_position(tmp_path):
    text = "ts,userId,movieId,rating\n7,1,10,4.5\n8,2,10,3\n"
    data = load_ratings(write(tmp_path, "r.csv", text))
    assert data.timestamps.tolist() == [7, 8] and data.values.tolist() == [4.5, 3.0]
    plain = write(tmp_path, "p.csv", "1,10,4,x,70\n2,10,3,y,80\n")
    assert load_ratings(plain).timestamps is None  # a fourth column that is not a number
    assert load_ratings(plain, columns=(0, 1, 2, 4)).timestamps.tolist() == [70, 80]
    with pytest.raises(ParseError, match=r"line 1: the timestamp 'x' is not an integer; pass columns=\(0, 1, 2\)"):
        load_ratings(plain, columns=(0, 1, 2, 3))


def test_rating_outside_the_declared_scale_names_file_and_line(tmp_path):
    path = write(tmp_path, "u.data", "1\t1\t5\n1\t2\t1\n\n2\t1\t-3\n")
    assert len(load_ratings(path, rating_scale=(-5, 5))) == 3
    with pytest.raises(ParseError, match=r"u\.data, line 4: the rating '-3' is outside rating_scale=\(1, 5\)") as info:
        load_ratings(path, rating_scale=(1, 5))
    assert info.value.line == 4
    with pytest.raises(ValueError, match="lowest < highest"):
        load_ratings(path, rating_scale=(5, 1))


def test_every_line_is_kept_duplicates_included(tmp_path):
    data = load_ratings(write(tmp_path, "u.data", "1\t1\t5\n1\t1\t1\n"))
    assert triples(data) == [(1, 1, 5.0), (1, 1, 1.0)]


def test_crlf_lines_and_spaces_around_fields(tmp_path):
    data = load_ratings(write(tmp_path, "r.csv", "user , item , rating\r\n 1 , a , 4 \r\n2,b,3.5\r\n"))
    assert triples(data) == [(1, "a", 4.0), (2, "b", 3.5)]


def test_empty_id_names_the_role(tmp_path):
    with pytest.raises(ParseError, match="line 2: empty item id"):
        load_ratings(write(tmp_path, "r.csv", "1,2,3\n1,,4\n"))


def test_labels_not_utf8_give_a_parse_error_with_the_line(tmp_path, tiny_chunks):
    path = write(tmp_path, "r.txt", b"1 1 3\n2 1 3\n\xff\xfe 2 4\n")
    with pytest.raises(ParseError, match=r"line 3: a user or item id is not UTF-8"):
        load_ratings(path)


def test_small_chunks_give_what_numpy_reads(tmp_path, tiny_chunks):
    rng = np.random.default_rng(1)
    table = np.c_[rng.integers(-5, 50, 60), rng.integers(0, 9, 60), rng.integers(1, 6, 60), rng.integers(0, 99, 60)]
    lines = ["# comment", ""] + ["\t".join(map(str, row)) for row in table]
    path = write(tmp_path, "u.data", "\r\n".join(lines))
    data = load_ratings(path)
    raw = np.loadtxt(path, dtype=np.int64, comments="#")
    np.testing.assert_array_equal(data.user_labels.labels[data.rows], raw[:, 0])
    np.testing.assert_array_equal(data.item_labels.labels[data.cols], raw[:, 1])
    np.testing.assert_array_equal(data.values, raw[:, 2].astype(np.float32))
    np.testing.assert_array_equal(data.timestamps, raw[:, 3])
    np.testing.assert_array_equal(data.user_labels.labels, np.unique(raw[:, 0]))


def test_a_text_label_late_in_the_file_turns_the_column_into_strings(tmp_path, tiny_chunks):
    text = "10 1 1\n9 1 2\n10 2 3\n007 1 4\n7 2 5\n"
    data = load_ratings(write(tmp_path, "t.txt", text))
    assert data.user_labels.labels.tolist() == ["007", "10", "7", "9"]  # sorted as text
    assert data.item_labels.labels.tolist() == [1, 2]
    assert triples(data) == [("10", 1, 1.0), ("9", 1, 2.0), ("10", 2, 3.0), ("007", 1, 4.0), ("7", 2, 5.0)]


def test_errors_across_chunks_give_the_file_line(tmp_path, tiny_chunks):
    path = write(tmp_path, "u.data", "".join(f"{j}\t1\t3\n" for j in range(20)) + "5\t1\tx\n")
    with pytest.raises(ParseError, match="line 21: the rating 'x'"):
        load_ratings(path)


def test_many_distinct_ids_grow_the_hash_table(tmp_path):
    rng = np.random.default_rng(2)
    users = rng.choice(10**12, 70_000, replace=False)  # more than the first table holds
    items = rng.integers(0, 3, len(users))
    text = "".join(f"{u} {i} 1\n" for u, i in zip(users.tolist(), items.tolist()))
    data = load_ratings(write(tmp_path, "big.txt", text))
    np.testing.assert_array_equal(data.user_labels.labels, np.sort(users))
    np.testing.assert_array_equal(data.user_labels.labels[data.rows], users)


def test_pairs_from_small_chunks(tmp_path, tiny_chunks):
    users, items = load_pairs(write(tmp_path, "p.tsv", "\ufeff1\t10\n2\t20\textra\n3\tx\n"))
    assert users.tolist() == [1, 2, 3] and items.tolist() == ["10", "20", "x"]


def test_progress_bar_only_when_asked(tmp_path, capsys):
    pytest.importorskip("tqdm")
    path = write(tmp_path, "u.data", "1\t1\t3\n")
    load_ratings(path)
    assert capsys.readouterr().err == ""  # not a terminal, not a large file
    load_ratings(path, progress=True)
    assert "reading" in capsys.readouterr().err


def test_bad_separator_and_column_options(tmp_path):
    path = write(tmp_path, "r.csv", "1,1,1\n")
    with pytest.raises(ValueError, match="one or two characters"):
        load_ratings(path, sep=";;;")
    for columns in ((0, 1, -1), (0, 1, 64)):
        with pytest.raises(ValueError, match="column positions must be 0 to 63"):
            load_ratings(path, columns=columns)


def test_long_text_ids_are_coded_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(cmf._textread, "TEXT_BYTES", 10)
    long = "x" * 40
    data = load_ratings(write(tmp_path, "r.csv", f"a,{long},1\nb,i,2\n\xe9,i,3\na,i,4\n"))
    assert data.user_labels.labels.tolist() == ["a", "b", "\xe9"]
    assert triples(data) == [("a", long, 1.0), ("b", "i", 2.0), ("\xe9", "i", 3.0), ("a", "i", 4.0)]


def test_peak_memory_is_a_small_multiple_of_the_arrays_returned(tmp_path, monkeypatch):
    # Small chunks and buffers, so that what grows with the file dominates.
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", 1 << 16)
    monkeypatch.setattr(cmf._textread, "CAPACITY", 1 << 12)
    rng = np.random.default_rng(3)
    n = 200_000
    table = np.c_[rng.integers(1, 5000, n), rng.integers(1, 2000, n), rng.integers(1, 6, n)]
    path = tmp_path / "u.data"
    np.savetxt(path, table, fmt="%d", delimiter="\t")
    tracemalloc = pytest.importorskip("tracemalloc")
    tracemalloc.start()
    try:
        data = load_ratings(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = sum(a.nbytes for a in (data.rows, data.cols, data.values, data.user_labels.labels,
                                   data.item_labels.labels))
    assert final >= 12 * n
    # The text is 2.6 MB; the old reader held it as Python strings (about 40x the arrays).
    assert peak < 3 * final, (peak, final)
    np.testing.assert_array_equal(data.user_labels.labels[data.rows], table[:, 0])



def test_a_quoted_rating_gets_an_error_that_says_quotes_are_not_read(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('user,item,rating\n"1","10","5"\n')
    with pytest.raises(ParseError, match=r"line 2: the rating '\"5\"' is not a finite number; quoted fields are not"):
        load_ratings(path)


def test_a_compressed_file_is_named_as_such(tmp_path):
    path = tmp_path / "u.data.gz"
    path.write_bytes(gzip.compress(b"1\t2\t5\t0\n" * 50))
    with pytest.raises(ParseError, match="not UTF-8 text .*; it looks gzip-compressed: decompress it first"):
        load_ratings(path)


def test_a_line_cut_before_its_rating_is_not_said_to_lack_only_a_timestamp(tmp_path):
    path = tmp_path / "cut.data"
    path.write_text("1\t2\t5\t881250949\n3\t4\t")
    with pytest.raises(ParseError, match=r"line 2: expected at least 4 fields separated by tabs, found 3") as info:
        load_ratings(path)
    assert "timestamps" not in str(info.value)
