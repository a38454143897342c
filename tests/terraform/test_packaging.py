"""terraform/scripts/package_functions.py: what ships in each zip, reproducibly, and that it runs."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from shared.settings import PROJECT_ROOT
from tests.terraform import hcl
from tests.terraform.hcl import clean

SCRIPT = PROJECT_ROOT / "terraform" / "scripts" / "package_functions.py"
CORE_FUNCTIONS = ["admin", "execute", "status", "submit"]
REQUIRED_PINS = {
    "functions-framework",
    "pydantic",
    "pyyaml",
    "croniter",  # pipeline files' schedules are validated at load, in every function
    "sqlglot",  # and their SQL's partition filters (shared/pipelines/partition_guard.py)
    "httpx",  # the vendors' admin APIs (OpenAI, Anthropic), read by the execute and admin functions
    "cryptography",
    "google-cloud-bigquery",
    "google-cloud-pubsub",
    "google-cloud-firestore",
    "google-cloud-kms",
    "google-crc32c",
    "pyarrow",  # the status function's Parquet FOCUS exports
}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_functions", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


packaging = _load_script()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry_points() -> dict[str, str]:
    """Folder -> entry point, from the function table in terraform/locals.tf (what gets deployed)."""
    module = hcl.load_module()
    specs = {**clean(module.locals["core_functions"]), **clean(module.locals["scheduler_function"])}
    return {name: spec["entry_point"] for name, spec in specs.items()}


def _copy_sources(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in ("functions", "shared", "configs"):
        shutil.copytree(PROJECT_ROOT / tree, destination / tree, ignore=ignore)
    return destination


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    output = tmp_path_factory.mktemp("build")
    return {package.name: package.path for package in packaging.build(PROJECT_ROOT, output)}


# what only the one-machine stack runs: no deployed function imports or reads any of it
LOCAL_ONLY = ("shared/local_stack/", "shared/adapters/local/", "shared/openapi.yaml")


def _local_only(name: str) -> bool:
    return name.startswith(LOCAL_ONLY)


def test_one_zip_per_function_with_its_main_the_library_the_configs_and_the_pins(built: dict[str, Path]) -> None:
    folders = sorted(path.parent.name for path in (PROJECT_ROOT / "functions").glob("*/main.py"))
    assert sorted(built) == folders
    assert set(CORE_FUNCTIONS) <= set(built)
    in_repository = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for tree in ("shared", "configs")
        for path in (PROJECT_ROOT / tree).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert any(_local_only(name) for name in in_repository)  # there is something to leave out
    shipped_library = {name for name in in_repository if not _local_only(name)}
    console = {name for name in shipped_library if name.startswith("shared/console/")}
    assert console  # the web console ships with the function that serves it, and only there
    for name, path in built.items():
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            expected = shipped_library if name == "costs" else shipped_library - console
            assert archive.read("main.py") == (PROJECT_ROOT / "functions" / name / "main.py").read_bytes()
            assert archive.read("requirements.txt") == packaging.REQUIREMENTS_FILE.read_bytes()
            assert (
                archive.read("configs/gcp/cost/billing.yml")
                == (PROJECT_ROOT / "configs/gcp/cost/billing.yml").read_bytes()
            )
            assert names == expected | {"main.py", "requirements.txt"}
            assert not [entry for entry in names if _local_only(entry) or entry.startswith(("bench/", "tests/"))]
            assert not [entry for entry in names if "__pycache__" in entry or entry.endswith(".pyc")]
            assert all(info.date_time == packaging.FIXED_DATE_TIME for info in archive.infolist())


def test_the_same_tree_always_gives_the_same_bytes(tmp_path: Path, built: dict[str, Path]) -> None:
    sources = _copy_sources(tmp_path / "src")
    first = {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "one")}
    # new timestamps and fresh bytecode must not matter
    later = time.time() + 3600
    for path in sources.rglob("*.py"):
        os.utime(path, (later, later))
    cache = sources / "shared" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "runtime.cpython-311.pyc").write_bytes(b"bytecode")
    second = {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "two")}
    assert first == second
    # and the copy gives what the repository gives
    assert first == {name: _sha256(path) for name, path in built.items()}


def test_a_change_to_shipped_code_changes_the_hash_of_exactly_the_zips_that_ship_it(tmp_path: Path) -> None:
    sources = _copy_sources(tmp_path / "src")
    before = {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "out")}

    submit_main = sources / "functions" / "submit" / "main.py"
    submit_main.write_text(submit_main.read_text() + "\n# changed\n")
    after_main = {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "out")}
    assert {name for name in before if before[name] != after_main[name]} == {"submit"}

    sql = sources / "configs" / "gcp" / "cost" / "sql" / "billing_daily.sql"
    sql.write_text(sql.read_text() + "\n-- changed\n")
    after_config = {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "out")}
    assert all(after_config[name] != after_main[name] for name in before)

    # what does not ship does not redeploy anything
    for local_only in ("shared/local_stack/demo.py", "shared/adapters/local/store.py", "shared/openapi.yaml"):
        path = sources / local_only
        path.write_text(path.read_text() + "\n# changed\n")
    assert {p.name: p.sha256 for p in packaging.build(sources, tmp_path / "out")} == after_config


def _module_file(module: str, names: set[str]) -> str | None:
    path = module.replace(".", "/")
    return next((name for name in (f"{path}.py", f"{path}/__init__.py") if name in names), None)


def _imports_of(source: bytes, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(module, name imported from it, or None) for every import statement at any depth: the
    functions import lazily, inside their handlers."""
    package = (module if is_package else module.rpartition(".")[0]).split(".")
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found += [(base, alias.name) for alias in node.names]
    return found


