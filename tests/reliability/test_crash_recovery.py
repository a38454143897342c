"""The local stack killed with SIGKILL in the middle of a run, restarted on the same data folder:
the redelivered message finishes the run (COMPLETE), for a first load and for a re-run of a day,
whichever step the crash hit, with no duplicate rows and one history row."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import date
from typing import Any

import pytest

from shared import application
from shared.domain.runs import PipelineRef
from shared.local_stack import billing_export
from shared.local_stack.demo import loaded_totals, source_totals, totals_match
from shared.pipelines import config as pipeline_config
from shared.settings import PROJECT_ROOT, Settings
from tests.conftest import YESTERDAY, StackProcess, Tenant, deliver_all, submit

LEASE_S = 4
RETRY_MAX_BACKOFF_S = 2
STEPS = [
    step.name for step in pipeline_config.load(PROJECT_ROOT / "configs", PipelineRef("gcp", "cost", "billing")).steps
]


@pytest.fixture
def export_spec() -> Any:
    return billing_export.ExportSpec(
        table_id="acme-billing-export.billing_export.gcp_billing_export_v1_TEST", rows=4_000, days=2, end_date=YESTERDAY
    )


def _get(url: str, api_key: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"X-API-Key": api_key})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _post(url: str, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"X-API-Key": api_key, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _wait_for(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def _crash_and_recover(stack: StackProcess, tenant: Tenant, settings: Settings, step: str, body: dict[str, Any]) -> str:
    """Submits, kills the stack inside ``step``, restarts it; returns the run id once it is COMPLETE."""
    env = {
        "CLOUDACT_RUN_LEASE_S": str(LEASE_S),
        "CLOUDACT_RETRY_MIN_BACKOFF_S": "1",
        "CLOUDACT_RETRY_MAX_BACKOFF_S": str(RETRY_MAX_BACKOFF_S),
    }
    marker = settings.data_dir / "hung-in"
    marker.unlink(missing_ok=True)
    stack.start(CLOUDACT_TEST_HANG_AFTER_STEP=step, **env)
    run_id = _post(f"{stack.url}/api/v1/pipelines/run/acmecorp/gcp/cost/billing", tenant.api_key, body)[
        "pipeline_logging_id"
    ]
    _wait_for(marker.exists, 60, f"the run to reach {step}")
    stack.kill()

    restarted = time.monotonic()
    stack.start(**env)
    run_url = f"{stack.url}/api/v1/pipelines/runs/{run_id}"
    final = _wait_for(
        lambda: (run := _get(run_url, tenant.api_key))["status"] in ("COMPLETE", "FAILED") and run,
        LEASE_S * 3 + RETRY_MAX_BACKOFF_S + 60,
        "the redelivery to finish the run",
    )
    elapsed = time.monotonic() - restarted
    stack.stop()
    print(
        f"\ncrash in {step}: COMPLETE {elapsed:.1f}s after the restart"
        f" (lease {LEASE_S}s, max backoff {RETRY_MAX_BACKOFF_S}s)"
    )
    assert final["status"] == "COMPLETE", final
    assert final["attempt"] == 2  # the dead worker's claim, then the redelivery's
    # the budget: the dead worker's lease, one retry delay, the run itself and the stack's start-up
    assert elapsed < LEASE_S * 2 + RETRY_MAX_BACKOFF_S + 30
    return str(run_id)


def _check_the_day(tenant: Tenant, run_id: str, day: date) -> None:
    application.current().close()
    warehouse = application.current().backend.warehouses.platform()
    run = application.current().backend.store.get_run(run_id)
    assert run is not None and run.status == "COMPLETE"
    rows = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT COUNT(*) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw WHERE usage_date = $1', [day]
    )[0][0]
    assert rows == run.rows_processed > 0  # the day once: no duplicate rows from the dead worker
    expected = source_totals(warehouse, tenant.spec.table_id, day)  # type: ignore[arg-type]
    assert totals_match(expected, loaded_totals(warehouse, "acmecorp", day))  # type: ignore[arg-type]
    history = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT status, COUNT(*) FROM "cloudact-local".organizations.org_meta_pipeline_runs'
        " WHERE run_id = $1 GROUP BY 1",
        [run_id],
    )
    assert history == [("COMPLETE", 1)]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_first_load_killed_in_any_step_completes_by_redelivery(
    tenant: Tenant, settings: Settings, stack_process: StackProcess, step: str
) -> None:
    application.current().close()  # the stack process owns the warehouse file
    run_id = _crash_and_recover(stack_process, tenant, settings, step, {"date": YESTERDAY.isoformat()})
    _check_the_day(tenant, run_id, YESTERDAY)


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_rerun_killed_in_any_step_completes_by_redelivery(
    tenant: Tenant, settings: Settings, stack_process: StackProcess, step: str
) -> None:
    first = submit(tenant, YESTERDAY).get_json()["pipeline_logging_id"]
    deliver_all()
    assert tenant.backend.store.get_run(first).status == "COMPLETE"  # type: ignore[union-attr]
    application.current().close()
    body = {"date": YESTERDAY.isoformat(), "force_refresh": True}  # re-process the day
    run_id = _crash_and_recover(stack_process, tenant, settings, step, body)
    _check_the_day(tenant, run_id, YESTERDAY)
