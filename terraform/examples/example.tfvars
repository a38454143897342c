# An example deployment: `terraform apply -var-file=examples/example.tfvars`, or copy it to
# terraform.tfvars and adjust. Only project_id is required; everything else shows a default
# being changed. Nothing secret belongs here: the admin credential lives in Secret Manager.

project_id = "acme-cloudact-prod"
region     = "europe-west1"

# BigQuery location of the run history and the org datasets: the location of the orgs'
# billing exports (an EU export cannot be queried from a US dataset).
bigquery_location  = "EU"
firestore_location = "eur3"

# The single HTTPS entry. Point an A record for each name at the `api_ip_address` output;
# the Google-managed certificate is issued once they resolve (15-60 minutes).
api_domains = ["api.cloudact.example.com"]

# Worker queue behaviour.
max_delivery_attempts         = 10
retry_minimum_backoff_seconds = 10
retry_maximum_backoff_seconds = 600
execute_timeout_seconds       = 540

# At most 100 GiB billed by any one query of a run.
max_bytes_billed = 107374182400

function_overrides = {
  execute = { memory = "1Gi", max_instances = 20 }
  submit  = { min_instances = 1 } # no cold start on the API's busiest path
}

labels = {
  app         = "cloudact-pipelines"
  environment = "prod"
}

# Scheduled pipelines are on by default: one Cloud Scheduler job per pipeline file with a
# `schedule:` block, plus the reaper. Only the reaper's interval is a variable (default every
# 10 minutes); a pipeline's schedule lives in its YAML file. `enabled = false` leaves out the
# scheduler function and every job.
scheduler = {
  reaper_schedule = "*/15 * * * *"
}
