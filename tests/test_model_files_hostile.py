"""Model files written by an adversary or broken by a crash: every load ends in a model or a ValueError,
memory is bounded by the file's real size, and saves leave no temporary file behind for good."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import cmf
from cmf import _archive, _atomic

MB = 1 << 20
LOCAL, CENTRAL, END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((9, 3)) @ rng.standard_normal((3, 7))
    X[rng.random(X.shape) < 0.3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(n_factors=3, max_epochs=7, random_state=0).fit(X)


@pytest.fixture
def saved(tmp_path, model):
    return model.save(tmp_path / "m.npz")


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array))
    return buf.getvalue()


def write_zip(path, content: dict[str, bytes], *, deflated: tuple[str, ...] = ()) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in content.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED)


def with_meta(content: dict[str, bytes], **changes) -> dict[str, bytes]:
    meta = json.loads(str(np.load(io.BytesIO(content["meta.npy"]))))
    meta.update(changes)
    return {**content, "meta.npy": npy(np.array(json.dumps(meta)))}


def load_quietly(path):
    """The loaded model, or the ValueError load raised; any other exception propagates."""
    try:
        return cmf.MatrixFactorization.load(path)
    except ValueError as exc:
        return exc


def load_measured(path) -> tuple[object, int]:
    """:func:`load_quietly`'s answer and the most memory the load held at once (tracemalloc)."""
    tracemalloc.start()
    try:
        return load_quietly(path), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def central_entries(data: bytes) -> list[int]:
    """Offsets of the central directory's entries."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        start = z.start_dir
    offsets, at = [], start
    while data[at:at + 4] == CENTRAL:
        offsets.append(at)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        at += 46 + name_len + extra_len + comment_len
    return offsets


def central_entry(data: bytes, member: str) -> int:
    for at in central_entries(data):
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_len] == member.encode():
            return at
    raise AssertionError(member)


# ---------------------------------------------------------------- every malformed file gives a ValueError
def test_meta_nested_thousands_deep_is_refused(saved):
    content = members(saved)
    for text in ("[" * 100_000 + "]" * 100_000, '{"a": ' * 20_000 + "1" + "}" * 20_000):
        content["meta.npy"] = npy(np.array(text))
        write_zip(saved, content)
        with pytest.raises(ValueError, match="not a cmf model file .*nested too deeply"):
            cmf.MatrixFactorization.load(saved)


def test_meta_nested_deeper_than_a_model_is_refused(saved):
    # Parses (300 levels are within json's reach) but would only feed code that recurses.
    write_zip(saved, with_meta(members(saved), notes=json.loads("[" * 300 + "]" * 300)))
    with pytest.raises(ValueError, match="'meta' is nested deeper than 8 levels"):
        cmf.MatrixFactorization.load(saved)


@pytest.mark.parametrize("field, value, what", [
    (6, 0xAD, "version needed 17.3"),       # zipfile: NotImplementedError('zip file version 17.3')
    (8, 0x01, "encrypted flag"),            # zipfile: RuntimeError('... is encrypted, password required')
    (10, 99, "unknown compression method"),  # zipfile: NotImplementedError('That compression method ...')
    (10, zipfile.ZIP_DEFLATED, "deflated"),  # the stored bytes are not a deflate stream
])
def test_a_damaged_zip_directory_entry_is_refused(saved, field, value, what):
    data = bytearray(open(saved, "rb").read())
    at = central_entry(bytes(data), "user_factors_.npy")
    struct.pack_into("<H", data, at + field, value)
    with open(saved, "wb") as f:
        f.write(data)
    with pytest.raises(ValueError, match="not a readable cmf model file|user_factors_"):
        cmf.MatrixFactorization.load(saved)


def test_bit_flips_give_a_model_or_a_value_error(tmp_path, saved):
    # Every bit of the zip's fixed structures (first local header, first
    # directory entry, end record), and a fixed sample of all the others.
    data = open(saved, "rb").read()
    structure = [range(0, 30), range(central_entries(data)[0], central_entries(data)[0] + 46),
                 range(len(data) - 22, len(data))]
    bits = {8 * byte + b for part in structure for byte in part for b in range(8)}
    bits |= set(np.random.default_rng(16).choice(8 * len(data), 1500, replace=False).tolist())
    path = tmp_path / "flipped.npz"
    outcomes = {"model": 0, "ValueError": 0}
    for bit in sorted(bits):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(flipped)
        result = load_quietly(path)  # any other exception fails the test here
        assert isinstance(result, (cmf.MatrixFactorization, ValueError)), (bit, result)
        outcomes["model" if isinstance(result, cmf.MatrixFactorization) else "ValueError"] += 1
    assert outcomes["ValueError"] > len(bits) // 2, outcomes


def test_a_missing_file_is_a_file_not_found_error_and_the_documented_value_error(tmp_path):
    for path in (tmp_path / "absent.npz", tmp_path / "absent"):
        with pytest.raises(FileNotFoundError, match="absent.npz"):
            cmf.MatrixFactorization.load(path)
        with pytest.raises(ValueError, match="is not a readable cmf model file"):
            cmf.MatrixFactorization.load(path)


# ---------------------------------------------------------------- memory bounded by the real size
def test_a_small_file_with_a_deflated_member_does_not_expand(saved, model):
    # 64 MB of zero factors deflate to ~64 KB; the stored shape claims them
    # all, consistently. Refused before anything is decompressed.
    dtype = model.user_factors_.dtype
    n_rows = 64 * MB // (3 * dtype.itemsize)
    content = with_meta(members(saved), shape_=[n_rows, 7])
    content["user_factors_.npy"] = npy(np.zeros((n_rows, 3), dtype=dtype))
    write_zip(saved, content, deflated=("user_factors_.npy",))
    assert os.path.getsize(saved) < MB
    result, peak = load_measured(saved)
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB; {result!r}"
    assert isinstance(result, ValueError) and "'user_factors_' is compressed" in str(result), result


def test_a_compressed_model_file_is_refused_with_the_reason(tmp_path, saved, model):
    # cmf writes stored members only; np.savez_compressed's file is refused, saying why.
    compressed = tmp_path / "compressed.npz"
    write_zip(compressed, members(saved), deflated=tuple(members(saved)))
    with pytest.raises(ValueError, match="compressed .*cmf writes model files uncompressed"):
        cmf.MatrixFactorization.load(compressed)


@pytest.mark.parametrize("claimed", [0xFFFFFFF0, 512 * MB])
def test_a_zip_claiming_more_data_than_the_file_holds_allocates_nothing(saved, model, monkeypatch, claimed):
    # The directory claims a huge stored member, the .npy header a matching
    # huge shape, the file holds 64 bytes of it: refused from the file's real
    # size, even with no memory limit to catch it.
    monkeypatch.setattr(_archive, "memory_limit", lambda: None)
    n_rows = (claimed - 128) // (3 * 8)
    content = with_meta(members(saved), shape_=[n_rows, 7])
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n_rows, 3)})
    content["user_factors_.npy"] = header.getvalue() + b"\0" * 64
    write_zip(saved, content)
    data = bytearray(open(saved, "rb").read())
    at = central_entry(bytes(data), "user_factors_.npy")
    struct.pack_into("<II", data, at + 20, claimed, claimed)  # compressed and uncompressed size
    with open(saved, "wb") as f:
        f.write(data)
    result, peak = load_measured(saved)
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB; {result!r}"
    assert isinstance(result, ValueError) and "truncated" in str(result), result


def test_members_are_read_in_bounded_pieces(saved, model, monkeypatch):
    # A real 2 MB member is read in pieces of at most CHUNK bytes.
    monkeypatch.setattr(_archive, "CHUNK", 4096)
    sizes = []
    real_open = zipfile.ZipFile.open

    def spy_open(self, *args, **kwargs):
        member = real_open(self, *args, **kwargs)
        real_read = member.read
        member.read = lambda n=-1: sizes.append(n) or real_read(n)
        return member

    monkeypatch.setattr(zipfile.ZipFile, "open", spy_open)
    cmf.MatrixFactorization.load(saved)
    assert sizes and all(0 < n <= 4096 for n in sizes), sizes


# ---------------------------------------------------------------- saves leave no temporary file behind
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    import cmf

    model = cmf.MatrixFactorization.load(sys.argv[1])

    def savez(file, **arrays):  # writes part of the model, then dies or hangs
        file.write(b"PK\\x03\\x04 partial")
        file.flush()
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        print("writing", flush=True)
        time.sleep(120)

    np.savez = savez
    model.save(sys.argv[1])
    """
)


