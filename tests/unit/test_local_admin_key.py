"""The admin credential: a deployment's comes from its settings; the local stack makes its own file."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from shared.adapters.local.admin_key import read_or_create
from shared.application import Application
from shared.errors import Unauthenticated
from shared.services import auth
from shared.settings import Settings


def test_the_local_key_file_is_made_once_readable_by_its_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "data" / "admin.key"
    key = read_or_create(path)
    assert key.startswith("cloudact_admin_") and len(key) > 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create(path) == key  # the same key every time after


def test_the_application_takes_the_configured_key_first_and_makes_a_file_only_locally(
    settings: Settings, tmp_path: Path
) -> None:
    configured = dataclasses.replace(settings, admin_key="cloudact_admin_configured", data_dir=tmp_path)
    assert Application(configured).admin_key() == "cloudact_admin_configured"
    assert not (tmp_path / "admin.key").exists()
    local = dataclasses.replace(settings, admin_key=None, data_dir=tmp_path)
    assert Application(local).admin_key() == (tmp_path / "admin.key").read_text()
    with pytest.raises(Unauthenticated):
        Application(dataclasses.replace(local, backend="gcp")).admin_key()


def test_auth_accepts_only_the_key_it_is_given() -> None:
    auth.authenticate_admin("cloudact_admin_expected", " cloudact_admin_expected ")
    for presented in [None, "", "cloudact_admin_other", "cloudact_admin_expecte"]:
        with pytest.raises(Unauthenticated):
            auth.authenticate_admin("cloudact_admin_expected", presented)
