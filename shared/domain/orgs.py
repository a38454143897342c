"""Organizations (tenants)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organization:
    slug: str
    name: str
    dataset: str
    """The org's own dataset; derived from the slug at onboarding and only ever read from here."""
    created_at: str
    status: str = "active"


def dataset_for(slug: str) -> str:
    # The seed's `target_dataset: "{org_slug}"`: a validated slug is already a valid dataset name.
    return slug
