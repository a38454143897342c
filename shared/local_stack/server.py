"""``serve``: every HTTP function behind one loopback port, plus the queue's push delivery.

Each Cloud Function is loaded exactly as production loads it (functions-framework's ``create_app``
on ``functions/<name>/main.py``); requests are routed to it by path prefix, as a load balancer
would. Queued runs are delivered to the execute function as Pub/Sub ``messagePublished``
CloudEvents over its HTTP interface: a 2xx acknowledges, anything else is redelivered with backoff,
and a message past its last attempt is dead-lettered and its run failed.

Everything here serves the process's application (``shared.application.current()``): the one the
CLI built and installed, or the tests' own.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

from shared import application, console, web
from shared.adapters.local.queue import Delivery, SqliteRunQueue
from shared.errors import NotFound
from shared.json_input import loads_untrusted
from shared.logs import get_logger
from shared.settings import PROJECT_ROOT

log = get_logger("local_stack")
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
ROUTE_PREFIXES = (
    ("/api/v1/pipelines/run/", "submit"),
    ("/api/v1/pipelines/backfill/", "submit"),
    ("/api/v1/pipelines/runs", "status"),
    ("/api/v1/pipelines/backfills/", "status"),
    ("/api/v1/focus/", "status"),
    ("/api/v1/scheduler/", "scheduler"),
    ("/api/v1/admin/", "admin"),
    ("/api/v1/integrations/", "admin"),
    ("/api/v1/costs/", "costs"),
    # last: the exact path /api/v1/pipelines (the catalog); longer paths matched above
    ("/api/v1/pipelines/", "costs"),
    ("/console/", "costs"),
)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_function(name: str) -> Any:
    import functions_framework

    return functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=name, source=str(FUNCTIONS_DIR / name / "main.py")
    )


class ApiGateway:
    """One WSGI app in front of the HTTP functions."""

    def __init__(self) -> None:
        from shared.local_stack import local_api

        self.functions = {name: load_function(name) for name in ("submit", "status", "admin", "scheduler", "costs")}
        self.local_routes: WsgiApp = local_api.app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return web.json_response({"status": "ok"})(environ, start_response)
        if path == "/openapi.yaml":
            return Response(OPENAPI.read_bytes(), mimetype="application/yaml")(environ, start_response)
        if path.startswith("/api/v1/local/"):
            return self.local_routes(environ, start_response)
        for prefix, name in ROUTE_PREFIXES:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                app: WsgiApp = self.functions[name]
                return app(environ, start_response)
        if path == "/":  # as the load balancer's url map does
            return Response(status=302, headers={"Location": console.PREFIX})(environ, start_response)
        return web.error_response(NotFound("No such route"))(environ, start_response)


def cloud_event_request(delivery: Delivery, project: str) -> tuple[dict[str, str], bytes]:
    """A Pub/Sub ``messagePublished`` CloudEvent in binary content mode, as Eventarc sends it."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/pipeline-runs",
        "ce-id": delivery.message_id,
        "ce-time": delivery.publish_time,
        "Content-Type": "application/json",
    }
    body = {
        "message": {
            "data": base64.b64encode(delivery.data).decode(),
            "attributes": delivery.attributes,
            "messageId": delivery.message_id,
            "publishTime": delivery.publish_time,
        },
        "subscription": f"projects/{project}/subscriptions/pipeline-runs-execute",
        "deliveryAttempt": delivery.delivery_attempt,
    }
    return headers, json.dumps(body).encode()


