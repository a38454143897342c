"""The OpenAI and Anthropic pipelines end to end on the embedded stack, against the local fakes of
the vendors' admin APIs over real HTTP on loopback: integrations through the admin function, runs
through the submit function, delivery to the execute function, rows in DuckDB, and every loaded
total compared with the fake's own ground truth, digit for digit (each vendor amount rounded
half-even to the 9 decimals of the NUMERIC column, as the pipelines store it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, Protocol

import pytest

from shared import application
from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.local_stack.fakes import (
    ANTHROPIC_COSTS_PATH,
    ANTHROPIC_USAGE_PATH,
    DEFAULT_ANTHROPIC_ADMIN_KEY,
    DEFAULT_OPENAI_ADMIN_KEY,
    OPENAI_COSTS_PATH,
    OPENAI_USAGE_PATH,
    FakeServer,
    VendorFakes,
    key_fingerprint,
    new_org,
    totals_by,
)
from shared.local_stack.fakes.data import AnthropicCost, OpenAICost
from shared.ports import Backend
from shared.services import onboarding
from shared.settings import Settings
from tests.conftest import deliver_all, function_client

DAY = date.today() - timedelta(days=3)
OTHER_DAY = DAY - timedelta(days=1)
COST_TABLE = {"openai": "openai_costs_daily", "anthropic": "anthropic_costs_daily"}
USAGE_TABLE = {"openai": "openai_usage_daily", "anthropic": "anthropic_usage_daily"}
KEYS = {"openai": DEFAULT_OPENAI_ADMIN_KEY, "anthropic": DEFAULT_ANTHROPIC_ADMIN_KEY}


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def fakes(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> VendorFakes:
    fake_server.fakes.reset()
    monkeypatch.setenv("CLOUDACT_OPENAI_API_BASE", fake_server.base_url)
    monkeypatch.setenv("CLOUDACT_ANTHROPIC_API_BASE", fake_server.base_url)
    return fake_server.fakes


@pytest.fixture
def vendor_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # short enough that exhausting the retry budget takes seconds, long enough for Retry-After: 1
    monkeypatch.setenv("CLOUDACT_VENDOR_RETRY_BUDGET_S", "3")
    monkeypatch.setenv("CLOUDACT_VENDOR_TIMEOUT_S", "2")


class Org:
    def __init__(self, backend: Backend, slug: str) -> None:
        _, self.api_key, _ = onboarding.create_org(backend, slug)
        self.slug = slug
        org = backend.store.get_org(slug)
        assert org is not None
        self.dataset = org.dataset

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def integrate(self, provider: str, credential: str, **extra: Any) -> Any:
        return function_client("admin").put(
            f"/api/v1/integrations/{self.slug}/{provider}",
            json={"credential": credential, **extra},
            headers=self.headers,
        )

    def run(self, path: str, day: date = DAY, **body: Any) -> dict[str, Any]:
        response = function_client("submit").post(
            f"/api/v1/pipelines/run/{self.slug}/{path}", json={"date": day.isoformat(), **body}, headers=self.headers
        )
        assert response.status_code == 202, response.get_json()
        deliver_all()
        run = application.current().backend.store.get_run(response.get_json()["pipeline_logging_id"])
        assert run is not None
        return run.public()


@pytest.fixture
def acme(settings: Settings, backend: Backend, fakes: VendorFakes, vendor_settings: None) -> Org:
    org = Org(backend, "acmecorp")
    for provider, key in KEYS.items():
        assert org.integrate(provider, key).status_code == 200
    return org


def warehouse() -> DuckDBWarehouse:
    platform = application.current().backend.warehouses.platform()
    assert isinstance(platform, DuckDBWarehouse)
    return platform


def table_rows(org: Org, table: str, day: date, columns: str) -> list[tuple[Any, ...]]:
    return warehouse().execute_native(
        f'SELECT {columns} FROM "{warehouse().project}"."{org.dataset}".{table} WHERE usage_date = $1', [day]
    )


def loaded_costs(org: Org, provider: str, day: date = DAY) -> dict[tuple[Any, ...], Decimal]:
    keys = "project_id, line_item, api_key_id" if provider == "openai" else "workspace_id, description"
    rows = table_rows(org, COST_TABLE[provider], day, f"{keys}, amount")
    loaded = {tuple(row[:-1]): row[-1] for row in rows}
    assert len(loaded) == len(rows)  # one row per grouping key: nothing duplicated
    return loaded


def nanos(amount: Decimal) -> Decimal:
    """An exact amount at NUMERIC's 9 decimals, ties to the even nano (computed here on integers,
    independently of the pipeline's rounding)."""
    with localcontext(Context(prec=100)):
        scaled = amount.scaleb(9)
        integral, rest = divmod(abs(scaled), 1)
        whole = int(integral)
        if rest > Decimal("0.5") or (rest == Decimal("0.5") and whole % 2):
            whole += 1
        return Decimal(-whole if scaled < 0 else whole).scaleb(-9)


