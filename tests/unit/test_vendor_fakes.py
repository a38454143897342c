"""The local fakes of the OpenAI and Anthropic admin cost/usage APIs, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from shared.local_stack import fakes
from shared.local_stack.fakes import (
    ANTHROPIC_COSTS_PATH,
    ANTHROPIC_USAGE_PATH,
    DEFAULT_ANTHROPIC_ADMIN_KEY,
    DEFAULT_ANTHROPIC_ORG,
    DEFAULT_DATA_START,
    DEFAULT_OPENAI_ADMIN_KEY,
    DEFAULT_OPENAI_ORG,
    OPENAI_COSTS_PATH,
    OPENAI_USAGE_PATH,
    FakeServer,
    VendorFakes,
)

NOW = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)
DAY = date(2026, 1, 10)
OTHER_OPENAI = fakes.new_org("openai", seed=901)
OTHER_ANTHROPIC = fakes.new_org("anthropic", seed=902)


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(VendorFakes(now=lambda: NOW)) as running:
        yield running


@pytest.fixture
def fake(server: FakeServer) -> Iterator[VendorFakes]:
    server.fakes.reset()
    server.fakes.add_org(OTHER_OPENAI)
    server.fakes.add_org(OTHER_ANTHROPIC)
    yield server.fakes
    server.fakes.reset()


class Vendors:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def openai(
        self, path: str, params: Any = None, key: str | None = DEFAULT_OPENAI_ADMIN_KEY, timeout: float = 10
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return requests.get(self.base_url + path, params=params, headers=headers, timeout=timeout)

    def anthropic(
        self,
        path: str,
        params: Any = None,
        key: str | None = DEFAULT_ANTHROPIC_ADMIN_KEY,
        version: str | None = "2023-06-01",
        timeout: float = 10,
    ) -> requests.Response:
        headers = {}
        if key is not None:
            headers["x-api-key"] = key
        if version is not None:
            headers["anthropic-version"] = version
        return requests.get(self.base_url + path, params=params, headers=headers, timeout=timeout)

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, self.base_url + path, json=body, timeout=10)


@pytest.fixture
def api(server: FakeServer, fake: VendorFakes) -> Vendors:
    return Vendors(server.base_url)


def exact(response: requests.Response) -> Any:
    """The body parsed as a careful client must: numbers as Decimal, never float."""
    return json.loads(response.text, parse_float=Decimal)


def one_day_costs(api: Vendors, day: date = DAY, key: str | None = DEFAULT_OPENAI_ADMIN_KEY) -> requests.Response:
    params = {
        "start_time": unix(day),
        "end_time": unix(day + timedelta(days=1)),
        "group_by[]": ["project_id", "line_item", "api_key_id"],
    }
    return api.openai(OPENAI_COSTS_PATH, params, key)


# --- OpenAI ----------------------------------------------------------------------------------------


def test_openai_costs_page_has_the_documented_shape_and_the_generator_s_exact_amounts(api: Vendors) -> None:
    response = one_day_costs(api)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = exact(response)
    assert body["object"] == "page" and body["has_more"] is False and body["next_page"] is None
    [bucket] = body["data"]
    assert bucket["object"] == "bucket"
    assert (bucket["start_time"], bucket["end_time"]) == (unix(DAY), unix(DAY + timedelta(days=1)))
    served = {}
    for result in bucket["results"]:
        assert result["object"] == "organization.costs.result"
        assert result["amount"]["currency"] == "usd"
        assert isinstance(result["amount"]["value"], Decimal)
        served[(result["project_id"], result["line_item"], result["api_key_id"])] = result["amount"]["value"]
    records = fakes.expected_costs(DEFAULT_OPENAI_ORG, DAY)
    expected = {(r.project_id, r.line_item, r.api_key_id): r.amount for r in records}
    assert served == expected
    assert len(expected) >= 20
    assert {p for p, _, _ in expected} == set(DEFAULT_OPENAI_ORG.projects)
    assert any(key is None for _, _, key in expected), "some line items (training, storage) have no API key"


def amount_texts(response: requests.Response) -> list[str]:
    return re.findall(r'"value":([^,}]+)', response.text)


def significant(text: str) -> int:
    mantissa = text.split("e")[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def decimals(value: Decimal) -> int:
    return max(0, -int(value.as_tuple().exponent))


def test_openai_amount_text_is_what_floats_print_with_17_digits_and_exponent_forms(api: Vendors) -> None:
    for offset in range(20):  # every day shows every form
        values = amount_texts(one_day_costs(api, DAY - timedelta(days=offset)))
        assert any(re.fullmatch(r"\d\.\d{16}", v) and significant(v) == 17 for v in values), values
        assert any(re.fullmatch(r"\d(\.\d+)?e-0\d", v) for v in values), values
        assert any(re.fullmatch(r"\d{1,2}\.\d{9}", v) for v in values), values
        assert any(decimals(Decimal(v)) > 9 for v in values), "beyond NUMERIC, as the vendor's floats are"
        assert all(decimals(Decimal(v)) <= 18 for v in values)
    values = amount_texts(one_day_costs(api))
    amounts = [Decimal(v) for v in values]
    assert sum(amounts) == fakes.expected_cost_total(DEFAULT_OPENAI_ORG, DAY)
    # What a float parser makes of these is not what the vendor said.
    assert [Decimal(repr(float(v))) for v in values] != amounts
    assert fakes.json_number(Decimal("45").scaleb(-8)) == "4.5e-07"
    assert fakes.json_number(Decimal("40")) == "40.0"


def test_an_org_may_keep_every_amount_within_nine_decimals(api: Vendors, fake: VendorFakes) -> None:
    org = fake.add_org(fakes.new_org("openai", seed=77, max_decimals=9))
    values = amount_texts(one_day_costs(api, key=org.admin_key))
    assert any(re.fullmatch(r"\d{8}\.\d{9}", v) and significant(v) == 17 for v in values), values
    assert all(decimals(Decimal(v)) <= 9 for v in values), values
    served = {Decimal(v) for v in values}
    assert served == {r.amount for r in fakes.expected_costs(org, DAY)}


def test_openai_costs_grouping_sums_exactly_and_nulls_what_is_not_grouped(api: Vendors) -> None:
    base = {"start_time": unix(DAY), "end_time": unix(DAY + timedelta(days=1))}
    [ungrouped] = exact(api.openai(OPENAI_COSTS_PATH, base))["data"][0]["results"]
    assert ungrouped["amount"]["value"] == fakes.expected_cost_total(DEFAULT_OPENAI_ORG, DAY)
    assert (ungrouped["project_id"], ungrouped["line_item"]) == (None, None)

    by_project = exact(api.openai(OPENAI_COSTS_PATH, {**base, "group_by": "project_id"}))["data"][0]["results"]
    expected = fakes.totals_by(fakes.expected_costs(DEFAULT_OPENAI_ORG, DAY), "project_id")
    assert {(r["project_id"],): r["amount"]["value"] for r in by_project} == expected
    assert all(r["line_item"] is None for r in by_project)


def test_openai_array_parameters_are_read_in_every_encoding_clients_use(api: Vendors) -> None:
    base = f"start_time={unix(DAY)}&end_time={unix(DAY + timedelta(days=1))}"
    bodies = {
        encoding: api.openai(f"{OPENAI_COSTS_PATH}?{base}&{encoding}").json()["data"]
        for encoding in (
            "group_by[]=project_id&group_by[]=line_item",  # the official SDKs
            "group_by=project_id&group_by=line_item",  # requests with a list, curl examples
            "group_by[0]=project_id&group_by[1]=line_item",
        )
    }
    first, *others = bodies.values()
    assert all(other == first for other in others)
    assert len(first[0]["results"]) > 1


def test_openai_completions_usage_counts_tokens_per_group_and_per_bucket_width(api: Vendors) -> None:
    params = {"start_time": unix(DAY), "end_time": unix(DAY + timedelta(days=1)), "group_by": ["model", "project_id"]}
    body = api.openai(OPENAI_USAGE_PATH, params).json()
    [bucket] = body["data"]
    results = bucket["results"]
    for result in results:
        assert result["object"] == "organization.usage.completions.result"
        assert result["user_id"] is None and result["api_key_id"] is None and result["batch"] is None
        assert result["model"] in fakes.data.OPENAI_MODELS
    totals = fakes.expected_token_totals(DEFAULT_OPENAI_ORG, DAY)
    for name, total in totals.items():
        assert sum(r[name] for r in results) == total
    usage = fakes.expected_usage(DEFAULT_OPENAI_ORG, DAY)
    expected = fakes.totals_by(usage, "model", "project_id", value="input_tokens")
    assert {(r["model"], r["project_id"]): r["input_tokens"] for r in results} == expected

    hourly = api.openai(OPENAI_USAGE_PATH, {**params, "bucket_width": "1h", "limit": 24}).json()
    assert len(hourly["data"]) == 24 and hourly["has_more"] is False
    assert sum(r["output_tokens"] for b in hourly["data"] for r in b["results"]) == totals["output_tokens"]
    assert any(b["results"] == [] for b in hourly["data"]), "an hour without usage is an empty bucket"


def test_openai_usage_filters(api: Vendors) -> None:
    project = DEFAULT_OPENAI_ORG.projects[0]
    params = {
        "start_time": unix(DAY),
        "end_time": unix(DAY + timedelta(days=1)),
        "project_ids[]": project,
        "batch": "false",
        "group_by[]": ["project_id", "batch"],
    }
    results = api.openai(OPENAI_USAGE_PATH, params).json()["data"][0]["results"]
    assert {(r["project_id"], r["batch"]) for r in results} == {(project, False)}
    kept = [r for r in fakes.expected_usage(DEFAULT_OPENAI_ORG, DAY) if r.project_id == project and not r.batch]
    assert results[0]["num_model_requests"] == sum(r.num_model_requests for r in kept)


# --- Anthropic -------------------------------------------------------------------------------------


def test_anthropic_cost_report_has_the_documented_shape_with_cents_strings(api: Vendors) -> None:
    params = {
        "starting_at": rfc3339(DAY),
        "ending_at": rfc3339(DAY + timedelta(days=1)),
        "group_by[]": ["workspace_id", "description"],
    }
    response = api.anthropic(ANTHROPIC_COSTS_PATH, params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "has_more", "next_page"} and body["has_more"] is False
    [bucket] = body["data"]
    assert (bucket["starting_at"], bucket["ending_at"]) == (rfc3339(DAY), rfc3339(DAY + timedelta(days=1)))
    served = {}
    for result in bucket["results"]:
        assert result["currency"] == "USD"
        assert isinstance(result["amount"], str)
        assert result["cost_type"] in ("tokens", "web_search", "code_execution")
        if result["cost_type"] != "tokens":
            assert result["model"] is None and result["token_type"] is None
        served[(result["workspace_id"], result["description"])] = Decimal(result["amount"]) / 100
    expected = {(r.workspace_id, r.description): r.amount for r in fakes.expected_costs(DEFAULT_ANTHROPIC_ORG, DAY)}
    assert served == expected
    assert None in {workspace for workspace, _ in served}, "the default workspace comes back as null"
    assert any(re.fullmatch(r"\d+\.\d{3,}", r["amount"]) for r in bucket["results"]), "fractional cents"
    total = sum((Decimal(r["amount"]) for r in bucket["results"]), Decimal(0)) / 100
    assert total == fakes.expected_cost_total(DEFAULT_ANTHROPIC_ORG, DAY)


def test_anthropic_cost_report_ungrouped_fields_are_null(api: Vendors) -> None:
    params = {"starting_at": rfc3339(DAY), "ending_at": rfc3339(DAY + timedelta(days=1)), "group_by[]": "workspace_id"}
    results = api.anthropic(ANTHROPIC_COSTS_PATH, params).json()["data"][0]["results"]
    assert {r["workspace_id"] for r in results} == set(DEFAULT_ANTHROPIC_ORG.workspaces)
    for result in results:
        assert result["description"] is None and result["cost_type"] is None and result["model"] is None


def test_anthropic_messages_usage_report_nests_cache_and_tool_counts(api: Vendors) -> None:
    params = {
        "starting_at": rfc3339(DAY),
        "ending_at": rfc3339(DAY + timedelta(days=1)),
        "group_by[]": ["api_key_id", "workspace_id", "model"],
    }
    body = api.anthropic(ANTHROPIC_USAGE_PATH, params).json()
    results = body["data"][0]["results"]
    for result in results:
        assert set(result["cache_creation"]) == {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"}
        assert set(result["server_tool_use"]) == {"web_search_requests"}
        assert result["service_tier"] is None and result["context_window"] is None
    assert any(r["api_key_id"] is None and r["workspace_id"] is None for r in results), "Console usage"
    totals = fakes.expected_token_totals(DEFAULT_ANTHROPIC_ORG, DAY)
    assert sum(r["uncached_input_tokens"] for r in results) == totals["uncached_input_tokens"]
    assert (
        sum(r["cache_creation"]["ephemeral_1h_input_tokens"] for r in results)
        == totals["cache_creation_ephemeral_1h_input_tokens"]
    )
    assert sum(r["server_tool_use"]["web_search_requests"] for r in results) == totals["web_search_requests"]
    minutes = api.anthropic(ANTHROPIC_USAGE_PATH, {**params, "bucket_width": "1m", "limit": 1440}).json()
    assert len(minutes["data"]) == 1440
    assert sum(r["output_tokens"] for b in minutes["data"] for r in b["results"]) == totals["output_tokens"]


# --- Auth and errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status"),
    [
        (None, 401),
        ("sk-admin-not-a-known-key", 401),
        (DEFAULT_ANTHROPIC_ADMIN_KEY, 401),  # another vendor's key
        ("sk-proj-an-ordinary-project-key", 403),
    ],
)
def test_openai_refuses_a_missing_wrong_or_non_admin_key_in_its_error_shape(
    api: Vendors, fake: VendorFakes, key: str | None, status: int
) -> None:
    response = api.openai(OPENAI_COSTS_PATH, {"start_time": unix(DAY)}, key)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    if key:
        assert key not in response.text and key[-8:] not in response.text
    assert fake.log.count(OPENAI_COSTS_PATH, status=status) == 1


@pytest.mark.parametrize(
    ("key", "version", "status", "kind"),
    [
        (None, "2023-06-01", 401, "authentication_error"),
        ("sk-ant-admin01-unknown", "2023-06-01", 401, "authentication_error"),
        ("sk-ant-api03-an-ordinary-key", "2023-06-01", 403, "permission_error"),
        (DEFAULT_ANTHROPIC_ADMIN_KEY, None, 400, "invalid_request_error"),
        (DEFAULT_ANTHROPIC_ADMIN_KEY, "2020-01-01", 400, "invalid_request_error"),
    ],
)
def test_anthropic_refuses_bad_keys_and_versions_in_its_error_shape(
    api: Vendors, key: str | None, version: str | None, status: int, kind: str
) -> None:
    response = api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)}, key=key, version=version)
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind and body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    if key:
        assert key not in response.text


OPENAI_BAD_PARAMS = [
    ({}, "start_time"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"start_time": unix(DAY), "end_time": unix(DAY)}, "end_time"),
    ({"start_time": unix(DAY), "bucket_width": "1h"}, "bucket_width"),  # costs: 1d only
    ({"start_time": unix(DAY), "limit": 0}, "limit"),
    ({"start_time": unix(DAY), "limit": 181}, "limit"),
    ({"start_time": unix(DAY), "limit": "seven"}, "limit"),
    ({"start_time": unix(DAY), "group_by": "model"}, "group_by"),
    ({"start_time": unix(DAY), "group_by": ["project_id", "project_id"]}, "group_by"),
    ({"start_time": unix(DAY), "page": "page_not-a-cursor"}, "page"),
    ({"start_time": unix(DAY), "starting_at": rfc3339(DAY)}, "starting_at"),
    ({"start_time": unix(DEFAULT_DATA_START - timedelta(days=1))}, "start_time"),
]


@pytest.mark.parametrize(("params", "param"), OPENAI_BAD_PARAMS)
def test_openai_refuses_bad_parameters_naming_them(api: Vendors, params: dict[str, Any], param: str) -> None:
    response = api.openai(OPENAI_COSTS_PATH, params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (ANTHROPIC_COSTS_PATH, {}),
        (ANTHROPIC_COSTS_PATH, {"starting_at": "2026-01-10"}),  # a date is not an RFC 3339 timestamp
        (ANTHROPIC_COSTS_PATH, {"starting_at": "2026-01-10T00:00:00"}),  # no time zone
        (ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY), "limit": 32}),
        (ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY), "bucket_width": "1h"}),
        (ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY), "group_by[]": "model"}),
        (ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY), "ending_at": rfc3339(DAY - timedelta(days=1))}),
        (ANTHROPIC_USAGE_PATH, {"starting_at": rfc3339(DAY), "bucket_width": "1h", "limit": 169}),
        (ANTHROPIC_USAGE_PATH, {"starting_at": rfc3339(DEFAULT_DATA_START - timedelta(days=3))}),
    ],
)
def test_anthropic_refuses_bad_parameters(api: Vendors, path: str, params: dict[str, Any]) -> None:
    response = api.anthropic(path, params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_data_horizon_is_the_org_s_first_day(api: Vendors) -> None:
    first = api.openai(OPENAI_COSTS_PATH, {"start_time": unix(DEFAULT_DATA_START), "limit": 1})
    assert first.status_code == 200 and first.json()["data"][0]["results"]
    before = api.openai(OPENAI_COSTS_PATH, {"start_time": unix(DEFAULT_DATA_START) - 1})
    assert before.status_code == 400 and DEFAULT_DATA_START.isoformat() in before.json()["error"]["message"]


def test_unknown_path_and_method(api: Vendors, fake: VendorFakes) -> None:
    assert api.openai("/v1/organization/usage/images", {"start_time": unix(DAY)}).status_code == 404
    missing = api.anthropic("/v1/organizations/usage_report/claude_code", {"starting_at": rfc3339(DAY)})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert fake.log.count("/v1/organization/usage/images", status=404) == 1
    response = requests.post(
        api.base_url + OPENAI_COSTS_PATH, headers={"Authorization": f"Bearer {DEFAULT_OPENAI_ADMIN_KEY}"}, timeout=10
    )
    assert response.status_code == 405 and "error" in response.json()


# --- Pagination ------------------------------------------------------------------------------------


def follow(fetch: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    cursor = None
    while True:
        response = fetch({**params, **({"page": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = exact(response)
        pages.append(page)
        if not page["has_more"]:
            assert page["next_page"] is None
            return pages
        cursor = page["next_page"]
        assert isinstance(cursor, str) and cursor


def test_openai_pages_follow_to_the_end_without_gaps_or_repeats(api: Vendors) -> None:
    start = date(2026, 1, 1)
    params = {"start_time": unix(start), "end_time": unix(date(2026, 1, 11)), "limit": 3, "group_by": "project_id"}
    pages = follow(lambda p: api.openai(OPENAI_COSTS_PATH, p), params)
    assert [len(p["data"]) for p in pages] == [3, 3, 3, 1]
    starts = [b["start_time"] for p in pages for b in p["data"]]
    assert starts == [unix(start + timedelta(days=i)) for i in range(10)]
    total = sum((r["amount"]["value"] for p in pages for b in p["data"] for r in b["results"]), Decimal(0))
    assert total == sum(fakes.expected_cost_total(DEFAULT_OPENAI_ORG, start + timedelta(days=i)) for i in range(10))


def test_anthropic_pages_follow_to_now_when_no_end_is_given(api: Vendors) -> None:
    start = date(2026, 1, 5)
    pages = follow(lambda p: api.anthropic(ANTHROPIC_COSTS_PATH, p), {"starting_at": rfc3339(start), "limit": 5})
    days = [b["starting_at"] for p in pages for b in p["data"]]
    # Up to and including the day that has begun (NOW is 2026-01-20 09:30 UTC).
    assert days == [rfc3339(start + timedelta(days=i)) for i in range(16)]
    assert len(pages) == 4


def test_a_cursor_is_only_good_for_its_own_query(api: Vendors) -> None:
    params = {"start_time": unix(date(2026, 1, 1)), "limit": 2}
    cursor = api.openai(OPENAI_COSTS_PATH, params).json()["next_page"]
    same_query = api.openai(OPENAI_COSTS_PATH, {**params, "page": cursor})
    assert same_query.status_code == 200
    other_query = api.openai(OPENAI_COSTS_PATH, {**params, "limit": 3, "page": cursor})
    assert other_query.status_code == 400 and other_query.json()["error"]["param"] == "page"


# --- Faults ----------------------------------------------------------------------------------------


def test_rate_limit_fault_answers_429_with_retry_after_then_recovers(api: Vendors, fake: VendorFakes) -> None:
    fake.faults.rate_limit(times=2, retry_after=7, vendor="openai")
    statuses = []
    for _ in range(3):
        response = one_day_costs(api)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "7"
            assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert statuses == [429, 429, 200]
    # The other vendor was never affected.
    assert api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)}).status_code == 200


def test_server_error_fault_in_each_vendor_s_shape(api: Vendors, fake: VendorFakes) -> None:
    fake.faults.server_error(times=1, vendor="anthropic", path=ANTHROPIC_USAGE_PATH)
    fake.faults.server_error(times=1, status=529, vendor="anthropic")
    first = api.anthropic(ANTHROPIC_USAGE_PATH, {"starting_at": rfc3339(DAY)})
    assert first.status_code == 500 and first.json()["error"]["type"] == "api_error"
    second = api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)})
    assert second.status_code == 529 and second.json()["error"]["type"] == "overloaded_error"
    assert api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)}).status_code == 200
    fake.faults.server_error(times=1, vendor="openai")
    assert one_day_costs(api).json()["error"]["type"] == "server_error"


def test_a_key_revoked_mid_run_is_a_401_fault(api: Vendors, fake: VendorFakes) -> None:
    fake.faults.add(status=401, vendor="anthropic")
    revoked = api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)})
    assert revoked.status_code == 401 and revoked.json()["error"]["type"] == "authentication_error"
    assert "Retry-After" not in revoked.headers
    assert api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)}).status_code == 200


def test_slow_fault_delays_the_answer_and_a_client_timeout_fires(api: Vendors, fake: VendorFakes) -> None:
    fake.faults.slow(0.6, times=1)
    began = time.monotonic()
    assert one_day_costs(api).status_code == 200
    assert time.monotonic() - began >= 0.6
    fake.faults.slow(5, times=1)
    with pytest.raises(requests.Timeout):
        api.openai(OPENAI_COSTS_PATH, {"start_time": unix(DAY)}, timeout=0.3)
    began = time.monotonic()
    assert one_day_costs(api).status_code == 200
    assert time.monotonic() - began < 0.5


def test_faults_can_target_one_org(api: Vendors, fake: VendorFakes) -> None:
    fake.faults.rate_limit(times=1, org_id=OTHER_OPENAI.org_id)
    assert one_day_costs(api).status_code == 200
    assert one_day_costs(api, key=None).status_code == 401  # faults come after authentication
    other = api.openai(OPENAI_COSTS_PATH, {"start_time": unix(DAY)}, key=OTHER_OPENAI.admin_key)
    assert other.status_code == 429
    assert fake.faults.pending() == []


def test_fault_knobs_over_http(api: Vendors) -> None:
    created = api.control("POST", "/_fake/faults", {"status": 429, "times": 1, "retry_after": 3, "vendor": "openai"})
    assert created.status_code == 201 and created.json()["fault"]["retry_after"] == 3
    assert api.control("POST", "/_fake/faults", {"delay_s": 0.3, "path": OPENAI_USAGE_PATH}).status_code == 201
    assert len(api.control("GET", "/_fake/faults").json()["faults"]) == 2
    limited = one_day_costs(api)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    began = time.monotonic()
    assert api.openai(OPENAI_USAGE_PATH, {"start_time": unix(DAY)}).status_code == 200
    assert time.monotonic() - began >= 0.3
    for bad, field in (
        ({"status": "429"}, "status"),
        ({"times": 0, "status": 500}, None),
        ({"bogus": 1}, "bogus"),
        ({}, None),
        ({"status": 200}, None),
    ):
        refused = api.control("POST", "/_fake/faults", bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["message"]
        if field:
            assert refused.json()["error"]["field"] == field
    api.control("POST", "/_fake/faults", {"status": 500, "times": 5})
    assert api.control("DELETE", "/_fake/faults").json() == {"faults": []}
    assert one_day_costs(api).status_code == 200


# --- Restated days ---------------------------------------------------------------------------------


def test_a_restated_day_changes_on_later_reads_and_other_days_do_not(api: Vendors, fake: VendorFakes) -> None:
    neighbour = DAY - timedelta(days=1)
    before, neighbour_before = one_day_costs(api).text, one_day_costs(api, neighbour).text
    assert one_day_costs(api).text == before, "reads are deterministic until a restatement"
    assert fake.restate("openai", DAY, DEFAULT_OPENAI_ORG.org_id) == {DEFAULT_OPENAI_ORG.org_id: 1}
    after = exact(one_day_costs(api))
    assert one_day_costs(api, neighbour).text == neighbour_before
    total_after = sum((r["amount"]["value"] for r in after["data"][0]["results"]), Decimal(0))
    assert total_after != sum((r.amount for r in fakes.expected_costs(DEFAULT_OPENAI_ORG, DAY)), Decimal(0))
    assert total_after == fakes.expected_cost_total(DEFAULT_OPENAI_ORG, DAY, revision=1)
    assert total_after == fake.expected_cost_total(DEFAULT_OPENAI_ADMIN_KEY, DAY)
    assert fake.revision(DEFAULT_OPENAI_ORG, DAY) == 1
    # Other orgs keep their numbers.
    assert fake.revision(OTHER_OPENAI, DAY) == 0


def test_restate_over_http(api: Vendors, fake: VendorFakes) -> None:
    params = {"starting_at": rfc3339(DAY), "ending_at": rfc3339(DAY + timedelta(days=1))}
    before = api.anthropic(ANTHROPIC_USAGE_PATH, params).json()
    answer = api.control("POST", "/_fake/restate", {"vendor": "anthropic", "day": DAY.isoformat()})
    assert answer.status_code == 200
    assert answer.json()["revisions"] == {DEFAULT_ANTHROPIC_ORG.org_id: 1, OTHER_ANTHROPIC.org_id: 1}
    after = api.anthropic(ANTHROPIC_USAGE_PATH, params).json()
    assert after != before
    [result] = after["data"][0]["results"]
    assert result["output_tokens"] == fake.expected_token_totals(DEFAULT_ANTHROPIC_ORG, DAY)["output_tokens"]
    assert api.control("POST", "/_fake/restate", {"vendor": "anthropic", "day": "10/01/2026"}).status_code == 400
    assert api.control("POST", "/_fake/restate", {"vendor": "aws", "day": DAY.isoformat()}).status_code == 400
    unknown = api.control("POST", "/_fake/restate", {"vendor": "openai", "day": DAY.isoformat(), "org_id": "org-x"})
    assert unknown.status_code == 400


def test_one_report_alone_can_be_restated(api: Vendors, fake: VendorFakes) -> None:
    params = {"starting_at": rfc3339(DAY), "ending_at": rfc3339(DAY + timedelta(days=1))}
    costs, usage = api.anthropic(ANTHROPIC_COSTS_PATH, params).text, api.anthropic(ANTHROPIC_USAGE_PATH, params).text
    body = {"vendor": "anthropic", "day": DAY.isoformat(), "org_id": DEFAULT_ANTHROPIC_ORG.org_id, "report": "usage"}
    assert api.control("POST", "/_fake/restate", body).json()["revisions"] == {DEFAULT_ANTHROPIC_ORG.org_id: 1}
    assert api.anthropic(ANTHROPIC_COSTS_PATH, params).text == costs  # the costs as they were
    assert api.anthropic(ANTHROPIC_USAGE_PATH, params).text != usage
    assert (fake.revision(DEFAULT_ANTHROPIC_ORG, DAY), fake.revision(DEFAULT_ANTHROPIC_ORG, DAY, "usage")) == (0, 1)
    assert fake.expected_token_totals(DEFAULT_ANTHROPIC_ORG, DAY) == fakes.expected_token_totals(
        DEFAULT_ANTHROPIC_ORG, DAY, revision=1
    )
    assert fake.expected_cost_total(DEFAULT_ANTHROPIC_ORG, DAY) == fakes.expected_cost_total(DEFAULT_ANTHROPIC_ORG, DAY)
    assert api.control("POST", "/_fake/restate", {**body, "report": "invoices"}).status_code == 400


# --- Organizations, isolation and the request log --------------------------------------------------


def test_two_orgs_have_different_data_and_each_key_opens_only_its_own(api: Vendors, fake: VendorFakes) -> None:
    mine = exact(one_day_costs(api))
    theirs = exact(one_day_costs(api, key=OTHER_OPENAI.admin_key))
    mine_projects = {r["project_id"] for r in mine["data"][0]["results"]}
    their_projects = {r["project_id"] for r in theirs["data"][0]["results"]}
    assert mine_projects == set(DEFAULT_OPENAI_ORG.projects)
    assert their_projects == set(OTHER_OPENAI.projects)
    assert not mine_projects & their_projects
    assert fake.log.count(OPENAI_COSTS_PATH, key=DEFAULT_OPENAI_ADMIN_KEY) == 1
    assert fake.log.count(OPENAI_COSTS_PATH, org_id=OTHER_OPENAI.org_id) == 1
    both = {DEFAULT_OPENAI_ORG.key_fingerprint, OTHER_OPENAI.key_fingerprint}
    assert fake.log.fingerprints(OPENAI_COSTS_PATH) == both


def test_request_log_over_http_counts_paths_and_never_holds_a_key(api: Vendors, fake: VendorFakes) -> None:
    one_day_costs(api)
    one_day_costs(api, DAY - timedelta(days=1))
    api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)})
    api.anthropic(ANTHROPIC_COSTS_PATH, {"starting_at": rfc3339(DAY)}, key="sk-ant-admin01-wrong")
    answer = api.control("GET", "/_fake/requests")
    log = answer.json()
    assert log["counts"] == {OPENAI_COSTS_PATH: 2, ANTHROPIC_COSTS_PATH: 2}
    assert [r["status"] for r in log["requests"]] == [200, 200, 200, 401]
    assert log["requests"][3]["org_id"] is None
    assert log["requests"][3]["key_fingerprint"] == fakes.key_fingerprint("sk-ant-admin01-wrong")
    for secret in (DEFAULT_OPENAI_ADMIN_KEY, DEFAULT_ANTHROPIC_ADMIN_KEY, "sk-ant-admin01-wrong"):
        assert secret not in answer.text
    assert fake.log.counts_by_path() == log["counts"]


def test_orgs_registered_over_http_serve_the_same_data_as_the_local_ground_truth(api: Vendors) -> None:
    org = fakes.new_org("openai", seed=4242, data_start=date(2025, 12, 1), owners=5)
    created = api.control(
        "POST",
        "/_fake/orgs",
        {"vendor": "openai", "seed": 4242, "data_start": "2025-12-01", "owners": 5, "admin_key": org.admin_key},
    )
    assert created.status_code == 201
    assert created.json()["org"]["org_id"] == org.org_id and org.admin_key not in created.text
    response = one_day_costs(api, key=org.admin_key)
    values = {
        (r["project_id"], r["line_item"], r["api_key_id"]): r["amount"]["value"]
        for r in exact(response)["data"][0]["results"]
    }
    assert values == {(r.project_id, r.line_item, r.api_key_id): r.amount for r in fakes.expected_costs(org, DAY)}
    assert len(org.projects) == 5
    early = api.openai(OPENAI_COSTS_PATH, {"start_time": unix(date(2025, 11, 30))}, key=org.admin_key)
    assert early.status_code == 400
    assert api.control("POST", "/_fake/orgs", {"vendor": "openai", "seed": "x"}).status_code == 400
    assert api.control("POST", "/_fake/orgs", {"vendor": "openai", "seed": 1, "admin_key": "sk-x"}).status_code == 400
    listed = api.control("GET", "/_fake/orgs").json()["orgs"]
    assert org.org_id in {o["org_id"] for o in listed}
    reset = api.control("POST", "/_fake/reset")
    assert {o["org_id"] for o in reset.json()["orgs"]} == {DEFAULT_OPENAI_ORG.org_id, DEFAULT_ANTHROPIC_ORG.org_id}
    assert one_day_costs(api, key=org.admin_key).status_code == 401


def test_data_is_the_same_in_every_process_and_run() -> None:
    """Nothing random: two independent fakes answer byte for byte the same."""
    first, second = VendorFakes(now=lambda: NOW), VendorFakes(now=lambda: NOW)
    query = f"{OPENAI_COSTS_PATH}?start_time={unix(DAY)}&group_by[]=line_item&limit=3"
    headers = {"Authorization": f"Bearer {DEFAULT_OPENAI_ADMIN_KEY}"}
    from werkzeug.test import Client

    bodies = [Client(app).get(query, headers=headers).get_data(as_text=True) for app in (first, second)]
    assert bodies[0] == bodies[1]
    assert fakes.openai_costs(DEFAULT_OPENAI_ORG, DAY) != fakes.openai_costs(OTHER_OPENAI, DAY)
    assert DEFAULT_OPENAI_ADMIN_KEY.startswith("sk-admin-")
    assert DEFAULT_ANTHROPIC_ADMIN_KEY.startswith("sk-ant-admin01-")


def test_stopping_the_server_ends_a_slow_answer_in_flight() -> None:
    server = FakeServer(VendorFakes(now=lambda: NOW)).start()
    server.fakes.faults.slow(60)
    url = server.base_url + OPENAI_COSTS_PATH
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(
                requests.get(
                    url,
                    params={"start_time": unix(DAY)},
                    headers={"Authorization": f"Bearer {DEFAULT_OPENAI_ADMIN_KEY}"},
                    timeout=30,
                ).status_code
            )
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    began = time.monotonic()
    server.stop()
    caller.join(timeout=10)
    assert time.monotonic() - began < 5
    assert not caller.is_alive() and outcome


@pytest.mark.parametrize("size", [1, 4, 7])
def test_a_results_per_page_cap_spreads_even_one_day_over_several_pages(
    api: Vendors, fake: VendorFakes, size: int
) -> None:
    fake.max_results_per_page = size
    params = {
        "starting_at": rfc3339(DAY - timedelta(days=1)),
        "ending_at": rfc3339(DAY + timedelta(days=1)),
        "group_by[]": ["workspace_id", "description"],
    }
    pages = follow(lambda p: api.anthropic(ANTHROPIC_COSTS_PATH, p), params)
    served = [
        (b["starting_at"], r["workspace_id"], r["description"], r["amount"])
        for p in pages
        for b in p["data"]
        for r in b["results"]
    ]
    assert all(sum(len(b["results"]) for b in p["data"]) <= size for p in pages)
    assert len(pages) >= 3
    expected = [
        (rfc3339(day), r.workspace_id, r.description, format(r.amount_cents, "f"))
        for day in (DAY - timedelta(days=1), DAY)
        for r in fakes.expected_costs(DEFAULT_ANTHROPIC_ORG, day)
    ]
    assert sorted(served, key=str) == sorted(expected, key=str)
    assert len(served) == len(set(served)), "no result served twice"


def test_paging_knob_over_http(api: Vendors, fake: VendorFakes) -> None:
    assert api.control("POST", "/_fake/paging", {"max_results_per_page": 5}).status_code == 200
    params = {"start_time": unix(DAY), "end_time": unix(DAY + timedelta(days=1)), "group_by": ["line_item"]}
    pages = follow(lambda p: api.openai(OPENAI_COSTS_PATH, p), params)
    assert len(pages) >= 3
    assert {b["start_time"] for p in pages for b in p["data"]} == {unix(DAY)}
    total = sum((r["amount"]["value"] for p in pages for b in p["data"] for r in b["results"]), Decimal(0))
    assert total == fakes.expected_cost_total(DEFAULT_OPENAI_ORG, DAY)
    assert api.control("POST", "/_fake/paging", {"max_results_per_page": 0}).status_code == 400
    api.control("POST", "/_fake/reset")
    assert fake.max_results_per_page is None


def test_bucket_limit_and_results_cap_together_lose_nothing(api: Vendors, fake: VendorFakes) -> None:
    fake.max_results_per_page = 3
    days = (DAY, DAY + timedelta(days=1))
    params = {
        "start_time": unix(DAY),
        "end_time": unix(DAY + timedelta(days=2)),
        "bucket_width": "1h",
        "limit": 10,
        "group_by": ["api_key_id", "model", "batch", "service_tier"],
    }
    pages = follow(lambda p: api.openai(OPENAI_USAGE_PATH, p), params)
    assert all(len(p["data"]) <= 10 for p in pages)
    hours = sorted({b["start_time"] for p in pages for b in p["data"]})
    assert hours == [unix(DAY) + 3600 * i for i in range(48)]
    served = sum(r["input_tokens"] for p in pages for b in p["data"] for r in b["results"])
    assert served == sum(fakes.expected_token_totals(DEFAULT_OPENAI_ORG, day)["input_tokens"] for day in days)


def test_fakes_control_drives_a_fake_in_another_process(tmp_path: Any) -> None:
    """The knobs as a test uses them against ``python -m shared.local_stack.fakes`` (as under serve)."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "shared.local_stack.fakes", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        control = fakes.FakesControl(base_url)
        assert control.healthy()
        org = fakes.new_org("anthropic", seed=31337)
        assert control.add_org(org)["org_id"] == org.org_id
        api = Vendors(base_url)
        day = date.today() - timedelta(days=2)
        params = {"starting_at": rfc3339(day), "ending_at": rfc3339(day + timedelta(days=1))}
        first = api.anthropic(ANTHROPIC_COSTS_PATH, params, key=org.admin_key).json()
        amounts = [Decimal(r["amount"]) for r in first["data"][0]["results"]]
        assert sum(amounts, Decimal(0)) / 100 == fakes.expected_cost_total(org, day)

        control.add_fault(status=429, retry_after=2, vendor="anthropic", org_id=org.org_id)
        assert [f["status"] for f in control.faults()] == [429]
        limited = api.anthropic(ANTHROPIC_COSTS_PATH, params, key=org.admin_key)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert api.anthropic(ANTHROPIC_COSTS_PATH, params).status_code == 200  # the default org: untouched

        assert control.lag_usage("anthropic", day, org.org_id) == {org.org_id: 0}
        assert control.lags() == [{"org_id": org.org_id, "day": day.isoformat(), "revision": 0}]
        late = fakes.expected_token_totals(org, day, lagging=True)
        usage = api.anthropic(ANTHROPIC_USAGE_PATH, params, key=org.admin_key).json()
        assert sum(r["output_tokens"] for r in usage["data"][0]["results"]) == late["output_tokens"]

        assert control.restate("anthropic", day, org.org_id) == {org.org_id: 1}
        assert control.lags() == []  # the restated usage comes whole
        restated = api.anthropic(ANTHROPIC_COSTS_PATH, params, key=org.admin_key).json()
        amounts = [Decimal(r["amount"]) for r in restated["data"][0]["results"]]
        assert sum(amounts, Decimal(0)) / 100 == fakes.expected_cost_total(org, day, revision=1)

        log = control.requests()
        assert log["counts"] == {ANTHROPIC_COSTS_PATH: 4, ANTHROPIC_USAGE_PATH: 1}
        assert {r["key_fingerprint"] for r in log["requests"]} == {
            org.key_fingerprint,
            DEFAULT_ANTHROPIC_ORG.key_fingerprint,
        }
        with pytest.raises(fakes.FakesControlError) as refused:
            control.add_fault(status=700)
        assert refused.value.status == 400
        control.reset()
        assert control.requests()["counts"] == {}
        assert len(control.orgs()) == 2
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    "org",
    [DEFAULT_OPENAI_ORG, OTHER_OPENAI, fakes.new_org("openai", seed=5, max_decimals=9)],
    ids=["default", "other", "numeric"],
)
def test_every_day_shows_every_exactness_form_even_summed_per_line_item(org: fakes.FakeOrg) -> None:
    for offset in range(400):
        day = DEFAULT_DATA_START + timedelta(days=offset)
        for revision in (0, 1):
            records = fakes.expected_costs(org, day, revision)
            for amounts in (
                [r.amount for r in records],
                list(fakes.totals_by(records, "project_id", "line_item").values()),
            ):
                normalised = [a.normalize().as_tuple() for a in amounts]
                assert max(len(t.digits) for t in normalised) >= 17, (day, revision)
                assert any(a < Decimal("1e-6") for a in amounts), (day, revision)
                assert all(-t.exponent <= org.max_decimals for t in normalised), (day, revision)


