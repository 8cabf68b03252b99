#!/usr/bin/env python3
"""Mutation testing: does the test suite notice when the code is wrong?

Each mutant (the fixed list is in .ci/mutants_list.py) is a small,
deliberate defect of the kind a refactor could bring in (a sign flipped, a
check removed, a value read twice). The driver applies one at a time to a
COPY of the code, runs the tests that ought to notice, and prints a table. It fails (exit 1) if a mutant survives, or if a
mutant no longer applies: each text to replace must be found exactly once,
so that a refactor cannot make a mutant silently vanish; rewrite the mutant
for the new code instead.

C mutants mutate a copy of ``src_c/`` and run the C test programs
(``src_c/tests/*.c``), built directly with the C compiler (``-O0``: a
mutant needs the tests' verdict, not speed; only the files a mutant changes
are compiled again).
Python mutants mutate a copy of the *installed* ``cmf`` package (the
checkout has no compiled extension in CI) and run the tests named for them
against it; a plugin checks that the tests really import the copy.

Before any mutant, the same tests run on the unmutated copies and must
pass: a harness that fails on correct code would "kill" every mutant.

Usage (from the repository root)::

    python3 .ci/mutants.py [--python PY] [--package DIR] [--only NAME ...] [--list]

``--python`` is the interpreter with cmf's test dependencies (default:
``.venv/bin/python``), ``--package`` the ``cmf`` package directory to copy
(default: the one that interpreter imports outside the checkout).
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mutants_list import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent
CC = os.environ.get("CC", "gcc")
C_FLAGS = ["-std=c99", "-O0", "-g0", "-ffp-contract=off", "-w"]
# Prints the bits of every build for .ci/c.sh to compare: not a test.
DIGEST = "variant_digest"
# Processes at once (compilers, mutants): CI has 2 cores.
JOBS = int(os.environ.get("CMF_MUTANT_JOBS", "2"))
SLOTS = threading.Semaphore(JOBS)
TIMEOUT = float(os.environ.get("CMF_MUTANT_TIMEOUT", "240"))

GUARD_PLUGIN = '''\
"""Refuses to run the tests unless they import cmf from the mutated copy."""
import os

import pytest


def pytest_sessionstart(session):
    import cmf
    import cmf._kernels

    want = os.path.realpath(os.environ["CMF_MUTANT_PACKAGE"])
    for module in (cmf, cmf._kernels):
        got = os.path.realpath(module.__file__)
        if os.path.dirname(got) != want:
            raise pytest.UsageError(f"the tests import {got}, not the copy in {want}")
'''


class Failure(Exception):
    """The harness itself cannot do its job (not a verdict on a mutant)."""


@dataclass
class Outcome:
    mutant: Mutant
    verdict: str  # "killed", "SURVIVED", "killed (timeout)"
    tests: str
    seconds: float


# ---------------------------------------------------------------- applying mutations
def mutated(tree: Path, mutant: Mutant) -> str:
    """The text of ``mutant``'s file under ``tree`` after its edits; each old text must occur once."""
    text = (tree / mutant.path).read_text()
    for old, new in mutant.edits:
        count = text.count(old)
        if count != 1:
            raise Failure(
                f"mutant {mutant.name!r} no longer applies: {mutant.path} contains the text to replace "
                f"{count} times, not once:\n{old}\nRewrite the mutant for the new code."
            )
        text = text.replace(old, new)
    return text