class CostTruth(Protocol):
    """The fakes' ground truth: a running ``VendorFakes`` (restatements included) or the module."""

    def expected_costs(self, org: str, day: date) -> list[OpenAICost] | list[AnthropicCost]: ...


def vendor_amounts(fakes: CostTruth, key: str, day: date = DAY) -> list[Decimal]:
    """What the vendor writes for the day, one amount per result (the fakes' exact records)."""
    return [record.amount for record in fakes.expected_costs(key, day)]


class Stored:
    """A fake's cost record with its amount as the NUMERIC column holds it."""

    def __init__(self, record: OpenAICost | AnthropicCost) -> None:
        self.record = record
        self.amount = nanos(record.amount)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


def expected_costs(fakes: VendorFakes, key: str, provider: str, day: date = DAY) -> dict[tuple[Any, ...], Decimal]:
    fields = ("project_id", "line_item", "api_key_id") if provider == "openai" else ("workspace_id", "description")
    # rounded per record: each record is one vendor result at this grouping (source_rows is 1)
    return totals_by([Stored(record) for record in fakes.expected_costs(key, day)], *fields)


def expected_total(fakes: CostTruth, key: str, day: date = DAY) -> Decimal:
    total = Decimal(0)
    for amount in vendor_amounts(fakes, key, day):
        total = Context(prec=60).add(total, nanos(amount))
    return total


def loaded_total(org: Org, provider: str, day: date = DAY) -> Decimal:
    rows = table_rows(org, COST_TABLE[provider], day, "SUM(amount)")
    return rows[0][0] if rows and rows[0][0] is not None else Decimal(0)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cost_pipeline_loads_the_day_exactly_as_the_vendor_states_it(
    acme: Org, fakes: VendorFakes, provider: str
) -> None:
    run = acme.run(f"{provider}/cost/billing")
    assert run["status"] == "COMPLETE", run
    assert run["pipeline_id"] == f"acmecorp-{provider}-billing"
    assert [step["name"] for step in run["steps"]] == [
        "fetch_costs",
        "fetch_usage",
        "load",
        "load_usage",
        "focus_transform",
        "focus_load",
    ]
    # both reports' content hashes: the costs' and the token counts'
    costs_hash, usage_hash = run["source_watermark"].split(" + ")
    assert costs_hash.startswith("sha256:") and usage_hash.startswith("sha256:")
    expected = expected_costs(fakes, KEYS[provider], provider)
    loaded = loaded_costs(acme, provider)
    assert run["rows_processed"] == len(expected) == len(loaded) > 0
    assert loaded == expected  # every amount, to the last decimal (Decimal equality, never a float)
    assert loaded_total(acme, provider) == expected_total(fakes, KEYS[provider])
    currencies = {row[0] for row in table_rows(acme, COST_TABLE[provider], DAY, "currency")}
    assert currencies == {"USD"}
    provenance = table_rows(acme, COST_TABLE[provider], DAY, "MIN(source_rows), COUNT(DISTINCT source_content_hash)")
    assert provenance == [(1, 1)]
    if provider == "anthropic":  # the default workspace is NULL, kept, not dropped
        assert any(workspace is None for workspace, _ in loaded)
        assert (None,) in {key[:1] for key in expected}


def decimals(amount: Decimal) -> int:
    return max(0, -int(amount.normalize().as_tuple().exponent))


def test_amounts_are_the_vendor_s_rounded_to_nine_decimals_once(acme: Org, fakes: VendorFakes) -> None:
    acme.run("openai/cost/billing")
    acme.run("anthropic/cost/billing")
    written = vendor_amounts(fakes, DEFAULT_OPENAI_ADMIN_KEY)
    assert any(decimals(amount) > 9 for amount in written)  # the float's digits: rounding is exercised
    assert any(amount < Decimal("1e-6") for amount in written)  # the exponent forms (4.5e-07)
    column = table_rows(acme, COST_TABLE["openai"], DAY, "typeof(amount)")
    assert {row[0] for row in column} == {"DECIMAL(38,9)"}
    amounts = [row[0] for row in table_rows(acme, COST_TABLE["openai"], DAY, "amount")]
    assert sorted(amounts) == sorted(nanos(amount) for amount in written)
    assert any(Decimal(0) < amount < Decimal("1e-6") for amount in amounts)  # tiny amounts kept, not zeroed
    cents = [row[0] for row in table_rows(acme, COST_TABLE["anthropic"], DAY, "amount")]
    assert any(decimals(amount) > 4 for amount in cents)  # fractions of a cent
    assert sorted(cents) == sorted(nanos(amount) for amount in vendor_amounts(fakes, DEFAULT_ANTHROPIC_ADMIN_KEY))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_token_pipeline_counts_equal_the_vendor_s(acme: Org, fakes: VendorFakes, provider: str) -> None:
    run = acme.run(f"{provider}/usage/tokens")
    assert run["status"] == "COMPLETE", run
    expected = fakes.expected_token_totals(KEYS[provider], DAY)
    fields = ", ".join(f"SUM({name})" for name in expected)
    loaded = table_rows(acme, USAGE_TABLE[provider], DAY, fields)[0]
    assert dict(zip(expected, loaded, strict=True)) == expected
    assert all(value > 0 for name, value in expected.items() if name != "web_search_requests")


