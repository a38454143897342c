"""Store on Firestore (native mode, ``google-cloud-firestore``).

Collections, one document per record, fields as the domain's records spell them:

- ``orgs/{org_slug}``
- ``api_keys/{key_hash}``: the SHA-256 of the key is the id, so authentication is one get
- ``integrations/{org_slug}:{integration_type}``
- ``runs/{run_id}``
- ``run_locks/{dedupe_key}``: ``{"run_id"}`` of the one PENDING or RUNNING run with that dedupe
  key. ``create_run`` checks and takes it in the same transaction that creates the run;
  ``update_run`` deletes it in the transaction that makes the run COMPLETE or FAILED. Together
  they keep the SQLite store's rule (a partial unique index): at most one active run per key.
- ``run_triggers/{sha256(trigger_key)}``: ``{"run_id", "trigger_key"}``, never deleted: one run
  per trigger key, ever.

Transitions (``claim_run``, ``update_run``) are Firestore transactions doing the same
compare-and-set as ``SqliteStore``: read the run, check status and claim, write it whole.

Composite indexes: Terraform declares exactly ``RUN_INDEXES``, and every query below stays within
them. Equality filters on two of ``pipeline_id`` / ``status`` / ``parent_id`` at once are served by
Firestore's index merging of the single-filter indexes (they share the ``requested_at DESC,
__name__ DESC`` suffix); equality-only queries (``count_running``) by merging the automatic
single-field indexes.

- runs: org_slug ASC, requested_at DESC, __name__ DESC
- runs: org_slug ASC, pipeline_id ASC, requested_at DESC, __name__ DESC
- runs: org_slug ASC, status ASC, requested_at DESC, __name__ DESC
- runs: org_slug ASC, parent_id ASC, requested_at DESC, __name__ DESC
- runs: dedupe_key ASC, status ASC, end_time DESC (``last_complete_run``)
- runs: status ASC, lease_expires_at ASC (the reaper: expired RUNNING runs)
- runs: status ASC, requested_at ASC (the reaper: PENDING runs never delivered)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, TypeVar

from shared.adapters.page_tokens import decode_page_token, encode_page_token
from shared.domain.api_keys import ApiKeyRecord
from shared.domain.integrations import Integration
from shared.domain.orgs import Organization
from shared.domain.runs import ACTIVE, TERMINAL, Run, RunStatus, parse_iso
from shared.errors import TransientError
from shared.ports import DuplicateRun, OrgAtCapacity, RunFilter, RunPage

from ._clients import LazyClient
from .errors import RetryPolicy, is_retryable_grpc, translated

T = TypeVar("T")

ORGS, API_KEYS, INTEGRATIONS, RUNS = "orgs", "api_keys", "integrations", "runs"
RUNNING_SLOTS = "org_running_runs"
"""One document per org: the ids of its runs claimed RUNNING, for the per-org running limit."""
RUN_LOCKS, RUN_TRIGGERS = "run_locks", "run_triggers"
EXPIRES_AT = "expire_at"

STORE_RETRY = RetryPolicy(initial_s=0.1, maximum_s=2.0, multiplier=2.0, deadline_s=15.0)
"""Reads and writes are single-digit milliseconds; 15 s of retries rides out a blip, and anything
longer should reach the caller as a 503 (submit) or a redelivery (execute), not hang a request.
Transactions' begin and commit keep the client's own policy (no per-call setting exists)."""

STORE_RPC_TIMEOUT_S = 10.0

MAX_TRANSACTION_ATTEMPTS = 5
"""A transaction that lost a race is retried by the client this many times in all (the library's
default), each time re-reading; past that the caller gets ``TransientError``."""


@dataclass(frozen=True)
class IndexField:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class CompositeIndex:
    collection: str
    fields: tuple[IndexField, ...]


def _index(*fields: str) -> CompositeIndex:
    return CompositeIndex(
        RUNS, tuple(IndexField(f.removesuffix(" DESC"), descending=f.endswith(" DESC")) for f in fields)
    )


RUN_INDEXES = (
    _index("org_slug", "requested_at DESC", "__name__ DESC"),
    _index("org_slug", "pipeline_id", "requested_at DESC", "__name__ DESC"),
    _index("org_slug", "status", "requested_at DESC", "__name__ DESC"),
    _index("org_slug", "parent_id", "requested_at DESC", "__name__ DESC"),
    _index("dedupe_key", "status", "end_time DESC"),
    _index("status", "lease_expires_at"),
    _index("status", "requested_at"),
)
"""The composite indexes of the ``runs`` collection (see the module docstring)."""


def _run_document(run: Run, retention: timedelta) -> dict[str, Any]:
    # through JSON: tuples (steps) become lists, which is what Firestore stores
    record: dict[str, Any] = json.loads(json.dumps(run.to_record()))
    if run.status in TERMINAL and run.end_time:
        # Firestore's TTL policy (terraform/firestore.tf) deletes the record after this timestamp;
        # the warehouse's run history keeps the run for analytics
        record[EXPIRES_AT] = parse_iso(run.end_time) + retention
    return record


def _run(fields: Mapping[str, Any] | None) -> Run:
    record = dict(fields or {})
    record.pop(EXPIRES_AT, None)
    return Run.from_record(record)


def _trigger_document_id(trigger_key: str) -> str:
    # a trigger key is free text (may hold "/"); its digest is always a valid document id
    return hashlib.sha256(trigger_key.encode()).hexdigest()


class FirestoreStore:
    def __init__(
        self,
        project: str,
        *,
        database: str = "(default)",
        retry: RetryPolicy = STORE_RETRY,
        run_retention: timedelta = timedelta(days=400),
    ) -> None:
        self.project = project
        self.database = database
        self.run_retention = run_retention
        self._retry = retry
        self._call: dict[str, Any] = {}
        """Every RPC's ``retry`` and ``timeout``; filled with the client (it needs google.api_core)."""
        self._client: LazyClient[Any] = LazyClient(self._new_client)

    # -- plumbing ---------------------------------------------------------------------------
    def _new_client(self) -> Any:
        from google.cloud import firestore

        self._call.update(
            retry=self._retry.to_retry(is_retryable_grpc),
            timeout=min(STORE_RPC_TIMEOUT_S, self._retry.deadline_s),
        )
        with translated("State store client could not be created", show_detail=False):
            return firestore.Client(project=self.project, database=self.database)

    def _db(self) -> Any:
        return self._client.get()

    def _collection(self, name: str) -> Any:
        return self._db().collection(name)

    def _in_transaction(self, body: Callable[[Any], T]) -> T:
        """Runs ``body(transaction)`` in a transaction, retried by the client when it loses a race."""
        from google.api_core.exceptions import Aborted
        from google.cloud import firestore

        transaction = self._db().transaction(max_attempts=MAX_TRANSACTION_ATTEMPTS)
        try:
            with translated("State store transaction failed", show_detail=False):
                return firestore.transactional(body)(transaction)  # type: ignore[no-any-return]
        except ValueError as exc:
            # the client's way of saying "aborted on every attempt": contention, so later may win
            if isinstance(exc.__cause__, Aborted):
                raise TransientError("State store busy; retry") from exc
            raise

    def close(self) -> None:
        self._client.close(lambda client: client.close())

    # -- orgs -------------------------------------------------------------------------------
    def create_org(self, org: Organization) -> bool:
        from google.api_core.exceptions import AlreadyExists

        with translated("State store write failed", show_detail=False):
            try:
                self._collection(ORGS).document(org.slug).create(asdict(org), **self._call)
            except AlreadyExists:
                return False
        return True

    def get_org(self, slug: str) -> Organization | None:
        with translated("State store read failed", show_detail=False):
            snapshot = self._collection(ORGS).document(slug).get(**self._call)
        return Organization(**snapshot.to_dict()) if snapshot.exists else None

    def list_orgs(self) -> list[Organization]:
        with translated("State store read failed", show_detail=False):
            orgs = [Organization(**snapshot.to_dict()) for snapshot in self._collection(ORGS).stream(**self._call)]
        return sorted(orgs, key=lambda org: org.slug)

    # -- api keys ---------------------------------------------------------------------------
    def add_api_key(self, record: ApiKeyRecord) -> None:
        with translated("State store write failed", show_detail=False):
            self._collection(API_KEYS).document(record.key_hash).create(asdict(record), **self._call)

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        with translated("State store read failed", show_detail=False):
            snapshot = self._collection(API_KEYS).document(key_hash).get(**self._call)
        return ApiKeyRecord(**snapshot.to_dict()) if snapshot.exists else None

    def list_api_keys(self, org_slug: str) -> list[ApiKeyRecord]:
        from google.cloud.firestore import FieldFilter

        query = self._collection(API_KEYS).where(filter=FieldFilter("org_slug", "==", org_slug))
        with translated("State store read failed", show_detail=False):
            records = [ApiKeyRecord(**snapshot.to_dict()) for snapshot in query.stream(**self._call)]
        return sorted(records, key=lambda record: record.created_at)

    def revoke_api_key(self, org_slug: str, key_id: str, revoked_at: str) -> bool:
        from google.cloud.firestore import FieldFilter

        # by key_id alone (a single-field index), then the org is checked here: a key id of
        # another org is "not found", as in SQLite
        query = self._collection(API_KEYS).where(filter=FieldFilter("key_id", "==", key_id)).limit(1)

        def revoke(transaction: Any) -> bool:
            found = [
                snapshot for snapshot in transaction.get(query, **self._call) if snapshot.get("org_slug") == org_slug
            ]
            if not found:
                return False
            if found[0].get("revoked_at") is None:
                transaction.update(found[0].reference, {"revoked_at": revoked_at})
            return True

        return self._in_transaction(revoke)

    # -- integrations -----------------------------------------------------------------------
    def _integration_ref(self, org_slug: str, integration_type: str) -> Any:
        return self._collection(INTEGRATIONS).document(f"{org_slug}:{integration_type}")

    def put_integration(self, integration: Integration) -> None:
        with translated("State store write failed", show_detail=False):
            self._integration_ref(integration.org_slug, integration.integration_type).set(
                asdict(integration), **self._call
            )

    def get_integration(self, org_slug: str, integration_type: str) -> Integration | None:
        with translated("State store read failed", show_detail=False):
            snapshot = self._integration_ref(org_slug, integration_type).get(**self._call)
        return Integration(**snapshot.to_dict()) if snapshot.exists else None

    def list_integrations(self, org_slug: str) -> list[Integration]:
        from google.cloud.firestore import FieldFilter

        query = self._collection(INTEGRATIONS).where(filter=FieldFilter("org_slug", "==", org_slug))
        with translated("State store read failed", show_detail=False):
            integrations = [Integration(**snapshot.to_dict()) for snapshot in query.stream(**self._call)]
        return sorted(integrations, key=lambda integration: integration.integration_type)

    def delete_integration(self, org_slug: str, integration_type: str) -> bool:
        reference = self._integration_ref(org_slug, integration_type)

        def delete(transaction: Any) -> bool:
            if not reference.get(transaction=transaction, **self._call).exists:
                return False
            transaction.delete(reference)
            return True

        return self._in_transaction(delete)

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, run: Run) -> None:
        runs = self._collection(RUNS)
        run_ref = runs.document(run.run_id)
        lock_ref = self._collection(RUN_LOCKS).document(run.dedupe_key)
        trigger_ref = (
            self._collection(RUN_TRIGGERS).document(_trigger_document_id(run.trigger_key)) if run.trigger_key else None
        )
        takes_lock = run.status in ACTIVE

        def create(transaction: Any) -> None:
            # every read before the first write, as Firestore transactions require
            if trigger_ref is not None:
                trigger = trigger_ref.get(transaction=transaction, **self._call)
                if trigger.exists:
                    earlier = runs.document(trigger.get("run_id")).get(transaction=transaction, **self._call)
                    raise DuplicateRun(_run(earlier.to_dict()) if earlier.exists else run)
            if takes_lock:
                lock = lock_ref.get(transaction=transaction, **self._call)
                if lock.exists:
                    holder = runs.document(lock.get("run_id")).get(transaction=transaction, **self._call)
                    if holder.exists and RunStatus(holder.get("status")) in ACTIVE:
                        raise DuplicateRun(_run(holder.to_dict()))
            if run_ref.get(transaction=transaction, **self._call).exists:
                raise DuplicateRun(run)  # the id itself collided: UUID4, so only a replayed insert
            transaction.create(run_ref, _run_document(run, self.run_retention))
            if takes_lock:
                # set, not create: a lock left by a run that is no longer active is stale
                transaction.set(lock_ref, {"run_id": run.run_id})
            if trigger_ref is not None:
                transaction.create(trigger_ref, {"run_id": run.run_id, "trigger_key": run.trigger_key})

        self._in_transaction(create)

    def get_run(self, run_id: str) -> Run | None:
        with translated("State store read failed", show_detail=False):
            snapshot = self._collection(RUNS).document(run_id).get(**self._call)
        return _run(snapshot.to_dict()) if snapshot.exists else None

    def claim_run(
        self, run_id: str, claim_token: str, now: str, lease_expires_at: str, max_running: int | None = None
    ) -> Run | None:
        reference = self._collection(RUNS).document(run_id)

        def claim(transaction: Any) -> Run | None:
            snapshot = reference.get(transaction=transaction, **self._call)
            if not snapshot.exists:
                return None
            run = _run(snapshot.to_dict())
            claimed = run.claimed(claim_token, now, lease_expires_at)
            if claimed is None:
                return None
            if max_running is not None and run.status is RunStatus.PENDING:
                self._take_running_slot(transaction, run, max_running)
            transaction.set(reference, _run_document(claimed, self.run_retention))
            return claimed

        return self._in_transaction(claim)

    def _take_running_slot(self, transaction: Any, run: Run, max_running: int) -> None:
        """The org's running runs are listed on one document, read and written by every claim of
        that org in its transaction: two concurrent claims conflict there and one is retried, so the
        count cannot be overshot (a count query cannot give that: a transaction does not lock the
        documents a query would match later). The list heals itself: a run that is no longer
        RUNNING (finished, failed, given back) is dropped when the next claim reads it."""
        slots = self._collection(RUNNING_SLOTS).document(run.org_slug)
        listed = slots.get(transaction=transaction, **self._call)
        running: list[str] = []
        for other_id in (listed.to_dict() or {}).get("run_ids", []) if listed.exists else []:
            if other_id == run.run_id:
                continue
            other = self._collection(RUNS).document(other_id).get(transaction=transaction, **self._call)
            if other.exists and (other.to_dict() or {}).get("status") == str(RunStatus.RUNNING):
                running.append(other_id)
        if len(running) >= max_running:
            raise OrgAtCapacity(run.org_slug)
        transaction.set(slots, {"run_ids": [*running, run.run_id]})

    def update_run(
        self, run_id: str, *, expected_status: RunStatus, claim_token: str | None, changes: Mapping[str, Any]
    ) -> Run | None:
        reference = self._collection(RUNS).document(run_id)
        finishes = changes.get("status") in TERMINAL

        def update(transaction: Any) -> Run | None:
            snapshot = reference.get(transaction=transaction, **self._call)
            if not snapshot.exists:
                return None
            updated = _run(snapshot.to_dict()).updated(expected_status, claim_token, changes)
            if updated is None:
                return None
            lock_ref = self._collection(RUN_LOCKS).document(updated.dedupe_key)
            lock = lock_ref.get(transaction=transaction, **self._call) if finishes else None
            transaction.set(reference, _run_document(updated, self.run_retention))
            if lock is not None and lock.exists and lock.get("run_id") == run_id:
                transaction.delete(lock_ref)  # the dedupe key is free for the next run
            return updated

        return self._in_transaction(update)

    def list_runs(self, query: RunFilter) -> RunPage:
        after = decode_page_token(query.page_token) if query.page_token else None
        runs_query = self.runs_query(query, after).limit(query.page_size + 1)
        with translated("State store read failed", show_detail=False):
            found = [_run(snapshot.to_dict()) for snapshot in runs_query.stream(**self._call)]
        token = None
        if len(found) > query.page_size:
            last = found[query.page_size - 1]
            token = encode_page_token(last.requested_at, last.run_id)
        return RunPage(runs=found[: query.page_size], next_page_token=token)

    def runs_query(self, query: RunFilter, after: tuple[str, str] | None = None) -> Any:
        """The Firestore query ``list_runs`` sends (tests check it against ``RUN_INDEXES``)."""
        from google.cloud.firestore import FieldFilter, Query

        runs = self._collection(RUNS)
        found = runs.where(filter=FieldFilter("org_slug", "==", query.org_slug))
        for field, value in (
            ("pipeline_id", query.pipeline_id),
            ("status", str(query.status) if query.status else None),
            ("parent_id", query.parent_id),
        ):
            if value:
                found = found.where(filter=FieldFilter(field, "==", value))
        found = found.order_by("requested_at", direction=Query.DESCENDING).order_by(
            "__name__", direction=Query.DESCENDING
        )
        if after is not None:
            requested_at, run_id = after
            found = found.start_after({"requested_at": requested_at, "__name__": runs.document(run_id)})
        return found

    def last_complete_run(self, dedupe_key: str) -> Run | None:
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self._collection(RUNS)
            .where(filter=FieldFilter("dedupe_key", "==", dedupe_key))
            .where(filter=FieldFilter("status", "==", str(RunStatus.COMPLETE)))
            .order_by("end_time", direction=Query.DESCENDING)
            .limit(1)
        )
        with translated("State store read failed", show_detail=False):
            found = [_run(snapshot.to_dict()) for snapshot in query.stream(**self._call)]
        return found[0] if found else None

    def count_running(self, org_slug: str) -> int:
        from google.cloud.firestore import FieldFilter

        query = (
            self._collection(RUNS)
            .where(filter=FieldFilter("org_slug", "==", org_slug))
            .where(filter=FieldFilter("status", "==", str(RunStatus.RUNNING)))
        )
        with translated("State store read failed", show_detail=False):
            # an aggregation: counted by Firestore, billed as one read per 1,000 entries
            results = query.count(alias="running").get(**self._call)
        return int(results[0][0].value) if results else 0

    def find_stale_runs(self, lease_expired_before: str, requested_before: str, limit: int = 500) -> list[Run]:
        """Two queries (Firestore has no OR across different range fields), merged by request time.

        Each side is capped at ``limit``, so when more than ``limit`` runs are stale the work list
        is a subset of SQLite's; the reaper runs again and takes the rest next time.
        """
        from google.cloud.firestore import FieldFilter

        runs = self._collection(RUNS)
        expired = (
            runs.where(filter=FieldFilter("status", "==", str(RunStatus.RUNNING)))
            .where(filter=FieldFilter("lease_expires_at", "<", lease_expired_before))
            .order_by("lease_expires_at")
            .limit(limit)
        )
        undelivered = (
            runs.where(filter=FieldFilter("status", "==", str(RunStatus.PENDING)))
            .where(filter=FieldFilter("requested_at", "<", requested_before))
            .order_by("requested_at")
            .limit(limit)
        )
        with translated("State store read failed", show_detail=False):
            found = [_run(snapshot.to_dict()) for q in (expired, undelivered) for snapshot in q.stream(**self._call)]
        return sorted(found, key=lambda run: run.requested_at)[:limit]
