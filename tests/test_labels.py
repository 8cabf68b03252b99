"""LabelMap: labels <-> contiguous indices, both ways, vectorised."""

import numpy as np
import pytest

from cmf._labels import LabelMap, as_label_array


def test_fit_sorts_distinct_labels_and_encodes():
    labels, idx = LabelMap.fit(["bob", "ann", "bob", "cy"])
    assert labels.labels.tolist() == ["ann", "bob", "cy"]
    assert idx.tolist() == [1, 0, 1, 2]
    assert idx.dtype == np.int32
    assert labels.to_label(idx).tolist() == ["bob", "ann", "bob", "cy"]


def test_large_integer_labels_round_trip():
    raw = np.array([10**15, 7, 10**15, -3], dtype=np.int64)
    labels, idx = LabelMap.fit(raw)
    assert labels.labels.tolist() == [-3, 7, 10**15]
    np.testing.assert_array_equal(labels.to_label(idx), raw)
    np.testing.assert_array_equal(labels.to_index(raw), idx)


def test_lookup_marks_unknown_with_minus_one_and_keeps_shape():
    labels = LabelMap(["x", "y"])
    np.testing.assert_array_equal(labels.lookup([["y", "z"], ["x", "x"]]), [[1, -1], [0, 0]])
    assert labels.lookup("y") == 1
    assert labels.contains(["x", "q"]).tolist() == [True, False]


def test_to_index_names_the_unknown_label():
    labels = LabelMap([1, 2, 3])
    with pytest.raises(KeyError, match="unknown user 9"):
        labels.to_index([1, 9], name="user")


def test_int_label_asked_of_string_map_and_vice_versa():
    assert LabelMap(["42", "7"]).lookup(42) == 0
    assert LabelMap([42, 7]).lookup("42") == 0
    assert LabelMap([42, 7]).lookup("abc") == -1


def test_unsorted_labels_keep_their_order():
    labels = LabelMap(["c", "a", "b"])
    assert labels.to_index(["a", "b", "c"]).tolist() == [1, 2, 0]


def test_extend_appends_new_labels_in_order_of_appearance():
    labels = LabelMap([5, 9])
    bigger, idx = labels.extend([9, 100, 3, 100])
    assert bigger.labels.tolist() == [5, 9, 100, 3]
    assert idx.tolist() == [1, 2, 3, 2]
    same, idx2 = labels.extend([5])
    assert same is labels and idx2.tolist() == [0]


def test_extend_string_map_with_ints_and_refuse_the_reverse():
    bigger, _ = LabelMap(["a"]).extend([3])
    assert bigger.labels.tolist() == ["a", "3"]
    with pytest.raises(TypeError, match="integers"):
        LabelMap([1]).extend(["a"])


def test_duplicates_rejected():
    with pytest.raises(ValueError, match="distinct"):
        LabelMap(["a", "b", "a"])


def test_to_label_out_of_range():
    with pytest.raises(IndexError):
        LabelMap(["a"]).to_label([1])


@pytest.mark.parametrize(
    "raw, expected",
    [
        (np.array([1.0, 2.0]), [1, 2]),
        (np.array([b"u1", b"u2"]), ["u1", "u2"]),
        (np.array([3, "x"], dtype=object), ["3", "x"]),
        (np.array([3, 4], dtype=object), [3, 4]),
        (np.array([2**63 + 1], dtype=np.uint64), [str(2**63 + 1)]),
    ],
)
def test_as_label_array_kinds(raw, expected):
    assert as_label_array(raw).tolist() == expected


@pytest.mark.parametrize(
    "raw, err",
    [
        (np.array([1.5]), ValueError),
        (np.array([np.nan]), ValueError),
        (np.array([True]), TypeError),
        (np.array([[1]]), ValueError),
        (np.array(["a", None], dtype=object), ValueError),
    ],
)
def test_as_label_array_rejects(raw, err):
    with pytest.raises(err):
        as_label_array(raw)


def test_repr_and_len():
    labels = LabelMap([3, 1])
    assert len(labels) == 2 and "2 labels" in repr(labels)
