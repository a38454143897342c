"""Google's client libraries stay out of everything but ``shared/adapters/gcp``, and out of a
function's cold start."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from shared.settings import PROJECT_ROOT

VENDOR_IMPORT = re.compile(r"^\s*(from\s+google\.cloud[\s.]|import\s+google\.cloud\b)", re.MULTILINE)
FUNCTIONS = sorted(path.parent.name for path in (PROJECT_ROOT / "functions").glob("*/main.py"))


# tests that read a vendor library itself, as the reference a hand copy of it is pinned to
VENDOR_REFERENCE_TESTS = {"tests/contract/test_errors.py"}  # google.cloud.bigquery.retry's reasons


def test_only_the_gcp_adapters_import_google_cloud() -> None:
    gcp_adapters = PROJECT_ROOT / "shared" / "adapters" / "gcp"
    offenders = [
        relative
        for folder in ("shared", "functions", "tests")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if gcp_adapters not in path.parents
        and (relative := path.relative_to(PROJECT_ROOT).as_posix()) not in VENDOR_REFERENCE_TESTS
        and VENDOR_IMPORT.search(path.read_text())
    ]
    assert offenders == []
    assert VENDOR_IMPORT.search((gcp_adapters / "warehouse.py").read_text())  # the pattern does match an import


def _modules_after(code: str) -> set[str]:
    output = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


def _vendor(modules: set[str]) -> set[str]:
    return {
        m
        for m in modules
        if m.startswith(
            (
                "google.cloud.bigquery",
                "google.cloud.pubsub",
                "google.cloud.firestore",
                "google.cloud.kms",
                "google.api_core",
                "grpc",
                "google_crc32c",
            )
        )
    }


def test_importing_a_function_loads_no_vendor_client_library() -> None:
    # functions-framework ships its own google.cloud.functions shim: compare against what it loads
    baseline = _modules_after("import functions_framework")
    for name in FUNCTIONS:
        loaded = _modules_after(
            "import functions_framework, importlib.util\n"
            f"spec = importlib.util.spec_from_file_location('main', 'functions/{name}/main.py')\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)"
        )
        assert _vendor(loaded - baseline) == set(), name
        assert {m for m in loaded - baseline if m.startswith("google.cloud")} == set(), name


def test_importing_the_gcp_adapters_loads_no_vendor_library() -> None:
    loaded = _modules_after(
        "import shared.adapters.gcp.errors, shared.adapters.gcp.warehouse, shared.adapters.gcp.store,"
        " shared.adapters.gcp.queue, shared.adapters.gcp.keys"
    )
    # ("google" and "google.cloud" themselves are there from interpreter start: the namespace
    # packages' .pth files create them, whatever is imported)
    assert _vendor(loaded) == set()


def test_building_the_gcp_backend_loads_no_vendor_library(tmp_path: object) -> None:
    # clients are created on first use: a function that never queries never loads BigQuery
    loaded = _modules_after(
        "import os\n"
        "os.environ.update(CLOUDACT_BACKEND='gcp', CLOUDACT_KMS_KEY="
        "'projects/cloudact-test/locations/us/keyRings/r/cryptoKeys/k', CLOUDACT_PROJECT='cloudact-test')\n"
        "from shared import application\n"
        "backend = application.current().backend\n"
        "assert type(backend.store).__name__ == 'FirestoreStore', backend"
    )
    assert _vendor(loaded) == set()
