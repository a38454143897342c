"""KeyManager on Cloud KMS (``google-cloud-kms``): envelope encryption.

Each secret gets a fresh 256-bit data key, generated here; the secret is sealed locally with
AES-256-GCM and the data key is wrapped by Cloud KMS (``encrypt`` on the crypto key). Both layers
take the associated data (org and provider), so a ciphertext moved to another org or provider does
not decrypt. Only the wrapped data key ever travels to KMS: a credential's plaintext never leaves
the process, and KMS's 64 KiB request limit does not bound the secret's size.

The envelope (``shared.adapters.envelope``) is the local key manager's. ``key_version`` is the crypto key version that
wrapped the data key (KMS's answer, ``response.name``): after a rotation new secrets use the new
primary version while KMS still decrypts old ones, because decrypting by the crypto key's name
works for any of its enabled versions.

Every call carries CRC32C checksums both ways (Cloud KMS's data-integrity guidelines): KMS
verifies what it received, we verify what came back. A mismatch means corruption in transit, so
it is a ``TransientError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.adapters import envelope
from shared.errors import TerminalError, TransientError

from ._clients import LazyClient
from .errors import RetryPolicy, is_retryable_grpc, is_vendor_error, translate

CRYPTO_KEY = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[\w-]+/cryptoKeys/[\w-]+")
CRYPTO_KEY_VERSION = re.compile(CRYPTO_KEY.pattern + r"/cryptoKeyVersions/\d+")

KMS_RETRY = RetryPolicy(initial_s=0.1, maximum_s=2.0, multiplier=2.0, deadline_s=20.0)
"""KMS calls are small and fast; 20 s rides out a blip without holding a request or a run long."""

KMS_RPC_TIMEOUT_S = 5.0


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def _new_client() -> Any:
    from google.cloud import kms

    return kms.KeyManagementServiceClient()


class KmsKeyManager:
    def __init__(self, crypto_key: str, *, client: Any = None) -> None:
        """``crypto_key``: ``projects/P/locations/L/keyRings/R/cryptoKeys/K``.

        ``client`` is a ``KeyManagementServiceClient`` (or anything with its ``encrypt`` and
        ``decrypt``); by default one is created on first use with the default credentials.
        """
        if not CRYPTO_KEY.fullmatch(crypto_key):
            raise TerminalError("CLOUDACT_KMS_KEY must be projects/P/locations/L/keyRings/R/cryptoKeys/K")
        self.crypto_key = crypto_key
        self._client: LazyClient[Any] = LazyClient(_new_client, instance=client)

    def _call(self, method: str, request: dict[str, Any]) -> Any:
        try:
            return getattr(self._client.get(), method)(
                request=request, retry=KMS_RETRY.to_retry(is_retryable_grpc), timeout=KMS_RPC_TIMEOUT_S
            )
        except Exception as exc:
            if not is_vendor_error(exc):
                raise
            from google.api_core.exceptions import InvalidArgument

            if isinstance(exc, InvalidArgument) and "crc32c" in str(exc.message).lower():
                # KMS found our checksum wrong for what it received: corrupted in transit
                raise TransientError(f"Key management {method} request was corrupted in transit; retry") from None
            if method == "decrypt" and isinstance(exc, InvalidArgument):
                # KMS's answer to a wrapped key that is not this key's, or to other associated data
                raise TerminalError(envelope.UNDECRYPTABLE) from None
            raise translate(exc, f"Key management service {method} failed", show_detail=False) from exc

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]:
        data_key = envelope.new_data_key()
        sealed = envelope.seal(data_key, plaintext, associated_data)
        response = self._call(
            "encrypt",
            {
                "name": self.crypto_key,
                "plaintext": data_key,
                "plaintext_crc32c": _crc32c(data_key),
                "additional_authenticated_data": associated_data,
                "additional_authenticated_data_crc32c": _crc32c(associated_data),
            },
        )
        if not response.verified_plaintext_crc32c or not response.verified_additional_authenticated_data_crc32c:
            raise TransientError("Key management request was corrupted in transit; retry")
        if response.ciphertext_crc32c != _crc32c(response.ciphertext):
            raise TransientError("Key management response was corrupted in transit; retry")
        if not CRYPTO_KEY_VERSION.fullmatch(response.name or "") or not response.name.startswith(self.crypto_key + "/"):
            raise TerminalError("Key management service answered for another key")
        return envelope.Envelope(
            key_version=response.name, wrapped_key=bytes(response.ciphertext), ciphertext=sealed
        ).to_record()

    def decrypt(self, record: Mapping[str, Any], associated_data: bytes) -> bytes:
        sealed = envelope.parse(record)
        key_version, wrapped_key = sealed.key_version, sealed.wrapped_key
        # only this deployment's key: an envelope naming another key (a local one, or one planted
        # in the store) is refused before anything is sent anywhere
        if not (CRYPTO_KEY_VERSION.fullmatch(key_version) and key_version.startswith(self.crypto_key + "/")):
            raise TerminalError(envelope.UNDECRYPTABLE)
        response = self._call(
            "decrypt",
            {
                # the crypto key, not the version: KMS picks the version the ciphertext names
                "name": self.crypto_key,
                "ciphertext": wrapped_key,
                "ciphertext_crc32c": _crc32c(wrapped_key),
                "additional_authenticated_data": associated_data,
                "additional_authenticated_data_crc32c": _crc32c(associated_data),
            },
        )
        if response.plaintext_crc32c != _crc32c(response.plaintext):
            raise TransientError("Key management response was corrupted in transit; retry")
        return envelope.unseal(bytes(response.plaintext), sealed.ciphertext, associated_data)
