"""What a fit costs around the C epochs: W1 against the kernel harness, and the 4x5 seed matrix.

    python benchmarks/overhead.py               # about 15 s
    python benchmarks/overhead.py --repeats 11  # more fits per median

Prints, from one run:

- W1 (MovieLens 100K split, k=100, 20 epochs, lr 0.005, reg 0.02, one
  thread): the median fit time against the *kernel harness*, the same
  blocked epochs called straight through ``cmf._kernels`` with everything
  (partition, schedules, initial factors) prepared beforehand; their ratio
  (target at most 1.20). The harness ends on the fit's bits, which is checked.
- An instrumented W1 fit: setup (the fit call to the first epoch, target
  under 2 ms); per epoch, the two passes over the whole model that follow
  it (the penalty of the loss and the copy a rising epoch is rolled back
  to, both C or memcpy over 262,500 parameters), and the Python (from the
  first epoch's start to the last epoch's return, minus the calls into C and
  those passes, over the epochs less one, target under 50 us); and the end
  of the fit (the last epoch's C call returning to ``fit`` returning: the
  last epoch's bookkeeping and the results).
- The 4x5 matrix of the seed question, two cells unknown, with default
  parameters: the median of many fits after a warm-up (target under 50 ms),
  and the first and second fit of a fresh process.

Timings are medians, fits and harness interleaved, so that a busy machine
slows both alike; each is given as wall time and as CPU time (the process's,
which waiting for a CPU that another process holds does not inflate: on a
shared machine the steadier of the two). The CPU model and the load average
are printed with them. The per-epoch figures are wall time only: the probe
times every call into C, and reading the process's CPU clock is a system
call (about 0.7 us on a virtual machine), which twice per call would add
more than a third to the Python it measures; ``time.perf_counter`` costs a
few tens of nanoseconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads  # noqa: E402  (benchmarks/ is not a package)

import cmf  # noqa: E402
from cmf import _kernels  # noqa: E402
from cmf._input import as_triplets  # noqa: E402
from cmf._train import blocks, epochs, loop, schedule  # noqa: E402
from cmf._train.state import initial_factors, pad_factors, unpad_factors  # noqa: E402
from cmf._train.stats import measure  # noqa: E402

# The seed question's matrix; its two unknown cells are marked NaN.
SEED_MATRIX = [[3, 1, 1, 3, 1], [1, 2, 4, 1, 3], [3, 1, 1, 3, 1], [4, 3, 5, 4, 4]]
SEED_UNKNOWN = ((0, 1), (2, 4))

FIRST_FIT = """
import time, warnings
import numpy as np
import cmf
R = np.array({matrix}, dtype=float)
for cell in {unknown}:
    R[cell] = np.nan
warnings.simplefilter("ignore")
times = []
for _ in range(2):
    start = time.perf_counter()
    cmf.MatrixFactorization().fit(R)
    times.append(time.perf_counter() - start)
print(*times)
"""


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def w1_model() -> cmf.MatrixFactorization:
    """W1's hyperparameters (as benchmarks/tools.py fits them), exactly 20 epochs."""
    return cmf.MatrixFactorization(
        n_factors=100, learning_rate=0.005, regularization=0.02, bias_regularization=0.02, max_epochs=20,
        tol=0.0, n_iter_no_change=20, init_std=0.1, biased=True, n_threads=1, dtype="float32",
        random_state=0, duplicates="keep",
    )


def now() -> np.ndarray:
    """Wall and CPU time, in seconds."""
    return np.array([time.perf_counter(), time.process_time()])


def fit_w1(w: workloads.Workload) -> tuple[np.ndarray, cmf.MatrixFactorization]:
    """One W1 fit: its wall and CPU seconds, and the fitted model."""
    model = w1_model()
    start = now()
    model.fit_triplets(*w.train, shape=w.shape)
    return now() - start, model


