"""Every code block and command of the README's recommender walk-through runs.

The blocks run in order in one namespace, in a folder holding a generated
MovieLens-format file at ml-100k/u.data; tuning budgets are cut so that the
test is quick. Everything else runs exactly as written.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cmf.datasets import make_ratings

HERE = os.path.dirname(os.path.abspath(__file__))
WALKTHROUGH = os.path.join(HERE, "..", "README.md")
SECTION = "## Recommender walk-through"

pytestmark = pytest.mark.skipif(
    not os.path.exists(WALKTHROUGH), reason="README.md is not beside the tests (wheel-only test run)"
)
SPEED_UPS = {"budget=27": "budget=4, max_epochs=40", "--out tuned.npz": "--out tuned.npz --budget 3 --epochs 30"}


def blocks(kind):
    with open(WALKTHROUGH, encoding="utf-8") as f:
        text = f.read()
    text = text[text.index(SECTION):]
    text = text[: text.find("\n## ", len(SECTION))]
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.S)


def speed_up(code):
    for slow, fast in SPEED_UPS.items():
        code = code.replace(slow, fast)
    return code


@pytest.fixture
def movielens_dir(tmp_path, monkeypatch):
    gen = make_ratings(300, 400, 12_000, rank=4, random_state=0)
    os.makedirs(tmp_path / "ml-100k")
    ratings = np.clip(np.round(gen.values), 1, 5).astype(int)
    with open(tmp_path / "ml-100k" / "u.data", "w") as f:
        for r, c, v in zip(gen.rows, gen.cols, ratings):
            f.write(f"{r + 1}\t{c + 1}\t{v}\t881250949\n")
    (tmp_path / "pairs.txt").write_text("196 242\n1 50\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_walkthrough_python_blocks_run(movielens_dir):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    code = blocks("python")
    assert len(code) >= 8
    namespace = {}
    for block in code:
        exec(compile(speed_up(block), WALKTHROUGH, "exec"), namespace)
    assert (movielens_dir / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert namespace["new"].user == 301  # one past the largest user id
    assert namespace["same"].user_labels_[-1] == 2000


def test_walkthrough_commands_run(movielens_dir):
    exe = shutil.which("cmf") or os.path.join(os.path.dirname(sys.executable), "cmf")
    if not os.path.exists(exe):
        pytest.skip("the cmf console script is not installed")
    commands = [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]
    assert [shlex.split(c)[1] for c in commands] == ["train", "evaluate", "evaluate", "tune", "recommend", "predict"]
    for command in commands:
        args = shlex.split(speed_up(command))
        done = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip()
