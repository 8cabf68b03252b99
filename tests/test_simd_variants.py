"""Every instruction-set variant of the blocked epoch computes the same bits.

The C core holds the blocked epoch once per instruction set (baseline: SSE2 on
x86-64, NEON on arm64; AVX2 and AVX-512 on x86 with gcc or clang) and runs the
widest the CPU has unless ``Params(simd_variant=...)`` names one. Here every
variant this build and CPU run is compared with the others and with an exact
NumPy model of the documented arithmetic (``cmf_update_per_isa.h``): dot
products and AdaGrad's squared gradient norms in 16 partial sums of the
model's type added in a fixed tree, updates rounded where the C code rounds.
That model gives the kernel's bits in float64 *and* float32, so a reordered
reduction in any variant (the float32 baseline included) is caught on any
machine; ``cmf._reference`` is the readable specification and agrees only to
rounding, because NumPy's ``dot`` sums in another order.
"""

from __future__ import annotations

import numpy as np
import pytest

from cmf import _kernels

VARIANTS = _kernels.simd_variants()
N_ROWS, N_COLS, ROW_BLOCK, COL_BLOCK = 31, 23, 7, 5


def test_the_variants_are_listed_and_the_others_refused():
    assert VARIANTS[0] == "baseline"
    assert set(VARIANTS) <= {"baseline", "avx2", "avx512", "neon"}
    assert _kernels.simd_variant() in VARIANTS
    hyper = dict(learning_rate=0.1, regularization=0.1)
    assert _kernels.Params(**hyper).simd_variant == "auto"
    for name in VARIANTS:
        assert _kernels.Params(**hyper, simd_variant=name).simd_variant == name
    for name in {"avx2", "avx512", "neon"} - set(VARIANTS):
        with pytest.raises(ValueError, match="not built or not run by this CPU"):
            _kernels.Params(**hyper, simd_variant=name)
    with pytest.raises(ValueError, match="one of"):
        _kernels.Params(**hyper, simd_variant="sse9")


# ----------------------------------------------------------------------
# The documented arithmetic, exactly
# ----------------------------------------------------------------------
def lane_tree(acc):
    """Lanes j and j + 8, then j + 4, then j + 2 (model type), the last two in double."""
    acc = acc[:8] + acc[8:]
    acc = acc[:4] + acc[4:]
    acc = acc[:2] + acc[2:]
    return float(acc[0]) + float(acc[1])


def lanes(terms, tail_at_end):
    """16 sequential partial sums of ``terms`` (model type), coordinate f of whole chunks in lane f % 16.

    The k % 16 terms past the whole chunks go to the last lanes when
    ``tail_at_end`` and k > 16 (the dot product's masked last chunk), else to
    lanes 0, 1, ... (k < 16, and AdaGrad's squared norms).
    """
    k = terms.shape[0]
    n_chunks, tail = divmod(k, 16)
    acc = np.zeros(16, dtype=terms.dtype)
    for c in range(n_chunks):
        acc = acc + terms[16 * c:16 * c + 16]
    if tail:
        start = 16 - tail if (tail_at_end and n_chunks) else 0
        acc[start:start + tail] = acc[start:start + tail] + terms[16 * n_chunks:]
    return lane_tree(acc)


def exact_update(model, u, i, r, hyper):
    """One entry's update in the kernel's rounding; returns e (see cmf.h and cmf_update_per_isa.h)."""
    P, Q, b, c, ra, ca = (model[name] for name in ("P", "Q", "b", "c", "ra", "ca"))
    real = P.dtype.type
    lr, reg, reg_b = hyper["learning_rate"], hyper["regularization"], hyper["bias_regularization"]
    p, q = P[u].copy(), Q[i].copy()
    e = 3.0 + lanes(p * q, tail_at_end=True)
    if b is not None:
        bu, ci = float(b[u]), float(c[i])
        e = float(r) - (e + (bu + ci))
    else:
        e = float(r) - e
    if not hyper["adaptive"]:
        if b is not None:
            b[u] = real(bu + lr * (e - reg_b * bu))
            c[i] = real(ci + lr * (e - reg_b * ci))
        ge, gr = real(lr * e), real(lr * reg)
        P[u] = p + (ge * q - gr * p)
        Q[i] = q + (ge * p - gr * q)
        return e
    if b is not None:
        gbu, gci = e - reg_b * bu, e - reg_b * ci
        hu, hi = float(ra[u, 1]) + gbu * gbu, float(ca[i, 1]) + gci * gci
        ra[u, 1], ca[i, 1] = real(hu), real(hi)
        b[u] = real(bu + lr / np.sqrt(hu) * gbu)
        c[i] = real(ci + lr / np.sqrt(hi) * gci)
    ce, cr = real(e), real(reg)
    gp, gq = ce * q - cr * p, ce * p - cr * q
    k = p.shape[0]
    Gu = float(ra[u, 0]) + lanes(gp * gp, tail_at_end=False) / k
    Gi = float(ca[i, 0]) + lanes(gq * gq, tail_at_end=False) / k
    su, si = lr / np.sqrt(Gu), lr / np.sqrt(Gi)
    ra[u, 0], ca[i, 0] = real(Gu), real(Gi)
    P[u] = p + (real(su * e) * q - real(su * reg) * p)
    Q[i] = q + (real(si * e) * p - real(si * reg) * q)
    return e


