"""KeyManager on local master-key files (AES-256-GCM envelope encryption).

Same envelope as the Cloud KMS adapter: a fresh 256-bit data key encrypts the secret; the master
key wraps the data key. Both layers take the associated data, so a ciphertext moved to another org
or provider fails to decrypt. Master keys are versioned like a KMS key: ``rotate()`` adds a version
that wraps new data keys, and the version recorded in each envelope still unwraps old ones.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import TerminalError

_NONCE_BYTES = 12
_VERSION_FILE = re.compile(r"v(\d+)\.key")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


class LocalKeyManager:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._keys: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def _read(self) -> dict[int, bytes]:
        return {
            int(match.group(1)): path.read_bytes()
            for path in self._directory.glob("v*.key")
            if (match := _VERSION_FILE.fullmatch(path.name))
        }

    def _load(self) -> dict[int, bytes]:
        if not self._keys:
            with self._lock:
                if not self._read():
                    self._create(1)
                keys = self._read()
                if any(len(key) != 32 for key in keys.values()):
                    raise TerminalError(f"a master key file in {self._directory} is not a 256-bit key")
                self._keys = keys
        return self._keys

    def _create(self, version: int) -> None:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # O_EXCL: two processes creating the same version cannot both write it
            fd = os.open(self._directory / f"v{version}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))

    @property
    def primary_version(self) -> int:
        return max(self._load())

    def rotate(self) -> int:
        """A new primary version; older versions stay for decryption."""
        self._create(self.primary_version + 1)
        self._keys = {}
        return self.primary_version

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]:
        version = self.primary_version
        data_key = secrets.token_bytes(32)
        nonce, key_nonce = secrets.token_bytes(_NONCE_BYTES), secrets.token_bytes(_NONCE_BYTES)
        ciphertext = _aead(data_key).encrypt(nonce, plaintext, associated_data)
        wrapped_key = _aead(self._load()[version]).encrypt(key_nonce, data_key, associated_data)
        return {
            "scheme": "aes256gcm-envelope",
            "key_version": f"local/v{version}",
            "wrapped_key": _b64(key_nonce + wrapped_key),
            "ciphertext": _b64(nonce + ciphertext),
        }

    def decrypt(self, envelope: Mapping[str, Any], associated_data: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            version = int(str(envelope["key_version"]).removeprefix("local/v"))
            wrapped = _unb64(envelope["wrapped_key"])
            sealed = _unb64(envelope["ciphertext"])
            master = self._load()[version]
            data_key = _aead(master).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], associated_data)
            plaintext: bytes = _aead(data_key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
        except (InvalidTag, KeyError, ValueError, TypeError, AttributeError):
            # never say more: the caller only needs to know the envelope is not theirs or is damaged
            raise TerminalError("Stored credential cannot be decrypted for this org and provider") from None
        return plaintext
