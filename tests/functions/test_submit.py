"""The submit function in-process, loaded as functions-framework deploys it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shared.domain import api_keys
from shared.ports import Backend
from shared.services import onboarding
from shared.services.auth import UNAUTHENTICATED
from tests.conftest import YESTERDAY, Tenant, function_client, submit

RUN_PATH = "/api/v1/pipelines/run/acmecorp/gcp/cost/billing"


def test_accepted_run_is_pending_with_the_seed_body(tenant: Tenant) -> None:
    response = submit(tenant, YESTERDAY)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "PENDING"
    assert body["pipeline_id"] == "acmecorp-gcp-billing"
    assert body["org_slug"] == "acmecorp"
    assert body["message"] == "Pipeline gcp/billing triggered successfully for acmecorp (async mode)"
    uuid.UUID(body["pipeline_logging_id"], version=4)
    run = tenant.backend.store.get_run(body["pipeline_logging_id"])
    assert run is not None and run.status == "PENDING" and run.parameters == {"date": YESTERDAY.isoformat()}
    assert tenant.backend.queue.depth() == 1  # type: ignore[attr-defined]


def test_date_defaults_to_yesterday(tenant: Tenant) -> None:
    response = submit(tenant)
    assert response.status_code == 202
    assert response.get_json()["parameters"] == {"date": YESTERDAY.isoformat()}


def test_every_kind_of_bad_key_gets_the_same_401(tenant: Tenant, backend: Backend) -> None:
    revoked_key, record = onboarding.issue_key(backend, "acmecorp")
    onboarding.revoke_key(backend, "acmecorp", record.key_id)
    unknown_but_well_formed = api_keys.generate("acmecorp")
    bodies = []
    for headers in [{}, {"X-API-Key": "garbage"}, {"X-API-Key": unknown_but_well_formed}, {"X-API-Key": revoked_key}]:
        response = function_client("submit").post(RUN_PATH, json={}, headers=headers)
        assert response.status_code == 401
        bodies.append(response.get_json())
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0] == {"error": {"code": "unauthenticated", "message": UNAUTHENTICATED}}
    assert backend.queue.depth() == 0  # type: ignore[attr-defined]


def test_key_of_another_org_is_forbidden(tenant: Tenant, backend: Backend) -> None:
    _, other_key, _ = onboarding.create_org(backend, "globex")
    response = function_client("submit").post(RUN_PATH, json={}, headers={"X-API-Key": other_key})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_unknown_pipeline_is_404(tenant: Tenant) -> None:
    response = function_client("submit").post(
        "/api/v1/pipelines/run/acmecorp/gcp/cost/nope", json={}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "Pipeline gcp/cost/nope not found"


def test_bad_parameter_is_400_naming_it(tenant: Tenant) -> None:
    response = submit(tenant, date="2025-02-30")
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_request",
        "message": "Invalid date: not a calendar date",
        "field": "date",
    }
    response = submit(tenant, region="eu")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "region"


def test_same_parameters_while_active_is_409_with_the_first_run(tenant: Tenant) -> None:
    first = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    second = submit(tenant, YESTERDAY)
    assert second.status_code == 409
    assert second.get_json()["error"]["pipeline_logging_id"] == first
    assert tenant.backend.queue.depth() == 1  # type: ignore[attr-defined]


def test_missing_integration_is_422_with_the_seed_message(backend: Backend) -> None:
    _, key, _ = onboarding.create_org(backend, "acmecorp")
    response = function_client("submit").post(RUN_PATH, json={}, headers={"X-API-Key": key})
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "Required integration not configured"
    assert backend.queue.depth() == 0  # type: ignore[attr-defined]


def test_transport_errors(tenant: Tenant) -> None:
    client = function_client("submit")
    wrong_type = client.post(RUN_PATH, data="date=2025-01-01", headers={**tenant.headers, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    too_big = client.post(RUN_PATH, json={"date": "x" * 100_000}, headers=tenant.headers)
    assert too_big.status_code == 413
    wrong_method = client.get(RUN_PATH, headers=tenant.headers)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    not_json = client.post(RUN_PATH, data="{", headers={**tenant.headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    not_object = client.post(RUN_PATH, json=[1], headers=tenant.headers)
    assert not_object.status_code == 400
    for response in (wrong_type, too_big, wrong_method, not_json, not_object):
        assert set(response.get_json()["error"]) >= {"code", "message"}


def test_the_source_document_s_three_segment_route_runs_the_pipeline_by_id(tenant: Tenant) -> None:
    client = function_client("submit")
    short = client.post(
        "/api/v1/pipelines/run/acmecorp/gcp/billing", json={"date": YESTERDAY.isoformat()}, headers=tenant.headers
    )
    assert short.status_code == 202, short.get_json()
    body = short.get_json()
    run = tenant.backend.store.get_run(body["pipeline_logging_id"])
    assert run is not None and run.ref.path == "gcp/cost/billing"
    # the same request by the four-segment route is the same run, still active: 409 naming it
    long = client.post(RUN_PATH, json={"date": YESTERDAY.isoformat()}, headers=tenant.headers)
    assert long.status_code == 409
    assert long.get_json()["error"]["pipeline_logging_id"] == body["pipeline_logging_id"]
    assert {key: value for key, value in body.items() if key != "pipeline_logging_id"} == {
        "status": "PENDING",
        "pipeline_id": "acmecorp-gcp-billing",
        "org_slug": "acmecorp",
        "parameters": {"date": YESTERDAY.isoformat()},
        "message": "Pipeline gcp/billing triggered successfully for acmecorp (async mode)",
    }
    other_day = client.post(
        RUN_PATH, json={"date": (YESTERDAY - timedelta(days=1)).isoformat()}, headers=tenant.headers
    ).get_json()
    assert other_day.keys() == body.keys() and other_day["message"] == body["message"]
    for unknown in ("gcp/nope", "aws/billing", "gcp/BILLING"):
        response = client.post(f"/api/v1/pipelines/run/acmecorp/{unknown}", json={}, headers=tenant.headers)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
