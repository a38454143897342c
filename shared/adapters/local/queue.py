"""A durable run queue on a SQLite file, with Pub/Sub's delivery semantics.

- at least once: a pulled message is only leased; unless acknowledged before its ack deadline it
  is delivered again, so a worker that dies mid-run loses nothing;
- a nack (or a lease that expires) redelivers after an exponential backoff, like a subscription's
  retry policy;
- after ``max_delivery_attempts`` the message moves to the dead-letter topic, where it is kept.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.domain.runs import RunMessage

from .sqlite import SqliteDatabase

RUNS_TOPIC = "pipeline-runs"
DEAD_LETTER_TOPIC = "pipeline-runs-dead-letter"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,
    publish_time TEXT NOT NULL,
    delivery_attempt INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (topic, available_at);
"""


@dataclass(frozen=True)
class Delivery:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str
    delivery_attempt: int
    """1 on first delivery, as Pub/Sub counts it."""


class SqliteRunQueue:
    def __init__(
        self,
        path: Path,
        *,
        max_delivery_attempts: int = 5,
        min_backoff_s: float = 10,
        max_backoff_s: float = 600,
        ack_deadline_s: float = 600,
    ) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        self.max_delivery_attempts = max_delivery_attempts
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.ack_deadline_s = ack_deadline_s
        # Set on every publish from this process, so an in-process consumer (the local stack's push
        # delivery) starts at once instead of at its next poll. Publishes from other processes are
        # still found by polling.
        self._published = threading.Event()

    # -- publisher side (the RunQueue port) ------------------------------------------------
    def publish(self, message: RunMessage) -> str:
        return self.publish_raw(RUNS_TOPIC, message.to_json(), message.attributes())

    def publish_many(self, messages: Sequence[RunMessage]) -> list[str | Exception]:
        # one transaction for the batch: all in, or (on error) none, as each caller is told
        try:
            return list(self._insert(RUNS_TOPIC, [(m.to_json(), m.attributes()) for m in messages]))
        except Exception as exc:
            return [exc for _ in messages]

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        return self._insert(topic, [(data, attributes)])[0]

    def _insert(self, topic: str, items: Sequence[tuple[bytes, dict[str, str]]]) -> list[str]:
        publish_time = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        ids = [uuid.uuid4().hex for _ in items]
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO messages (message_id, topic, data, attributes, publish_time, available_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (message_id, topic, data, json.dumps(attributes), publish_time, time.time())
                    for message_id, (data, attributes) in zip(ids, items, strict=True)
                ],
            )
        self.notify()
        return ids

    def notify(self) -> None:
        """Wakes a consumer blocked in ``wait_for_publish``."""
        self._published.set()

    def wait_for_publish(self, timeout_s: float) -> bool:
        """Blocks until a publish in this process (or ``notify``), at most ``timeout_s``; True if woken.

        Every wait is followed by a pull, so a publish landing between the two is not missed.
        """
        woken = self._published.wait(timeout_s)
        self._published.clear()
        return woken

    # -- subscriber side (the local push delivery) ------------------------------------------
    def pull(self, max_messages: int = 10, topic: str = RUNS_TOPIC) -> list[Delivery]:
        """Leases up to ``max_messages`` ready messages for ``ack_deadline_s``."""
        now = time.time()
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM messages WHERE topic = ? AND available_at <= ? ORDER BY available_at, seq LIMIT ?",
                (topic, now, max_messages),
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE messages SET delivery_attempt = delivery_attempt + 1, available_at = ? WHERE seq = ?",
                    (now + self.ack_deadline_s, row["seq"]),
                )
        return [
            Delivery(
                message_id=row["message_id"],
                data=bytes(row["data"]),
                attributes=json.loads(row["attributes"]),
                publish_time=row["publish_time"],
                delivery_attempt=row["delivery_attempt"] + 1,
            )
            for row in rows
        ]

    def ack(self, message_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE message_id = ?", (message_id,))

    def nack(self, delivery: Delivery, not_before_s: float | None = None) -> bool:
        """Schedules a redelivery after the backoff, or after ``not_before_s`` if that is later (the
        worker knows when the run it found held will be free); returns True if the message was
        dead-lettered instead."""
        with self._db.transaction() as conn:
            if delivery.delivery_attempt >= self.max_delivery_attempts:
                conn.execute(
                    "UPDATE messages SET topic = ?, delivery_attempt = 0, available_at = ? WHERE message_id = ?",
                    (DEAD_LETTER_TOPIC, time.time(), delivery.message_id),
                )
                return True
            delay = min(self.max_backoff_s, self.min_backoff_s * 2 ** (delivery.delivery_attempt - 1))
            delay = max(delay, not_before_s or 0.0)
            conn.execute(
                "UPDATE messages SET available_at = ? WHERE message_id = ?", (time.time() + delay, delivery.message_id)
            )
        return False

    def depth(self, topic: str = RUNS_TOPIC) -> int:
        row = self._db.read().execute("SELECT COUNT(*) AS n FROM messages WHERE topic = ?", (topic,)).fetchone()
        return int(row["n"])

    def next_available_in(self, topic: str = RUNS_TOPIC) -> float | None:
        """Seconds until the next message of ``topic`` is deliverable (None when there is none)."""
        row = (
            self._db.read().execute("SELECT MIN(available_at) AS at FROM messages WHERE topic = ?", (topic,)).fetchone()
        )
        return None if row["at"] is None else max(0.0, row["at"] - time.time())

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self._db.read().execute(
            "SELECT message_id, data, attributes FROM messages WHERE topic = ? ORDER BY seq", (DEAD_LETTER_TOPIC,)
        )
        return [
            {
                "message_id": row["message_id"],
                "data": json.loads(row["data"]),
                "attributes": json.loads(row["attributes"]),
            }
            for row in rows
        ]
