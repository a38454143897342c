"""KeyManager on local master-key files (AES-256-GCM envelope encryption).

Same envelope as the Cloud KMS adapter (``shared.adapters.envelope``): a fresh 256-bit data key
encrypts the secret; the master key wraps the data key (AES-256-GCM too). Both layers take the
associated data, so a ciphertext moved to another org or provider fails to decrypt. Master keys
are versioned like a KMS key: ``rotate()`` adds a version that wraps new data keys, and the
version recorded in each envelope still unwraps old ones.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.adapters import envelope
from shared.errors import TerminalError

_VERSION_FILE = re.compile(r"v(\d+)\.key")
_KEY_VERSION = re.compile(r"local/v(\d+)")


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
        data_key = envelope.new_data_key()
        return envelope.Envelope(
            key_version=f"local/v{version}",
            wrapped_key=envelope.seal(self._load()[version], data_key, associated_data),
            ciphertext=envelope.seal(data_key, plaintext, associated_data),
        ).to_record()

    def decrypt(self, record: Mapping[str, Any], associated_data: bytes) -> bytes:
        sealed = envelope.parse(record)
        version = _KEY_VERSION.fullmatch(sealed.key_version)
        master = self._load().get(int(version.group(1))) if version else None
        if master is None:
            # another key manager's envelope, or a version this directory never had
            raise TerminalError(envelope.UNDECRYPTABLE)
        data_key = envelope.unseal(master, sealed.wrapped_key, associated_data)
        return envelope.unseal(data_key, sealed.ciphertext, associated_data)
