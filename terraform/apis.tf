locals {
  required_apis = toset(concat(
    [
      "artifactregistry.googleapis.com", # images the function builds produce
      "bigquery.googleapis.com",
      "cloudbuild.googleapis.com", # builds the functions from source
      "cloudfunctions.googleapis.com",
      "cloudkms.googleapis.com",
      "cloudresourcemanager.googleapis.com", # project-level IAM grants
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com", # 2nd gen functions run on Cloud Run
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.scheduler.enabled ? ["cloudscheduler.googleapis.com"] : [],
    # Only the load balancer needs Compute Engine; enabling it is slow and creates a default
    # service account, so a deployment without one leaves it off.
    local.api_via_load_balancer ? ["compute.googleapis.com"] : [],
  ))
}

resource "google_project_service" "enabled" {
  for_each = local.required_apis

  project = var.project_id
  service = each.key

  # Other workloads in the project may use the same APIs: destroying this stack must not cut them off.
  disable_on_destroy         = false
  disable_dependent_services = false
}
