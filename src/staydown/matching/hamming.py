"""PDQ hash rows: hex conversion, input checks, and exact Hamming distance by brute force."""

# A PDQ hash is 256 bits: 64 hex characters, or one row of a uint8 array of shape (n, 32) holding the
# hex string's bytes in order. The index views the same bytes as four uint64 words per hash.

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PDQ_BITS = 256
PDQ_BYTES = 32
PDQ_HEX_CHARS = 64
MAX_RADIUS = 31


class HashInputError(ValueError):
    """A hash, id or radius handed to the matching code has the wrong shape, type or range."""


def pdq_from_hex(hexes: Iterable[str]) -> np.ndarray:
    """Hex PDQ strings -> uint8 array of shape (n, 32). Raises HashInputError on a malformed one."""
    if isinstance(hexes, str):
        raise HashInputError("expected a sequence of hex strings, got one string")
    items = list(hexes)
    for i, h in enumerate(items):
        if not isinstance(h, str) or len(h) != PDQ_HEX_CHARS:
            raise HashInputError(f"PDQ hash #{i} is not a {PDQ_HEX_CHARS}-character hex string: {h!r:.80}")
    try:
        raw = bytes.fromhex("".join(items))
    except ValueError as exc:
        bad = next(i for i, h in enumerate(items) if not _is_hex(h))
        raise HashInputError(f"PDQ hash #{bad} is not hexadecimal: {items[bad]!r}") from exc
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(items), PDQ_BYTES).copy()


def pdq_to_hex(hashes: np.ndarray) -> list[str]:
    """uint8 array of shape (n, 32) -> lower-case hex PDQ strings."""
    arr = check_hashes(hashes)
    return [row.tobytes().hex() for row in arr]


def _is_hex(s: str) -> bool:
    try:
        bytes.fromhex(s)
    except ValueError:
        return False
    return True


def check_hashes(hashes: object, *, name: str = "hashes") -> np.ndarray:
    """The array as C-contiguous uint8 (n, 32), or HashInputError saying what is wrong with it."""
    if not isinstance(hashes, np.ndarray):
        raise HashInputError(f"{name} must be a numpy uint8 array of shape (n, 32), got {type(hashes).__name__}")
    if hashes.dtype != np.uint8:
        raise HashInputError(f"{name} must have dtype uint8, got {hashes.dtype}")
    if hashes.ndim != 2 or hashes.shape[1] != PDQ_BYTES:
        raise HashInputError(f"{name} must have shape (n, {PDQ_BYTES}), got {hashes.shape}")
    return np.ascontiguousarray(hashes)


def as_words(hashes: object, *, name: str = "hashes") -> np.ndarray:
    """Checked hashes as a (n, 4) uint64 array (a view when the input is contiguous)."""
    arr = check_hashes(hashes, name=name)
    return arr.view("<u8").reshape(arr.shape[0], 4)


def check_ids(ids: object, n: int | None = None, *, name: str = "ids") -> np.ndarray:
    """The ids as a 1-D int64 array (n long when n is given), or HashInputError."""
    if not isinstance(ids, np.ndarray):
        raise HashInputError(f"{name} must be a numpy integer array, got {type(ids).__name__}")
    if ids.ndim != 1:
        raise HashInputError(f"{name} must be 1-dimensional, got shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise HashInputError(f"{name} must have an integer dtype, got {ids.dtype}")
    if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise HashInputError(f"{name} must fit in int64")
    if n is not None and ids.shape[0] != n:
        raise HashInputError(f"{name} has {ids.shape[0]} entries for {n} hashes")
    return ids.astype(np.int64, copy=False)


def check_radius(radius: object) -> int:
    """The radius as an int in [0, 31], or HashInputError."""
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
        raise HashInputError(f"radius must be an integer, got {type(radius).__name__}")
    if not 0 <= radius <= MAX_RADIUS:
        raise HashInputError(f"radius must be between 0 and {MAX_RADIUS}, got {radius}")
    return int(radius)


def brute_force_pairs(
    stored: np.ndarray, queries: np.ndarray, *, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (query position, stored row, distance) within `radius`, by comparing every pair.

    The reference the index is measured against; a compiled scan that reads each stored hash once
    for the whole batch, so a few hundred queries against 10M hashes take seconds, not minutes.
    """
    from staydown.matching import _kernels  # noqa: PLC0415 - numba: +1.1 s at start-up, for the reference scan only

    words = as_words(stored, name="stored")
    qwords = np.ascontiguousarray(as_words(queries, name="queries"))
    radius = check_radius(radius)
    chunks = 256
    width = 64
    while True:
        out_q = np.empty((chunks, width), np.int64)
        out_row = np.empty((chunks, width), np.int64)
        out_dist = np.empty((chunks, width), np.int64)
        count = np.zeros(chunks, np.int64)
        _kernels.brute_pairs(qwords, words, words.shape[0], radius, out_q, out_row, out_dist, count)
        if count.max(initial=0) <= width:
            break
        width = int(count.max())
    valid = np.arange(width)[None, :] < count[:, None]
    q, row, dist = out_q[valid], out_row[valid], out_dist[valid]
    order = np.lexsort((row, q))
    return q[order], row[order], dist[order]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between rows of two broadcastable uint8 (..., 32) arrays (numpy only)."""
    return np.unpackbits(np.bitwise_xor(a, b), axis=-1).sum(axis=-1, dtype=np.int64)
