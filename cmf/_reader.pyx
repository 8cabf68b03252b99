# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Bindings to the rating-file tokenizer of the C core (``src_c/cmf_read.c``).

Each function fills the C structs of ``cmf.h`` ("Reading rating files")
from memoryviews, releases the GIL around the one C call and returns what
the call reports; chunking, label mapping and error messages live in
:mod:`cmf.io`.
"""
from libc.stdint cimport int32_t, int64_t

from cmf._libcmf cimport (
    cmf_status, CMF_OK, CMF_ERR_PARSE, cmf_read_format, cmf_read_columns,
    cmf_read_result, cmf_read_lines, cmf_read_gather, cmf_id_table, cmf_factorize_i64,
)

# Names of cmf_read_error, by value.
ERRORS = ("", "too few fields", "bad rating", "bad timestamp", "empty id")


cdef int _check(cmf_status status) except -1:
    # Only arguments this module builds can be wrong (a NULL pointer or a
    # bad size), so the codes need no message of their own.
    if status != CMF_OK and status != CMF_ERR_PARSE:
        raise ValueError(f"the C reader rejected its arguments (cmf_status {<int>status})")
    return 0


def read_lines(const unsigned char[::1] buf, Py_ssize_t start, Py_ssize_t stop, bytes sep,
               bytes comment, tuple columns, *, int64_t[::1] user_ids, int64_t[::1] item_ids,
               int64_t[::1] user_offsets, int32_t[::1] user_lengths, int64_t[::1] item_offsets,
               int32_t[::1] item_lengths, float[::1] ratings, int64_t[::1] timestamps):
    """Parse the lines of ``buf[start:stop]`` with ``cmf_read_lines``.

    Parameters
    ----------
    buf : bytes-like
        The text.
    start, stop : int
        The range to read (whole lines).
    sep : bytes
        Separator (1 or 2 bytes), or empty for runs of white space.
    comment : bytes
        Comment prefix, or empty.
    columns : tuple of 4 int
        User, item, rating and timestamp positions (-1: none).
    user_ids, item_ids, user_offsets, user_lengths, item_offsets, item_lengths, ratings, timestamps : ndarray
        Output arrays of equal length (the capacity); offsets count from ``start``.

    Returns
    -------
    tuple
        ``(ok, n_records, n_lines, n_bytes, user_text, item_text, error, n_fields)``:
        ``n_bytes`` counts from ``start``; ``error`` is one of :data:`ERRORS`.
    """
    cdef cmf_read_format fmt
    cdef cmf_read_columns out
    cdef cmf_read_result res
    cdef cmf_status status
    cdef Py_ssize_t capacity = user_ids.shape[0]
    if not 0 <= start <= stop <= buf.shape[0]:
        raise IndexError("read range outside the buffer")
    if capacity < 1 or not (
        item_ids.shape[0] == user_offsets.shape[0] == user_lengths.shape[0] == item_offsets.shape[0]
        == item_lengths.shape[0] == ratings.shape[0] == timestamps.shape[0] == capacity
    ):
        raise ValueError("output arrays empty or of different lengths")
    fmt.sep = sep
    fmt.sep_len = len(sep)
    fmt.comment = comment
    fmt.comment_len = len(comment)
    fmt.user_col, fmt.item_col, fmt.rating_col, fmt.time_col = columns
    out.capacity = capacity
    out.user_ids = &user_ids[0]
    out.item_ids = &item_ids[0]
    out.user_offsets = &user_offsets[0]
    out.user_lengths = &user_lengths[0]
    out.item_offsets = &item_offsets[0]
    out.item_lengths = &item_lengths[0]
    out.ratings_f64 = NULL
    out.ratings_f32 = &ratings[0]
    out.timestamps = &timestamps[0]
    cdef const char *text = <const char *>&buf[0] if buf.shape[0] else NULL
    with nogil:
        status = cmf_read_lines(text + start if text != NULL else NULL, stop - start, &fmt, &out, &res)
    _check(status)
    return (status == CMF_OK, res.n_records, res.n_lines, res.n_bytes, bool(res.user_text),
            bool(res.item_text), ERRORS[<int>res.error], res.n_fields)


def gather(const unsigned char[::1] buf, const int64_t[::1] offsets, const int32_t[::1] lengths,
           int32_t width, unsigned char[::1] dest):
    """Copy fields into fixed-width slots with ``cmf_read_gather``.

    Parameters
    ----------
    buf : bytes-like
        The text.
    offsets, lengths : ndarray
        Where each field starts and its length.
    width : int
        Slot width, at least the largest length.
    dest : ndarray of uint8
        ``len(offsets) * width`` bytes.
    """
    cdef Py_ssize_t n = offsets.shape[0]
    if lengths.shape[0] != n or dest.shape[0] != n * width:
        raise ValueError("gather: array lengths disagree")
    if n == 0:
        return
    with nogil:
        status = cmf_read_gather(<const char *>&buf[0], &offsets[0], &lengths[0], n, width,
                                 <char *>&dest[0])
    _check(status)


def factorize(const int64_t[::1] ids, int32_t[::1] slots, int64_t[::1] distinct,
              int64_t n_distinct, int32_t[::1] codes):
    """Code ids in order of first appearance with ``cmf_factorize_i64``.

    Parameters
    ----------
    ids : ndarray of int64
        The ids.
    slots : ndarray of int32
        The table (power-of-two length, -1 for empty), updated.
    distinct : ndarray of int64
        ``len(slots) // 2`` entries: the id of each code, updated.
    n_distinct : int
        Codes given so far.
    codes : ndarray of int32
        Output, ``len(ids)``.

    Returns
    -------
    n_done, n_distinct : int
        Ids coded (fewer than ``len(ids)`` when the table is full) and the
        new number of codes.
    """
    cdef cmf_id_table table
    cdef int64_t n_done = 0
    cdef Py_ssize_t n = ids.shape[0]
    if codes.shape[0] != n or distinct.shape[0] != slots.shape[0] // 2:
        raise ValueError("factorize: array lengths disagree")
    table.capacity = slots.shape[0]
    table.slots = &slots[0]
    table.distinct = &distinct[0]
    table.n_distinct = n_distinct
    with nogil:
        status = cmf_factorize_i64(&ids[0] if n else NULL, n, &table, &codes[0] if n else NULL,
                                   &n_done)
    _check(status)
    return n_done, table.n_distinct