class KernelHarness:
    """W1's blocked epochs straight through cmf._kernels, everything prepared once.

    The same data, initial factors, grid, block seed and per-epoch
    schedules as the fit, and the same calls into C: as many consecutive
    tiles per call as hold at most a chunk of entries, as the fit's single
    thread makes them (:meth:`cmf._train.blocks.BlockedRunner.run_epoch`);
    :meth:`run` resets the factors and times only the calls.
    """

    def __init__(self, w: workloads.Workload) -> None:
        model = w1_model()
        config = model._config()
        data = as_triplets(*w.train, shape=w.shape, dtype=config.dtype)
        rng = np.random.default_rng(model.random_state)
        self.initial = pad_factors(initial_factors(measure(data, config.biased), config, rng))
        self.state = self.initial.copy()
        seed = epochs.draw_block_seed(rng)
        grid = epochs.training_grid(data.shape, len(data), config)
        blocked = blocks.partition(data, grid)
        self.params, self.model = epochs.kernel_model(self.state, config)
        self.blocked = _kernels.Blocked(
            blocked.block_ptr, blocked.local_rows, blocked.local_cols, blocked.values,
            n_row_blocks=grid.n_row_blocks, n_col_blocks=grid.n_col_blocks,
            row_block_size=grid.row_block_size, col_block_size=grid.col_block_size,
        )
        self.scratch = np.empty(max(blocked.max_block, 1), dtype=np.int32)
        self.chunk = epochs.chunk_updates(config.n_factors)
        # Per epoch: its blocks, tile starts and seed; the tiles' sums go to one array.
        self.schedules = [blocks.epoch_schedule(grid, seed, epoch) for epoch in range(1, config.max_epochs + 1)]
        self.sse = np.empty(grid.n_tiles ** 2)
        self.n_factors = config.n_factors

    def run(self) -> np.ndarray:
        """Reset the factors, run every epoch; return the wall and CPU seconds of the C calls."""
        self.initial.copy_into(self.state)
        model, params, blocked, scratch, sse, chunk = (self.model, self.params, self.blocked, self.scratch,
                                                       self.sse, self.chunk)
        n_tiles = len(sse)
        start = now()
        for schedule in self.schedules:
            t = 0
            while t < n_tiles:
                end = model.tiles(params, blocked, schedule.blocks, schedule.tile_starts, schedule.seed, scratch,
                                  sse, first=t, max_entries=chunk)
                if end == t:
                    raise RuntimeError("a W1 tile holds more than a chunk: the fit runs it in pieces")
                t = end
        return now() - start

    def same_as(self, fitted: cmf.MatrixFactorization) -> bool:
        """Whether the harness's last run ended on the fitted model's parameters, bit for bit."""
        state = unpad_factors(self.state, self.n_factors)
        return all(np.array_equal(a, b) for a, b in ((state.P, fitted.user_factors_), (state.Q, fitted.item_factors_),
                                                      (state.b, fitted.user_bias_), (state.c, fitted.item_bias_)))


class Probe:
    """Timestamps of one fit's phases: wraps the blocked epochs and each call into C."""

    def __init__(self) -> None:
        self.first_epoch = np.full(2, np.nan)
        self.last_return = np.nan
        self.kernel_wall = 0.0
        # The two passes over the whole model after each epoch: its penalty
        # (for the loss) and the copy an epoch would be rolled back to.
        self.passes_wall = 0.0
        # Those of the epochs before the last, as the last epoch returned.
        self.passes_before_last = 0.0
        self.n_epochs = 0

    def __enter__(self) -> "Probe":
        self._tile_call, self._run = epochs.blocked_tile_call, epochs.BlockedEpochs.run
        self._penalty, self._save = loop.penalty, schedule.Snapshot.save
        probe = self

        def timed(call, kind="kernel"):
            def run(*a, **k):  # the wall clock and plain floats: well under a microsecond per call
                wall = time.perf_counter()
                try:
                    return call(*a, **k)
                finally:
                    wall = time.perf_counter() - wall
                    if kind == "kernel":
                        probe.kernel_wall += wall
                    else:
                        probe.passes_wall += wall
            return run

        def tile_call(*args, **kwargs):
            call = probe._tile_call(*args, **kwargs)
            one = timed(call)
            # The single thread's calls of several tiles, timed the same way.
            one.tiles, one.chunk = timed(call.tiles), call.chunk
            return one

        def run(self_, *args):
            if probe.n_epochs == 0:
                probe.first_epoch = now()
            try:
                return probe._run(self_, *args)
            finally:
                probe.n_epochs += 1
                probe.last_return = time.perf_counter()
                probe.passes_before_last = probe.passes_wall

        epochs.blocked_tile_call, epochs.BlockedEpochs.run = tile_call, run
        loop.penalty, schedule.Snapshot.save = timed(self._penalty, "passes"), timed(self._save, "passes")
        return self

    def __exit__(self, *exc: object) -> None:
        epochs.blocked_tile_call, epochs.BlockedEpochs.run = self._tile_call, self._run
        loop.penalty, schedule.Snapshot.save = self._penalty, self._save


