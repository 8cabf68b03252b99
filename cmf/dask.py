"""Fit a :class:`cmf.MatrixFactorization` on a Dask cluster (``pip install cmf-sgd[dask]``).

Distributed stratified SGD (DSGD, Gemulla et al., KDD 2011) with cmf's C
kernel. The rating matrix is cut into a ``G x G`` grid of tiles (``G``, the
``n_tiles`` argument, defaults to the number of worker threads); the ratings are
read by the workers, sorted into their tiles once, and stay there. An epoch
is ``G`` strata; the ``G`` tiles of a stratum share no row and no column, so
they run in parallel, one Dask task each, on the worker that holds the
tile's ratings. Only slabs of the factor matrices travel: the slabs of the
larger side stay with their tiles and those of the smaller side move from
stratum to stratum. After each epoch the model is collected on the client,
where the loss, the validation RMSE, early stopping and the history are
computed by the same code as :meth:`cmf.MatrixFactorization.fit`; that copy
is also the checkpoint a lost worker is recovered from.

The schedule, the blocks and the orders inside the blocks are those of the
local blocked fit: for the same ``random_state`` and the same grid (a local
fit whose tile count is ``n_tiles``), the factors are the same bits.

Examples
--------
>>> from distributed import Client, LocalCluster                          # doctest: +SKIP
>>> import cmf, cmf.dask                                                   # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))      # doctest: +SKIP
>>> model = cmf.MatrixFactorization(n_factors=64, random_state=0)         # doctest: +SKIP
>>> cmf.dask.fit(model, ["ratings-1.tsv", "ratings-2.tsv"], client=client)  # doctest: +SKIP
>>> model.predict([0, 1], [10, 20])                                        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

import numpy as np

try:
    import dask
    import distributed
    from distributed import Client
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "cmf.dask needs Dask's distributed scheduler: pip install 'cmf-sgd[dask]' "
        "(or pip install 'dask[distributed]')"
    ) from exc

from cmf import _distributed
from cmf._checks import is_integer
from cmf._dask_epochs import WorkerLostError, _ClusterData, _live_workers
from cmf._dask_epochs import _EpochRunner  # noqa: F401  (cmf.dask._EpochRunner: the epochs of a fit, for tests)
from cmf._distributed import Layout
from cmf._train.config import require_validation, training_config
from cmf._train.epochs import training_grid
from cmf.model import MatrixFactorization

__all__ = ["WorkerLostError", "fit"]

def fit(
    model: MatrixFactorization,
    data: Any,
    *,
    client: "Client | None" = None,
    shape: tuple[int, int] | None = None,
    columns: Sequence[Any] | None = None,
    sep: str | None = None,
    validation: Any = None,
    n_tiles: int | None = None,
    max_recoveries: int = 3,
) -> MatrixFactorization:
    """Fit ``model`` to ratings held by a Dask cluster.

    Parameters
    ----------
    model : MatrixFactorization
        The estimator whose parameters to use (``n_factors``,
        ``learning_rate``, ``max_epochs``, ``tol``, ``patience``,
        ``random_state``, ...); fitted in place. ``blocking`` must be
        "auto", "machine" (the grid then sized for the client's machine) or
        True and ``shuffle`` True (DSGD visits blocks);
        ``n_threads`` is ignored: each worker runs one tile at a time per
        thread Dask gives it. Repeated (user, item) pairs are not looked
        for: finding them would sort every rating across the cluster, which
        costs more than several epochs, so ``duplicates`` must be None or
        "keep" (each rating trains as its own observation, without a
        warning); remove repeats from the data first where they matter
        (``df.drop_duplicates(subset=[user, item], keep="last")``). A
        declared ``rating_scale`` is checked against every partition.
    data : dask DataFrame, tuple of 3 dask arrays, or list of paths
        The ratings: a Dask DataFrame with row, column and value columns
        (see ``columns``); a tuple ``(rows, cols, values)`` of 1-D Dask
        arrays; or a list of text files (``row col value`` per line, see
        ``sep``) that every worker can read, one partition per file.
        Indices are zero-based integers.
    client : distributed.Client, optional
        The cluster to use; the current default client when omitted.
    shape : tuple of int, optional
        ``(n_rows, n_cols)``; one past the largest indices when omitted.
    columns : sequence of 3 names, optional
        The row, column and value columns of a DataFrame; its first three
        columns when omitted.
    sep : str, optional
        Field separator of the files; whitespace when omitted, "," for CSV.
    validation : tuple of array_like, optional
        Held-out ``(rows, cols, values)`` on the client, scored after every
        epoch (needed for ``patience``).
    n_tiles : int, optional
        G, tiles per side of the grid: a stratum is G tasks, so G at least
        the number of worker threads keeps every thread busy; more tiles
        balance uneven tiles better but move more. The number of worker
        threads when omitted, capped by the number of blocks per side.
    max_recoveries : int, default 3
        Lost workers survived per fit; after that :class:`WorkerLostError`.

    Returns
    -------
    MatrixFactorization
        ``model``, fitted: an ordinary estimator (predict, save, ...). Its
        ``distributed_`` attribute records the run: workers, tiles, bytes
        moved per epoch and recoveries.

    Raises
    ------
    ValueError, TypeError, KeyError, OSError
        For invalid data (raised from the worker that found it) or
        parameters; the model is left as it was.
    DivergenceError
        If SGD diverges; the model is left as it was (its
        ``distributed_`` too), and the error's ``history`` holds the failed
        run's epochs.
    WorkerLostError
        If workers kept dying (more than ``max_recoveries`` times) or none
        is left.
    """
    config = training_config(model.get_params())
    if config.duplicates not in (None, "keep"):
        raise ValueError(
            f"the distributed fit does not look for repeated (user, item) pairs, so duplicates={config.duplicates!r} "
            "cannot apply: use duplicates=None or 'keep', after removing repeats from the data if they matter "
            "(e.g. df.drop_duplicates(subset=[user, item], keep='last'))"
        )
    if not (config.blocked and config.shuffle):
        raise ValueError("the distributed fit runs blocked, shuffled epochs: use blocking='auto', "
                         "'machine' or True and shuffle=True")
    if config.loss != "squared" or config.l1 > 0 or config.nonnegative:
        raise ValueError(
            f"the distributed fit trains the squared loss only (not implemented: loss={config.loss!r}, "
            f"l1={config.l1:g}, nonnegative={config.nonnegative}); use loss='squared', l1=0 and nonnegative=False, "
            "or fit the data in memory with model.fit"
        )
    require_validation(config, validation)
    if not is_integer(max_recoveries) or max_recoveries < 0:
        raise ValueError(f"max_recoveries must be an integer >= 0, got {max_recoveries!r}")
    client = _get_client(client)
    workers = _live_workers(client)
    if not workers:
        raise WorkerLostError("the Dask cluster has no workers; start some or wait for them")
    futures: list[distributed.Future] = []
    tiles: dict[tuple[int, int], distributed.Future] = {}
    try:
        pieces = _source_futures(client, data, columns, sep, config.dtype)
        futures += pieces
        stats = client.gather(client.map(_distributed.piece_stats, pieces, pure=False))
        n = sum(s["n"] for s in stats)
        if n == 0:
            raise ValueError("no ratings: the data has no entries")
        shape = _shape(shape, stats)
        value_range = (min(s["min"] for s in stats), max(s["max"] for s in stats))
        _check_scale(value_range, config.rating_scale)
        grid = training_grid(shape, n, config)
        G = sum(client.nthreads().values()) if n_tiles is None else int(n_tiles)
        if G < 1:
            raise ValueError(f"n_tiles must be >= 1, got {n_tiles}")
        G = max(1, min(G, grid.n_row_blocks, grid.n_col_blocks))
        layout = Layout.make(shape, dataclasses.replace(grid, n_tiles=G))
        tiles = _build_tiles(client, pieces, layout, workers)
        futures += list(tiles.values())
        summaries = client.gather(client.map(_distributed.tile_summary, list(tiles.values()), pure=False))
        del pieces
        futures = list(tiles.values())  # drop the pieces: Dask keeps their lineage for recovery
        cluster = _ClusterData(client, tiles, layout, summaries, max_recoveries)
        cluster.value_range = value_range  # the fitted rating_scale_ unless one is declared
        started = time.perf_counter()
        try:
            model._fit_source(cluster, validation, config)
        except KeyboardInterrupt:
            if cluster.runner is not None and cluster.runner.epoch_seconds:  # a partial model was kept
                model.distributed_ = cluster.runner.summary(summaries, time.perf_counter() - started)
            raise
        assert cluster.runner is not None
        model.distributed_ = cluster.runner.summary(summaries, time.perf_counter() - started)
    finally:
        # Dropping the last reference to a future releases it on the
        # cluster (Client.cancel on chains of dependent keys can trip an
        # assertion in the scheduler); running tasks finish and are freed.
        futures.clear()
        tiles.clear()
    return model


# ----------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------
def _get_client(client: Any) -> "Client":
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError(
                "no Dask client: pass client=distributed.Client(...) (a LocalCluster or "
                "Client('tcp://scheduler:8786'))"
            ) from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def _source_futures(client: "Client", data: Any, columns: Sequence[Any] | None, sep: str | None,
                    dtype: np.dtype) -> list["distributed.Future"]:
    """One future per input partition, each checked :class:`cmf._input.Triplets` of no known shape yet."""
    import dask.array as da

    delayed = dask.delayed(_distributed.piece_from_arrays, pure=True)
    if isinstance(data, tuple) and len(data) == 3 and all(isinstance(a, da.Array) for a in data):
        rows, cols, values = data
        if not (rows.ndim == cols.ndim == values.ndim == 1):
            raise ValueError("rows, cols and values must be 1-D Dask arrays")
        if not (rows.shape[0] == cols.shape[0] == values.shape[0]):
            raise ValueError(f"rows, cols and values have different lengths: "
                             f"{rows.shape[0]}, {cols.shape[0]}, {values.shape[0]}")
        cols, values = cols.rechunk(rows.chunks), values.rechunk(rows.chunks)
        parts = [
            delayed(r, c, v, dtype.name, f"chunk {i} of the Dask arrays")
            for i, (r, c, v) in enumerate(zip(rows.to_delayed().ravel(), cols.to_delayed().ravel(),
                                              values.to_delayed().ravel()))
        ]
    elif _is_dask_frame(data):
        names = list(data.columns[:3]) if columns is None else list(columns)
        if len(names) != 3:
            raise ValueError(f"columns must name 3 columns (row, column, value), got {columns!r}")
        frame = dask.delayed(_distributed.piece_from_frame, pure=True)
        parts = [frame(p, names, dtype.name, f"partition {i} of the DataFrame")
                 for i, p in enumerate(data.to_delayed())]
    elif isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        read = dask.delayed(_distributed.read_file, pure=True)
        parts = [read(os.fspath(p), sep, dtype.name) for p in data]
    else:
        raise TypeError(
            "data must be a Dask DataFrame, a tuple (rows, cols, values) of Dask arrays, or a non-empty "
            f"list of file paths; got {type(data).__name__}"
        )
    return client.compute(parts)


def _is_dask_frame(data: Any) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # the dataframe extra (pandas) is not installed
        return False
    return isinstance(data, dd.DataFrame)


def _check_scale(value_range: tuple[float, float], scale: tuple[float, float] | None) -> None:
    """Refuse ratings outside a declared ``rating_scale`` (by value: the cluster has no positions)."""
    if scale is None:
        return
    low, high = value_range
    bad = low if low < scale[0] else high if high > scale[1] else None
    if bad is not None:
        raise ValueError(f"the data holds a rating of {bad:g}, outside rating_scale=({scale[0]:g}, {scale[1]:g}); "
                         "fix the data or pass a wider rating_scale")


def _shape(shape: Any, stats: list[dict[str, Any]]) -> tuple[int, int]:
    max_row = max(s["max_row"] for s in stats)
    max_col = max(s["max_col"] for s in stats)
    if shape is None:
        return (max_row + 1, max_col + 1)
    try:
        n_rows, n_cols = (int(x) for x in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of integers (n_rows, n_cols), got {shape!r}") from None
    if max_row >= n_rows or max_col >= n_cols:
        raise ValueError(f"an entry lies outside shape {(n_rows, n_cols)}: the largest row index is "
                         f"{max_row}, the largest column index {max_col}")
    if n_rows > np.iinfo(np.int32).max or n_cols > np.iinfo(np.int32).max:
        raise ValueError("n_rows and n_cols must be below 2**31")
    return (n_rows, n_cols)


def _owner(layout: Layout, I: int, J: int, workers: list[str]) -> str:
    """The worker that gets tile (I, J): the larger factor side stays put.

    With more rows than columns, every tile of tile row I goes to one
    worker, so that row slab I never moves and only the (smaller) column
    slabs travel; otherwise the other way round.
    """
    fixed = I if layout.shape[0] >= layout.shape[1] else J
    return workers[fixed % len(workers)]


def _build_tiles(client: "Client", pieces: list["distributed.Future"], layout: Layout,
                 workers: list[str]) -> dict[tuple[int, int], "distributed.Future"]:
    G = layout.grid.n_tiles
    splits = client.map(_distributed.split_piece, pieces, layout=layout, pure=False)
    tiles = {}
    for I in range(G):
        for J in range(G):
            parts = [client.submit(_distributed.part_of, s, I * G + J, pure=False) for s in splits]
            # Loose restriction: after a worker is lost, Dask rebuilds its
            # tiles from their sources on whichever worker is left.
            tiles[I, J] = client.submit(
                _distributed.build_tile, layout, I, J, *parts, workers=[_owner(layout, I, J, workers)],
                allow_other_workers=True, pure=False,
            )
    distributed.wait(list(tiles.values()))
    for future in tiles.values():
        if future.status == "error":
            future.result()  # raise the worker's error (bad index, ...)
    return tiles
