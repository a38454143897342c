"""The reference checker finds dangling names, and the real module has none."""

from __future__ import annotations

import hcl2
import pytest

from tests.terraform import hcl

SNIPPET = """
variable "region" {
  type        = string
  description = "where"
}

locals {
  prefix = "cloudact-${var.region}"
}

data "google_project" "this" {}

resource "google_pubsub_topic" "runs" {
  name = local.prefix
}

resource "google_pubsub_subscription" "worker" {
  for_each = toset(["a"])
  topic    = google_pubsub_topic.runs.id
  name     = "${each.key}-${data.google_project.this.number}-${path.module}"
  labels   = { zone = var.zone, team = local.team }
  filter   = google_pubsub_topic.missing.name
  push     = data.google_project.other.id
  other    = module.network.id
  fine     = "roles/pubsub.publisher and serviceAccount:x@gcp-sa-pubsub.iam.gserviceaccount.com"
}

output "topic" {
  value = google_pubsub_topic.runs.name
}
"""


def _module(text: str) -> hcl.Module:
    return hcl.parse_module({"snippet.tf": hcl2.loads(text)})


def test_checker_reports_each_kind_of_dangling_reference() -> None:
    assert hcl.undefined_references(_module(SNIPPET)) == [
        "undefined data source data.google_project.other",
        "undefined local local.team",
        "undefined module module.network",
        "undefined resource google_pubsub_topic.missing",
        "undefined variable var.zone",
    ]


def test_checker_accepts_declared_and_builtin_names() -> None:
    fixed = (
        SNIPPET.replace("var.zone", "var.region")
        .replace("local.team", "local.prefix")
        .replace("google_pubsub_topic.missing", "google_pubsub_topic.runs")
        .replace("data.google_project.other", "data.google_project.this")
        .replace("module.network.id", '"none"')
    )
    assert hcl.undefined_references(_module(fixed)) == []


def test_references_inside_comments_are_ignored() -> None:
    commented = 'resource "google_pubsub_topic" "runs" {\n  # uses var.nothing and google_x.y\n  name = "a"\n}\n'
    assert hcl.undefined_references(_module(commented)) == []


def test_a_name_declared_twice_is_an_error() -> None:
    twice = 'variable "a" {\n  type = string\n}\nvariable "a" {\n  type = number\n}\n'
    with pytest.raises(ValueError, match="declared twice"):
        _module(twice)


def test_unused_variable_detection_ignores_a_variables_own_validation() -> None:
    text = """
variable "used" {
  type        = string
  description = "d"
}
variable "unused" {
  type        = number
  description = "d"
  validation {
    condition     = var.unused > 0
    error_message = "positive"
  }
}
output "o" {
  value = var.used
}
"""
    assert hcl.unused_variables(_module(text)) == ["unused"]


def test_module_has_no_dangling_references(module: hcl.Module) -> None:
    assert hcl.undefined_references(module) == []


def test_module_declares_nothing_unused(module: hcl.Module) -> None:
    assert hcl.unused_variables(module) == []
    assert hcl.unused_locals(module) == []
