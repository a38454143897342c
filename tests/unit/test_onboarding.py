"""shared/services/onboarding.py: the admin API's request rules, against the embedded adapters."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InvalidRequest, NotFound
from shared.ports import Backend
from shared.services import onboarding


def _refused_field(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidRequest) as refused:
        call(*args)
    return str(refused.value.details["field"])


def test_an_org_is_named_after_its_slug_unless_given_a_name(embedded: Backend) -> None:
    plain, _, _ = onboarding.create_org_from(embedded, {"org_slug": "acme"})
    named, _, _ = onboarding.create_org_from(embedded, {"org_slug": "globex", "name": "Globex Corporation"})
    assert (plain.name, named.name) == ("acme", "Globex Corporation")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"org_slug": "acme", "plan": "gold"}, "plan"),
        ({"org_slug": "acme", "name": None}, "name"),  # given, a name is a string
        ({"org_slug": "acme", "name": 7}, "name"),
        ({"org_slug": "acme", "name": ""}, "name"),
        ({"org_slug": "acme", "name": "n" * 201}, "name"),
        ({"org_slug": "Acme"}, "org_slug"),
        ({}, "org_slug"),
    ],
)
def test_a_bad_create_request_is_refused_naming_the_field_and_creates_nothing(
    embedded: Backend, body: dict[str, Any], field: str
) -> None:
    assert _refused_field(onboarding.create_org_from, embedded, body) == field
    assert embedded.store.get_org("acme") is None


def test_the_direct_call_applies_the_same_name_rule(embedded: Backend) -> None:
    assert _refused_field(onboarding.create_org, embedded, "acme", "n" * 201) == "name"


def test_a_rotate_request_checks_its_body_before_the_org(embedded: Backend) -> None:
    # the body is refused even for an org that does not exist: a request's shape is judged first
    assert (
        _refused_field(onboarding.rotate_key_from, embedded, "ghost", {"revoke_existing": "yes"}) == "revoke_existing"
    )
    assert _refused_field(onboarding.rotate_key_from, embedded, "ghost", {"revoke": True}) == "revoke"
    with pytest.raises(NotFound):
        onboarding.rotate_key_from(embedded, "ghost", {})
    _, _, first = onboarding.create_org_from(embedded, {"org_slug": "acme"})
    _, kept, revoked = onboarding.rotate_key_from(embedded, "acme", {})
    assert revoked == []
    _, _, revoked = onboarding.rotate_key_from(embedded, "acme", {"revoke_existing": True})
    assert sorted(revoked) == sorted([first.key_id, kept.key_id])
