"""What a hostile client can send that a well-behaved one never does: JSON nested a thousand deep,
bodies far past the limit in any framing, broken framing, an over-long path. Each gets a 4xx in the
API's JSON shape, the server reads no more than the limit, and its log stays one line per refusal."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from typing import Any

import pytest

from bench.common import peak_rss_mb
from shared.json_input import MAX_DEPTH, UntrustedJsonError, loads_untrusted, nesting_depth
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, YESTERDAY, StackProcess, Tenant, function_client, pubsub_cloud_event

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
RUN_PATH = "/api/v1/pipelines/run/acmecorp/gcp/cost/billing"
POST_HEAD = f"POST {RUN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_the_untrusted_parser_refuses_depth_and_garbage_with_one_error_type() -> None:
    assert loads_untrusted('{"a": [1, {"b": "[[[[{{{{"}]}') == {"a": [1, {"b": "[[[[{{{{"}]}
    assert loads_untrusted(b'"\\"[[[["') == '"[[[['  # brackets inside strings, escaped quotes, do not count
    assert nesting_depth("[" * MAX_DEPTH + "]" * MAX_DEPTH, MAX_DEPTH) == MAX_DEPTH
    loads_untrusted("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    for bad in (DEEP, DEEP_OBJECT, "[" * 100_000, b"\xff\xfe", "{", "1" * 5000, ""):
        with pytest.raises(UntrustedJsonError):
            loads_untrusted(bad)
    assert issubclass(UntrustedJsonError, ValueError)  # callers catching ValueError keep working


def test_deep_json_is_a_400_wherever_a_client_can_put_it(tenant: Tenant) -> None:
    submit = function_client("submit")
    response = submit.post(RUN_PATH, data=DEEP, content_type="application/json", headers=tenant.headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"

    token = base64.urlsafe_b64encode(DEEP.encode()).decode()
    listed = function_client("status").get(
        "/api/v1/pipelines/runs", query_string={"page_token": token}, headers=tenant.headers
    )
    assert listed.status_code == 400 and listed.get_json()["error"]["field"] == "page_token"

    credential = function_client("admin").put(
        "/api/v1/integrations/acmecorp/gcp",
        json={"credential": DEEP_OBJECT, "billing_export_table": "a-b.c.d"},
        headers=tenant.headers,
    )
    assert credential.status_code == 400 and credential.get_json()["error"]["field"] == "credential"

    admin = function_client("admin").post(
        "/api/v1/admin/orgs", data=DEEP_OBJECT, content_type="application/json", headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert admin.status_code == 400

    # a scheduler token whose header is nested deep: the JWT library parses it before any check
    header = base64.urlsafe_b64encode(DEEP_OBJECT.encode()).decode().rstrip("=")
    tick = function_client("scheduler").post(
        "/api/v1/scheduler/tick", json={}, headers={"Authorization": f"Bearer {header}.e30.c2ln"}
    )
    assert tick.status_code == 401


def test_deep_json_off_the_queue_is_dropped_not_crashed(tenant: Tenant) -> None:
    headers, body = pubsub_cloud_event(DEEP.encode())
    assert function_client("execute").post("/", headers=headers, data=body).status_code == 200
    import functions_framework

    from shared.settings import PROJECT_ROOT

    push = functions_framework.create_app(
        target="execute_push", source=str(PROJECT_ROOT / "functions" / "execute" / "main.py")
    ).test_client()  # the entry point the deployed push subscription calls
    envelope = '{"message": ' * 3000 + "1" + "}" * 3000
    assert push.post("/", data=envelope, content_type="application/json").status_code in (200, 204)


def test_a_stored_credential_that_is_not_json_fails_the_run_not_the_worker(tenant: Tenant) -> None:
    from dataclasses import replace

    from shared.domain.integrations import associated_data
    from shared.errors import TerminalError
    from shared.services import integrations

    store = tenant.backend.store
    stored = store.get_integration("acmecorp", "GCP_SA")
    assert stored is not None
    sealed = tenant.backend.keys.encrypt(DEEP.encode(), associated_data("acmecorp", "GCP_SA"))
    store.put_integration(replace(stored, encrypted_credential=sealed))
    with pytest.raises(TerminalError, match="not readable JSON"):
        integrations.unseal(tenant.backend, "acmecorp", "GCP_SA")


# -- over real HTTP, against the local stack in its own process --------------------------------


def _exchange(url: str, head: bytes, body_chunks: Any = (), read_timeout: float = 30.0) -> tuple[bytes, int]:
    """Sends ``head`` then the chunks (while reading the answer, as a client would); returns the
    answer and how many body bytes the server let the client send before it closed."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(head)
    sent = [0]

    def send() -> None:
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:  # the server closed: what a refused upload looks like to its client
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sock.settimeout(read_timeout)
    answer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    sender.join(timeout=read_timeout)
    sock.close()
    return answer, sent[0]


