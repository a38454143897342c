"""OpenAI and Anthropic admin-key integrations through the admin function: shape checks before
anything is stored, the vendor's word when asked (``verify``), metadata only on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.domain.integrations import associated_data
from shared.errors import TerminalError
from shared.local_stack.fakes import (
    DEFAULT_ANTHROPIC_ADMIN_KEY,
    DEFAULT_OPENAI_ADMIN_KEY,
    FakeServer,
    key_fingerprint,
    new_org,
)
from shared.ports import Backend
from shared.services import onboarding
from shared.settings import Settings
from tests.conftest import function_client

ADMIN_REQUIRED = "an admin key is required to read organization costs"
VENDORS = {
    "openai": ("OPENAI_ADMIN_KEY", DEFAULT_OPENAI_ADMIN_KEY, "OpenAI"),
    "anthropic": ("ANTHROPIC_ADMIN_KEY", DEFAULT_ANTHROPIC_ADMIN_KEY, "Anthropic"),
}


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def org_key(settings: Settings, backend: Backend, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> str:
    fake_server.fakes.reset()
    for name, value in fake_server.env.items():
        monkeypatch.setenv(name, value)
    _, key, _ = onboarding.create_org(backend, "acmecorp")
    return key


def put(org_key: str, provider: str, body: dict[str, Any]) -> Any:
    return function_client("admin").put(
        f"/api/v1/integrations/acmecorp/{provider}", json=body, headers={"X-API-Key": org_key}
    )


@pytest.mark.parametrize("provider", VENDORS)
def test_admin_key_is_stored_encrypted_and_only_metadata_comes_back(
    org_key: str, backend: Backend, provider: str
) -> None:
    kind, key, _ = VENDORS[provider]
    response = put(org_key, provider, {"credential": key})
    assert response.status_code == 200
    body = response.get_json()
    assert body["integration_type"] == kind and body["provider"] == provider
    assert body["fingerprint"] == key_fingerprint(key)
    assert key not in response.get_data(as_text=True)
    listed = function_client("admin").get("/api/v1/integrations/acmecorp", headers={"X-API-Key": org_key})
    assert key not in listed.get_data(as_text=True)
    assert [item["integration_type"] for item in listed.get_json()["integrations"]] == [kind]
    stored = backend.store.get_integration("acmecorp", kind)
    assert stored is not None and key not in str(stored.encrypted_credential)
    plaintext = backend.keys.decrypt(stored.encrypted_credential, associated_data("acmecorp", kind))
    assert key in plaintext.decode()
    with pytest.raises(TerminalError):  # bound to org + kind: not readable as another org's
        backend.keys.decrypt(stored.encrypted_credential, associated_data("globex", kind))


@pytest.mark.parametrize(
    ("provider", "credential", "message"),
    [
        (
            "openai",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
            "an admin key is required to read organization costs",
        ),
        ("openai", "sk-svcacct-abcdefghijklmnopqrstuvwxyz01234", ADMIN_REQUIRED),
        (
            "anthropic",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
            "an admin key is required to read organization costs",
        ),
        ("openai", "hello", "OpenAI admin keys start with sk-admin-"),
        ("anthropic", "sk-admin-abcdefghijklmnop", "Anthropic admin keys start with sk-ant-admin"),
        ("openai", "sk-admin-has spaces and ; stuff", "malformed OpenAI admin key"),
        ("openai", {"key": "sk-admin-x"}, "expected the OpenAI admin key as a string"),
    ],
)
def test_keys_of_the_wrong_shape_are_refused_before_storing(
    org_key: str, backend: Backend, fake_server: FakeServer, provider: str, credential: Any, message: str
) -> None:
    response = put(org_key, provider, {"credential": credential})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert message in error["message"] and error["field"] == "credential"
    assert backend.store.list_integrations("acmecorp") == []
    assert fake_server.fakes.log.count() == 0


def test_unknown_fields_are_refused(org_key: str) -> None:
    response = put(org_key, "openai", {"credential": DEFAULT_OPENAI_ADMIN_KEY, "billing_export_table": "a.b.c"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "billing_export_table"
    response = put(org_key, "openai", {"credential": DEFAULT_OPENAI_ADMIN_KEY, "verify": "yes"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "verify"


@pytest.mark.parametrize("provider", VENDORS)
def test_verify_asks_the_vendor_once_and_keeps_a_key_it_accepts(
    org_key: str, backend: Backend, fake_server: FakeServer, provider: str
) -> None:
    kind, key, _ = VENDORS[provider]
    response = put(org_key, provider, {"credential": key, "verify": True})
    assert response.status_code == 200, response.get_json()
    assert fake_server.fakes.log.count(key=key) == 1
    assert backend.store.get_integration("acmecorp", kind) is not None


@pytest.mark.parametrize("provider", VENDORS)
def test_verify_refuses_a_key_the_vendor_rejects_and_stores_nothing(
    org_key: str, backend: Backend, fake_server: FakeServer, provider: str
) -> None:
    _, _, label = VENDORS[provider]
    stranger = new_org(provider, seed=31337).admin_key
    response = put(org_key, provider, {"credential": stranger, "verify": True})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert f"rejected by {label}" in error["message"] and error["field"] == "credential"
    assert stranger not in response.get_data(as_text=True)
    assert backend.store.list_integrations("acmecorp") == []
    assert fake_server.fakes.log.count(key=stranger) == 1


def test_unknown_provider_is_404(org_key: str) -> None:
    assert put(org_key, "aws", {"credential": "x"}).status_code == 404


def test_verify_while_the_vendor_is_down_is_503_and_stores_nothing(
    org_key: str, backend: Backend, fake_server: FakeServer
) -> None:
    fake_server.fakes.faults.server_error(times=100, status=500)
    response = put(org_key, "openai", {"credential": DEFAULT_OPENAI_ADMIN_KEY, "verify": True})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert backend.store.list_integrations("acmecorp") == []
    assert 2 <= fake_server.fakes.log.count(status=500) <= 6  # retried briefly: someone is waiting
