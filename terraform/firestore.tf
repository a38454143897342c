# Operational state: orgs, API key hashes, encrypted integrations and run records.

resource "google_firestore_database" "state" {
  name        = var.firestore_database_name
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  # Run claims are read-modify-write transactions: pessimistic locking keeps two workers from
  # both winning one run.
  concurrency_mode            = "PESSIMISTIC"
  app_engine_integration_mode = "DISABLED"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = "DELETE"

  depends_on = [google_project_service.enabled]
}

# Composite indexes of the runs collection: exactly RUN_INDEXES in shared/adapters/gcp/store.py
# (tests/terraform compare them), one per query shape the store sends. A query without its
# index fails with FAILED_PRECONDITION, so a new query in the store needs its index here.
# Firestore appends __name__ to every index in the direction of the last field; where
# RUN_INDEXES names it (the paginated lists), it is written out here too.

locals {
  # Index name => its fields, in index order. The name is only the key of the index's Terraform
  # address (google_firestore_index.runs["<name>"]); Firestore names indexes itself.
  runs_indexes = {
    # GET /api/v1/pipelines/runs
    by_org = [
      { field_path = "org_slug", order = "ASCENDING" },
      { field_path = "requested_at", order = "DESCENDING" },
      { field_path = "__name__", order = "DESCENDING" },
    ]
    # GET /api/v1/pipelines/runs?pipeline_id=...
    by_org_and_pipeline = [
      { field_path = "org_slug", order = "ASCENDING" },
      { field_path = "pipeline_id", order = "ASCENDING" },
      { field_path = "requested_at", order = "DESCENDING" },
      { field_path = "__name__", order = "DESCENDING" },
    ]
    # GET /api/v1/pipelines/runs?status=...
    by_org_and_status = [
      { field_path = "org_slug", order = "ASCENDING" },
      { field_path = "status", order = "ASCENDING" },
      { field_path = "requested_at", order = "DESCENDING" },
      { field_path = "__name__", order = "DESCENDING" },
    ]
    # GET /api/v1/pipelines/backfills/{id}: the runs of one backfill, paged
    by_org_and_backfill = [
      { field_path = "org_slug", order = "ASCENDING" },
      { field_path = "parent_id", order = "ASCENDING" },
      { field_path = "requested_at", order = "DESCENDING" },
      { field_path = "__name__", order = "DESCENDING" },
    ]
    # The worker: the last COMPLETE run of the same pipeline, org and parameters (last_complete_run)
    last_complete = [
      { field_path = "dedupe_key", order = "ASCENDING" },
      { field_path = "status", order = "ASCENDING" },
      { field_path = "end_time", order = "DESCENDING" },
    ]
    # The reaper: RUNNING runs whose lease expired (find_stale_runs)
    by_status_and_lease = [
      { field_path = "status", order = "ASCENDING" },
      { field_path = "lease_expires_at", order = "ASCENDING" },
    ]
    # The reaper: PENDING runs requested long ago and never delivered (find_stale_runs)
    by_status_and_request_time = [
      { field_path = "status", order = "ASCENDING" },
      { field_path = "requested_at", order = "ASCENDING" },
    ]
  }
}

resource "google_firestore_index" "runs" {
  for_each = local.runs_indexes

  database   = google_firestore_database.state.name
  collection = local.runs_collection

  # One fields block per entry, in list order: the order of an index's fields is part of it.
  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

# Finished run records expire: the store sets runs.expire_at (a timestamp) when a run reaches
# COMPLETE or FAILED, and Firestore deletes the document within about a day after it. The run's
# history row in BigQuery stays. The field is not indexed: nothing queries it, and an index on
# a steadily increasing timestamp would only add write hotspots.
resource "google_firestore_field" "runs_expire_at" {
  database   = google_firestore_database.state.name
  collection = local.runs_collection
  field      = local.runs_expiry_field

  ttl_config {}
  index_config {}
}
