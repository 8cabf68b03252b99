"""Reading the ``.npy`` members of an untrusted ``.npz`` file, within bounds.

A model file may be truncated, corrupted or crafted. Everything here turns
what the parsers of the zip container and of the ``.npy`` headers raise for
such bytes (``zipfile.BadZipFile``, ``NotImplementedError`` for an unknown
"version needed", ``RuntimeError`` for an "encrypted" flag, ``zlib.error``,
``EOFError``, ``SyntaxError`` ...) into one :class:`BadFile` (a
:class:`ValueError`) that names the member.

Memory is bounded by the file's real size, never by a size the file
claims: only stored (uncompressed) members are read, which is all cmf
writes, so that no small file can expand into a large allocation (a
deflated member of a few hundred kilobytes can claim, and really produce,
gigabytes); a member's claimed size must fit in the bytes the file really
holds after it; and its data is read in pieces of at most :data:`CHUNK`
bytes into an array no larger than what its ``.npy`` header, checked
against those bounds, announces.
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import IO

import numpy as np

from cmf._memory import memory_limit

__all__ = ["BadFile", "CHUNK", "open_archive", "read_member"]

CHUNK = 1 << 20
_PLAIN_KINDS = "biufU"


class BadFile(ValueError):
    """A problem with a model file's content (the loader adds the file's name)."""


def open_archive(name: str) -> zipfile.ZipFile:
    """Open ``name`` as a zip file.

    Raises
    ------
    BadFile
        For a file that cannot be opened or whose zip directory cannot be
        parsed, with the reason.
    """
    try:
        return zipfile.ZipFile(name)
    except Exception as exc:  # noqa: BLE001 - only zipfile's parsing of the file's bytes runs here
        raise BadFile(f"not a readable zip file ({type(exc).__name__}: {exc})") from None


def _read_header(member: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise BadFile(f"member {name!r} has unsupported .npy version {version}")
    except BadFile:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's header parser meets crafted bytes here
        raise BadFile(f"member {name!r} has a corrupt array header ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise BadFile(f"member {name!r} holds Python objects, which a model file never does")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _stored_info(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The member ``name``.npy, checked to be stored and to fit in the file's real bytes."""
    try:
        info = archive.getinfo(name + ".npy")
    except KeyError:
        raise BadFile(f"the array {name!r} is missing") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise BadFile(
            f"member {name!r} is compressed (zip method {info.compress_type}); cmf writes model files "
            "uncompressed and reads only those, so that a small file cannot expand into a large allocation"
        )
    size = os.fstat(archive.fp.fileno()).st_size
    if info.compress_size != info.file_size or info.header_offset + info.compress_size > size:
        raise BadFile(f"array {name!r} is truncated: the zip claims more data than the file holds")
    return info


def _check_claim(name: str, claim: tuple[tuple[int, ...], np.dtype], info: zipfile.ZipInfo, *,
                 kind: str | None, shape: tuple[int, ...] | None, max_bytes: int | None) -> int:
    """The bytes the header claims, once checked against the wanted kind, shape and every bound."""
    arr_shape, dtype = claim
    if kind is not None and dtype.kind != kind:
        raise BadFile(f"array {name!r} has dtype {dtype}, expected kind {kind!r}")
    if kind is None and dtype.kind not in _PLAIN_KINDS:
        raise BadFile(f"array {name!r} has dtype {dtype}, which a model file never holds")
    if shape is not None and arr_shape != shape:
        raise BadFile(f"array {name!r} has shape {arr_shape}, expected {shape}")
    nbytes = math.prod(arr_shape) * dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        raise BadFile(f"array {name!r} claims {nbytes} bytes, more than allowed ({max_bytes})")
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise BadFile(f"array {name!r} claims {nbytes} bytes, more than this machine's memory")
    if nbytes > info.file_size:
        raise BadFile(f"array {name!r} is truncated: its header claims more data than the file holds")
    return nbytes


def _read_exactly(member: IO[bytes], nbytes: int, name: str) -> np.ndarray:
    """``nbytes`` bytes of ``member`` in pieces of at most :data:`CHUNK`, then its end."""
    out = np.empty(nbytes, dtype=np.uint8)
    done = 0
    while done < nbytes:
        piece = member.read(min(CHUNK, nbytes - done))
        if not piece:
            raise BadFile(f"array {name!r} is truncated")
        out[done:done + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        done += len(piece)
    if member.read(1):
        raise BadFile(f"array {name!r} has trailing data after its values")
    return out


def read_member(archive: zipfile.ZipFile, name: str, *, kind: str | None, shape: tuple[int, ...] | None = None,
                max_bytes: int | None = None) -> np.ndarray:
    """Read ``name``.npy, checking header, size and dtype kind before allocating.

    Parameters
    ----------
    archive : zipfile.ZipFile
        The open file.
    name : str
        The member, without ``.npy``.
    kind : str or None
        The dtype kind required ('f' floating, 'U' unicode), or None for any
        plain kind (bool, integer, float, unicode).
    shape : tuple of int, optional
        The exact shape required.
    max_bytes : int, optional
        The most data the member may hold.

    Returns
    -------
    numpy.ndarray
        A C-ordered array (floating point in native byte order).

    Raises
    ------
    BadFile
        For a missing, compressed, truncated, corrupted or unexpected member.
    """
    info = _stored_info(archive, name)
    try:
        with archive.open(info) as member:
            arr_shape, fortran, dtype = _read_header(member, name)
            nbytes = _check_claim(name, (arr_shape, dtype), info, kind=kind, shape=shape, max_bytes=max_bytes)
            data = _read_exactly(member, nbytes, name)
        arr = np.frombuffer(data, dtype=dtype, count=math.prod(arr_shape))
    except BadFile:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile's checks (CRC, headers, flags) meet the file's bytes here
        raise BadFile(f"member {name!r} is corrupted ({type(exc).__name__}: {exc})") from None
    arr = arr.reshape(arr_shape, order="F" if fortran else "C")
    return np.asarray(arr, dtype=dtype.newbyteorder("=") if dtype.kind == "f" else dtype, order="C")
