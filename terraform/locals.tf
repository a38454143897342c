data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # ---------------------------------------------------------------------------------------------
  # The functions. One entry = one zip built from functions/<name>/main.py, one service account,
  # one Cloud Function whose entry point is the entry's entry_point (a function decorated with
  # @functions_framework.http in that main.py: none has an event trigger). Access is granted per
  # function in iam.tf.
  #
  # Extension point: a new function is one entry here plus its grants in iam.tf. The scheduler
  # function is kept apart so var.scheduler.enabled can leave it (and scheduler.tf) out.
  # ---------------------------------------------------------------------------------------------
  core_functions = {
    submit = {
      description     = "Authenticates run and backfill requests, records the runs PENDING and publishes them to the runs topic"
      entry_point     = "submit"
      public          = true # API clients call it; the API key is checked in the function
      memory          = "256Mi"
      timeout_seconds = 60
      max_instances   = 20
      min_instances   = 0
      reads_admin_key = false
      env             = {}
    }
    status = {
      description     = "Reads the caller's runs and backfills"
      entry_point     = "status"
      public          = true # API clients call it; the API key is checked in the function
      memory          = "256Mi"
      timeout_seconds = 60
      max_instances   = 20
      min_instances   = 0
      reads_admin_key = false
      env             = {}
    }
    admin = {
      description     = "Creates orgs, issues and revokes API keys, stores integration credentials"
      entry_point     = "admin"
      public          = true # operators and orgs call it; the admin key / API key is checked in the function
      memory          = "256Mi"
      timeout_seconds = 60
      max_instances   = 5
      min_instances   = 0
      reads_admin_key = true
      env             = {}
    }
    costs = {
      description     = "Reads the caller's costs from its FOCUS view and lists the pipelines it can run (read-only)"
      entry_point     = "costs"
      public          = true # the console and API clients call it; the API key is checked in the function
      memory          = "256Mi"
      timeout_seconds = 60
      max_instances   = 20
      min_instances   = 0
      reads_admin_key = false
      env = {
        # the ceiling on one cost query's billed bytes (the platform's CLOUDACT_MAX_BYTES_BILLED still caps it)
        CLOUDACT_COSTS_MAX_BYTES_BILLED = tostring(var.costs_max_bytes_billed)
      }
    }
    execute = {
      description = "Runs one queued pipeline run (Pub/Sub push from the runs subscription)"
      # The HTTP entry that takes the push subscription's raw envelope and answers 204 (ack) or
      # 503 (nack). main.py also has `execute`, a CloudEvent entry for an Eventarc trigger, which
      # this module does not use (pubsub.tf says why).
      entry_point     = "execute_push"
      public          = false # only the runs subscription's push identity may invoke it
      memory          = "512Mi"
      timeout_seconds = var.execute_timeout_seconds
      max_instances   = 10
      min_instances   = 0
      reads_admin_key = false
      env = {
        # A crashed worker's claim must lapse before Pub/Sub redelivers (ack deadline 600 s plus
        # backoff), or the redelivery would find the run still claimed and be acknowledged as a
        # duplicate, leaving the run to the reaper.
        CLOUDACT_RUN_LEASE_S           = tostring(var.execute_timeout_seconds + 30)
        CLOUDACT_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      }
    }
  }

  scheduler_function = {
    scheduler = {
      description     = "Queues the scheduled pipelines' runs and fails runs nothing will finish (called by Cloud Scheduler)"
      entry_point     = "scheduler"
      public          = false # only the Cloud Scheduler jobs' OIDC identity may invoke it
      memory          = "256Mi"
      timeout_seconds = 300
      # Every scheduled pipeline has its own job, and the reaper one more; jobs that fire in the
      # same minute must not wait for each other (with one instance they would get 429s). Two
      # calls for the same pipeline and schedule time cannot both add runs (trigger keys).
      max_instances   = 3
      min_instances   = 0
      reads_admin_key = false
      env = {
        # The function accepts a bearer token only if it is a Google OIDC token for its own URL
        # whose email is this account: the identity the jobs in scheduler.tf sign as. null only
        # while the scheduler is off, when this entry is not deployed.
        CLOUDACT_SCHEDULER_SERVICE_ACCOUNT = one(google_service_account.scheduler_invoker[*].email)
      }
    }
  }

  function_specs = merge(
    local.core_functions,
    { for name, spec in local.scheduler_function : name => spec if var.scheduler.enabled },
  )

  # The load balancer is the only way in when it exists; without it the function URLs are the API.
  api_via_load_balancer = length(var.api_domains) > 0
  public_ingress        = local.api_via_load_balancer ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"

  functions = {
    for name, spec in local.function_specs : name => merge(spec, {
      # Private functions are reached only by Pub/Sub push and Cloud Scheduler, both "internal"
      # sources for Cloud Run ingress when they live in the same project.
      ingress       = spec.public ? local.public_ingress : "ALLOW_INTERNAL_ONLY"
      memory        = coalesce(try(var.function_overrides[name].memory, null), spec.memory)
      max_instances = coalesce(try(var.function_overrides[name].max_instances, null), spec.max_instances)
      min_instances = coalesce(try(var.function_overrides[name].min_instances, null), spec.min_instances)
    })
  }

  public_functions = toset([for name, spec in local.functions : name if spec.public])

  # Read by shared/settings.py in every function (names fixed by the application).
  function_environment = {
    CLOUDACT_BACKEND            = "gcp"
    CLOUDACT_PROJECT            = var.project_id
    CLOUDACT_RUNS_TOPIC         = google_pubsub_topic.runs.name
    CLOUDACT_KMS_KEY            = google_kms_crypto_key.credentials.id
    CLOUDACT_FIRESTORE_DATABASE = google_firestore_database.state.name
    CLOUDACT_BQ_LOCATION        = var.bigquery_location
    CLOUDACT_MAX_BYTES_BILLED   = tostring(var.max_bytes_billed)
    # How many X-Forwarded-For entries, counted from the right, Google appended: the caller's
    # address is the leftmost of those (docs/deploy.md, "Client identity").
    CLOUDACT_TRUSTED_PROXIES = local.api_via_load_balancer ? "2" : "1"
  }

  # Fixed by the application code (shared/services/history.py, the Firestore store).
  history_dataset_id = "organizations"
  history_table_id   = "org_meta_pipeline_runs"
  runs_collection    = "runs"
  # The Firestore store sets this timestamp on a run record when the run finishes; the TTL
  # policy in firestore.tf deletes the record some time after it passes.
  runs_expiry_field = "expire_at"

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
