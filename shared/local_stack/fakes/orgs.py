"""The synthetic vendor organizations: who they are, what they own, which admin key opens them.

Everything an organization owns (projects, workspaces, API keys, users) is derived from its seed,
so the same organization can be rebuilt in another process (the test next to a ``serve``) without
sharing any state but the few fields of ``FakeOrg``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Literal

Vendor = Literal["openai", "anthropic"]
VENDORS: tuple[Vendor, ...] = ("openai", "anthropic")

# The vendors keep no data before this day for the synthetic organizations: a request reaching
# further back is refused (400), as a pipeline must refuse a backfill the vendor cannot answer.
DEFAULT_DATA_START = date(2025, 1, 1)

# Shaped like the real admin keys (an OpenAI admin key starts ``sk-admin-``, an Anthropic one
# ``sk-ant-admin01-``), and fake: they open only these local fakes.
DEFAULT_OPENAI_ADMIN_KEY = "sk-admin-LOCALFAKE0acmecorp0openai0admin0key0000000000000000"
DEFAULT_ANTHROPIC_ADMIN_KEY = "sk-ant-admin01-LOCALFAKE0acmecorp0anthropic0admin0key000000000000000000-AAAAAA"
DEFAULT_OPENAI_ORG_ID = "org-LocalFakeAcmecorpOpenAI"
DEFAULT_ANTHROPIC_ORG_ID = "a1c0ffee-0000-4000-8000-acmec0rp0001"

ADMIN_KEY_PREFIXES: dict[Vendor, str] = {"openai": "sk-admin-", "anthropic": "sk-ant-admin"}
# Ordinary (non-admin) keys: the vendors answer 403 to them on the admin endpoints.
PROJECT_KEY_PREFIXES: dict[Vendor, tuple[str, ...]] = {
    "openai": ("sk-proj-", "sk-svcacct-", "sk-None-"),
    "anthropic": ("sk-ant-api",),
}

_ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def digest(*parts: object) -> int:
    """A stable 64-bit number from ``parts`` (the fakes' only source of variety: no randomness)."""
    text = "|".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def key_fingerprint(key: str) -> str:
    """What the request log keeps of an admin key: 12 hex digits of its SHA-256, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _token(length: int, *parts: object) -> str:
    chars = []
    for index in range(length):
        chars.append(_ALPHANUM[digest(*parts, index) % len(_ALPHANUM)])
    return "".join(chars)


@dataclass(frozen=True)
class ApiKey:
    id: str
    owner_id: str | None  # the project (OpenAI) or workspace (Anthropic; None = default workspace)
    user_id: str | None = None


@dataclass(frozen=True)
class FakeOrg:
    """One synthetic organization of one vendor.

    ``seed`` decides all of its data; two orgs with different seeds have different projects,
    workspaces, keys and amounts. ``data_start`` is the first day the vendor serves for it.
    """

    vendor: Vendor
    admin_key: str
    seed: int
    org_id: str = ""
    data_start: date = DEFAULT_DATA_START
    owners: int = 3  # projects (OpenAI) or named workspaces besides the default one (Anthropic)
    # The most decimals an OpenAI amount carries. The vendor's amounts are floats, printed with up
    # to 17 significant digits (0.030862499999999998: 18 decimals, which the pipeline rounds to
    # NUMERIC's 9); with 9 every amount is already a NUMERIC value.
    max_decimals: int = 18

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise ValueError(f"unknown vendor {self.vendor!r}; expected one of {', '.join(VENDORS)}")
        if not self.admin_key.startswith(ADMIN_KEY_PREFIXES[self.vendor]):
            raise ValueError(f"a {self.vendor} admin key starts with {ADMIN_KEY_PREFIXES[self.vendor]!r}")
        if not 1 <= self.owners <= 50:
            raise ValueError("owners must be between 1 and 50")
        if not 9 <= self.max_decimals <= 18:
            raise ValueError("max_decimals must be between 9 and 18")
        if not self.org_id:
            h = f"{digest('org', self.vendor, self.seed):016x}{digest('org-tail', self.seed):016x}"
            org_id = (
                f"org-{_token(24, 'org', self.seed)}"
                if self.vendor == "openai"
                else f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"
            )
            object.__setattr__(self, "org_id", org_id)

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.admin_key)

    # What the org owns. OpenAI: projects, each with two API keys and their users.
    # Anthropic: the default workspace (id None) plus named workspaces, each with two keys.

    @cached_property  # derived from the seed: computed once
    def projects(self) -> tuple[str, ...]:
        if self.vendor != "openai":
            return ()
        return tuple(f"proj_{_token(24, 'project', self.seed, i)}" for i in range(self.owners))

    @cached_property  # derived from the seed: computed once
    def workspaces(self) -> tuple[str | None, ...]:
        if self.vendor != "anthropic":
            return ()
        named = tuple(f"wrkspc_01{_token(22, 'workspace', self.seed, i)}" for i in range(self.owners))
        return (None, *named)

    @cached_property  # derived from the seed: computed once
    def api_keys(self) -> tuple[ApiKey, ...]:
        keys: list[ApiKey] = []
        if self.vendor == "openai":
            for p, project in enumerate(self.projects):
                for k in range(2):
                    keys.append(
                        ApiKey(
                            id=f"key_{_token(16, 'key', self.seed, p, k)}",
                            owner_id=project,
                            user_id=f"user-{_token(24, 'user', self.seed, p, k)}",
                        )
                    )
        else:
            for w, workspace in enumerate(self.workspaces):
                for k in range(2):
                    keys.append(ApiKey(id=f"apikey_01{_token(22, 'key', self.seed, w, k)}", owner_id=workspace))
        return tuple(keys)

    def summary(self) -> dict[str, object]:
        """What the fakes say of an org over HTTP: never its key, only the key's fingerprint."""
        return {
            "vendor": self.vendor,
            "org_id": self.org_id,
            "seed": self.seed,
            "data_start": self.data_start.isoformat(),
            "owners": self.owners,
            "max_decimals": self.max_decimals,
            "key_fingerprint": self.key_fingerprint,
        }


DEFAULT_OPENAI_ORG = FakeOrg("openai", DEFAULT_OPENAI_ADMIN_KEY, seed=11, org_id=DEFAULT_OPENAI_ORG_ID)
DEFAULT_ANTHROPIC_ORG = FakeOrg("anthropic", DEFAULT_ANTHROPIC_ADMIN_KEY, seed=23, org_id=DEFAULT_ANTHROPIC_ORG_ID)
DEFAULT_ORGS: tuple[FakeOrg, ...] = (DEFAULT_OPENAI_ORG, DEFAULT_ANTHROPIC_ORG)


def new_org(
    vendor: Vendor,
    seed: int,
    *,
    admin_key: str | None = None,
    org_id: str = "",
    data_start: date = DEFAULT_DATA_START,
    owners: int = 3,
    max_decimals: int = 18,
) -> FakeOrg:
    """Another organization; its admin key, unless given, is derived from vendor and seed."""
    if admin_key is None:
        if vendor == "openai":
            admin_key = f"sk-admin-LOCALFAKE{_token(40, 'admin', vendor, seed)}"
        else:
            admin_key = f"sk-ant-admin01-LOCALFAKE{_token(70, 'admin', vendor, seed)}-AAAAAA"
    return FakeOrg(
        vendor, admin_key, seed, org_id=org_id, data_start=data_start, owners=owners, max_decimals=max_decimals
    )
