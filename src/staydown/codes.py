"""Unguessable public codes (notice tracking codes, statement codes): Crockford base32, read aloud easily.

One draw from the OS per code: a code drawn character by character called `os.urandom` twenty
times, and each call let other threads take the interpreter, which a sweep issuing a thousand
statements felt (docs/bench-sweep.md)."""

from __future__ import annotations

import secrets

# Crockford's base32: no I, L, O or U, so a code read over the phone survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LEN = 4, 5  # 20 characters, 100 random bits
LENGTH = GROUPS * GROUP_LEN


def random_chars(length: int = LENGTH) -> str:
    """`length` characters of ALPHABET, 5 random bits each (32 symbols: no modulo bias)."""
    value = int.from_bytes(secrets.token_bytes((length * 5 + 7) // 8), "big")
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(length))


def grouped(chars: str, prefix: str | None = None) -> str:
    groups = [chars[i : i + GROUP_LEN] for i in range(0, len(chars), GROUP_LEN)]
    return "-".join(([prefix] if prefix else []) + groups)


def normalise(code: str, *, prefix: str | None = None) -> str | None:
    """The canonical form of a code as a person may type it (lower case, no dashes, O for 0, I or
    L for 1), or None if it can't be one of ours."""
    clean = code.strip().upper().replace("-", "").replace(" ", "")
    if prefix and clean.startswith(prefix):
        clean = clean[len(prefix) :]
    clean = clean.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(clean) != LENGTH or any(c not in ALPHABET for c in clean):
        return None
    return grouped(clean, prefix)
