"""``VendorFakes``: one WSGI app answering the OpenAI and Anthropic admin cost/usage endpoints.

The vendors' paths do not collide (``/v1/organization/…`` for OpenAI, ``/v1/organizations/…`` for
Anthropic), so both are served on one base URL. ``/_fake/…`` drives the fakes from another process
(faults, restatements, extra orgs, the request log).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from shared.local_stack.fakes import data
from shared.local_stack.fakes.orgs import (
    DEFAULT_DATA_START,
    DEFAULT_ORGS,
    PROJECT_KEY_PREFIXES,
    VENDORS,
    FakeOrg,
    Vendor,
    digest,
    key_fingerprint,
    new_org,
)

Report = Literal["costs", "usage"]
"""A vendor's two reports of a day, restated together or apart."""
REPORTS: tuple[Report, ...] = ("costs", "usage")

ANTHROPIC_VERSIONS = ("2023-06-01",)
OPENAI_PATHS = {
    "/v1/organization/costs": "openai_costs",
    "/v1/organization/usage/completions": "openai_usage",
}
ANTHROPIC_PATHS = {
    "/v1/organizations/cost_report": "anthropic_costs",
    "/v1/organizations/usage_report/messages": "anthropic_usage",
}
WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
# bucket width -> (default limit, max limit), as both vendors document for their usage endpoints
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}

StartResponse = Callable[..., Any]
DayCache = dict[date, list[tuple[int, Any]]]


class VendorError(Exception):
    """An answer in the vendor's own error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers: dict[str, str] = {}


# --- JSON with exact numbers -------------------------------------------------------------------


def json_number(value: Decimal) -> str:
    """The JSON text of an exact amount: fixed notation, or exponent form (``4.5e-07``) for tiny
    values, as the vendors' serializers write them."""
    if value.is_zero():
        return "0.0"
    if abs(value) < Decimal("1e-4"):
        sign, digits, _ = value.normalize().as_tuple()
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{value.adjusted():+03d}"
    text = format(value, "f")
    # A whole amount is still written as a float would be ("40.0"), never as a JSON integer.
    return text if "." in text else text + ".0"