def _top_level_names(source: bytes) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _unsatisfied_imports(path: Path) -> list[str]:
    """Every import of a ``shared`` module or name, in any module of the zip, that the zip lacks."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        unsatisfied = []
        for entry in sorted(n for n in names if n.endswith(".py")):
            module = entry.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for imported, attribute in _imports_of(archive.read(entry), module, entry.endswith("__init__.py")):
                if imported.split(".")[0] != "shared":
                    continue
                if entry == "shared/application.py" and imported.startswith("shared.adapters.local."):
                    # the backend switch's embedded branches, which a deployed function
                    # (CLOUDACT_BACKEND=gcp) never takes
                    continue
                source = _module_file(imported, names)
                satisfied = source is not None and (
                    attribute is None
                    or _module_file(f"{imported}.{attribute}", names) is not None
                    or attribute in _top_level_names(archive.read(source))
                )
                if not satisfied:
                    unsatisfied.append(f"{entry}: {imported}" + (f" import {attribute}" if attribute else ""))
    return unsatisfied


def test_every_import_of_the_project_in_a_zip_is_satisfied_by_the_zip(built: dict[str, Path]) -> None:
    for name, path in built.items():
        assert _unsatisfied_imports(path) == [], name


def test_the_import_check_finds_a_lazy_import_of_what_does_not_ship(tmp_path: Path) -> None:
    sources = _copy_sources(tmp_path / "src")
    runs = sources / "shared" / "services" / "runs.py"
    runs.write_text(
        runs.read_text()
        + "\n\ndef _later() -> None:\n    from shared.local_stack import demo\n    from . import no_such_module\n"
    )
    (package,) = packaging.build(sources, tmp_path / "out", ["status"])
    assert _unsatisfied_imports(package.path) == [
        "shared/services/runs.py: shared.local_stack import demo",
        "shared/services/runs.py: shared.services import no_such_module",
    ]


def test_requirements_are_exact_pins_of_the_cloud_dependencies_only() -> None:
    text = packaging.read_requirements().decode()
    pins = dict(line.split("==") for raw in text.splitlines() if (line := raw.split("#", 1)[0].strip()))
    assert {name.lower() for name in pins} == REQUIRED_PINS
    assert "duckdb" not in {name.lower() for name in pins}


def test_an_unpinned_requirement_is_refused(tmp_path: Path) -> None:
    loose = tmp_path / "requirements.txt"
    loose.write_text("functions-framework==3.10.2\npydantic>=2  # a range\n")
    with pytest.raises(packaging.PackagingError, match=r"requirements.txt:2: 'pydantic>=2' is not pinned"):
        packaging.read_requirements(loose)


def test_terraform_external_protocol(tmp_path: Path) -> None:
    query = {"source_root": str(PROJECT_ROOT), "output_dir": str(tmp_path / "build")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--terraform-external"],
        input=json.dumps(query),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer = json.loads(result.stdout)
    assert all(isinstance(value, str) for value in answer.values())  # Terraform accepts strings only
    assert set(CORE_FUNCTIONS) | {"scheduler"} <= {key.rsplit(".", 1)[0] for key in answer}
    for name in _entry_points():  # every function Terraform deploys has its zip
        path = Path(answer[f"{name}.zip"])
        assert path.parent == tmp_path / "build"
        assert answer[f"{name}.sha256"] == _sha256(path)


def test_terraform_external_reports_a_broken_tree_on_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--terraform-external"],
        input=json.dumps({"source_root": str(tmp_path), "output_dir": str(tmp_path / "build")}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "functions does not exist" in result.stderr


# Runs inside the fresh virtual environment, from the unpacked zip of one function.
LOAD_CHECK = r"""
import base64, importlib.util, json, os, sys

