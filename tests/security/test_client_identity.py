"""Who the failed-authentication limiter counts: only the address the deployment vouches for, never
what a client writes in X-Forwarded-For; and what counts as a failure. Also the small edges of
authentication and parameters: whitespace around a key, days no billing export holds."""

from __future__ import annotations

from typing import Any

import pytest

from shared import application, web
from shared.domain import api_keys
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, Tenant, function_client, other_settings, submit

RUNS = "/api/v1/pipelines/runs"


def _wrong_key() -> dict[str, str]:
    return {"X-API-Key": api_keys.generate("acmecorp")}


def test_locally_a_forged_forwarded_for_neither_escapes_the_limit_nor_locks_out_a_victim(
    tenant: Tenant, settings: Settings
) -> None:
    client = function_client("status")
    guesser = {"REMOTE_ADDR": "192.0.2.66"}
    for n in range(settings.auth_failure_limit):  # a new "client" every time, as far as the header goes
        headers = {**_wrong_key(), "X-Forwarded-For": f"203.0.113.{n}"}
        assert client.get(RUNS, headers=headers, environ_base=guesser).status_code == 401
    spoofed = client.get(RUNS, headers={**_wrong_key(), "X-Forwarded-For": "203.0.113.250"}, environ_base=guesser)
    assert spoofed.status_code == 429

    # the lock-out attempt: bad keys sent "from" the victim's address, by header only
    attacker = {"REMOTE_ADDR": "192.0.2.77"}
    for _ in range(settings.auth_failure_limit + 5):
        client.get(RUNS, headers={**_wrong_key(), "X-Forwarded-For": "192.0.2.10"}, environ_base=attacker)
    victim = client.get(RUNS, headers=tenant.headers, environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert victim.status_code == 200


def test_behind_the_load_balancer_the_client_is_its_appended_entry(tenant: Tenant, settings: Settings) -> None:
    with other_settings(trusted_proxies=2):  # the external load balancer appends "<client>, <its own address>"
        client = function_client("status")
        lb = {"REMOTE_ADDR": "169.254.1.1"}  # what the function sees as the connection

        def via_lb(client_ip: str, forged: str = "") -> dict[str, str]:
            return {"X-Forwarded-For": ", ".join(filter(None, [forged, client_ip, "34.117.0.9"]))}

        for n in range(settings.auth_failure_limit):
            headers = {**_wrong_key(), **via_lb("198.51.100.7", forged=f"203.0.113.{n}")}
            assert client.get(RUNS, headers=headers, environ_base=lb).status_code == 401
        blocked = client.get(RUNS, headers={**tenant.headers, **via_lb("198.51.100.7", "10.0.0.1")}, environ_base=lb)
        assert blocked.status_code == 429
        # the guesser's failures were its own, not everybody's behind the load balancer ...
        assert (
            client.get(RUNS, headers={**tenant.headers, **via_lb("198.51.100.8")}, environ_base=lb).status_code == 200
        )
        # ... and writing the victim's address into the header locks out nobody
        for _ in range(settings.auth_failure_limit):
            client.get(
                RUNS, headers={**_wrong_key(), **via_lb("198.51.100.9", forged="198.51.100.20")}, environ_base=lb
            )
        victim = client.get(RUNS, headers={**tenant.headers, **via_lb("198.51.100.20")}, environ_base=lb)
        assert victim.status_code == 200
        # a request that did not pass through the load balancer is keyed by its connection
        assert web.client_address(_request({"X-Forwarded-For": "1.2.3.4"}, "192.0.2.1"), 2) == "192.0.2.1"


def _request(headers: dict[str, str], remote: str) -> Any:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_request()


def test_what_counts_is_every_401_on_any_route_one_per_request_and_the_limit_is_exact(
    tenant: Tenant, settings: Settings
) -> None:
    address = {"REMOTE_ADDR": "192.0.2.30"}
    status, submit_fn, admin = function_client("status"), function_client("submit"), function_client("admin")
    attempts = [
        lambda: status.get(RUNS, headers=_wrong_key(), environ_base=address),
        lambda: status.get(RUNS, environ_base=address),  # no key at all
        lambda: submit_fn.post("/api/v1/pipelines/run/acmecorp/gcp/cost/billing", json={}, environ_base=address),
        lambda: admin.get("/api/v1/integrations/acmecorp", headers=_wrong_key(), environ_base=address),
        lambda: admin.post("/api/v1/admin/orgs", json={}, headers={"X-Admin-Key": "wrong"}, environ_base=address),
    ]
    # a 403 (a valid key for another org's path) is not a failed authentication
    for _ in range(3):
        assert admin.get("/api/v1/integrations/globex", headers=tenant.headers, environ_base=address).status_code == 403
    for n in range(settings.auth_failure_limit):
        assert attempts[n % len(attempts)]().status_code == 401, n
    after = status.get(RUNS, headers=tenant.headers, environ_base=address)
    assert after.status_code == 429 and after.get_json()["error"]["code"] == "too_many_requests"


@pytest.mark.parametrize("padding", [(" ", ""), ("", " "), ("\t", "  "), ("  ", "\t")])
def test_whitespace_around_a_key_is_accepted_on_either_side(tenant: Tenant, padding: tuple[str, str]) -> None:
    before, after = padding
    headers = {"X-API-Key": f"{before}{tenant.api_key}{after}"}
    assert function_client("status").get(RUNS, headers=headers).status_code == 200
    admin = {"X-Admin-Key": f"{before}{ADMIN_KEY}{after}"}
    assert function_client("admin").get("/api/v1/admin/orgs/acmecorp/api-keys", headers=admin).status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "2009-12-31"])
def test_a_day_before_2010_is_refused_by_name(tenant: Tenant, day: str) -> None:
    response = submit(tenant, date=day)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "date"
    assert "2010-01-01" in response.get_json()["error"]["message"]
    backfill = function_client("submit").post(
        "/api/v1/pipelines/backfill/acmecorp/gcp/cost/billing",
        json={"start_date": day, "end_date": "2010-01-05"},
        headers=tenant.headers,
    )
    assert backfill.status_code == 400 and backfill.get_json()["error"]["field"] == "start_date"
    application.current().close()
