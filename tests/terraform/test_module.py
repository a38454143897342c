"""What the deployment promises, read off the parsed Terraform module.

Each test names one promise of the deployment (DESIGN.md "Deployment", docs/deploy.md) and checks
the configuration that keeps it; none needs a provider or a cloud project.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared.adapters.gcp.store import RUN_INDEXES
from shared.services.history import RUN_HISTORY
from shared.settings import PROJECT_ROOT
from tests.terraform import hcl
from tests.terraform.hcl import block, clean

CORE_FUNCTIONS = {"submit", "execute", "status", "admin"}
FUNCTION_FOLDERS = sorted(path.parent.name for path in (PROJECT_ROOT / "functions").glob("*/main.py"))
# The functions no load-balancer path may reach, each with the reason. Named one by one, so a new
# function is private only when someone says so here; every other function is public API, and
# the route test below then requires a path rule for each of its routes.
PRIVATE_FUNCTIONS = {
    "execute": "invoked only by the runs subscription's push (its OIDC identity), at its own URL",
    "scheduler": "invoked only by the Cloud Scheduler jobs (their OIDC identity), at its own URL",
}
API_FUNCTIONS = [name for name in FUNCTION_FOLDERS if name not in PRIVATE_FUNCTIONS]
SCHEDULER_URI = 'google_cloudfunctions2_function.function["scheduler"].service_config[0].uri'
FIXED_ENVIRONMENT = {
    "CLOUDACT_BACKEND",
    "CLOUDACT_PROJECT",
    "CLOUDACT_RUNS_TOPIC",
    "CLOUDACT_KMS_KEY",
    "CLOUDACT_FIRESTORE_DATABASE",
    "CLOUDACT_BQ_LOCATION",
    "CLOUDACT_MAX_BYTES_BILLED",
    "CLOUDACT_TRUSTED_PROXIES",
}


def _member(function: str) -> str:
    """The expression for a function account's IAM member."""
    return f'${{google_service_account.function["{function}"].member}}'


def _text(value: Any) -> str:
    return " ".join(hcl.strings(value))


def _function_specs(module: hcl.Module) -> dict[str, dict[str, Any]]:
    return {**clean(module.locals["core_functions"]), **clean(module.locals["scheduler_function"])}


def _gated_by_scheduler(body: dict[str, Any]) -> bool:
    return "var.scheduler.enabled" in str(body.get("count", "")) + str(body.get("for_each", ""))


# --- variables, versions ---------------------------------------------------------------------


def test_every_variable_is_typed_and_described(module: hcl.Module) -> None:
    for name, body in module.variables.items():
        assert body.get("type"), f"variable {name} has no type"
        description = hcl.unquote(body.get("description", ""))
        assert len(description) >= 20, f"variable {name} has no real description: {description!r}"


def test_versions_pin_terraform_and_the_google_provider(module: hcl.Module) -> None:
    terraform = next(clean(entry) for entry in module.other if "required_providers" in clean(entry))
    assert terraform["required_version"] == ">= 1.6"
    providers = terraform["required_providers"][0]
    assert providers["google"]["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> 6\.\d+", providers["google"]["version"])


def test_example_tfvars_sets_only_declared_variables_and_every_required_one(module: hcl.Module) -> None:
    with (hcl.TERRAFORM_DIR / "examples" / "example.tfvars").open() as handle:
        values = hcl2.load(handle)
    assigned = {key for key in values if not key.startswith("__")}
    assert assigned <= set(module.variables), assigned - set(module.variables)
    required = {name for name, body in module.variables.items() if "default" not in body}
    assert required == {"project_id"}
    assert required <= assigned


# --- functions -------------------------------------------------------------------------------


def test_every_function_folder_is_deployed_with_an_http_entry_point(module: hcl.Module) -> None:
    specs = _function_specs(module)
    folders = set(FUNCTION_FOLDERS)
    assert folders >= CORE_FUNCTIONS | {"scheduler"}
    # both ways: a folder without an entry is never deployed, an entry without a folder has no zip
    assert folders == set(specs), f"not deployed: {folders - set(specs)}; no folder: {set(specs) - folders}"
    for name, spec in specs.items():
        source = (PROJECT_ROOT / "functions" / name / "main.py").read_text()
        # No function has an event trigger (Pub/Sub and Cloud Scheduler both call over HTTP), so
        # each entry point must be an HTTP function; a CloudEvent one could not take a push body.
        assert re.search(rf"^@functions_framework\.http\ndef {spec['entry_point']}\(", source, re.M), (name, spec)
    function = module.resource("google_cloudfunctions2_function", "function")
    assert block(function, "build_config")["entry_point"] == "${each.value.entry_point}"
    # the push subscription delivers the raw envelope: the HTTP entry, not the CloudEvent `execute`
    assert specs["execute"]["entry_point"] == "execute_push"
    assert {name: spec["entry_point"] for name, spec in specs.items() if name != "execute"} == {
        name: name for name in specs if name != "execute"
    }


def test_every_function_has_its_own_service_account_and_explicit_ingress(module: hcl.Module) -> None:
    function = module.resource("google_cloudfunctions2_function", "function")
    accounts = module.resource("google_service_account", "function")
    assert function["for_each"] == accounts["for_each"] == "${local.functions}"
    service = block(function, "service_config")
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["ingress_settings"] == "${each.value.ingress}"
    # every entry gets an explicit ingress from its public flag, never the platform default
    assert 'ingress = spec.public ? local.public_ingress : "ALLOW_INTERNAL_ONLY"' in module.locals["functions"]
    assert module.locals["public_ingress"] == '${local.api_via_load_balancer ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"}'
    specs = _function_specs(module)
    assert {name for name, spec in specs.items() if spec["public"] is True} == {"submit", "status", "admin", "costs"}
    assert all(isinstance(spec["public"], bool) for spec in specs.values())
    # no other resource creates or passes a function identity
    assert set(module.resources_of("google_cloudfunctions2_function")) == {"function"}


def test_only_the_api_functions_are_publicly_invocable(module: hcl.Module) -> None:
    public = module.resource("google_cloud_run_v2_service_iam_member", "public_invoker")
    assert public["for_each"] == "${local.public_functions}"
    assert "if spec.public" in module.locals["public_functions"]
    for type_, name, body in module.all_resources():
        text = _text(body)
        if (type_, name) != ("google_cloud_run_v2_service_iam_member", "public_invoker"):
            assert "allUsers" not in text and "allAuthenticatedUsers" not in text, f"{type_}.{name} is public"
    execute_invoker = module.resource("google_cloud_run_v2_service_iam_member", "runs_push_invokes_execute")
    assert 'function["execute"]' in execute_invoker["name"]
    assert execute_invoker["member"] == "${google_service_account.runs_push.member}"
    scheduler_invoker = clean(module.resource("google_cloud_run_v2_service_iam_member", "scheduler_invokes_scheduler"))
    assert 'function["scheduler"]' in scheduler_invoker["name"]
    assert scheduler_invoker["role"] == "roles/run.invoker"
    assert scheduler_invoker["member"] == "${google_service_account.scheduler_invoker[0].member}"


