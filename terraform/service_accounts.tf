# One identity per function, so each gets only what it uses (iam.tf), plus the identities that
# call the private functions and the one that builds them. None has a key: Google-managed
# credentials only.

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.name_prefix}-fn-${each.key}"
  display_name = "CloudAct ${each.key} function"
  description  = "Runtime identity of the ${each.key} function: ${each.value.description}"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "runs_push" {
  account_id   = "${var.name_prefix}-runs-push"
  display_name = "CloudAct runs subscription push"
  description  = "Identity in the OIDC token that the runs subscription sends to the execute function; may invoke execute and nothing else"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler_invoker" {
  count = var.scheduler.enabled ? 1 : 0

  account_id   = "${var.name_prefix}-sched-invoker"
  display_name = "CloudAct Cloud Scheduler caller"
  description  = "Identity in the OIDC token Cloud Scheduler sends to the scheduler function; may invoke it and nothing else"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-fn-build"
  display_name = "CloudAct function builds"
  description  = "Cloud Build identity for the function builds: reads the uploaded source, writes the image, writes build logs"

  depends_on = [google_project_service.enabled]
}
