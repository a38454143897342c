from __future__ import annotations

import pytest

from tests.terraform import hcl


@pytest.fixture(scope="session")
def module() -> hcl.Module:
    """The deployment module in terraform/, parsed once per test session."""
    return hcl.load_module()
