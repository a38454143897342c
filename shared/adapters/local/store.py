"""Store on a SQLite file.

Each record is kept whole as JSON, with the fields that conditions and queries need copied into
columns. A partial unique index enforces "one active run per dedupe key" inside the database, so
two concurrent submits cannot both win.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shared.adapters.page_tokens import decode_page_token, encode_page_token
from shared.domain.api_keys import ApiKeyRecord
from shared.domain.integrations import Integration
from shared.domain.orgs import Organization
from shared.domain.runs import Run, RunStatus
from shared.ports import DuplicateRun, OrgAtCapacity, RunFilter, RunPage

from .sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (slug TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, org_slug TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_by_org ON api_keys (org_slug);
CREATE TABLE IF NOT EXISTS integrations (
    org_slug TEXT NOT NULL, integration_type TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (org_slug, integration_type)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    org_slug TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    trigger_key TEXT,
    parent_id TEXT,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_run ON runs (dedupe_key) WHERE status IN ('PENDING', 'RUNNING');
CREATE UNIQUE INDEX IF NOT EXISTS one_run_per_trigger ON runs (trigger_key) WHERE trigger_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_dedupe_key ON runs (dedupe_key, status);
CREATE INDEX IF NOT EXISTS runs_by_org_time ON runs (org_slug, requested_at DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, requested_at);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    # -- orgs -------------------------------------------------------------------------------
    def create_org(self, org: Organization) -> bool:
        with self._db.transaction() as conn:
            try:
                conn.execute("INSERT INTO orgs VALUES (?, ?)", (org.slug, json.dumps(asdict(org))))
            except sqlite3.IntegrityError:
                return False
        return True

    def get_org(self, slug: str) -> Organization | None:
        row = self._db.read().execute("SELECT body FROM orgs WHERE slug = ?", (slug,)).fetchone()
        return Organization(**json.loads(row["body"])) if row else None

    def list_orgs(self) -> list[Organization]:
        rows = self._db.read().execute("SELECT body FROM orgs ORDER BY slug").fetchall()
        return [Organization(**json.loads(row["body"])) for row in rows]

    # -- api keys ---------------------------------------------------------------------------
    def add_api_key(self, record: ApiKeyRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?)",
                (record.key_hash, record.key_id, record.org_slug, json.dumps(asdict(record))),
            )

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        row = self._db.read().execute("SELECT body FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return ApiKeyRecord(**json.loads(row["body"])) if row else None

    def list_api_keys(self, org_slug: str) -> list[ApiKeyRecord]:
        rows = self._db.read().execute("SELECT body FROM api_keys WHERE org_slug = ?", (org_slug,)).fetchall()
        records = [ApiKeyRecord(**json.loads(row["body"])) for row in rows]
        return sorted(records, key=lambda record: record.created_at)

    def revoke_api_key(self, org_slug: str, key_id: str, revoked_at: str) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT key_hash, body FROM api_keys WHERE key_id = ? AND org_slug = ?", (key_id, org_slug)
            ).fetchone()
            if row is None:
                return False
            body = json.loads(row["body"])
            if body["revoked_at"] is None:
                body["revoked_at"] = revoked_at
                conn.execute("UPDATE api_keys SET body = ? WHERE key_hash = ?", (json.dumps(body), row["key_hash"]))
        return True

    # -- integrations -----------------------------------------------------------------------
    def put_integration(self, integration: Integration) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO integrations VALUES (?, ?, ?)",
                (integration.org_slug, integration.integration_type, json.dumps(asdict(integration))),
            )

    def get_integration(self, org_slug: str, integration_type: str) -> Integration | None:
        row = (
            self._db.read()
            .execute(
                "SELECT body FROM integrations WHERE org_slug = ? AND integration_type = ?",
                (org_slug, integration_type),
            )
            .fetchone()
        )
        return Integration(**json.loads(row["body"])) if row else None

    def list_integrations(self, org_slug: str) -> list[Integration]:
        rows = (
            self._db.read()
            .execute("SELECT body FROM integrations WHERE org_slug = ? ORDER BY integration_type", (org_slug,))
            .fetchall()
        )
        return [Integration(**json.loads(row["body"])) for row in rows]

    def delete_integration(self, org_slug: str, integration_type: str) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM integrations WHERE org_slug = ? AND integration_type = ?", (org_slug, integration_type)
            )
        return cursor.rowcount > 0

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, run: Run) -> None:
        with self._db.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.run_id,
                        run.org_slug,
                        run.pipeline_id,
                        str(run.status),
                        run.requested_at,
                        run.dedupe_key,
                        run.trigger_key,
                        run.parent_id,
                        json.dumps(run.to_record()),
                    ),
                )
                return
            except sqlite3.IntegrityError:
                row = conn.execute(
                    "SELECT body FROM runs WHERE trigger_key = ?"
                    " UNION ALL SELECT body FROM runs WHERE dedupe_key = ? AND status IN ('PENDING', 'RUNNING')",
                    (run.trigger_key, run.dedupe_key),
                ).fetchone()
        if row is None:  # the id itself collided: UUID4, so only a replayed insert gets here
            raise DuplicateRun(run)
        raise DuplicateRun(Run.from_record(json.loads(row["body"])))

    def get_run(self, run_id: str) -> Run | None:
        row = self._db.read().execute("SELECT body FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return Run.from_record(json.loads(row["body"])) if row else None

    def _write(self, conn: sqlite3.Connection, run: Run) -> None:
        conn.execute(
            "UPDATE runs SET status = ?, body = ? WHERE run_id = ?",
            (str(run.status), json.dumps(run.to_record()), run.run_id),
        )

    def claim_run(
        self, run_id: str, claim_token: str, now: str, lease_expires_at: str, max_running: int | None = None
    ) -> Run | None:
        # BEGIN IMMEDIATE holds the write lock: the count and the claim are one step
        with self._db.transaction() as conn:
            row = conn.execute("SELECT body FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            run = Run.from_record(json.loads(row["body"]))
            claimed = run.claimed(claim_token, now, lease_expires_at)
            if claimed is not None and max_running is not None and run.status is RunStatus.PENDING:
                running = conn.execute(
                    "SELECT COUNT(*) AS n FROM runs WHERE org_slug = ? AND status = 'RUNNING'", (run.org_slug,)
                ).fetchone()
                if int(running["n"]) >= max_running:
                    raise OrgAtCapacity(run.org_slug)
            if claimed is not None:
                self._write(conn, claimed)
        return claimed

    def update_run(
        self, run_id: str, *, expected_status: RunStatus, claim_token: str | None, changes: Mapping[str, Any]
    ) -> Run | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT body FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            updated = Run.from_record(json.loads(row["body"])).updated(expected_status, claim_token, changes)
            if updated is not None:
                self._write(conn, updated)
        return updated

    def list_runs(self, query: RunFilter) -> RunPage:
        sql = "SELECT requested_at, run_id, body FROM runs WHERE org_slug = ?"
        args: list[Any] = [query.org_slug]
        if query.pipeline_id:
            sql += " AND pipeline_id = ?"
            args.append(query.pipeline_id)
        if query.status:
            sql += " AND status = ?"
            args.append(str(query.status))
        if query.parent_id:
            sql += " AND parent_id = ?"
            args.append(query.parent_id)
        if query.page_token:
            after_time, after_id = decode_page_token(query.page_token)
            sql += " AND (requested_at < ? OR (requested_at = ? AND run_id < ?))"
            args += [after_time, after_time, after_id]
        sql += " ORDER BY requested_at DESC, run_id DESC LIMIT ?"
        args.append(query.page_size + 1)
        rows = self._db.read().execute(sql, args).fetchall()
        runs = [Run.from_record(json.loads(row["body"])) for row in rows[: query.page_size]]
        token = None
        if len(rows) > query.page_size:
            last = rows[query.page_size - 1]
            token = encode_page_token(last["requested_at"], last["run_id"])
        return RunPage(runs=runs, next_page_token=token)

    def last_complete_run(self, dedupe_key: str) -> Run | None:
        row = (
            self._db.read()
            .execute(
                "SELECT body FROM runs WHERE dedupe_key = ? AND status = 'COMPLETE'"
                " ORDER BY json_extract(body, '$.end_time') DESC LIMIT 1",
                (dedupe_key,),
            )
            .fetchone()
        )
        return Run.from_record(json.loads(row["body"])) if row else None

    def count_running(self, org_slug: str) -> int:
        row = (
            self._db.read()
            .execute("SELECT COUNT(*) AS n FROM runs WHERE org_slug = ? AND status = 'RUNNING'", (org_slug,))
            .fetchone()
        )
        return int(row["n"])

    def find_stale_runs(self, lease_expired_before: str, requested_before: str, limit: int = 500) -> list[Run]:
        rows = (
            self._db.read()
            .execute(
                "SELECT body FROM runs WHERE (status = 'RUNNING' AND json_extract(body, '$.lease_expires_at') < ?)"
                " OR (status = 'PENDING' AND requested_at < ?) ORDER BY requested_at LIMIT ?",
                (lease_expired_before, requested_before, limit),
            )
            .fetchall()
        )
        return [Run.from_record(json.loads(row["body"])) for row in rows]
