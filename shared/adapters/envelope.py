"""The AES-256-GCM envelope both key managers write and read.

A secret is sealed with a fresh 256-bit data key; the key manager wraps the data key with its
master key (a local key file, or Cloud KMS). Both layers take the same associated data (org and
provider), so an envelope moved to another org or provider does not open. The stored shape is::

    {"scheme": "aes256gcm-envelope", "key_version": "...",
     "wrapped_key": base64(the key manager's wrapping of the data key),
     "ciphertext": base64(12-byte nonce + AES-GCM ciphertext and tag)}

Whatever goes wrong opening an envelope (a field missing or not base64, another scheme, a tag that
does not verify) is the same ``TerminalError``: the caller only needs to know the envelope is not
theirs or is damaged, and saying more would help someone probing with planted envelopes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import TerminalError

SCHEME = "aes256gcm-envelope"
NONCE_BYTES = 12
DATA_KEY_BYTES = 32
UNDECRYPTABLE = "Stored credential cannot be decrypted for this org and provider"


@dataclass(frozen=True)
class Envelope:
    key_version: str
    wrapped_key: bytes
    ciphertext: bytes
    """The nonce followed by the AES-GCM ciphertext and tag."""

    def to_record(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME,
            "key_version": self.key_version,
            "wrapped_key": _b64(self.wrapped_key),
            "ciphertext": _b64(self.ciphertext),
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode(), validate=True)


def parse(record: Mapping[str, Any]) -> Envelope:
    """The stored envelope's parts; raises TerminalError if it is not one of ours."""
    try:
        if record["scheme"] != SCHEME:
            raise ValueError("another scheme")
        key_version = record["key_version"]
        if not isinstance(key_version, str) or not key_version:
            raise ValueError("no key version")
        return Envelope(key_version, _unb64(record["wrapped_key"]), _unb64(record["ciphertext"]))
    except (KeyError, ValueError, TypeError, binascii.Error):
        raise TerminalError(UNDECRYPTABLE) from None


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """A fresh nonce followed by the AES-256-GCM ciphertext of ``plaintext`` under ``key``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed: bytes = _aead(key).encrypt(nonce, plaintext, associated_data)
    return nonce + sealed


def unseal(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """What ``seal`` sealed; raises TerminalError if the key, the data or its binding differ."""
    from cryptography.exceptions import InvalidTag

    try:
        plaintext: bytes = _aead(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError, TypeError):
        raise TerminalError(UNDECRYPTABLE) from None
    return plaintext