def test_unchanged_day_is_skipped_force_refresh_refetches_and_a_restated_day_is_replaced(
    acme: Org, fakes: VendorFakes
) -> None:
    first = acme.run("openai/cost/billing")
    acme.run("openai/cost/billing", day=OTHER_DAY)
    other_before = loaded_costs(acme, "openai", OTHER_DAY)
    fetches = fakes.log.count(OPENAI_COSTS_PATH)

    unchanged = acme.run("openai/cost/billing")
    assert unchanged["status"] == "COMPLETE"
    assert unchanged["skip_reason"] == f"source unchanged since run {first['pipeline_logging_id']}"
    assert unchanged["rows_processed"] == 0
    assert [step["status"] for step in unchanged["steps"]] == ["COMPLETE"] * 2 + ["SKIPPED"] * 4
    assert fakes.log.count(OPENAI_COSTS_PATH) == fetches + 1  # the gates had to look, and only looked

    forced = acme.run("openai/cost/billing", force_refresh=True)
    assert forced["status"] == "COMPLETE" and forced["skip_reason"] is None and forced["rows_processed"] > 0

    before = loaded_costs(acme, "openai")
    fakes.restate("openai", DAY)
    restated = acme.run("openai/cost/billing")
    assert restated["status"] == "COMPLETE" and restated["skip_reason"] is None
    assert restated["source_watermark"] != first["source_watermark"]
    after = loaded_costs(acme, "openai")
    assert after != before
    assert after == expected_costs(fakes, DEFAULT_OPENAI_ADMIN_KEY, "openai")  # no duplicates, new amounts
    assert loaded_costs(acme, "openai", OTHER_DAY) == other_before  # the other day untouched


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_day_split_over_many_pages_is_followed_to_the_end(acme: Org, fakes: VendorFakes, provider: str) -> None:
    fakes.max_results_per_page = 7
    run = acme.run(f"{provider}/cost/billing")
    assert run["status"] == "COMPLETE", run
    path = OPENAI_COSTS_PATH if provider == "openai" else ANTHROPIC_COSTS_PATH
    assert fakes.log.count(path, status=200) >= 3
    assert loaded_costs(acme, provider) == expected_costs(fakes, KEYS[provider], provider)


@pytest.mark.parametrize(
    ("knob", "path"),
    [
        ({"status": 429, "times": 2, "retry_after": 1}, OPENAI_COSTS_PATH),
        ({"status": 500, "times": 1}, OPENAI_COSTS_PATH),
        ({"status": 503, "times": 1}, ANTHROPIC_COSTS_PATH),
        ({"status": 529, "times": 1}, ANTHROPIC_COSTS_PATH),
        ({"status": None, "delay_s": 3.0, "times": 1}, OPENAI_COSTS_PATH),  # longer than the 2 s timeout
    ],
)
def test_transient_vendor_trouble_is_retried_within_the_step(
    acme: Org, fakes: VendorFakes, knob: dict[str, Any], path: str
) -> None:
    provider = "openai" if path == OPENAI_COSTS_PATH else "anthropic"
    fakes.faults.add(**knob, path=path)
    run = acme.run(f"{provider}/cost/billing")
    assert run["status"] == "COMPLETE", run
    assert run["attempt"] == 1  # recovered inside the step: no redelivery was needed
    if knob["status"] is not None:
        assert fakes.log.count(path, status=knob["status"]) == knob["times"]
    assert fakes.log.count(path, status=200) == 1
    assert loaded_costs(acme, provider) == expected_costs(fakes, KEYS[provider], provider)


