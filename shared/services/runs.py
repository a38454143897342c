"""Reading runs, always within the caller's org."""

from __future__ import annotations

import re

from shared.domain.identifiers import RUN_ID
from shared.domain.orgs import Organization
from shared.domain.runs import Run, RunStatus
from shared.errors import InvalidRequest, NotFound
from shared.ports import RunFilter, RunPage, Store

MAX_PAGE_SIZE = 100
LIST_FILTERS = {"pipeline_id", "status", "page_size", "page_token"}


def get(store: Store, org: Organization, run_id: str) -> Run:
    run = store.get_run(run_id) if RUN_ID.fullmatch(run_id) else None
    # another org's run is "not found" too: its existence is nobody else's business
    if run is None or run.org_slug != org.slug:
        raise NotFound("Pipeline run not found")
    return run


def list_page(store: Store, org: Organization, args: dict[str, str]) -> RunPage:
    unknown = sorted(set(args) - LIST_FILTERS)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter: {unknown[0]}", field=unknown[0])
    status = args.get("status")
    if status is not None and status not in RunStatus.__members__:
        raise InvalidRequest("Invalid status: expected PENDING, RUNNING, COMPLETE or FAILED", field="status")
    pipeline_id = args.get("pipeline_id")
    if pipeline_id is not None and not re.fullmatch(r"[a-z0-9_]{3,50}-[a-z0-9_-]{1,130}", pipeline_id):
        raise InvalidRequest(
            "Invalid pipeline_id: expected {org}-{provider}-{pipeline}, e.g. acmecorp-gcp-billing "
            "(not the path gcp/cost/billing)",
            field="pipeline_id",
        )
    raw_size = args.get("page_size", "20")
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"Invalid page_size: expected 1-{MAX_PAGE_SIZE}", field="page_size")
    query = RunFilter(
        org_slug=org.slug,
        pipeline_id=pipeline_id,
        status=RunStatus(status) if status else None,
        page_size=int(raw_size),
        page_token=args.get("page_token"),
    )
    try:
        return store.list_runs(query)
    except ValueError:
        raise InvalidRequest("Invalid page_token", field="page_token") from None
