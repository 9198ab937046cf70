"""Envelope encryption with AES-256-GCM: a fresh data key per item, wrapped by a master key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class VaultKeyError(ValueError):
    """A master key is missing, malformed, or does not open this item."""


@dataclass(frozen=True)
class MasterKeys:
    """The current master key (new items and rotation) and older ones still able to unwrap."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(b"staydown-master-key:" + key).hexdigest()[:16]

    @property
    def current_id(self) -> str:
        return self.key_id(self.current)

    def by_id(self, key_id: str) -> bytes:
        for key in (self.current, *self.previous):
            if self.key_id(key) == key_id:
                return key
        raise VaultKeyError(f"no configured master key has id {key_id}: was it removed before rotation finished?")

    @classmethod
    def from_base64(cls, current: str, previous: list[str] | tuple[str, ...] = ()) -> MasterKeys:
        return cls(_decode(current), tuple(_decode(p) for p in previous))


def _decode(text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VaultKeyError("a vault master key is base64 of 32 random bytes (openssl rand -base64 32)") from None
    if len(key) != 32:
        raise VaultKeyError(f"a vault master key is 32 bytes, this one is {len(key)}")
    return key


def seal(plaintext: bytes, *, keys: MasterKeys, item_aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt: returns (blob = nonce + ciphertext, wrapped data key). Only ciphertext is written."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    blob = nonce + AESGCM(data_key).encrypt(nonce, plaintext, item_aad)
    return blob, wrap(data_key, keys.current, item_aad)


def wrap(data_key: bytes, master: bytes, item_aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, b"wrap:" + item_aad)


def unwrap(wrapped: bytes, master: bytes, item_aad: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], b"wrap:" + item_aad)
    except InvalidTag:
        raise VaultKeyError("the master key does not open this item's data key") from None


def open_blob(blob: bytes, wrapped: bytes, *, master: bytes, item_aad: bytes) -> bytes:
    data_key = unwrap(wrapped, master, item_aad)
    try:
        return AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], item_aad)
    except InvalidTag:
        raise VaultKeyError("the stored item failed its integrity check: it was altered or belongs elsewhere") from None
