# ---------------------------------------------------------------------------------------------
# Cloud Scheduler -> the scheduler function (private, ALLOW_INTERNAL_ONLY: Cloud Scheduler is an
# internal source in the same project). Two kinds of job, both with var.scheduler.enabled:
#
#   one tick job per scheduled pipeline file (pipelines.tf): on the file's cron, in its time
#     zone, POST /api/v1/scheduler/tick {"pipeline": "<provider>/<domain>/<pipeline>"};
#   one invoice-close job per pipeline whose schedule names an invoice_close_cron: once a month,
#     POST /api/v1/scheduler/tick {"pipeline": ..., "invoice_close": true};
#   one reaper job: every few minutes, POST /api/v1/scheduler/reap.
#
# Every call carries a Google OIDC token signed as the scheduler invoker account. Cloud Run lets
# it in only if that account may invoke the service and the token's audience is the service URL;
# the function then checks the token again itself, with the audience https://<Host header> (the
# same service URL) and the email CLOUDACT_SCHEDULER_SERVICE_ACCOUNT (locals.tf). So the
# audience is the bare service URI while the job calls a path below it.
# ---------------------------------------------------------------------------------------------

resource "google_cloud_scheduler_job" "pipeline_tick" {
  for_each = var.scheduler.enabled ? local.scheduled_pipelines : {}

  name        = "${var.name_prefix}-${each.value.job_id}"
  region      = var.region
  description = "Queues the scheduled runs of ${each.key} for every active org (schedule from configs/${each.key}.yml)"
  schedule    = each.value.cron
  time_zone   = each.value.time_zone

  # The tick only records and publishes runs; the function's own timeout (300 s) comes first.
  attempt_deadline = "320s"

  retry_config {
    # A daily pipeline's next firing is a day away, so a failed tick is retried. Retrying is
    # safe: a retry carries the same X-CloudScheduler-JobName and X-CloudScheduler-ScheduleTime,
    # and the runs they key are created once (shared/services/scheduling.py).
    retry_count          = 3
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.function["scheduler"].service_config[0].uri}/api/v1/scheduler/tick"
    body        = base64encode(each.value.body)
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker[0].email
      audience              = google_cloudfunctions2_function.function["scheduler"].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_scheduler]
}

resource "google_cloud_scheduler_job" "pipeline_invoice_close" {
  for_each = var.scheduler.enabled ? local.invoice_close_pipelines : {}

  name        = "${var.name_prefix}-${each.value.job_id}"
  region      = var.region
  description = "Re-runs the closed invoice month of ${each.key} for every active org, reading the export up to the close"
  schedule    = each.value.cron
  time_zone   = each.value.time_zone

  attempt_deadline = "320s"

  retry_config {
    # The next firing is a month away; a retry carries the same job name and schedule time, so
    # the runs it keys are created once.
    retry_count          = 3
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.function["scheduler"].service_config[0].uri}/api/v1/scheduler/tick"
    body        = base64encode(each.value.body)
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker[0].email
      audience              = google_cloudfunctions2_function.function["scheduler"].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_scheduler]
}

resource "google_cloud_scheduler_job" "reaper" {
  count = var.scheduler.enabled ? 1 : 0

  name        = "${var.name_prefix}-reaper"
  region      = var.region
  description = "Fails runs that nothing will finish (a worker that died, a message never delivered)"
  schedule    = var.scheduler.reaper_schedule
  time_zone   = "Etc/UTC" # an interval, not a time of day: the zone does not matter

  attempt_deadline = "320s"

  retry_config {
    # The next call is minutes away and does the same work; a retry would only overlap it.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.function["scheduler"].service_config[0].uri}/api/v1/scheduler/reap"

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker[0].email
      audience              = google_cloudfunctions2_function.function["scheduler"].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_scheduler]
}
