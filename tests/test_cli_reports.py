"""What ``cmf train``, ``cmf evaluate`` and ``cmf tune`` report: the model they keep, figures that are finite, names.

Each figure is recomputed here from what the command saved or was given
(the model file, the rating files), never read back from the code that
printed it.
"""

from __future__ import annotations

from cmf.cli import main


def test_a_dash_for_the_model_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    # "-" is standard output (cmf recommend --all --out -); a model is a
    # binary file that the other commands read by name.
    monkeypatch.chdir(tmp_path)
    for argv in (["train", "missing.data", "--out", "-"], ["tune", "missing.data", "-o", "-"],
                 ["train", "missing.data", "--loss", "bpr", "--out", "-"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err == (f"cmf {argv[0]}: error: --out -: a model is a binary .npz file, which is not written to "
                       "standard output; name a file instead, such as --out model.npz\n")
    assert list(tmp_path.iterdir()) == []
