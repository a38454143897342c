#!/usr/bin/env python3
"""Build one deployable zip per Cloud Function. Standard library only.

Each ``functions/<name>/main.py`` becomes ``<output>/<name>.zip`` holding, at its root:

- ``main.py``           the function's entry module (functions-framework loads it),
- ``shared/``           the library every function imports, less what only runs on one machine
                        (``NOT_SHIPPED``),
- ``configs/``          pipeline YAML and SQL, read at run time,
- ``requirements.txt``  the exact pins of ``function-requirements.txt`` beside this script.

The zips are deterministic: entries sorted, fixed timestamps and permissions, no bytecode or
tool caches. The same tree always gives the same bytes, so the SHA-256 that names the uploaded
object changes exactly when something that ships changes, and only then does Terraform redeploy.

Usage:
    python terraform/scripts/package_functions.py [--source-root DIR] [--output-dir DIR]
    python terraform/scripts/package_functions.py --terraform-external   (JSON query on stdin)

The second form is Terraform's ``external`` data source protocol: it reads
``{"source_root": ..., "output_dir": ...}`` and prints ``{"<name>.zip": path, "<name>.sha256": hex}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
DEFAULT_SOURCE_ROOT = SCRIPT_DIR.parent.parent
DEFAULT_OUTPUT_DIR = SCRIPT_DIR.parent / "build"
REQUIREMENTS_FILE = SCRIPT_DIR / "function-requirements.txt"

SHIPPED_TREES = ("shared", "configs")
NOT_SHIPPED = (
    # the one-machine stack: serve, demo, CLI, synthetic billing export, its HTTP client
    "shared/local_stack",
    # the embedded backend (DuckDB, SQLite, key file, local scheduler tokens): a deployed function
    # runs with CLOUDACT_BACKEND=gcp, and its requirements have neither duckdb nor pyjwt
    "shared/adapters/local",
    # the API description, served by the local stack; the functions never read it
    "shared/openapi.yaml",
)
"""Paths (relative to the source root) that no deployed function imports or reads."""
SHIPPED_ONLY_TO = {
    # the web console's static files: served by the costs function alone
    "shared/console": frozenset({"costs"}),
}
"""Paths (relative to the source root) that only the named functions import or read."""
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
# zip cannot store times before 1980; any fixed value makes the archive reproducible.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*$")


class PackagingError(Exception):
    """The source tree cannot be packaged (missing folder, unpinned requirement, ...)."""


@dataclass(frozen=True)
class Package:
    name: str
    path: Path
    sha256: str


def read_requirements(path: Path = REQUIREMENTS_FILE) -> bytes:
    """The requirements file, after checking that every requirement is pinned to one version."""
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line and not PIN.match(line):
            raise PackagingError(f"{path.name}:{number}: {line!r} is not pinned as name==version")
    return text.encode("utf-8")


def discover_functions(source_root: Path) -> list[str]:
    """Every folder of ``functions/`` that has a ``main.py``, sorted."""
    functions_dir = source_root / "functions"
    if not functions_dir.is_dir():
        raise PackagingError(f"{functions_dir} does not exist")
    return sorted(entry.name for entry in functions_dir.iterdir() if (entry / "main.py").is_file())


def _shipped_to(relative: str, function: str) -> bool:
    for skipped in NOT_SHIPPED:
        if relative == skipped or relative.startswith(skipped + "/"):
            return False
    for path, functions in SHIPPED_ONLY_TO.items():
        if (relative == path or relative.startswith(path + "/")) and function not in functions:
            return False
    return True


def _tree_files(root: Path, tree: str, function: str) -> Iterator[tuple[str, Path]]:
    base = root / tree
    if not base.is_dir():
        raise PackagingError(f"{base} does not exist")
    for directory, subdirs, files in os.walk(base):
        subdirs[:] = [name for name in subdirs if name not in SKIPPED_DIRS]
        for name in files:
            path = Path(directory) / name
            if path.suffix in SKIPPED_SUFFIXES or path.is_symlink():
                continue
            relative = path.relative_to(root).as_posix()
            if not _shipped_to(relative, function):
                continue
            yield relative, path


def archive_entries(source_root: Path, function: str, requirements: bytes) -> dict[str, bytes]:
    """Archive name -> content for one function."""
    main = source_root / "functions" / function / "main.py"
    if not main.is_file():
        raise PackagingError(f"{main} does not exist")
    entries = {"main.py": main.read_bytes(), "requirements.txt": requirements}
    for tree in SHIPPED_TREES:
        for name, path in _tree_files(source_root, tree, function):
            entries[name] = path.read_bytes()
    return entries


def write_zip(entries: dict[str, bytes], destination: Path) -> str:
    """Writes the entries as a reproducible zip (atomically) and returns its SHA-256."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so external_attr is read as a file mode everywhere
                info.external_attr = FILE_MODE << 16
                archive.writestr(info, entries[name], compresslevel=9)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return hashlib.sha256(destination.read_bytes()).hexdigest()


def build(source_root: Path, output_dir: Path, functions: Sequence[str] | None = None) -> list[Package]:
    """Builds the zips of ``functions`` (default: every function found) into ``output_dir``."""
    source_root = source_root.resolve()
    requirements = read_requirements()
    names = list(functions) if functions else discover_functions(source_root)
    if not names:
        raise PackagingError(f"no functions/<name>/main.py under {source_root}")
    packages = []
    for name in names:
        path = output_dir.resolve() / f"{name}.zip"
        digest = write_zip(archive_entries(source_root, name, requirements), path)
        packages.append(Package(name=name, path=path, sha256=digest))
    return packages


def terraform_result(packages: Sequence[Package]) -> dict[str, str]:
    """The flat string map Terraform's external data source requires."""
    result: dict[str, str] = {}
    for package in packages:
        result[f"{package.name}.zip"] = str(package.path)
        result[f"{package.name}.sha256"] = package.sha256
    return result


def _external(stdin_text: str) -> dict[str, str]:
    try:
        query = json.loads(stdin_text or "{}")
    except ValueError as exc:
        raise PackagingError(f"the query on stdin is not JSON: {exc}") from None
    if not isinstance(query, dict):
        raise PackagingError("the query on stdin must be a JSON object")
    source_root = Path(query.get("source_root") or DEFAULT_SOURCE_ROOT)
    output_dir = Path(query.get("output_dir") or DEFAULT_OUTPUT_DIR)
    return terraform_result(build(source_root, output_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--source-root", type=Path, default=DEFAULT_SOURCE_ROOT, help="repository root")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the zips go")
    parser.add_argument("--function", action="append", dest="functions", help="only this function (repeatable)")
    parser.add_argument(
        "--terraform-external", action="store_true", help="speak Terraform's external data source protocol"
    )
    args = parser.parse_args(argv)
    try:
        if args.terraform_external:
            json.dump(_external(sys.stdin.read()), sys.stdout)
            return 0
        for package in build(args.source_root, args.output_dir, args.functions):
            print(f"{package.name}\t{package.sha256}\t{package.path}")
    except (PackagingError, OSError) as exc:
        print(f"package_functions: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