def mutate(tree: Path, mutant: Mutant) -> None:
    """Apply ``mutant`` to its file under ``tree``."""
    (tree / mutant.path).write_text(mutated(tree, mutant))


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """Run ``cmd`` in a session of its own; (exit status or None after TIMEOUT, output)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the tests' own children (Dask workers) too
        out, _ = proc.communicate()
        return None, out


# ---------------------------------------------------------------- C
def gcc(*args: str) -> None:
    """One compiler run, holding one of the JOBS processor slots."""
    with SLOTS:
        proc = subprocess.run([CC, *C_FLAGS, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"{CC} {' '.join(args)} failed:\n{proc.stderr}")


def compile_all(jobs: list[tuple[str, ...]]) -> None:
    """Run the compiler for every argument list of ``jobs``, JOBS at a time."""
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        for future in [pool.submit(gcc, *job) for job in jobs]:
            future.result()


class CBuild:
    """Objects of an unmutated ``src_c`` copy, reused by every mutant except those it changes."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.src = work / "src_c"
        shutil.copytree(ROOT / "src_c", self.src)
        self.lib = sorted(p.name for p in self.src.glob("*.c"))
        self.programs = sorted(
            p.stem for p in (self.src / "tests").glob("*.c")
            if "int main" in p.read_text() and p.stem != DIGEST
        )
        self.deps = {name: self._deps(name) for name in self.lib}
        self.objects = self.compile(self.src, work / "base", self.lib)
        # The test programs themselves are never mutated: compiled once.
        self.mains = {p: work / "base" / f"main-{p}.o" for p in self.programs}
        compile_all([(f"-I{self.src}", "-c", str(self.src / "tests" / f"{p}.c"), "-o", str(o))
                     for p, o in self.mains.items()])

    def _deps(self, name: str) -> set[str]:
        out = subprocess.run([CC, "-std=c99", "-MM", f"-I{self.src}", str(self.src / name)], check=True,
                             capture_output=True, text=True).stdout
        return {Path(p).name for p in out.replace("\\\n", " ").split()[1:]}

    def compile(self, src: Path, out: Path, names: list[str], flags: tuple[str, ...] = ()) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        objects = {name: out / (Path(name).stem + ".o") for name in names}
        compile_all([(*flags, f"-I{src}", "-c", str(src / name), "-o", str(obj)) for name, obj in objects.items()])
        return objects

    def test(self, src: Path, out: Path, objects: dict[str, Path], programs: list[str]) -> tuple[bool, str]:
        """Build and run the test ``programs``; (all passed, what ran)."""
        ran = []
        for program in programs:
            exe = out / program
            gcc(str(self.mains[program]), *map(str, objects.values()), "-lm", "-o", str(exe))
            status, output = run([str(exe)], cwd=out)
            ok = status == 0
            lines = output.strip().splitlines()
            note = "timeout" if status is None else lines[-1] if lines else f"exit {status}"
            note = note.removeprefix(f"{program}: ")
            first = re.search(r"^FAILED (?:.*/)?([^/\s]+:\d+)", output, flags=re.M)
            if first and not ok:
                note += f"; first at {first.group(1)}"
            ran.append(program if ok else f"{program}: {note}")
            if not ok:
                return False, ", ".join(ran)
        return True, ", ".join(ran)


def c_programs(build: CBuild, mutant: Mutant) -> list[str]:
    wanted = list(mutant.tests) if mutant.tests else list(build.programs)
    missing = [p for p in wanted if p not in build.programs]
    if missing:
        raise Failure(f"mutant {mutant.name!r} names C tests that do not exist: {missing}")
    return wanted


def run_c(build: CBuild, mutant: Mutant, index: int) -> Outcome:
    start = time.monotonic()
    work = build.work / f"m{index:02d}"
    src = work / "src_c"
    shutil.copytree(build.src, src)
    mutate(work, mutant)
    changed = [n for n in build.lib if Path(mutant.path).name in build.deps[n]]
    objects = dict(build.objects, **build.compile(src, work, changed))
    passed, ran = build.test(src, work, objects, c_programs(build, mutant))
    return Outcome(mutant, "SURVIVED" if passed else "killed", ran, time.monotonic() - start)


# ---------------------------------------------------------------- Python
class PyCopy:
    """Copies of the installed package, and pytest run against them from outside the checkout."""

    def __init__(self, work: Path, python: str, package: Path) -> None:
        self.work, self.python, self.package = work, python, package
        (work / "plugin").mkdir(parents=True)
        (work / "plugin" / "cmf_mutant_guard.py").write_text(GUARD_PLUGIN)

    def copy(self, name: str) -> Path:
        tree = self.work / name
        shutil.copytree(self.package, tree / "cmf", ignore=shutil.ignore_patterns("__pycache__"))
        return tree

    def pytest(self, tree: Path, mutant_tests: list[tuple[str, ...]]) -> tuple[int | None, str]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(self.work / "plugin")]),
                   PYTHONDONTWRITEBYTECODE="1", CMF_MUTANT_PACKAGE=str(tree / "cmf"))
        args = sorted({str(ROOT / t) for tests in mutant_tests for t in tests})
        # From a scratch directory: `python -m` puts the working directory
        # first on sys.path, and the checkout's own cmf must not be found.
        cmd = [self.python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "cmf_mutant_guard",
               f"--rootdir={ROOT}", *args]
        return run(cmd, cwd=tree, env=env)


def summary(output: str) -> str:
    """pytest's last line, shortened: '1 failed, 2 passed'."""
    for line in reversed(output.strip().splitlines()):
        found = re.findall(r"(\d+ (?:failed|passed|error|errors|skipped))", line)
        if found:
            return ", ".join(found)
    return "no summary"


