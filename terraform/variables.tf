# ---------------------------------------------------------------------------------------------
# Where
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "The Google Cloud project that hosts the platform: functions, topics, the `organizations` dataset and every org dataset."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits or hyphens), not a project number or name."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the KMS key ring, the source bucket, the build repository and (by default) Firestore."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a single region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every name this module creates (service accounts, functions, topics other than the runs topic). Short, because service account ids are limited to 30 characters."
  default     = "cloudact"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every resource that supports them (provider default_labels)."
  default     = { app = "cloudact-pipelines" }

  validation {
    condition     = alltrue([for key, value in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))])
    error_message = "Label keys must start with a lowercase letter; keys and values may hold only lowercase letters, digits, '_' and '-' (63 characters at most)."
  }
}

# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------

variable "python_runtime" {
  type        = string
  description = "Cloud Functions runtime of every function. The project is developed and tested on Python 3.11."
  default     = "python311"

  validation {
    condition     = contains(["python311", "python312", "python313"], var.python_runtime)
    error_message = "python_runtime must be python311, python312 or python313 (the project requires Python >= 3.11)."
  }
}

variable "python_executable" {
  type        = string
  description = "Python 3 interpreter on the machine running Terraform; it runs scripts/package_functions.py (standard library only) while planning."
  default     = "python3"
}

variable "function_overrides" {
  type = map(object({
    memory        = optional(string)
    max_instances = optional(number)
    min_instances = optional(number)
  }))
  description = "Per-function sizing, keyed by function name (submit, execute, status, admin, scheduler); unset fields keep the defaults in locals.tf."
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.function_overrides) : contains(["submit", "execute", "status", "admin", "scheduler"], name)])
    error_message = "function_overrides keys must be function names: submit, execute, status, admin or scheduler."
  }
}

variable "execute_timeout_seconds" {
  type        = number
  description = "Timeout of the execute (worker) function. Kept below the push subscription's 600 s ack deadline, so a run that times out is redelivered rather than delivered twice while still running."
  default     = 540

  validation {
    condition     = var.execute_timeout_seconds >= 60 && var.execute_timeout_seconds <= 540
    error_message = "execute_timeout_seconds must be between 60 and 540: the run lease is the timeout plus 30 s and must lapse before the 600 s ack deadline brings a redelivery."
  }
}

variable "max_bytes_billed" {
  type        = number
  description = "Upper bound of bytes billed by one BigQuery query of a run (CLOUDACT_MAX_BYTES_BILLED); a query over it fails instead of costing more."
  default     = 107374182400 # 100 GiB

  validation {
    condition     = var.max_bytes_billed >= 10485760 && floor(var.max_bytes_billed) == var.max_bytes_billed
    error_message = "max_bytes_billed must be a whole number of bytes, at least 10 MiB (BigQuery's minimum billed per query)."
  }
}

# ---------------------------------------------------------------------------------------------
# Queue
# ---------------------------------------------------------------------------------------------

variable "runs_topic_name" {
  type        = string
  description = "Name of the Pub/Sub topic that carries run messages (CLOUDACT_RUNS_TOPIC)."
  default     = "pipeline-runs"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}$", var.runs_topic_name)) && !startswith(lower(var.runs_topic_name), "goog")
    error_message = "runs_topic_name must be a valid Pub/Sub topic name (3-255 characters, starting with a letter, not with 'goog')."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one run message to the execute function before Pub/Sub moves it to the dead-letter topic. With the default backoff (10 s doubling to 600 s), 10 deliveries span about 40 minutes: past the run lease, so a crashed run is reclaimed by a redelivery, with attempts to spare."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows max_delivery_attempts from 5 to 100."
  }
}

variable "retry_minimum_backoff_seconds" {
  type        = number
  description = "Shortest wait before Pub/Sub redelivers a run message the worker did not acknowledge."
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be between 0 and 600."
  }
}

variable "retry_maximum_backoff_seconds" {
  type        = number
  description = "Longest wait between redeliveries of a run message (the backoff grows exponentially up to it)."
  default     = 600

  validation {
    condition     = var.retry_maximum_backoff_seconds >= 0 && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be between 0 and 600."
  }
}

variable "dead_letter_retention_days" {
  type        = number
  description = "How long dead-lettered run messages stay in the dead-letter subscription for inspection or replay."
  default     = 7

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 31
    error_message = "Pub/Sub retains messages for 1 to 31 days."
  }
}

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

variable "bigquery_location" {
  type        = string
  description = "Location of the `organizations` dataset and of the org datasets that onboarding creates (CLOUDACT_BQ_LOCATION). It must be the location of the orgs' billing exports, or their queries cannot join."
  default     = "US"
}

