"""The local stack's admin credential: a file in the data directory, created on first use (0600).

A deployment is given its admin key (Secret Manager, through the environment); only a machine that
runs everything itself makes one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def read_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on the one key the first of them wrote
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = "cloudact_admin_" + secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
