# ---------------------------------------------------------------------------------------------
# What each function's identity may do (docs/deploy.md has the same matrix as a table).
# Grants on a single resource (topic, key, secret, dataset, repository) live beside the
# resource where that reads better; everything project-wide is here.
# ---------------------------------------------------------------------------------------------

locals {
  # Firestore: every function but status writes state; status only reads it. Each grant is
  # held to the platform's database by an IAM condition, not the whole project's Firestore.
  firestore_roles = {
    for name, role in {
      submit    = "roles/datastore.user"
      status    = "roles/datastore.viewer"
      costs     = "roles/datastore.viewer"
      execute   = "roles/datastore.user"
      admin     = "roles/datastore.user"
      scheduler = "roles/datastore.user"
    } : name => role if contains(keys(local.functions), name)
  }

  # Who submits runs (publishes to the runs topic).
  run_publishers = toset([for name in ["submit", "scheduler"] : name if contains(keys(local.functions), name)])

  # Who runs BigQuery jobs in the platform project: execute and admin for their queries and
  # loads, the scheduler for the run-history MERGE of the runs its reaper fails, status for the
  # FOCUS export's query, costs for the cost API's reads.
  bigquery_job_users = toset([for name in ["execute", "admin", "scheduler", "status", "costs"] : name if contains(keys(local.functions), name)])

  role_id_prefix = replace(var.name_prefix, "-", "_")
}

resource "google_project_iam_member" "firestore_access" {
  for_each = local.firestore_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.function[each.key].member

  condition {
    title       = "only-${google_firestore_database.state.name}-database"
    description = "Limits the grant to the CloudAct Firestore database"
    expression  = "resource.name == \"${google_firestore_database.state.id}\""
  }
}

resource "google_pubsub_topic_iam_member" "publishes_runs" {
  for_each = local.run_publishers

  topic  = google_pubsub_topic.runs.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.key].member
}

resource "google_project_iam_member" "bigquery_job_user" {
  for_each = local.bigquery_job_users

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.function[each.key].member
}

# ---------------------------------------------------------------------------------------------
# BigQuery and the org datasets created at run time.
#
# Org datasets do not exist when Terraform runs and are named after the org slug, with no
# common prefix, so no dataset-scoped grant or IAM condition can name them in advance. The
# narrowest rights that still work:
#   admin   - may create datasets (project-level custom role holding bigquery.datasets.create
#             alone). BigQuery makes the creator owner of each dataset it creates, so admin
#             reaches its own org datasets and no others. On `organizations` it may only read
#             metadata and create the history table if it is missing (onboarding ensures it).
#   execute - may read and write tables in the project's datasets (custom role: no dataset
#             creation, deletion or ACL change, no table deletion). This is the trade-off: it
#             spans every dataset in the platform project, so keep the project for CloudAct
#             alone. roles/bigquery.dataEditor at project level would add dataset creation,
#             table deletion, routines and models on top.
#   status  - reads the org datasets' FOCUS tables through each org's focus_costs view (the FOCUS
#             export): read-only (custom role: table metadata and rows, nothing else), also
#             project-wide for the same reason as execute; which org it reads is decided in the
#             application, from the caller's key.
#   scheduler - writes one history row per run its reaper fails: the same custom role, but on
#             the `organizations` dataset only (it never touches an org dataset). Narrower than
#             roles/bigquery.dataEditor on that dataset, which would add table deletion.
# Tighter still would be for onboarding to add the execute account to each new dataset's
# access list (admin owns it) and drop execute's project-level role; that needs the account's
# email in the admin function's settings and is left to the application.
# ---------------------------------------------------------------------------------------------

resource "google_project_iam_custom_role" "dataset_creator" {
  role_id     = "${local.role_id_prefix}DatasetCreator"
  title       = "CloudAct org dataset creator"
  description = "Create BigQuery datasets (the creator becomes their owner); nothing else"
  permissions = ["bigquery.datasets.create"]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_custom_role" "history_schema_keeper" {
  role_id     = "${local.role_id_prefix}HistorySchemaKeeper"
  title       = "CloudAct run history schema keeper"
  description = "Read dataset and table metadata and create a missing table; no data access"
  permissions = ["bigquery.datasets.get", "bigquery.tables.create", "bigquery.tables.get"]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_custom_role" "run_table_writer" {
  role_id     = "${local.role_id_prefix}RunTableWriter"
  title       = "CloudAct run table writer"
  description = "Create, read and write tables in existing datasets; no dataset creation, deletion or ACL change, no table deletion"
  permissions = [
    "bigquery.datasets.get",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.list",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
  ]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_custom_role" "table_reader" {
  role_id     = "${local.role_id_prefix}TableReader"
  title       = "CloudAct table reader"
  description = "Read tables and views in existing datasets; no writes, no dataset or ACL change"
  permissions = ["bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData"]

  depends_on = [google_project_service.enabled]
}

# costs - reads the org's focus_costs view and the FOCUS tables under it (the cost API), with the
#          same read-only role as status: no write, no table or dataset creation. Project-level for
#          the same reason; the function only ever names the caller's own dataset, taken from the
#          org record of the authenticated key.
resource "google_project_iam_member" "costs_reads_org_tables" {
  project = var.project_id
  role    = google_project_iam_custom_role.table_reader.name
  member  = google_service_account.function["costs"].member
}

resource "google_project_iam_member" "admin_creates_org_datasets" {
  project = var.project_id
  role    = google_project_iam_custom_role.dataset_creator.name
  member  = google_service_account.function["admin"].member
}

resource "google_bigquery_dataset_iam_member" "admin_keeps_history_schema" {
  dataset_id = google_bigquery_dataset.organizations.dataset_id
  role       = google_project_iam_custom_role.history_schema_keeper.name
  member     = google_service_account.function["admin"].member
}

resource "google_project_iam_member" "execute_writes_run_tables" {
  project = var.project_id
  role    = google_project_iam_custom_role.run_table_writer.name
  member  = google_service_account.function["execute"].member
}

resource "google_project_iam_member" "status_reads_focus_tables" {
  project = var.project_id
  role    = google_project_iam_custom_role.table_reader.name
  member  = google_service_account.function["status"].member
}

resource "google_bigquery_dataset_iam_member" "scheduler_writes_run_history" {
  count = var.scheduler.enabled ? 1 : 0

  dataset_id = google_bigquery_dataset.organizations.dataset_id
  role       = google_project_iam_custom_role.run_table_writer.name
  member     = google_service_account.function["scheduler"].member
}

# ---------------------------------------------------------------------------------------------
# The build identity: read the staged source, push the image to our repository, write logs.
# ---------------------------------------------------------------------------------------------

resource "google_project_iam_member" "build_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.function_sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Cloud Functions copies the uploaded zip into a bucket of its own, created on first deploy,
# and the build reads it from there; the condition holds the grant to that bucket.
resource "google_project_iam_member" "build_reads_staged_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "only-gcf-staged-sources"
    description = "Limits the grant to the bucket Cloud Functions stages sources in"
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}
