"""The Store contract: one suite, run against the SQLite store and the Firestore store (on Google's
Firestore emulator). Every assertion holds for both."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.page_tokens import decode_page_token, encode_page_token
from shared.domain.api_keys import ApiKeyRecord
from shared.domain.integrations import Integration
from shared.domain.orgs import Organization
from shared.domain.runs import PipelineRef, Run, RunStatus, StepResult, dedupe_key
from shared.errors import TransientError
from shared.ports import DuplicateRun, RunFilter, Store
from tests.gcp_emulators import Emulator, unique_project


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    if request.param == "sqlite":
        from shared.adapters.local.store import SqliteStore

        yield SqliteStore(tmp_path / "state.sqlite")
        return
    from shared.adapters.gcp.store import FirestoreStore

    emulator: Emulator = request.getfixturevalue("firestore_emulator")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host_port)
    firestore_store = FirestoreStore(unique_project())  # a fresh project: an empty database
    yield firestore_store
    firestore_store.close()


def make_run(
    org: str = "acme",
    *,
    day: str = "2026-01-01",
    requested_at: str = "2026-01-02T04:00:00.000Z",
    status: RunStatus = RunStatus.PENDING,
    run_id: str | None = None,
    pipeline: str = "billing",
    **fields: Any,
) -> Run:
    ref = PipelineRef("gcp", "cost", pipeline)
    parameters = {"date": day}
    return Run(
        run_id=run_id or str(uuid.uuid4()),
        pipeline_id=ref.pipeline_id(org),
        org_slug=org,
        provider=ref.provider,
        domain=ref.domain,
        pipeline=ref.pipeline,
        parameters=parameters,
        trigger="api",
        requested_at=requested_at,
        dedupe_key=dedupe_key(org, ref, parameters),
        status=status,
        **fields,
    )


def claim(store: Store, run: Run, token: str = "token-1", now: str = "2026-01-02T04:00:01.000Z") -> Run:
    claimed = store.claim_run(run.run_id, token, now, "2026-01-02T04:15:01.000Z")
    assert claimed is not None
    return claimed


def finish(store: Store, run: Run, token: str, status: RunStatus = RunStatus.COMPLETE, **changes: Any) -> Run:
    finished = store.update_run(
        run.run_id,
        expected_status=RunStatus.RUNNING,
        claim_token=token,
        changes={"status": status, "end_time": "2026-01-02T04:05:00.000Z", **changes},
    )
    assert finished is not None
    return finished


# -- orgs, keys, integrations -----------------------------------------------------------------
def test_orgs_are_created_once_and_listed_by_slug(store: Store) -> None:
    beta = Organization("beta_co", "Beta", "beta_co", "2026-01-01T00:00:00.000Z")
    alpha = Organization("alpha_co", "Alpha", "alpha_co", "2026-01-02T00:00:00.000Z")
    assert store.create_org(beta)
    assert store.create_org(alpha)
    assert not store.create_org(Organization("beta_co", "Other", "x", "2026-01-03T00:00:00.000Z"))
    assert store.get_org("beta_co") == beta
    assert store.get_org("nobody") is None
    assert store.list_orgs() == [alpha, beta]


def _key(org: str, key_id: str, created_at: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, org, f"hash-{key_id}", f"{org}_api_abcd…", created_at)


def test_api_keys_are_found_by_hash_listed_by_age_and_revoked_within_their_org(store: Store) -> None:
    newer, older, other = (
        _key("acme", "key_2", "2026-01-02T00:00:00.000Z"),
        _key("acme", "key_1", "2026-01-01T00:00:00.000Z"),
        _key("globex", "key_3", "2026-01-01T00:00:00.000Z"),
    )
    for record in (newer, older, other):
        store.add_api_key(record)
    assert store.find_api_key("hash-key_1") == older
    assert store.find_api_key("hash-nope") is None
    assert store.list_api_keys("acme") == [older, newer]

    assert not store.revoke_api_key("acme", "key_3", "2026-01-05T00:00:00.000Z")  # another org's key
    assert store.find_api_key("hash-key_3") == other
    assert not store.revoke_api_key("acme", "key_9", "2026-01-05T00:00:00.000Z")
    assert store.revoke_api_key("acme", "key_1", "2026-01-05T00:00:00.000Z")
    assert store.revoke_api_key("acme", "key_1", "2026-01-06T00:00:00.000Z")  # again: still true, first time kept
    revoked = store.find_api_key("hash-key_1")
    assert revoked is not None and revoked.revoked_at == "2026-01-05T00:00:00.000Z" and not revoked.active


def _integration(org: str, kind: str, updated_at: str = "2026-01-01T00:00:00.000Z") -> Integration:
    return Integration(
        org_slug=org,
        integration_type=kind,
        metadata={"project_id": "acme-billing", "billing_export_table": "p.d.t"},
        encrypted_credential={
            "scheme": "aes256gcm-envelope",
            "key_version": "v1",
            "wrapped_key": "d2s=",
            "ciphertext": "Y3Q=",
        },
        created_at="2026-01-01T00:00:00.000Z",
        updated_at=updated_at,
    )


def test_integrations_are_replaced_listed_and_deleted_per_org(store: Store) -> None:
    store.put_integration(_integration("acme", "GCP_SA"))
    store.put_integration(_integration("acme", "AWS_KEYS"))
    store.put_integration(_integration("globex", "GCP_SA"))
    replacement = _integration("acme", "GCP_SA", updated_at="2026-01-09T00:00:00.000Z")
    store.put_integration(replacement)

    assert store.get_integration("acme", "GCP_SA") == replacement
    assert store.get_integration("acme", "OPENAI") is None
    assert [i.integration_type for i in store.list_integrations("acme")] == ["AWS_KEYS", "GCP_SA"]
    assert store.delete_integration("acme", "GCP_SA")
    assert not store.delete_integration("acme", "GCP_SA")
    assert store.get_integration("acme", "GCP_SA") is None
    assert store.get_integration("globex", "GCP_SA") is not None


# -- runs: creation and the one-active-run rule -------------------------------------------------
def test_a_run_reads_back_exactly_as_written(store: Store) -> None:
    run = make_run(force_refresh=True, parent_id="parent-1")
    store.create_run(run)
    assert store.get_run(run.run_id) == run
    assert store.get_run(str(uuid.uuid4())) is None


def test_an_active_run_blocks_another_with_the_same_dedupe_key(store: Store) -> None:
    first = make_run()
    store.create_run(first)
    with pytest.raises(DuplicateRun) as raised:
        store.create_run(make_run())
    assert raised.value.existing == first

    claimed = claim(store, first)
    with pytest.raises(DuplicateRun) as raised:
        store.create_run(make_run())
    assert raised.value.existing.run_id == first.run_id
    assert raised.value.existing.status is RunStatus.RUNNING

    store.create_run(make_run(day="2026-01-02"))  # other parameters: another key, no conflict
    finish(store, claimed, "token-1")
    store.create_run(make_run())  # the finished run no longer blocks its key


def test_a_failed_run_frees_its_dedupe_key_too(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    failed = store.update_run(
        run.run_id,
        expected_status=RunStatus.PENDING,
        claim_token=None,
        changes={"status": RunStatus.FAILED, "error_message": "could not be queued"},
    )
    assert failed is not None and failed.status is RunStatus.FAILED
    store.create_run(make_run())


def test_a_run_given_back_to_pending_keeps_its_dedupe_key(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    claimed = claim(store, run)
    released = store.update_run(
        run.run_id,
        expected_status=RunStatus.RUNNING,
        claim_token="token-1",
        changes={"status": RunStatus.PENDING, "claim_token": None, "lease_expires_at": None},
    )
    assert released is not None and claimed.attempt == 1
    with pytest.raises(DuplicateRun):
        store.create_run(make_run())


def test_a_replayed_insert_of_the_same_run_is_a_duplicate(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    claimed = claim(store, run)
    finish(store, claimed, "token-1")
    with pytest.raises(DuplicateRun) as raised:
        store.create_run(run)
    assert raised.value.existing.run_id == run.run_id


def test_a_trigger_key_admits_one_run_ever(store: Store) -> None:
    first = make_run(trigger_key="scheduler:acme:gcp/cost/billing:2026-01-01T04:00")
    store.create_run(first)
    claimed = claim(store, first)
    finish(store, claimed, "token-1")
    with pytest.raises(DuplicateRun) as raised:
        store.create_run(make_run(day="2026-01-05", trigger_key="scheduler:acme:gcp/cost/billing:2026-01-01T04:00"))
    assert raised.value.existing.run_id == first.run_id
    store.create_run(make_run(day="2026-01-05", trigger_key="scheduler:acme:gcp/cost/billing:2026-01-02T04:00"))


def test_concurrent_submits_of_the_same_run_admit_exactly_one(store: Store) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def submit() -> None:
        start.wait()
        try:
            store.create_run(make_run())
            result = "created"
        except DuplicateRun:
            result = "duplicate"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "duplicate", "duplicate", "duplicate"]


# -- runs: claims and compare-and-set ------------------------------------------------------------
def test_a_pending_run_is_claimed_once(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    claimed = claim(store, run)
    assert (claimed.status, claimed.claim_token, claimed.attempt) == (RunStatus.RUNNING, "token-1", 1)
    assert claimed.start_time == "2026-01-02T04:00:01.000Z"
    assert claimed.lease_expires_at == "2026-01-02T04:15:01.000Z"
    assert store.get_run(run.run_id) == claimed
    assert store.claim_run(run.run_id, "token-2", "2026-01-02T04:00:02.000Z", "2026-01-02T04:15:02.000Z") is None
    assert store.claim_run(str(uuid.uuid4()), "token-2", "2026-01-02T04:00:02.000Z", "2026-01-02T04:15:02.000Z") is None


def test_a_running_run_whose_lease_expired_can_be_reclaimed(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    claim(store, run)
    reclaimed = store.claim_run(run.run_id, "token-2", "2026-01-02T04:20:00.000Z", "2026-01-02T04:35:00.000Z")
    assert reclaimed is not None and reclaimed.claim_token == "token-2" and reclaimed.attempt == 2
    # the first worker lost its claim: its result is not recorded
    assert (
        store.update_run(
            run.run_id,
            expected_status=RunStatus.RUNNING,
            claim_token="token-1",
            changes={"status": RunStatus.COMPLETE},
        )
        is None
    )


def test_concurrent_claims_have_exactly_one_winner(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    winners: list[str] = []
    busy: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(token: str) -> None:
        start.wait()
        # A claim the store cannot commit under contention is TransientError: the delivery is retried
        # (the Firestore emulator answers "Transaction lock timeout" when four claims collide), so the
        # worker tries again, as a redelivery would; every try sees the same single winner.
        for _ in range(10):
            try:
                claimed = store.claim_run(run.run_id, token, "2026-01-02T04:00:01.000Z", "2026-01-02T04:15:01.000Z")
            except TransientError:
                time.sleep(0.1)
                continue
            if claimed is not None:
                with lock:
                    winners.append(token)
            return
        with lock:
            busy.append(token)

    threads = [threading.Thread(target=worker, args=(f"token-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert busy == [] and len(winners) == 1, (busy, winners)
    stored = store.get_run(run.run_id)
    assert stored is not None and stored.claim_token == winners[0] and stored.attempt == 1


def test_update_is_a_compare_and_set_and_a_finished_run_never_changes(store: Store) -> None:
    run = make_run()
    store.create_run(run)
    claimed = claim(store, run)
    wrong_status = store.update_run(run.run_id, expected_status=RunStatus.PENDING, claim_token=None, changes={})
    wrong_claim = store.update_run(run.run_id, expected_status=RunStatus.RUNNING, claim_token="token-x", changes={})
    assert wrong_status is None and wrong_claim is None
    assert store.get_run(run.run_id) == claimed

    steps = (StepResult("extract", "COMPLETE", rows=3, bytes_processed=10, duration_ms=5),)
    done = finish(store, claimed, "token-1", rows_processed=3, duration_ms=1200, steps=steps)
    assert store.get_run(run.run_id) == done
    for expected, token in [(RunStatus.RUNNING, "token-1"), (RunStatus.RUNNING, None), (RunStatus.PENDING, None)]:
        late = store.update_run(
            run.run_id, expected_status=expected, claim_token=token, changes={"status": RunStatus.FAILED}
        )
        assert late is None
    assert store.get_run(run.run_id) == done
    assert store.update_run(str(uuid.uuid4()), expected_status=RunStatus.PENDING, claim_token=None, changes={}) is None


# -- runs: queries ------------------------------------------------------------------------------
def test_runs_are_listed_newest_first_with_filters_and_stable_pages(store: Store) -> None:
    same_time = "2026-01-03T00:00:00.000Z"
    created = [
        make_run(day=f"2026-01-{day:02d}", requested_at=at, pipeline=pipeline)
        for day, at, pipeline in [
            (1, "2026-01-01T00:00:00.000Z", "billing"),
            (2, "2026-01-02T00:00:00.000Z", "billing"),
            (3, same_time, "billing"),
            (4, same_time, "usage"),
            (5, same_time, "billing"),
            (6, "2026-01-04T00:00:00.000Z", "usage"),
        ]
    ]
    for run in created:
        store.create_run(run)
    store.create_run(make_run("globex", requested_at="2026-01-09T00:00:00.000Z"))
    claim(store, created[1])
    expected_order = sorted(created, key=lambda run: (run.requested_at, run.run_id), reverse=True)

    pages, token = [], None
    while True:
        page = store.list_runs(RunFilter(org_slug="acme", page_size=2, page_token=token))
        pages.append([run.run_id for run in page.runs])
        token = page.next_page_token
        if token is None:
            break
    assert [run_id for page in pages for run_id in page] == [run.run_id for run in expected_order]
    assert [len(page) for page in pages] == [2, 2, 2]

    usage = store.list_runs(RunFilter(org_slug="acme", pipeline_id="acme-gcp-usage"))
    assert [run.parameters["date"] for run in usage.runs] == ["2026-01-06", "2026-01-04"]
    running = store.list_runs(RunFilter(org_slug="acme", status=RunStatus.RUNNING))
    assert [run.run_id for run in running.runs] == [created[1].run_id]
    both = store.list_runs(RunFilter(org_slug="acme", pipeline_id="acme-gcp-billing", status=RunStatus.PENDING))
    pending_billing = [run for run in expected_order if run.pipeline == "billing" and run is not created[1]]
    assert [run.run_id for run in both.runs] == [run.run_id for run in pending_billing]
    assert store.list_runs(RunFilter(org_slug="nobody")).runs == []


def test_runs_of_a_backfill_are_listed_by_parent(store: Store) -> None:
    children = [make_run(day=f"2026-01-0{day}", parent_id="backfill-1") for day in (1, 2)]
    for run in [*children, make_run(day="2026-01-03")]:
        store.create_run(run)
    page = store.list_runs(RunFilter(org_slug="acme", parent_id="backfill-1"))
    assert {run.run_id for run in page.runs} == {run.run_id for run in children}


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        _token([1]),
        _token({"a": 1}),
        _token(["x", "a/b"]),  # in a Firestore cursor, a path into another collection
        _token(["", "run-1"]),
        _token(["2026-01-01T00:00:00.000Z", ""]),
        _token(["2026-01-01T00:00:00.000Z", 7]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        _token(["2026-01-01T00:00:00.000Z", "x" * 600]),  # far longer than any token issued
    ],
)
def test_a_page_token_the_store_did_not_issue_is_refused(store: Store, token: str) -> None:
    # the one shared codec (shared/adapters/page_tokens.py): every store refuses the same tokens
    # with the same error, whatever its backend would have made of them
    with pytest.raises(ValueError) as refused:
        store.list_runs(RunFilter(org_slug="acme", page_token=token))
    assert str(refused.value) == "bad page token"


def test_every_store_issues_the_shared_page_token(store: Store) -> None:
    runs = [make_run(day=f"2026-01-0{day}", requested_at=f"2026-01-0{day}T00:00:00.000Z") for day in (1, 2, 3)]
    for run in runs:
        store.create_run(run)
    first = store.list_runs(RunFilter(org_slug="acme", page_size=2))
    last_listed = first.runs[-1]
    assert first.next_page_token == encode_page_token(last_listed.requested_at, last_listed.run_id)
    assert decode_page_token(first.next_page_token) == (last_listed.requested_at, last_listed.run_id)
    # and a token made by the shared codec, not by this store, pages the same way
    rest = store.list_runs(
        RunFilter(org_slug="acme", page_token=encode_page_token(runs[1].requested_at, runs[1].run_id))
    )
    assert [run.run_id for run in rest.runs] == [runs[0].run_id]


def test_the_last_complete_run_and_the_running_count(store: Store) -> None:
    first, second = make_run(), make_run()
    store.create_run(first)
    finish(store, claim(store, first), "token-1", end_time="2026-01-02T05:00:00.000Z")
    store.create_run(second)
    finish(store, claim(store, second, token="token-2"), "token-2", end_time="2026-01-02T06:00:00.000Z")
    latest = store.last_complete_run(first.dedupe_key)
    assert latest is not None and latest.run_id == second.run_id
    assert store.last_complete_run("no-such-key") is None

    assert store.count_running("acme") == 0
    for day in ("2026-02-01", "2026-02-02"):
        run = make_run(day=day)
        store.create_run(run)
        claim(store, run)
    store.create_run(make_run(day="2026-02-03"))
    assert store.count_running("acme") == 2
    assert store.count_running("globex") == 0


def test_stale_runs_are_found_across_orgs(store: Store) -> None:
    old_pending = make_run("globex", requested_at="2026-01-01T00:00:00.000Z")
    fresh_pending = make_run(day="2026-01-05", requested_at="2026-01-02T12:00:00.000Z")
    expired = make_run(day="2026-01-06", requested_at="2026-01-01T06:00:00.000Z")
    live = make_run(day="2026-01-07", requested_at="2026-01-01T07:00:00.000Z")
    for run in (old_pending, fresh_pending, expired, live):
        store.create_run(run)
    store.claim_run(expired.run_id, "t1", "2026-01-01T06:00:01.000Z", "2026-01-01T06:15:00.000Z")
    store.claim_run(live.run_id, "t2", "2026-01-01T07:00:01.000Z", "2026-01-02T23:00:00.000Z")

    stale = store.find_stale_runs(
        lease_expired_before="2026-01-02T10:00:00.000Z", requested_before="2026-01-02T00:00:00.000Z"
    )
    assert [run.run_id for run in stale] == [old_pending.run_id, expired.run_id]
    assert len(store.find_stale_runs("2026-01-02T10:00:00.000Z", "2026-01-02T00:00:00.000Z", limit=1)) == 1


# -- Firestore only: what the emulator does not check ------------------------------------------
# The emulator serves any query without an index; Firestore itself refuses a query no declared
# composite index (or merge of them) covers. So the queries list_runs sends are checked here
# against RUN_INDEXES, the list Terraform declares.
def _served(equality: set[str], order: list[tuple[str, bool]]) -> bool:
    """By one declared index (equality fields, then the order), or by merging several: Firestore
    merges indexes that end in the same order when their equality fields together are the query's."""
    from shared.adapters.gcp.store import RUN_INDEXES

    prefixes = []
    for index in RUN_INDEXES:
        fields = [(field.field, field.descending) for field in index.fields]
        if len(fields) > len(order) and fields[-len(order) :] == order:
            prefixes.append({name for name, _ in fields[: -len(order)]})
    usable = [prefix for prefix in prefixes if prefix <= equality]
    return bool(usable) and set().union(*usable) == equality


