"""The KeyManager contract: one suite, run against the local master-key files and the Cloud KMS
adapter. Every assertion holds for both.

Cloud KMS has no emulator, so the KMS adapter is tested at its client boundary against
``FakeKms``: an in-process stand-in for ``KeyManagementServiceClient.encrypt/decrypt`` that does
what the service does with a request: real AES-256-GCM under per-version keys, the associated data
bound into the ciphertext, CRC32C checked on the way in and supplied on the way out. It is the only
fake in these suites.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.api_core import exceptions as api_exceptions

from shared.adapters import envelope as shared_envelope
from shared.errors import CloudActError, TerminalError, TransientError
from shared.ports import KeyManager

CRYPTO_KEY = "projects/cloudact-test/locations/us/keyRings/cloudact/cryptoKeys/integrations"
AAD = b"cloudact:integration:acme:GCP_SA"
SECRET = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE...\n"}).encode()


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclass
class EncryptResponse:
    name: str
    ciphertext: bytes
    ciphertext_crc32c: int
    verified_plaintext_crc32c: bool
    verified_additional_authenticated_data_crc32c: bool


@dataclass
class DecryptResponse:
    plaintext: bytes
    plaintext_crc32c: int
    used_primary: bool


@dataclass
class FakeKms:
    """``KeyManagementServiceClient.encrypt`` and ``decrypt``, as the service behaves."""

    crypto_key: str
    versions: dict[int, bytes] = field(default_factory=lambda: {1: secrets.token_bytes(32)})
    primary: int = 1
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # faults the next call suffers, to see the adapter notice them
    corrupt_next_response: bool = False
    unverified_next_request: bool = False
    fail_next_with: Exception | None = None

    def rotate(self) -> None:
        self.primary += 1
        self.versions[self.primary] = secrets.token_bytes(32)

    def _checked(self, method: str, request: dict[str, Any]) -> None:
        self.requests.append((method, request))
        if self.fail_next_with is not None:
            error, self.fail_next_with = self.fail_next_with, None
            raise error
        if request["name"] != self.crypto_key:
            raise api_exceptions.NotFound(f"{request['name']} not found.")
        data_field = "plaintext" if method == "encrypt" else "ciphertext"
        for name in (data_field, "additional_authenticated_data"):
            if f"{name}_crc32c" in request and request[f"{name}_crc32c"] != crc32c(request[name]):
                raise api_exceptions.InvalidArgument(f"The checksum in field {name}_crc32c did not match the data.")

    def encrypt(self, request: dict[str, Any], retry: Any = None, timeout: Any = None) -> EncryptResponse:
        self._checked("encrypt", request)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.versions[self.primary]).encrypt(
            nonce, request["plaintext"], request["additional_authenticated_data"]
        )
        # like the service, the ciphertext names the version that made it
        ciphertext = self.primary.to_bytes(4, "big") + nonce + sealed
        verified = not self.unverified_next_request
        self.unverified_next_request = False
        checksum = crc32c(ciphertext)
        if self.corrupt_next_response:
            self.corrupt_next_response = False
            ciphertext = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
        return EncryptResponse(
            name=f"{self.crypto_key}/cryptoKeyVersions/{self.primary}",
            ciphertext=ciphertext,
            ciphertext_crc32c=checksum,
            verified_plaintext_crc32c=verified and "plaintext_crc32c" in request,
            verified_additional_authenticated_data_crc32c=verified
            and "additional_authenticated_data_crc32c" in request,
        )

    def decrypt(self, request: dict[str, Any], retry: Any = None, timeout: Any = None) -> DecryptResponse:
        self._checked("decrypt", request)
        ciphertext = request["ciphertext"]
        version = int.from_bytes(ciphertext[:4], "big")
        try:
            plaintext = AESGCM(self.versions[version]).decrypt(
                ciphertext[4:16], ciphertext[16:], request["additional_authenticated_data"]
            )
        except Exception:
            raise api_exceptions.InvalidArgument("Decryption failed: the ciphertext is invalid.") from None
        checksum = crc32c(plaintext)
        if self.corrupt_next_response:
            self.corrupt_next_response = False
            plaintext = plaintext[:-1] + bytes([plaintext[-1] ^ 1])
        return DecryptResponse(plaintext=plaintext, plaintext_crc32c=checksum, used_primary=version == self.primary)


@dataclass
class KeysUnderTest:
    keys: KeyManager
    rotate: Callable[[], None]
    # the master key's own operations, bypassing the adapter: (data key, associated data) ->
    # (key version, wrapped key), and (wrapped key, associated data) -> data key
    wrap: Callable[[bytes, bytes], tuple[str, bytes]]
    unwrap: Callable[[bytes, bytes], bytes]


@pytest.fixture(params=["local", "kms"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> KeysUnderTest:
    if request.param == "local":
        from shared.adapters.local.keys import LocalKeyManager

        local = LocalKeyManager(tmp_path / "master-keys")

        def rotate_local() -> None:
            local.rotate()

        def master() -> bytes:
            return (tmp_path / "master-keys" / f"v{local.primary_version}.key").read_bytes()

        def wrap_local(data_key: bytes, aad: bytes) -> tuple[str, bytes]:
            nonce = secrets.token_bytes(12)
            return f"local/v{local.primary_version}", nonce + AESGCM(master()).encrypt(nonce, data_key, aad)

        def unwrap_local(wrapped: bytes, aad: bytes) -> bytes:
            return AESGCM(master()).decrypt(wrapped[:12], wrapped[12:], aad)

        return KeysUnderTest(local, rotate_local, wrap_local, unwrap_local)
    from shared.adapters.gcp.keys import KmsKeyManager

    fake = FakeKms(CRYPTO_KEY)

    def wrap_kms(data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        response = fake.encrypt({"name": CRYPTO_KEY, "plaintext": data_key, "additional_authenticated_data": aad})
        return response.name, response.ciphertext

    def unwrap_kms(wrapped: bytes, aad: bytes) -> bytes:
        return fake.decrypt({"name": CRYPTO_KEY, "ciphertext": wrapped, "additional_authenticated_data": aad}).plaintext

    return KeysUnderTest(KmsKeyManager(CRYPTO_KEY, client=fake), fake.rotate, wrap_kms, unwrap_kms)


def _tampered(envelope: dict[str, Any], name: str) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(envelope[name]))
    raw[-1] ^= 1
    return {**envelope, name: base64.b64encode(bytes(raw)).decode()}


def test_a_secret_round_trips_and_its_envelope_hides_it(keys: KeysUnderTest) -> None:
    envelope = keys.keys.encrypt(SECRET, AAD)
    assert set(envelope) == {"scheme", "key_version", "wrapped_key", "ciphertext"}
    assert envelope["scheme"] == "aes256gcm-envelope"
    assert b"PRIVATE KEY" not in json.dumps(envelope).encode()
    assert keys.keys.decrypt(envelope, AAD) == SECRET
    # a fresh data key and nonce each time: equal secrets give unrelated envelopes
    again = keys.keys.encrypt(SECRET, AAD)
    assert again["ciphertext"] != envelope["ciphertext"] and again["wrapped_key"] != envelope["wrapped_key"]


def test_an_envelope_opens_only_for_its_own_org_and_provider(keys: KeysUnderTest) -> None:
    envelope = keys.keys.encrypt(SECRET, AAD)
    with pytest.raises(TerminalError, match="cannot be decrypted"):
        keys.keys.decrypt(envelope, b"cloudact:integration:globex:GCP_SA")


@pytest.mark.parametrize("part", ["ciphertext", "wrapped_key"])
def test_a_damaged_envelope_is_refused(keys: KeysUnderTest, part: str) -> None:
    envelope = keys.keys.encrypt(SECRET, AAD)
    with pytest.raises(TerminalError, match="cannot be decrypted"):
        keys.keys.decrypt(_tampered(envelope, part), AAD)


@pytest.mark.parametrize(
    "damage",
    [
        {"wrapped_key": "***"},
        {"ciphertext": ""},
        {"key_version": "v999"},
        {"key_version": ""},
        {"key_version": None},
        {"scheme": "rot13"},
        {"scheme": None},
        {"wrapped_key": 12345},
        {"ciphertext": None},
    ],
)
def test_a_malformed_envelope_is_refused(keys: KeysUnderTest, damage: dict[str, Any]) -> None:
    envelope = {**keys.keys.encrypt(SECRET, AAD), **damage}
    with pytest.raises(TerminalError) as refused:
        keys.keys.decrypt(envelope, AAD)
    # one message from both key managers (the shared envelope code), naming nothing of the envelope
    assert refused.value.message == shared_envelope.UNDECRYPTABLE


@pytest.mark.parametrize("field", ["scheme", "key_version", "wrapped_key", "ciphertext"])
def test_an_envelope_missing_a_field_is_refused(keys: KeysUnderTest, field: str) -> None:
    envelope = keys.keys.encrypt(SECRET, AAD)
    del envelope[field]
    with pytest.raises(TerminalError) as refused:
        keys.keys.decrypt(envelope, AAD)
    assert refused.value.message == shared_envelope.UNDECRYPTABLE


def test_each_key_manager_writes_the_shared_envelope(keys: KeysUnderTest) -> None:
    # read by the shared code alone: its layout, and the secret sealed under the data key the
    # master key wrapped
    parsed = shared_envelope.parse(keys.keys.encrypt(SECRET, AAD))
    data_key = keys.unwrap(parsed.wrapped_key, AAD)
    assert len(data_key) == shared_envelope.DATA_KEY_BYTES
    assert shared_envelope.unseal(data_key, parsed.ciphertext, AAD) == SECRET
    with pytest.raises(TerminalError):
        shared_envelope.unseal(data_key, parsed.ciphertext, b"cloudact:integration:globex:GCP_SA")


def test_each_key_manager_reads_an_envelope_the_shared_code_made(keys: KeysUnderTest) -> None:
    data_key = secrets.token_bytes(32)
    key_version, wrapped = keys.wrap(data_key, AAD)
    made = shared_envelope.Envelope(key_version, wrapped, shared_envelope.seal(data_key, SECRET, AAD)).to_record()
    assert keys.keys.decrypt(made, AAD) == SECRET


def test_a_wrapped_key_moved_into_another_orgs_envelope_is_refused(keys: KeysUnderTest) -> None:
    ours = keys.keys.encrypt(SECRET, AAD)
    theirs = keys.keys.encrypt(SECRET, b"cloudact:integration:globex:GCP_SA")
    with pytest.raises(TerminalError, match="cannot be decrypted"):
        keys.keys.decrypt({**ours, "wrapped_key": theirs["wrapped_key"]}, AAD)


def test_rotation_keeps_old_envelopes_readable(keys: KeysUnderTest) -> None:
    before = keys.keys.encrypt(SECRET, AAD)
    keys.rotate()
    after = keys.keys.encrypt(SECRET, AAD)
    assert after["key_version"] != before["key_version"]
    assert keys.keys.decrypt(before, AAD) == SECRET
    assert keys.keys.decrypt(after, AAD) == SECRET


# -- Cloud KMS only: what travels to the service -------------------------------------------------
@pytest.fixture
def kms() -> tuple[Any, FakeKms]:
    from shared.adapters.gcp.keys import KmsKeyManager

    fake = FakeKms(CRYPTO_KEY)
    return KmsKeyManager(CRYPTO_KEY, client=fake), fake


def test_only_the_data_key_goes_to_kms_with_checksums_and_the_associated_data(kms: tuple[Any, FakeKms]) -> None:
    manager, fake = kms
    envelope = manager.encrypt(SECRET, AAD)
    manager.decrypt(envelope, AAD)
    (_, sent), (_, opened) = fake.requests
    assert len(sent["plaintext"]) == 32 and SECRET not in sent["plaintext"]  # a 256-bit data key, not the secret
    assert sent["plaintext_crc32c"] == crc32c(sent["plaintext"])
    assert sent["additional_authenticated_data"] == AAD == opened["additional_authenticated_data"]
    assert sent["additional_authenticated_data_crc32c"] == crc32c(AAD)
    assert opened["name"] == CRYPTO_KEY  # decrypt by the key: any version of it
    assert opened["ciphertext_crc32c"] == crc32c(opened["ciphertext"])
    assert envelope["key_version"] == f"{CRYPTO_KEY}/cryptoKeyVersions/1"


@pytest.mark.parametrize("call", ["encrypt", "decrypt"])
def test_a_response_corrupted_in_transit_is_transient(kms: tuple[Any, FakeKms], call: str) -> None:
    manager, fake = kms
    envelope = manager.encrypt(SECRET, AAD)
    fake.corrupt_next_response = True
    with pytest.raises(TransientError, match="corrupted in transit"):
        manager.encrypt(SECRET, AAD) if call == "encrypt" else manager.decrypt(envelope, AAD)


def test_a_request_kms_could_not_verify_is_transient(kms: tuple[Any, FakeKms]) -> None:
    manager, fake = kms
    fake.unverified_next_request = True
    with pytest.raises(TransientError, match="corrupted in transit"):
        manager.encrypt(SECRET, AAD)


def test_a_checksum_kms_rejects_is_transient(kms: tuple[Any, FakeKms], monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters.gcp import keys as kms_keys

    manager, _ = kms
    # as if the bytes changed between our checksum and KMS: its answer is a checksum error
    monkeypatch.setattr(kms_keys, "_crc32c", lambda data: crc32c(data) ^ 1)
    with pytest.raises(TransientError, match="corrupted in transit"):
        manager.encrypt(SECRET, AAD)


@pytest.mark.parametrize(
    "error, expected",
    [
        (api_exceptions.ServiceUnavailable("unavailable"), TransientError),
        (api_exceptions.DeadlineExceeded("deadline"), TransientError),
        (api_exceptions.PermissionDenied("denied on key"), TerminalError),
        (api_exceptions.FailedPrecondition("key version disabled"), TerminalError),
    ],
)
def test_kms_errors_become_project_errors(
    kms: tuple[Any, FakeKms], error: Exception, expected: type[CloudActError]
) -> None:
    manager, fake = kms
    envelope = manager.encrypt(SECRET, AAD)
    for call in (lambda: manager.encrypt(SECRET, AAD), lambda: manager.decrypt(envelope, AAD)):
        fake.fail_next_with = error
        with pytest.raises(expected) as raised:
            call()
        assert "denied on key" not in raised.value.message  # vendor detail stays in the cause


def test_an_envelope_naming_another_key_is_refused_without_asking_kms(kms: tuple[Any, FakeKms]) -> None:
    manager, fake = kms
    envelope = manager.encrypt(SECRET, AAD)
    foreign = {**envelope, "key_version": "projects/evil-corp/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"}
    local = {**envelope, "key_version": "local/v1"}
    calls = len(fake.requests)
    for envelope_of_another_key in (foreign, local):
        with pytest.raises(TerminalError, match="cannot be decrypted"):
            manager.decrypt(envelope_of_another_key, AAD)
    assert len(fake.requests) == calls


def test_the_key_name_is_validated_up_front() -> None:
    from shared.adapters.gcp.keys import KmsKeyManager

    with pytest.raises(TerminalError):
        KmsKeyManager("projects/p/keyRings/r")  # no location, no crypto key
    with pytest.raises(TerminalError):
        KmsKeyManager(f"{CRYPTO_KEY}/cryptoKeyVersions/1")  # a version: encrypt must follow rotation