def instrumented_w1(w: workloads.Workload) -> dict[str, np.ndarray]:
    """Setup, the model passes and the Python per epoch, and the end of one W1 fit, wall and CPU seconds.

    Per epoch: the span from the first epoch's start to the last epoch's
    return holds every epoch's calls into C and the bookkeeping of all but
    the last (which belongs to the end of the fit), so it is divided by the
    epochs less one after the calls into C and the passes in it are taken out.
    """
    with Probe() as probe:
        start = now()
        fit_w1(w)
        end = now()
    between = probe.n_epochs - 1
    passes = probe.passes_before_last
    outside_kernel = probe.last_return - probe.first_epoch[0] - probe.kernel_wall
    return {"setup": probe.first_epoch - start,
            "passes": np.array([passes / between, np.nan]),
            "per_epoch": np.array([(outside_kernel - passes) / between, np.nan]),
            "end": np.array([end[0] - probe.last_return, np.nan])}


def seed_matrix() -> np.ndarray:
    R = np.array(SEED_MATRIX, dtype=float)
    for cell in SEED_UNKNOWN:
        R[cell] = np.nan
    return R


def fresh_process_fits() -> tuple[float, float]:
    """Wall seconds of the first and second default 4x5 fit in a new interpreter (cmf imported first).

    The interpreter imports the cmf this script imported, from a directory
    where no source tree shadows it (``python -c`` looks in its working
    directory first).
    """
    code = FIRST_FIT.format(matrix=SEED_MATRIX, unknown=SEED_UNKNOWN)
    here = os.path.dirname(os.path.dirname(os.path.abspath(cmf.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=tempfile.gettempdir())
    first, second = map(float, out.stdout.split())
    return first, second


def median(samples: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of (wall, CPU) pairs."""
    return np.median(np.array(samples), axis=0)


def line(label: str, seconds: np.ndarray, note: str = "", unit: str = "ms") -> None:
    factor = 1e3 if unit == "ms" else 1e6
    cpu = "       -" if np.isnan(seconds[1]) else f"{seconds[1] * factor:8.2f}"
    print(f"  {label:26s} {seconds[0] * factor:8.2f} {unit} wall {cpu} {unit} CPU   {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="W1 fits and harness runs (medians)")
    parser.add_argument("--seed-fits", type=int, default=50, help="4x5 fits (median)")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes for the first-fit time (median)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", cmf.ConvergenceWarning)

    print(f"cmf {cmf.__version__} from {os.path.dirname(cmf.__file__)}, numpy {np.__version__}, "
          f"Python {platform.python_version()}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; load average before: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))

    w = workloads.w1()
    harness = KernelHarness(w)
    fit_w1(w)  # warm-up
    harness.run()
    fits, kernel, probes = [], [], []
    for _ in range(args.repeats):
        seconds, model = fit_w1(w)
        fits.append(seconds)
        kernel.append(harness.run())
        probes.append(instrumented_w1(w))
    same = harness.same_as(model)
    fit_s, kernel_s = median(fits), median(kernel)
    ratio = fit_s / kernel_s
    print(f"\nW1: {len(w.train[2]):,} ratings, k=100, 20 epochs, one thread; medians of {args.repeats}")
    line("fit", fit_s)
    line("kernel harness", kernel_s, f"(same bits as the fit: {'yes' if same else 'NO'})")
    print(f"  {'fit / harness':26s} {ratio[0]:8.3f}    wall {ratio[1]:8.3f}    CPU   (target <= 1.20)")
    line("setup (fit -> epoch 1)", median([p["setup"] for p in probes]), "(target < 2 ms)")
    line("model passes per epoch", median([p["passes"] for p in probes]), "(penalty + rollback copy, in C)",
         unit="us")
    line("Python per epoch", median([p["per_epoch"] for p in probes]), "(target < 50 us)", unit="us")
    line("end (last C call -> fit)", median([p["end"] for p in probes]))

    R = seed_matrix()
    cmf.MatrixFactorization().fit(R)  # warm-up
    times = []
    for _ in range(args.seed_fits):
        start = now()
        model = cmf.MatrixFactorization().fit(R)
        times.append(now() - start)
    fresh = [fresh_process_fits() for _ in range(args.fresh)]
    print(f"\n4x5 seed matrix, two unknown cells, default parameters ({model.n_epochs_} epochs):")
    line(f"median of {args.seed_fits} fits", median(times), "(target < 50 ms)")
    print(f"  fresh process, wall: first fit {statistics.median(f[0] for f in fresh) * 1e3:.2f} ms, "
          f"second {statistics.median(f[1] for f in fresh) * 1e3:.2f} ms (medians of {args.fresh} processes)")
    print("\nload average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
