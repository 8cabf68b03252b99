"""The ``cmf`` command line."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import cmf
from cmf.cli import main
from cmf.datasets import example_matrix


def _block(lines: list[str], title: str, n_rows: int = 4) -> list[str]:
    start = next(k for k, line in enumerate(lines) if title in line)
    return lines[start + 1:start + 1 + n_rows]


def _cells(row: str) -> list[str]:
    return re.findall(r"\?|-?\d+\.\d+\*?", row)


def test_demo_small_only_completes_the_seed_matrix(capsys):
    assert main(["demo", "--small-only"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "converged after" in out
    assert "Synthetic ratings" not in out  # --small-only skips the large part

    given = [_cells(row) for row in _block(lines, "given")]
    completed = [_cells(row) for row in _block(lines, "completed")]
    truth = example_matrix()
    assert [len(row) for row in completed] == [5] * 4
    filled = {(i, j) for i, row in enumerate(completed) for j, cell in enumerate(row) if cell.endswith("*")}
    unknown = {(i, j) for i, row in enumerate(given) for j, cell in enumerate(row) if cell == "?"}
    assert filled == unknown == {(0, 1), (2, 4)}
    for i, row in enumerate(completed):
        for j, cell in enumerate(row):
            value = float(cell.rstrip("*"))
            if (i, j) in filled:
                assert value == pytest.approx(truth[i, j], abs=0.25)
            else:
                assert value == truth[i, j]  # observed cells printed unchanged

    # The loss table falls from the first shown epoch to the last.
    table = [line.split() for line in lines if re.match(r"^\s+\d+\s+\d+\.\d+\s+\d+\.\d+$", line)]
    losses = [float(row[1]) for row in table]
    assert len(losses) >= 2 and losses[-1] < 0.1 * losses[0]


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_python_m_cmf_version(tmp_path):
    # Run outside the source tree so the installed package is the one imported.
    result = subprocess.run([sys.executable, "-m", "cmf", "--version"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cmf {cmf.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", cmf.__version__)
