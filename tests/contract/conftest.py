"""The emulators the production adapters' contract suites run against (one per test session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gcp_emulators import Emulator, session_emulator


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("firestore", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("pubsub", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("bigquery", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator
