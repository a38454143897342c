"""The Terraform module under test, parsed with python-hcl2, and a checker for dangling references.

python-hcl2 (v8) keeps string literals quoted (``'"text"'``), wraps expressions as ``"${...}"``,
represents every block as a list of dicts, and keeps comments under ``__comments__``. This module
turns that into plain dictionaries keyed by the names Terraform uses (``resources[type][name]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"

NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
VAR_REF = re.compile(rf"(?<![\w.])var\.({NAME})")
LOCAL_REF = re.compile(rf"(?<![\w.])local\.({NAME})")
DATA_REF = re.compile(rf"(?<![\w.])data\.({NAME})\.({NAME})")
MODULE_REF = re.compile(rf"(?<![\w.])module\.({NAME})")
# Managed resources of the providers this module uses are all named <provider>_<kind>; each,
# count, path, self and terraform match none of these patterns, as Terraform resolves them itself.
RESOURCE_REF = re.compile(rf"(?<![\w./-])((?:google|google-beta|external)_[a-z0-9_]+)\.({NAME})")


def unquote(value: Any) -> Any:
    """``'"text"'`` -> ``'text'``; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(value: Any) -> Any:
    """Drops parser bookkeeping (``__is_block__``, ``__comments__``) and unquotes keys and literals."""
    if isinstance(value, dict):
        return {unquote(key): clean(item) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return unquote(value)


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a parsed value (expressions and literals), comments excluded."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("__"):
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def block(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a block body (blocks parse as one-element lists)."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected exactly one {name} block, got {blocks!r}"
    assert isinstance(blocks[0], dict)
    return blocks[0]


@dataclass
class Module:
    """Declarations of one Terraform module (a folder of .tf files)."""

    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    other: list[Any] = field(default_factory=list)
    """terraform and provider blocks: searched for references too."""
    moved: list[dict[str, Any]] = field(default_factory=list)
    """moved blocks. Not searched for references: their ``from`` names a resource that by design
    no longer exists."""

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        return self.resources[type_][name]

    def resources_of(self, type_: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(type_, {})

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for type_, named in self.resources.items():
            for name, body in named.items():
                yield type_, name, body

    def bodies(self) -> Iterator[Any]:
        yield from self.variables.values()
        yield from self.locals.values()
        for named in (*self.resources.values(), *self.data.values()):
            yield from named.values()
        yield from self.outputs.values()
        yield from self.modules.values()
        yield from self.other


def _add_unique(target: dict[str, Any], name: str, body: Any, what: str) -> None:
    if name in target:
        raise ValueError(f"{what} {name!r} is declared twice")
    target[name] = body


def parse_module(documents: Mapping[str, Mapping[str, Any]]) -> Module:
    """A module from parsed documents (file name -> python-hcl2 output)."""
    module = Module()
    for document in documents.values():
        for entry in document.get("variable", []):
            for name, body in entry.items():
                _add_unique(module.variables, unquote(name), body, "variable")
        for entry in document.get("locals", []):
            for name, value in entry.items():
                if not name.startswith("__"):
                    _add_unique(module.locals, name, value, "local")
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for entry in document.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        _add_unique(
                            target.setdefault(unquote(type_), {}), unquote(name), body, f"{kind} {unquote(type_)}"
                        )
        for entry in document.get("output", []):
            for name, body in entry.items():
                _add_unique(module.outputs, unquote(name), body, "output")
        for entry in document.get("module", []):
            for name, body in entry.items():
                _add_unique(module.modules, unquote(name), body, "module")
        module.other.extend(document.get("terraform", []))
        module.other.extend(document.get("provider", []))
        module.moved.extend(document.get("moved", []))
    return module


def load_module(directory: Path = TERRAFORM_DIR) -> Module:
    documents = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            documents[path.name] = hcl2.load(handle)
    return parse_module(documents)


def undefined_references(module: Module) -> list[str]:
    """Every ``var.x``, ``local.x``, ``data.t.n``, ``module.x`` or ``<resource type>.<name>`` used
    anywhere in the module that the module does not declare, as readable strings."""
    problems = set()
    for text in (text for body in module.bodies() for text in strings(body)):
        for match in VAR_REF.finditer(text):
            if match[1] not in module.variables:
                problems.add(f"undefined variable var.{match[1]}")
        for match in LOCAL_REF.finditer(text):
            if match[1] not in module.locals:
                problems.add(f"undefined local local.{match[1]}")
        for match in DATA_REF.finditer(text):
            if match[2] not in module.data.get(match[1], {}):
                problems.add(f"undefined data source data.{match[1]}.{match[2]}")
        for match in MODULE_REF.finditer(text):
            if match[1] not in module.modules:
                problems.add(f"undefined module module.{match[1]}")
        for match in RESOURCE_REF.finditer(text):
            if match[2] not in module.resources.get(match[1], {}):
                problems.add(f"undefined resource {match[1]}.{match[2]}")
    return sorted(problems)


def _used(module: Module, pattern: re.Pattern[str]) -> set[str]:
    """Names matched by ``pattern`` outside variable declarations (a validation that reads its own
    variable is not a use)."""
    variables = [id(body) for body in module.variables.values()]
    return {
        match[1]
        for body in module.bodies()
        if id(body) not in variables
        for text in strings(body)
        for match in pattern.finditer(text)
    }


def unused_variables(module: Module) -> list[str]:
    return sorted(set(module.variables) - _used(module, VAR_REF))


def unused_locals(module: Module) -> list[str]:
    return sorted(set(module.locals) - _used(module, LOCAL_REF))
