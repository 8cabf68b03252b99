"""Estimates of the memory a request needs, checked before allocating it.

An impossible request (a factor matrix larger than the machine's memory)
fails at once with a clear error instead of being killed by the operating
system half-way through.
"""

from __future__ import annotations

import os

from cmf._aligned import padded_width

__all__ = ["memory_limit", "fit_memory", "check_allocation", "check_fit_memory"]

GIB = float(1 << 30)


def memory_limit() -> int | None:
    """The most memory one request may use: the machine's physical memory.

    Returns
    -------
    int or None
        Bytes, or None where the platform does not report it (then nothing
        is refused).
    """
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return int(pages) * int(page_size)


def fit_memory(
    n_rows: int, n_cols: int, n_entries: int, n_factors: int, itemsize: int, *,
    n_validation: int = 0, early_stopping: bool = False, blocked: bool = False, adaptive: bool = False,
) -> int:
    """Bytes a fit allocates beyond its input triplets.

    Counts the factor matrices and biases (the working copy, the copy of the
    last finished epoch and, with early stopping, the best epoch's), the
    loss computation's temporaries (row norms, the bold driver's probe), the
    per-row and per-column counts, the int64 visiting order and the
    validation predictions.

    Parameters
    ----------
    n_rows, n_cols, n_entries, n_factors : int
        Problem size.
    itemsize : int
        Bytes per stored value (4 or 8).
    n_validation : int, default 0
        Number of held-out entries.
    early_stopping : bool, default False
        Whether a third copy of the parameters is kept.
    blocked : bool, default False
        Cache-blocked epochs: a copy of the entries sorted into blocks
        (16-bit local indices and the values) and per-thread scratch orders,
        instead of the int64 global order.
    adaptive : bool, default False
        AdaGrad accumulators: two per row and two per column.

    Returns
    -------
    int
    """
    # Python ints: no overflow whatever the sizes.
    n_rows, n_cols, n_entries, k = int(n_rows), int(n_cols), int(n_entries), int(n_factors)
    # Training runs on factor rows padded to a multiple of 16 (the kernel's
    # lanes, cmf._aligned.padded_width); the unpadded initial or final
    # factors exist beside them for a moment.
    width = padded_width(k)
    params = (n_rows + n_cols) * (width + 1) * itemsize
    unpadded = (n_rows + n_cols) * k * itemsize if width != k else 0
    copies = 3 if early_stopping else 2
    # The penalty's squared row norms (in the factors' dtype, summed in
    # float64) and the bold driver's probe: at most PROBE_SIZE entries with
    # their predictions and errors, and the pair hashes of one chunk.
    loss_temporaries = (n_rows + n_cols) * 8 * 2 + min(n_entries, 1 << 14) * 40 + min(n_entries, 1 << 20) * 24
    counts = (n_rows + n_cols) * 8 * 3
    # Blocked: 2 + 2 bytes of local indices, the values again and (at most)
    # 4 bytes of scratch order per entry; otherwise one int64 index each.
    order = n_entries * (4 + itemsize + 4) if blocked else n_entries * 8
    adagrad = 2 * (n_rows + n_cols) * itemsize if adaptive else 0
    validation = n_validation * (itemsize + 8 * 2)
    return copies * params + unpadded + loss_temporaries + counts + order + adagrad + validation


def _fmt(nbytes: float) -> str:
    return f"{nbytes / GIB:.3g} GiB"


def check_allocation(nbytes: int | float, what: str, remedy: str) -> None:
    """Refuse a request that needs more than :func:`memory_limit`.

    Parameters
    ----------
    nbytes : int or float
        Estimated size.
    what : str
        The thing being allocated, for the message.
    remedy : str
        What the user can do instead.

    Raises
    ------
    ValueError
        When ``nbytes`` exceeds the limit.
    """
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise ValueError(
            f"{what} needs about {_fmt(nbytes)} of memory, more than this machine's {_fmt(limit)}; {remedy}"
        )


def check_fit_memory(
    n_rows: int, n_cols: int, n_entries: int, n_factors: int, itemsize: int, *,
    n_validation: int = 0, early_stopping: bool = False, blocked: bool = False, adaptive: bool = False,
) -> None:
    """Refuse a fit whose parameters cannot fit in memory.

    Parameters
    ----------
    n_rows, n_cols, n_entries, n_factors, itemsize, n_validation, early_stopping, blocked, adaptive
        See :func:`fit_memory`.

    Raises
    ------
    ValueError
        Naming the estimate, the limit and the remedies.
    """
    need = fit_memory(
        n_rows, n_cols, n_entries, n_factors, itemsize, n_validation=n_validation, early_stopping=early_stopping,
        blocked=blocked, adaptive=adaptive,
    )
    check_allocation(
        need,
        f"fitting {n_factors} factors to a {n_rows} x {n_cols} matrix with {n_entries} entries",
        "use fewer n_factors, dtype='float32', or drop empty rows and columns (renumber the indices)",
    )