def test_every_anthropic_day_has_fractions_of_a_cent_and_nine_decimal_dollars() -> None:
    for offset in range(400):
        day = DEFAULT_DATA_START + timedelta(days=offset)
        exponents = [
            -r.amount.normalize().as_tuple().exponent for r in fakes.expected_costs(DEFAULT_ANTHROPIC_ORG, day)
        ]
        assert max(exponents) == 9 and all(e <= 9 for e in exponents), day
        assert sum(1 for e in exponents if e > 4) >= 2, day


# --- Costs derive from usage -----------------------------------------------------------------------

FLOAT_ROUNDING = Decimal(1) / Decimal(2**53)


def test_the_price_table_holds_the_published_list_prices() -> None:
    per_million = {
        "gpt-4o-2024-08-06, input": "2.50",
        "gpt-4o-2024-08-06, cached input": "1.25",
        "gpt-4o-2024-08-06, output": "10.00",
        "gpt-4o-mini-2024-07-18, input": "0.15",
        "gpt-4o-mini-2024-07-18, cached input": "0.075",
        "gpt-4o-mini-2024-07-18, output": "0.60",
        "gpt-4o-audio-preview-2024-12-17, audio input": "40",
        "gpt-4o-audio-preview-2024-12-17, audio output": "80",
        "web search tool calls | gpt-4o": None,
        "file search tool storage": None,
    }
    for line_item, price in per_million.items():
        assert fakes.data.openai_price(line_item) == (None if price is None else Decimal(price)), line_item
    sonnet, opus, haiku = "claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "claude-3-5-haiku-20241022"
    anthropic = {
        (sonnet, "uncached_input_tokens", "standard", "0-200k"): "3",
        (sonnet, "output_tokens", "standard", "0-200k"): "15",
        (sonnet, "cache_creation.ephemeral_5m_input_tokens", "standard", "0-200k"): "3.75",
        (sonnet, "cache_creation.ephemeral_1h_input_tokens", "standard", "0-200k"): "6",
        (sonnet, "cache_read_input_tokens", "standard", "0-200k"): "0.30",
        (sonnet, "uncached_input_tokens", "standard", "200k-1M"): "6",  # long context: input x2
        (sonnet, "output_tokens", "standard", "200k-1M"): "22.5",  # output x1.5
        (sonnet, "output_tokens", "batch", "0-200k"): "7.5",  # batch: half
        (sonnet, "cache_creation.ephemeral_5m_input_tokens", "batch", "0-200k"): "1.875",
        (opus, "uncached_input_tokens", "standard", "0-200k"): "15",
        (opus, "output_tokens", "standard", "0-200k"): "75",
        (haiku, "uncached_input_tokens", "standard", "0-200k"): "0.80",
        (haiku, "output_tokens", "batch", "0-200k"): "2",
    }
    for (model, token_type, tier, window), price in anthropic.items():
        assert fakes.data.anthropic_price(model, token_type, tier, window) == Decimal(price), (model, token_type)


