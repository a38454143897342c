"""Google Cloud exceptions -> ``shared.errors``: transient (retry later) or terminal (don't).

Callers never see a vendor type. The classification mirrors the client libraries' own retry
predicates, so "transient" here means exactly what Google's clients would have retried:

- BigQuery (REST): ``google/cloud/bigquery/retry.py``. A structured error's ``reason`` decides
  when there is one; only unstructured failures fall back to the HTTP status / exception type.
- gRPC services (Firestore, Pub/Sub, Cloud KMS): the status codes that ``google.api_core``'s
  default retry settings of those services treat as retryable.

Retry budgets are data (``RetryPolicy``), kept short on purpose: a function invocation that runs
out of budget raises ``TransientError``, and Pub/Sub's redelivery with backoff is the outer retry.
Nothing here imports a vendor library at module import time; the functions below only run once a
vendor exception exists, so its library is already loaded by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shared.errors import CloudActError, TerminalError, TransientError

BIGQUERY_TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError", "badGateway"})
"""``retry.py``'s ``_RETRYABLE_REASONS``: the service, not the request, failed."""

BIGQUERY_TRANSIENT_JOB_REASONS = frozenset({"jobBackendError", "jobInternalError", "jobRateLimitExceeded"})
"""``retry.py``'s ``job_retry_reasons``: a job failed inside BigQuery; the client restarts such jobs."""

TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503})
"""``retry.py``'s unstructured retryable types (TooManyRequests, InternalServerError, BadGateway,
ServiceUnavailable), by status. 504 is not among them: a query that timed out server-side
usually times out again."""

TRANSIENT_GRPC_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED", "INTERNAL"})
"""UNAVAILABLE and DEADLINE_EXCEEDED: the call did not get through. ABORTED: a transaction lost a
race (Firestore retries it a few times itself; past that, later may still win). RESOURCE_EXHAUSTED:
a per-minute quota. INTERNAL: a backend fault, retried by Pub/Sub's and KMS's default policies."""

MAX_DETAIL_CHARS = 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff within one invocation: ``initial_s`` doubling (by ``multiplier``) up to
    ``maximum_s`` between attempts, giving up after ``deadline_s`` in all."""

    initial_s: float
    maximum_s: float
    multiplier: float
    deadline_s: float

    def to_retry(self, predicate: Any) -> Any:
        """A ``google.api_core`` Retry with this budget, retrying what ``predicate`` accepts."""
        from google.api_core.retry import Retry

        return Retry(
            predicate=predicate,
            initial=self.initial_s,
            maximum=self.maximum_s,
            multiplier=self.multiplier,
            timeout=self.deadline_s,
        )

    def applied_to(self, retry: Any) -> Any:
        """A library's own Retry (keeping its predicate: what to retry) with this budget."""
        return retry.with_delay(
            initial=self.initial_s, maximum=self.maximum_s, multiplier=self.multiplier
        ).with_timeout(self.deadline_s)


def _bigquery_reason(exc: BaseException) -> str | None:
    errors = getattr(exc, "errors", None)
    try:
        reason = errors[0]["reason"]  # type: ignore[index]
    except (IndexError, KeyError, TypeError):
        return None
    return reason if isinstance(reason, str) else None


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def _grpc_code_name(exc: BaseException) -> str | None:
    code = getattr(exc, "grpc_status_code", None)
    return getattr(code, "name", None)


def is_retryable_grpc(exc: BaseException) -> bool:
    """The retry predicate of the gRPC clients' calls (Firestore, Pub/Sub, Cloud KMS)."""
    return _grpc_code_name(exc) in TRANSIENT_GRPC_CODES


def is_vendor_error(exc: BaseException) -> bool:
    """Exceptions raised by Google's client stack (API, auth, transport), as opposed to our bugs."""
    if isinstance(exc, CloudActError):
        return False
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    module = type(exc).__module__
    return module.startswith(("google.", "grpc", "requests.", "urllib3."))


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later may succeed."""
    from google.api_core import exceptions as api

    if isinstance(exc, api.RetryError):
        # the client's own retry budget ran out on errors it judged retryable
        return True
    reason = _bigquery_reason(exc)
    if reason is not None:
        return reason in BIGQUERY_TRANSIENT_REASONS or reason in BIGQUERY_TRANSIENT_JOB_REASONS
    if isinstance(exc, api.GoogleAPICallError):
        # gRPC services set the status code; REST (BigQuery) errors only have the HTTP status
        return _grpc_code_name(exc) in TRANSIENT_GRPC_CODES or _status_code(exc) in TRANSIENT_HTTP_STATUSES
    from google.auth import exceptions as auth

    if isinstance(exc, auth.RefreshError):
        # a revoked or malformed key fails the same way every time, unless Google says otherwise
        return bool(getattr(exc, "retryable", False))
    if isinstance(exc, auth.TransportError | ConnectionError | TimeoutError):
        return True
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return False  # retry.py: persistent configuration or security problem
    return isinstance(
        exc,
        requests.exceptions.ConnectionError | requests.exceptions.Timeout | requests.exceptions.ChunkedEncodingError,
    )


def _detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)[:MAX_DETAIL_CHARS]


def translate(exc: BaseException, what: str, *, show_detail: bool = True) -> CloudActError:
    """The project error for a vendor exception.

    ``show_detail`` puts the vendor's message into ours; services whose messages might carry
    document ids or key names (the store, the key manager) pass False and keep only the type.
    """
    kind = type(exc).__name__
    message = f"{what}: {_detail(exc)}" if show_detail else f"{what} ({kind})"
    if is_transient(exc):
        return TransientError(message)
    return TerminalError(message)


@contextmanager
def translated(what: str, *, show_detail: bool = True) -> Iterator[None]:
    """Re-raises vendor exceptions as project errors; everything else (our own errors, bugs) passes."""
    try:
        yield
    except Exception as exc:
        if not is_vendor_error(exc):
            raise
        raise translate(exc, what, show_detail=show_detail) from exc