def test_functions_get_the_fixed_environment_and_the_admin_key_only_from_secret_manager(module: hcl.Module) -> None:
    environment = clean(module.locals["function_environment"])
    assert set(environment) == FIXED_ENVIRONMENT
    assert environment["CLOUDACT_BACKEND"] == "gcp"
    assert environment["CLOUDACT_RUNS_TOPIC"] == "${google_pubsub_topic.runs.name}"
    assert environment["CLOUDACT_KMS_KEY"] == "${google_kms_crypto_key.credentials.id}"  # the full key id
    # the client behind the load balancer is the second X-Forwarded-For entry from the right
    assert environment["CLOUDACT_TRUSTED_PROXIES"] == '${local.api_via_load_balancer ? "2" : "1"}'
    assert module.variables["runs_topic_name"]["default"] == '"pipeline-runs"'

    service = block(module.resource("google_cloudfunctions2_function", "function"), "service_config")
    assert service["environment_variables"] == "${merge(local.function_environment, each.value.env)}"
    secret = clean(service["dynamic"][0])["secret_environment_variables"]
    assert secret["for_each"] == "${each.value.reads_admin_key ? [var.admin_key_secret_id] : []}"
    assert secret["content"][0]["key"] == "CLOUDACT_ADMIN_KEY"
    specs = _function_specs(module)
    assert {name for name, spec in specs.items() if spec["reads_admin_key"]} == {"admin"}
    for spec in specs.values():
        assert "CLOUDACT_ADMIN_KEY" not in spec["env"]
    # every variable set is one the application reads (a misspelt name would be silently ignored)
    settings_source = (PROJECT_ROOT / "shared" / "settings.py").read_text()
    for name in set(environment).union(*(spec["env"] for spec in specs.values())):
        assert f'"{name}"' in settings_source, f"{name} is not read by shared/settings.py"
    # the value never passes through Terraform: no secret version, no variable holding it
    assert not module.resources_of("google_secret_manager_secret_version")
    assert not any("admin_key" in name and "secret" not in name for name in module.variables)
    accessor = module.resource("google_secret_manager_secret_iam_member", "admin_reads_admin_key")
    assert accessor["role"] == '"roles/secretmanager.secretAccessor"'
    assert accessor["member"] == _member("admin")


def test_source_object_names_carry_the_archive_hash(module: hcl.Module) -> None:
    source = module.resource("google_storage_bucket_object", "function_source")
    assert source["for_each"] == "${local.functions}"
    assert '"${each.key}.sha256"' in source["name"]
    assert '"${each.key}.zip"' in source["source"]
    storage = block(
        block(block(module.resource("google_cloudfunctions2_function", "function"), "build_config"), "source"),
        "storage_source",
    )
    assert storage["object"] == "${google_storage_bucket_object.function_source[each.key].name}"
    packages = module.data["external"]["function_packages"]
    assert "scripts/package_functions.py" in _text(packages["program"])


# --- queue -----------------------------------------------------------------------------------