def run_py(copies: PyCopy, mutant: Mutant, index: int) -> Outcome:
    start = time.monotonic()
    tree = copies.copy(f"m{index:02d}")
    mutate(tree, mutant)
    status, output = copies.pytest(tree, [mutant.tests])
    shutil.rmtree(tree)
    names = ", ".join(dict.fromkeys(Path(t.split("::")[0]).stem for t in mutant.tests))
    if status is None:
        return Outcome(mutant, "killed (timeout)", names, time.monotonic() - start)
    if status not in (0, 1):
        raise Failure(f"pytest could not run for mutant {mutant.name!r} (exit {status}):\n{output[-3000:]}")
    verdict = "SURVIVED" if status == 0 else "killed"
    failed = re.findall(r"^FAILED [^:\s]+::(.+?)(?: - .*)?$", output, flags=re.M)
    by = f"; failed: {failed[0]}" if failed else ""
    return Outcome(mutant, verdict, f"{names} ({summary(output)}{by})", time.monotonic() - start)


# ---------------------------------------------------------------- main
def installed_package(python: str) -> Path:
    """The cmf package directory ``python`` imports when the checkout is not on its path."""
    out = subprocess.run([python, "-I", "-c", "import cmf, os; print(os.path.dirname(cmf.__file__))"],
                         cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if out.returncode != 0:
        raise Failure(f"{python} cannot import an installed cmf (pass --package DIR):\n{out.stderr}")
    return Path(out.stdout.strip())


def run_c_mutants(work: Path, mutants: list[Mutant]) -> list[Outcome]:
    """The unmutated C tests (which must pass), then each mutant, JOBS at a time."""
    start = time.monotonic()
    build = CBuild(work)
    programs = sorted({p for m in mutants for p in c_programs(build, m)})
    ok, ran = build.test(build.src, work / "base", build.objects, programs)
    print(f"unmutated C ({time.monotonic() - start:.0f} s): {ran}", flush=True)
    if not ok:
        raise Failure("the C tests fail on the unmutated code")
    outcomes = []
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        for future in [pool.submit(run_c, build, m, i) for i, m in enumerate(mutants)]:
            outcomes.append(future.result())
            print_progress(outcomes[-1])
    return outcomes


def run_py_mutants(work: Path, mutants: list[Mutant], python: str, package: Path) -> list[Outcome]:
    """The unmutated package's tests (which must pass), then each mutant in turn."""
    start = time.monotonic()
    copies = PyCopy(work, python, package)
    status, output = copies.pytest(copies.copy("base"), [m.tests for m in mutants])
    print(f"unmutated Python ({time.monotonic() - start:.0f} s, {package}): {summary(output)}", flush=True)
    if status != 0:
        raise Failure(f"the tests fail on the unmutated package (exit {status}):\n{output[-3000:]}")
    outcomes = []
    for i, m in enumerate(mutants):
        outcomes.append(run_py(copies, m, i))
        print_progress(outcomes[-1])
    return outcomes


def print_progress(o: Outcome) -> None:
    print(f"  {o.verdict:16s} {o.mutant.name} ({o.seconds:.1f} s)", flush=True)


def print_table(outcomes: list[Outcome]) -> None:
    rows = [("mutant", "file", "tests run", "result", "seconds")]
    rows += [(o.mutant.name, o.mutant.path, o.tests, o.verdict, f"{o.seconds:.1f}") for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4].rjust(7))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--package", type=Path, help="the cmf package directory to copy and mutate")
    parser.add_argument("--only", action="append", help="run only this mutant (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    opts = parser.parse_args()
    mutants = [m for m in MUTANTS if not opts.only or m.name in opts.only]
    if opts.list or not mutants:
        for m in MUTANTS:
            print(f"{m.name:55s} {m.path:35s} {', '.join(m.tests) or 'all C tests'}")
        return 0 if opts.list else 2
    start = time.monotonic()
    c_mutants = [m for m in mutants if m.path.startswith("src_c/")]
    py_mutants = [m for m in mutants if not m.path.startswith("src_c/")]
    package = (opts.package or installed_package(opts.python)).resolve() if py_mutants else ROOT
    for m in c_mutants:  # every mutant must apply before any runs
        mutated(ROOT, m)
    for m in py_mutants:
        mutated(package.parent, m)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cmf-mutants-") as tmp:
        if c_mutants:
            outcomes += run_c_mutants(Path(tmp) / "c", c_mutants)
        if py_mutants:
            outcomes += run_py_mutants(Path(tmp) / "py", py_mutants, opts.python, package)
    print()
    print_table(outcomes)
    survived = [o.mutant.name for o in outcomes if o.verdict == "SURVIVED"]
    print(f"\n{len(outcomes) - len(survived)} of {len(outcomes)} mutants killed in "
          f"{time.monotonic() - start:.0f} s" + (f"; SURVIVED: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as exc:
        print(f"mutants: {exc}", file=sys.stderr)
        sys.exit(2)
