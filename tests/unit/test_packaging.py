"""The installed distribution and the generic top-level name its package has (``shared``)."""

from __future__ import annotations

from importlib import metadata


def test_only_this_distribution_claims_the_top_level_package_shared() -> None:
    # the name is safe in the project's own virtualenv as long as nothing else there provides it
    assert set(metadata.packages_distributions().get("shared", [])) == {"cloudact-pipelines"}
