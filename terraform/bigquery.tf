# The platform dataset. Org datasets (one per org, named after its slug) are created by the admin
# function at onboarding, not here: iam.tf gives it and the worker exactly the rights for that.

resource "google_bigquery_dataset" "organizations" {
  #checkov:skip=CKV_GCP_81:Run history holds run metadata, not tenant cost data or credentials; Google-managed encryption at rest. CMEK would need a BigQuery-location key and a grant to the BigQuery service agent that the org datasets (created at run time) would not share.
  dataset_id  = local.history_dataset_id
  location    = var.bigquery_location
  description = "CloudAct platform tables: the history of every finished pipeline run"

  # Never take run history down with the stack; delete the dataset by hand if that is meant.
  delete_contents_on_destroy = false

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_table" "run_history" {
  #checkov:skip=CKV_GCP_80:See the organizations dataset: run metadata only, Google-managed encryption at rest.
  dataset_id  = google_bigquery_dataset.organizations.dataset_id
  table_id    = local.history_table_id
  description = "One row per finished pipeline run (written by the execute function, and by the scheduler's reaper for the runs it fails)"

  # Same columns, in the same order, as RUN_HISTORY in shared/services/history.py
  # (tests/terraform check it).
  schema = file("${path.module}/schemas/org_meta_pipeline_runs.json")

  time_partitioning {
    type  = "DAY"
    field = "started_at"
  }
  clustering = ["org_slug", "pipeline_id"]

  deletion_protection = var.bigquery_deletion_protection
}
