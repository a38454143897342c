# ---------------------------------------------------------------------------------------------
# Function source: one deterministic zip per function (its main.py, shared/, configs/ and the
# pinned requirements.txt), built while planning by scripts/package_functions.py into build/.
# The object name carries the zip's SHA-256, so a code change is a new object and therefore a
# new function build; an unchanged tree gives the same bytes and no redeploy.
# ---------------------------------------------------------------------------------------------

data "external" "function_packages" {
  program = [var.python_executable, "${path.module}/scripts/package_functions.py", "--terraform-external"]

  query = {
    source_root = abspath(local.repo_root)
    output_dir  = abspath("${path.module}/build")
  }
}

resource "google_storage_bucket" "function_sources" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs (function zips); object reads are already in Cloud Audit Logs (Data Access) when enabled, a second log bucket adds cost without a reader.
  #checkov:skip=CKV_GCP_78:Objects are content-addressed (their name carries the zip's SHA-256) and never overwritten, so versioning would keep nothing.
  name     = "${var.project_id}-${var.name_prefix}-fn-src"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Only build inputs live here; tearing the stack down must not stall on them.
  force_destroy = true

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.functions

  # Every entry of the function table has a functions/<name>/main.py, so a package
  # (tests/terraform check it); indexing fails the plan loudly if one ever goes missing.
  bucket       = google_storage_bucket.function_sources.name
  name         = "functions/${each.key}-${data.external.function_packages.result["${each.key}.sha256"]}.zip"
  source       = data.external.function_packages.result["${each.key}.zip"]
  content_type = "application/zip"
}

# Where the function builds push their images: our own repository, so the build account can be
# granted write on it alone and old images are cleaned up.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images contain only the open application code and its public dependencies; no tenant data or secret is baked in, so Google-managed encryption suffices.
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built from the CloudAct function sources"

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent-builds"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old-builds"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days; the KEEP policy above wins for the newest builds
    }
  }

  depends_on = [google_project_service.enabled]
}
