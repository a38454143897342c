resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:Ingress is set per function in locals.tf: execute and scheduler ALLOW_INTERNAL_ONLY; submit, status and admin ALLOW_INTERNAL_AND_GCLB behind the load balancer, and ALLOW_ALL only without one, when their own URLs are the public API (they authenticate every request in-app).
  for_each = local.functions

  name        = "${var.name_prefix}-${each.key}"
  location    = var.region
  description = each.value.description

  build_config {
    runtime     = var.python_runtime
    entry_point = each.value.entry_point # the decorated function in functions/<name>/main.py (locals.tf)

    # A dedicated build identity: new projects' default build account lacks these rights, and
    # an explicit one keeps builds working when an org policy strips default-account grants.
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source[each.key].name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.function[each.key].email
    ingress_settings      = each.value.ingress

    available_memory   = each.value.memory
    timeout_seconds    = each.value.timeout_seconds
    max_instance_count = each.value.max_instances
    min_instance_count = each.value.min_instances
    # Below one vCPU, Cloud Run serves one request per instance at a time.
    max_instance_request_concurrency = 1
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.function_environment, each.value.env)

    # The admin credential comes from Secret Manager at instance start: Terraform only ever sees
    # the secret's name, never its value.
    dynamic "secret_environment_variables" {
      for_each = each.value.reads_admin_key ? [var.admin_key_secret_id] : []
      content {
        key        = "CLOUDACT_ADMIN_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.admin_key_secret_version
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build_writes_logs,
    google_project_iam_member.build_reads_staged_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    # A function whose secret cannot be read at deploy time fails to start.
    google_secret_manager_secret_iam_member.admin_reads_admin_key,
  ]
}

# Who may call each function. With the load balancer in front, ingress still admits only
# traffic that comes through it, whatever IAM allows.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  # allUsers only for the API functions: their callers carry no Google identity and are
  # authenticated in-app (X-API-Key / X-Admin-Key, hashed and compared in constant time).
  # execute and scheduler are never in this set.
  for_each = local.public_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "runs_push_invokes_execute" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["execute"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.runs_push.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_scheduler" {
  count = var.scheduler.enabled ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["scheduler"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler_invoker[0].member
}
