"""SQL over the partitioned billing export must bound the partitions it reads: proved on the
parsed form of the pipeline's own SQL, and on a pipeline file that forgets it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from shared.errors import ConfigError
from shared.pipelines import config, partition_guard
from shared.pipelines.partition_guard import missing_partition_filter
from shared.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "configs" / "gcp" / "cost" / "sql"
BILLING = PROJECT_ROOT / "configs" / "gcp" / "cost" / "billing.yml"
DAY_FILTER = "usage_start_time >= TIMESTAMP(@date) AND usage_start_time < TIMESTAMP(DATE_ADD(@date, INTERVAL 1 DAY))"


def _select(where: str) -> str:
    return f"SELECT SUM(cost) AS cost FROM `{{source}}` WHERE {where}"


@pytest.mark.parametrize("name", ["billing_daily.sql", "billing_watermark.sql"])
def test_the_billing_sql_reads_the_window_from_the_day_before_to_the_window_after(name: str) -> None:
    sql = (SQL_DIR / name).read_text()
    assert missing_partition_filter(sql, "{source}") is None
    # the predicate itself, on the parsed form: both ends bound by the day and the window parameter
    tree = sqlglot.parse_one(sql.replace("{source}", "p.d.t"), read="bigquery")
    [between] = [node for node in tree.find_all(exp.Between) if node.this.name.upper() == "_PARTITIONTIME"]
    low, high = between.args["low"], between.args["high"]
    assert isinstance(low.this, exp.DateSub) and low.this.this.name == "date" and low.this.expression.name == "1"
    assert isinstance(high.this, exp.DateAdd) and high.this.this.name == "date"
    assert high.this.expression.name == "source_window_days"
    # and the day itself still filters usage_start_time
    assert {c.name for c in tree.find(exp.Where).find_all(exp.Column)} == {"_PARTITIONTIME", "usage_start_time"}


@pytest.mark.parametrize(
    "where",
    [
        f"_PARTITIONTIME BETWEEN TIMESTAMP(@start) AND TIMESTAMP(@end) AND {DAY_FILTER}",
        f"{DAY_FILTER} AND _PARTITIONTIME >= TIMESTAMP(@start) AND _PARTITIONTIME < TIMESTAMP(@end)",
        "TIMESTAMP(@start) <= _PARTITIONTIME AND TIMESTAMP(@end) > _PARTITIONTIME",
        "DATE(_PARTITIONTIME) BETWEEN DATE_SUB(@date, INTERVAL 1 DAY) AND @date",
        "_PARTITIONDATE = @date",
        "(_PARTITIONTIME >= TIMESTAMP '2025-01-01') AND (_PARTITIONTIME < TIMESTAMP '2025-02-01')",
    ],
)
def test_a_bounded_partition_filter_is_accepted(where: str) -> None:
    assert missing_partition_filter(_select(where), "{source}") is None


@pytest.mark.parametrize(
    ("where", "missing"),
    [
        (DAY_FILTER, "from below and above"),
        (f"_PARTITIONTIME >= TIMESTAMP(@start) AND {DAY_FILTER}", "from above"),
        (f"_PARTITIONTIME < TIMESTAMP(@end) AND {DAY_FILTER}", "from below"),
        # an OR keeps every partition of its other side
        ("_PARTITIONTIME BETWEEN TIMESTAMP(@start) AND TIMESTAMP(@end) OR cost > 0", "from below and above"),
        # a bound that depends on a row cannot prune before reading
        ("_PARTITIONTIME BETWEEN usage_start_time AND TIMESTAMP(@end)", "from below"),
    ],
)
def test_a_read_of_the_whole_history_is_refused_saying_why(where: str, missing: str) -> None:
    problem = missing_partition_filter(_select(where), "{source}")
    assert problem is not None and f"without bounding it {missing}" in problem
    assert "every partition" in problem and "require_partition_filter: false" in problem


def test_every_read_of_the_source_is_checked_subqueries_too() -> None:
    bounded = "_PARTITIONTIME BETWEEN TIMESTAMP(@start) AND TIMESTAMP(@end)"
    sql = (
        f"WITH recent AS (SELECT cost FROM `{{source}}` WHERE {bounded}) "
        f"SELECT SUM(cost) FROM recent UNION ALL SELECT SUM(cost) FROM `{{source}}` WHERE {DAY_FILTER}"
    )
    assert missing_partition_filter(sql, "{source}") is not None
    assert missing_partition_filter(sql.replace(DAY_FILTER, bounded), "{source}") is None


def _pipeline_reading(tmp_path: Path, where: str, **step_config: object) -> Path:
    document = yaml.safe_load(BILLING.read_text())
    document["steps"][1]["config"].update(sql="sql/unbounded.sql", **step_config)
    target = tmp_path / "gcp" / "cost"
    (target / "sql").mkdir(parents=True)
    for sql in SQL_DIR.glob("*.sql"):
        (target / "sql" / sql.name).write_text(sql.read_text())
    daily = (SQL_DIR / "billing_daily.sql").read_text()
    (target / "sql" / "unbounded.sql").write_text(daily[: daily.index("WHERE _PARTITIONTIME")] + f"WHERE {where}\n")
    (target / "billing.yml").write_text(yaml.safe_dump(document))
    return target / "billing.yml"


def test_a_pipeline_file_whose_sql_scans_the_whole_export_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        config.parse(_pipeline_reading(tmp_path, DAY_FILTER))
    message = str(error.value)
    assert "extract_transform" in message and "sql/unbounded.sql" in message
    assert "_PARTITIONTIME" in message and "bill" in message


def test_a_step_may_opt_out_of_the_partition_filter_explicitly(tmp_path: Path) -> None:
    pipeline = config.parse(_pipeline_reading(tmp_path, DAY_FILTER, require_partition_filter=False))
    assert pipeline.steps[1].config["require_partition_filter"] is False


def test_the_window_default_and_bounds_come_from_the_pipeline_file() -> None:
    pipeline = config.parse(BILLING)
    window = pipeline.parameter("source_window_days")
    assert window is not None and (window.type, window.default, window.minimum, window.maximum) == (
        "integer",
        5,
        0,
        62,
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"minimum": 10}, "default is outside"),
        ({"maximum": 1}, "default is outside"),
        ({"minimum": 9, "maximum": 3}, "minimum is greater"),
        ({"type": "string", "default": "x"}, "integer parameters only"),
    ],
)
def test_bad_parameter_bounds_are_refused_at_load(tmp_path: Path, change: dict[str, object], reason: str) -> None:
    document = yaml.safe_load(BILLING.read_text())
    document["parameters"][1].update(change)
    target = tmp_path / "gcp" / "cost"
    (target / "sql").mkdir(parents=True)
    for sql in SQL_DIR.glob("*.sql"):
        (target / "sql" / sql.name).write_text(sql.read_text())
    (target / "billing.yml").write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=reason):
        config.parse(target / "billing.yml")


def test_the_recorded_verdicts_are_current(tmp_path: Path) -> None:
    # the repository's configs as they are, re-recorded: nothing may differ
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    for stale in (tmp_path / "configs").rglob(partition_guard.VERIFIED_FILE):
        stale.unlink()
    written = partition_guard.record(tmp_path / "configs")
    assert written, "the billing pipeline's SQL is recorded"
    for path in written:
        committed = PROJECT_ROOT / path.relative_to(tmp_path)
        assert committed.is_file() and committed.read_text() == path.read_text(), (
            f"{committed} is stale: run `python -m shared.pipelines.partition_guard configs`"
        )


def test_a_recorded_sql_file_loads_without_sqlglot_and_a_changed_one_is_checked_again(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from shared.domain.runs import PipelineRef\n"
        "from shared.pipelines import config\n"
        "from shared.settings import PROJECT_ROOT\n"
        "config.load(PROJECT_ROOT / 'configs', PipelineRef('gcp', 'cost', 'billing'))\n"
        "print('sqlglot' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"  # a function's first request does not pay sqlglot's import

    folder = tmp_path / "gcp" / "cost"
    shutil.copytree(BILLING.parent, folder)
    assert (folder / partition_guard.VERIFIED_FILE).is_file()
    daily = folder / "sql" / "billing_daily.sql"
    text = daily.read_text()
    unbounded = text[: text.index("WHERE _PARTITIONTIME")] + f"WHERE {DAY_FILTER}\n" + text[text.index("GROUP BY") :]
    daily.write_text(unbounded)
    with pytest.raises(ConfigError, match="without bounding it from below and above"):
        config.parse(folder / "billing.yml")