def test_vendor_down_past_the_budget_gives_the_run_back_for_redelivery(acme: Org, fakes: VendorFakes) -> None:
    from shared.local_stack.server import PushDelivery, dead_letter_handler

    fakes.faults.add(status=500, times=100, path=OPENAI_USAGE_PATH)
    response = function_client("submit").post(
        "/api/v1/pipelines/run/acmecorp/openai/usage/tokens", json={"date": DAY.isoformat()}, headers=acme.headers
    )
    run_id = response.get_json()["pipeline_logging_id"]
    delivery = PushDelivery(
        application.current().backend.queue, application.current().settings.project, dead_letter_handler
    )  # type: ignore[arg-type]
    assert delivery.drain_once() == 1
    run = application.current().backend.store.get_run(run_id)
    assert run is not None and run.status == "PENDING" and run.attempt == 1  # given back, not failed
    fakes.faults.clear()
    deliver_all()
    run = application.current().backend.store.get_run(run_id)
    assert run is not None and run.status == "COMPLETE" and run.attempt == 2


@pytest.mark.parametrize(("provider", "label"), [("openai", "OpenAI"), ("anthropic", "Anthropic")])
def test_a_key_the_vendor_rejects_fails_the_run_once_without_retrying(
    settings: Settings, backend: Backend, fakes: VendorFakes, vendor_settings: None, provider: str, label: str
) -> None:
    org = Org(backend, "acmecorp")
    stranger = new_org(provider, seed=999).admin_key  # the right shape, but no organization's key
    assert org.integrate(provider, stranger).status_code == 200
    run = org.run(f"{provider}/cost/billing")
    assert run["status"] == "FAILED"
    assert run["error_message"] == f"Pipeline execution failed: {label} rejected the organization admin key"
    assert run["attempt"] == 1
    assert fakes.log.count(status=401) == 1  # asked once: a refusal is not retried
    assert backend.queue.depth() == 0  # type: ignore[attr-defined]
    assert stranger not in str(run)


def test_each_org_reads_with_its_own_key_only(
    settings: Settings, backend: Backend, fakes: VendorFakes, vendor_settings: None
) -> None:
    globex_vendor = fakes.add_org(new_org("openai", seed=4242))
    acme, globex = Org(backend, "acmecorp"), Org(backend, "globex")
    assert acme.integrate("openai", DEFAULT_OPENAI_ADMIN_KEY).status_code == 200
    assert globex.integrate("openai", globex_vendor.admin_key).status_code == 200
    assert acme.run("openai/cost/billing")["status"] == "COMPLETE"
    assert fakes.log.fingerprints() == {key_fingerprint(DEFAULT_OPENAI_ADMIN_KEY)}
    assert globex.run("openai/cost/billing")["status"] == "COMPLETE"
    # one read of each report per org, each with its own key
    assert fakes.log.count(key=DEFAULT_OPENAI_ADMIN_KEY) == 2
    assert fakes.log.count(key=globex_vendor.admin_key) == 2
    assert loaded_costs(acme, "openai") == expected_costs(fakes, DEFAULT_OPENAI_ADMIN_KEY, "openai")
    assert loaded_costs(globex, "openai") == expected_costs(fakes, globex_vendor.admin_key, "openai")
    assert loaded_costs(acme, "openai") != loaded_costs(globex, "openai")


def test_without_the_integration_the_run_is_refused_422(
    settings: Settings, backend: Backend, fakes: VendorFakes
) -> None:
    org = Org(backend, "acmecorp")
    for path in ("openai/cost/billing", "anthropic/usage/tokens", "anthropic/billing"):
        response = function_client("submit").post(
            f"/api/v1/pipelines/run/acmecorp/{path}", json={}, headers=org.headers
        )
        assert response.status_code == 422
        assert response.get_json()["error"]["message"] == "Required integration not configured"
    assert fakes.log.count() == 0


def test_backfill_within_what_the_vendor_serves_and_refused_beyond(acme: Org, fakes: VendorFakes) -> None:
    client = function_client("submit")
    too_old = client.post(
        "/api/v1/pipelines/backfill/acmecorp/anthropic/cost/billing",
        json={
            "start_date": (date.today() - timedelta(days=380)).isoformat(),
            "end_date": (date.today() - timedelta(days=370)).isoformat(),
        },
        headers=acme.headers,
    )
    assert too_old.status_code == 400
    assert too_old.get_json()["error"]["field"] == "start_date"
    assert "answers only the last 365 days" in too_old.get_json()["error"]["message"]
    accepted = client.post(
        "/api/v1/pipelines/backfill/acmecorp/anthropic/cost/billing",
        json={"start_date": OTHER_DAY.isoformat(), "end_date": DAY.isoformat()},
        headers=acme.headers,
    )
    assert accepted.status_code == 202, accepted.get_json()
    deliver_all()
    for day in (OTHER_DAY, DAY):
        assert loaded_costs(acme, "anthropic", day) == expected_costs(
            fakes, DEFAULT_ANTHROPIC_ADMIN_KEY, "anthropic", day
        )


def test_usage_paths_are_the_documented_ones(acme: Org, fakes: VendorFakes) -> None:
    acme.run("openai/usage/tokens")
    acme.run("anthropic/usage/tokens")
    assert fakes.log.counts_by_path() == {OPENAI_USAGE_PATH: 1, ANTHROPIC_USAGE_PATH: 1}


