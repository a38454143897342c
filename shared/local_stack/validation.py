"""Checking pipeline files without running anything: ``cloudact validate`` and the stack's start.

Each problem is one ``file:line: message`` line, the line being the YAML node the problem is about
(the step, the key), found by composing the document again with its marks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigError
from shared.pipelines import config as pipeline_config


def _node_line(root: Any, location: list[str | int]) -> int | None:
    """1-based line of the deepest node of ``location`` that exists in the YAML tree."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next((value for key, value in node.value if key.value == str(part)), None)
            key = next((key for key, _ in node.value if key.value == str(part)), None)
            if match is None:
                break
            node, line = match, key.start_mark.line + 1 if key is not None else line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _step_index(document: Any, message: str) -> int | None:
    found = re.search(r"step (\w+):", message)
    steps = document.get("steps") if isinstance(document, dict) else None
    if not found or not isinstance(steps, list):
        return None
    return next(
        (i for i, step in enumerate(steps) if isinstance(step, dict) and step.get("name") == found.group(1)), None
    )


def check_file(path: Path, shown: str | None = None) -> list[str]:
    """Problems of one pipeline file, as ``file:line: message`` (none if it is valid)."""
    from pydantic import ValidationError

    name = shown or str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return [f"{name}:1: cannot read: {exc.strerror}"]
    try:
        root = yaml.compose(text)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [f"{name}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(document, dict):
        return [f"{name}:1: expected a mapping (pipeline, parameters, steps) at the top level"]
    try:
        pipeline_config.PipelineConfig.model_validate({**document, "directory": path.parent})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [part for part in error["loc"] if isinstance(part, str | int)]
            message = str(error["msg"]).removeprefix("Value error, ")
            line_location = location
            if not location:
                index = _step_index(document, message)
                location = ["steps", index] if index is not None else []
                # the processor names the option (``config.schema.0.type``): point at that line
                option = re.search(r"config\.([\w.]+):", message)
                line_location = location + (
                    ["config", *[int(p) if p.isdigit() else p for p in option.group(1).split(".")]] if option else []
                )
            where = ".".join(str(part) for part in location) or "(top level)"
            line = _node_line(root, line_location) or 1
            problems.append(f"{name}:{line}: {where}: {message}" if location else f"{name}:{line}: {message}")
        return problems
    except KeyError as exc:
        index = next(
            (
                i
                for i, step in enumerate(document.get("steps") or [])
                if isinstance(step, dict) and step.get("processor") == exc.args[0]
            ),
            None,
        )
        line = _node_line(root, ["steps", index, "processor"] if index is not None else ["steps"]) or 1
        return [f"{name}:{line}: unknown processor {exc.args[0]}"]
    return []


def check_configs(configs_dir: Path) -> list[str]:
    """Every pipeline file under ``configs_dir`` (the layout the stack serves: provider/domain/name.yml)."""
    problems = []
    for path in sorted(configs_dir.glob("*/*/*.yml")):
        problems += check_file(path, str(path.relative_to(configs_dir.parent)) if configs_dir.parent else None)
    return problems


def require_valid(configs_dir: Path) -> None:
    """Refuses to start a stack on a broken pipeline file."""
    problems = check_configs(configs_dir)
    if problems:
        raise ConfigError("invalid pipeline files:\n" + "\n".join(problems))
