"""The fixed list of mutants .ci/mutants.py applies, one at a time.

Each is a defect a refactor could plausibly bring in, and names the tests
that must notice it. ``path`` is relative to the repository for C
(``src_c/...``) and to the installed package's parent for Python
(``cmf/...``). Each ``(old, new)`` edit replaces text that must occur
exactly once in the file. C mutants' ``tests`` are C test programs of
``src_c/tests`` (empty: all of them); Python mutants' are pytest paths or
node ids relative to the repository.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One defect: its name in the table, the file, the edits (old, new) and the tests to run."""

    name: str
    path: str
    edits: tuple[tuple[str, str], ...]
    tests: tuple[str, ...] = ()


UPDATE = "src_c/cmf_update_per_isa.h"
BLOCKS_ISA = "src_c/cmf_blocks_per_isa.h"
BLOCKS_PRECISION = "src_c/cmf_blocks_per_precision.h"
# Deterministic: another fit is published right after each read of the
# fitted value (the older threaded tests catch a double read only by chance).
READERS = "tests/test_concurrent_use.py::test_every_reader_answers_from_the_one_fit_current_when_called"

MUTANTS = [
    # ------------------------------------------------------------ C: the update rules
    Mutant("regularisation sign flipped", UPDATE, (
        # Both updates: the grouped squared-loss one and the generic one of the other losses.
        ("const CMF_REAL gr = (CMF_REAL)(lr * params->regularization);\n    CMF_REAL *p[4], *q[4];\n    double e[4];",
         "const CMF_REAL gr = (CMF_REAL)(-lr * params->regularization);\n    CMF_REAL *p[4], *q[4];\n    double e[4];"),
        ("const CMF_REAL gr = (CMF_REAL)(lr * params->regularization);\n    CMF_REAL *p[4], *q[4];\n    double pred[4]",
         "const CMF_REAL gr = (CMF_REAL)(-lr * params->regularization);\n    CMF_REAL *p[4], *q[4];\n    double pred[4]"),
    )),
    Mutant("bias update dropped", UPDATE, (
        ("            model->row_bias[u[g]] = (CMF_REAL)(bu[g] + lr * (e[g] - lrb * bu[g]));\n",
         ""),
    )),
    Mutant("q updated with the new p", UPDATE, (
        # Every place q is updated: whole chunks, the masked tail and the
        # scalar loops (plain C, and the tail below 16).
        ("            pn = pf + (ge * qf - gr * pf);\n            qn = qf + (ge * pf - gr * qf);\n"
         "            memcpy(p + s",
         "            pn = pf + (ge * qf - gr * pf);\n            qn = qf + (ge * pn - gr * qf);\n"
         "            memcpy(p + s"),
        ("            pn = pf + (ge * qf - gr * pf);\n            qn = qf + (ge * pf - gr * qf);\n"
         "            pn = (vec)",
         "            pn = pf + (ge * qf - gr * pf);\n            qn = qf + (ge * pn - gr * qf);\n"
         "            pn = (vec)"),
        ("            p[j] = pf + (ge * qf - gr * pf);\n            q[j] = qf + (ge * pf - gr * qf);\n"
         "        }\n#endif",
         "            p[j] = pf + (ge * qf - gr * pf);\n            q[j] = qf + (ge * p[j] - gr * qf);\n"
         "        }\n#endif"),
        ("        p[j] = pf + (ge * qf - gr * pf);\n        q[j] = qf + (ge * pf - gr * qf);\n    }\n}",
         "        p[j] = pf + (ge * qf - gr * pf);\n        q[j] = qf + (ge * p[j] - gr * qf);\n    }\n}"),
        ("        q[f] = qf + (eq * pf - rq * qf);",
         "        q[f] = qf + (eq * p[f] - rq * qf);"),
    )),
    Mutant("sse over the wrong entries", UPDATE, (
        ("        *total += e[g] * e[g];", "        *total += e[0] * e[0];"),
    )),
    Mutant("AdaGrad accumulator not divided by k", UPDATE, (
        ("const double Gu = (double)gu[0] + sp / (double)k;", "const double Gu = (double)gu[0] + sp;"),
        ("const double Gi = (double)gi[0] + sq / (double)k;", "const double Gi = (double)gi[0] + sq;"),
    )),
    Mutant("float32 baseline reduction reordered", UPDATE, (
        ("#    if CMF_VEC_LANES == 4\n        h = (acc[0] + acc[2]) + (acc[1] + acc[3]);\n",
         "#    if CMF_VEC_LANES == 4 && CMF_REAL_BYTES == 4\n        h = (acc[0] + acc[1]) + (acc[2] + acc[3]);\n"
         "#    elif CMF_VEC_LANES == 4\n        h = (acc[0] + acc[2]) + (acc[1] + acc[3]);\n"),
    )),
    # ------------------------------------------------------------ C: checks
    Mutant("blocked loop's entry bounds check removed", BLOCKS_ISA, (
        ("                if (u >= model->n_rows || i >= model->n_cols)\n"
         "                    break; /* updated up to this entry, then reported */\n", ""),
    )),
    Mutant("block number bounds check removed", BLOCKS_PRECISION, (
        ("        if (blocks[v] < 0 || blocks[v] >= n_blocks)\n            return CMF_ERR_INDEX_OUT_OF_RANGE;\n",
         ""),
    )),
    Mutant("blocked non-finite check removed", BLOCKS_PRECISION, (
        ("    if (status == CMF_OK && *sse - *sse != 0.0)\n        return CMF_ERR_NON_FINITE;\n", ""),
    )),
    Mutant("plain epoch non-finite check removed", "src_c/cmf_epoch_per_precision.h", (
        ("    if (total - total != 0.0)\n        return CMF_ERR_NON_FINITE;\n", ""),
    )),
    Mutant("learning rate 0 accepted", "src_c/cmf_sgd.c", (
        ("!(params->learning_rate > 0.0)", "params->learning_rate < 0.0"),
    )),
    Mutant("C fallback drops the known side's bias", "src_c/cmf_epoch_per_precision.h", (
        ("if (known_u && model->row_bias != NULL)", "if (known_u && known_i && model->row_bias != NULL)"),
    )),
    Mutant("penalty drops the tail of a factor row", "src_c/cmf_epoch_per_precision.h", (
        ("for (l = 0; l < CMF_PENALTY_LANES && j + l < width; ++l)",
         "for (l = 0; l < CMF_PENALTY_LANES && j + l < width - 1; ++l)"),
    )),
    Mutant("penalty drops the rows after the last eight", "src_c/cmf_epoch_per_precision.h", (
        ("            for (l = 0; j + l < m; ++l)", "            for (l = 0; j + l < m - 1; ++l)"),
    )),
    Mutant("penalty leaves the column biases out", "src_c/cmf_epoch_per_precision.h", (
        ("                  CMF_T(weighted_bias_squares_)(model->col_bias, model->n_cols,",
         "                  0.0 * CMF_T(weighted_bias_squares_)(model->col_bias, model->n_cols,"),
    )),
    # ------------------------------------------------------------ C: blocks
    Mutant("Sattolo's shuffle in cmf_block_order", "src_c/cmf_blocks.c", (
        ("(((r >> 32) * (uint64_t)(t + 1)) >> 32)", "(((r >> 32) * (uint64_t)t) >> 32)"),
        ("(((r & UINT64_C(0xFFFFFFFF)) * (uint64_t)(t + 2)) >> 32)",
         "(((r & UINT64_C(0xFFFFFFFF)) * (uint64_t)(t + 1)) >> 32)"),
    )),
    Mutant("Sattolo's shuffle in cmf_epoch_schedule", "src_c/cmf_blocks.c", (
        ("cmf_bounded_(state, (uint64_t)i + 1)", "cmf_bounded_(state, (uint64_t)i)"),
    )),
    Mutant("partition not stable within a block", BLOCKS_PRECISION, (
        # Each chunk scattered backwards, weighted or not (the vectorised path the tests build).
        ("            const CMF_REAL *chunk_weights = data->weights + t;\n            for (l = 0; l < n; ++l) {",
         "            const CMF_REAL *chunk_weights = data->weights + t;\n            for (l = n; l-- > 0;) {"),
        ("        } else {\n            for (l = 0; l < n; ++l) {\n                const int64_t dest = block_ptr[blk[l]]++;",
         "        } else {\n            for (l = n; l-- > 0;) {\n                const int64_t dest = block_ptr[blk[l]]++;"),
    )),
    Mutant("block division by a multiplier rounded down", "src_c/cmf_blocks.c", (
        ("(UINT64_C(1) << div.shift) / (uint64_t)d + 1;", "(UINT64_C(1) << div.shift) / (uint64_t)d;"),
    )),
    # ------------------------------------------------------------ C: exact sums
    Mutant("float chunks summed in double off the grid", "src_c/cmf_stats.c", (
        ("    if (off)\n        return 0;\n", "    (void)off;\n"),
    ), tests=("test_stats",)),
    Mutant("exact-sum bins split at another bit", "src_c/cmf_stats.c", (
        ("#define CMF_EXACT_LOW_BITS 26", "#define CMF_EXACT_LOW_BITS 27"),
    ), tests=("test_stats",)),
    # ------------------------------------------------------------ Python: model files
    Mutant("load without the zip's size guard", "cmf/_archive.py", (
        ("if info.compress_size != info.file_size or info.header_offset + info.compress_size > size:",
         "if info.compress_size != info.file_size:"),
    ), tests=("tests/test_model_files_hostile.py::test_a_zip_claiming_more_data_than_the_file_holds_allocates_nothing",)),
    Mutant("load without the header's size guard", "cmf/_archive.py", (
        ("    if nbytes > info.file_size:\n", "    if False:\n"),
    ), tests=("tests/test_model_files.py::test_a_header_claiming_more_than_the_file_holds_allocates_nothing",)),
    Mutant("meta nested deeper than a model is loaded", "cmf/_persistence.py", (
        ("_expect(_depth(meta) <= _META_MAX_DEPTH,", "_expect(True,"),
    ), tests=("tests/test_model_files_hostile.py::test_meta_nested_deeper_than_a_model_is_refused",)),
    Mutant("abandoned temporary files are kept", "cmf/_atomic.py", (
        ("        _remove_if_abandoned(path)\n", ""),
    ), tests=("tests/test_model_files_hostile.py"
              "::test_a_save_removes_what_a_killed_save_abandoned_and_spares_one_in_progress",)),
    # ------------------------------------------------------------ Python: training
    Mutant("a fit that never moved is called converged", "cmf/_train/progress.py", (
        ("    if change * (scale / rmse) >= STALL_THRESHOLD:\n", "    if True:\n"),
    ), tests=("tests/test_stalled_fits.py",)),
    # ------------------------------------------------------------ Python: the step schedule
    Mutant("an epoch the bold driver rejects is not undone", "cmf/_train/loop.py", (
        ("        if not kept:\n            last_good.restore(state, self.accumulators)\n",
         "        if not kept:\n"),
    ), tests=("tests/test_schedule.py",)),
    Mutant("the first epoch is judged against no loss", "cmf/_train/loop.py", (
        ("            tracker.step.reference = self._loss(state, tracker.probe_loss())\n",
         "            tracker.step.reference = math.inf\n"),
    ), tests=("tests/test_schedule.py",)),
    Mutant("the probe is picked by position, not by pair", "cmf/_train/probe.py", (
        ("            start + np.flatnonzero(_pair_hash(data.rows[start:start + _HASH_CHUNK] + np.int64(row_offset),",
         "            start + np.flatnonzero(_pair_hash(np.arange(start, min(start + _HASH_CHUNK, n)),"),
    ), tests=("tests/test_schedule.py::test_the_probe_is_the_same_entries_in_any_order_and_partition",)),
    # ------------------------------------------------------------ Python: Dask
    # Killed by the case where the worker dies holding only copies: Dask
    # reports nothing, and only the fit's own polling notices (the test
    # bounds the wait).
    Mutant("Dask worker-liveness polling removed", "cmf/_dask_epochs.py", (
        ("            missing = used - set(_live_workers(self.client))\n",
         "            missing = set()\n"),
    ), tests=("tests/test_dask.py::test_worker_killed_inside_a_stratum_recovers_with_same_result[replicas]",)),
    # ------------------------------------------------------------ Python: fitted model
    Mutant("predict reads the snapshot twice", "cmf/model.py", (
        # Labels, shape and scale from one published model, factors from
        # the next one if another thread publishes in between.
        ("        return self._snapshot().predict(rows, cols, unknown, clip)\n",
         "        return self._snapshot().replace(state=self._snapshot().state).predict(rows, cols, unknown, clip)\n"),
    ), tests=(READERS,)),
    Mutant("recommend reads the seen items from a second snapshot", "cmf/recommend.py", (
        ("    seen = fitted.seen if exclude_seen else None\n",
         "    seen = model._snapshot().seen if exclude_seen else None\n"),
    ), tests=(READERS,)),
    Mutant("reconstruct reads the scale from a second snapshot", "cmf/model.py", (
        ("        return _clipped(out, clip, fitted.rating_scale)\n",
         "        return _clipped(out, clip, self._snapshot().rating_scale)\n"),
    ), tests=(READERS,)),
    Mutant("duplicates='last' keeps the first", "cmf/_data_policy.py", (
        ('_find(data, first=policy != "last", last=policy == "last")',
         '_find(data, first=True, last=policy == "last")'),
        ("        keep = np.flatnonzero(last == positions)\n",
         "        keep = np.flatnonzero(first == positions)\n"),
    ), tests=("tests/test_duplicates.py",)),
    Mutant("predictions not clipped by default", "cmf/model.py", (
        ('def predict(self, rows: Any, cols: Any, *, unknown: str = "fallback", clip: bool = True)',
         'def predict(self, rows: Any, cols: Any, *, unknown: str = "fallback", clip: bool = False)'),
    ), tests=("tests/test_clip_unknown.py",)),
    Mutant("fallback drops the known side's bias", "cmf/_fitted.py", (
        ("        r[mask_r.reshape(-1)] = -1\n", "        r[mask_r.reshape(-1)] = -1\n        c[mask_r.reshape(-1)] = -1\n"),
    ), tests=("tests/test_clip_unknown.py", "tests/test_predict.py")),
    Mutant("skip gives NaN only when both ids are unknown", "cmf/_fitted.py", (
        ("            out[(r < 0) | (c < 0)] = np.nan\n", "            out[(r < 0) & (c < 0)] = np.nan\n"),
    ), tests=("tests/test_clip_unknown.py", "tests/test_predict.py")),
]
