"""Calibrate a machine: the plain C reference epoch of BENCHMARKS.md next to cmf, in one run.

    python benchmarks/calibrate.py            # the 10M-rating W2 set, about 3 minutes
    python benchmarks/calibrate.py --quick    # a 1M-rating set of the same shape ratio

BENCHMARKS.md quotes a plain C epoch (float32, k=64, one thread) on W2 "for
scale": 100-120 ns per update in random order, 41 grouped by row, 22 in an
80x80 grid of blocks, 18 with AVX-512 and 40x40 blocks, measured on its
reference machine. Absolute nanoseconds move with the CPU, its caches and
its memory, so this script measures the same epoch here
(benchmarks/reference_epoch.c, built with the fastest flags a user could
pick: ``-O3 -march=native -ffast-math``), adds the grid cmf picks on this
machine, and runs cmf's own W2 epoch (one thread, as installed) in the same
run. The last column says how each plain C order compares with cmf here.

Needs a C compiler (``$CC``, else ``cc``); nothing is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # benchmarks/ is not a package: imported from its folder
import workloads

# BENCHMARKS.md's figures for the plain C epoch on its reference machine.
REFERENCE_MACHINE = {
    "stored order": "100-120",
    "grouped by row": "41",
    "80x80 grid of blocks": "22",
    "40x40 grid of blocks": "18",
}
LINE = re.compile(r"^(?P<name>.+?)\s+(?P<ns>[0-9.]+) ns per update")


def build(cc: str, flags: list[str], out: str) -> None:
    """Compile reference_epoch.c into ``out``; exit with the compiler's message on failure."""
    cmd = [cc, *flags, "-std=c99", os.path.join(HERE, "reference_epoch.c"), "-o", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"calibrate: building the reference epoch failed ({shlex.join(cmd)}):\n{proc.stderr}")


def reference_runs(exe: str, n: int, shape: tuple[int, int], data_dir: str, grid: tuple[int, int],
                   epochs: int, repeats: int) -> dict[str, list[float]]:
    """ns per update of every order, one list entry per process."""
    results: dict[str, list[float]] = {}
    cmd = [exe, str(n), str(shape[0]), str(shape[1]), data_dir, str(epochs), str(grid[0]), str(grid[1])]
    for _ in range(repeats):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"calibrate: the reference epoch failed:\n{proc.stderr}")
        for line in proc.stdout.splitlines():
            match = LINE.match(line)
            if match:
                results.setdefault(match["name"], []).append(float(match["ns"]))
    return results


def cmf_epoch_ns(cache: str, quick: bool, repeats: int) -> float:
    """cmf's median W2 epoch (k=64, one thread) in ns per update, median over ``repeats`` processes."""
    result = run.measure(["--tool", "cmf", "--workload", "W2", "--threads", "1", "--cache", cache]
                         + (["--quick"] if quick else []), repeats, timeout=1800)
    if result is None:
        sys.exit("calibrate: the cmf run failed (see above)")
    return float(result["epoch_ns_per_update"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 1M-rating set instead of 10M")
    parser.add_argument("--cache", default=None, help="W2 data written by run.py (generated here when absent)")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"), help="C compiler (default $CC, else cc)")
    parser.add_argument("--cflags", default="-O3 -march=native -ffast-math",
                        help="flags for the reference epoch (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per order; the best one counts")
    parser.add_argument("--repeats", type=int, default=3, help="processes per measurement (median shown)")
    args = parser.parse_args()
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be at least 1")

    from cmf._train import blocks as _blocks

    with tempfile.TemporaryDirectory(prefix="cmf-calibrate-") as tmp:
        cache = args.cache
        if cache is None:
            print("generating W2 once ...", flush=True)
            cache = os.path.join(tmp, "w2.npz")
            workloads.write_w2_cache(cache, args.quick)
        w = workloads.w2(cache, args.quick)
        rows, cols, values = w.train
        for name, array, dtype in (("rows", rows, np.int32), ("cols", cols, np.int32), ("vals", values, np.float32)):
            np.ascontiguousarray(array, dtype=dtype).tofile(os.path.join(tmp, f"{name}.bin"))
        exe = os.path.join(tmp, "reference_epoch")
        build(args.cc, shlex.split(args.cflags), exe)
        grid = _blocks.choose_grid(w.shape[0], w.shape[1], 64, 4, n_entries=len(values))
        print(f"W2{' (quick)' if args.quick else ''}: {len(values):,} ratings, {w.shape[0]:,} x {w.shape[1]:,}, "
              f"k=64 float32, one thread; cmf's grid here: {grid.n_row_blocks}x{grid.n_col_blocks} blocks "
              f"of {grid.row_block_size}x{grid.col_block_size} (L2 {_blocks.l2_cache_bytes() >> 10} KiB)", flush=True)
        plain = reference_runs(exe, len(values), w.shape, tmp, (grid.n_row_blocks, grid.n_col_blocks),
                               args.epochs, args.repeats)
        ours = cmf_epoch_ns(cache, args.quick, args.repeats)

    print(f"\nplain C epoch ({args.cc} {args.cflags}), best of {args.epochs} epochs, median of {args.repeats} "
          f"processes; cmf: median epoch, median of {args.repeats} processes")
    print(f"{'order':<24}{'ns/update here':>16}{'reference machine':>20}{'cmf faster':>12}")
    print("-" * 72)
    for name, values_ns in plain.items():
        here = statistics.median(values_ns)
        # The reference figures are for the 10M set only.
        reference = "-" if args.quick else REFERENCE_MACHINE.get(name, "-")
        print(f"{name:<24}{here:>16.1f}{reference:>20}{here / ours:>11.2f}x")
    print(f"{'cmf (random orders)':<24}{ours:>16.1f}{'':>20}{'':>12}")
    print("(reference machine: BENCHMARKS.md's figures for the plain C epoch; 'cmf faster' = plain C / cmf, here)")


if __name__ == "__main__":
    main()
