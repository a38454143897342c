"""No tenant can reach another; keys and credentials stay secret (issue: reliability and security, 10-17)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from shared.adapters.local.keys import LocalKeyManager
from shared.domain import api_keys
from shared.domain.integrations import associated_data
from shared.domain.runs import RunMessage
from shared.errors import TerminalError
from shared.settings import Settings
from tests.conftest import (
    ADMIN_KEY,
    YESTERDAY,
    Tenant,
    deliver_all,
    function_client,
    onboard,
    pubsub_cloud_event,
    submit,
)


@pytest.fixture
def other(tenant: Tenant, export_spec: Any) -> Tenant:
    return onboard(tenant.backend, "globex", export_spec)


def test_org_a_cannot_touch_org_b(tenant: Tenant, other: Tenant) -> None:
    b_run = submit(other, YESTERDAY).get_json()["pipeline_logging_id"]
    a = tenant.headers
    assert (
        function_client("submit").post("/api/v1/pipelines/run/globex/gcp/cost/billing", json={}, headers=a).status_code
        == 403
    )
    status = function_client("status")
    assert status.get(f"/api/v1/pipelines/runs/{b_run}", headers=a).status_code == 404
    listed = status.get("/api/v1/pipelines/runs", headers=a).get_json()
    assert b_run not in json.dumps(listed) and "globex" not in json.dumps(listed)
    costs = function_client("costs")
    day = {"start": YESTERDAY.isoformat(), "end": YESTERDAY.isoformat()}
    assert costs.get("/api/v1/costs/globex", query_string=day, headers=a).status_code == 403
    assert "globex" not in costs.get("/api/v1/pipelines", headers=a).get_data(as_text=True)
    admin = function_client("admin")
    assert admin.get("/api/v1/integrations/globex", headers=a).status_code == 403
    assert admin.delete("/api/v1/integrations/globex/gcp", headers=a).status_code == 403
    assert other.backend.store.get_integration("globex", "GCP_SA") is not None


def test_bad_checksum_is_refused_before_any_store_lookup(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    real = tenant.backend.store.find_api_key
    monkeypatch.setattr(
        tenant.backend.store, "find_api_key", lambda key_hash: lookups.append(key_hash) or real(key_hash)
    )
    key = tenant.api_key
    tampered = key[:-1] + ("a" if key[-1] != "a" else "b")
    response = function_client("status").get("/api/v1/pipelines/runs", headers={"X-API-Key": tampered})
    assert response.status_code == 401 and lookups == []
    assert function_client("status").get("/api/v1/pipelines/runs", headers=tenant.headers).status_code == 200
    assert lookups == [api_keys.hash_key(key)]  # what the store is asked for is the hash, never the key


def test_repeated_failed_authentication_is_throttled_per_client(tenant: Tenant, settings: Settings) -> None:
    client = function_client("status")
    guesser = {"REMOTE_ADDR": "192.0.2.10"}
    for _ in range(settings.auth_failure_limit):
        wrong = {"X-API-Key": api_keys.generate("acmecorp")}
        assert client.get("/api/v1/pipelines/runs", headers=wrong, environ_base=guesser).status_code == 401
    blocked = client.get("/api/v1/pipelines/runs", headers=tenant.headers, environ_base=guesser)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert blocked.get_json()["error"]["code"] == "too_many_requests"
    elsewhere = client.get("/api/v1/pipelines/runs", headers=tenant.headers, environ_base={"REMOTE_ADDR": "192.0.2.11"})
    assert elsewhere.status_code == 200


HOSTILE = [
    "`",
    "'",
    '"',
    ";",
    "--",
    "$",
    "../",
    "..%2F..%2Fetc",
    "\x00",
    "a" * 5000,
    "x`; DROP TABLE t; --",
    "acmecorp' OR '1'='1",
    "${jndi:ldap://x}",
    "%00",
    "é\u202e",
]


def test_hostile_values_on_every_route_get_only_4xx(tenant: Tenant) -> None:
    good = {
        "org_slug": "acmecorp",
        "provider": "gcp",
        "domain": "cost",
        "pipeline": "billing",
        "run_id": "00000000-0000-4000-8000-000000000000",
        "key_id": "key_0000",
    }
    routes = [
        ("submit", "POST", "/api/v1/pipelines/run/{org_slug}/{provider}/{domain}/{pipeline}"),
        ("status", "GET", "/api/v1/pipelines/runs/{run_id}"),
        ("admin", "GET", "/api/v1/admin/orgs/{org_slug}/api-keys"),
        ("admin", "DELETE", "/api/v1/admin/orgs/{org_slug}/api-keys/{key_id}"),
        ("admin", "PUT", "/api/v1/integrations/{org_slug}/{provider}"),
        ("admin", "GET", "/api/v1/integrations/{org_slug}"),
        ("costs", "GET", "/api/v1/costs/{org_slug}"),
    ]
    headers = {**tenant.headers, "X-Admin-Key": ADMIN_KEY}
    checked = 0
    for function, method, template in routes:
        client = function_client(function)
        names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
        for name in names:
            for value in HOSTILE:
                path = template.format(**{**good, name: quote(value, safe="")})
                response = client.open(path, method=method, json={"date": value}, headers=headers)
                assert 400 <= response.status_code < 500, (method, path[:120], response.status_code)
                body = response.get_data(as_text=True)
                assert response.is_json and "Traceback" not in body, body[:200]
                checked += 1
    for value in HOSTILE:  # and as body and query values
        response = submit(tenant, date=value)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == "date"
        response = function_client("status").get(
            "/api/v1/pipelines/runs", query_string={"status": value, "pipeline_id": value}, headers=tenant.headers
        )
        assert response.status_code == 400
        for name in ("start", "end", "group_by", "cost"):
            query = {"start": "2025-01-01", "end": "2025-01-02", name: value}
            response = function_client("costs").get("/api/v1/costs/acmecorp", query_string=query, headers=headers)
            assert response.status_code == 400 and response.get_json()["error"]["field"] == name
    assert checked > 80


def test_ciphertext_is_bound_to_its_org_and_survives_key_rotation(settings: Settings) -> None:
    keys = LocalKeyManager(settings.data_dir / "rotation-keys")
    secret = b'{"private_key": "-----BEGIN PRIVATE KEY-----..."}'
    envelope = keys.encrypt(secret, associated_data("acmecorp", "GCP_SA"))
    with pytest.raises(TerminalError):
        keys.decrypt(envelope, associated_data("globex", "GCP_SA"))
    with pytest.raises(TerminalError):
        keys.decrypt(
            {**envelope, "ciphertext": envelope["ciphertext"][:-8] + "AAAAAAA="}, associated_data("acmecorp", "GCP_SA")
        )
    assert keys.rotate() == 2
    newer = keys.encrypt(secret, associated_data("acmecorp", "GCP_SA"))
    assert (envelope["key_version"], newer["key_version"]) == ("local/v1", "local/v2")
    reopened = LocalKeyManager(settings.data_dir / "rotation-keys")  # a fresh process after rotation
    assert reopened.decrypt(envelope, associated_data("acmecorp", "GCP_SA")) == secret
    assert reopened.decrypt(newer, associated_data("acmecorp", "GCP_SA")) == secret


def test_a_run_only_ever_writes_its_own_orgs_dataset(tenant: Tenant, other: Tenant) -> None:
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    run = tenant.backend.store.get_run(run_id)
    assert run is not None
    forged = json.loads(RunMessage.from_run(run).to_json()) | {"org_slug": "globex"}  # a message claiming another org
    headers, body = pubsub_cloud_event(forged)
    assert function_client("execute").post("/", headers=headers, data=body).status_code == 200
    assert tenant.backend.store.get_run(run_id).status == "PENDING"  # type: ignore[union-attr]
    deliver_all()
    schemas = tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'gcp_billing_daily_raw'"
    )
    assert schemas == [("acmecorp",)]
