"""Onboarding, keys and integrations through the admin function."""

from __future__ import annotations

import json
import stat

from shared.domain import api_keys
from shared.domain.integrations import associated_data
from shared.local_stack.demo import fake_service_account
from shared.ports import Backend
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, EXPORT_TABLE, function_client

ADMIN = {"X-Admin-Key": ADMIN_KEY}


def _create(slug: str = "acmecorp") -> dict:  # type: ignore[type-arg]
    response = function_client("admin").post("/api/v1/admin/orgs", json={"org_slug": slug}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_create_org_returns_its_key_once_and_stores_only_a_hash(backend: Backend, settings: Settings) -> None:
    body = _create()
    key = body["api_key"]
    assert api_keys.parse_org(key) == "acmecorp" and body["dataset"] == "acmecorp"
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    listed = function_client("admin").get("/api/v1/admin/orgs/acmecorp/api-keys", headers=ADMIN).get_json()
    assert key not in json.dumps(listed) and listed["api_keys"][0]["key_id"] == body["key_id"]
    schemas = backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = 'cloudact-local'"
    )
    assert ("acmecorp",) in schemas and ("organizations",) in schemas


def test_create_org_needs_the_admin_key_and_a_valid_unique_slug(backend: Backend) -> None:
    client = function_client("admin")
    assert client.post("/api/v1/admin/orgs", json={"org_slug": "acmecorp"}).status_code == 401
    assert (
        client.post("/api/v1/admin/orgs", json={"org_slug": "acmecorp"}, headers={"X-Admin-Key": "no"}).status_code
        == 401
    )
    for bad in ["ab", "Acme", "acme-corp", "a" * 51, "acme corp", "../x", 7, None]:
        response = client.post("/api/v1/admin/orgs", json={"org_slug": bad}, headers=ADMIN)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == "org_slug", bad
    _create()
    assert client.post("/api/v1/admin/orgs", json={"org_slug": "acmecorp"}, headers=ADMIN).status_code == 409


def test_rotate_and_revoke(backend: Backend) -> None:
    first = _create()
    client = function_client("admin")
    rotated = client.post("/api/v1/admin/orgs/acmecorp/api-keys", json={"revoke_existing": True}, headers=ADMIN)
    assert rotated.status_code == 201 and rotated.get_json()["revoked_key_ids"] == [first["key_id"]]
    status = function_client("status")
    assert status.get("/api/v1/pipelines/runs", headers={"X-API-Key": first["api_key"]}).status_code == 401
    new_key = rotated.get_json()["api_key"]
    assert status.get("/api/v1/pipelines/runs", headers={"X-API-Key": new_key}).status_code == 200
    revoke = client.delete(f"/api/v1/admin/orgs/acmecorp/api-keys/{rotated.get_json()['key_id']}", headers=ADMIN)
    assert revoke.status_code == 204
    assert status.get("/api/v1/pipelines/runs", headers={"X-API-Key": new_key}).status_code == 401


def test_integration_is_validated_encrypted_and_never_returned(backend: Backend, settings: Settings) -> None:
    key = _create()["api_key"]
    headers = {"X-API-Key": key}
    client = function_client("admin")
    credential = fake_service_account("acme-billing-export")
    response = client.put(
        "/api/v1/integrations/acmecorp/gcp",
        json={"credential": credential, "billing_export_table": EXPORT_TABLE},
        headers=headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["client_email"] == credential["client_email"] and body["billing_export_table"] == EXPORT_TABLE
    listed = client.get("/api/v1/integrations/acmecorp", headers=headers)
    private_part = credential["private_key"].splitlines()[1]
    for text in (response.get_data(as_text=True), listed.get_data(as_text=True)):
        assert private_part not in text and "private_key" not in text
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert private_part.encode() not in path.read_bytes(), path
    master_key = settings.data_dir / "master-keys" / "v1.key"
    assert stat.S_IMODE(master_key.stat().st_mode) == 0o600
    stored = backend.store.get_integration("acmecorp", "GCP_SA")
    assert stored is not None
    plaintext = backend.keys.decrypt(stored.encrypted_credential, associated_data("acmecorp", "GCP_SA"))
    assert json.loads(plaintext) == credential


def test_integration_shape_errors_name_the_field(backend: Backend) -> None:
    headers = {"X-API-Key": _create()["api_key"]}
    client = function_client("admin")
    good = fake_service_account("acme-billing-export")
    cases = [
        ({"billing_export_table": EXPORT_TABLE}, "credential"),
        ({"credential": {**good, "type": "user"}, "billing_export_table": EXPORT_TABLE}, "credential.type"),
        (
            {"credential": {**good, "client_email": "me@gmail.com"}, "billing_export_table": EXPORT_TABLE},
            "credential.client_email",
        ),
        (
            {"credential": {**good, "private_key": "nope"}, "billing_export_table": EXPORT_TABLE},
            "credential.private_key",
        ),
        ({"credential": good, "billing_export_table": "proj.ds"}, "billing_export_table"),
        ({"credential": good, "billing_export_table": "proj-123.ds.t`; DROP"}, "billing_export_table"),
        ({"credential": good, "billing_export_table": EXPORT_TABLE, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = client.put("/api/v1/integrations/acmecorp/gcp", json=body, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == field, (
            field,
            response.get_json(),
        )
    assert client.put("/api/v1/integrations/acmecorp/aws", json={}, headers=headers).status_code == 404


def test_delete_integration_then_runs_are_refused(backend: Backend) -> None:
    headers = {"X-API-Key": _create()["api_key"]}
    client = function_client("admin")
    client.put(
        "/api/v1/integrations/acmecorp/gcp",
        json={"credential": fake_service_account("acme-billing"), "billing_export_table": EXPORT_TABLE},
        headers=headers,
    )
    assert client.delete("/api/v1/integrations/acmecorp/gcp", headers=headers).status_code == 204
    assert client.delete("/api/v1/integrations/acmecorp/gcp", headers=headers).status_code == 404
    submit = function_client("submit").post("/api/v1/pipelines/run/acmecorp/gcp/cost/billing", json={}, headers=headers)
    assert submit.status_code == 422
