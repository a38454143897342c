# ---------------------------------------------------------------------------------------------
# The scheduled pipelines, read from the pipeline files themselves: every
# configs/<provider>/<domain>/<pipeline>.yml with a `schedule:` block gets its own Cloud
# Scheduler job (scheduler.tf). Scheduling, rescheduling or unscheduling a pipeline is an edit
# of its YAML file and an apply, never a variable: the job and the file cannot disagree.
#
# This file reads only files under the repository root and refers to nothing else of the
# module, so tests/terraform can evaluate it with `terraform console` on its own, without
# providers or credentials (test_pipeline_schedules.py). Keep it that way.
# ---------------------------------------------------------------------------------------------

locals {
  # The repository: functions/, shared/ and configs/ (the same root packaging.tf zips).
  repo_root = "${path.module}/.."

  # "<provider>/<domain>/<pipeline>" -> the file's path under repo_root. The same selection as
  # discover() in shared/pipelines/config.py: exactly three levels under configs/, each name a
  # lowercase identifier; any other .yml there is not a pipeline to the application.
  pipeline_files = {
    for yml in fileset(local.repo_root, "configs/*/*/*.yml") :
    trimsuffix(trimprefix(yml, "configs/"), ".yml") => yml
    if alltrue([
      for segment in split("/", trimsuffix(trimprefix(yml, "configs/"), ".yml")) :
      can(regex("^[a-z][a-z0-9_]{0,62}$", segment))
    ])
  }

  pipeline_documents = {
    for ref, yml in local.pipeline_files : ref => yamldecode(file("${local.repo_root}/${yml}"))
  }

  # One entry per pipeline with a schedule. A `schedule:` block without `cron` fails the plan
  # here, as it fails the application's own validation (shared/pipelines/config.py, Schedule).
  scheduled_pipelines = {
    for ref, document in local.pipeline_documents : ref => {
      # <provider>-<domain>-<pipeline>: the job's name after the prefix. Names hold only
      # [a-z0-9_], so two pipelines never share one.
      job_id = join("-", split("/", ref))
      cron   = document.schedule.cron
      # The application's default zone when the file names none (Schedule.timezone).
      time_zone = try(document.schedule.timezone, "UTC")
      # What the tick endpoint reads: the one pipeline this job is for.
      body = jsonencode({ pipeline = ref })
    }
    if try(document.schedule, null) != null
  }

  # One entry per scheduled pipeline whose schedule has an `invoice_close_cron`: its monthly
  # invoice-close job (scheduler.tf), which re-runs the closed invoice month's days with the source
  # read up to the close (shared/services/scheduling.py).
  invoice_close_pipelines = {
    for ref, document in local.pipeline_documents : ref => {
      job_id    = "${join("-", split("/", ref))}-invoice-close"
      cron      = document.schedule.invoice_close_cron
      time_zone = try(document.schedule.timezone, "UTC")
      body      = jsonencode({ pipeline = ref, invoice_close = true })
    }
    if try(document.schedule.invoice_close_cron, null) != null
  }
}
