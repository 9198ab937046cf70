"""Password hashing with argon2id, a memory-hard function."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from staydown.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_dummy_hash: str | None = None  # what a name that is no account is checked against (same cost)


def configure_hashing(*, time_cost: int, memory_cost_kib: int, parallelism: int = 1) -> None:
    """Change the cost of new hashes (existing hashes keep the parameters they carry). The test
    suite lowers it so that hundreds of sign-ins stay fast; the service keeps the defaults."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism)
    _dummy_hash = None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches. Without a hash (no such account, or one without a password)
    the password is still checked, against a dummy hash of the same cost, and False returned: a
    sign-in takes the same work whether or not the account exists (no timing oracle)."""
    global _dummy_hash
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    if not password_hash:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash("staydown: no such account")
        password_hash, real = _dummy_hash, False
    else:
        real = True
    try:
        return _hasher.verify(password_hash, password) and real
    except (VerificationError, InvalidHashError):
        return False