def openai_grain_tokens(usage: list[Any]) -> dict[tuple[Any, ...], int]:
    """Tokens per cost line (project, line item, API key), summed here from the usage records."""
    kinds = {
        "input": lambda u: u.input_tokens - u.input_cached_tokens,
        "cached input": lambda u: u.input_cached_tokens,
        "output": lambda u: u.output_tokens,
        "audio input": lambda u: u.input_audio_tokens,
        "audio output": lambda u: u.output_audio_tokens,
    }
    counts: dict[tuple[Any, ...], int] = {}
    for record in usage:
        for kind, count in kinds.items():
            line = (record.project_id, f"{record.model}, {kind}", record.api_key_id)
            counts[line] = counts.get(line, 0) + count(record)
    return {line: count for line, count in counts.items() if count}


@pytest.mark.parametrize(
    "org",
    [DEFAULT_OPENAI_ORG, OTHER_OPENAI, fakes.new_org("openai", seed=5, max_decimals=9)],
    ids=["default", "other", "numeric"],
)
def test_every_openai_token_line_is_its_usage_times_its_price_and_all_usage_is_billed(org: fakes.FakeOrg) -> None:
    for offset in range(0, 400, 7):
        day = DEFAULT_DATA_START + timedelta(days=offset)
        for revision in (0, 1):
            usage = fakes.expected_usage(org, day, revision)
            tokens = openai_grain_tokens(list(usage))
            costs = fakes.expected_costs(org, day, revision)
            token_lines = {}
            for record in costs:
                price = fakes.data.openai_price(record.line_item)
                if price is None:
                    assert (
                        "web search" in record.line_item or record.api_key_id is None or "storage" in record.line_item
                    )
                    continue
                token_lines[(record.project_id, record.line_item, record.api_key_id)] = record.amount
            assert set(token_lines) == set(tokens), (day, revision)  # no line without usage, no usage unbilled
            for line, amount in token_lines.items():
                exact = tokens[line] * fakes.data.openai_price(line[1]).scaleb(-6)  # type: ignore[union-attr]
                # three roundings of a float (the price per token, the product, its shortest decimal
                # form), then the fake's own to the org's decimals
                bound = 3 * FLOAT_ROUNDING * exact * (1 + FLOAT_ROUNDING) + Decimal("0.5").scaleb(-org.max_decimals)
                assert abs(amount - exact) <= bound, (day, line, amount, exact)


