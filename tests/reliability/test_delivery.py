"""At-least-once delivery made exactly-once in effect (issue: reliability and security, 1-9)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared import application
from shared.domain.runs import RunMessage, RunStatus, iso, utcnow
from shared.errors import TerminalError, TransientError
from shared.local_stack.demo import loaded_totals, source_totals, totals_match
from shared.ports import RunFilter
from shared.services import reaper
from tests.conftest import (
    YESTERDAY,
    Tenant,
    deliver_all,
    function_app,
    function_client,
    pubsub_cloud_event,
    rebuilt_from_env,
    submit,
)


def _accept(tenant: Tenant, **body: Any) -> str:
    response = submit(tenant, YESTERDAY, **body)
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["pipeline_logging_id"])


def _message(tenant: Tenant, run_id: str) -> dict[str, Any]:
    run = tenant.backend.store.get_run(run_id)
    assert run is not None
    return json.loads(RunMessage.from_run(run).to_json())  # type: ignore[no-any-return]


def _count_calls(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[int]:
    """Counts calls of a real adapter method (it still runs)."""
    calls: list[int] = []
    real = getattr(target, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, counted)
    return calls


LOADS_PER_RUN = 2
"""A billing run replaces one day partition of its daily table and one of its FOCUS table."""


def _status(tenant: Tenant, run_id: str) -> Any:
    run = tenant.backend.store.get_run(run_id)
    assert run is not None
    return run


def test_three_deliveries_in_a_row_and_at_once_give_one_load(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _count_calls(monkeypatch, tenant.backend.warehouses.platform(), "replace_partition")
    client = function_client("execute")
    run_id = _accept(tenant)
    for attempt in range(3):
        headers, body = pubsub_cloud_event(_message(tenant, run_id), message_id=f"seq-{attempt}")
        assert client.post("/", headers=headers, data=body).status_code == 200
    assert len(loads) == LOADS_PER_RUN and _status(tenant, run_id).status == "COMPLETE"

    second = submit(tenant, YESTERDAY - timedelta(days=1)).get_json()["pipeline_logging_id"]
    statuses: list[tuple[int, str | None]] = []
    barrier = threading.Barrier(3)
    app = function_app("execute")

    def deliver(n: int) -> None:
        headers, body = pubsub_cloud_event(_message(tenant, second), message_id=f"par-{n}")
        barrier.wait()
        response = app.test_client().post("/", headers=headers, data=body)
        statuses.append((response.status_code, response.headers.get("Retry-After")))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # one delivery runs it; those that found it held under the winner's lease are not acknowledged
    # (the winner might die) but come back once the lease is over, when they find it finished
    assert [code for code, _ in statuses].count(200) >= 1
    for code, retry_after in statuses:
        assert code == 200 or (code == 503 and retry_after is not None and int(retry_after) > 0)
    assert len(loads) == 2 * LOADS_PER_RUN and _status(tenant, second).status == "COMPLETE"
    assert _status(tenant, second).attempt == 1
    headers, body = pubsub_cloud_event(_message(tenant, second), message_id="late")
    assert app.test_client().post("/", headers=headers, data=body).status_code == 200  # finished: acknowledged


def test_republished_under_a_new_message_id_still_runs_once(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _count_calls(monkeypatch, tenant.backend.warehouses.platform(), "replace_partition")
    run_id = _accept(tenant)
    run = _status(tenant, run_id)
    tenant.backend.queue.publish(RunMessage.from_run(run))  # a second message, new id, same run
    assert deliver_all() == 2
    assert len(loads) == LOADS_PER_RUN and _status(tenant, run_id).status == "COMPLETE"


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing catches it, nothing acknowledges."""


