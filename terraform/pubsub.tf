# ---------------------------------------------------------------------------------------------
# Runs queue: topic -> push subscription -> execute function, with a dead-letter topic.
#
# Why an explicit push subscription and not the function's Eventarc event_trigger: Eventarc
# creates and owns the subscription behind the trigger, and neither google_eventarc_trigger nor
# the function's event_trigger can set its dead_letter_policy, its retry backoff or its ack
# deadline: event_trigger only switches retries on (RETRY_POLICY_RETRY) or off, and a message
# that keeps failing is redelivered until it expires, then lost. A run that keeps failing must
# end in the dead-letter topic after max_delivery_attempts, so this module owns the
# subscription itself. The subscription POSTs the raw push envelope ({"message": {...},
# "subscription": ...}) to the execute function's HTTP entry point `execute_push` (locals.tf),
# which answers 204 to acknowledge and 503 to have the message redelivered (tests/terraform
# prove it on the packaged zip). The CloudEvent entry `execute` stays in the code for an
# Eventarc deployment; nothing here uses it.
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic" "runs" {
  #checkov:skip=CKV_GCP_83:Run messages carry ids and parameters only (never credentials, see RunMessage); CMEK would also have to be granted to the Pub/Sub service agent, and the credential key stays restricted to the execute and admin accounts.
  name = var.runs_topic_name

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "runs_dead_letter" {
  #checkov:skip=CKV_GCP_83:Same messages as the runs topic (ids and parameters, no secrets); see the runs topic.
  name = "${var.runs_topic_name}-dead-letter"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "runs_to_execute" {
  name  = "${var.runs_topic_name}-execute"
  topic = google_pubsub_topic.runs.id

  # For push, the ack deadline is how long Pub/Sub waits for the HTTP response: the maximum,
  # above the execute function's timeout (variables.tf keeps the timeout at 540 s or less).
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s" # 7 days: a stuck queue can be drained after an outage
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however long no run is submitted
  }

  # Unacknowledged (failed or transient) deliveries come back with exponential backoff ...
  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }

  # ... and after max_delivery_attempts move to the dead-letter topic instead of looping.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.runs_dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  push_config {
    # execute_push serves every path; the service URL itself is also the token's audience.
    push_endpoint = google_cloudfunctions2_function.function["execute"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.runs_push.email
      audience              = google_cloudfunctions2_function.function["execute"].service_config[0].uri
    }
  }

  lifecycle {
    precondition {
      condition     = var.retry_minimum_backoff_seconds <= var.retry_maximum_backoff_seconds
      error_message = "retry_minimum_backoff_seconds must not exceed retry_maximum_backoff_seconds."
    }
    # A delivery that finds its run held under a (possibly dead) worker's lease answers 503 and
    # comes back after the backoff: the redeliveries must outlast the lease (timeout + 30 s), or the
    # message is dead-lettered before any delivery may reclaim the run (docs/deploy.md, section 7).
    precondition {
      condition = sum(concat([0], [
        for attempt in range(var.max_delivery_attempts - 1) :
        min(var.retry_maximum_backoff_seconds, var.retry_minimum_backoff_seconds * pow(2, attempt))
      ])) >= var.execute_timeout_seconds + 30
      error_message = "The retry backoff summed over max_delivery_attempts must outlast the run lease (execute_timeout_seconds + 30 s): raise max_delivery_attempts or the backoff."
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.runs_push_invokes_execute]
}

# Nothing dead-lettered is lost: it waits here for an operator (docs/deploy.md shows how to
# inspect and replay it).
resource "google_pubsub_subscription" "runs_dead_letter" {
  name  = "${var.runs_topic_name}-dead-letter-sub"
  topic = google_pubsub_topic.runs_dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = "${var.dead_letter_retention_days * 86400}s"
  retain_acked_messages      = true # a replayed message can be looked at again

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards dead letters: it must publish to the dead-letter topic and
# acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.runs_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_runs" {
  subscription = google_pubsub_subscription.runs_to_execute.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Pub/Sub mints the push OIDC token as runs_push. Projects created before April 2021 need this
# grant explicitly; it is scoped to that one account, not the project.
resource "google_service_account_iam_member" "pubsub_agent_signs_push_tokens" {
  service_account_id = google_service_account.runs_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