variable "bigquery_deletion_protection" {
  type        = bool
  description = "Refuse to delete the run history table on `terraform destroy` (set false only to tear down a test project)."
  default     = true
}

variable "firestore_database_name" {
  type        = string
  description = "Firestore (native mode) database holding orgs, key hashes, integrations and run state (CLOUDACT_FIRESTORE_DATABASE). A named database, so the platform never collides with a project's (default) database."
  default     = "cloudact"

  validation {
    condition     = var.firestore_database_name == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database_name))
    error_message = "firestore_database_name must be (default) or 4-63 lowercase letters, digits or hyphens."
  }
}

variable "firestore_location" {
  type        = string
  description = "Firestore location (a region such as us-central1 or a multi-region such as nam5); null means the functions' region."
  default     = null
}

variable "firestore_delete_protection" {
  type        = bool
  description = "Turn on Firestore delete protection, so the state of every org cannot be deleted by accident (set false only to tear down a test project)."
  default     = true
}

variable "kms_key_rotation_period" {
  type        = string
  description = "Time between automatic rotations of the key that wraps integration credentials, in seconds with an 's' suffix (7776000s = 90 days); older versions stay to decrypt what they wrapped."
  default     = "7776000s"

  validation {
    condition     = can(regex("^[1-9][0-9]*s$", var.kms_key_rotation_period)) && try(tonumber(trimsuffix(var.kms_key_rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.kms_key_rotation_period, "s")) <= 7776000, false)
    error_message = "kms_key_rotation_period must be between 86400s (1 day, the KMS minimum) and 7776000s (90 days, the CIS benchmark's limit)."
  }
}

variable "kms_protection_level" {
  type        = string
  description = "SOFTWARE or HSM protection for the credential-wrapping key."
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms_protection_level)
    error_message = "kms_protection_level must be SOFTWARE or HSM."
  }
}

# ---------------------------------------------------------------------------------------------
# Admin credential
# ---------------------------------------------------------------------------------------------

variable "admin_key_secret_id" {
  type        = string
  description = "Secret Manager secret (short id, in project_id) that holds the admin credential (CLOUDACT_ADMIN_KEY). It is created with gcloud before the first apply (docs/deploy.md), so its value never passes through Terraform variables or state."
  default     = "cloudact-admin-key"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,255}$", var.admin_key_secret_id))
    error_message = "admin_key_secret_id must be a secret id (letters, digits, '_' and '-'), not a full resource name."
  }
}

variable "admin_key_secret_version" {
  type        = string
  description = "Version of the admin credential secret the admin function reads at instance start: 'latest' or a version number (a number makes a rotation an explicit apply)."
  default     = "latest"

  validation {
    condition     = var.admin_key_secret_version == "latest" || can(regex("^[1-9][0-9]*$", var.admin_key_secret_version))
    error_message = "admin_key_secret_version must be 'latest' or a version number."
  }
}

# ---------------------------------------------------------------------------------------------
# Entry
# ---------------------------------------------------------------------------------------------

variable "costs_max_bytes_billed" {
  type        = number
  description = "Ceiling on the bytes one cost API query may bill (maximum_bytes_billed); a query over it fails instead of scanning more."
  default     = 10737418240

  validation {
    condition     = var.costs_max_bytes_billed >= 10485760
    error_message = "costs_max_bytes_billed must be at least 10 MiB (BigQuery bills at least 10 MB per query)."
  }
}

variable "api_domains" {
  type        = list(string)
  description = "Domain names of the single HTTPS entry (global external Application Load Balancer with a Google-managed certificate). Empty: no load balancer; submit, status and admin are then reached at their own function URLs (see outputs)."
  default     = []

  validation {
    condition     = alltrue([for domain in var.api_domains : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", domain))])
    error_message = "Each api_domains entry must be a lowercase fully qualified domain name without scheme or path, such as api.example.com."
  }
}

# ---------------------------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------------------------

variable "scheduler" {
  type = object({
    enabled         = optional(bool, true)
    reaper_schedule = optional(string, "*/10 * * * *")
  })
  description = "Scheduled pipelines. enabled (default true) deploys the private `scheduler` function, one Cloud Scheduler job per pipeline file with a `schedule:` block (configs/<provider>/<domain>/<pipeline>.yml: its cron and time zone, see pipelines.tf) and the reaper job, which calls the reap endpoint on reaper_schedule (five-field cron, UTC; every 10 minutes by default). false leaves all of it out; runs then start only through the API."
  default     = {}

  validation {
    condition     = length(regexall("[^ ]+", var.scheduler.reaper_schedule)) == 5
    error_message = "scheduler.reaper_schedule must be a five-field cron expression (minute hour day-of-month month day-of-week), such as \"*/10 * * * *\"."
  }
}
