"""Rating files read on two threads: each chunk's halves tokenized at once give what one thread gives."""

import os
import threading

import numpy as np
import pytest

import cmf._layout
import cmf._textread
from cmf.io import ParseError, load_pairs, load_ratings


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


class Calls:
    """The threads the tokenizer ran on."""

    def __init__(self, monkeypatch):
        self.threads = []
        read_lines = cmf._textread._reader.read_lines

        def spy(*args, **kwargs):
            self.threads.append(threading.current_thread() is threading.main_thread())
            return read_lines(*args, **kwargs)

        monkeypatch.setattr(cmf._textread._reader, "read_lines", spy)

    @property
    def second_thread(self):
        return self.threads.count(False)


@pytest.fixture
def two_threads(monkeypatch):
    """Every chunk is split, on a machine said to have two CPUs; the tokenizer's threads are recorded."""
    monkeypatch.setattr(cmf._textread, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(cmf._textread, "_cpu_count", lambda: 2)
    return Calls(monkeypatch)


def one_thread(monkeypatch, read):
    """``read()`` on a machine said to have one CPU, chunks split or not."""
    with monkeypatch.context() as m:
        m.setattr(cmf._textread, "_cpu_count", lambda: 1)
        return read()


def table_text(rng, n, *, text_users=False):
    users = rng.integers(-5, 400, n)
    table = np.c_[users, rng.integers(0, 90, n), rng.integers(1, 6, n), rng.integers(0, 10**9, n)]
    lines = ["\t".join(map(str, row)) for row in table]
    if text_users:
        lines = [f"u{line}" for line in lines]
    return table, "# a comment\n\n" + "\n".join(lines[:n // 3]) + "\n# another\n" + "\n".join(lines[n // 3:]) + "\n"


def assert_same(a, b):
    for name in ("rows", "cols", "values", "timestamps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.user_labels.labels, b.user_labels.labels)
    np.testing.assert_array_equal(a.item_labels.labels, b.item_labels.labels)


@pytest.mark.parametrize("chunk, capacity", [(1 << 23, 1 << 18), (4000, 1 << 18), (4000, 7), (50, 3)])
def test_two_threads_read_what_numpy_and_one_thread_read(tmp_path, monkeypatch, two_threads, chunk, capacity):
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(cmf._textread, "CAPACITY", capacity)
    table, text = table_text(np.random.default_rng(4), 3000)
    path = write(tmp_path, "u.data", text)
    data = load_ratings(path)
    assert two_threads.second_thread >= 1
    np.testing.assert_array_equal(data.user_labels.labels[data.rows], table[:, 0])
    np.testing.assert_array_equal(data.item_labels.labels[data.cols], table[:, 1])
    np.testing.assert_array_equal(data.values, table[:, 2].astype(np.float32))
    np.testing.assert_array_equal(data.timestamps, table[:, 3])
    np.testing.assert_array_equal(data.user_labels.labels, np.unique(table[:, 0]))
    before = len(two_threads.threads)
    assert_same(data, one_thread(monkeypatch, lambda: load_ratings(path)))
    assert all(two_threads.threads[before:])  # one CPU: the main thread alone


def test_text_ids_late_in_the_second_half_turn_the_column_into_strings(tmp_path, monkeypatch, two_threads):
    lines = [f"{j % 7}\t{j % 5}\t3" for j in range(40)]
    lines[35] = "007\t1\t4"  # far in the second half
    path = write(tmp_path, "u.data", "\n".join(lines) + "\n")
    data = load_ratings(path)
    assert two_threads.second_thread == 1
    users = data.user_labels.labels[data.rows].tolist()
    assert users == [str(j % 7) for j in range(35)] + ["007"] + [str(j % 7) for j in range(36, 40)]
    assert data.user_labels.labels.tolist() == ["0", "007", "1", "2", "3", "4", "5", "6"]
    assert_same(data, one_thread(monkeypatch, lambda: load_ratings(path)))


def lines_with(n, bad):
    """``n`` good u.data lines, some replaced: ``bad`` maps a 1-based line number to its text."""
    return "".join(bad.get(j, f"{j}\t{j % 3}\t4") + "\n" for j in range(1, n + 1))


@pytest.mark.parametrize("bad, message", [
    ({37: "37\t1\tx"}, r"line 37: the rating 'x'"),
    ({38: "38"}, r"line 38: .*fields"),
    ({39: "39\t1\t9"}, r"line 39: the rating '9' is outside rating_scale"),
    ({36: b"\xff\xfe\t1\t3".decode("latin-1")}, r"line 36: a user or item id is not UTF-8"),
    # The first error in file order wins, whatever the thread that met the later one.
    ({12: "12\t1\t9", 37: "37\t1\tx"}, r"line 12: the rating '9' is outside rating_scale"),
    ({12: "12\t1\ty", 37: "37\t1\tx"}, r"line 12: the rating 'y'"),
    ({12: b"\xff\t1\t3".decode("latin-1"), 37: "37"}, r"line 12: a user or item id is not UTF-8"),
])
def test_errors_in_the_second_half_name_their_file_line(tmp_path, monkeypatch, two_threads, bad, message):
    text = lines_with(45, bad)
    path = write(tmp_path, "u.data", text.encode("latin-1"))
    for read in (lambda: load_ratings(path, rating_scale=(1, 5)),
                 lambda: one_thread(monkeypatch, lambda: load_ratings(path, rating_scale=(1, 5)))):
        with pytest.raises(ParseError, match=message) as info:
            read()
        assert info.value.line == int(message.split()[1].rstrip(":"))
    assert two_threads.second_thread == 1


def test_errors_in_later_chunks_and_their_second_halves(tmp_path, monkeypatch, two_threads):
    monkeypatch.setattr(cmf._layout, "HEAD_BYTES", 5)
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", 100)
    monkeypatch.setattr(cmf._textread, "CAPACITY", 2)
    for line in (3, 40, 41, 77, 120):
        path = write(tmp_path, "u.data", lines_with(120, {line: f"{line}\t1\tx"}))
        with pytest.raises(ParseError, match=rf"line {line}: the rating 'x'") as info:
            load_ratings(path)
        assert info.value.line == line


def test_small_files_and_one_cpu_start_no_thread(tmp_path, monkeypatch):
    calls = Calls(monkeypatch)
    path = write(tmp_path, "u.data", lines_with(2000, {}))
    assert len(load_ratings(path)) == 2000  # under PARALLEL_BYTES
    monkeypatch.setattr(cmf._textread, "PARALLEL_BYTES", 1)
    assert len(one_thread(monkeypatch, lambda: load_ratings(path))) == 2000
    assert calls.threads and all(calls.threads)
    assert not [t for t in threading.enumerate() if t.name.startswith("cmf-read")]


def test_the_second_thread_ends_with_the_read_also_after_an_error(tmp_path, two_threads):
    path = write(tmp_path, "u.data", lines_with(50, {45: "45\t1\tx"}))
    with pytest.raises(ParseError, match="line 45"):
        load_ratings(path)
    assert len(load_ratings(write(tmp_path, "ok.data", lines_with(50, {})))) == 50
    assert two_threads.second_thread == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("cmf-read")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_a_pipe_is_read_once_on_two_threads(tmp_path, monkeypatch, two_threads, read_through_fifo):
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", 64)
    users, items = read_through_fifo(tmp_path, lines_with(30, {}), load_pairs)
    assert users.tolist() == list(range(1, 31)) and items.tolist() == [j % 3 for j in range(1, 31)]
    assert two_threads.second_thread >= 1


def test_one_thread_also_names_the_first_bad_line_of_a_tokenizer_call(tmp_path):
    # Line 2's rating is out of range, line 4's is no number: both in one call of the
    # tokenizer, whose lines before line 4 are checked before line 4 is reported.
    path = write(tmp_path, "u.data", "1\t1\t3\n2\t1\t9\n3\t1\t4\n4\t1\tx\n")
    with pytest.raises(ParseError, match=r"line 2: the rating '9' is outside rating_scale") as info:
        load_ratings(path, rating_scale=(1, 5))
    assert info.value.line == 2
    path = write(tmp_path, "r.data", lines_with(30, {20: "\xff\t1\t3", 25: "25\t1\tx"}).encode("latin-1"))
    with pytest.raises(ParseError, match="line 20: a user or item id is not UTF-8"):
        load_ratings(path)


@pytest.mark.parametrize("first, chunk", [(4, 16), (1, 7), (1 << 16, 1 << 23)])
def test_lines_longer_than_a_read_and_no_final_newline(tmp_path, monkeypatch, two_threads, first, chunk):
    monkeypatch.setattr(cmf._layout, "HEAD_BYTES", 5)
    monkeypatch.setattr(cmf._textread, "FIRST_READ_BYTES", first)
    monkeypatch.setattr(cmf._textread, "CHUNK_BYTES", chunk)
    rows = [("u" * (1 + j % 60), f"i{j % 4}", 1 + j % 5) for j in range(90)]
    path = write(tmp_path, "r.csv", "\n".join(f"{u},{i},{r}" for u, i, r in rows))
    data = load_ratings(path)
    users = data.user_labels.labels[data.rows].tolist()
    items = data.item_labels.labels[data.cols].tolist()
    assert list(zip(users, items, data.values.tolist())) == [(u, i, float(r)) for u, i, r in rows]
