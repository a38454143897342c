"""The execute function in-process, fed real Pub/Sub CloudEvents."""

from __future__ import annotations

import json
from typing import Any

from shared.domain.runs import RunMessage
from shared.errors import TransientError
from shared.services import history
from tests.conftest import YESTERDAY, Tenant, function_client, pubsub_cloud_event, submit


def _message_for(tenant: Tenant, run_id: str) -> dict[str, Any]:
    run = tenant.backend.store.get_run(run_id)
    assert run is not None
    return json.loads(RunMessage.from_run(run).to_json())


def _table_rows(tenant: Tenant) -> list[tuple[Any, ...]]:
    return tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        'SELECT * FROM "cloudact-local".acmecorp.gcp_billing_daily_raw ORDER BY ALL'
    )


def _history_rows(tenant: Tenant, run_id: str) -> int:
    table = history.RUN_HISTORY
    rows = tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        f'SELECT COUNT(*) FROM "cloudact-local".{table.dataset}.{table.name} WHERE run_id = $1', [run_id]
    )
    return int(rows[0][0])


def test_cloud_event_runs_the_pipeline_to_complete(tenant: Tenant) -> None:
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    headers, body = pubsub_cloud_event(_message_for(tenant, run_id))
    response = function_client("execute").post("/", headers=headers, data=body)
    assert response.status_code == 200
    run = tenant.backend.store.get_run(run_id)
    assert run is not None and run.status == "COMPLETE", run
    assert run.rows_processed and run.rows_processed > 0
    assert [step.name for step in run.steps] == [
        "check_source_changed",
        "extract_transform",
        "load",
        "focus_transform",
        "focus_load",
    ]
    assert all(step.status == "COMPLETE" for step in run.steps)
    assert run.steps[0].rows == 0  # the first run of a day has no earlier watermark to compare with
    assert run.source_watermark is not None
    assert run.duration_ms is not None and run.end_time and run.start_time
    assert len(_table_rows(tenant)) == run.rows_processed
    assert _history_rows(tenant, run_id) == 1


def test_a_second_identical_delivery_changes_nothing(tenant: Tenant) -> None:
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    headers, body = pubsub_cloud_event(_message_for(tenant, run_id))
    client = function_client("execute")
    assert client.post("/", headers=headers, data=body).status_code == 200
    record, rows = tenant.backend.store.get_run(run_id), _table_rows(tenant)
    again = client.post("/", headers={**headers, "ce-id": "2"}, data=body)
    assert again.status_code == 200  # acknowledged: no retry loop
    assert tenant.backend.store.get_run(run_id) == record
    assert _table_rows(tenant) == rows
    assert _history_rows(tenant, run_id) == 1


def test_unreadable_message_is_acknowledged_and_dropped(tenant: Tenant) -> None:
    for payload in [b"not json", b'{"run_id": 1}', json.dumps({"run_id": "x", "org_slug": "acmecorp"}).encode()]:
        headers, body = pubsub_cloud_event(payload)
        assert function_client("execute").post("/", headers=headers, data=body).status_code == 200


def test_terminal_error_fails_the_run_and_acknowledges(tenant: Tenant) -> None:
    # the org's export table disappears between submit and execution: a permanent problem
    tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        'DROP TABLE "acme-billing-export".billing_export.gcp_billing_export_v1_TEST'
    )
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    headers, body = pubsub_cloud_event(_message_for(tenant, run_id))
    assert function_client("execute").post("/", headers=headers, data=body).status_code == 200
    run = tenant.backend.store.get_run(run_id)
    assert run is not None and run.status == "FAILED"
    assert run.error_message and run.error_message.startswith("Pipeline execution failed: ")
    assert [step.status for step in run.steps] == ["COMPLETE", "FAILED"]
    assert _history_rows(tenant, run_id) == 1


def test_transient_error_asks_for_redelivery_and_releases_the_run(tenant: Tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    warehouse = tenant.backend.warehouses.platform()
    real_query = warehouse.query
    calls = {"n": 0}

    def flaky_query(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("rateLimitExceeded")
        return real_query(*args, **kwargs)

    monkeypatch.setattr(warehouse, "query", flaky_query)
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    headers, body = pubsub_cloud_event(_message_for(tenant, run_id))
    client = function_client("execute")
    assert client.post("/", headers=headers, data=body).status_code == 503  # nack: Pub/Sub redelivers
    run = tenant.backend.store.get_run(run_id)
    assert run is not None and run.status == "PENDING" and run.attempt == 1
    assert client.post("/", headers={**headers, "ce-id": "2"}, data=body).status_code == 200
    run = tenant.backend.store.get_run(run_id)
    assert run is not None and run.status == "COMPLETE" and run.attempt == 2
