"""Vendor errors -> TransientError / TerminalError, as Google's own retry predicates classify them."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from shared.adapters.gcp.errors import (
    BIGQUERY_TRANSIENT_JOB_REASONS,
    BIGQUERY_TRANSIENT_REASONS,
    TRANSIENT_HTTP_STATUSES,
    is_retryable_grpc,
    is_transient,
    translate,
    translated,
)
from shared.errors import TerminalError, TransientError


def bigquery_error(status: int, reason: str) -> api.GoogleAPICallError:
    error: api.GoogleAPICallError = api.from_http_status(status, "m", errors=[{"reason": reason, "message": "m"}])
    return error


@pytest.mark.parametrize(
    "exc, transient",
    [
        # a structured BigQuery reason decides, whatever the status (retry.py)
        (bigquery_error(403, "rateLimitExceeded"), True),
        (bigquery_error(500, "backendError"), True),
        (bigquery_error(500, "internalError"), True),
        (bigquery_error(502, "badGateway"), True),
        (bigquery_error(400, "jobBackendError"), True),
        (bigquery_error(403, "quotaExceeded"), False),  # a daily quota: not in a minute
        (bigquery_error(400, "invalidQuery"), False),
        (bigquery_error(400, "bytesBilledLimitExceeded"), False),
        (bigquery_error(503, "accessDenied"), False),
        (bigquery_error(404, "notFound"), False),
        # no reason: the HTTP status
        (api.TooManyRequests("m"), True),
        (api.InternalServerError("m"), True),
        (api.BadGateway("m"), True),
        (api.ServiceUnavailable("m"), True),
        (api.GatewayTimeout("m"), False),
        (api.Forbidden("m"), False),
        # gRPC services
        (api.DeadlineExceeded("m"), True),
        (api.Aborted("m"), True),
        (api.ResourceExhausted("m"), True),
        (api.PermissionDenied("m"), False),
        (api.InvalidArgument("m"), False),
        (api.AlreadyExists("m"), False),
        (api.FailedPrecondition("m"), False),
        # the client gave up retrying; transport and auth failures
        (api.RetryError("deadline", cause=api.ServiceUnavailable("m")), True),
        (requests.exceptions.ConnectionError("refused"), True),
        (requests.exceptions.SSLError("bad certificate"), False),
        (auth.TransportError("metadata server"), True),
        (auth.RefreshError("invalid_grant"), False),
        (TimeoutError(), True),
    ],
)
def test_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
    assert isinstance(translate(exc, "op"), TransientError if transient else TerminalError)


def test_details_are_kept_or_withheld_as_asked() -> None:
    exc = api.NotFound("documents/api_keys/5e3b…")
    assert "api_keys" in translate(exc, "read").message
    assert translate(exc, "read", show_detail=False).message == "read (NotFound)"


def test_only_vendor_errors_are_translated() -> None:
    with pytest.raises(TransientError) as raised, translated("call"):
        raise api.ServiceUnavailable("down")
    assert isinstance(raised.value.__cause__, api.ServiceUnavailable)
    with pytest.raises(KeyError), translated("call"):  # a bug stays a bug
        raise KeyError("x")
    with pytest.raises(TerminalError, match=r"^ours$"), translated("call"):  # ours pass unchanged
        raise TerminalError("ours")


# -- the hand copy of google-cloud-bigquery's retry.py, pinned against the installed library ------
def test_the_bigquery_reason_sets_are_the_installed_librarys() -> None:
    from google.cloud.bigquery import retry as bigquery_retry

    assert frozenset(bigquery_retry._RETRYABLE_REASONS) == BIGQUERY_TRANSIENT_REASONS
    assert frozenset(bigquery_retry.job_retry_reasons) == BIGQUERY_TRANSIENT_JOB_REASONS
    unstructured_statuses = {
        kind.code
        for kind in bigquery_retry._UNSTRUCTURED_RETRYABLE_TYPES
        if isinstance(getattr(kind, "code", None), int)
    }
    assert unstructured_statuses == TRANSIENT_HTTP_STATUSES


def test_bigquery_errors_are_transient_exactly_when_the_library_would_retry_them() -> None:
    from google.cloud.bigquery import retry as bigquery_retry

    def library_retries(exc: BaseException) -> bool:
        return bool(bigquery_retry._should_retry(exc) or bigquery_retry._job_should_retry(exc))

    reasons = {*bigquery_retry._RETRYABLE_REASONS, *bigquery_retry.job_retry_reasons}
    structured = [
        bigquery_error(status, reason)
        for reason in [*reasons, "quotaExceeded", "invalidQuery", "accessDenied", "notFound"]
        for status in (400, 403, 500, 503)
    ]
    unstructured = [
        kind("m")
        for kind in bigquery_retry._UNSTRUCTURED_RETRYABLE_TYPES + bigquery_retry._UNSTRUCTURED_NON_RETRYABLE_TYPES
    ]
    others = [api.GatewayTimeout("m"), api.Forbidden("m"), api.NotFound("m"), api.BadRequest("m")]
    for exc in [*structured, *unstructured, *others]:
        assert is_transient(exc) is library_retries(exc), exc


@pytest.mark.parametrize(
    "exc, retryable",
    [
        (api.ServiceUnavailable("m"), True),
        (api.DeadlineExceeded("m"), True),
        (api.Aborted("m"), True),
        (api.ResourceExhausted("m"), True),
        (api.InternalServerError("m"), True),
        (api.PermissionDenied("m"), False),
        (api.InvalidArgument("m"), False),
        (api.NotFound("m"), False),
        (api.FailedPrecondition("m"), False),
        (api.TooManyRequests("m"), False),  # an HTTP status, no gRPC code: not a gRPC call's failure
        (ValueError("ours"), False),
    ],
)
def test_the_grpc_retry_predicate(exc: BaseException, retryable: bool) -> None:
    # the one predicate the Firestore, Pub/Sub and KMS clients retry with
    assert is_retryable_grpc(exc) is retryable
