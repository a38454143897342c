"""The HTTP API under schemathesis: no 5xx, and every answer as the OpenAPI document says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.meta import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bench import focus_data
from shared import application
from shared.application import Application
from shared.local_stack.server import OPENAPI, ApiGateway
from tests.conftest import ADMIN_KEY, EXPORT_TABLE, onboard

_state: dict[str, Any] = {}
# Where "schema-valid input must be accepted" cannot hold, and why: the document says so in words.
SCHEMA_VALID_BUT_REFUSED = {
    "/api/v1/pipelines/runs": "a page token is an opaque cursor the server issued; any other string is 400",
    "/api/v1/scheduler/tick": "the schedule time must be within a week of now",
    "/api/v1/costs/{org_slug}": "end must not precede start, and the range spans at most 366 days",
    # JSON Schema's date format has no bounds, and today moves: the document gives the range in words
    "/api/v1/pipelines/run/{org_slug}/{provider}/{domain}/{pipeline}": "a date is from 2010-01-01 to today",
    "/api/v1/pipelines/run/{org_slug}/{provider}/{pipeline}": "a date is from 2010-01-01 to today",
    "/api/v1/pipelines/backfill/{org_slug}/{provider}/{domain}/{pipeline}": "a date is from 2010-01-01 to today",
    "/api/v1/focus/{org_slug}": "start must not be after end, and the range is bounded in days",
}


@pytest.fixture(scope="module", autouse=True)
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    for name, value in {
        "CLOUDACT_BACKEND": "local",
        "CLOUDACT_DATA_DIR": str(data_dir),
        "CLOUDACT_ADMIN_KEY": ADMIN_KEY,
        # the fuzzer sends many unauthenticated requests on purpose: throttling would hide answers
        "CLOUDACT_AUTH_FAILURE_LIMIT": "1000000",
    }.items():
        patch.setenv(name, value)
    with application.installed(Application.from_env()) as app:
        yield from _fuzzed(app)
    patch.undo()


def _fuzzed(app: Application) -> Iterator[None]:
    from shared.local_stack.billing_export import ExportSpec

    spec = ExportSpec(table_id=EXPORT_TABLE, rows=2_000, days=2)
    _state["tenant"] = onboard(app.backend, "acmecorp", spec)
    # FOCUS rows with tenant-controlled names, so the cost API's real query path is what is fuzzed
    rows = [
        focus_data.FocusRow(date(2025, 1, 1) + timedelta(days=n), "Google Cloud", name, Decimal("1.5"))
        for n in range(3)
        for name in ("Compute Engine", "<img src=x onerror=alert(1)>", "é\u202e")
    ]
    focus_data.write(app.backend.warehouses.platform(), "acmecorp", rows)
    yield


schema = schemathesis.openapi.from_wsgi("/openapi.yaml", ApiGateway())


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    token = application.current().local_scheduler_token()
    headers = {"X-API-Key": _state["tenant"].api_key, "X-Admin-Key": ADMIN_KEY, "Authorization": f"Bearer {token}"}
    excluded = [positive_data_acceptance] if case.operation.path in SCHEMA_VALID_BUT_REFUSED else []
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        headers = {}  # the case itself drops or mangles credentials: sending ours would undo that
    case.call_and_validate(headers=headers, excluded_checks=excluded)


def test_the_local_stack_serves_the_document() -> None:
    from werkzeug.test import Client

    response = Client(ApiGateway()).get("/openapi.yaml")
    assert response.status_code == 200 and response.data == OPENAPI.read_bytes()
