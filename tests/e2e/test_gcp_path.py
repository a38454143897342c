"""End to end on the production adapters, against Google's emulators on loopback.

The same billing run twice, on the same few hundred export rows:

1. on the embedded stack (DuckDB, SQLite, local queue), as the reference;
2. on the production path: the admin, submit and status functions (functions-framework, in
   process), Firestore (emulator) holding orgs, keys, integrations and runs, Pub/Sub (emulator)
   with a push subscription delivering over HTTP to ``execute_push`` served on loopback, and
   BigQuery (bqemulator) holding the billing export, the org dataset and the run history. Keys stay
   local (Cloud KMS has no emulator; its adapter has its own contract suite).

Two bqemulator gaps shape the test (docs/gcp.md lists them all). It counts a ``@parameter`` written
inside a SQL comment as a placeholder and then rejects the query's parameters; so the production path
runs on a copy of ``configs/`` whose SQL has its comments removed (the statements are untouched).
And it refuses load jobs into a partition
decorator (``table$YYYYMMDD``, the production load; docs/gcp.md). So the run ends FAILED at its
load step, for exactly that reason, and the test checks everything up to it: the org's export was
read with the org's warehouse, the load job was sent as a truncating load into the run's day, and
the rows it carried have the same per-service-and-project totals as the table the embedded run
loaded. The run's state in Firestore, the status API and the run history in BigQuery are checked
as they are.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from shared.local_stack import demo
from shared.local_stack.billing_export import ExportSpec
from shared.ports import Backend, JobLabels
from shared.settings import PROJECT_ROOT
from tests.conftest import (
    ADMIN_KEY,
    EXPORT_TABLE,
    YESTERDAY,
    Tenant,
    deliver_all,
    function_app,
    rebuilt_from_env,
    submit,
)
from tests.contract.test_warehouse import RecordingSession
from tests.gcp_emulators import (
    Emulator,
    pubsub_create_subscription,
    pubsub_create_topic,
    unique_project,
)

ORG = "acmecorp"
RUN_TIMEOUT_S = 60.0

# The subset of the standard Cloud Billing export schema that the pipeline's SQL reads.
EXPORT_SCHEMA: list[dict[str, Any]] = [
    {"name": "billing_account_id", "type": "STRING"},
    {
        "name": "service",
        "type": "RECORD",
        "fields": [{"name": "id", "type": "STRING"}, {"name": "description", "type": "STRING"}],
    },
    {
        "name": "sku",
        "type": "RECORD",
        "fields": [{"name": "id", "type": "STRING"}, {"name": "description", "type": "STRING"}],
    },
    {"name": "usage_start_time", "type": "TIMESTAMP"},
    {"name": "usage_end_time", "type": "TIMESTAMP"},
    {
        "name": "project",
        "type": "RECORD",
        "fields": [{"name": "id", "type": "STRING"}, {"name": "name", "type": "STRING"}],
    },
    {
        "name": "labels",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [{"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}],
    },
    {
        "name": "location",
        "type": "RECORD",
        "fields": [{"name": "region", "type": "STRING"}, {"name": "zone", "type": "STRING"}],
    },
    {"name": "export_time", "type": "TIMESTAMP"},
    {"name": "cost", "type": "FLOAT"},
    {"name": "currency", "type": "STRING"},
    {
        "name": "usage",
        "type": "RECORD",
        "fields": [
            {"name": "amount", "type": "FLOAT"},
            {"name": "unit", "type": "STRING"},
            {"name": "amount_in_pricing_units", "type": "FLOAT"},
            {"name": "pricing_unit", "type": "STRING"},
        ],
    },
    {
        "name": "credits",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [
            {"name": "name", "type": "STRING"},
            {"name": "amount", "type": "FLOAT"},
            {"name": "type", "type": "STRING"},
        ],
    },
    {"name": "invoice", "type": "RECORD", "fields": [{"name": "month", "type": "STRING"}]},
    {"name": "cost_type", "type": "STRING"},
    {"name": "cost_at_list", "type": "FLOAT"},
]


@pytest.fixture
def export_spec() -> ExportSpec:
    return ExportSpec(table_id=EXPORT_TABLE, rows=400, days=3, end_date=YESTERDAY)


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


def export_rows(backend: Backend, table_id: str) -> list[dict[str, Any]]:
    """The embedded stack's export rows, in the export schema's subset."""
    warehouse: Any = backend.warehouses.platform()
    project, dataset, table = table_id.split(".")
    warehouse.attach_project(project)
    columns = [field["name"] for field in EXPORT_SCHEMA]
    found = warehouse.execute_native(f'SELECT {", ".join(columns)} FROM "{project}"."{dataset}"."{table}"')
    keep = {field["name"]: {sub["name"] for sub in field.get("fields", [])} for field in EXPORT_SCHEMA}
    rows = []
    for values in found:
        row = dict(zip(columns, values, strict=True))
        row["credits"] = [{k: v for k, v in credit.items() if k in keep["credits"]} for credit in row["credits"]]
        for name in ("service", "sku", "project", "usage", "invoice", "location"):
            row[name] = {k: v for k, v in row[name].items() if k in keep[name]}
        rows.append(_json_ready(row))
    return rows


def create_export_in_bqemulator(emulator: Emulator, table_id: str, rows: list[dict[str, Any]]) -> None:
    project, dataset, table = table_id.split(".")
    base = f"{emulator.url}/bigquery/v2/projects/{project}"
    requests.post(
        f"{base}/datasets", json={"datasetReference": {"projectId": project, "datasetId": dataset}}, timeout=30
    ).raise_for_status()
    requests.post(
        f"{base}/datasets/{dataset}/tables",
        json={
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": EXPORT_SCHEMA},
        },
        timeout=30,
    ).raise_for_status()
    inserted = requests.post(
        f"{base}/datasets/{dataset}/tables/{table}/insertAll",
        json={"rows": [{"json": row} for row in rows]},
        timeout=60,
    )
    inserted.raise_for_status()
    assert not inserted.json().get("insertErrors"), inserted.json()


class PushEndpoint:
    """``execute_push`` served over HTTP on loopback, for the Pub/Sub emulator's push subscription."""

    def __init__(self) -> None:
        import functions_framework

        self.deliveries: list[int] = []
        # the second entry point of functions/execute, loaded as functions-framework deploys it
        app = functions_framework.create_app(
            target="execute_push", source=str(PROJECT_ROOT / "functions" / "execute" / "main.py")
        )

        def recording(environ: Any, start_response: Any) -> Any:
            def start(status: str, headers: Any, *args: Any) -> Any:
                self.deliveries.append(int(status.split()[0]))
                return start_response(status, headers, *args)

            return app(environ, start)

        self._server = make_server("127.0.0.1", 0, recording, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PushEndpoint:
        self._thread.start()
        return self

    def wait_for_answers(self, count: int, timeout_s: float = RUN_TIMEOUT_S) -> list[int]:
        """The worker records a run's end (which a status poll may see) before it answers the push,
        and writes the run history in between: wait for the answer itself."""
        deadline = time.monotonic() + timeout_s
        while len(self.deliveries) < count:
            assert time.monotonic() < deadline, f"{len(self.deliveries)} of {count} push deliveries answered"
            time.sleep(0.05)
        return self.deliveries

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def wait_for_end(status_client: Any, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        response = status_client.get(f"/api/v1/pipelines/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        run: dict[str, Any] = response.get_json()
        if run["status"] in {"COMPLETE", "FAILED"}:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']} after {RUN_TIMEOUT_S:.0f}s"
        time.sleep(0.2)


def configs_without_sql_comments(target: Path) -> Path:
    """``configs/`` as is, but with ``--`` comments removed from the SQL (see the module docstring)."""
    shutil.copytree(PROJECT_ROOT / "configs", target)
    for sql_file in target.rglob("*.sql"):
        sql_file.write_text(re.sub(r"--[^\n]*", "", sql_file.read_text()))
    return target


def per_service_and_project(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    # NUMERIC travels as text in the load's JSON, so no float ever rounds it
    totals: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for row in rows:
        key = (row["service_id"], row["project_id"])
        cost, credits = totals.get(key, (Decimal(0), Decimal(0)))
        totals[key] = (cost + Decimal(row["cost"]), credits + Decimal(row["credits"]))
    return totals


def test_a_billing_run_on_the_production_adapters_matches_the_embedded_stack(
    tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pubsub_emulator: Emulator,
    firestore_emulator: Emulator,
    bigquery_emulator: Emulator,
) -> None:
    day = YESTERDAY

    # 1. the reference: the embedded stack
    accepted = submit(tenant, day)
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    deliver_all()
    embedded = tenant.backend.store.get_run(accepted.get_json()["pipeline_logging_id"])
    assert embedded is not None and embedded.status == "COMPLETE", embedded
    embedded_totals = demo.loaded_totals(tenant.backend.warehouses.platform(), ORG, day)  # type: ignore[arg-type]
    assert embedded_totals, "the reference run loaded nothing"
    export = export_rows(tenant.backend, EXPORT_TABLE)
    assert 300 <= len(export) <= 400

    # 2. the same export in bqemulator, and the production adapters selected by settings
    create_export_in_bqemulator(bigquery_emulator, EXPORT_TABLE, export)
    platform = unique_project()
    for name, value in {
        "CLOUDACT_BACKEND": "gcp",
        "CLOUDACT_KEY_MANAGER": "local",  # no KMS emulator
        "CLOUDACT_PROJECT": platform,
        "CLOUDACT_DATA_DIR": str(tmp_path / "gcp-path"),
        "CLOUDACT_CONFIGS_DIR": str(configs_without_sql_comments(tmp_path / "configs")),
        "CLOUDACT_BQ_API_ENDPOINT": bigquery_emulator.url,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host_port,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host_port,
    }.items():
        monkeypatch.setenv(name, value)
    backend = rebuilt_from_env().backend
    assert [type(port).__name__ for port in (backend.store, backend.queue, backend.warehouses, backend.keys)] == [
        "FirestoreStore",
        "PubSubRunQueue",
        "BigQueryWarehouses",
        "LocalKeyManager",
    ]
    # keep a copy of what the platform's BigQuery client sends (its client is not created yet)
    wire = RecordingSession()
    backend.warehouses.platform()._http = wire  # type: ignore[attr-defined]

    admin, submitter, status = (function_app(name).test_client() for name in ("admin", "submit", "status"))
    with PushEndpoint() as push:
        pubsub_create_topic(pubsub_emulator, platform, "pipeline-runs")
        pubsub_create_subscription(pubsub_emulator, platform, "pipeline-runs", "pipeline-runs-execute", push.url)

        created = admin.post(
            "/api/v1/admin/orgs", json={"org_slug": ORG, "name": "Acme"}, headers={"X-Admin-Key": ADMIN_KEY}
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        headers = {"X-API-Key": created.get_json()["api_key"]}
        integration = admin.put(
            f"/api/v1/integrations/{ORG}/gcp",
            json={"credential": demo.fake_service_account("acme-billing-export"), "billing_export_table": EXPORT_TABLE},
            headers=headers,
        )
        assert integration.status_code == 200, integration.get_data(as_text=True)

        response = submitter.post(
            f"/api/v1/pipelines/run/{ORG}/gcp/cost/billing", json={"date": day.isoformat()}, headers=headers
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        run_id = response.get_json()["pipeline_logging_id"]
        run = wait_for_end(status, run_id, headers)
        answers = push.wait_for_answers(1)

    # delivered by the push subscription, and acknowledged (the run failed for good: no retry)
    assert answers[-1] == 204
    # the record is in Firestore, read back through the status API
    assert run["pipeline_logging_id"] == run_id and run["org_slug"] == ORG and run["attempt"] == 1
    steps = {step["name"]: step for step in run["steps"]}
    embedded_steps = {step.name: step for step in embedded.steps}
    assert steps["extract_transform"]["status"] == "COMPLETE", json.dumps(run)
    assert steps["extract_transform"]["rows"] == embedded_steps["extract_transform"].rows
    # the emulator's gap, and nothing else, ended the run
    assert run["status"] == "FAILED"
    assert f"gcp_billing_daily_raw${day:%Y%m%d}" in run["error_message"], run["error_message"]
    assert "Invalid table id" in run["error_message"]

    # the load job as sent: a truncating load into the run's day of the org's table ...
    [load] = [job["configuration"]["load"] for job in wire.jobs() if "load" in job["configuration"]]
    assert load["destinationTable"] == {
        "projectId": platform,
        "datasetId": ORG,
        "tableId": f"gcp_billing_daily_raw${day:%Y%m%d}",
    }
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    # ... carrying rows whose totals are the embedded run's loaded totals
    [upload] = [body for method, url, body in wire.sent if method == "PUT" and "upload" in url]
    loaded_rows = [json.loads(line) for line in upload.splitlines()]
    assert len(loaded_rows) == steps["extract_transform"]["rows"]
    assert {row["usage_date"] for row in loaded_rows} == {day.isoformat()}
    # bqemulator 1.4.0 keeps NUMERIC to 3 decimal places (BigQuery: 9), each source value rounded
    # once: within half a thousandth per source row of the embedded run's exact totals
    carried = per_service_and_project(loaded_rows)
    assert carried.keys() == embedded_totals.keys()
    source_rows: dict[tuple[str, str], int] = {}
    for row in loaded_rows:
        key = (row["service_id"], row["project_id"])
        source_rows[key] = source_rows.get(key, 0) + int(row["source_rows"])
    for key, (cost, credits) in carried.items():
        bound = Decimal("0.0005") * source_rows[key] * 3  # a cost, and up to two credits, per row
        assert abs(cost - embedded_totals[key][0]) <= bound and abs(credits - embedded_totals[key][1]) <= bound

    # the finished run reached the run history in BigQuery (a MERGE on bqemulator)
    history = backend.warehouses.platform().query(
        f"SELECT status, error_message FROM `{platform}.organizations.org_meta_pipeline_runs` WHERE run_id = @id",
        {"id": run_id},
        labels=JobLabels(org_slug=ORG, run_id=run_id, step="test"),
    )
    assert history.rows == [("FAILED", run["error_message"])]


# -- the push entry point's answers, which Pub/Sub reads as ack (2xx) or nack (5xx) ----------------
def _push_client() -> Any:
    import functions_framework

    return functions_framework.create_app(
        target="execute_push", source=str(PROJECT_ROOT / "functions" / "execute" / "main.py")
    ).test_client()


def _envelope(data: bytes) -> dict[str, Any]:
    import base64

    return {
        "message": {"data": base64.b64encode(data).decode(), "messageId": "1", "attributes": {}},
        "subscription": "projects/cloudact-test/subscriptions/pipeline-runs-execute",
    }


@pytest.mark.parametrize("body", [b"not json", b'{"message": {"data": "%%%"}}', b'{"subscription": "s"}'])
def test_an_unreadable_push_is_acknowledged_not_retried(settings: Any, body: bytes) -> None:
    response = _push_client().post("/", data=body, content_type="application/json")
    assert response.status_code == 204


def test_a_push_for_an_unknown_run_is_acknowledged(settings: Any) -> None:
    message = {
        "run_id": "00000000-0000-4000-8000-000000000000",
        "org_slug": "acmecorp",
        "provider": "gcp",
        "domain": "cost",
        "pipeline": "billing",
        "parameters": {"date": "2026-01-01"},
        "trigger": "api",
        "requested_at": "2026-01-02T00:00:00.000Z",
    }
    response = _push_client().post("/", json=_envelope(json.dumps(message).encode()))
    assert response.status_code == 204


def test_a_transient_failure_asks_pub_sub_to_redeliver(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.errors import TransientError
    from shared.services import integrations

    accepted = submit(tenant, YESTERDAY)
    assert accepted.status_code == 202
    [delivery] = tenant.backend.queue.pull()  # type: ignore[attr-defined]

    real_unseal, outage = integrations.unseal, [True]

    def unseal_during_outage(*args: Any, **kwargs: Any) -> Any:
        if outage[0]:
            raise TransientError("key service unavailable")
        return real_unseal(*args, **kwargs)

    monkeypatch.setattr(integrations, "unseal", unseal_during_outage)
    push = _push_client()
    assert push.post("/", json=_envelope(delivery.data)).status_code == 503
    run = tenant.backend.store.get_run(accepted.get_json()["pipeline_logging_id"])
    assert run is not None and run.status == "PENDING"  # given back for the redelivery to claim
    outage[0] = False
    assert push.post("/", json=_envelope(delivery.data)).status_code == 204
    finished = tenant.backend.store.get_run(run.run_id)
    assert finished is not None and finished.status == "COMPLETE"


def test_the_focus_mapping_gives_the_same_rows_on_bigquery(
    tenant: Tenant, tmp_path: Path, bigquery_emulator: Emulator
) -> None:
    """The production run stops at bqemulator's load gap before its FOCUS steps: here the FOCUS SQL
    runs on bqemulator over the daily rows the embedded run loaded, and gives the embedded rows."""
    from shared.adapters.gcp.warehouse import BigQueryWarehouse
    from shared.pipelines import config as pipeline_config
    from shared.pipelines.processors.gcp_bq_etl import BqEtlConfig
    from shared.ports import Column, TableSpec

    day = YESTERDAY
    accepted = submit(tenant, day)
    assert accepted.status_code == 202
    deliver_all()
    run_id = accepted.get_json()["pipeline_logging_id"]
    duck: Any = tenant.backend.warehouses.platform()
    labels = JobLabels(org_slug=ORG, run_id=run_id, step="test")
    daily = duck.query(
        f"SELECT * FROM {ORG}.gcp_billing_daily_raw WHERE usage_date = @day", {"day": day}, labels=labels
    )
    embedded = duck.query(f"SELECT * FROM {ORG}.focus_gcp", {}, labels=labels).records()
    assert embedded and {row["ChargeCategory"] for row in embedded} >= {"Usage", "Credit"}

    configs = configs_without_sql_comments(tmp_path / "configs")
    pipeline = pipeline_config.load(configs, demo_ref())
    load = BqEtlConfig.model_validate(next(step for step in pipeline.steps if step.name == "load").config)
    platform = unique_project()
    bigquery = BigQueryWarehouse(platform, max_bytes_billed=10 * 1024**3, api_endpoint=bigquery_emulator.url)
    table = TableSpec(ORG, "gcp_billing_daily_raw", tuple(Column(c.name, c.type, c.mode) for c in load.table_schema))
    bigquery.ensure_table(table)
    inserted = requests.post(
        f"{bigquery_emulator.url}/bigquery/v2/projects/{platform}/datasets/{ORG}/tables/{table.name}/insertAll",
        json={"rows": [{"json": _json_ready({k: _plain(v) for k, v in row.items()})} for row in daily.records()]},
        timeout=60,
    )
    inserted.raise_for_status()
    assert not inserted.json().get("insertErrors"), inserted.json()

    sql = (configs / "gcp" / "cost" / "sql" / "focus_gcp.sql").read_text().replace("{org_dataset}", ORG)
    result = bigquery.query(sql, {"date": day, "run_id": run_id}, labels=labels)
    bigquery.close()
    # bqemulator answers with lowercased column names (BigQuery keeps them as written)
    names = {name.lower(): name for name in embedded[0]}
    assert {names.get(column) for column in result.columns} == set(embedded[0]), result.columns
    on_bigquery = [
        {names[column]: value for column, value in zip(result.columns, row, strict=True)} for row in result.rows
    ]
    assert len(on_bigquery) == len(embedded)

    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(
            str(row[name])
            for name in (
                "ChargeCategory",
                "SubAccountId",
                "SkuId",
                "x_CostType",
                "Tags",
                "BillingCurrency",
                "PricingUnit",
                "ChargeDescription",
            )
        )

    money = {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "ListUnitPrice",
        "PricingQuantity",
        "ConsumedQuantity",
    }
    for ours, theirs in zip(sorted(embedded, key=key), sorted(on_bigquery, key=key), strict=True):
        for name, value in ours.items():
            other = theirs[name]
            if name in money and value is not None:
                # bqemulator keeps NUMERIC to 3 decimal places (BigQuery: 9)
                assert abs(Decimal(str(other)) - value) <= Decimal("0.01"), (name, value, other)
            elif isinstance(value, datetime):
                assert other == value, (name, value, other)
            else:
                assert other == value, (name, value, other)


def demo_ref() -> Any:
    from shared.domain.runs import PipelineRef

    return PipelineRef("gcp", "cost", "billing")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value.isoformat() if isinstance(value, date) else str(value) if isinstance(value, Decimal) else value


VENDOR_DAILY_ROWS = {
    "openai": [
        {
            "project_id": "proj_a",
            "line_item": "gpt-4o-2024-08-06, cached input",
            "api_key_id": "key_1",
            "currency": "USD",
            "amount": "0.123456789",
        },
        {
            "project_id": None,
            "line_item": "file search tool storage",
            "api_key_id": None,
            "currency": "USD",
            "amount": "2.5",
        },
    ],
    "anthropic": [
        {
            "workspace_id": None,
            "description": "Claude Sonnet 4 Input Tokens",
            "cost_type": "tokens",
            "model": "claude-sonnet-4-20250514",
            "service_tier": "standard",
            "context_window": "0-200k",
            "token_type": "uncached_input_tokens",
            "currency": "USD",
            "amount": "1.000000001",
        },
        {
            "workspace_id": "wrkspc_1",
            "description": "Web Search Usage",
            "cost_type": "web_search",
            "model": None,
            "service_tier": None,
            "context_window": None,
            "token_type": None,
            "currency": "USD",
            "amount": "0.01",
        },
    ],
}


# the day's usage behind them: one token line matched (its cached input, and for Anthropic also the
# web searches of the workspace), the other lines left to the one-unit fallback
VENDOR_USAGE_ROWS = {
    "openai": [
        {
            "project_id": "proj_a",
            "api_key_id": "key_1",
            "model": "gpt-4o-2024-08-06",
            "batch": batch,
            "service_tier": "default",
            "input_tokens": 5_000 + 1_000 * batch,
            "output_tokens": 700,
            "input_cached_tokens": 1_234 + 1_000 * batch,
            "input_audio_tokens": 0,
            "output_audio_tokens": 0,
            "num_model_requests": 3,
        }
        for batch in (False, True)
    ],
    "anthropic": [
        {
            "api_key_id": key,
            "workspace_id": workspace,
            "model": "claude-sonnet-4-20250514",
            "service_tier": "standard",
            "context_window": "0-200k",
            "uncached_input_tokens": 777_001,
            "cache_creation_ephemeral_1h_input_tokens": 0,
            "cache_creation_ephemeral_5m_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 10,
            "web_search_requests": 7,
        }
        for key, workspace in ((None, None), ("key_2", "wrkspc_1"))
    ],
}
EXPECTED_QUANTITIES = {
    # ChargeDescription -> (ConsumedQuantity, PricingUnit)
    "openai": {
        "gpt-4o-2024-08-06, cached input": (Decimal(3_468), "1000 Tokens"),
        "file search tool storage": (1, "Units"),
    },
    "anthropic": {
        "Claude Sonnet 4 Input Tokens": (Decimal(777_001), "1000 Tokens"),
        "Web Search Usage": (7, "1000 Requests"),
    },
}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_vendor_focus_mappings_give_the_same_rows_on_bigquery_and_duckdb(
    provider: str, tmp_path: Path, bigquery_emulator: Emulator
) -> None:
    from shared.adapters.gcp.warehouse import BigQueryWarehouse
    from shared.adapters.local.warehouse import DuckDBWarehouse
    from shared.domain import focus
    from shared.domain.runs import PipelineRef
    from shared.pipelines import config as pipeline_config
    from shared.pipelines.processors.load_day import LoadConfig
    from shared.ports import Column, TableSpec

    day, run_id = YESTERDAY, "3f1c2a9e-0000-4000-8000-000000000002"
    configs = configs_without_sql_comments(tmp_path / "configs")
    pipeline = pipeline_config.load(configs, PipelineRef(provider, "cost", "billing"))
    tables: list[tuple[TableSpec, list[dict[str, Any]]]] = []
    for step_name, source_rows in (("load", VENDOR_DAILY_ROWS[provider]), ("load_usage", VENDOR_USAGE_ROWS[provider])):
        load = LoadConfig.model_validate(next(step for step in pipeline.steps if step.name == step_name).config)
        table = TableSpec(ORG, load.target_table, tuple(Column(c.name, c.type, c.mode) for c in load.table_schema))
        rows = [
            {**row, "usage_date": day, "source_rows": 1, "source_content_hash": "h", "fetched_at": datetime.now(tz=UTC)}
            for row in source_rows
        ]
        for row in rows:
            if "amount" in row:
                row["amount"] = Decimal(row["amount"])
        tables.append((table, rows))
    sql = (configs / provider / "cost" / "sql" / f"focus_{provider}.sql").read_text().replace("{org_dataset}", ORG)
    params = {"date": day, "run_id": run_id, "org_slug": ORG}
    labels = JobLabels(org_slug=ORG, run_id=run_id, step="test")

    duck = DuckDBWarehouse(tmp_path / "duck", "cloudact-test")
    for table, rows in tables:
        columns = list(rows[0])
        duck.replace_partition(
            TableSpec(ORG, table.name, table.columns, partition_field="usage_date"),
            day,
            columns,
            [[row[c] for c in columns] for row in rows],
            labels=labels,
        )
    embedded = duck.query(sql, params, labels=labels).records()
    duck.close()
    assert focus.violations(embedded) == []
    quantities = {row["ChargeDescription"]: (row["ConsumedQuantity"], row["PricingUnit"]) for row in embedded}
    assert quantities == EXPECTED_QUANTITIES[provider]

    platform = unique_project()
    bigquery = BigQueryWarehouse(platform, max_bytes_billed=10 * 1024**3, api_endpoint=bigquery_emulator.url)
    for table, rows in tables:
        bigquery.ensure_table(table)
        inserted = requests.post(
            f"{bigquery_emulator.url}/bigquery/v2/projects/{platform}/datasets/{ORG}/tables/{table.name}/insertAll",
            json={"rows": [{"json": {k: _plain(v) for k, v in row.items()}} for row in rows]},
            timeout=60,
        )
        inserted.raise_for_status()
        assert not inserted.json().get("insertErrors"), inserted.json()
    result = bigquery.query(sql, params, labels=labels)
    bigquery.close()
    names = {name.lower(): name for name in embedded[0]}
    on_bigquery = [{names[c]: v for c, v in zip(result.columns, row, strict=True)} for row in result.rows]

    def key(row: dict[str, Any]) -> str:
        return str(row["ChargeDescription"])

    for ours, theirs in zip(sorted(embedded, key=key), sorted(on_bigquery, key=key), strict=True):
        for name, value in ours.items():
            other = theirs[name]
            if isinstance(value, Decimal):
                # bqemulator keeps NUMERIC to 3 decimal places (BigQuery: 9)
                assert abs(Decimal(str(other)) - value) <= Decimal("0.001"), (name, value, other)
            elif name != "x_SourceExportTime":
                assert other == value, (name, value, other)