def dumps(value: Any) -> str:
    """``json.dumps`` that writes ``Decimal`` as a JSON number, digit for digit (never a float)."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


# --- Faults, restatements and the request log --------------------------------------------------


@dataclass
class Fault:
    """What the next matching requests get instead of (or before) their answer.

    ``status`` 429 answers with ``Retry-After: retry_after``; any other status (500, 503, 529…)
    answers an error of that status in the vendor's shape; ``status`` None with ``delay_s`` only
    slows the normal answer down. ``times`` requests are affected, then the fault is spent.
    ``vendor``, ``path`` and ``org_id`` narrow which requests match (None: any).
    """

    status: int | None = None
    times: int = 1
    retry_after: int | None = None
    delay_s: float = 0.0
    vendor: Vendor | None = None
    path: str | None = None
    org_id: str | None = None
    id: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599) or null")
        if self.status is None and self.delay_s <= 0:
            raise ValueError("a fault needs a status, a delay_s > 0, or both")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.delay_s < 0 or self.delay_s > 600:
            raise ValueError("delay_s must be between 0 and 600")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.status == 429 and self.retry_after is None:
            self.retry_after = 1
        if self.vendor is not None and self.vendor not in VENDORS:
            raise ValueError(f"vendor must be one of {', '.join(VENDORS)} or null")

    def matches(self, vendor: Vendor, path: str, org_id: str | None) -> bool:
        return (
            (self.vendor is None or self.vendor == vendor)
            and (self.path is None or self.path == path)
            and (self.org_id is None or self.org_id == org_id)
        )


class Faults:
    """The fault knobs, in the order they were added; the first matching one applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, fault: Fault | None = None, /, **knobs: Any) -> Fault:
        """``add(Fault(...))`` or ``add(status=429, times=2, retry_after=1, vendor="openai")``."""
        fault = fault if fault is not None else Fault(**knobs)
        with self._lock:
            fault.id, self._next_id = self._next_id, self._next_id + 1
            self._faults.append(fault)
        return fault

    def rate_limit(self, times: int = 1, retry_after: int = 1, **scope: Any) -> Fault:
        return self.add(status=429, times=times, retry_after=retry_after, **scope)

    def server_error(self, times: int = 1, status: int = 500, **scope: Any) -> Fault:
        return self.add(status=status, times=times, **scope)

    def slow(self, delay_s: float, times: int = 1, **scope: Any) -> Fault:
        return self.add(delay_s=delay_s, times=times, **scope)

    def take(self, vendor: Vendor, path: str, org_id: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(vendor, path, org_id):
                    fault.hits += 1
                    if fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    vendor: Vendor | None
    org_id: str | None  # the org the key opened; None when it opened none
    key_fingerprint: str | None  # of the credential presented; never the credential
    query: str
    at: float = field(default_factory=time.time)


class RequestLog:
    """Every vendor request the fakes answered (not the ``/_fake`` control calls)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    @property
    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def count(
        self,
        path: str | None = None,
        *,
        key: str | None = None,
        org_id: str | None = None,
        status: int | None = None,
    ) -> int:
        """Requests to ``path`` (any when None) made with ``key`` / opening ``org_id`` / answered
        ``status``."""
        fingerprint = key_fingerprint(key) if key is not None else None
        return sum(
            1
            for e in self.entries
            if (path is None or e.path == path)
            and (fingerprint is None or e.key_fingerprint == fingerprint)
            and (org_id is None or e.org_id == org_id)
            and (status is None or e.status == status)
        )

    def counts_by_path(self) -> dict[str, int]:
        return dict(Counter(e.path for e in self.entries))

    def fingerprints(self, path: str | None = None) -> set[str]:
        return {e.key_fingerprint for e in self.entries if e.key_fingerprint and (path is None or e.path == path)}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- Query parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    vendor: Vendor
    endpoint: str
    start: datetime
    end: datetime
    width: str
    group_by: tuple[str, ...]
    limit: int
    page_from: tuple[datetime, int] | None
    filters: dict[str, tuple[str, ...]]
    fingerprint: str  # of every parameter but ``page``: a cursor is only good for its own query


def _values(args: MultiDict[str, str], name: str) -> list[str]:
    """An array parameter, however the client encoded it: ``name[]=a&name[]=b`` (the official
    SDKs), ``name=a&name=b`` (``requests`` with a list, the vendors' curl examples), or ``name[0]=a``."""
    values = args.getlist(name) + args.getlist(f"{name}[]")
    indexed = sorted(
        (k for k in args if k.startswith(f"{name}[") and k.endswith("]") and k[len(name) + 1 : -1].isdigit()),
        key=lambda k: int(k[len(name) + 1 : -1]),
    )
    for key in indexed:
        values.extend(args.getlist(key))
    return values


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise VendorError(400, f"{name}: expected a single value, got {len(values)}", param=name)
    return values[0] if values else None


def _base_name(key: str) -> str:
    return key.split("[", 1)[0]


ENDPOINT_PARAMS: dict[str, dict[str, tuple[str, ...]]] = {
    # endpoint -> {"scalar": names, "array": names, "group_by": allowed values}
    "openai_costs": {
        "scalar": ("start_time", "end_time", "bucket_width", "limit", "page"),
        "array": ("group_by", "project_ids", "api_key_ids"),
        "group_by": ("project_id", "line_item", "api_key_id"),
        "widths": ("1d",),
    },
    "openai_usage": {
        "scalar": ("start_time", "end_time", "bucket_width", "limit", "page", "batch"),
        "array": ("group_by", "project_ids", "user_ids", "api_key_ids", "models"),
        "group_by": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
        "widths": ("1m", "1h", "1d"),
    },
    "anthropic_costs": {
        "scalar": ("starting_at", "ending_at", "bucket_width", "limit", "page"),
        "array": ("group_by",),
        "group_by": ("workspace_id", "description"),
        "widths": ("1d",),
    },
    "anthropic_usage": {
        "scalar": ("starting_at", "ending_at", "bucket_width", "limit", "page"),
        "array": ("group_by", "api_key_ids", "workspace_ids", "models", "service_tiers", "context_window"),
        "group_by": ("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
        "widths": ("1m", "1h", "1d"),
    },
}


def _parse_time(vendor: Vendor, name: str, text: str) -> datetime:
    if vendor == "openai":
        if not text.isdigit():
            raise VendorError(400, f"Invalid value for '{name}': expected an integer (Unix seconds).", param=name)
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            raise VendorError(400, f"Invalid value for '{name}': out of range.", param=name) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise VendorError(400, f"{name}: invalid RFC 3339 timestamp", param=name) from None
    if moment.tzinfo is None:
        raise VendorError(400, f"{name}: an RFC 3339 timestamp needs a time zone (e.g. 'Z')", param=name)
    return moment.astimezone(UTC)


def _snap(moment: datetime, width: str) -> datetime:
    seconds = WIDTHS[width]
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def encode_cursor(position: datetime, offset: int, fingerprint: str) -> str:
    """Opaque to clients: the next bucket, how many of its results were already served, and which
    query the cursor belongs to."""
    raw = json.dumps({"t": int(position.timestamp()), "o": offset, "q": fingerprint}).encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> tuple[datetime, int]:
    bad = VendorError(400, "page: invalid pagination cursor", param="page")
    if not cursor.startswith("page_"):
        raise bad
    body = cursor[5:]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        position, offset, owner = int(decoded["t"]), int(decoded["o"]), str(decoded["q"])
        moment = datetime.fromtimestamp(position, UTC)
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError, OSError):
        raise bad from None
    if owner != fingerprint:
        raise VendorError(400, "page: this cursor belongs to a different query", param="page")
    if offset < 0:
        raise bad
    return moment, offset


def parse_query(vendor: Vendor, endpoint: str, args: MultiDict[str, str], data_start: date) -> Query:
    spec = ENDPOINT_PARAMS[endpoint]
    for key in args:
        base = _base_name(key)
        suffix = key[len(base) :]
        scalar = base in spec["scalar"] and not suffix
        array = base in spec["array"] and (
            not suffix or suffix == "[]" or (suffix[1:-1].isdigit() and suffix[-1] == "]")
        )
        if not (scalar or array):
            raise VendorError(400, f"Unknown parameter: '{key}'.", param=key)
    begin_name, end_name = ("start_time", "end_time") if vendor == "openai" else ("starting_at", "ending_at")
    begin_text = _single(args, begin_name)
    if not begin_text:
        raise VendorError(400, f"Missing required parameter: '{begin_name}'.", param=begin_name)
    width = _single(args, "bucket_width") or "1d"
    if width not in spec["widths"]:
        raise VendorError(
            400,
            f"Invalid value for 'bucket_width': {width!r}; supported: {', '.join(spec['widths'])}.",
            param="bucket_width",
        )
    start = _parse_time(vendor, begin_name, begin_text)
    end_text = _single(args, end_name)
    end = _parse_time(vendor, end_name, end_text) if end_text else None
    if end is not None and end <= start:
        raise VendorError(400, f"'{end_name}' must be after '{begin_name}'.", param=end_name)
    horizon = datetime(data_start.year, data_start.month, data_start.day, tzinfo=UTC)
    if start < horizon:
        raise VendorError(
            400,
            f"'{begin_name}' is before the earliest day with data for this organization ({data_start.isoformat()}).",
            param=begin_name,
        )
    group_by = tuple(_values(args, "group_by"))
    for value in group_by:
        if value not in spec["group_by"]:
            raise VendorError(
                400,
                f"Invalid value for 'group_by': {value!r}; supported: {', '.join(spec['group_by'])}.",
                param="group_by",
            )
    if len(set(group_by)) != len(group_by):
        raise VendorError(400, "group_by: a field is repeated", param="group_by")
    if endpoint == "openai_costs":
        default_limit, max_limit = 7, 180
    elif endpoint == "anthropic_costs":
        default_limit, max_limit = 7, 31
    else:
        default_limit, max_limit = USAGE_LIMITS[width]
    limit_text = _single(args, "limit")
    if limit_text is None:
        limit = default_limit
    elif not limit_text.isdigit() or not 1 <= int(limit_text) <= max_limit:
        raise VendorError(
            400, f"Invalid value for 'limit': must be an integer between 1 and {max_limit}.", param="limit"
        )
    else:
        limit = int(limit_text)
    filters = {name: tuple(_values(args, name)) for name in spec["array"] if name != "group_by"}
    batch = _single(args, "batch")
    if batch is not None:
        if batch not in ("true", "false"):
            raise VendorError(400, "Invalid value for 'batch': expected true or false.", param="batch")
        filters["batch"] = (batch,)
    # Normalised so that the same query spelt another way (brackets or not) keeps its cursor.
    canonical = sorted((_base_name(k), v) for k, v in args.items(multi=True) if k != "page")
    fingerprint = format(digest(vendor, endpoint, canonical), "016x")
    page = _single(args, "page")
    page_from = decode_cursor(page, fingerprint) if page else None
    # No end: every bucket up to now (the clock is checked when the page is built).
    until = end if end is not None else datetime.max.replace(tzinfo=UTC)
    return Query(vendor, endpoint, start, until, width, group_by, limit, page_from, filters, fingerprint)


# --- Answers ------------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sum_records(
    records: Sequence[Any], dims: Sequence[str], grouped: Iterable[str], sums: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Sums ``sums`` of ``records`` per value of the ``grouped`` dims; other dims come back None."""
    wanted = set(grouped)
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        key = tuple(getattr(record, d) if d in wanted else None for d in dims)
        bucket = totals.setdefault(key, {})
        for name in sums:
            value = getattr(record, name)
            if name in bucket:
                bucket[name] = (
                    data.EXACT.add(bucket[name], value) if isinstance(value, Decimal) else bucket[name] + value
                )
            else:
                bucket[name] = value
    ordered = sorted(totals.items(), key=lambda item: tuple((v is not None, str(v)) for v in item[0]))
    return [(dict(zip(dims, key, strict=True)), values) for key, values in ordered]


def _keep(record: Any, filters: dict[str, tuple[str, ...]]) -> bool:
    mapping = {
        "project_ids": "project_id",
        "user_ids": "user_id",
        "api_key_ids": "api_key_id",
        "models": "model",
        "workspace_ids": "workspace_id",
        "service_tiers": "service_tier",
        "context_window": "context_window",
    }
    for name, wanted in filters.items():
        if not wanted:
            continue
        if name == "batch":
            if str(record.batch).lower() != wanted[0]:
                return False
            continue
        if str(getattr(record, mapping[name])) not in wanted:
            return False
    return True


class VendorFakes:
    """The WSGI app. ``orgs`` defaults to ``DEFAULT_ORGS``; ``now`` lets a test pin the clock."""

    def __init__(self, orgs: Iterable[FakeOrg] = DEFAULT_ORGS, now: Callable[[], datetime] | None = None) -> None:
        self._initial = tuple(orgs)
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._orgs: dict[str, FakeOrg] = {}
        self._revisions: dict[tuple[str, date, Report], int] = {}
        # (org id, day, usage revision): a usage report that lags the cost report
        self._lagging: set[tuple[str, date, int]] = set()
        self.faults = Faults()
        self.log = RequestLog()
        self._interrupt = threading.Event()
        # At most this many results per page (None: no limit, as the vendors do): a bucket with
        # more continues on the next page, so even a one-day query can span several pages.
        self.max_results_per_page: int | None = None
        self.reset()

    # Python knobs

    def reset(self) -> None:
        """Back to the state at creation: initial orgs only, no fault, no restatement, no lag, empty log."""
        with self._lock:
            self._orgs = {org.admin_key: org for org in self._initial}
            self._revisions.clear()
            self._lagging.clear()
        self.max_results_per_page = None
        self.faults.clear()
        self.log.clear()

    def add_org(self, org: FakeOrg) -> FakeOrg:
        with self._lock:
            if any(o.org_id == org.org_id and o.admin_key != org.admin_key for o in self._orgs.values()):
                raise ValueError(f"another organization already has id {org.org_id}")
            self._orgs[org.admin_key] = org
        return org

    @property
    def orgs(self) -> list[FakeOrg]:
        with self._lock:
            return list(self._orgs.values())

    def org(self, key_or_id: str) -> FakeOrg:
        return data.resolve_org(key_or_id, self.orgs)

    def restate(
        self, vendor: Vendor, day: date, org_id: str | None = None, report: Report | None = None
    ) -> dict[str, int]:
        """Changes ``day``'s amounts and token counts on every later read, as vendors do when
        they restate a day; for one org or for every org of ``vendor``; only its ``costs`` or only
        its ``usage`` when ``report`` says so. Returns the new revision per org id (of the costs,
        or of the one report restated)."""
        targets = [o for o in self.orgs if o.vendor == vendor and (org_id is None or o.org_id == org_id)]
        if not targets:
            raise KeyError(f"no {vendor} organization{' ' + org_id if org_id else ''}")
        reports: tuple[Report, ...] = REPORTS if report is None else (report,)
        with self._lock:
            for org in targets:
                for kind in reports:
                    self._revisions[(org.org_id, day, kind)] = self._revisions.get((org.org_id, day, kind), 0) + 1
                # a restated usage report comes whole: a lag of the day ends with it
                self._lagging = {lag for lag in self._lagging if "usage" not in reports or lag[:2] != (org.org_id, day)}
            return {org.org_id: self._revisions[(org.org_id, day, reports[0])] for org in targets}

    def revision(self, org: FakeOrg | str, day: date, report: Report = "costs") -> int:
        found = data.resolve_org(org, self.orgs)
        with self._lock:
            return self._revisions.get((found.org_id, day, report), 0)

    def lag_usage(self, vendor: Vendor, day: date, org_id: str | None = None, lagging: bool = True) -> dict[str, int]:
        """Makes ``day``'s usage report lag its cost report, as a vendor's does while late usage
        records are still being counted: the cost lines stay whole while the usage misses every
        record of some of their grains (``data.late_grains``), so those token lines have no usage.
        For one org or every org of ``vendor``. The lag lasts until the usage is restated (a new
        revision comes whole) or ``lagging=False`` (the late records arrive, same revision).
        Returns the usage revision that lags (or no longer does) per org id."""
        targets = [o for o in self.orgs if o.vendor == vendor and (org_id is None or o.org_id == org_id)]
        if not targets:
            raise KeyError(f"no {vendor} organization{' ' + org_id if org_id else ''}")
        revisions = {org.org_id: self.revision(org, day, "usage") for org in targets}
        with self._lock:
            for org_key, revision in revisions.items():
                if lagging:
                    self._lagging.add((org_key, day, revision))
                else:
                    self._lagging.discard((org_key, day, revision))
        return revisions

    def lagging(self, org: FakeOrg | str, day: date) -> bool:
        """Whether ``day``'s usage report of ``org`` currently lags its costs."""
        found = data.resolve_org(org, self.orgs)
        revision = self.revision(found, day, "usage")
        with self._lock:
            return (found.org_id, day, revision) in self._lagging

    def lags(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"org_id": org_id, "day": day.isoformat(), "revision": revision}
                for org_id, day, revision in sorted(self._lagging)
            ]

    # Ground truth as currently served (restatements included)

    def expected_costs(self, org: FakeOrg | str, day: date) -> list[data.OpenAICost] | list[data.AnthropicCost]:
        found = data.resolve_org(org, self.orgs)
        return data.expected_costs(found, day, self.revision(found, day))

    def expected_usage(self, org: FakeOrg | str, day: date) -> list[data.OpenAIUsage] | list[data.AnthropicUsage]:
        found = data.resolve_org(org, self.orgs)
        return data.expected_usage(found, day, self.revision(found, day, "usage"), self.lagging(found, day))

    def expected_cost_total(self, org: FakeOrg | str, day: date) -> Decimal:
        found = data.resolve_org(org, self.orgs)
        return data.expected_cost_total(found, day, self.revision(found, day))

    def expected_token_totals(self, org: FakeOrg | str, day: date) -> dict[str, int]:
        found = data.resolve_org(org, self.orgs)
        return data.expected_token_totals(found, day, self.revision(found, day, "usage"), self.lagging(found, day))

    def interrupt_delays(self) -> None:
        """Ends every slow answer now (the server is stopping)."""
        self._interrupt.set()

    def resume_delays(self) -> None:
        self._interrupt.clear()

    # WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        control = request.path.startswith("/_fake/")
        response = self._control(request) if control else self._vendor(request)
        return response(environ, start_response)

    def _vendor(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        # The vendors' prefixes differ by one letter: /v1/organization/ (OpenAI), /v1/organizations/.
        vendor: Vendor = "anthropic" if path.startswith("/v1/organizations") else "openai"
        endpoint = OPENAI_PATHS.get(path) or ANTHROPIC_PATHS.get(path)
        org: FakeOrg | None = None
        fingerprint: str | None = None
        try:
            if endpoint is None:
                raise VendorError(404, f"Unknown request URL: {request.method} {path}.", code="unknown_url")
            if request.method != "GET":
                raise VendorError(405, f"Method {request.method} not allowed; use GET.")
            credential = self._credential(vendor, request)
            fingerprint = key_fingerprint(credential) if credential else None
            org = self._authenticate(vendor, credential)
            if vendor == "anthropic":
                self._check_version(request)
            fault = self.faults.take(vendor, path, org.org_id)
            if fault is not None:
                if fault.delay_s:
                    self._interrupt.wait(fault.delay_s)
                if fault.status is not None:
                    raise self._fault_error(fault)
            query = parse_query(vendor, endpoint, request.args, org.data_start)
            body = self._page(org, query)
            response = self._json(vendor, 200, body, org)
        except VendorError as error:
            response = self._error(vendor, error, org)
        self.log.append(
            LoggedRequest(
                method=request.method,
                path=path,
                status=response.status_code,
                vendor=vendor,
                org_id=org.org_id if org else None,
                key_fingerprint=fingerprint,
                query=request.query_string.decode("latin-1"),
            )
        )
        return response

    @staticmethod
    def _credential(vendor: Vendor, request: Request) -> str | None:
        if vendor == "openai":
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
        return request.headers.get("x-api-key") or None

    def _authenticate(self, vendor: Vendor, credential: str | None) -> FakeOrg:
        if credential is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                if vendor == "openai"
                else "x-api-key header is required"
            )
            raise VendorError(401, message, code=None)
        if credential.startswith(PROJECT_KEY_PREFIXES[vendor]):
            raise VendorError(
                403,
                "You have insufficient permissions for this operation: an admin key is required."
                if vendor == "openai"
                else "This endpoint requires an Admin API key.",
                code="insufficient_permissions",
            )
        with self._lock:
            org = self._orgs.get(credential)
        if org is None or org.vendor != vendor:
            # Never echo the key, not even masked.
            raise VendorError(
                401,
                "Incorrect API key provided." if vendor == "openai" else "invalid x-api-key",
                code="invalid_api_key",
            )
        return org

    @staticmethod
    def _check_version(request: Request) -> None:
        version = request.headers.get("anthropic-version")
        if not version:
            raise VendorError(400, "anthropic-version: header is required", param="anthropic-version")
        if version not in ANTHROPIC_VERSIONS:
            raise VendorError(400, f"anthropic-version: unknown version {version!r}", param="anthropic-version")

    @staticmethod
    def _fault_error(fault: Fault) -> VendorError:
        status = fault.status or 500
        messages = {
            401: ("Incorrect API key provided.", "invalid_api_key"),
            403: ("You have insufficient permissions for this operation.", "insufficient_permissions"),
            429: ("Rate limit reached for requests. Please try again later.", "rate_limit_exceeded"),
        }
        default = (
            ("The server had an error while processing your request. Sorry about that!", None)
            if status >= 500
            else ("The request was refused.", None)
        )
        message, code = messages.get(status, default)
        error = VendorError(status, message, code=code)
        if fault.retry_after is not None:
            error.headers["Retry-After"] = str(fault.retry_after)
        return error

    def _records(self, org: FakeOrg, query: Query, day: date, cache: DayCache) -> list[tuple[int, Any]]:
        """The day's records that pass the query's filters, each with the second of the day it
        falls in (usage records; costs are daily)."""
        if day not in cache:
            usage = query.endpoint.endswith("_usage")
            revision = self.revision(org, day, "usage" if usage else "costs")
            generate: Callable[..., list[Any]] = getattr(data, query.endpoint)
            records = generate(org, day, revision, self.lagging(org, day)) if usage else generate(org, day, revision)
            kept = [r for r in records if _keep(r, query.filters)]
            timed = query.width != "1d"
            cache[day] = [(data.second_of_day(r, org, revision) if timed else 0, r) for r in kept]
        return cache[day]

    def _page(self, org: FakeOrg, query: Query) -> dict[str, Any]:
        step = timedelta(seconds=WIDTHS[query.width])
        now = self._now()
        first = _snap(query.start, query.width)
        position, skip = query.page_from or (first, 0)
        if position < first or (position - first) % step:
            raise VendorError(400, "page: invalid pagination cursor", param="page")
        room = self.max_results_per_page
        buckets: list[dict[str, Any]] = []
        cache: DayCache = {}
        cut = False
        while position < query.end and position < now and len(buckets) < query.limit:
            if room == 0:
                break
            bucket = self._bucket(org, query, position, position + step, cache)
            results = bucket["results"][skip:]
            if room is not None and len(results) > room:
                # The rest of this bucket's results come on the next page, under the same bucket.
                bucket["results"], skip, cut = results[:room], skip + room, True
                buckets.append(bucket)
                break
            bucket["results"], skip = results, 0
            buckets.append(bucket)
            if room is not None:
                room -= len(results)
            position += step
        has_more = cut or (position < query.end and position < now)
        body: dict[str, Any] = {}
        if query.vendor == "openai":
            body["object"] = "page"
        body["data"] = buckets
        body["has_more"] = has_more
        body["next_page"] = encode_cursor(position, skip, query.fingerprint) if has_more else None
        return body

    def _bucket(self, org: FakeOrg, query: Query, start: datetime, end: datetime, cache: DayCache) -> dict[str, Any]:
        day = start.date()
        timed = self._records(org, query, day, cache)
        if query.width == "1d":
            records = [r for _, r in timed]
        else:
            offset = int((start - datetime(day.year, day.month, day.day, tzinfo=UTC)).total_seconds())
            span = WIDTHS[query.width]
            records = [r for second, r in timed if offset <= second < offset + span]
        results = getattr(self, f"_results_{query.endpoint}")(records, query.group_by)
        if query.vendor == "openai":
            return {
                "object": "bucket",
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
                "results": results,
            }
        return {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end), "results": results}

    @staticmethod
    def _results_openai_costs(records: list[data.OpenAICost], group_by: Sequence[str]) -> list[dict[str, Any]]:
        dims = ("project_id", "line_item", "api_key_id")
        return [
            {
                "object": "organization.costs.result",
                "amount": {"value": sums["amount"], "currency": "usd"},
                "line_item": key["line_item"],
                "project_id": key["project_id"],
                "api_key_id": key["api_key_id"],
            }
            for key, sums in _sum_records(records, dims, group_by, ("amount",))
        ]

    @staticmethod
    def _results_openai_usage(records: list[data.OpenAIUsage], group_by: Sequence[str]) -> list[dict[str, Any]]:
        dims = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
        return [
            {"object": "organization.usage.completions.result", **sums, **key}
            for key, sums in _sum_records(records, dims, group_by, data.OPENAI_TOKEN_FIELDS)
        ]

    @staticmethod
    def _results_anthropic_costs(records: list[data.AnthropicCost], group_by: Sequence[str]) -> list[dict[str, Any]]:
        grouped = set(group_by)
        if "description" in grouped:
            # The description determines the item's other fields, which come back with it.
            grouped |= {"cost_type", "model", "service_tier", "context_window", "token_type"}
        dims = ("workspace_id", "description", "cost_type", "context_window", "model", "service_tier", "token_type")
        return [
            {"currency": "USD", "amount": format(sums["amount_cents"], "f"), **key}
            for key, sums in _sum_records(records, dims, grouped, ("amount_cents",))
        ]

    @staticmethod
    def _results_anthropic_usage(records: list[data.AnthropicUsage], group_by: Sequence[str]) -> list[dict[str, Any]]:
        dims = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
        results = []
        for key, sums in _sum_records(records, dims, group_by, data.ANTHROPIC_TOKEN_FIELDS):
            results.append(
                {
                    "uncached_input_tokens": sums["uncached_input_tokens"],
                    "cache_creation": {
                        "ephemeral_1h_input_tokens": sums["cache_creation_ephemeral_1h_input_tokens"],
                        "ephemeral_5m_input_tokens": sums["cache_creation_ephemeral_5m_input_tokens"],
                    },
                    "cache_read_input_tokens": sums["cache_read_input_tokens"],
                    "output_tokens": sums["output_tokens"],
                    "server_tool_use": {"web_search_requests": sums["web_search_requests"]},
                    **key,
                }
            )
        return results

    # Vendor-shaped responses

    def _request_id(self) -> str:
        return f"req_{digest(time.time_ns(), threading.get_ident()):016x}"

    def _json(self, vendor: Vendor, status: int, body: Any, org: FakeOrg | None = None) -> Response:
        response = Response(dumps(body), status=status, mimetype="application/json")
        if vendor == "openai":
            response.headers["x-request-id"] = self._request_id()
            if org is not None:
                response.headers["openai-organization"] = org.org_id
        else:
            response.headers["request-id"] = self._request_id()
            if org is not None:
                response.headers["anthropic-organization-id"] = org.org_id
        return response

    def _error(self, vendor: Vendor, error: VendorError, org: FakeOrg | None = None) -> Response:
        if vendor == "openai":
            kind = {429: "requests", 401: "invalid_request_error", 403: "invalid_request_error"}.get(
                error.status, "server_error" if error.status >= 500 else "invalid_request_error"
            )
            body: dict[str, Any] = {
                "error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}
            }
        else:
            kind = {
                400: "invalid_request_error",
                401: "authentication_error",
                403: "permission_error",
                404: "not_found_error",
                405: "invalid_request_error",
                413: "request_too_large",
                429: "rate_limit_error",
                529: "overloaded_error",
            }.get(error.status, "api_error")
            body = {"type": "error", "error": {"type": kind, "message": error.message}}
        response = self._json(vendor, error.status, body, org)
        if vendor == "anthropic":
            body["request_id"] = response.headers["request-id"]
            response.set_data(dumps(body))
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    # /_fake: the knobs over HTTP, for a fake running in another process

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            payload = self._payload(request) if request.method == "POST" else {}
            if route == ("GET", "/_fake/healthz"):
                return _control_json(200, {"status": "ok"})
            if route == ("POST", "/_fake/faults"):
                fault = self.faults.add(**_fault_knobs(payload))
                return _control_json(201, {"fault": asdict(fault)})
            if route == ("GET", "/_fake/faults"):
                return _control_json(200, {"faults": [asdict(f) for f in self.faults.pending()]})
            if route == ("DELETE", "/_fake/faults"):
                self.faults.clear()
                return _control_json(200, {"faults": []})
            if route == ("POST", "/_fake/restate"):
                vendor = _vendor_field(payload)
                day = _day_field(payload, "day")
                org_id = payload.get("org_id")
                if org_id is not None and not isinstance(org_id, str):
                    raise ControlError("org_id must be a string or null", "org_id")
                report = payload.get("report")
                if report not in (None, *REPORTS):
                    raise ControlError("report must be costs, usage or null", "report")
                try:
                    revisions = self.restate(vendor, day, org_id, report)
                except KeyError as exc:
                    raise ControlError(str(exc.args[0]), "org_id") from None
                return _control_json(200, {"vendor": vendor, "day": day.isoformat(), "revisions": revisions})
            if route == ("POST", "/_fake/usage_lag"):
                vendor = _vendor_field(payload)
                day = _day_field(payload, "day")
                org_id = payload.get("org_id")
                if org_id is not None and not isinstance(org_id, str):
                    raise ControlError("org_id must be a string or null", "org_id")
                lagging = payload.get("lagging", True)
                if not isinstance(lagging, bool):
                    raise ControlError("lagging must be true or false", "lagging")
                unknown = sorted(set(payload) - {"vendor", "day", "org_id", "lagging"})
                if unknown:
                    raise ControlError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
                try:
                    revisions = self.lag_usage(vendor, day, org_id, lagging)
                except KeyError as exc:
                    raise ControlError(str(exc.args[0]), "org_id") from None
                return _control_json(
                    200, {"vendor": vendor, "day": day.isoformat(), "lagging": lagging, "revisions": revisions}
                )
            if route == ("GET", "/_fake/usage_lag"):
                return _control_json(200, {"lagging": self.lags()})
            if route == ("POST", "/_fake/paging"):
                size = payload.get("max_results_per_page")
                if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
                    raise ControlError(
                        "max_results_per_page must be a positive integer or null", "max_results_per_page"
                    )
                self.max_results_per_page = size
                return _control_json(200, {"max_results_per_page": size})
            if route == ("POST", "/_fake/reset"):
                self.reset()
                return _control_json(200, {"orgs": [o.summary() for o in self.orgs]})
            if route == ("POST", "/_fake/orgs"):
                org = self.add_org(_org_from(payload))
                return _control_json(201, {"org": org.summary()})
            if route == ("GET", "/_fake/orgs"):
                return _control_json(200, {"orgs": [o.summary() for o in self.orgs]})
            if route == ("GET", "/_fake/requests"):
                entries = self.log.entries
                return _control_json(
                    200, {"counts": self.log.counts_by_path(), "requests": [asdict(e) for e in entries]}
                )
            return _control_json(404, {"error": {"code": "not_found", "message": f"No such route: {' '.join(route)}"}})
        except ControlError as error:
            detail = {"code": "bad_request", "message": error.message}
            if error.field:
                detail["field"] = error.field
            return _control_json(400, {"error": detail})
        except (TypeError, ValueError) as error:
            return _control_json(400, {"error": {"code": "bad_request", "message": str(error)}})

    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        raw = request.get_data(cache=False)
        if not raw:
            return {}
        try:
            payload = json.loads(raw)
        except ValueError:
            raise ControlError("the body is not valid JSON", None) from None
        if not isinstance(payload, dict):
            raise ControlError("the body must be a JSON object", None)
        return payload