name, entry_point = sys.argv[1:3]
os.environ.update(
    CLOUDACT_BACKEND="gcp",
    CLOUDACT_PROJECT="cloudact-test",
    CLOUDACT_KMS_KEY="projects/cloudact-test/locations/us/keyRings/r/cryptoKeys/k",
)
sys.path.insert(0, os.getcwd())
import main  # the entry module, as the runtime imports it
assert callable(getattr(main, entry_point)), entry_point

# every module the zip ships imports from the zip and the pinned requirements alone, and the
# production backend is built from them
import pkgutil, shared
from shared import application
shipped = sorted(m.name for m in pkgutil.walk_packages(shared.__path__, "shared."))
for module in shipped:
    importlib.import_module(module)
assert {m for m in sys.modules if m.startswith("shared")} <= {"shared", *shipped}
assert all(os.path.dirname(sys.modules[m].__file__).startswith(os.getcwd()) for m in shipped)
backend = application.current().backend

import functions_framework
from functions_framework import _function_registry
# No signature type is forced, here or in the environment: the functions are deployed without an
# event trigger, so the entry point's own decorator must make it an HTTP function.
app = functions_framework.create_app(target=entry_point, source=os.path.join(os.getcwd(), "main.py"))
client = app.test_client()
report = {
    "local_only_modules": [m for m in ("duckdb",) if importlib.util.find_spec(m)],
    "shipped_modules": shipped,
    "adapters": sorted(type(adapter).__name__ for adapter in vars(backend).values()),
    "signature_type": _function_registry.REGISTRY_MAP.get(entry_point),
}
if name == "execute":
    # exactly what the runs subscription pushes (wrapped format) to the service URL, with a body
    # that is not a run message
    body = {"message": {"data": base64.b64encode(b"not a run").decode(), "messageId": "7",
                        "attributes": {"run_id": "x"}, "publishTime": "2026-01-01T00:00:00Z"},
            "subscription": "projects/cloudact-test/subscriptions/pipeline-runs-execute",
            "deliveryAttempt": 1}
    response = client.post("/", json=body)
elif name == "scheduler":
    # what its token check needs must have been installed (it verifies Google OIDC tokens)
    import google.auth.transport.requests, google.oauth2.id_token
    response = client.post("/api/v1/scheduler/tick", json={"pipeline": "gcp/cost/billing"})  # no token
else:
    response = client.get("/api/v1/no-such-path")
report.update(status=response.status_code, body=response.get_data(as_text=True))
print("REPORT " + json.dumps(report))
"""


@pytest.mark.slow
def test_each_zip_installs_and_loads_in_a_fresh_virtual_environment(tmp_path: Path, built: dict[str, Path]) -> None:
    requirements = {zipfile.ZipFile(path).read("requirements.txt") for path in built.values()}
    assert len(requirements) == 1  # one environment stands for every function
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    unpacked = {}
    for name, path in built.items():
        unpacked[name] = tmp_path / "app" / name
        with zipfile.ZipFile(path) as archive:
            archive.extractall(unpacked[name])
    # pip's own cache (~/.cache/pip) makes every run after the first an offline install
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(unpacked["execute"] / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # nothing of ours or of functions-framework's configuration (FUNCTION_SIGNATURE_TYPE,
    # FUNCTION_TARGET) leaks in from the test run
    clean_env = {
        key: value for key, value in os.environ.items() if not key.startswith(("CLOUDACT_", "PYTHON", "FUNCTION_"))
    }
    entry_points = _entry_points()
    assert set(entry_points) == set(built)
    for name, entry_point in sorted(entry_points.items()):
        result = subprocess.run(
            [str(python), "-c", LOAD_CHECK, name, entry_point],
            cwd=unpacked[name],
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
        report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))[7:])
        assert report["local_only_modules"] == []
        assert "shared.services.execution" in report["shipped_modules"]
        assert not [
            m for m in report["shipped_modules"] if m.startswith(("shared.local_stack", "shared.adapters.local"))
        ]
        assert report["adapters"] == ["BigQueryWarehouses", "FirestoreStore", "KmsKeyManager", "PubSubRunQueue"]
        assert report["signature_type"] == "http", (name, report)
        if name == "execute":
            # acknowledged (204, no body), and it was our function that read and dropped the message
            assert (report["status"], report["body"]) == (204, ""), report
            assert "unreadable run message dropped" in result.stdout + result.stderr
        elif name == "scheduler":
            # its own route table answered, and refused a call without a token
            assert report["status"] == 401, report
            assert json.loads(report["body"])["error"]["code"] == "unauthenticated"
        else:
            assert report["status"] == 404, report
            assert json.loads(report["body"])["error"]["code"]