class PushDelivery:
    """Pulls the local queue and pushes each message to the execute function."""

    def __init__(
        self,
        queue: SqliteRunQueue,
        project: str,
        on_dead_letter: Callable[[Delivery], None],
        execute_app: Any = None,
        poll_interval_s: float = 0.2,
    ) -> None:
        self.queue = queue
        self.project = project
        self.on_dead_letter = on_dead_letter
        self.client = (execute_app or load_function("execute")).test_client()
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.in_flight: str | None = None
        """The run id being delivered now, if any."""

    def deliver(self, delivery: Delivery) -> bool:
        """True if the function acknowledged the message."""
        headers, body = cloud_event_request(delivery, self.project)
        retry_after: float | None = None
        self.in_flight = delivery.attributes.get("run_id")
        try:
            response = self.client.post("/", headers=headers, data=body)
            acknowledged = bool(200 <= response.status_code < 300)
            if response.headers.get("Retry-After", "").isdigit():
                retry_after = float(response.headers["Retry-After"])
        except Exception as exc:  # the function crashed outright: same as a 500 for Pub/Sub
            log.error("execute function raised", exc_info=exc)
            acknowledged = False
        finally:
            self.in_flight = None
        if acknowledged:
            self.queue.ack(delivery.message_id)
        elif self.queue.nack(delivery, not_before_s=retry_after):
            log.error("message dead-lettered", extra={"run_id": delivery.attributes.get("run_id")})
            self.on_dead_letter(delivery)
        return acknowledged

    def drain_once(self, max_messages: int = 10) -> int:
        deliveries = self.queue.pull(max_messages)
        for delivery in deliveries:
            self.deliver(delivery)
        return len(deliveries)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                # one message at a time: on stop, the run in flight finishes and nothing else stays leased
                if self.drain_once(max_messages=1) == 0:
                    # woken by a publish in this process; the poll interval still bounds the wait
                    # for retries coming due and for publishes from other processes
                    self.queue.wait_for_publish(self.poll_interval_s)
            except Exception as exc:  # keep delivering; a broken poll must not end the worker
                log.error("delivery loop error", exc_info=exc)
                self._stop.wait(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="push-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = 30) -> None:
        """Stops pulling; the delivery in flight (a run executing) finishes first, for up to ``timeout_s``."""
        self._stop.set()
        self.queue.notify()
        if self._thread:
            self._thread.join(timeout=timeout_s)


def dead_letter_handler(delivery: Delivery) -> None:
    from shared.domain.runs import RunMessage
    from shared.services import execution

    try:
        message = RunMessage(**loads_untrusted(delivery.data))
    except (TypeError, ValueError):
        return
    execution.fail_undeliverable(application.current().backend, message, delivery.delivery_attempt)


class LocalScheduler:
    """Cloud Scheduler's part on one machine: fires each scheduled pipeline's cron, and the reaper
    every minute, by calling the scheduler function over HTTP with a signed token, as production does."""

    REAP_EVERY_S = 60.0

    def __init__(self, scheduler_app: Any = None, poll_interval_s: float = 15.0) -> None:
        self.client = (scheduler_app or load_function("scheduler")).test_client()
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, path: str, job: str, fired_at: datetime, body: dict[str, Any] | None = None) -> Any:
        from shared.domain.runs import iso

        token = application.current().local_scheduler_token()
        headers = {
            "Authorization": f"Bearer {token}",
            "X-CloudScheduler-JobName": job,
            "X-CloudScheduler-ScheduleTime": iso(fired_at),
        }
        return self.client.post(path, json=body or {}, headers=headers)

    def fire_due(self, after: datetime, until: datetime) -> int:
        """Ticks every scheduled pipeline whose cron fired in (after, until]; returns the firings."""
        from shared.pipelines.schedule import fire_times

        pipelines = application.current().pipelines
        fired = 0
        for ref in pipelines.scheduled():
            schedule = pipelines.load(ref).schedule
            assert schedule is not None
            for moment in fire_times(schedule, after, until):
                response = self._call("/api/v1/scheduler/tick", f"local-{ref.pipeline}", moment, {"pipeline": ref.path})
                log.info(f"scheduled tick for {ref.path}: HTTP {response.status_code}")
                fired += 1
            for moment in (
                fire_times(schedule, after, until, schedule.invoice_close_cron) if schedule.invoice_close_cron else []
            ):
                body = {"pipeline": ref.path, "invoice_close": True}
                response = self._call("/api/v1/scheduler/tick", f"local-{ref.pipeline}-invoice-close", moment, body)
                log.info(f"invoice-close tick for {ref.path}: HTTP {response.status_code}")
                fired += 1
        return fired

    def _loop(self) -> None:
        from shared.domain.runs import utcnow

        last_check, next_reap = utcnow(), time.monotonic()
        while not self._stop.wait(self.poll_interval_s if next_reap > time.monotonic() else 0):
            try:
                now = utcnow()
                self.fire_due(last_check, now)
                last_check = now
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + self.REAP_EVERY_S  # first: a failing reap must not spin
                    self._call("/api/v1/scheduler/reap", "local-reaper", now)
            except Exception as exc:  # keep the clock running
                log.error("local scheduler error", exc_info=exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)


VENDOR_BASE_SETTINGS = ("CLOUDACT_OPENAI_API_BASE", "CLOUDACT_ANTHROPIC_API_BASE")


class LocalVendors:
    """The local fakes of the vendors' admin APIs, started when no vendor base URL is set (so the
    OpenAI and Anthropic pipelines run with no account and no network); the settings point at
    them while they run and are put back after."""

    def __init__(self) -> None:
        import os

        self.server: Any = None
        self._saved: dict[str, str | None] = {}
        if not any(os.environ.get(name) for name in VENDOR_BASE_SETTINGS):
            from shared.local_stack.fakes import FakeServer

            self.server = FakeServer()

    @property
    def base_url(self) -> str | None:
        return str(self.server.base_url) if self.server is not None else None

    def start(self) -> None:
        import os

        if self.server is None:
            return
        self.server.start()
        for name, value in self.server.env.items():
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value

    def stop(self) -> None:
        import os

        if self.server is None:
            return
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()
        self.server.stop()


class LocalStack:
    """The HTTP server and the delivery worker, in background threads of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        from shared.local_stack.http_server import make_server
        from shared.local_stack.validation import require_valid

        app = application.current()
        settings = app.settings
        require_valid(settings.configs_dir)  # a broken pipeline file is refused now, not at its first run
        queue = app.backend.queue
        assert isinstance(queue, SqliteRunQueue), "the local stack runs on the local backend"
        self.gateway = ApiGateway()
        self.server = make_server(host, port, self.gateway, settings.max_body_bytes)
        self.delivery = PushDelivery(queue, settings.project, dead_letter_handler)
        self.scheduler = LocalScheduler(self.gateway.functions["scheduler"])
        self.vendors = LocalVendors()
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalStack:
        self.vendors.start()
        self._thread.start()
        self.delivery.start()
        self.scheduler.start()
        return self

    def stop(self, run_in_flight_timeout_s: float | None = 30) -> None:
        self.server.shutdown()
        self.scheduler.stop()
        self.delivery.stop(run_in_flight_timeout_s)
        self.vendors.stop()

    def busy(self) -> bool:
        """True while a queued run is being executed."""
        return self.delivery.in_flight is not None

    def wait(self) -> None:
        """Blocks until the server stops (Ctrl-C in `cloudact serve`)."""
        self._thread.join()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
