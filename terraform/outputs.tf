output "api_base_url" {
  description = "Base URL of the single HTTPS entry (https://<first api domain>), or null when api_domains is empty and the function URLs below are the API."
  value       = local.api_via_load_balancer ? "https://${var.api_domains[0]}" : null
}

output "api_ip_address" {
  description = "Address to point the api_domains DNS A records at (the managed certificate is issued once they resolve to it); null without a load balancer."
  value       = local.api_via_load_balancer ? google_compute_global_address.api[0].address : null
}

output "function_urls" {
  description = "HTTPS URL of every function. submit, status and admin serve the API paths themselves (each only its own); execute and scheduler are not reachable from the internet."
  value       = { for name, function in google_cloudfunctions2_function.function : name => function.service_config[0].uri }
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job of each scheduled pipeline (\"<provider>/<domain>/<pipeline>\" -> job name) and of the reaper (\"reaper\"); `gcloud scheduler jobs run <name> --location <region>` fires one now. Empty with scheduler.enabled = false."
  value = merge(
    { for pipeline, job in google_cloud_scheduler_job.pipeline_tick : pipeline => job.name },
    { for job in google_cloud_scheduler_job.reaper : "reaper" => job.name },
  )
}

output "runs_topic" {
  description = "Pub/Sub topic that carries run messages (CLOUDACT_RUNS_TOPIC)."
  value       = google_pubsub_topic.runs.name
}

output "runs_subscription" {
  description = "Push subscription that delivers run messages to the execute function."
  value       = google_pubsub_subscription.runs_to_execute.name
}

output "dead_letter_topic" {
  description = "Topic that receives run messages after max_delivery_attempts failed deliveries."
  value       = google_pubsub_topic.runs_dead_letter.name
}

output "dead_letter_subscription" {
  description = "Subscription holding dead-lettered run messages for inspection and replay."
  value       = google_pubsub_subscription.runs_dead_letter.name
}

output "kms_key_id" {
  description = "Full id of the key that wraps integration credentials (CLOUDACT_KMS_KEY)."
  value       = google_kms_crypto_key.credentials.id
}

output "firestore_database" {
  description = "Firestore database holding the platform state (CLOUDACT_FIRESTORE_DATABASE)."
  value       = google_firestore_database.state.name
}

output "run_history_table" {
  description = "BigQuery table of finished runs."
  value       = "${var.project_id}.${google_bigquery_dataset.organizations.dataset_id}.${google_bigquery_table.run_history.table_id}"
}

output "function_service_accounts" {
  description = "Runtime service account of each function."
  value       = { for name, account in google_service_account.function : name => account.email }
}
