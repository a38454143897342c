"""shared/services/scheduling.py: scheduler ticks and backfills, each branch, against the embedded
adapters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local.store import SqliteStore
from shared.domain.integrations import Integration
from shared.domain.runs import RunStatus
from shared.errors import IntegrationNotConfigured, InvalidRequest, NotFound, TransientError
from shared.ports import Backend, RunFilter
from shared.services import scheduling, submission
from shared.settings import Settings
from tests.unit.conftest import BILLING, add_org, app_on, break_queue, embedded_backend, queued_run_ids

FIRED_AT = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)  # the billing schedule: 04:00 UTC, 3 days back
WINDOW = ["2026-01-09", "2026-01-08", "2026-01-07"]


class StoreWithOutage(SqliteStore):
    """The SQLite store, except that one org's integrations cannot be read: what a backend outage
    looks like to the use case (a TransientError), which the embedded store cannot be made to do."""

    unreachable_org: str | None = None

    def get_integration(self, org_slug: str, integration_type: str) -> Integration | None:
        if org_slug == self.unreachable_org:
            raise TransientError("State store unavailable")
        return super().get_integration(org_slug, integration_type)


def _runs(backend: Backend, org: str) -> list[Any]:
    return backend.store.list_runs(RunFilter(org_slug=org, page_size=100)).runs


def _days(backend: Backend, org: str) -> list[str]:
    return sorted(run.parameters["date"] for run in _runs(backend, org))


# -- ticks ----------------------------------------------------------------------------------------
def test_a_tick_queues_each_day_of_the_window_for_every_active_org_with_the_integration(
    embedded: Backend, unit_settings: Settings
) -> None:
    add_org(embedded, "acme")
    add_org(embedded, "globex")
    add_org(embedded, "initech", integrated=False)
    add_org(embedded, "umbrella", status="suspended")
    report = scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    assert (report.created, report.duplicates, report.orgs_without_integration, report.failures) == (6, 0, 1, [])
    assert _days(embedded, "acme") == _days(embedded, "globex") == sorted(WINDOW)
    assert _runs(embedded, "initech") == [] and _runs(embedded, "umbrella") == []
    runs = _runs(embedded, "acme") + _runs(embedded, "globex")
    assert {(run.trigger, run.status) for run in runs} == {("scheduler", RunStatus.PENDING)}
    assert sorted(queued_run_ids(embedded)) == sorted(run.run_id for run in runs)


def test_a_tick_delivered_twice_creates_nothing_new(embedded: Backend, unit_settings: Settings) -> None:
    add_org(embedded, "acme")
    add_org(embedded, "globex")
    first = scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    queued = queued_run_ids(embedded)
    again = scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    assert (first.created, again.created, again.duplicates, again.failures) == (6, 0, 6, [])
    assert len(_runs(embedded, "acme")) == 3 and len(queued) == 6
    assert queued_run_ids(embedded) == []  # nothing published the second time


def test_the_next_days_tick_adds_only_the_new_day_while_the_others_are_still_active(
    embedded: Backend, unit_settings: Settings
) -> None:
    add_org(embedded, "acme")
    scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    next_day = scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT.replace(day=11), [BILLING])
    # 2026-01-08 and -09 are still PENDING from yesterday's tick: one active run per day
    assert (next_day.created, next_day.duplicates) == (1, 2)
    assert _days(embedded, "acme") == ["2026-01-07", "2026-01-08", "2026-01-09", "2026-01-10"]


def test_one_orgs_failure_is_reported_and_the_other_orgs_go_on(tmp_path: Path, unit_settings: Settings) -> None:
    store = StoreWithOutage(tmp_path / "state.sqlite")
    backend = embedded_backend(tmp_path, store)
    for slug in ("acme", "globex", "initech"):
        add_org(backend, slug)
    store.unreachable_org = "globex"
    report = scheduling.tick(app_on(backend, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    assert report.failures == [{"org_slug": "globex", "error": "State store unavailable"}]
    assert report.created == 6
    assert _days(backend, "acme") == _days(backend, "initech") == sorted(WINDOW)
    assert _runs(backend, "globex") == []


def test_runs_the_queue_refuses_are_failed_and_reported(embedded: Backend, unit_settings: Settings) -> None:
    add_org(embedded, "acme")
    break_queue(embedded)
    report = scheduling.tick(app_on(embedded, unit_settings), "billing-daily", FIRED_AT, [BILLING])
    assert report.created == 0
    assert report.failures == [{"org_slug": "acme", "error": "Run could not be queued"}] * 3
    assert {(run.status, run.error_message) for run in _runs(embedded, "acme")} == {
        (RunStatus.FAILED, "Run could not be queued")
    }


# -- backfills ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, field",
    [
        ({"start_date": "2026-01-05", "end_date": "2026-01-04"}, "end_date"),  # before the start
        ({"start_date": "2026-01-01", "end_date": "2026-01-08"}, "end_date"),  # 8 days: over the limit of 7
        ({"start_date": "2026-1-5", "end_date": "2026-01-06"}, "start_date"),
        ({"end_date": "2026-01-06"}, "start_date"),
        ({"start_date": "2026-01-05"}, "end_date"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "force_refresh": 1}, "force_refresh"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "dates": []}, "dates"),
        ({"start_date": "2999-01-01", "end_date": "2999-01-02"}, "date"),  # in the future
    ],
)
def test_a_bad_range_is_400_naming_the_field_and_records_nothing(
    embedded: Backend, unit_settings: Settings, body: dict[str, Any], field: str
) -> None:
    org = add_org(embedded, "acme")
    with pytest.raises(InvalidRequest) as refused:
        scheduling.backfill(app_on(embedded, unit_settings), org, BILLING, body)
    assert refused.value.details["field"] == field
    assert _runs(embedded, "acme") == [] and queued_run_ids(embedded) == []


def test_the_longest_range_allowed_is_accepted(embedded: Backend, unit_settings: Settings) -> None:
    org = add_org(embedded, "acme")
    done = scheduling.backfill(
        app_on(embedded, unit_settings), org, BILLING, {"start_date": "2026-01-01", "end_date": "2026-01-07"}
    )
    assert len(done.runs) == unit_settings.max_backfill_days == 7


def test_a_backfill_without_the_integration_is_422_and_records_nothing(
    embedded: Backend, unit_settings: Settings
) -> None:
    org = add_org(embedded, "acme", integrated=False)
    with pytest.raises(IntegrationNotConfigured):
        scheduling.backfill(
            app_on(embedded, unit_settings), org, BILLING, {"start_date": "2026-01-01", "end_date": "2026-01-02"}
        )
    assert _runs(embedded, "acme") == []


def test_a_backfill_queues_one_run_per_day_and_leaves_days_with_an_active_run_alone(
    embedded: Backend, unit_settings: Settings
) -> None:
    org = add_org(embedded, "acme")
    active = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-03"})
    done = scheduling.backfill(
        app_on(embedded, unit_settings),
        org,
        BILLING,
        {"start_date": "2026-01-01", "end_date": "2026-01-05", "force_refresh": True},
    )
    assert done.already_active == {"2026-01-03": active.run_id}
    assert done.refused == []
    assert sorted(run.parameters["date"] for run in done.runs) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-04",
        "2026-01-05",
    ]
    assert {(run.trigger, run.parent_id, run.force_refresh) for run in done.runs} == {
        ("backfill", done.backfill_id, True)
    }
    assert Counter(run.parameters["date"] for run in _runs(embedded, "acme"))["2026-01-03"] == 1
    assert sorted(queued_run_ids(embedded)) == sorted([active.run_id, *(run.run_id for run in done.runs)])
    progress = scheduling.backfill_progress(embedded, org, done.backfill_id)
    assert (progress["total"], progress["counts"]["PENDING"], progress["done"]) == (4, 4, False)
    assert [day["date"] for day in progress["runs"]] == ["2026-01-01", "2026-01-02", "2026-01-04", "2026-01-05"]


def test_another_orgs_backfill_is_not_found(embedded: Backend, unit_settings: Settings) -> None:
    acme, globex = add_org(embedded, "acme"), add_org(embedded, "globex")
    done = scheduling.backfill(
        app_on(embedded, unit_settings), acme, BILLING, {"start_date": "2026-01-01", "end_date": "2026-01-01"}
    )
    with pytest.raises(NotFound):
        scheduling.backfill_progress(embedded, globex, done.backfill_id)
    with pytest.raises(NotFound):
        scheduling.backfill_progress(embedded, acme, "../not-an-id")


# -- a tick's request -----------------------------------------------------------------------------
def test_a_tick_request_names_one_pipeline_or_none_and_may_ask_for_the_invoice_close() -> None:
    assert scheduling.tick_request({}) == scheduling.TickRequest(refs=None, invoice_close=False)
    wanted = scheduling.tick_request({"pipeline": "gcp/cost/billing", "invoice_close": True})
    assert wanted == scheduling.TickRequest(refs=[BILLING], invoice_close=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pipelines": "gcp/cost/billing"}, "pipelines"),
        ({"invoice_close": "yes"}, "invoice_close"),
        ({"pipeline": "gcp/billing"}, "pipeline"),
        ({"pipeline": "gcp/cost/billing/x"}, "pipeline"),
    ],
)
def test_a_bad_tick_request_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        scheduling.tick_request(body)
    assert refused.value.details["field"] == field


def test_the_schedule_time_is_now_when_absent_and_must_be_within_a_week_of_now() -> None:
    header = "X-CloudScheduler-ScheduleTime"
    assert scheduling.schedule_time(None, FIRED_AT, field=header) == FIRED_AT
    six_days_before = "2026-01-04T04:00:00Z"
    assert scheduling.schedule_time(six_days_before, FIRED_AT, field=header) == datetime(2026, 1, 4, 4, tzinfo=UTC)
    for raw in ["2026-01-02T04:00:00Z", "2026-01-18T04:00:00Z", "2026-01-10T04:00:00", "tomorrow", ""]:
        with pytest.raises(InvalidRequest) as refused:
            scheduling.schedule_time(raw, FIRED_AT, field=header)
        assert refused.value.details["field"] == header and "within a week of now" in str(refused.value), raw
