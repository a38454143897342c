# The admin credential is created outside Terraform (docs/deploy.md, "Bootstrap"), so its value
# never enters variables, plans or state. Looking the secret up here makes a missing bootstrap
# fail at plan time with a clear error instead of a function that cannot start.
data "google_secret_manager_secret" "admin_key" {
  project   = var.project_id
  secret_id = var.admin_key_secret_id
}

resource "google_secret_manager_secret_iam_member" "admin_reads_admin_key" {
  project   = var.project_id
  secret_id = data.google_secret_manager_secret.admin_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function["admin"].member
}