def temporaries(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if ".cmf-tmp-" in name)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
def test_a_save_removes_what_a_killed_save_abandoned_and_spares_one_in_progress(tmp_path, saved, model):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(cmf.__file__)), os.environ.get("PYTHONPATH", "")]))
    died = subprocess.run([sys.executable, str(script), str(saved), "die"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    orphans = temporaries(tmp_path)
    assert len(orphans) == 1 and orphans[0].startswith(".m.npz.cmf-tmp-"), os.listdir(tmp_path)
    unrelated = tmp_path / ".other.npz.cmf-tmp-abandoned"  # another destination's: not this save's business
    unrelated.write_bytes(b"x")

    writer = subprocess.Popen([sys.executable, str(script), str(saved), "hang"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n", writer.stderr.read()
        in_progress = [name for name in temporaries(tmp_path) if name not in orphans and "other" not in name]
        assert len(in_progress) == 1
        model.save(saved)
        assert temporaries(tmp_path) == sorted([in_progress[0], unrelated.name])
        assert isinstance(cmf.MatrixFactorization.load(saved), cmf.MatrixFactorization)
    finally:
        writer.kill()
        writer.wait()
    model.save(saved)  # the writer died holding its file: now abandoned
    assert sorted(os.listdir(tmp_path)) == sorted(["child.py", "m.npz", unrelated.name])


def test_a_failed_save_removes_its_temporary_file_on_every_path(tmp_path, saved, model, monkeypatch):
    before = open(saved, "rb").read()
    for stage in ("write", "fsync", "chmod", "replace"):
        failing = {"write": (np, "savez"), "fsync": (os, "fsync"), "chmod": (os, "chmod"),
                   "replace": (os, "replace")}[stage]
        with monkeypatch.context() as patch:
            real = getattr(*failing)

            def fail(*args, _real=real, **kwargs):
                if args and hasattr(args[0], "write"):
                    args[0].write(b"partial")
                raise OSError(f"{stage} failed")

            patch.setattr(*failing, fail)
            with pytest.raises(OSError, match=f"{stage} failed"):
                model.save(saved)
        assert sorted(os.listdir(tmp_path)) == ["m.npz"], stage
        assert open(saved, "rb").read() == before


@pytest.mark.skipif(sys.platform == "win32", reason="the lock protocol is POSIX's")
def test_a_temporary_file_removed_before_its_writer_locked_it_is_replaced_by_another(tmp_path, saved, model,
                                                                                      monkeypatch):
    # A save by another process may find this save's temporary file in the
    # instant between its creation and its lock, and remove it: the writer
    # notices and writes under a new name.
    made = []
    real_mkstemp = _atomic.tempfile.mkstemp

    def mkstemp_then_removed(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        made.append(name)
        if len(made) == 1:
            assert _atomic.remove_abandoned(str(saved)) == [name]
        return fd, name

    monkeypatch.setattr(_atomic.tempfile, "mkstemp", mkstemp_then_removed)
    model.save(saved)
    assert len(made) == 2 and sorted(os.listdir(tmp_path)) == ["m.npz"]
    assert isinstance(cmf.MatrixFactorization.load(saved), cmf.MatrixFactorization)
