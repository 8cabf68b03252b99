"""The progress bar of the ``cmf`` command's fits: tqdm on a terminal, nothing elsewhere."""

from __future__ import annotations

import shutil
import sys

import numpy as np

__all__ = ["EpochProgressBar"]


class EpochProgressBar:
    """A per-epoch progress bar (tqdm) that is silent when output is not a terminal.

    Parameters
    ----------
    total : int
        The epochs at most.
    desc : str
        The bar's label.
    quiet : bool
        No bar at all.
    """

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.bar = None
        interactive = sys.stdout.isatty() and sys.stderr.isatty()
        if quiet or not interactive:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return  # no bar without the optional extra: pip install 'cmf-sgd[cli]'
        # The terminal's width; a pseudo-terminal may report 0 columns, which
        # would hide the bar, and shutil then falls back to 80.
        width = shutil.get_terminal_size((80, 24)).columns
        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False, file=sys.stderr, ncols=width)

    def __call__(self, row: dict[str, float]) -> None:
        """Advance by one epoch, showing its loss and RMSE (the fit's ``callback``)."""
        if self.bar is None:
            return
        post = {"loss": f"{row['train_loss']:.4g}", "rmse": f"{row['train_rmse']:.4f}"}
        if np.isfinite(row["val_rmse"]):
            post["val_rmse"] = f"{row['val_rmse']:.4f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self.bar is not None:
            self.bar.close()