@pytest.mark.parametrize(
    "pipeline_id, status, parent_id",
    [
        (None, None, None),
        ("acme-gcp-billing", None, None),
        (None, RunStatus.RUNNING, None),
        (None, None, "backfill-1"),
        ("acme-gcp-billing", RunStatus.RUNNING, None),
    ],
)
def test_list_runs_queries_stay_within_the_declared_indexes(
    pipeline_id: str | None, status: RunStatus | None, parent_id: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.gcp.store import FirestoreStore

    # building a query sends nothing; the emulator setting only spares the client a credentials search
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")

    query = FirestoreStore("cloudact-index-check").runs_query(
        RunFilter(org_slug="acme", pipeline_id=pipeline_id, status=status, parent_id=parent_id),
        after=("2026-01-01T00:00:00.000Z", "some-run"),
    )
    protobuf = query._to_protobuf()  # the structured query exactly as it goes over the wire
    filters = protobuf.where.composite_filter.filters or [protobuf.where]
    equality = {f.field_filter.field.field_path for f in filters}
    order = [(o.field.field_path, o.direction.name == "DESCENDING") for o in protobuf.order_by]
    assert order == [("requested_at", True), ("__name__", True)]
    assert all(f.field_filter.op.name == "EQUAL" for f in filters)
    assert "org_slug" in equality
    assert _served(equality, order), f"no declared index (or merge) serves {sorted(equality)} ordered by {order}"


def test_lock_documents_follow_the_run_life_cycle(
    firestore_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.gcp.store import FirestoreStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host_port)
    store = FirestoreStore(unique_project())
    run = make_run()
    store.create_run(run)
    db = store._db()
    lock = db.collection("run_locks").document(run.dedupe_key)
    assert lock.get().to_dict() == {"run_id": run.run_id}
    finish(store, claim(store, run), "token-1")
    assert not lock.get().exists
    store.close()


def test_a_finished_run_record_carries_its_expiry_for_the_ttl_policy(
    firestore_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.adapters.gcp.store import FirestoreStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host_port)
    store = FirestoreStore(unique_project(), run_retention=timedelta(days=30))
    run = make_run()
    store.create_run(run)
    document = store._db().collection("runs").document(run.run_id)
    assert "expire_at" not in document.get().to_dict()  # an open run never expires
    finished = finish(store, claim(store, run), "token-1")
    expected = datetime(2026, 1, 2, 4, 5, tzinfo=UTC) + timedelta(days=30)
    assert document.get().to_dict()["expire_at"] == expected
    assert store.get_run(run.run_id) == finished  # the field stays out of the domain
    store.close()


def test_an_unreachable_firestore_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters.gcp.errors import RetryPolicy
    from shared.adapters.gcp.store import FirestoreStore
    from tests.gcp_emulators import free_port

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    store = FirestoreStore(
        unique_project(), retry=RetryPolicy(initial_s=0.05, maximum_s=0.2, multiplier=2, deadline_s=1)
    )
    started = time.monotonic()
    with pytest.raises(TransientError):
        store.get_org("acme")
    assert time.monotonic() - started < 10  # bounded by the retry policy, not the client's minutes
    store.close()


def test_the_per_org_running_limit_holds_under_a_burst_of_claims(store: Store) -> None:
    from shared.ports import OrgAtCapacity

    limit, lease = 2, "2026-01-02T04:15:01.000Z"
    runs = [make_run(day=f"2026-03-0{n}") for n in range(1, 7)]
    for run in runs:
        store.create_run(run)
    other_org = make_run("globex", day="2026-03-01")
    store.create_run(other_org)
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(runs))

    def attempt(run: Run) -> None:
        barrier.wait()
        try:
            claimed = store.claim_run(run.run_id, "t", "2026-01-02T04:00:01.000Z", lease, max_running=limit)
            outcomes[run.run_id] = "claimed" if claimed else "none"
        except OrgAtCapacity:
            outcomes[run.run_id] = "at capacity"
        except TransientError:  # Firestore: lost the race on every attempt; the queue retries later
            outcomes[run.run_id] = "retry"

    threads = [threading.Thread(target=attempt, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(outcomes.values()).count("claimed") <= limit
    for run in runs:  # the retries, one at a time, fill the limit exactly
        if outcomes[run.run_id] == "retry":
            with contextlib.suppress(OrgAtCapacity):
                store.claim_run(run.run_id, "t", "2026-01-02T04:00:01.000Z", lease, max_running=limit)
    assert store.count_running("acme") == limit
    # another org has its own limit; a finished run frees its slot
    assert store.claim_run(other_org.run_id, "t", "2026-01-02T04:00:01.000Z", lease, max_running=limit)
    running = [run for run in runs if store.get_run(run.run_id).status == RunStatus.RUNNING]  # type: ignore[union-attr]
    waiting = [run for run in runs if run not in running]
    with pytest.raises(OrgAtCapacity):
        store.claim_run(waiting[0].run_id, "t", "2026-01-02T04:00:01.000Z", lease, max_running=limit)
    assert store.get_run(waiting[0].run_id).status == RunStatus.PENDING  # type: ignore[union-attr]
    finish(store, running[0], "t")
    assert store.claim_run(waiting[0].run_id, "t", "2026-01-02T04:00:01.000Z", lease, max_running=limit)
    assert store.count_running("acme") == limit
