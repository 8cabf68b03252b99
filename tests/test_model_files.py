"""Model files and pickles: round trips, atomic saves, and loads that refuse anything not exactly right."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import cmf
from cmf import _archive, _memory
from cmf._dataset import RatingDataset

ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


@pytest.fixture(scope="module", params=["float32", "float64"])
def fitted(request):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((9, 3)) @ rng.standard_normal((3, 7))
    X[rng.random(X.shape) < 0.3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(n_factors=3, max_epochs=7, dtype=request.param, random_state=0).fit(X)


@pytest.fixture
def saved(tmp_path, fitted):
    path = tmp_path / "saved.npz"
    fitted.save(path)
    return path


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=True)
    return buf.getvalue()


def rewrite(path, *, replace: dict | None = None, drop: tuple = ()) -> None:
    """Rewrite the zip with some members replaced (arrays or raw bytes) or dropped."""
    content = members(path)
    for name in drop:
        del content[name + ".npy"]
    for name, value in (replace or {}).items():
        content[name + ".npy"] = value if isinstance(value, bytes) else npy(value)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in content.items():
            z.writestr(name, data)


def meta_of(path) -> dict:
    return json.loads(str(np.load(io.BytesIO(members(path)["meta.npy"]))))


def with_meta(path, **changes) -> None:
    meta = meta_of(path)
    for key, value in changes.items():
        if value is KeyError:
            del meta[key]
        else:
            meta[key] = value
    rewrite(path, replace={"meta": np.array(json.dumps(meta))})


def with_params(path, **changes) -> None:
    meta = meta_of(path)
    meta["params"].update(changes)
    rewrite(path, replace={"meta": np.array(json.dumps(meta))})


def assert_same(a, b) -> None:
    """Same parameters, fitted state and predictions, to the bit."""
    assert a.get_params() == b.get_params()
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
    for name in ("global_mean_", "n_epochs_", "converged_", "best_epoch_", "rating_scale_"):
        assert getattr(a, name) == getattr(b, name), name
    assert tuple(a.shape_) == tuple(b.shape_)
    assert a.history_.keys() == b.history_.keys()
    for key in a.history_:
        np.testing.assert_array_equal(np.asarray(a.history_[key]), np.asarray(b.history_[key]), err_msg=key)
    rows, cols = np.nonzero(np.ones(a.shape_, dtype=bool))
    if a.user_labels_ is not None:  # a labelled model predicts by label
        rows, cols = a.user_labels_[rows], a.item_labels_[cols]
    np.testing.assert_array_equal(a.predict(rows, cols), b.predict(rows, cols), strict=True)
    np.testing.assert_array_equal(a.reconstruct(), b.reconstruct(), strict=True)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, small_low_rank, make_model, fit_quiet, dtype):
    model = fit_quiet(make_model(dtype=dtype), small_low_rank.X, validation=small_low_rank.triplets(False))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = cmf.MatrixFactorization.load(path)
    assert type(loaded) is cmf.MatrixFactorization
    assert_same(model, loaded)


def test_save_load_round_trip_with_early_stopping(tmp_path, small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(patience=2, n_factors=10, regularization=0.0, learning_rate=0.05, max_epochs=300,
                                 tol=0.0, n_iter_no_change=300),
                      small_low_rank.X, validation=small_low_rank.triplets(False))
    assert model.best_epoch_ is not None
    model.save(tmp_path / "m.npz")
    assert_same(model, cmf.MatrixFactorization.load(tmp_path / "m.npz"))


def test_pickle_round_trip(small_low_rank, make_model, fit_quiet):
    model = fit_quiet(make_model(), small_low_rank.X)
    assert_same(model, pickle.loads(pickle.dumps(model)))


def test_round_trip_never_unpickles(monkeypatch, saved, fitted):
    def refuse(*args, **kwargs):
        raise AssertionError("load unpickled something")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    assert_same(cmf.MatrixFactorization.load(saved), fitted)


def test_save_appends_npz_and_leaves_no_temporary_files(tmp_path, fitted):
    fitted.save(tmp_path / "plain")
    assert sorted(os.listdir(tmp_path)) == ["plain.npz"]
    assert_same(cmf.MatrixFactorization.load(tmp_path / "plain.npz"), fitted)


def test_save_returns_the_file_written_and_load_finds_it_by_the_same_name(tmp_path, fitted):
    written = fitted.save(tmp_path / "mymodel")
    assert written == str(tmp_path / "mymodel.npz") and os.path.isfile(written)
    assert_same(cmf.MatrixFactorization.load(tmp_path / "mymodel"), fitted)
    assert_same(cmf.MatrixFactorization.load(str(tmp_path / "mymodel")), fitted)
    assert fitted.save(tmp_path / "other.npz") == str(tmp_path / "other.npz")


def test_a_missing_model_file_names_both_names_tried(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(ValueError, match="'.*nothing' is not a readable cmf model file: neither it nor '.*nothing.npz'"):
        cmf.MatrixFactorization.load(missing)
    with pytest.raises(ValueError, match="not a readable cmf model file"):
        cmf.MatrixFactorization.load(tmp_path / "nothing.npz")


def test_the_rating_scale_and_the_new_parameters_round_trip(tmp_path):
    rows, cols, values = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), np.array([2.0, 4.5, 3.0, 2.5])
    for params, scale in (({}, (2.0, 4.5)), ({"rating_scale": (1, 5), "duplicates": "mean"}, (1.0, 5.0))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cmf.MatrixFactorization(n_factors=2, max_epochs=2, **params).fit_triplets(rows, cols, values)
        loaded = cmf.MatrixFactorization.load(model.save(tmp_path / "scale"))
        assert loaded.rating_scale_ == scale
        assert loaded.get_params() == model.get_params()
        assert_same(loaded, model)


def test_an_older_file_without_rating_scale_loads_and_does_not_clip(tmp_path, fitted):
    path = fitted.save(tmp_path / "old")
    meta = meta_of(path)
    del meta["rating_scale_"], meta["params"]["duplicates"], meta["params"]["rating_scale"]
    rewrite(path, replace={"meta": np.array(json.dumps(meta))})
    loaded = cmf.MatrixFactorization.load(path)
    assert loaded.rating_scale_ is None and loaded.duplicates is None and loaded.rating_scale is None
    loaded.global_mean_ = 1e6
    assert loaded.predict(0, 0) > 1e5


@pytest.mark.parametrize("scale", [[1.0], [5.0, 1.0], [1.0, None], "1,5", [1.0, True]])
def test_a_bad_stored_rating_scale_is_refused(saved, scale):
    with_meta(saved, rating_scale_=scale)
    with pytest.raises(ValueError, match="rating_scale_ must be null or two finite numbers"):
        cmf.MatrixFactorization.load(saved)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_has_the_usual_permissions(tmp_path, fitted):
    umask = os.umask(0)
    os.umask(umask)
    fitted.save(tmp_path / "m.npz")
    assert (os.stat(tmp_path / "m.npz").st_mode & 0o777) == (0o666 & ~umask)


def test_a_crash_while_saving_keeps_the_previous_file(tmp_path, fitted, monkeypatch):
    path = tmp_path / "m.npz"
    fitted.save(path)
    before = path.read_bytes()

    def crash(file, **arrays):  # writes part of a file, then dies
        file.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_unfitted_model_pickles_and_cannot_be_saved(tmp_path):
    model = cmf.MatrixFactorization(n_factors=7)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.get_params() == model.get_params()
    with pytest.raises(cmf.NotFittedError):
        model.save(tmp_path / "x.npz")
    with pytest.raises(cmf.NotFittedError):
        cmf.MatrixFactorization().save(tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


def test_big_endian_arrays_load_as_native(saved, fitted):
    dtype = fitted.user_factors_.dtype
    rewrite(saved, replace={name: getattr(fitted, name).astype(dtype.newbyteorder(">")) for name in ARRAYS})
    loaded = cmf.MatrixFactorization.load(saved)
    assert loaded.user_factors_.dtype == dtype
    assert_same(loaded, fitted)


def test_missing_file_is_named_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="absent.npz' is not a readable cmf model file: .*No such file"):
        cmf.MatrixFactorization.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("cut", [0, 10, 100, 0.5, -30, -1])
def test_truncated_files_are_refused(saved, cut):
    data = saved.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) + cut)
    saved.write_bytes(data[:n])
    with pytest.raises(ValueError, match="not a readable cmf model|truncated|corrupt"):
        cmf.MatrixFactorization.load(saved)


def test_corrupted_bytes_are_refused(saved, fitted):
    # Flip one byte inside the user factors' values: the zip checksum fails.
    data = bytearray(saved.read_bytes())
    values = fitted.user_factors_.tobytes()
    at = bytes(data).find(values[:16])
    assert at > 0
    data[at + 5] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        cmf.MatrixFactorization.load(saved)


CRAFTED_META = {
    "no meta": (None, "not a cmf model"),
    "meta not json": (np.array("{not json"), "not JSON"),
    "meta a list": (np.array("[1, 2]"), "not a JSON object"),
    "meta numbers": (np.arange(3.0), "meta"),
    "meta object array": (np.array([{"a": 1}], dtype=object), "Python objects"),
}


@pytest.mark.parametrize("case", list(CRAFTED_META))
def test_crafted_meta_members_are_refused(saved, case):
    value, message = CRAFTED_META[case]
    if value is None:
        rewrite(saved, drop=("meta",))
    else:
        rewrite(saved, replace={"meta": value})
    with pytest.raises(ValueError, match=message):
        cmf.MatrixFactorization.load(saved)


CRAFTED_FIELDS = {
    "newer format": (dict(format_version=2), "format 2 is not supported"),
    "format as text": (dict(format_version="1"), "not supported"),
    "format as bool": (dict(format_version=True), "not supported"),
    "missing shape": (dict(shape_=KeyError), "lacks the key 'shape_'"),
    "shape of strings": (dict(shape_=["9", "7"]), "shape_ must be"),
    "shape of three": (dict(shape_=[9, 7, 1]), "shape_ must be"),
    "negative shape": (dict(shape_=[-9, 7]), "shape_ must be"),
    "shape beyond int32": (dict(shape_=[2**40, 7]), "shape_ must be"),
    "other shape": (dict(shape_=[10, 7]), "expected"),
    "mean not finite": (dict(global_mean_=float("nan")), "global_mean_ must be a finite number"),
    "mean as text": (dict(global_mean_="3"), "global_mean_ must be a finite number"),
    "negative epochs": (dict(n_epochs_=-1), "n_epochs_ must be"),
    "epochs as float": (dict(n_epochs_=7.0), "n_epochs_ must be"),
    "other epochs": (dict(n_epochs_=8), "expected"),
    "converged as text": (dict(converged_="yes"), "converged_ must be"),
    "best epoch beyond": (dict(best_epoch_=99), "best_epoch_ must be"),
    "params not a dict": (dict(params=[1]), "params must be"),
}


@pytest.mark.parametrize("case", list(CRAFTED_FIELDS))
def test_crafted_meta_fields_are_refused(saved, case):
    changes, message = CRAFTED_FIELDS[case]
    with_meta(saved, **changes)
    with pytest.raises(ValueError, match=message):
        cmf.MatrixFactorization.load(saved)


CRAFTED_PARAMS = {
    "unknown parameter": (dict(colour="red"), "unknown parameters"),
    "n_factors as text": (dict(n_factors="3"), "invalid parameters"),
    "n_factors zero": (dict(n_factors=0), "invalid parameters"),
    "other n_factors": (dict(n_factors=4), "expected"),
    "dtype float16": (dict(dtype="float16"), "invalid parameters"),
    "dtype not a dtype": (dict(dtype="banana"), "invalid parameters"),
    "negative regularization": (dict(regularization=-1.0), "invalid parameters"),
    "random_state as text": (dict(random_state="seed"), "random_state"),
}


@pytest.mark.parametrize("case", list(CRAFTED_PARAMS))
def test_crafted_parameters_are_refused(saved, case):
    changes, message = CRAFTED_PARAMS[case]
    with_params(saved, **changes)
    with pytest.raises(ValueError, match=message):
        cmf.MatrixFactorization.load(saved)


def test_the_other_precision_is_refused(saved, fitted):
    other = "float64" if fitted.user_factors_.dtype == np.float32 else "float32"
    with_params(saved, dtype=other)
    with pytest.raises(ValueError, match="parameters say"):
        cmf.MatrixFactorization.load(saved)


def crafted_arrays(fitted):
    P = fitted.user_factors_
    nan_P = P.copy()
    nan_P[1, 2] = np.nan
    inf_b = fitted.user_bias_.copy()
    inf_b[0] = np.inf
    return {
        "missing array": ("item_bias_", None, "'item_bias_' is missing"),
        "wrong shape": ("user_factors_", P[:, :2].copy(), "shape"),
        "transposed": ("user_factors_", P.T.copy(), "shape"),
        "integers": ("user_factors_", P.astype(np.int64), "dtype"),
        "float16": ("user_factors_", P.astype(np.float16), "parameters say"),
        "complex": ("user_factors_", P.astype(np.complex128), "dtype"),
        "objects": ("user_factors_", P.astype(object), "Python objects"),
        "strings": ("item_bias_", np.array(["a"] * fitted.item_bias_.shape[0]), "dtype"),
        "nan": ("user_factors_", nan_P, "NaN or infinite"),
        "inf": ("user_bias_", inf_b, "NaN or infinite"),
        "history too short": ("history_train_loss", np.zeros(2), "shape"),
        "history missing": ("history_seconds", None, "history lacks"),
        "history epochs wrong": ("history_epoch", np.arange(7.0), "history_epoch must count"),
    }


@pytest.mark.parametrize(
    "case", ["missing array", "wrong shape", "transposed", "integers", "float16", "complex", "objects",
             "strings", "nan", "inf", "history too short", "history missing", "history epochs wrong"]
)
def test_crafted_arrays_are_refused(saved, fitted, case):
    name, value, message = crafted_arrays(fitted)[case]
    if value is None:
        rewrite(saved, drop=(name,))
    else:
        rewrite(saved, replace={name: value})
    with pytest.raises(ValueError, match=message):
        cmf.MatrixFactorization.load(saved)


def huge_header(shape: tuple, descr: str) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


def load_peak(path) -> tuple[str, int]:
    """The ValueError's message a load of ``path`` raises, and the most memory the load held at once."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            cmf.MatrixFactorization.load(path)
        return str(error.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def claim_rows(saved, fitted, n_rows: int) -> None:
    """Make the saved model claim ``n_rows`` users whose factors' member holds a header and 64 bytes."""
    descr = np.lib.format.dtype_to_descr(fitted.user_factors_.dtype)
    with_meta(saved, shape_=[n_rows, fitted.shape_[1]])
    rewrite(saved, replace={"user_factors_": huge_header((n_rows, fitted.user_factors_.shape[1]), descr)})


def test_a_header_claiming_huge_data_allocates_nothing(saved, fitted, monkeypatch):
    # A stored shape of 2**31 - 1 rows is allowed, so the factors' header may
    # claim ~25 GB; the file holds 64 bytes. Refused from the header alone by
    # the memory limit; the load's peak memory (tracemalloc, which sees numpy's
    # buffers) shows nothing large was allocated.
    claim_rows(saved, fitted, 2**31 - 1)
    monkeypatch.setattr(_memory, "memory_limit", lambda: 1 << 30)
    monkeypatch.setattr(_archive, "memory_limit", lambda: 1 << 30)
    message, peak = load_peak(saved)
    assert "more than this machine's memory" in message and peak < 1 << 22, (message, peak)


@pytest.mark.parametrize("limit", ["machine", "none"])
def test_a_header_claiming_more_than_the_file_holds_allocates_nothing(saved, fitted, monkeypatch, limit):
    # 2**22 rows x 3 factors claim 48 MiB (float32) or 96 MiB (float64): under
    # any memory limit, and small enough that numpy would really hand out the
    # buffer (so a load trusting the header would get past np.empty and only
    # then find the data short). Only the check against the member's real size
    # keeps the peak small; 4 MiB is 12x below the smaller claim.
    claim_rows(saved, fitted, 2**22)
    if limit == "none":
        monkeypatch.setattr(_archive, "memory_limit", lambda: None)
    message, peak = load_peak(saved)
    assert "truncated" in message, message
    assert peak < 1 << 22, f"the load held {peak} bytes at once for a file of {os.path.getsize(saved)} bytes"


def test_trailing_bytes_after_an_array_are_refused(saved, fitted):
    rewrite(saved, replace={"user_bias_": npy(fitted.user_bias_) + b"extra"})
    with pytest.raises(ValueError, match="trailing data"):
        cmf.MatrixFactorization.load(saved)


def test_an_npz_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a cmf model"):
        cmf.MatrixFactorization.load(path)


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x03\x04" + b"\0" * 40])
def test_files_that_are_not_zips_are_refused(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable cmf model"):
        cmf.MatrixFactorization.load(path)


def test_a_loaded_model_is_a_read_only_snapshot(saved):
    model = cmf.MatrixFactorization.load(saved)
    assert not model.user_factors_.flags.writeable
    clone = pickle.loads(pickle.dumps(model))
    assert not clone.item_factors_.flags.writeable
    assert_same(clone, model)


def labelled_model():
    rng = np.random.default_rng(5)
    users = np.array(["ann", "bob", "cy", "dee"])[rng.integers(0, 4, 30)]
    items = (np.arange(6) * 100 + 3)[rng.integers(0, 6, 30)]
    data = RatingDataset.from_labels(users, items, rng.normal(3, 1, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cmf.ConvergenceWarning)
        return cmf.MatrixFactorization(n_factors=2, max_epochs=3, random_state=0).fit_ratings(data)


def test_labels_and_seen_items_round_trip_through_the_same_checks(tmp_path):
    # The members a fit keeps besides its parameters are plain arrays, read
    # back with the same header and size checks as the parameters.
    model = labelled_model()
    path = tmp_path / "extra.npz"
    model.save(path)
    loaded = cmf.MatrixFactorization.load(path)
    assert_same(loaded, model)
    np.testing.assert_array_equal(loaded.user_labels_, ["ann", "bob", "cy", "dee"])
    np.testing.assert_array_equal(loaded.item_labels_, model.item_labels_)
    for user in ("ann", "dee"):
        np.testing.assert_array_equal(loaded.recommend(user, n=3)[0], model.recommend(user, n=3)[0])
    with np.load(path, allow_pickle=False) as npz:
        assert {"user_labels", "item_labels", "seen_indptr", "seen_indices"} <= set(npz.files)
    rewrite(path, replace={"seen_indices": np.array([1, 2], dtype=object)})
    with pytest.raises(ValueError, match="Python objects"):
        cmf.MatrixFactorization.load(path)
    model.save(path)
    rewrite(path, replace={"unknown_member": np.array([1, 2], dtype=object)})
    with pytest.raises(ValueError, match="Python objects"):
        cmf.MatrixFactorization.load(path)
