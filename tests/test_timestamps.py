"""Timestamps through every path that makes a data set: each text format, DataFrames, labels, subsets and splits."""

import numpy as np
import pytest

from cmf.io import RatingDataset, from_dataframe, load_ratings
from cmf.model_selection import KFold, train_test_split

LINES = [("a", 1, 4.0), ("a", 2, 3.0), ("b", 1, 5.0), ("b", 3, 2.0), ("c", 2, 1.0), ("c", 3, 4.0), ("a", 3, 2.0)]


def test_timestamps_follow_kfold_and_leave_k_out():
    stamps = np.arange(len(LINES)) * 11 + 3
    users, items, values = zip(*LINES)
    data = RatingDataset.from_labels(np.array(users), np.array(items), np.array(values), timestamps=stamps)
    parts = [part for pair in KFold(2, random_state=0).split(data) for part in pair]
    parts += list(train_test_split(data, leave_k_out=1, random_state=0))
    parts.append(data.subset(np.array([True, False] * 3 + [True])))
    line_of = {(user, item): n for n, (user, item, _) in enumerate(LINES)}  # the pairs are distinct
    for part in parts:
        pairs = zip(part.user_labels.labels[part.rows].tolist(), part.item_labels.labels[part.cols].tolist())
        assert part.timestamps.tolist() == [stamps[line_of[pair]] for pair in pairs]


def test_dataframe_timestamps_integers_datetimes_and_options():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [5, 6], "rating": [4.0, 3.0], "Time": [86400.0, 172800.0]})
    assert from_dataframe(frame).timestamps.tolist() == [86400, 172800]
    assert from_dataframe(frame, timestamp=False).timestamps is None
    assert load_ratings(frame, columns=("userId", "movieId", "rating")).timestamps is None
    assert load_ratings(frame, columns=("userId", "movieId", "rating", "Time")).timestamps.tolist() == [86400, 172800]
    # datetimes: whole seconds since 1970, UTC (midnight in Paris is 23:00 UTC the day before in winter)
    when = pd.to_datetime(["1970-01-02", "1970-01-03"]).tz_localize("Europe/Paris")
    data = from_dataframe(frame.assign(Time=when))
    assert data.timestamps.tolist() == [86400 - 3600, 172800 - 3600]
    naive = from_dataframe(frame.drop(columns="Time").assign(stamp=pd.to_datetime(["1970-01-02", "1970-01-03"])),
                           timestamp="stamp")
    assert naive.timestamps.tolist() == [86400, 172800]
    # a DataFrame made from a data set reads back with its timestamps
    back = from_dataframe(data.to_dataframe())
    assert back.timestamps.tolist() == data.timestamps.tolist() and back.values.tolist() == [4.0, 3.0]


def test_dataframe_timestamp_errors_name_the_fix():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"user": [1, 2], "item": [5, 6], "rating": [4.0, 3.0]})
    with pytest.raises(ValueError, match=r"missing timestamp at row 1; drop it first, or pass timestamp=False"):
        from_dataframe(frame.assign(ts=[1.0, None]))
    with pytest.raises(ValueError, match="not whole numbers; round them"):
        from_dataframe(frame.assign(ts=[1.5, 2.0]))
    with pytest.raises(ValueError, match=r"integer timestamps or datetimes, got dtype object; convert it with "
                                         r"pandas.to_datetime, or pass timestamp=False"):
        from_dataframe(frame.assign(time=["monday", "tuesday"]))
    assert from_dataframe(frame.assign(time=["monday", "tuesday"]), timestamp=False).timestamps is None
    with pytest.raises(KeyError, match="no column 'when'"):
        from_dataframe(frame, timestamp="when")


def test_a_data_set_checks_its_timestamps():
    rows = np.zeros(3, np.int32)
    with pytest.raises(ValueError, match=r"one entry per rating \(3\), got shape \(2,\)"):
        RatingDataset(rows, rows, np.ones(3, np.float32), (1, 1), timestamps=np.array([1, 2]))
    with pytest.raises(TypeError, match="timestamps must be integers"):
        RatingDataset(rows, rows, np.ones(3, np.float32), (1, 1), timestamps=np.array([1.0, 2.0, 3.0]))
    data = RatingDataset(rows, rows, np.ones(3, np.float32), (1, 1), timestamps=np.array([1, 2, 3], np.int32))
    assert data.timestamps.dtype == np.int64
    labelled = RatingDataset.from_labels(["x", "y"], [1, 1], [2.0, 3.0], timestamps=[9, 8])
    assert labelled.timestamps.tolist() == [9, 8]


@pytest.mark.parametrize("name, text", [
    ("u.data", "1\t10\t4\t881250949\r\n2\t20\t3\t-5\r\n"),
    ("ratings.dat", "1::10::4::9223372036854775807\n2::20::3::+7\n"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,10,4,100\n2,20,3,200\n"),
    ("r.csv", "user,item,rating,time\n1,10,4,100\n2,20,3,200\n"),
    ("r.tsv", "user\titem\trating\tts\n1\t10\t4\t100\n2\t20\t3\t200\n"),
    ("r.txt", "1 10 4 100\n2 20 3 200\n"),
])
def test_every_text_format_keeps_its_timestamps(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    expected = [int(line.replace("::", "\t").replace(",", "\t").split()[-1])
                for line in text.splitlines() if line[0].isdigit()]
    data = load_ratings(path)
    assert data.timestamps.tolist() == expected
    assert data.values.tolist() == [4.0, 3.0]