class ControlError(Exception):
    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _control_json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def _vendor_field(payload: dict[str, Any]) -> Vendor:
    vendor = payload.get("vendor")
    if vendor == "openai":
        return "openai"
    if vendor == "anthropic":
        return "anthropic"
    raise ControlError("vendor must be 'openai' or 'anthropic'", "vendor")


def _day_field(payload: dict[str, Any], name: str) -> date:
    value = payload.get(name)
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ControlError(f"{name} must be a date (YYYY-MM-DD)", name) from None


def _fault_knobs(payload: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(Fault)} - {"id", "hits"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise ControlError(f"unknown fault field(s): {', '.join(unknown)}", unknown[0])
    types: dict[str, tuple[type, ...]] = {
        "status": (int,),
        "times": (int,),
        "retry_after": (int,),
        "delay_s": (int, float),
        "vendor": (str,),
        "path": (str,),
        "org_id": (str,),
    }
    for name, value in payload.items():
        if value is None and name not in ("times", "delay_s"):
            continue
        if isinstance(value, bool) or not isinstance(value, types[name]):
            raise ControlError(f"{name} has the wrong type", name)
    return dict(payload)


def _org_from(payload: dict[str, Any]) -> FakeOrg:
    vendor = _vendor_field(payload)
    seed = payload.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ControlError("seed must be an integer", "seed")
    admin_key = payload.get("admin_key")
    if admin_key is not None and not isinstance(admin_key, str):
        raise ControlError("admin_key must be a string", "admin_key")
    org_id = payload.get("org_id") or ""
    if not isinstance(org_id, str):
        raise ControlError("org_id must be a string", "org_id")
    data_start = _day_field(payload, "data_start") if payload.get("data_start") else DEFAULT_DATA_START
    numbers = {}
    for name, default in (("owners", 3), ("max_decimals", 18)):
        value = payload.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ControlError(f"{name} must be an integer", name)
        numbers[name] = value
    unknown = sorted(set(payload) - {"vendor", "seed", "admin_key", "org_id", "data_start", *numbers})
    if unknown:
        raise ControlError(f"unknown org field(s): {', '.join(unknown)}", unknown[0])
    return new_org(vendor, seed, admin_key=admin_key, org_id=org_id, data_start=data_start, **numbers)