def test_crash_after_load_before_complete_then_redelivery_loads_the_day_once(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDACT_RUN_LEASE_S", "1")  # the ack deadline and the claim's lease
    backend = rebuilt_from_env().backend
    store = backend.store
    real_update = store.update_run

    def crash_on_complete(run_id: str, **kwargs: Any) -> Any:
        if kwargs["changes"].get("status") == RunStatus.COMPLETE:
            raise SimulatedCrash
        return real_update(run_id, **kwargs)

    run_id = _accept(tenant)
    monkeypatch.setattr(store, "update_run", crash_on_complete)
    with pytest.raises(SimulatedCrash):
        deliver_all()
    assert _status(tenant, run_id).status == "RUNNING"  # loaded, but COMPLETE never written
    monkeypatch.setattr(store, "update_run", real_update)

    time.sleep(1.2)  # the dead worker's lease and the message's ack deadline run out
    deliver_all()  # on a busy machine the 1 s ack deadline may lapse mid-run: a duplicate, acknowledged
    run = _status(tenant, run_id)
    assert run.status == "COMPLETE" and run.attempt == 2
    warehouse = backend.warehouses.platform()
    expected = source_totals(warehouse, tenant.spec.table_id, YESTERDAY)  # type: ignore[arg-type]
    assert totals_match(expected, loaded_totals(warehouse, "acmecorp", YESTERDAY))  # type: ignore[arg-type]
    rows = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT COUNT(*) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw WHERE usage_date = $1', [YESTERDAY]
    )[0][0]
    assert rows == run.rows_processed


def test_ten_concurrent_claims_have_one_winner_and_finished_runs_never_change(tenant: Tenant) -> None:
    run_id = _accept(tenant)
    store = tenant.backend.store
    now = utcnow()
    winners: list[Any] = []
    barrier = threading.Barrier(10)

    def claim(n: int) -> None:
        barrier.wait()
        winners.append(store.claim_run(run_id, f"token-{n}", iso(now), iso(now + timedelta(minutes=5))))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [run for run in winners if run is not None]
    assert len(claimed) == 1
    token = claimed[0].claim_token
    done = store.update_run(
        run_id, expected_status=RunStatus.RUNNING, claim_token=token, changes={"status": RunStatus.COMPLETE}
    )
    assert done is not None
    # COMPLETE -> RUNNING: neither a claim nor a conditional write can reopen it
    assert store.claim_run(run_id, "late", iso(now + timedelta(hours=1)), iso(now + timedelta(hours=2))) is None
    assert (
        store.update_run(
            run_id, expected_status=RunStatus.RUNNING, claim_token=None, changes={"status": RunStatus.RUNNING}
        )
        is None
    )
    other = _accept(tenant, date=(YESTERDAY - timedelta(days=1)).isoformat())
    failed = store.update_run(
        other, expected_status=RunStatus.PENDING, claim_token=None, changes={"status": RunStatus.FAILED}
    )
    assert failed is not None
    # FAILED -> COMPLETE: a worker's write expects RUNNING and is refused
    assert (
        store.update_run(
            other, expected_status=RunStatus.RUNNING, claim_token=None, changes={"status": RunStatus.COMPLETE}
        )
        is None
    )
    assert _status(tenant, other).status == "FAILED" and _status(tenant, run_id).status == "COMPLETE"


def _during_extract(monkeypatch: pytest.MonkeyPatch, tenant: Tenant, action: Callable[[], None]) -> None:
    warehouse = tenant.backend.warehouses.platform()
    real_query = warehouse.query

    def query_then_act(*args: Any, **kwargs: Any) -> Any:
        result = real_query(*args, **kwargs)
        action()
        return result

    monkeypatch.setattr(warehouse, "query", query_then_act)


def test_reaper_fails_a_stale_run_and_the_worker_that_lost_it_writes_nothing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = _count_calls(monkeypatch, tenant.backend.warehouses.platform(), "replace_partition")
    run_id = _accept(tenant)
    future = utcnow() + timedelta(days=1)  # as if the worker had stalled past its lease
    _during_extract(monkeypatch, tenant, lambda: reaper.reap(application.current(), now=future))
    headers, body = pubsub_cloud_event(_message(tenant, run_id))
    assert function_client("execute").post("/", headers=headers, data=body).status_code == 200
    run = _status(tenant, run_id)
    assert run.status == "FAILED"
    assert run.error_message is not None and "no heartbeat" in run.error_message
    assert loads == []  # the load step never ran: the heartbeat found the claim gone


