"""``FakesControl``: drives the fakes' ``/_fake`` knobs in another process (e.g. under ``serve``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date
from typing import Any

from shared.local_stack.fakes.orgs import FakeOrg, Vendor


class FakesControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"the vendor fakes answered {status}: {body}")
        self.status, self.body = status, body


class FakesControl:
    """The ``/_fake`` endpoints of the fakes at ``base_url``, as Python calls."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise FakesControlError(error.code, json.loads(error.read() or b"null")) from None

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/_fake/healthz").get("status") == "ok")
        except (OSError, FakesControlError):
            return False

    def add_fault(self, **knobs: Any) -> dict[str, Any]:
        """``add_fault(status=429, times=2, retry_after=1, vendor="openai")``: see ``Fault``."""
        fault: dict[str, Any] = self._call("POST", "/_fake/faults", knobs)["fault"]
        return fault

    def faults(self) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = self._call("GET", "/_fake/faults")["faults"]
        return pending

    def clear_faults(self) -> None:
        self._call("DELETE", "/_fake/faults")

    def restate(
        self, vendor: Vendor, day: date, org_id: str | None = None, report: str | None = None
    ) -> dict[str, int]:
        answer = self._call(
            "POST", "/_fake/restate", {"vendor": vendor, "day": day.isoformat(), "org_id": org_id, "report": report}
        )
        revisions: dict[str, int] = answer["revisions"]
        return revisions

    def lag_usage(self, vendor: Vendor, day: date, org_id: str | None = None, lagging: bool = True) -> dict[str, int]:
        """The day's usage report lags its costs (some token lines have no usage) until the usage
        is restated or ``lagging=False``; the usage revision concerned per org id."""
        body = {"vendor": vendor, "day": day.isoformat(), "org_id": org_id, "lagging": lagging}
        revisions: dict[str, int] = self._call("POST", "/_fake/usage_lag", body)["revisions"]
        return revisions

    def lags(self) -> list[dict[str, Any]]:
        """``[{"org_id", "day", "revision"}]``: the usage reports lagging now."""
        lagging: list[dict[str, Any]] = self._call("GET", "/_fake/usage_lag")["lagging"]
        return lagging

    def add_org(self, org: FakeOrg) -> dict[str, Any]:
        """Registers ``org`` there too (same fields, so the same data as the local ground truth)."""
        body = {
            "vendor": org.vendor,
            "seed": org.seed,
            "admin_key": org.admin_key,
            "org_id": org.org_id,
            "data_start": org.data_start.isoformat(),
            "owners": org.owners,
            "max_decimals": org.max_decimals,
        }
        summary: dict[str, Any] = self._call("POST", "/_fake/orgs", body)["org"]
        return summary

    def orgs(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/_fake/orgs")["orgs"]
        return listed

    def set_max_results_per_page(self, size: int | None) -> None:
        self._call("POST", "/_fake/paging", {"max_results_per_page": size})

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def requests(self) -> dict[str, Any]:
        """``{"counts": {path: n}, "requests": [...]}``: key fingerprints, never keys."""
        log: dict[str, Any] = self._call("GET", "/_fake/requests")
        return log