def test_every_anthropic_token_line_is_its_usage_times_its_price_exactly_and_all_usage_is_billed() -> None:
    token_types = [t for t, _ in fakes.data.ANTHROPIC_TOKEN_TYPES]
    for org in (DEFAULT_ANTHROPIC_ORG, OTHER_ANTHROPIC):
        for offset in range(0, 400, 7):
            day = DEFAULT_DATA_START + timedelta(days=offset)
            usage = fakes.expected_usage(org, day)
            counts: dict[tuple[Any, ...], int] = {}
            searches: dict[str | None, int] = {}
            for record in usage:
                for token_type in token_types:
                    grain = (record.workspace_id, record.model, record.service_tier, record.context_window, token_type)
                    counts[grain] = counts.get(grain, 0) + getattr(record, token_type.replace(".", "_"))
                searches[record.workspace_id] = searches.get(record.workspace_id, 0) + record.web_search_requests
            lines = {}
            for cost in fakes.expected_costs(org, day):
                if cost.cost_type == "tokens":
                    grain = (cost.workspace_id, cost.model, cost.service_tier, cost.context_window, cost.token_type)
                    lines[grain] = cost.amount_cents
                    assert cost.model is not None and cost.service_tier is not None
                    assert cost.context_window is not None and cost.token_type is not None
                    price = fakes.data.anthropic_price(
                        cost.model, cost.token_type, cost.service_tier, cost.context_window
                    )
                    # USD per 1M tokens -> cents: x 100 / 1e6
                    assert cost.amount_cents == counts[grain] * price / 10**4, (day, grain)
                elif cost.cost_type == "web_search":
                    assert cost.amount_cents == searches[cost.workspace_id] * 1  # USD 10 per 1,000: a cent each
            assert set(lines) == {grain for grain, count in counts.items() if count}, day
            billed_searches = {c.workspace_id for c in fakes.expected_costs(org, day) if c.cost_type == "web_search"}
            assert billed_searches == {workspace for workspace, n in searches.items() if n}, day


