"""The status function: one run, and the org's runs page by page, never another org's."""

from __future__ import annotations

from datetime import timedelta

from shared.services import onboarding
from tests.conftest import YESTERDAY, Tenant, deliver_all, function_client, onboard, submit


def _submit_days(tenant: Tenant, count: int) -> list[str]:
    return [submit(tenant, YESTERDAY - timedelta(days=n)).get_json()["pipeline_logging_id"] for n in range(count)]


def test_get_run_returns_the_seed_fields(tenant: Tenant) -> None:
    (run_id,) = _submit_days(tenant, 1)
    deliver_all()
    response = function_client("status").get(f"/api/v1/pipelines/runs/{run_id}", headers=tenant.headers)
    assert response.status_code == 200
    body = response.get_json()
    for field in (
        "pipeline_logging_id",
        "pipeline_id",
        "org_slug",
        "status",
        "start_time",
        "end_time",
        "duration_ms",
        "rows_processed",
        "error_message",
        "parameters",
        "trigger",
        "steps",
    ):
        assert field in body, field
    assert body["status"] == "COMPLETE" and body["trigger"] == "api"
    assert "claim_token" not in body and "dedupe_key" not in body


def test_list_is_newest_first_filtered_and_paged(tenant: Tenant) -> None:
    run_ids = _submit_days(tenant, 5)
    client = function_client("status")
    seen: list[str] = []
    token = None
    while True:
        query = {"page_size": "2", **({"page_token": token} if token else {})}
        page = client.get("/api/v1/pipelines/runs", query_string=query, headers=tenant.headers).get_json()
        seen += [run["pipeline_logging_id"] for run in page["runs"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == list(reversed(run_ids))
    deliver_all()
    pending = client.get("/api/v1/pipelines/runs?status=PENDING", headers=tenant.headers).get_json()
    complete = client.get(
        "/api/v1/pipelines/runs?status=COMPLETE&pipeline_id=acmecorp-gcp-billing", headers=tenant.headers
    ).get_json()
    assert pending["runs"] == [] and len(complete["runs"]) == 5


def test_another_orgs_run_is_not_found_and_never_listed(tenant: Tenant, export_spec) -> None:  # type: ignore[no-untyped-def]
    (run_id,) = _submit_days(tenant, 1)
    other = onboard(tenant.backend, "globex", export_spec)
    client = function_client("status")
    response = client.get(f"/api/v1/pipelines/runs/{run_id}", headers=other.headers)
    assert response.status_code == 404
    unknown = client.get("/api/v1/pipelines/runs/00000000-0000-4000-8000-000000000000", headers=other.headers)
    assert response.get_json() == unknown.get_json()
    assert client.get("/api/v1/pipelines/runs", headers=other.headers).get_json()["runs"] == []


def test_bad_filters_are_400_naming_them(tenant: Tenant) -> None:
    client = function_client("status")
    for query, field in [
        ("status=DONE", "status"),
        ("page_size=0", "page_size"),
        ("page_size=1000", "page_size"),
        ("page_token=%%%", "page_token"),
        ("page_token=bm90IGEgdG9rZW4", "page_token"),
        ("color=red", "color"),
        ("pipeline_id=a';--", "pipeline_id"),
    ]:
        response = client.get(f"/api/v1/pipelines/runs?{query}", headers=tenant.headers)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["field"] == field


def test_status_needs_a_valid_key(tenant: Tenant) -> None:
    client = function_client("status")
    assert client.get("/api/v1/pipelines/runs").status_code == 401
    _, key, record = onboarding.create_org(tenant.backend, "initech")
    onboarding.revoke_key(tenant.backend, "initech", record.key_id)
    assert client.get("/api/v1/pipelines/runs", headers={"X-API-Key": key}).status_code == 401
