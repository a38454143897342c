"""What a newcomer meets at the API: refusals that say what is expected, warnings on empty days,
placeholder credentials kept to the local stack, broken pipeline files that leak no paths."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from shared import application
from shared.adapters.gcp.warehouse import BigQueryWarehouses
from shared.domain.integrations import local_placeholder
from shared.errors import InvalidRequest, TerminalError
from shared.services import history, integrations, onboarding
from shared.settings import PROJECT_ROOT
from tests.conftest import Tenant, deliver_all, function_client, other_settings, submit


def test_every_401_is_the_same_body_and_says_where_the_key_goes(tenant: Tenant) -> None:
    client = function_client("status")
    bodies = [
        client.get("/api/v1/pipelines/runs", headers=headers).get_json()
        for headers in ({}, {"Authorization": f"Bearer {tenant.api_key}"}, {"X-API-Key": "acmecorp_api_wrong"})
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "X-API-Key" in bodies[0]["error"]["message"]


def test_a_path_as_pipeline_id_is_told_the_expected_form(tenant: Tenant) -> None:
    response = function_client("status").get(
        "/api/v1/pipelines/runs?pipeline_id=gcp/cost/billing", headers=tenant.headers
    )
    assert response.status_code == 400
    assert "{org}-{provider}-{pipeline}" in response.get_json()["error"]["message"]
    assert "acmecorp-gcp-billing" in response.get_json()["error"]["message"]


def test_a_day_without_source_rows_completes_with_a_warning_in_the_record_and_history(tenant: Tenant) -> None:
    empty_day = date(2025, 1, 15)
    run_id = submit(tenant, empty_day).get_json()["pipeline_logging_id"]
    deliver_all()
    run = function_client("status").get(f"/api/v1/pipelines/runs/{run_id}", headers=tenant.headers).get_json()
    assert run["status"] == "COMPLETE" and run["rows_processed"] == 0
    assert run["warnings"] == [f"no source rows for 2025-01-15 in `{tenant.spec.table_id}`"]
    warehouse = application.current().backend.warehouses.platform()
    stored = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT warnings FROM "cloudact-local".organizations.org_meta_pipeline_runs WHERE run_id = $1', [run_id]
    )
    assert "no source rows for 2025-01-15" in str(stored[0][0])
    assert "warnings" in [column.name for column in history.RUN_HISTORY.columns]


def test_a_day_with_rows_has_no_warning(tenant: Tenant) -> None:
    run_id = submit(tenant, tenant.spec.end_date).get_json()["pipeline_logging_id"]
    deliver_all()
    run = function_client("status").get(f"/api/v1/pipelines/runs/{run_id}", headers=tenant.headers).get_json()
    assert run["status"] == "COMPLETE" and run["rows_processed"] > 0 and run["warnings"] == []


def test_the_local_placeholder_is_accepted_locally_and_refused_by_bigquery(
    backend: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _key, _ = onboarding.create_org(application.current().backend, "placeholder_org")
    org = application.current().backend.store.get_org("placeholder_org")
    assert org is not None
    body = {"credential": local_placeholder("my-billing-project"), "billing_export_table": "my-billing-project.b.t"}
    app = application.current()
    stored = integrations.set_up(app.backend, app.settings, org, "gcp", body)
    assert stored.public()["local_placeholder"] is True
    # Google's warehouse never reads BigQuery with it
    with pytest.raises(TerminalError, match="local placeholder"):
        BigQueryWarehouses("cloudact-platform", max_bytes_billed=10**10).for_credentials(
            integrations.unseal(application.current().backend, "placeholder_org", "GCP_SA").credentials
        )
    # and a deployment reading BigQuery refuses to store one
    with other_settings(warehouse="bigquery"), pytest.raises(InvalidRequest, match="local stack only"):
        integrations.set_up(application.current().backend, application.current().settings, org, "gcp", body)


def test_a_pipeline_file_broken_at_request_time_answers_503_without_server_paths(
    tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", configs)
    pipeline = configs / "gcp" / "cost" / "billing.yml"
    pipeline.write_text(pipeline.read_text().replace("processor: gcp.bq_etl", "processor: gcp.nothing", 1))
    with other_settings(configs_dir=configs):
        response = submit(tenant, tenant.spec.end_date)
    body = response.get_json()
    assert response.status_code == 503, body
    assert body["error"]["code"] == "invalid_pipeline_config"
    assert "gcp/cost/billing" in body["error"]["message"] and str(tmp_path) not in body["error"]["message"]
