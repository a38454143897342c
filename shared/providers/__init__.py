"""Providers are plugins: each folder here declares what one provider brings.

A provider's package (``shared/providers/{name}/__init__.py``) defines ``PROVIDER``: its
integration kind (the credential's shape and validation, the fields a set-up request may carry),
the sources its pipelines may read, and its processors by dotted id. Its pipeline files live in
``configs/{name}/``. Nothing else in the domain, the config schema or the services lists providers:
they ask this module.

Discovery is lazy: a provider's package is imported the first time it is named (its declaration is
plain data; the HTTP clients and vendor libraries its processors need are imported by them, on
first use), so a function's cold start pays for none of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shared.errors import NotFound

ValidateCredential = Callable[[Mapping[str, Any]], tuple[bytes, dict[str, Any]]]
"""A set-up body (already checked for unknown fields) -> (the credential's canonical bytes, the
integration's public metadata). Raises ``InvalidRequest`` naming the problem."""


@dataclass(frozen=True)
class Source:
    """Something a pipeline step may read: what integration it needs, and (for a table) which
    metadata field of that integration names it."""

    integration: str
    metadata_field: str | None = None


@dataclass(frozen=True)
class IntegrationKind:
    kind: str
    """The integration type stored with the credential (``GCP_SA``, ``OPENAI_ADMIN_KEY``)."""
    validate: ValidateCredential
    fields: frozenset[str] = frozenset({"credential"})
    """The fields a set-up request may carry (``credential`` always)."""
    verify: str | None = None
    """``module:function(credential: bytes, settings) -> None`` that asks the vendor whether it
    accepts the credential (``"verify": true`` in the set-up request); imported only when used."""


@dataclass(frozen=True)
class Provider:
    name: str
    """The path segment: ``configs/{name}/``, ``/api/v1/integrations/{org}/{name}``."""
    label: str
    """How messages name the vendor (``OpenAI``)."""
    integration: IntegrationKind
    sources: Mapping[str, Source] = field(default_factory=dict)
    processors: Mapping[str, str] = field(default_factory=dict)
    """Processor id (``{name}.something``) -> ``module:Class``."""


@cache
def names() -> tuple[str, ...]:
    """Every provider package here, without importing any."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg))


@cache
def get(name: str) -> Provider:
    """The provider whose path segment is ``name``; NotFound if there is none."""
    if name not in names():
        raise NotFound("Unknown provider")
    provider = importlib.import_module(f"{__name__}.{name}").PROVIDER
    if not isinstance(provider, Provider) or provider.name != name:
        raise TypeError(f"{__name__}.{name}.PROVIDER must be a Provider named {name!r}")
    return provider


def all_providers() -> list[Provider]:
    return [get(name) for name in names()]


@cache
def integration_kinds() -> dict[str, Provider]:
    """Integration kind -> the provider that declares it (each kind belongs to one provider)."""
    kinds: dict[str, Provider] = {}
    for provider in all_providers():
        kind = provider.integration.kind
        if kind in kinds:
            raise TypeError(f"integration kind {kind} declared by both {kinds[kind].name} and {provider.name}")
        kinds[kind] = provider
    return kinds


def for_kind(kind: str) -> Provider:
    provider = integration_kinds().get(kind)
    if provider is None:
        raise NotFound(f"Unknown integration kind {kind}")
    return provider


def source(provider_name: str, source_id: str) -> Source | None:
    return get(provider_name).sources.get(source_id) if provider_name in names() else None


def processor_target(processor_id: str) -> str | None:
    """``module:Class`` of a provider's processor: the id's first segment names the provider, so
    only that provider's package is imported."""
    provider_name = processor_id.partition(".")[0]
    if provider_name not in names():
        return None
    return get(provider_name).processors.get(processor_id)


def resolve(target: str) -> Any:
    """``module:attribute`` -> the attribute, importing the module now."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