def test_over_real_http_and_the_cli_with_the_fakes_the_local_stack_starts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve`'s stack on loopback: it starts the vendor fakes itself (no base URL is set); the org
    is onboarded and integrated over HTTP, runs are triggered by the CLI and by the three-segment
    route, and the loaded totals equal the vendors' ground truth."""
    from click.testing import CliRunner

    from shared.local_stack import fakes as vendor_fakes
    from shared.local_stack.cli import main
    from shared.local_stack.client import ApiClient
    from shared.local_stack.demo import follow
    from shared.local_stack.server import LocalStack
    from tests.conftest import ADMIN_KEY

    for name in ("CLOUDACT_OPENAI_API_BASE", "CLOUDACT_ANTHROPIC_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with LocalStack(port=0) as stack:
        assert stack.vendors.base_url is not None
        created = ApiClient(stack.url, admin_key=ADMIN_KEY).request(
            "POST", "/api/v1/admin/orgs", {"org_slug": "acmecorp"}
        )
        client = ApiClient(stack.url, api_key=created["api_key"])
        for provider, key in KEYS.items():
            client.request("PUT", f"/api/v1/integrations/acmecorp/{provider}", {"credential": key, "verify": True})
        runner = CliRunner()
        for pipeline in ("openai/cost/billing", "anthropic/usage/tokens"):
            result = runner.invoke(
                main,
                ["run", "acmecorp", pipeline, "--date", DAY.isoformat(), "--url", stack.url, "--json"],
                env={"CLOUDACT_API_KEY": created["api_key"]},
            )
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["status"] == "COMPLETE", result.output
        accepted = client.run_pipeline("acmecorp", "anthropic/billing", {"date": DAY.isoformat()})
        assert accepted["pipeline_id"] == "acmecorp-anthropic-billing"
        assert follow(client, accepted["pipeline_logging_id"], lambda _: None)["status"] == "COMPLETE"
    org = Org.__new__(Org)
    org.dataset = created["dataset"]
    for provider in ("openai", "anthropic"):
        expected = expected_total(vendor_fakes, KEYS[provider])
        assert loaded_total(org, provider) == expected
    expected_tokens = vendor_fakes.expected_token_totals(DEFAULT_ANTHROPIC_ADMIN_KEY, DAY)
    loaded = table_rows(org, USAGE_TABLE["anthropic"], DAY, ", ".join(f"SUM({name})" for name in expected_tokens))
    assert dict(zip(expected_tokens, loaded[0], strict=True)) == expected_tokens


def test_a_scheduler_tick_fetches_the_lookback_window_for_orgs_with_the_integration(
    acme: Org, backend: Backend, fakes: VendorFakes
) -> None:
    from datetime import UTC, datetime

    from shared.domain.runs import PipelineRef
    from shared.services import scheduling

    Org(backend, "globex")  # no OpenAI integration: nothing queued for it
    fired_at = datetime.combine(date.today(), datetime.min.time(), UTC).replace(hour=4, minute=30)
    ref = PipelineRef("openai", "cost", "billing")
    report = scheduling.tick(application.current(), "openai-cost-billing", fired_at, [ref])
    assert report.created == 3 and report.orgs_without_integration == 1 and report.failures == []
    deliver_all()
    for back in (1, 2, 3):
        day = date.today() - timedelta(days=back)
        assert loaded_costs(acme, "openai", day) == expected_costs(fakes, DEFAULT_OPENAI_ADMIN_KEY, "openai", day)
    assert fakes.log.count(OPENAI_COSTS_PATH) == 3


# -- FOCUS 1.2 rows of the vendors' costs (docs/focus.md) -------------------------------------------
def test_vendor_costs_reach_the_focus_view_with_every_invariant(acme: Org, tmp_path: Any) -> None:
    from shared.domain import focus
    from shared.local_stack import focus_validation
    from shared.ports import JobLabels

    for provider in ("openai", "anthropic"):
        assert acme.run(f"{provider}/cost/billing")["status"] == "COMPLETE"
    labels = JobLabels(acme.slug, "test", "check")
    rows = warehouse().query(f"SELECT * FROM {acme.dataset}.focus_costs", {}, labels=labels).records()
    assert focus.violations(rows) == []
    names = {"openai": "OpenAI", "anthropic": "Anthropic"}
    billed = focus.billed_totals(rows)
    for provider, name in names.items():
        daily = table_rows(acme, COST_TABLE[provider], DAY, "currency, amount")
        assert daily
        mine = [row for row in rows if row["x_Provider"] == provider]
        assert len(mine) == len(daily)
        assert {(row["ProviderName"], row["PublisherName"], row["InvoiceIssuerName"]) for row in mine} == {(name,) * 3}
        assert {row["ServiceCategory"] for row in mine} == {"AI and Machine Learning"}
        # Σ BilledCost = Σ amount, exactly (both NUMERIC)
        period = datetime(DAY.year, DAY.month, 1, tzinfo=UTC)
        for currency in {currency for currency, _ in daily}:
            amounts = [amount for cur, amount in daily if cur == currency]
            assert billed[(name, acme.slug, period, currency)] == sum(amounts, Decimal(0))
    workspaces = table_rows(acme, COST_TABLE["anthropic"], DAY, "DISTINCT workspace_id")
    assert (None,) in workspaces  # the fakes' default workspace: kept, and named
    default = [row for row in rows if row["x_Provider"] == "anthropic" and row["SubAccountId"] == "default"]
    assert default and {row["SubAccountName"] for row in default} == {"Default Workspace"}

    export = function_client("status").get(
        f"/api/v1/focus/{acme.slug}",
        query_string={"start": DAY.isoformat(), "end": DAY.isoformat()},
        headers={**acme.headers, "Accept": "application/vnd.apache.parquet"},
    )
    assert export.status_code == 200, export.data[:500]
    path = tmp_path / "vendors.parquet"
    path.write_bytes(export.data)
    if not focus_validation.available():
        pytest.fail("focus-validator missing: run `make focus-validator`")
    verdict = focus_validation.validate(path)
    assert verdict.ok, verdict


# -- token quantities in the vendors' FOCUS rows (docs/focus.md) -----------------------------------
OPENAI_TOKEN_KINDS = {
    # the `kind` of an OpenAI line item -> its tokens in a usage record (input counts cached too)
    "input": lambda usage: usage.input_tokens - usage.input_cached_tokens,
    "cached input": lambda usage: usage.input_cached_tokens,
    "output": lambda usage: usage.output_tokens,
    "audio input": lambda usage: usage.input_audio_tokens,
    "audio output": lambda usage: usage.output_audio_tokens,
}


class Quantity:
    """What the fakes' ground truth says one cost line's FOCUS row must carry."""

    def __init__(self, amount: Decimal, metered: bool, count: int | None, unit: str) -> None:
        self.amount = amount
        self.metered = metered  # a line the usage report counts (tokens, web searches)
        # a counterpart that counted something (or nothing, at no cost); else the line is one unit
        self.count = count if metered and count is not None and (count > 0 or amount == 0) else None
        self.unit = unit


def line_key(record: OpenAICost | AnthropicCost) -> tuple[Any, ...]:
    """A cost line's key among its day's FOCUS rows (``focus_lines``)."""
    if isinstance(record, OpenAICost):
        return (record.project_id, record.line_item, record.api_key_id)
    return (record.workspace_id or "default", record.description)


def truth_quantities(fakes: VendorFakes, provider: str, day: date) -> dict[tuple[Any, ...], Quantity]:
    """Per cost line (the FOCUS row's sub account and line), its quantity computed here from the
    fakes' finest-grain usage records, independently of the pipeline's SQL."""
    key = KEYS[provider]
    usage: list[Any] = list(fakes.expected_usage(key, day))
    lines: dict[tuple[Any, ...], Quantity] = {}
    for record in fakes.expected_costs(key, day):
        amount = nanos(record.amount)
        if isinstance(record, OpenAICost):
            model, _, kind = (part.strip() for part in record.line_item.partition(","))
            counter = OPENAI_TOKEN_KINDS.get(kind)
            grain = (record.project_id, record.api_key_id, model)
            found = [u for u in usage if (u.project_id, u.api_key_id, u.model) == grain]
            count = sum(counter(u) for u in found) if counter and found else None
            lines[(record.project_id, record.line_item, record.api_key_id)] = Quantity(
                amount, counter is not None, count, "Tokens"
            )
            continue
        assert isinstance(record, AnthropicCost)
        mine = [u for u in usage if u.workspace_id == record.workspace_id]
        if record.cost_type == "web_search" and record.model is None:
            found, field = mine, "web_search_requests"
        else:
            grain = (record.model, record.service_tier, record.context_window)
            found = [u for u in mine if (u.model, u.service_tier, u.context_window) == grain]
            field = "web_search_requests" if record.cost_type == "web_search" else str(record.token_type)
        field = field.replace(".", "_")  # cache_creation.ephemeral_5m_input_tokens, flattened
        metered = record.token_type is not None or record.cost_type == "web_search"
        count = sum(getattr(u, field) for u in found) if metered and found else None
        unit = "Requests" if record.cost_type == "web_search" else "Tokens"
        lines[(record.workspace_id or "default", record.description)] = Quantity(amount, metered, count, unit)
    return lines


def focus_lines(org: Org, provider: str, day: date) -> dict[tuple[Any, ...], dict[str, Any]]:
    from shared.ports import JobLabels

    keys = ("SubAccountId", "x_CostType", "x_ApiKeyId")
    if provider == "anthropic":
        keys = ("SubAccountId", "ChargeDescription")
    rows = (
        warehouse()
        .query(
            f"SELECT * FROM {org.dataset}.focus_{provider} WHERE x_ChargeDate = @date",
            {"date": day},
            labels=JobLabels(org.slug, "test", "check"),
        )
        .records()
    )
    lines = {tuple(row[name] for name in keys): row for row in rows}
    assert len(lines) == len(rows)  # one FOCUS row per cost line: none repeated by the join
    return lines


def assert_quantities(org: Org, provider: str, day: date, truth: dict[tuple[Any, ...], Quantity]) -> None:
    lines = focus_lines(org, provider, day)
    assert set(lines) == set(truth)
    for key, expected in truth.items():
        row = lines[key]
        assert row["BilledCost"] == row["ListCost"] == expected.amount, key  # the money as the vendor states it
        if expected.count is None:  # no counterpart: one unit of its line, and named when it should have had one
            assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal(1), "Units"), key
            assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(1), "Units"), key
            assert row["ListUnitPrice"] == expected.amount, key
            assert (row["x_UnmatchedUsage"] is not None) == expected.metered, key
            continue
        assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(expected.count), expected.unit), key
        assert row["PricingQuantity"] == Decimal(expected.count).scaleb(-3), key  # exact: count / 1000
        assert row["PricingUnit"] == f"1000 {expected.unit}", key
        assert row["x_UnmatchedUsage"] is None, key
        # ListUnitPrice: ListCost / PricingQuantity rounded half away from zero to 18 decimals
        # (docs/focus.md), so its product with the quantity is ListCost within 1e-18 per unit
        quantity = row["PricingQuantity"]
        with localcontext(Context(prec=80)):
            exact = expected.amount / quantity if quantity else Decimal(0)
            price = exact.quantize(Decimal("1e-18"), ROUND_HALF_UP)
            assert row["ListUnitPrice"] == price, key
            assert abs(price * quantity - expected.amount) <= Decimal("0.5e-18") * quantity, key


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_focus_quantities_are_the_vendor_s_token_counts_and_the_money_is_unchanged(
    acme: Org, fakes: VendorFakes, provider: str
) -> None:
    # The usage report lags the costs: some token lines have no usage yet, others have theirs, so
    # both paths of the mapping are exercised.
    day = DAY
    assert fakes.lag_usage(provider, day, fakes.org(KEYS[provider]).org_id)  # type: ignore[arg-type]
    run = acme.run(f"{provider}/cost/billing", day=day)
    assert run["status"] == "COMPLETE", run
    truth = truth_quantities(fakes, provider, day)
    assert any(line.count is not None for line in truth.values())
    assert any(line.metered and line.count is None for line in truth.values())
    assert_quantities(acme, provider, day, truth)
    # row count and money: one FOCUS row per daily cost line, Σ BilledCost = Σ amount exactly
    lines = focus_lines(acme, provider, day)
    daily = table_rows(acme, COST_TABLE[provider], day, "amount")
    assert len(lines) == len(daily) == run["rows_processed"]
    assert sum((row["BilledCost"] for row in lines.values()), Decimal(0)) == sum((a for (a,) in daily), Decimal(0))
    # the lines that fell back are named in one run warning, counted
    unmatched = [line for line in truth.values() if line.metered and line.count is None]
    warnings = [text for text in run["warnings"] if "x_UnmatchedUsage" in text]
    assert len(warnings) == 1, run["warnings"]
    assert f"{len(unmatched)} row(s) with x_UnmatchedUsage" in warnings[0]
    # the token table is the token pipeline's: its run of the day rewrites it with the same rows
    columns = "* EXCLUDE (source_content_hash, fetched_at)"
    loaded = sorted(table_rows(acme, USAGE_TABLE[provider], day, columns), key=repr)
    assert acme.run(f"{provider}/usage/tokens", day=day)["status"] == "COMPLETE"
    assert sorted(table_rows(acme, USAGE_TABLE[provider], day, columns), key=repr) == loaded


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_lagging_usage_report_is_rerun_once_it_catches_up_and_then_every_line_has_its_usage(
    acme: Org, fakes: VendorFakes, provider: str
) -> None:
    org_id = fakes.org(KEYS[provider]).org_id
    fakes.lag_usage(provider, DAY, org_id)  # type: ignore[arg-type]
    lagging = acme.run(f"{provider}/cost/billing")
    assert any("x_UnmatchedUsage" in text for text in lagging["warnings"]), lagging["warnings"]
    fakes.lag_usage(provider, DAY, org_id, lagging=False)  # type: ignore[arg-type]  # the late records arrive
    caught_up = acme.run(f"{provider}/cost/billing")
    assert caught_up["status"] == "COMPLETE" and caught_up["skip_reason"] is None, caught_up
    assert caught_up["source_watermark"].split(" + ")[0] == lagging["source_watermark"].split(" + ")[0]
    assert not caught_up["warnings"], caught_up["warnings"]
    truth = truth_quantities(fakes, provider, DAY)
    assert all(line.count is not None for line in truth.values() if line.metered)
    assert_quantities(acme, provider, DAY, truth)


# Every price per token has at most 9 decimals (0.075 per 1M is 7.5e-8), so a line's exact cost,
# tokens x price, is a NUMERIC value. OpenAI writes the binary float product instead, within three
# roundings of 2^-53 of it (the price as a float, the product, its shortest decimal form) plus
# half of 1e-18 where the fake rounds it to 18 decimals; the pipeline rounds that to 9 decimals
# (half a nano) and ListUnitPrice is the quotient by the thousands of tokens rounded to 18 decimals.
FLOAT_ROUNDING = Decimal(1) / Decimal(2**53)


def price_error_bound(amount: Decimal, quantity: Decimal) -> Decimal:
    """How far an OpenAI row's ListUnitPrice may be from the list price per 1000 tokens."""
    amount_error = 3 * FLOAT_ROUNDING * amount * (1 + FLOAT_ROUNDING) + Decimal("0.5e-18") + Decimal("0.5e-9")
    return amount_error / quantity + Decimal("0.5e-18")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_without_a_fault_every_token_line_has_its_usage_and_its_list_price(
    acme: Org, fakes: VendorFakes, provider: str
) -> None:
    from shared.local_stack.fakes import list_price_per_1000

    for back in range(3):
        day = DAY - timedelta(days=back)
        run = acme.run(f"{provider}/cost/billing", day=day)
        assert run["status"] == "COMPLETE", run
        assert not [text for text in run["warnings"] if "x_UnmatchedUsage" in text], run["warnings"]
        truth = truth_quantities(fakes, provider, day)
        assert all(line.count is not None for line in truth.values() if line.metered)
        assert_quantities(acme, provider, day, truth)
        lines = focus_lines(acme, provider, day)
        priced = 0
        for record in fakes.expected_costs(KEYS[provider], day):
            row = lines[line_key(record)]
            assert row["x_UnmatchedUsage"] is None
            price = list_price_per_1000(record)
            if price is None:  # a line with an amount of its own: one unit of itself
                assert row["PricingUnit"] == "Units" and row["ListUnitPrice"] == row["ListCost"]
                continue
            priced += 1
            assert row["PricingUnit"] in ("1000 Tokens", "1000 Requests")
            if provider == "anthropic":  # exact cents: the price itself
                assert row["ListUnitPrice"] == price, (record, row["ListUnitPrice"], price)
                continue
            bound = price_error_bound(record.amount, row["PricingQuantity"])
            assert abs(row["ListUnitPrice"] - price) <= bound, (record, row["ListUnitPrice"], price, bound)
            # below USD 1e6 the float's error (3.4e-10 there) is under half a nano: rounding to 9
            # decimals gives the exact cost back, and the price is exact
            if record.amount < 10**6:
                assert row["ListUnitPrice"] == price, (record, row["ListUnitPrice"], price)
        assert priced >= 10


@pytest.mark.parametrize(("provider", "report"), [("openai", "usage"), ("anthropic", "usage"), ("openai", "costs")])
def test_a_day_whose_usage_alone_is_restated_is_rerun_not_skipped(
    acme: Org, fakes: VendorFakes, provider: str, report: str
) -> None:
    first = acme.run(f"{provider}/cost/billing")
    money_before = {key: row["BilledCost"] for key, row in focus_lines(acme, provider, DAY).items()}
    fakes.restate(provider, DAY, report=report)  # type: ignore[arg-type]
    again = acme.run(f"{provider}/cost/billing")
    assert again["status"] == "COMPLETE" and again["skip_reason"] is None, again
    before_costs, before_usage = first["source_watermark"].split(" + ")
    after_costs, after_usage = again["source_watermark"].split(" + ")
    assert (after_costs == before_costs) == (report == "usage")
    assert (after_usage == before_usage) == (report == "costs")
    assert_quantities(acme, provider, DAY, truth_quantities(fakes, provider, DAY))
    if report == "usage":  # new quantities, the same money
        assert {key: row["BilledCost"] for key, row in focus_lines(acme, provider, DAY).items()} == money_before
    unchanged = acme.run(f"{provider}/cost/billing")  # and once both are as last run, the day is skipped
    assert unchanged["skip_reason"] == f"source unchanged since run {again['pipeline_logging_id']}"