def test_reaper_fails_runs_never_delivered(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _accept(tenant)
    assert reaper.reap(application.current()) == []  # fresh: left alone
    later = utcnow() + timedelta(seconds=application.current().settings.pending_timeout_s + 1)
    assert reaper.reap(application.current(), now=later) == [run_id]
    run = _status(tenant, run_id)
    assert (
        run.status == "FAILED" and run.error_message == "Pipeline execution failed: run was never delivered to a worker"
    )


def test_transient_errors_are_retried_with_backoff_then_succeed(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tenant.backend.warehouses.platform()
    real_query = warehouse.query
    failures = iter([TransientError("backendError"), TransientError("rateLimitExceeded")])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error:
            raise error
        return real_query(*args, **kwargs)

    monkeypatch.setattr(warehouse, "query", flaky)
    run_id = _accept(tenant)
    assert deliver_all() == 3
    run = _status(tenant, run_id)
    assert run.status == "COMPLETE" and run.attempt == 3


def test_queue_backoff_doubles_between_redeliveries(backend: Any) -> None:
    from shared.adapters.local.queue import SqliteRunQueue

    queue = SqliteRunQueue(
        application.current().settings.data_dir / "backoff.sqlite", min_backoff_s=10, max_backoff_s=25
    )
    queue.publish_raw("pipeline-runs", b"{}", {})
    delays = []
    for _ in range(3):
        (delivery,) = queue.pull()
        queue.nack(delivery)
        delays.append(queue.next_available_in())
        queue._db.read().execute("UPDATE messages SET available_at = 0")  # fast-forward the clock
    assert [round(delay or 0) for delay in delays] == [10, 20, 25]


def test_terminal_errors_fail_at_once_without_redelivery(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tenant.backend.warehouses.platform()

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise TerminalError("Access Denied: permission bigquery.tables.getData denied")

    monkeypatch.setattr(warehouse, "query", denied)
    run_id = _accept(tenant)
    assert deliver_all() == 1
    run = _status(tenant, run_id)
    assert run.status == "FAILED" and run.attempt == 1
    assert run.error_message == "Pipeline execution failed: Access Denied: permission bigquery.tables.getData denied"
    assert tenant.backend.queue.depth() == 0  # type: ignore[attr-defined]


def test_poison_message_is_dead_lettered_and_its_run_failed(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tenant.backend.warehouses.platform()

    def always_busy(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("backendError")

    monkeypatch.setattr(warehouse, "query", always_busy)
    run_id = _accept(tenant)
    attempts = application.current().settings.max_delivery_attempts
    assert deliver_all() == attempts
    queue = tenant.backend.queue
    assert queue.depth() == 0  # type: ignore[attr-defined]
    assert [letter["data"]["run_id"] for letter in queue.dead_letters()] == [run_id]  # type: ignore[attr-defined]
    run = _status(tenant, run_id)
    assert run.status == "FAILED"
    assert run.error_message == f"Pipeline execution failed: gave up after {attempts} delivery attempts"


def test_message_older_than_the_retry_window_is_dropped(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    loads = _count_calls(monkeypatch, tenant.backend.warehouses.platform(), "replace_partition")
    run_id = _accept(tenant)
    store = tenant.backend.store
    old = iso(utcnow() - timedelta(seconds=application.current().settings.max_event_age_s + 60))
    store.update_run(run_id, expected_status=RunStatus.PENDING, claim_token=None, changes={"requested_at": old})
    assert deliver_all() == 1
    run = _status(tenant, run_id)
    assert run.status == "FAILED" and "expired" in (run.error_message or "")
    assert loads == []
    assert any("older than the retry window" in record.getMessage() for record in caplog.records)


def test_concurrent_identical_triggers_make_one_run(tenant: Tenant) -> None:
    answers: list[Any] = []
    barrier = threading.Barrier(8)
    app = function_app("submit")

    def trigger() -> None:
        barrier.wait()
        response = submit(tenant, YESTERDAY, app=app)
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [body for status, body in answers if status == 202]
    conflicts = [body for status, body in answers if status == 409]
    assert len(accepted) == 1 and len(conflicts) == 7
    assert {body["error"]["pipeline_logging_id"] for body in conflicts} == {accepted[0]["pipeline_logging_id"]}
    assert tenant.backend.queue.depth() == 1  # type: ignore[attr-defined]


def test_failed_publish_leaves_no_pending_run(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("pubsub unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(tenant.backend.queue, "publish", refuse)
        response = submit(tenant, YESTERDAY)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    runs = tenant.backend.store.list_runs(RunFilter("acmecorp")).runs
    assert [run.status for run in runs] == ["FAILED"]
    assert runs[0].error_message == "Run could not be queued"
    assert submit(tenant, YESTERDAY).status_code == 202  # the failed attempt does not block a retry