# --- The usage lag knob ----------------------------------------------------------------------------


def test_a_lagging_usage_report_misses_whole_cost_grains_until_it_catches_up(api: Vendors, fake: VendorFakes) -> None:
    params = {
        "start_time": unix(DAY),
        "end_time": unix(DAY + timedelta(days=1)),
        "group_by": ["project_id", "api_key_id", "model"],
    }
    costs = one_day_costs(api).text
    whole = api.openai(OPENAI_USAGE_PATH, params).json()["data"][0]["results"]
    assert fake.lag_usage("openai", DAY, DEFAULT_OPENAI_ORG.org_id) == {DEFAULT_OPENAI_ORG.org_id: 0}
    assert fake.lagging(DEFAULT_OPENAI_ORG, DAY) and not fake.lagging(OTHER_OPENAI, DAY)
    lagging = api.openai(OPENAI_USAGE_PATH, params).json()["data"][0]["results"]
    late = fakes.late_grains(DEFAULT_OPENAI_ORG, DAY)

    def grain(result: dict[str, Any]) -> tuple[Any, ...]:
        return (result["project_id"], result["api_key_id"], result["model"])

    assert {grain(r) for r in whole} - {grain(r) for r in lagging} == late and late
    assert [r for r in whole if grain(r) not in late] == lagging  # the others whole
    assert one_day_costs(api).text == costs  # the costs do not lag
    assert fake.expected_token_totals(DEFAULT_OPENAI_ORG, DAY) == fakes.expected_token_totals(
        DEFAULT_OPENAI_ORG, DAY, lagging=True
    )
    assert (
        sum(r["output_tokens"] for r in lagging) == fake.expected_token_totals(DEFAULT_OPENAI_ORG, DAY)["output_tokens"]
    )
    # the late records arrive: the same revision, whole
    fake.lag_usage("openai", DAY, lagging=False)
    assert api.openai(OPENAI_USAGE_PATH, params).json()["data"][0]["results"] == whole
    # a restatement of the usage also ends a lag
    fake.lag_usage("openai", DAY)
    fake.restate("openai", DAY, DEFAULT_OPENAI_ORG.org_id, report="usage")
    assert not fake.lagging(DEFAULT_OPENAI_ORG, DAY) and fake.lagging(OTHER_OPENAI, DAY)


