"""Exercise the compiled extension on small data, for a sanitizer build.

Run by .ci/sanitize.sh under AddressSanitizer and UBSan: fits, predicts,
completes, saves and loads in both precisions, and walks the error paths
that reach the C code. Exits non-zero when a result is wrong.
"""

import os
import sys
import tempfile
import warnings

import numpy as np

import cmf
import cmf.io
from cmf import _kernels


def read_files() -> None:
    """The rating-file reader (tokenizer, id hash table) on text and integer ids, good and bad lines."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "u.data")
        lines = [f"{u}\t{i}\t{(u + i) % 5 + 1}\t{u * i}" for u in range(1, 200) for i in range(1, 40, 3)]
        with open(path, "w") as f:
            f.write("\ufeffuser\titem\trating\ttimestamp\n" + "\n".join(lines) + "\n")
        data = cmf.io.load_ratings(path)
        assert len(data) == len(lines) and data.timestamps is not None
        assert data.user_labels.labels[data.rows[0]] == 1 and data.item_labels.labels[data.cols[0]] == 1
        text = os.path.join(tmp, "text.csv")
        with open(text, "w") as f:
            f.write("".join(f"u{u},item-{i},{i % 5 + 1}\n" for u in range(50) for i in range(7)))
        data = cmf.io.load_ratings(text, format="csv")
        assert len(data) == 350 and data.user_labels.labels[data.rows[0]] == "u0"
        bad = os.path.join(tmp, "bad.data")
        with open(bad, "w") as f:
            f.write("1\t2\t3\n4\t5\n")
        try:
            cmf.io.load_ratings(bad)
        except cmf.io.ParseError as exc:
            assert exc.line == 2, exc.line
        else:
            raise AssertionError("a short line was accepted")


def main() -> int:
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        X = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 20)) + 3.0
        X[rng.random(X.shape) < 0.3] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cmf.MatrixFactorization(
                n_factors=4, learning_rate=0.02, max_epochs=60, dtype=dtype, random_state=1
            ).fit(X)
            unbiased = cmf.MatrixFactorization(
                n_factors=3, biased=False, shuffle=False, max_epochs=5, dtype=dtype, random_state=1
            ).fit_triplets([0, 1, 2, 2], [0, 1, 0, 3], [1.0, 2.0, 3.0, 4.0], shape=(5, 6))
        assert np.all(np.isfinite(unbiased.reconstruct()))
        observed = ~np.isnan(X)
        rows, cols = np.nonzero(observed)
        pred = model.predict(rows, cols)
        rmse = float(np.sqrt(np.mean((pred - X[observed]) ** 2)))
        assert rmse < 1.0, rmse
        filled = model.complete(X)
        assert np.array_equal(filled[observed], X[observed].astype(filled.dtype))
        assert np.allclose(model.reconstruct()[rows, cols], pred, rtol=1e-4, atol=1e-4)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.npz")
            model.save(path)
            again = cmf.MatrixFactorization.load(path)
            assert np.array_equal(again.predict(rows, cols), pred)
        for bad in (
            lambda: model.predict([0, 99], [0, 0], unknown="error"),
            lambda: model.predict([-1], [0], unknown="error"),
            lambda: cmf.MatrixFactorization().fit_triplets([0], [0], [np.nan]),
            lambda: cmf.MatrixFactorization().fit_triplets([0, -1], [0, 0], [1.0, 2.0]),
        ):
            try:
                bad()
            except (ValueError, IndexError):
                pass
            else:
                raise AssertionError("bad input accepted")
        # The kernel's own guards (out-of-range order index and row index).
        P = np.zeros((2, 3), dtype)
        Q = np.zeros((2, 3), dtype)
        b = np.zeros(2, dtype)
        c = np.zeros(2, dtype)
        r = np.array([0, 1], np.int32)
        v = np.array([1, 2], dtype)
        model = _kernels.Model(P, Q, b, c, 0.0)
        params = _kernels.Params(learning_rate=0.1, regularization=0.1, bias_regularization=0.1)
        for order, rr in ((np.array([0, 5], np.int64), r), (None, np.array([0, 2], np.int32))):
            try:
                model.epoch(params, _kernels.Entries(rr, r, v), order)
            except IndexError:
                pass
            else:
                raise AssertionError("out-of-range index accepted by the kernel")
        try:
            cmf.MatrixFactorization(learning_rate=1e6, max_epochs=50, dtype=dtype).fit(X * 1e3)
        except cmf.DivergenceError:
            pass
        else:
            raise AssertionError("learning_rate=1e6 did not diverge")
    read_files()
    print("sanitize smoke test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