# ----------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------
def start(dtype, k, biased, adaptive):
    """A model as a dict of arrays: factors, biases and AdaGrad accumulators.

    ``ra[u]`` holds the accumulators of p_u and b_u, ``ca[i]`` those of q_i and
    c_i: the layout of ``cmf_model_*.row_adagrad`` (entries 2u, 2u + 1).
    """
    rng = np.random.default_rng(k)
    model = {
        "P": (0.3 * rng.standard_normal((N_ROWS, k))).astype(dtype),
        "Q": (0.3 * rng.standard_normal((N_COLS, k))).astype(dtype),
        "b": (0.1 * rng.standard_normal(N_ROWS)).astype(dtype) if biased else None,
        "c": (0.1 * rng.standard_normal(N_COLS)).astype(dtype) if biased else None,
    }
    model["ra"] = np.ones((N_ROWS, 2), dtype=dtype) if adaptive else None
    model["ca"] = np.ones((N_COLS, 2), dtype=dtype) if adaptive else None
    return model


def blocked_entries(dtype):
    rng = np.random.default_rng(11)
    n = 700
    entries = _kernels.Entries(rng.integers(0, N_ROWS, n).astype(np.int32),
                               rng.integers(0, N_COLS, n).astype(np.int32),
                               rng.uniform(1, 5, n).astype(dtype))
    return _kernels.partition(entries, N_ROWS, N_COLS, ROW_BLOCK, COL_BLOCK)


def visit(blocked, seed):
    """(block order, then each block's order) -> global (rows, cols, values) in visiting order."""
    n_blocks = blocked.n_row_blocks * blocked.n_col_blocks
    blocks = ((np.arange(n_blocks) * 7 + 2) % n_blocks).astype(np.int32)
    rows, cols, idx = [], [], []
    for block in blocks:
        lo, hi = blocked.block_ptr[block], blocked.block_ptr[block + 1]
        order = np.empty(hi - lo, dtype=np.int32)
        _kernels.block_order(seed, int(block), order)
        j = lo + order
        rows.append(blocked.local_rows[j] + (block // blocked.n_col_blocks) * ROW_BLOCK)
        cols.append(blocked.local_cols[j] + (block % blocked.n_col_blocks) * COL_BLOCK)
        idx.append(j)
    return blocks, np.concatenate(rows), np.concatenate(cols), blocked.values[np.concatenate(idx)]


def run_kernel(model, blocked, hyper, variant, seeds):
    """Blocked epochs by the C kernel in ``variant``; returns the arrays and the sums of squared errors."""
    m = {name: (a.copy() if a is not None else None) for name, a in model.items()}
    adaptive = m["ra"] is not None
    kernel = _kernels.Model(m["P"], m["Q"], m["b"], m["c"], 3.0,
                            row_adagrad=m["ra"].reshape(-1) if adaptive else None,
                            col_adagrad=m["ca"].reshape(-1) if adaptive else None)
    params = _kernels.Params(**hyper, simd_variant=variant, update_biases=m["b"] is not None)
    scratch = np.empty(max(blocked.max_block, 1), dtype=np.int32)
    sse = [kernel.blocks(params, blocked, visit(blocked, s)[0], s, scratch) for s in seeds]
    return m, sse


def run_exact(model, blocked, hyper, seeds):
    m = {name: (a.copy() if a is not None else None) for name, a in model.items()}
    sse = []
    for s in seeds:
        total = 0.0
        for u, i, r in zip(*visit(blocked, s)[1:]):
            e = exact_update(m, int(u), int(i), r, hyper)
            total += e * e
        sse.append(total)
    return m, sse


def assert_same_bits(got, want, what):
    for name in ("P", "Q", "b", "c", "ra", "ca"):
        if want[0][name] is not None:
            assert got[0][name].tobytes() == want[0][name].tobytes(), f"{what}: {name} differs"
    assert np.array(got[1]).tobytes() == np.array(want[1]).tobytes(), f"{what}: sse differs"


@pytest.mark.parametrize("adaptive", [False, True], ids=["sgd", "adagrad"])
@pytest.mark.parametrize("biased", [True, False], ids=["biased", "unbiased"])
@pytest.mark.parametrize("k", [3, 16, 21, 64, 150])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_variant_gives_the_bits_of_the_documented_arithmetic(dtype, k, biased, adaptive):
    hyper = dict(learning_rate=0.05 if adaptive else 0.02, regularization=0.04,
                 bias_regularization=0.03, adaptive=adaptive)
    blocked = blocked_entries(dtype)
    model = start(dtype, k, biased, adaptive)
    seeds = (5, 2**63 + 9)
    want = run_exact(model, blocked, hyper, seeds)
    assert not np.array_equal(want[0]["P"], model["P"])  # the epochs moved the factors
    first = None
    for variant in ("auto",) + VARIANTS:
        got = run_kernel(model, blocked, hyper, variant, seeds)
        assert_same_bits(got, want, f"{variant} vs the documented arithmetic")
        if first is not None:
            assert_same_bits(got, first, f"{variant} vs {VARIANTS[0]}")
        if first is None:
            first = got
