"""Scheduled ticks, late-arriving data and backfills (issue: scheduling, backfill and late data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared import application
from shared.domain.runs import PipelineRef, RunStatus
from shared.local_stack import billing_export
from shared.local_stack.demo import loaded_totals, source_totals, totals_match
from shared.ports import RunFilter
from shared.services import onboarding, scheduling
from shared.settings import LOCAL_SCHEDULER_AUDIENCE, Settings
from tests.conftest import YESTERDAY, Tenant, deliver_all, function_client, onboard

TICK_AT = datetime.combine(YESTERDAY + timedelta(days=1), datetime.min.time(), UTC).replace(hour=4)
LOOKBACK = [YESTERDAY - timedelta(days=n) for n in range(3)]  # billing.yml: lookback_days 3


def _tick(job: str = "gcp-billing-daily", at: datetime = TICK_AT, **headers: str) -> Any:
    token = application.current().local_scheduler_token()
    return function_client("scheduler").post(
        "/api/v1/scheduler/tick",
        json={"pipeline": "gcp/cost/billing"},
        headers={
            "Authorization": f"Bearer {token}",
            "X-CloudScheduler-JobName": job,
            "X-CloudScheduler-ScheduleTime": at.isoformat(),
            **headers,
        },
    )


def _runs(tenant: Tenant, slug: str | None = None) -> list[Any]:
    return tenant.backend.store.list_runs(RunFilter(slug or tenant.slug, page_size=100)).runs


def test_tick_enqueues_each_org_day_once_and_a_repeated_tick_adds_none(tenant: Tenant, export_spec: Any) -> None:
    globex = onboard(tenant.backend, "globex", export_spec)
    onboarding.create_org(tenant.backend, "initech")  # no integration: not scheduled
    first = _tick()
    assert first.status_code == 200, first.get_json()
    assert first.get_json() | {"schedule_time": None} == {
        "job": "gcp-billing-daily",
        "schedule_time": None,
        "runs_created": 6,
        "duplicates": 0,
        "orgs_without_integration": 1,
        "failures": [],
    }
    for org in (tenant, globex):
        runs = _runs(tenant, org.slug)
        assert sorted(run.parameters["date"] for run in runs) == sorted(day.isoformat() for day in LOOKBACK)
        assert {run.trigger for run in runs} == {"scheduler"}
    deliver_all()
    again = _tick()  # Cloud Scheduler delivering the same firing twice, even after the runs finished
    assert again.get_json()["runs_created"] == 0 and again.get_json()["duplicates"] == 6
    assert len(_runs(tenant)) == 3
    assert {run.status for run in _runs(tenant)} == {RunStatus.COMPLETE}


def test_scheduler_calls_without_a_valid_token_are_refused(tenant: Tenant, settings: Settings) -> None:
    from shared.adapters.local.tokens import LocalTokenVerifier

    client = function_client("scheduler")
    verifier = application.current().token_verifier()
    assert isinstance(verifier, LocalTokenVerifier)
    cases = {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "wrong audience": {"Authorization": f"Bearer {verifier.mint('https://elsewhere.example')}"},
        "expired": {"Authorization": f"Bearer {verifier.mint(LOCAL_SCHEDULER_AUDIENCE, ttl_s=-60)}"},
        "other signer": {
            "Authorization": "Bearer " + LocalTokenVerifier(settings.data_dir / "x.key").mint(LOCAL_SCHEDULER_AUDIENCE)
        },
    }
    for name, headers in cases.items():
        response = client.post("/api/v1/scheduler/tick", json={}, headers=headers)
        assert response.status_code == 401, name
    assert _runs(tenant) == []


def test_late_rows_are_picked_up_and_unchanged_days_are_skipped(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    _tick(at=TICK_AT)
    deliver_all()
    late_day = YESTERDAY - timedelta(days=1)
    billing_export.append_late_rows(warehouse, tenant.spec, late_day, rows=400)  # type: ignore[arg-type]

    _tick(at=TICK_AT + timedelta(hours=1))  # the next firing re-processes the lookback window
    deliver_all()
    runs = _runs(tenant)  # newest first: the second firing's three, then the first's
    assert len(runs) == 6
    second_round = {run.parameters["date"]: run for run in runs[:3]}
    assert len(second_round) == 3
    changed = second_round[late_day.isoformat()]
    assert changed.status == "COMPLETE" and changed.skip_reason is None and changed.rows_processed
    for day in LOOKBACK:
        if day != late_day:
            unchanged = second_round[day.isoformat()]
            assert unchanged.status == "COMPLETE" and unchanged.rows_processed == 0
            assert unchanged.skip_reason and unchanged.skip_reason.startswith("source unchanged since run ")
            assert [step.status for step in unchanged.steps] == ["COMPLETE"] + ["SKIPPED"] * 4
    expected = source_totals(warehouse, tenant.spec.table_id, late_day)  # type: ignore[arg-type]
    assert totals_match(expected, loaded_totals(warehouse, "acmecorp", late_day))  # type: ignore[arg-type]
    duplicates = warehouse.execute_native(  # type: ignore[attr-defined]
        "SELECT COUNT(*) - COUNT(DISTINCT (service_id, sku_id, project_id, cost_type, currency, invoice_month,"
        " pricing_unit, billing_account_id, region, zone, usage_unit, labels_json))"
        ' FROM "cloudact-local".acmecorp.gcp_billing_daily_raw WHERE usage_date = $1',
        [late_day],
    )[0][0]
    assert duplicates == 0


def test_force_refresh_reprocesses_an_unchanged_day(tenant: Tenant) -> None:
    from tests.conftest import submit

    submit(tenant, YESTERDAY)
    deliver_all()
    skipped = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    deliver_all()
    forced = submit(tenant, YESTERDAY, force_refresh=True).get_json()["pipeline_logging_id"]
    deliver_all()
    store = tenant.backend.store
    assert store.get_run(skipped).rows_processed == 0  # type: ignore[union-attr]
    forced_run = store.get_run(forced)
    assert forced_run is not None and forced_run.rows_processed and forced_run.skip_reason is None


def _backfill(tenant: Tenant, **body: Any) -> Any:
    return function_client("submit").post(
        "/api/v1/pipelines/backfill/acmecorp/gcp/cost/billing", json=body, headers=tenant.headers
    )


@pytest.fixture
def month_spec() -> Any:
    from tests.conftest import EXPORT_TABLE

    return billing_export.ExportSpec(table_id=EXPORT_TABLE, rows=31_000, days=31, end_date=YESTERDAY)


def test_31_day_backfill_equals_31_single_runs(backend: Any, month_spec: Any, tmp_path: Any) -> None:
    warehouse = backend.warehouses.platform()
    billing_export.generate(warehouse, month_spec)
    tenant = onboard(backend, "acmecorp", month_spec)
    response = _backfill(tenant, start_date=month_spec.start_date.isoformat(), end_date=YESTERDAY.isoformat())
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert len(body["runs"]) == 31 and body["already_active"] == {}
    progress = function_client("status").get(
        f"/api/v1/pipelines/backfills/{body['backfill_id']}", headers=tenant.headers
    )
    assert progress.get_json()["counts"] == {"PENDING": 31, "RUNNING": 0, "COMPLETE": 0, "FAILED": 0}
    deliver_all(max_rounds=10)
    progress = function_client("status").get(
        f"/api/v1/pipelines/backfills/{body['backfill_id']}", headers=tenant.headers
    )
    assert progress.get_json()["counts"]["COMPLETE"] == 31 and progress.get_json()["done"] is True
    backfilled = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT * EXCLUDE (source_export_time) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw ORDER BY ALL'
    )
    for day in (month_spec.start_date + timedelta(days=n) for n in range(31)):
        expected = source_totals(warehouse, month_spec.table_id, day)
        assert totals_match(expected, loaded_totals(warehouse, "acmecorp", day)), day

    # the same month as 31 single runs (force_refresh: the watermark would skip unchanged days)
    for day in (month_spec.start_date + timedelta(days=n) for n in range(31)):
        from tests.conftest import submit

        assert submit(tenant, day, force_refresh=True).status_code == 202
        deliver_all()
    singles = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT * EXCLUDE (source_export_time) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw ORDER BY ALL'
    )
    assert singles == backfilled


def test_backfill_does_not_duplicate_active_days_and_validates_its_range(tenant: Tenant, settings: Settings) -> None:
    from tests.conftest import submit

    active = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    start = YESTERDAY - timedelta(days=2)
    body = _backfill(tenant, start_date=start.isoformat(), end_date=YESTERDAY.isoformat()).get_json()
    assert body["already_active"] == {YESTERDAY.isoformat(): active} and len(body["runs"]) == 2
    too_long = start - timedelta(days=settings.max_backfill_days)
    for bad, field in [
        ({"start_date": "2025-02-30", "end_date": "2025-03-01"}, "start_date"),
        ({"start_date": YESTERDAY.isoformat(), "end_date": start.isoformat()}, "end_date"),
        ({"start_date": too_long.isoformat(), "end_date": YESTERDAY.isoformat()}, "end_date"),
        ({"start_date": start.isoformat(), "end_date": (date.today() + timedelta(days=3)).isoformat()}, "date"),
        ({"start_date": start.isoformat()}, "end_date"),
        ({"start_date": start.isoformat(), "end_date": YESTERDAY.isoformat(), "org": "globex"}, "org"),
    ]:
        response = _backfill(tenant, **bad)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == field, (
            bad,
            response.get_json(),
        )
    other = onboarding.create_org(tenant.backend, "globex")[1]
    foreign = function_client("status").get(
        f"/api/v1/pipelines/backfills/{body['backfill_id']}", headers={"X-API-Key": other}
    )
    assert foreign.status_code == 404


def test_one_org_failing_does_not_stop_the_tick(
    tenant: Tenant, export_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboard(tenant.backend, "globex", export_spec)
    from shared.services import integrations

    real_require = integrations.require

    def broken_for_acme(backend: Any, org_slug: str, kinds: list[str]) -> None:
        if org_slug == "acmecorp":
            from shared.errors import TransientError

            raise TransientError("state store busy")
        real_require(backend, org_slug, kinds)

    monkeypatch.setattr(scheduling.integrations, "require", broken_for_acme)
    gcp_billing = [PipelineRef("gcp", "cost", "billing")]
    report = scheduling.tick(application.current(), "job", TICK_AT, gcp_billing)
    assert report.created == 3 and report.orgs_without_integration == 0
    assert report.failures == [{"org_slug": "acmecorp", "error": "state store busy"}]
    assert len(_runs(tenant, "globex")) == 3 and _runs(tenant) == []


def test_an_org_over_its_running_limit_waits_in_the_queue(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.domain.runs import iso, utcnow
    from tests.conftest import submit

    limit = application.current().settings.max_running_per_org
    now = utcnow()
    for back in range(1, limit + 1):  # the org's limit of runs, held by (other) live workers
        held = submit(tenant, YESTERDAY - timedelta(days=back)).get_json()["pipeline_logging_id"]
        assert tenant.backend.store.claim_run(held, f"w{back}", iso(now), iso(now + timedelta(hours=1)))
    run_id = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    from shared.local_stack.server import PushDelivery, dead_letter_handler

    delivery = PushDelivery(tenant.backend.queue, "p", dead_letter_handler)  # type: ignore[arg-type]
    assert delivery.drain_once() == limit + 1
    assert tenant.backend.store.get_run(run_id).status == "PENDING"  # type: ignore[union-attr]
    assert tenant.backend.queue.depth() == limit + 1  # type: ignore[attr-defined]


def test_the_local_scheduler_fires_each_cron_once_through_the_scheduler_function(tenant: Tenant) -> None:
    from shared.local_stack.server import LocalScheduler

    scheduler = LocalScheduler()
    assert scheduler.fire_due(TICK_AT - timedelta(minutes=1), TICK_AT + timedelta(minutes=1)) == 1  # "0 4 * * *"
    # later that day only the OpenAI and Anthropic pipelines' crons (04:30 to 04:45): this org has
    # neither integration, so they queue nothing for it; on the 6th, the billing pipeline's monthly
    # invoice close too ("0 6 6 * *"), which re-runs last month
    closes = 1 if TICK_AT.day == 6 else 0
    assert scheduler.fire_due(TICK_AT + timedelta(minutes=1), TICK_AT + timedelta(hours=23)) == 4 + closes
    daily = [run for run in _runs(tenant) if run.parameters["source_window_days"] == 5]
    assert sorted(run.parameters["date"] for run in daily) == sorted(day.isoformat() for day in LOOKBACK)


def test_the_local_scheduler_fires_the_monthly_invoice_close(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.domain import runs
    from shared.local_stack.server import LocalScheduler

    close = datetime(2025, 11, 6, 6, 0, tzinfo=UTC)  # billing.yml: invoice_close_cron "0 6 6 * *"
    monkeypatch.setattr(runs, "utcnow", lambda: close + timedelta(seconds=30))  # the clock's now, for the skew check
    scheduler = LocalScheduler()
    assert scheduler.fire_due(close - timedelta(minutes=1), close + timedelta(minutes=1)) == 1
    queued = sorted((run.parameters["date"], run.parameters["source_window_days"]) for run in _runs(tenant))
    # each day read up to the close: October 1st + 36 days = November 6th
    assert queued == [(date(2025, 10, day).isoformat(), 37 - day) for day in range(1, 32)]
    assert {run.trigger for run in _runs(tenant)} == {"scheduler"}