def test_worker_subscription_retries_with_backoff_then_dead_letters(module: hcl.Module) -> None:
    subscription = module.resource("google_pubsub_subscription", "runs_to_execute")
    assert subscription["topic"] == "${google_pubsub_topic.runs.id}"
    retry = block(subscription, "retry_policy")
    assert retry["minimum_backoff"] == '"${var.retry_minimum_backoff_seconds}s"'
    assert retry["maximum_backoff"] == '"${var.retry_maximum_backoff_seconds}s"'
    dead_letter = block(subscription, "dead_letter_policy")
    assert dead_letter["dead_letter_topic"] == "${google_pubsub_topic.runs_dead_letter.id}"
    assert dead_letter["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    attempts = module.variables["max_delivery_attempts"]
    assert attempts["default"] == 10
    assert (
        "var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100" in attempts["validation"][0]["condition"]
    )
    checks = [check["condition"] for check in block(subscription, "lifecycle")["precondition"]]
    assert checks[0] == "${var.retry_minimum_backoff_seconds <= var.retry_maximum_backoff_seconds}"
    # the redeliveries outlast a crashed worker's lease (the timeout plus 30 s)
    assert "var.max_delivery_attempts - 1" in checks[1] and "var.execute_timeout_seconds + 30" in checks[1]
    # the ack deadline outlasts the worker's longest run
    assert subscription["ack_deadline_seconds"] == 600
    assert (
        "var.execute_timeout_seconds <= 540"
        in module.variables["execute_timeout_seconds"]["validation"][0]["condition"]
    )


def test_worker_is_pushed_to_with_an_oidc_token_and_has_no_second_trigger(module: hcl.Module) -> None:
    push = block(module.resource("google_pubsub_subscription", "runs_to_execute"), "push_config")
    uri = 'google_cloudfunctions2_function.function["execute"].service_config[0].uri'
    assert push["push_endpoint"] == f"${{{uri}}}"
    # wrapped delivery (the default): execute_push reads the {"message": ..., "subscription": ...}
    # envelope, which no_wrapper would strip
    assert "no_wrapper" not in push
    token = block(push, "oidc_token")
    assert token["service_account_email"] == "${google_service_account.runs_push.email}"
    assert token["audience"] == f"${{{uri}}}"
    # an Eventarc trigger as well would deliver every run twice, without the dead-letter policy
    assert "event_trigger" not in module.resource("google_cloudfunctions2_function", "function")
    assert not module.resources_of("google_eventarc_trigger")


def test_every_dead_letter_topic_has_a_subscription_so_nothing_is_lost(module: hcl.Module) -> None:
    dead_letter_topics = {
        block(body, "dead_letter_policy")["dead_letter_topic"]
        for body in module.resources_of("google_pubsub_subscription").values()
        if "dead_letter_policy" in body
    }
    assert dead_letter_topics == {"${google_pubsub_topic.runs_dead_letter.id}"}
    holders = [
        body
        for body in module.resources_of("google_pubsub_subscription").values()
        if body["topic"] in dead_letter_topics
    ]
    assert len(holders) == 1
    holder = holders[0]
    assert "push_config" not in holder  # a pull subscription: messages wait for an operator
    assert block(holder, "expiration_policy")["ttl"] == '""'
    assert "dead_letter_retention_days" in holder["message_retention_duration"]


def test_pubsub_service_agent_can_forward_dead_letters(module: hcl.Module) -> None:
    agent = module.locals["pubsub_service_agent"]
    assert agent == '"serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"'
    publish = module.resource("google_pubsub_topic_iam_member", "pubsub_agent_publishes_dead_letters")
    assert (publish["topic"], publish["role"], publish["member"]) == (
        "${google_pubsub_topic.runs_dead_letter.id}",
        '"roles/pubsub.publisher"',
        "${local.pubsub_service_agent}",
    )
    subscribe = module.resource("google_pubsub_subscription_iam_member", "pubsub_agent_acks_runs")
    assert (subscribe["subscription"], subscribe["role"], subscribe["member"]) == (
        "${google_pubsub_subscription.runs_to_execute.id}",
        '"roles/pubsub.subscriber"',
        "${local.pubsub_service_agent}",
    )


def test_only_run_submitters_may_publish_runs(module: hcl.Module) -> None:
    publishers = module.resource("google_pubsub_topic_iam_member", "publishes_runs")
    assert publishers["for_each"] == "${local.run_publishers}"
    assert '["submit", "scheduler"]' in module.locals["run_publishers"]


# --- keys ------------------------------------------------------------------------------------


def test_kms_roles_go_only_to_the_execute_and_admin_accounts(module: hcl.Module) -> None:
    grants = {}
    for type_, name, body in module.all_resources():
        if "cloudkms" in _text(body.get("role", "")):
            grants[f"{type_}.{name}"] = (hcl.unquote(body["role"]), body["member"])
    assert grants == {
        "google_kms_crypto_key_iam_member.admin_encrypts_credentials": (
            "roles/cloudkms.cryptoKeyEncrypter",
            _member("admin"),
        ),
        "google_kms_crypto_key_iam_member.execute_decrypts_credentials": (
            "roles/cloudkms.cryptoKeyDecrypter",
            _member("execute"),
        ),
    }


def test_credential_key_rotates_and_cannot_be_destroyed(module: hcl.Module) -> None:
    key = module.resource("google_kms_crypto_key", "credentials")
    assert block(key, "lifecycle")["prevent_destroy"] is True
    assert key["purpose"] == '"ENCRYPT_DECRYPT"'
    assert key["rotation_period"] == "${var.kms_key_rotation_period}"
    rotation = module.variables["kms_key_rotation_period"]
    assert rotation["default"] == '"7776000s"'  # 90 days
    assert "<= 7776000" in rotation["validation"][0]["condition"]


# --- data ------------------------------------------------------------------------------------


def test_run_history_table_matches_the_application_schema(module: hcl.Module) -> None:
    aliases = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
    schema = json.loads((hcl.TERRAFORM_DIR / "schemas" / "org_meta_pipeline_runs.json").read_text())
    deployed = [(column["name"], aliases.get(column["type"], column["type"]), column["mode"]) for column in schema]
    assert deployed == [(column.name, column.type, column.mode) for column in RUN_HISTORY.columns]
    assert clean(module.locals["history_dataset_id"]) == RUN_HISTORY.dataset
    assert clean(module.locals["history_table_id"]) == RUN_HISTORY.name
    table = module.resource("google_bigquery_table", "run_history")
    assert table["schema"] == '${file("${path.module}/schemas/org_meta_pipeline_runs.json")}'
    partitioning = clean(block(table, "time_partitioning"))
    assert partitioning == {"type": "DAY", "field": RUN_HISTORY.partition_field}
    assert [hcl.unquote(column) for column in table["clustering"]] == list(RUN_HISTORY.clustering)


def test_bigquery_rights_are_narrower_than_project_wide_data_editor(module: hcl.Module) -> None:
    broad = (
        "roles/bigquery.admin",
        "roles/bigquery.dataEditor",
        "roles/bigquery.dataOwner",
        "roles/owner",
        "roles/editor",
    )
    for name, body in module.resources_of("google_project_iam_member").items():
        assert hcl.unquote(body["role"]) not in broad, f"google_project_iam_member.{name} grants {body['role']}"
    roles = {
        name: [hcl.unquote(p) for p in body["permissions"]]
        for name, body in module.resources_of("google_project_iam_custom_role").items()
    }
    assert roles["dataset_creator"] == ["bigquery.datasets.create"]
    for permissions in roles.values():
        for permission in permissions:
            assert not permission.endswith((".delete", ".setIamPolicy")), permission
            assert permission != "bigquery.datasets.update"
    assert module.resource("google_project_iam_member", "admin_creates_org_datasets")["member"] == _member("admin")
    assert module.resource("google_project_iam_member", "execute_writes_run_tables")["member"] == _member("execute")
    # status exports FOCUS rows: read-only on tables, nothing that writes
    assert roles["table_reader"] == ["bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData"]
    assert module.resource("google_project_iam_member", "status_reads_focus_tables")["member"] == _member("status")
    assert clean(module.locals["bigquery_job_users"]) == (
        '${toset([for name in ["execute", "admin", "scheduler", "status", "costs"] : name'
        " if contains(keys(local.functions), name)])}"
    )
    # the cost API reads, and only reads: the same read-only role
    costs_grant = module.resource("google_project_iam_member", "costs_reads_org_tables")
    assert costs_grant["member"] == _member("costs")
    assert costs_grant["role"] == "${google_project_iam_custom_role.table_reader.name}"


def test_firestore_grants_are_held_to_the_platform_database(module: hcl.Module) -> None:
    grant = module.resource("google_project_iam_member", "firestore_access")
    assert grant["for_each"] == "${local.firestore_roles}"
    assert block(grant, "condition")["expression"] == '"resource.name == \\"${google_firestore_database.state.id}\\""'
    roles = module.locals["firestore_roles"]
    assert 'status    = "roles/datastore.viewer"' in roles or 'status = "roles/datastore.viewer"' in roles


def _run_indexes(module: hcl.Module) -> dict[str, tuple[tuple[str, str], ...]]:
    """``local.runs_indexes`` as index name -> ``((field_path, order), ...)`` in index order."""
    indexes = {}
    for name, fields in clean(module.locals["runs_indexes"]).items():
        assert isinstance(fields, list) and fields, f"runs index {name} has no fields"
        assert all(set(entry) == {"field_path", "order"} for entry in fields), f"runs index {name}: {fields}"
        indexes[name] = tuple((entry["field_path"], entry["order"]) for entry in fields)
    return indexes


def test_firestore_indexes_are_exactly_the_ones_the_store_queries_need(module: hcl.Module) -> None:
    # RUN_INDEXES is the store's own list (the status lists, backfill progress, the worker's
    # last-complete lookup, the reaper's two scans); the store's tests keep its queries within it.
    # One resource makes every index, so no index can bypass the comparison below.
    assert set(module.resources_of("google_firestore_index")) == {"runs"}
    resource = module.resource("google_firestore_index", "runs")
    assert resource["for_each"] == "${local.runs_indexes}"
    assert resource["collection"] == "${local.runs_collection}"
    assert "fields" not in resource  # a static block would be added to every index
    # The fields blocks are the entry's list, one per element in list order (a dynamic block
    # keeps the order of a list it iterates)
    assert clean(resource["dynamic"]) == [
        {
            "fields": {
                "for_each": "${each.value}",
                "content": [{"field_path": "${fields.value.field_path}", "order": "${fields.value.order}"}],
            }
        }
    ]
    indexes = list(_run_indexes(module).values())
    assert len(indexes) == len(set(indexes))
    assert sorted(indexes) == sorted(
        tuple((field.field, "DESCENDING" if field.descending else "ASCENDING") for field in index.fields)
        for index in RUN_INDEXES
        if index.collection == clean(module.locals["runs_collection"])
    )
    assert clean(module.locals["runs_collection"]) == "runs"
    assert {index.collection for index in RUN_INDEXES} == {"runs"}


# The indexes were once one resource each; deployments made then hold them at these addresses.
def test_finished_run_records_expire_through_a_ttl_policy(module: hcl.Module) -> None:
    ttl = module.resource("google_firestore_field", "runs_expire_at")
    assert ttl["collection"] == "${local.runs_collection}"
    assert ttl["field"] == "${local.runs_expiry_field}"
    assert clean(module.locals["runs_expiry_field"]) == "expire_at"
    assert "ttl_config" in ttl and "index_config" in ttl


# --- scheduling ------------------------------------------------------------------------------


def _function_route_table(name: str) -> list[tuple[str, str]]:
    """``(method, path)`` of each route in the ``web.routes(...)`` table of ``functions/<name>/main.py``,
    read without importing the module (importing one registers handlers on functions-framework's app)."""
    tree = ast.parse((PROJECT_ROOT / "functions" / name / "main.py").read_text())
    return [
        (route.elts[0].value, route.elts[1].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "routes"
        for route in node.args
        if isinstance(route, ast.Tuple) and all(isinstance(element, ast.Constant) for element in route.elts[:2])
    ]


@pytest.mark.parametrize(
    ("job", "path"),
    [
        ("pipeline_tick", "/api/v1/scheduler/tick"),
        ("pipeline_invoice_close", "/api/v1/scheduler/tick"),
        ("reaper", "/api/v1/scheduler/reap"),
    ],
)
def test_scheduler_jobs_post_to_the_scheduler_routes_with_an_oidc_token_for_its_url(
    module: hcl.Module, job: str, path: str
) -> None:
    assert set(module.resources_of("google_cloud_scheduler_job")) == {
        "pipeline_tick",
        "pipeline_invoice_close",
        "reaper",
    }
    body = clean(module.resource("google_cloud_scheduler_job", job))
    assert _gated_by_scheduler(body), f"google_cloud_scheduler_job.{job} must exist only with the scheduler"
    assert ("POST", path) in _function_route_table("scheduler")
    target = block(body, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == f"${{{SCHEDULER_URI}}}{path}"
    token = block(target, "oidc_token")
    # The function verifies the token against https://<Host header>: the bare service URL, not
    # the URL with its path (and Cloud Run accepts the service URL as the audience too).
    assert token["audience"] == f"${{{SCHEDULER_URI}}}"
    assert token["service_account_email"] == "${google_service_account.scheduler_invoker[0].email}"
    assert body["depends_on"] == ["${google_cloud_run_v2_service_iam_member.scheduler_invokes_scheduler}"]


@pytest.mark.parametrize(
    ("resource", "pipelines"),
    [("pipeline_tick", "scheduled_pipelines"), ("pipeline_invoice_close", "invoice_close_pipelines")],
)
def test_each_tick_job_names_its_pipeline_and_fires_on_the_files_schedule(
    module: hcl.Module, resource: str, pipelines: str
) -> None:
    # Which pipelines get a job is test_pipeline_schedules.py's subject; this is what each job sends.
    job = clean(module.resource("google_cloud_scheduler_job", resource))
    assert job["for_each"] == f"${{var.scheduler.enabled ? local.{pipelines} : {{}}}}"
    assert job["name"] == "${var.name_prefix}-${each.value.job_id}"
    assert (job["schedule"], job["time_zone"]) == ("${each.value.cron}", "${each.value.time_zone}")
    target = block(job, "http_target")
    assert target["body"] == "${base64encode(each.value.body)}"
    assert target["headers"] == {"Content-Type": "application/json"}  # read_json refuses any other type
    # a failed tick is retried (the next firing may be a day away); retries add no runs, since
    # Cloud Scheduler keeps the job name and schedule time the run keys are made of
    assert block(job, "retry_config")["retry_count"] >= 1
    # the jobs come from the pipeline files only: no variable can add or reschedule one
    assert "jobs" not in module.variables["scheduler"]["type"]


def test_the_reaper_job_runs_on_a_variable_interval(module: hcl.Module) -> None:
    reaper = clean(module.resource("google_cloud_scheduler_job", "reaper"))
    assert reaper["count"] == "${var.scheduler.enabled ? 1 : 0}"
    assert reaper["name"] == "${var.name_prefix}-reaper"  # one segment: never a pipeline job's name
    assert reaper["schedule"] == "${var.scheduler.reaper_schedule}"
    variable = clean(module.variables["scheduler"])
    assert 'reaper_schedule = optional(string, "*/10 * * * *")' in variable["type"]
    assert "var.scheduler.reaper_schedule" in variable["validation"][0]["condition"]


def test_scheduler_function_is_private_and_trusts_only_its_callers_tokens(module: hcl.Module) -> None:
    spec = _function_specs(module)["scheduler"]
    assert spec["public"] is False  # so ALLOW_INTERNAL_ONLY and no allUsers grant
    # the only identity whose tokens the function accepts is the one the jobs sign as
    assert spec["env"] == {
        "CLOUDACT_SCHEDULER_SERVICE_ACCOUNT": "${one(google_service_account.scheduler_invoker[*].email)}"
    }
    # the audience stays the URL each request was sent to: a fixed CLOUDACT_SCHEDULER_AUDIENCE
    # is for local use only
    assert "CLOUDACT_SCHEDULER_AUDIENCE" not in " ".join(_text(body) for body in module.bodies())


def test_scheduler_account_may_do_only_what_tick_and_reap_do(module: hcl.Module) -> None:
    # tick records runs (Firestore) and publishes them, like submit; reap fails runs (Firestore)
    # and writes their history rows with a MERGE job into organizations.org_meta_pipeline_runs.
    assert re.search(r'scheduler\s*=\s*"roles/datastore.user"', module.locals["firestore_roles"])
    assert '"scheduler"' in module.locals["run_publishers"]
    assert '"scheduler"' in module.locals["bigquery_job_users"]
    history = clean(module.resource("google_bigquery_dataset_iam_member", "scheduler_writes_run_history"))
    assert history["count"] == "${var.scheduler.enabled ? 1 : 0}"
    assert history["dataset_id"] == "${google_bigquery_dataset.organizations.dataset_id}"
    assert history["role"] == "${google_project_iam_custom_role.run_table_writer.name}"
    # and no other grant names the scheduler's account (no KMS, no secret, no project-wide data)
    named = {
        f"{type_}.{name}"
        for type_, name, body in module.all_resources()
        if 'function["scheduler"].member' in _text(body)
    }
    assert named == {"google_bigquery_dataset_iam_member.scheduler_writes_run_history"}


def test_the_scheduler_function_is_referenced_only_where_it_is_switched_on(module: hcl.Module) -> None:
    for type_, name, body in module.all_resources():
        text = _text(body)
        if 'function["scheduler"]' in text or "scheduler_invoker[0]" in text:
            assert _gated_by_scheduler(body), f"{type_}.{name} would fail while the scheduler is off"
    assert module.resource("google_service_account", "scheduler_invoker")["count"] == "${var.scheduler.enabled ? 1 : 0}"
    assert "if var.scheduler.enabled" in module.locals["function_specs"]
    # on unless switched off
    assert module.variables["scheduler"]["default"] == {}
    assert "enabled = optional(bool, true)" in module.variables["scheduler"]["type"]


# --- entry -----------------------------------------------------------------------------------


def _lb_target(paths_by_function: dict[str, list[str]], path: str) -> str | None:
    """The function whose URL-map path rule matches ``path`` (exact paths, or a prefix ending in /*);
    None when only the url map's default service would take it."""
    for function, patterns in paths_by_function.items():
        for pattern in patterns:
            if pattern.endswith("/*") and path.startswith(pattern[:-1]):
                return function
            if path == pattern:
                return function
    return None


def _function_routes(name: str) -> list[str]:
    """The paths of ``functions/<name>/main.py``'s route table, each parameter replaced by ``x``."""
    return [re.sub(r"<[^>]+>", "x", path) for _, path in _function_route_table(name)]


def _lb_routes(module: hcl.Module) -> dict[str, list[str]]:
    return {name: [hcl.unquote(path) for path in paths] for name, paths in clean(module.locals["api_routes"]).items()}


def test_private_functions_are_exactly_the_non_public_ones(module: hcl.Module) -> None:
    specs = _function_specs(module)
    assert set(PRIVATE_FUNCTIONS) <= set(FUNCTION_FOLDERS)
    assert {name for name, spec in specs.items() if spec["public"] is False} == set(PRIVATE_FUNCTIONS)
    assert set(API_FUNCTIONS) == {"submit", "status", "admin", "costs"}


# Every function but the PRIVATE_FUNCTIONS (execute, scheduler), which must not be behind it.
@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_load_balancer_routes_every_api_path_to_the_function_that_serves_it(module: hcl.Module, function: str) -> None:
    routes = _lb_routes(module)
    assert set(routes) == set(API_FUNCTIONS)
    paths = _function_routes(function)
    assert paths
    for path in paths:
        assert _lb_target(routes, path) == function, path
        assert _lb_target(routes, path + "/") == function, path + "/"  # the routers accept a trailing slash
    url_map = module.resource("google_compute_url_map", "api")
    matcher = block(url_map, "path_matcher")
    rule = clean(matcher["dynamic"][0])["path_rule"]
    assert rule["for_each"] == "${local.api_routes}"
    assert rule["content"][0]["service"] == "${google_compute_backend_service.api[path_rule.key].id}"


def test_load_balancer_has_no_path_to_the_scheduler(module: hcl.Module) -> None:
    routes = _lb_routes(module)
    assert "scheduler" not in routes
    for path in _function_routes("scheduler"):
        # no rule claims it: the url map's default (status) answers the API's JSON 404
        assert _lb_target(routes, path) is None, path
    # and no serverless NEG could point at it: the backends are the public functions only
    assert module.locals["api_backends"] == "${local.api_via_load_balancer ? local.public_functions : toset([])}"


def test_load_balancer_serves_https_only_with_a_modern_tls_policy(module: hcl.Module) -> None:
    rules = module.resources_of("google_compute_global_forwarding_rule")
    assert [hcl.unquote(rule["port_range"]) for rule in rules.values()] == ["443"]
    assert not module.resources_of("google_compute_target_http_proxy")
    policy = module.resource("google_compute_ssl_policy", "api")
    assert hcl.unquote(policy["min_tls_version"]) == "TLS_1_2"


# --- platform --------------------------------------------------------------------------------


def test_every_service_in_use_has_its_api_enabled(module: hcl.Module) -> None:
    api_for_prefix = {
        "google_artifact_registry": "artifactregistry",
        "google_bigquery": "bigquery",
        "google_cloud_run": "run",
        "google_cloud_scheduler": "cloudscheduler",
        "google_cloudfunctions2": "cloudfunctions",
        "google_compute": "compute",
        "google_firestore": "firestore",
        "google_kms": "cloudkms",
        "google_pubsub": "pubsub",
        "google_secret_manager": "secretmanager",
        "google_service_account": "iam",
        "google_storage": "storage",
    }
    enabled = module.locals["required_apis"]
    for type_ in module.resources:
        for prefix, api in api_for_prefix.items():
            if type_.startswith(prefix):
                assert f'"{api}.googleapis.com"' in enabled, f"{type_} needs {api}.googleapis.com"
    service = module.resource("google_project_service", "enabled")
    assert service["disable_on_destroy"] is False


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = []
    for path in sorted(Path(hcl.TERRAFORM_DIR).rglob("*.tf")):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                skips.append(line)
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:.{40,}", line), f"{path.name}: {line.strip()}"
    assert skips  # the checker saw the skips that exist