def _status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


def _chunked(total: int, chunk: int = 1024 * 1024) -> Any:
    payload = b"x" * chunk
    frame = f"{chunk:x}\r\n".encode() + payload + b"\r\n"
    for _ in range(total // chunk):
        yield frame
    yield b"0\r\n\r\n"


@pytest.mark.slow
def test_a_600_mib_chunked_upload_without_a_key_is_refused_at_the_limit_in_flat_memory(
    stack_process: StackProcess, settings: Settings
) -> None:
    stack = stack_process.start()
    ok, _ = _exchange(stack.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b" 200 " in ok.split(b"\r\n")[0]
    before = peak_rss_mb(stack.pid)

    head = (
        f"POST {RUN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    started = time.monotonic()
    answer, sent = _exchange(stack.url, head.encode(), _chunked(600 * 1024 * 1024))
    elapsed = time.monotonic() - started
    status, body = _status_and_json(answer)
    assert status == 413 and body["error"]["code"] == "payload_too_large"

    # a declared length far past the limit, no key: refused before a byte of it is read
    head = POST_HEAD + f"Content-Length: {600 * 1024 * 1024}\r\n\r\n"
    declared, declared_sent = _exchange(stack.url, head.encode(), _chunked(600 * 1024 * 1024))
    assert _status_and_json(declared)[0] == 413

    after = peak_rss_mb(stack.pid)
    print(
        f"\n600 MiB chunked upload without a key: answered 413 in {elapsed:.2f}s after the client got "
        f"{sent / 2**20:.1f} MiB into the socket; server peak RSS {before:.1f} -> {after:.1f} MiB "
        f"(+{after - before:.1f}); with a 600 MiB Content-Length: {declared_sent / 2**20:.1f} MiB sent"
    )
    # what the client managed to push is the kernel's socket buffers plus the server's bounded
    # budget, not the body; the server's memory does not grow with it
    assert sent < 64 * 1024 * 1024 and declared_sent < 64 * 1024 * 1024
    assert after - before < 32, (before, after)


def test_broken_framing_and_long_paths_get_json_400s_and_one_log_line(stack_process: StackProcess) -> None:
    stack = stack_process.start()
    bad_chunk = POST_HEAD + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    short = POST_HEAD + "Content-Length: 100\r\n\r\n{}"
    for head, shut in ((bad_chunk, False), (short, True)):
        host, port = stack.url.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(head.encode())
        if shut:
            sock.shutdown(socket.SHUT_WR)  # the body ends before its Content-Length
        sock.settimeout(30)
        answer = b""
        while data := sock.recv(65536):
            answer += data
        sock.close()
        status, body = _status_and_json(answer)
        assert status == 400 and body["error"]["code"] == "invalid_request", body

    long_path, _ = _exchange(stack.url, f"GET /{'a' * 70_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, body = _status_and_json(long_path)
    assert status == 414 and body["error"]["code"] == "uri_too_long"

    stack_process.stop()
    log = stack_process.log_path.read_text()
    assert "Traceback" not in log and "Error on request" not in log
    refusals = [line for line in log.splitlines() if "request refused" in line]
    assert len(refusals) == 2, log[-2000:]


def test_a_chunked_body_within_the_limit_is_read_whole(stack_process: StackProcess, tenant: Tenant) -> None:
    from shared import application

    application.current().close()  # the stack process owns the warehouse file from here on
    stack = stack_process.start()
    body = json.dumps({"date": YESTERDAY.isoformat(), "force_refresh": True}).encode()
    head = (
        f"POST {RUN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: {tenant.api_key}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    frames = [f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:])] + [b"0\r\n\r\n"]
    answer, _ = _exchange(stack.url, head, frames)
    status, accepted = _status_and_json(answer)
    assert status == 202 and accepted["parameters"]["date"] == YESTERDAY.isoformat(), accepted
