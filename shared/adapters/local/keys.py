"""KeyManager on a local master-key file (AES-256-GCM envelope encryption).

Same envelope as the Cloud KMS adapter: a fresh 256-bit data key encrypts the secret; the master
key wraps the data key. Both layers take the associated data, so a ciphertext moved to another org
or provider fails to decrypt.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import TerminalError

_NONCE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


def _load_or_create_master_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write a key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise TerminalError(f"master key file {path} is not a 256-bit key") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class LocalKeyManager:
    key_name = "local-master-key"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._master: bytes | None = None

    def _aead(self, key: bytes) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(key)

    def _master_aead(self) -> Any:
        if self._master is None:
            self._master = _load_or_create_master_key(self._path)
        return self._aead(self._master)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]:
        data_key = secrets.token_bytes(32)
        nonce, key_nonce = secrets.token_bytes(_NONCE_BYTES), secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead(data_key).encrypt(nonce, plaintext, associated_data)
        wrapped_key = self._master_aead().encrypt(key_nonce, data_key, associated_data)
        return {
            "scheme": "aes256gcm-envelope",
            "key_name": self.key_name,
            "wrapped_key": _b64(key_nonce + wrapped_key),
            "ciphertext": _b64(nonce + ciphertext),
        }

    def decrypt(self, envelope: Mapping[str, Any], associated_data: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            wrapped = _unb64(envelope["wrapped_key"])
            sealed = _unb64(envelope["ciphertext"])
            data_key = self._master_aead().decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], associated_data)
            plaintext: bytes = self._aead(data_key).decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data
            )
        except (InvalidTag, KeyError, ValueError):
            # never say more: the caller only needs to know the envelope is not theirs or is damaged
            raise TerminalError("Stored credential cannot be decrypted for this org and provider") from None
        return plaintext
