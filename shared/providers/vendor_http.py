"""Reading a vendor's paginated admin API over HTTPS: every page, bounded retries, exact numbers.

- Every page is followed (``has_more`` / ``next_page``, passed back as ``page``).
- 429 and 5xx answers, timeouts and connection failures are transient: the call is retried, waiting
  what ``Retry-After`` asks (or a short backoff) while the retry budget lasts, then ``TransientError``
  gives the run back for redelivery (the budget bounds attempts and waits together, so a vendor
  that keeps timing out cannot hold a worker past its lease).
- 401/403 are terminal: the vendor refuses the organization's key, and asking again cannot help.
- JSON numbers are parsed as ``Decimal``: an amount is never a float, not even for a moment.
- The key travels in a header only; it is never part of a URL, a log line or an error message.

httpx is imported on first use, so importing this module costs a function's cold start nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from shared.errors import TerminalError, TransientError
from shared.logs import get_logger

log = get_logger("vendor_http")
MAX_PAGES = 1000
"""A cursor loop that never ends is a vendor bug; stop rather than run until the lease expires."""
MAX_BODY_CHARS = 64 * 1024 * 1024
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class VendorApi:
    label: str
    """How messages name the vendor: ``OpenAI rejected the organization admin key``."""
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    """Authentication and versioning headers (the admin key is in here: never logged)."""
    timeout_s: float = 30.0
    retry_budget_s: float = 60.0
    """How long one call may take, attempts and waits together, before the run is given back."""
    max_attempts: int = 6
    sleep: Callable[[float], None] = time.sleep


def parse_json(text: str) -> Any:
    """A vendor's JSON body with every non-integer number as an exact ``Decimal``."""
    if len(text) > MAX_BODY_CHARS:
        raise ValueError("response too large")
    try:
        value = json.loads(text, parse_float=Decimal)
    except RecursionError:  # json.loads recurses per nesting level: a hostile body must not crash the run
        raise ValueError("response nested too deeply") from None
    _check_depth(value, 0)
    return value


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError("response nested too deeply")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _vendor_message(body: Any) -> str:
    """The vendor's own short explanation of a refusal (both vendors: ``{"error": {"message"}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:300] if message else "no explanation given"


def get_json(api: VendorApi, client: Any, path: str, params: Sequence[tuple[str, str]]) -> Any:
    """One GET, retried while transient and within the budget."""
    import httpx

    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        problem: str
        delay: float | None = None
        try:
            response = client.get(path, params=list(params))
        except httpx.TimeoutException:
            problem = "timed out"
        except httpx.TransportError as exc:
            problem = f"connection failed ({type(exc).__name__})"
        else:
            status = response.status_code
            if status in (401, 403):
                raise TerminalError(f"{api.label} rejected the organization admin key")
            if status == 429 or status >= 500:
                problem = f"answered HTTP {status}"
                delay = _retry_after(response.headers.get("Retry-After"))
            elif status >= 400:
                try:
                    explanation = _vendor_message(parse_json(response.text))
                except ValueError:
                    explanation = "no explanation given"
                raise TerminalError(f"{api.label} refused the request (HTTP {status}): {explanation}")
            else:
                try:
                    return parse_json(response.text)
                except ValueError as exc:  # asking again would get the same document
                    raise TerminalError(f"{api.label} sent an unreadable answer: {exc}") from None
        delay = delay if delay is not None else min(2.0 ** (attempt - 1) * 0.5, 8.0)
        if attempt >= api.max_attempts or time.monotonic() - started + delay > api.retry_budget_s:
            raise TransientError(f"{api.label} API unavailable: {problem} ({attempt} attempts)")
        log.warning(f"{api.label} API {problem}; retrying in {delay:.1f}s")
        api.sleep(delay)


def fetch_buckets(api: VendorApi, path: str, params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every bucket of every page of ``path`` for ``params`` (the vendors' page envelope:
    ``data``, ``has_more``, ``next_page``)."""
    import httpx

    buckets: list[dict[str, Any]] = []
    timeout = httpx.Timeout(api.timeout_s, connect=min(api.timeout_s, 10.0))
    with httpx.Client(base_url=api.base_url, headers=dict(api.headers), timeout=timeout) as client:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = get_json(api, client, path, [*params, *([("page", cursor)] if cursor else [])])
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise TerminalError(f"{api.label} answered {path} without a page of data")
            buckets.extend(bucket for bucket in page["data"] if isinstance(bucket, dict))
            cursor = page.get("next_page")
            if not page.get("has_more"):
                return buckets
            if not isinstance(cursor, str) or not cursor:
                raise TerminalError(f"{api.label} said more pages follow but gave no next_page cursor")
    raise TerminalError(f"{api.label} kept paginating past {MAX_PAGES} pages")