def test_usage_lag_knob_over_http(api: Vendors, fake: VendorFakes) -> None:
    params = {"starting_at": rfc3339(DAY), "ending_at": rfc3339(DAY + timedelta(days=1)), "group_by[]": "model"}
    whole = api.anthropic(ANTHROPIC_USAGE_PATH, params).json()
    body = {"vendor": "anthropic", "day": DAY.isoformat(), "org_id": DEFAULT_ANTHROPIC_ORG.org_id}
    answer = api.control("POST", "/_fake/usage_lag", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["revisions"] == {DEFAULT_ANTHROPIC_ORG.org_id: 0} and answer.json()["lagging"] is True
    listed = api.control("GET", "/_fake/usage_lag").json()["lagging"]
    assert listed == [{"org_id": DEFAULT_ANTHROPIC_ORG.org_id, "day": DAY.isoformat(), "revision": 0}]
    lagging = api.anthropic(ANTHROPIC_USAGE_PATH, params).json()
    served = sum(r["output_tokens"] for r in lagging["data"][0]["results"])
    assert served == fake.expected_token_totals(DEFAULT_ANTHROPIC_ORG, DAY)["output_tokens"]
    assert served < sum(r["output_tokens"] for r in whole["data"][0]["results"])
    assert api.control("POST", "/_fake/usage_lag", {**body, "lagging": False}).json()["lagging"] is False
    assert api.anthropic(ANTHROPIC_USAGE_PATH, params).json() == whole
    for bad, field in (
        ({**body, "vendor": "aws"}, "vendor"),
        ({**body, "day": "yesterday"}, "day"),
        ({**body, "org_id": "org-none"}, "org_id"),
        ({**body, "lagging": "yes"}, "lagging"),
        ({**body, "late": 3}, "late"),
    ):
        refused = api.control("POST", "/_fake/usage_lag", bad)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, refused.text
    api.control("POST", "/_fake/usage_lag", body)
    api.control("POST", "/_fake/reset")
    assert api.control("GET", "/_fake/usage_lag").json()["lagging"] == []
