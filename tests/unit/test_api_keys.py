from __future__ import annotations

import re

from shared.domain import api_keys


def test_key_has_seed_format_and_parses_back_to_its_org() -> None:
    key = api_keys.generate("acme_corp")
    assert re.fullmatch(r"acme_corp_api_[A-Za-z0-9]{38}", key)
    assert api_keys.parse_org(key) == "acme_corp"


def test_keys_are_unique_and_only_the_hash_identifies_them() -> None:
    keys = {api_keys.generate("acmecorp") for _ in range(200)}
    assert len(keys) == 200
    key = keys.pop()
    assert api_keys.hash_key(key) != key and len(api_keys.hash_key(key)) == 64
    assert key not in api_keys.display_prefix(key) and api_keys.display_prefix(key).startswith("acmecorp_api_")


def test_any_single_character_change_fails_the_checksum() -> None:
    key = api_keys.generate("acmecorp")
    prefix_length = len("acmecorp_api_")
    for position in range(prefix_length, len(key)):
        replacement = "A" if key[position] != "A" else "B"
        tampered = key[:position] + replacement + key[position + 1 :]
        assert api_keys.parse_org(tampered) is None, position


def test_malformed_keys_are_refused() -> None:
    for bad in ["", "acmecorp", "acmecorp_api_", "AC_api_" + "a" * 38, "acmecorp_api_" + "!" * 38, "x" * 500]:
        assert api_keys.parse_org(bad) is None
