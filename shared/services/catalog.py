"""The pipelines an org can run, as a run form needs them."""

from __future__ import annotations

from typing import Any

from shared.domain.orgs import Organization
from shared.pipelines.catalog import PipelineCatalog
from shared.ports import Store


def _default(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | bool) else str(value)


def available(store: Store, pipelines: PipelineCatalog, org: Organization) -> list[dict[str, Any]]:
    configured = {integration.integration_type for integration in store.list_integrations(org.slug)}
    listed = []
    for ref, config in pipelines.pipelines():
        integrations = [{"type": kind, "configured": kind in configured} for kind in config.required_integrations]
        listed.append(
            {
                "path": ref.path,
                "provider": ref.provider,
                "domain": ref.domain,
                "pipeline": ref.pipeline,
                "pipeline_id": ref.pipeline_id(org.slug),
                "name": config.pipeline.name,
                "description": config.pipeline.description,
                "version": config.pipeline.version,
                "run_path": f"/api/v1/pipelines/run/{org.slug}/{ref.path}",
                "parameters": [
                    {
                        "name": parameter.name,
                        "type": parameter.type,
                        "required": parameter.required,
                        "default": _default(parameter.default),
                        "description": parameter.description,
                    }
                    for parameter in config.parameters
                ],
                "required_integrations": integrations,
                "ready": all(item["configured"] for item in integrations),
                "schedule": config.schedule.model_dump() if config.schedule else None,
            }
        )
    return listed
