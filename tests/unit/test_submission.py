"""shared/services/submission.py: each branch of accepting one run, against the embedded adapters."""

from __future__ import annotations

from datetime import date

import pytest

from shared.domain.runs import PipelineRef, Run, RunStatus
from shared.errors import Conflict, IntegrationNotConfigured, InvalidRequest, NotFound, TransientError
from shared.ports import Backend, RunFilter
from shared.services import submission
from shared.settings import Settings
from tests.unit.conftest import BILLING, add_org, app_on, break_queue, queued_run_ids, repair_queue

TODAY = date(2026, 1, 10)


def _runs(backend: Backend, org: str = "acme") -> list[Run]:
    return backend.store.list_runs(RunFilter(org_slug=org, page_size=100)).runs


def test_an_accepted_run_is_recorded_pending_and_queued(embedded: Backend, unit_settings: Settings) -> None:
    org = add_org(embedded, "acme")
    run = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert (run.status, run.parameters, run.trigger) == (
        RunStatus.PENDING,
        {"date": "2026-01-05", "source_window_days": 5},
        "api",
    )
    assert run.pipeline_id == "acme-gcp-billing"
    assert embedded.store.get_run(run.run_id) == run
    assert queued_run_ids(embedded) == [run.run_id]


def test_the_date_defaults_to_yesterday(embedded: Backend, unit_settings: Settings) -> None:
    org = add_org(embedded, "acme")
    run = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {}, today=TODAY)
    assert run.parameters == {"date": "2026-01-09", "source_window_days": 5}


@pytest.mark.parametrize(
    "ref", [PipelineRef("gcp", "cost", "nothing"), PipelineRef("aws", "cost", "billing"), PipelineRef("gcp", "..", "x")]
)
def test_an_unknown_pipeline_is_404_and_records_nothing(
    embedded: Backend, unit_settings: Settings, ref: PipelineRef
) -> None:
    org = add_org(embedded, "acme")
    with pytest.raises(NotFound) as refused:
        submission.submit_run(app_on(embedded, unit_settings), org, ref, {}, today=TODAY)
    assert refused.value.http_status == 404
    assert _runs(embedded) == [] and queued_run_ids(embedded) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"date": "2026-13-01"}, "date"),
        ({"date": "2026-01-11"}, "date"),  # in the future
        ({"dat": "2026-01-05"}, "dat"),
        ({"force_refresh": "yes"}, "force_refresh"),
    ],
)
def test_bad_parameters_are_400_naming_the_field_and_record_nothing(
    embedded: Backend, unit_settings: Settings, body: dict[str, object], field: str
) -> None:
    org = add_org(embedded, "acme")
    with pytest.raises(InvalidRequest) as refused:
        submission.submit_run(app_on(embedded, unit_settings), org, BILLING, body, today=TODAY)
    assert refused.value.details["field"] == field
    assert _runs(embedded) == []


def test_a_missing_integration_is_422_and_records_nothing(embedded: Backend, unit_settings: Settings) -> None:
    org = add_org(embedded, "acme", integrated=False)
    with pytest.raises(IntegrationNotConfigured) as refused:
        submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert refused.value.http_status == 422
    assert refused.value.details == {"integration": "GCP_SA"}
    assert _runs(embedded) == [] and queued_run_ids(embedded) == []


def test_a_duplicate_of_an_active_run_is_409_with_the_active_runs_id(
    embedded: Backend, unit_settings: Settings
) -> None:
    org = add_org(embedded, "acme")
    first = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    with pytest.raises(Conflict) as refused:
        submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert refused.value.http_status == 409
    assert refused.value.details == {"pipeline_logging_id": first.run_id}
    assert [run.run_id for run in _runs(embedded)] == [first.run_id]
    # other parameters, or another org, are other runs
    other_day = submission.submit_run(
        app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-06"}, today=TODAY
    )
    globex = add_org(embedded, "globex")
    other_org = submission.submit_run(
        app_on(embedded, unit_settings), globex, BILLING, {"date": "2026-01-05"}, today=TODAY
    )
    assert queued_run_ids(embedded) == [
        first.run_id,
        other_day.run_id,
        other_org.run_id,
    ]


def test_a_finished_run_does_not_block_the_same_run_again(embedded: Backend, unit_settings: Settings) -> None:
    org = add_org(embedded, "acme")
    first = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    claimed = embedded.store.claim_run(first.run_id, "token", "2026-01-10T00:00:00.000Z", "2026-01-10T00:15:00.000Z")
    assert claimed is not None
    embedded.store.update_run(
        first.run_id,
        expected_status=RunStatus.RUNNING,
        claim_token="token",
        changes={"status": RunStatus.COMPLETE, "end_time": "2026-01-10T00:01:00.000Z"},
    )
    again = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert again.run_id != first.run_id


def test_a_run_the_queue_refuses_is_failed_at_once_and_the_client_told_to_retry(
    embedded: Backend, unit_settings: Settings
) -> None:
    org = add_org(embedded, "acme")
    break_queue(embedded)
    with pytest.raises(TransientError) as refused:
        submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert refused.value.http_status == 503
    assert refused.value.message == "Run could not be queued; please retry"
    (failed,) = _runs(embedded)
    assert failed.status == RunStatus.FAILED
    assert failed.error_message == "Run could not be queued"
    assert failed.end_time is not None
    # nothing waits forever, and nothing blocks the retry the client was told to make
    repair_queue(embedded)
    retried = submission.submit_run(app_on(embedded, unit_settings), org, BILLING, {"date": "2026-01-05"}, today=TODAY)
    assert queued_run_ids(embedded) == [retried.run_id]
