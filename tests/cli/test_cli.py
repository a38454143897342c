"""The CLI as a user and a script meet it: real subprocesses, a real ``cloudact serve``, no mocks."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT
from tests.cli.helpers import clean_env, cli, free_port, serving

TABLE = "my-billing-project.billing_export.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C"
SAMPLE = str(PROJECT_ROOT / "docs" / "examples" / "gcp_billing_export_sample.json.gz")


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def test_server_down_is_one_line_naming_the_url_and_how_to_start_it(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path, port, CLOUDACT_API_KEY="acmecorp_api_x")
    done = cli(env, "runs")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"http://127.0.0.1:{port}" in lines[0] and "cloudact serve" in lines[0]
    assert done.stdout == ""
    as_json = cli(env, "runs", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"]["code"] == "server_unreachable"
    no_traceback(done.stderr, as_json.stderr)


def test_version_and_help_name_the_environment(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    version = cli(env, "--version")
    assert version.returncode == 0 and version.stdout.startswith("cloudact, version ")
    helped = cli(env, "--help").stdout
    for word in ("CLOUDACT_URL", "CLOUDACT_API_KEY", "CLOUDACT_DATA_DIR", "_CLOUDACT_COMPLETE=bash_source"):
        assert word in helped
    assert "CLOUDACT_API_KEY" in cli(env, "runs", "--help").stdout


def test_every_command_takes_json() -> None:
    from shared.local_stack.cli import main

    def commands(group: object, prefix: str = "") -> list[tuple[str, object]]:
        found = []
        for name, command in getattr(group, "commands", {}).items():
            if hasattr(command, "commands"):
                found += commands(command, f"{prefix}{name} ")
            else:
                found.append((prefix + name, command))
        return found

    missing = [
        name
        for name, command in commands(main)
        if not any("--json" in getattr(p, "opts", []) for p in getattr(command, "params", []))
    ]
    assert not missing, missing


def test_a_second_serve_on_the_same_folder_is_refused_naming_the_pid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as served:
        holder = json.loads((data / "cloudact.lock").read_text())
        other = cli(clean_env(data, free_port()), "serve")
        assert other.returncode == 2
        assert f"PID {holder['pid']}" in other.stderr and str(data) in other.stderr
        no_traceback(other.stderr)
        # the import goes through the running stack instead of the locked DuckDB file
        imported = cli(served.env, "import-export", SAMPLE, "--table", TABLE, "--json")
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["rows_loaded"] == 280
        assert "loading through it" in imported.stderr
        code, out, err = served.stop()
    assert code == 0 and "stopped" in out, err
    assert not (data / "cloudact.lock").read_text()  # released; the next serve starts
    with serving(data):
        pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_and_the_run_in_flight_ends_complete(tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    with serving(data) as served:
        env = dict(served.env)
        env["CLOUDACT_API_KEY"] = cli(env, "create-org", "acmecorp", "-q").stdout.strip()
        assert cli(env, "generate-export", "--table", TABLE, "--rows", "200000", "--days", "2").returncode == 0
        assert cli(env, "integrate", "acmecorp", "gcp", "--table", TABLE, "--local-credential").returncode == 0
        accepted = json.loads(cli(env, "run", "acmecorp", "--no-wait", "--json").stdout)
        time.sleep(0.3)
        code, out, err = served.stop(sig)
    assert code == 0, err
    assert "stopped" in out
    no_traceback(out, err)
    with serving(data) as again:  # finished before the stop, or handed back and delivered now
        env["CLOUDACT_URL"] = again.url
        deadline = time.monotonic() + 60
        while True:
            run = json.loads(cli(env, "status", accepted["pipeline_logging_id"], "--json").stdout)
            if run["status"] in {"COMPLETE", "FAILED"} or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert run["status"] == "COMPLETE", run
    assert run["rows_processed"] > 0


def test_client_commands_for_scripts_and_people(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as served:
        env = dict(served.env)
        # create-org with another folder than the server's: refused, and no second admin key made
        other = tmp_path / "other"
        refused = cli(clean_env(other, served.port), "create-org", "acmecorp")
        assert refused.returncode == 2 and "--data-dir" in refused.stderr
        assert not other.exists()
        (other).mkdir()
        (other / "admin.key").write_text("cloudact_admin_not_the_servers")
        refused = cli(clean_env(other, served.port), "create-org", "acmecorp")
        assert refused.returncode == 2 and "serves another data folder" in refused.stderr

        created = json.loads(cli(env, "create-org", "acmecorp", "--json").stdout)
        env["CLOUDACT_API_KEY"] = created["api_key"]
        from shared.local_stack.demo import fake_service_account

        key_file = tmp_path / "sa.json"
        key_file.write_text(json.dumps(fake_service_account("my-billing-project")))
        real = cli(env, "integrate", "acmecorp", "gcp", "--table", TABLE, "--credential-file", str(key_file), "--json")
        assert real.returncode == 0 and json.loads(real.stdout)["client_email"].endswith(".iam.gserviceaccount.com")
        assert "PRIVATE KEY" not in real.stdout
        both = cli(
            env,
            "integrate",
            "acmecorp",
            "gcp",
            "--table",
            TABLE,
            "--credential-file",
            str(key_file),
            "--local-credential",
        )
        assert both.returncode == 2 and "exactly one of" in both.stderr
        placeholder = cli(env, "integrate", "acmecorp", "gcp", "--table", TABLE, "--local-credential", "--json")
        assert placeholder.returncode == 0 and json.loads(placeholder.stdout)["local_placeholder"] is True

        # an API refusal: its message, exit 1
        bad = cli({**env, "CLOUDACT_API_KEY": "acmecorp_api_nope"}, "runs")
        assert bad.returncode == 1 and "X-API-Key" in bad.stderr
        bad_filter = cli(env, "runs", "--pipeline-id", "gcp/cost/billing")
        assert bad_filter.returncode == 1 and "acmecorp-gcp-billing" in bad_filter.stderr
        elsewhere = cli(clean_env(tmp_path / "third", served.port), "schedule", "tick")
        assert elsewhere.returncode == 2 and "--data-dir" in elsewhere.stderr
        assert not (tmp_path / "third").exists()
        tick = cli(env, "schedule", "tick", "--at", "yesterday")
        assert tick.returncode == 2 and "--at" in tick.stderr
        tick = cli(env, "schedule", "tick", "--at", "2020-01-01T04:00:00Z")
        assert tick.returncode == 2 and "--at" in tick.stderr
        no_traceback(bad.stderr, bad_filter.stderr, tick.stderr)

        # 105 runs (days with no source rows: each says so), then paging beyond the API's 100
        assert cli(env, "import-export", SAMPLE, "--table", TABLE).returncode == 0
        queued = cli(env, "backfill", "acmecorp", "--start", "2025-01-01", "--end", "2025-04-15", "--json")
        assert queued.returncode == 0, queued.stderr
        progress = json.loads(queued.stdout)
        assert progress["summary"] == "105 days, 0 rows in 105 of them"
        assert all(r["warnings"] == [f"no source rows for {r['date']} in `{TABLE}`"] for r in progress["runs"])
        everything = json.loads(cli(env, "runs", "--all", "--json").stdout)
        assert len(everything) == 105
        assert len(json.loads(cli(env, "runs", "--limit", "101", "--json").stdout)) == 101
        listed = cli(env, "runs", "--limit", "2")
        assert len(listed.stdout.strip().splitlines()) == 2 and "no source rows for" in listed.stdout

        # a FAILED run: its error in `runs` and `status`, exit 1 from `run`
        assert (
            cli(env, "integrate", "acmecorp", "gcp", "--table", "nobody-here.x.y", "--local-credential").returncode == 0
        )
        failed = cli(env, "run", "acmecorp", "--date", "2025-11-05")
        assert failed.returncode == 1
        assert "extract_transform failed" in failed.stdout and "error: Pipeline execution failed" in failed.stdout
        assert "Pipeline execution failed" in cli(env, "runs", "--status", "FAILED").stdout
        no_traceback(failed.stdout, failed.stderr)


def test_demo_keeps_to_its_own_folder_and_says_what_next(tmp_path: Path) -> None:
    served_folder = tmp_path / ".cloudact"
    served_folder.mkdir()
    (served_folder / "precious.txt").write_text("the user's")
    env = clean_env(tmp_path)
    del env["CLOUDACT_DATA_DIR"]
    demo = _cloudact_in(tmp_path, env, "demo", "--rows", "3000", "--days", "2")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (served_folder / "precious.txt").exists()
    assert (tmp_path / ".cloudact-demo" / ".created-by-cloudact-demo").exists()
    assert "cloudact --data-dir .cloudact-demo serve" in demo.stdout
    assert "export CLOUDACT_API_KEY=acmecorp_api_" in demo.stdout
    assert "curl -s" in demo.stdout
    for keep in ((), ("--keep",)):
        refused = _cloudact_in(tmp_path, env, "--data-dir", ".cloudact", "demo", *keep)
        assert refused.returncode == 2 and "not created by `cloudact demo`" in refused.stderr
        assert sorted(p.name for p in served_folder.iterdir()) == ["precious.txt"]
    assert (served_folder / "precious.txt").exists()
    no_traceback(demo.stderr, refused.stderr)


def _cloudact_in(cwd: Path, env: dict[str, str], *args: str) -> object:
    import subprocess

    from tests.cli.helpers import CLOUDACT

    return subprocess.run([CLOUDACT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_validate_names_file_and_line_and_serve_refuses_a_broken_file(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", configs)
    env = clean_env(tmp_path / "data", CLOUDACT_CONFIGS_DIR=str(configs))
    ok = cli(env, "validate")
    assert ok.returncode == 0 and "all valid" in ok.stdout
    broken = configs / "gcp" / "cost" / "billing.yml"
    broken.write_text(broken.read_text().replace("partition_by: usage_date", "partition_by: nowhere"))
    bad = cli(env, "validate", str(broken))
    assert bad.returncode == 1
    line = bad.stderr.strip().splitlines()[0]
    number = next(i for i, text in enumerate(broken.read_text().splitlines(), 1) if "name: load" in text)
    assert line.startswith(f"{broken}:{number}: steps.2: ") and "partition_by" in line, line
    assert cli(env, "validate", "--json").returncode == 1
    serve = cli({**env, "CLOUDACT_PORT": str(free_port())}, "serve", timeout=60)
    assert serve.returncode == 2 and "billing.yml:" in serve.stderr
    no_traceback(bad.stderr, serve.stderr)


def test_a_warehouse_file_held_by_another_program_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            str(data / "warehouse" / "my-billing-project.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = cli(clean_env(data), "import-export", SAMPLE, "--table", TABLE)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "lock" in lines[0] and f"PID {holder.pid}" in lines[0], done.stderr
