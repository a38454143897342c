"""Warehouse on BigQuery (``google-cloud-bigquery``).

- Values are bound as named query parameters (``@name``), typed from their Python type.
- Every job carries the run's labels (org, run id, step), so its cost is traceable in
  ``INFORMATION_SCHEMA.JOBS`` and in the billing export, and a ``maximum_bytes_billed`` ceiling,
  so a wrong query fails instead of scanning a fortune.
- A day is replaced by one load job into the partition decorator ``table$YYYYMMDD`` with
  ``WRITE_TRUNCATE`` (see ``replace_partition``).
- The run history is upserted with one ``MERGE`` statement (see ``upsert_rows``).

``google.cloud.bigquery`` is imported inside methods only: a function that never queries does not
pay for the library at cold start.
"""

from __future__ import annotations

import decimal
import hashlib
import io
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from shared.adapters import schema_evolution
from shared.errors import TerminalError, TransientError
from shared.ports import JobLabels, LoadResult, QueryResult, QueryValue, TableSpec

from .errors import RetryPolicy, translated

API_RETRY = RetryPolicy(initial_s=1.0, maximum_s=16.0, multiplier=2.0, deadline_s=60.0)
"""One API call (insert a job, poll it, read a page). A minute rides out a backend blip or a
per-second rate limit; anything longer is better left to Pub/Sub's redelivery of the whole run."""

JOB_RESTARTS = None
"""Query jobs that failed inside BigQuery (``jobBackendError`` and kin) are not restarted in-process.
The client would otherwise wrap job insertion and restarts in its own 10- and 40-minute deadlines,
past any function timeout; instead the failure is a ``TransientError`` and Pub/Sub's redelivery
restarts the run, within the subscription's retry policy and dead-letter limit."""

JOB_TIMEOUT_S = 300.0
"""How long to wait for one job to finish before giving the run back for redelivery."""

UPLOAD_TIMEOUT_S = 60.0
"""Per HTTP request of an upload; the client resumes (up to 6 times) after a failed chunk."""

MAX_CACHED_CLIENTS = 32
"""Per-org clients kept warm; each holds an HTTP session and a token, so the cache is bounded."""

QUERY_PARAMETER_TYPES: tuple[tuple[type, str], ...] = (
    # order matters: bool is an int, and datetime is a date
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (decimal.Decimal, "NUMERIC"),
    (str, "STRING"),
    (datetime, "TIMESTAMP"),
    (date, "DATE"),
)

BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"

_LABEL_VALUE = re.compile(r"[^a-z0-9_-]")


def parameter_type(value: QueryValue | decimal.Decimal) -> str:
    """BigQuery's type for a Python value.

    A naive datetime is a DATETIME (wall-clock, no zone); an aware one is a TIMESTAMP. NULL has no
    type of its own: it is sent as a STRING NULL, so SQL comparing it to another type needs a
    ``CAST(@name AS ...)``.
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        return "DATETIME"
    if value is None:
        return "STRING"
    for python_type, bigquery_type in QUERY_PARAMETER_TYPES:
        if isinstance(value, python_type):
            return bigquery_type
    raise TerminalError(f"No BigQuery type for a query parameter of type {type(value).__name__}")


def label_value(text: str) -> str:
    """BigQuery label values: at most 63 lowercase letters, digits, ``_`` or ``-``."""
    return _LABEL_VALUE.sub("_", text.lower())[:63]


def job_labels(labels: JobLabels) -> dict[str, str]:
    return {
        "org_slug": label_value(labels.org_slug),
        "run_id": label_value(labels.run_id),
        "step": label_value(labels.step),
    }


def partition_decorator(table_name: str, day: date) -> str:
    return f"{table_name}${day:%Y%m%d}"


def _json_value(value: Any) -> Any:
    """A value as BigQuery's newline-delimited JSON load format spells it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # exact and without exponent (4.5E-7 -> 0.00000045); never a float
    return value


def encode_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    lines = (
        json.dumps({name: _json_value(value) for name, value in zip(columns, row, strict=True)}, allow_nan=False)
        for row in rows
    )
    return "\n".join(lines).encode()


class BigQueryWarehouse:
    def __init__(
        self,
        project: str,
        *,
        location: str = "US",
        max_bytes_billed: int,
        credentials: Any = None,
        api_endpoint: str | None = None,
        http: Any = None,
        api_retry: RetryPolicy = API_RETRY,
    ) -> None:
        """``project`` runs the jobs and holds the datasets ``ensure_*`` creates.

        ``credentials`` None means the environment's default credentials. ``api_endpoint`` points
        the client elsewhere than Google (an emulator); ``http`` is a ``requests.Session`` to
        send through (tests record traffic with it).
        """
        self.project = project
        self.api_retry = api_retry
        self.location = location
        self.max_bytes_billed = max_bytes_billed
        self._credentials = credentials
        self._api_endpoint = api_endpoint
        self._http = http
        self._client_instance: Any = None
        self._lock = threading.Lock()
        self._ensured: set[str] = set()
        """Datasets known to exist."""
        self._ensured_tables: set[TableSpec] = set()
        """Tables known to exist with (at least) these declared columns."""

    # -- the client, built on first use -----------------------------------------------------
    def _client(self) -> Any:
        if self._client_instance is None:
            with self._lock:
                if self._client_instance is None:
                    from google.cloud import bigquery

                    options: dict[str, Any] = {}
                    credentials = self._credentials
                    if self._api_endpoint:
                        from google.auth.credentials import AnonymousCredentials

                        options["client_options"] = {"api_endpoint": self._api_endpoint}
                        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
                    with translated("BigQuery client could not be created"):
                        self._client_instance = bigquery.Client(
                            project=self.project,
                            location=self.location,
                            credentials=credentials,
                            _http=self._http,
                            **options,
                        )
        return self._client_instance

    def _api_retry(self) -> Any:
        from google.cloud.bigquery import DEFAULT_RETRY

        # the library's own predicate (the classification errors.py mirrors), with our budget
        return self.api_retry.applied_to(DEFAULT_RETRY)

    def _table_id(self, table: TableSpec) -> str:
        return f"{self.project}.{table.dataset}.{table.name}"

    def _schema(self, table: TableSpec) -> list[Any]:
        from google.cloud import bigquery

        return [bigquery.SchemaField(column.name, column.type, mode=column.mode) for column in table.columns]

    # -- the Warehouse port ------------------------------------------------------------------
    def ensure_dataset(self, dataset: str) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        dataset_id = f"{self.project}.{dataset}"
        if dataset_id in self._ensured:
            return
        with translated(f"Dataset {dataset} could not be created"):
            # Look before creating: datasets.insert needs bigquery.datasets.create even when the
            # dataset exists (exists_ok only catches the 409 that comes after that check), and only
            # the admin function holds it; execute and the scheduler write into existing datasets.
            try:
                self._client().get_dataset(dataset_id, retry=self._api_retry())
            except NotFound:
                spec = bigquery.Dataset(dataset_id)
                spec.location = self.location
                self._client().create_dataset(spec, exists_ok=True, retry=self._api_retry())
        self._ensured.add(dataset_id)

    def ensure_table(self, table: TableSpec) -> None:
        """Creates the table if missing, day-partitioned and clustered as specified.

        An existing table made by an earlier version of its pipeline is brought up to the declared
        schema where no value is lost, else refused naming the differences (``schema_evolution``);
        its partitioning and clustering are left as they are.
        """
        from google.cloud import bigquery

        if table in self._ensured_tables:
            return
        self.ensure_dataset(table.dataset)
        spec = bigquery.Table(self._table_id(table), schema=self._schema(table))
        if table.partition_field:
            spec.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=table.partition_field
            )
        if table.clustering:
            spec.clustering_fields = list(table.clustering)
        if table.description:
            spec.description = table.description
        with translated(f"Table {table.dataset}.{table.name} could not be created"):
            # an existing table comes back as it is (exists_ok reads it), so comparing costs no call
            existing = self._client().create_table(spec, exists_ok=True, retry=self._api_retry())
        self._evolve(existing, table)
        self._ensured_tables.add(table)

    def _evolve(self, existing: Any, table: TableSpec) -> None:
        change = schema_evolution.plan(table, {field.name: field.field_type for field in existing.schema})
        if not change:
            return
        with translated(f"Table {table.dataset}.{table.name} could not be brought up to its schema"):
            if change.widened:
                # a type change is DDL only (tables.patch refuses it); NUMERIC -> BIGNUMERIC keeps every value
                alters = ", ".join(
                    f"ALTER COLUMN `{column.name}` SET DATA TYPE {column.type}" for column in change.widened
                )
                self._client().query_and_wait(
                    f"ALTER TABLE `{self._table_id(table)}` {alters}", retry=self._api_retry(), job_retry=JOB_RESTARTS
                )
                existing = self._client().get_table(self._table_id(table), retry=self._api_retry())
            if change.added:
                from google.api_core.exceptions import PreconditionFailed

                existing.schema = [*existing.schema, *self._schema(replace(table, columns=change.added))]
                try:
                    # the patch carries the table's etag: it fails if another run changed the table since
                    self._client().update_table(existing, ["schema"], retry=self._api_retry())
                except PreconditionFailed:
                    raise TransientError(
                        f"Table {table.dataset}.{table.name} changed while being brought up to its schema"
                    ) from None

    def query(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> QueryResult:
        from google.cloud import bigquery

        ceiling = self.max_bytes_billed if max_bytes_billed is None else min(max_bytes_billed, self.max_bytes_billed)
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(name, parameter_type(value), value) for name, value in params.items()
            ],
            labels=job_labels(labels),
            maximum_bytes_billed=ceiling,
            use_legacy_sql=False,
        )
        with translated("Warehouse query failed"):
            job = self._client().query(sql, job_config=config, retry=self._api_retry(), job_retry=JOB_RESTARTS)
            result = job.result(timeout=JOB_TIMEOUT_S, retry=self._api_retry(), job_retry=JOB_RESTARTS)
            columns = tuple(field.name for field in result.schema)
            rows = [tuple(row.values()) for row in result]
        return QueryResult(
            columns=columns,
            rows=rows,
            bytes_processed=int(job.total_bytes_processed or 0),
            bytes_billed=int(job.total_bytes_billed or 0),
        )

    def estimate_bytes(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> int:
        """A dry-run job: BigQuery plans the query (partitions pruned, columns read) and reports the
        bytes it would process, running and billing nothing."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(name, parameter_type(value), value) for name, value in params.items()
            ],
            labels=job_labels(labels),
            dry_run=True,
            use_query_cache=False,  # a cached answer would estimate 0 bytes
            use_legacy_sql=False,
        )
        with translated("Warehouse query failed"):
            job = self._client().query(sql, job_config=config, retry=self._api_retry())
        return int(job.total_bytes_processed or 0)

    def replace_partition(
        self, table: TableSpec, day: date, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, labels: JobLabels
    ) -> LoadResult:
        """One load job into ``table$YYYYMMDD`` with WRITE_TRUNCATE.

        Why a load job into the partition decorator, rather than DELETE + INSERT statements:
        - atomic: the day's old rows are replaced by the new ones in one job, or nothing changes
          (two DML statements would need a multi-statement transaction around them);
        - it touches that day only: BigQuery rejects a row whose ``partition_field`` is another
          day, so a bad result cannot overwrite a neighbour;
        - load jobs are free and have no DML quota or concurrency limits; DML is billed by the
          bytes it scans.
        """
        if table.partition_field is None:
            raise TerminalError(f"{table.dataset}.{table.name} has no partition field")
        self.ensure_table(table)
        return self._load(table, partition_decorator(table.name, day), columns, rows, labels=labels)

    def _load(
        self,
        table: TableSpec,
        destination_name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        labels: JobLabels,
    ) -> LoadResult:
        from google.cloud import bigquery

        known = {column.name for column in table.columns}
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise TerminalError(f"Columns not in {table.dataset}.{table.name}: {', '.join(unknown)}")
        config = bigquery.LoadJobConfig(
            schema=self._schema(table),
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            # the table was just ensured with its partitioning and clustering; a load must never
            # create a differently shaped one
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            labels=job_labels(labels),
        )
        try:
            payload = encode_rows(columns, rows)
        except ValueError:  # NaN or infinity: JSON cannot carry them, and BigQuery would refuse them
            raise TerminalError(f"Rows for {table.dataset}.{table.name} hold a non-finite number") from None
        with translated(f"Load into {table.dataset}.{destination_name} failed"):
            # size=None makes the client use a resumable upload: a dropped connection resumes
            # instead of resending, and (see docs/gcp.md) bqemulator accepts no other upload form
            job = self._client().load_table_from_file(
                io.BytesIO(payload),
                f"{self.project}.{table.dataset}.{destination_name}",
                job_config=config,
                size=None,
                rewind=True,
                timeout=UPLOAD_TIMEOUT_S,
            )
            job.result(timeout=JOB_TIMEOUT_S, retry=self._api_retry())
        return LoadResult(rows=int(job.output_rows or 0), bytes_processed=int(job.output_bytes or 0))

    def upsert_rows(self, table: TableSpec, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """One MERGE statement keyed on ``key``: a matching row is updated, a new one inserted.

        MERGE rather than delete + insert: it is one atomic statement, so a concurrent reader never
        sees the row missing and a crash cannot leave it deleted. The rows travel as one
        ARRAY<STRUCT> query parameter; JSON columns travel as strings and are parsed in SQL,
        because a JSON value is not a query parameter type every client version can send.
        """
        if not rows:
            return
        from google.cloud import bigquery

        self.ensure_table(table)
        columns = table.columns
        if key not in {column.name for column in columns}:
            raise TerminalError(f"Key {key} is not a column of {table.dataset}.{table.name}")
        struct_rows = [
            bigquery.StructQueryParameter(
                None,
                *(
                    bigquery.ScalarQueryParameter(
                        column.name,
                        "STRING" if column.type == "JSON" else column.type,
                        _upsert_value(column.type, row.get(column.name)),
                    )
                    for column in columns
                ),
            )
            for row in rows
        ]

        def source(column_name: str, column_type: str) -> str:
            return f"PARSE_JSON(source.{column_name})" if column_type == "JSON" else f"source.{column_name}"

        names = ", ".join(column.name for column in columns)
        values = ", ".join(source(column.name, column.type) for column in columns)
        updates = ", ".join(
            f"{column.name} = {source(column.name, column.type)}" for column in columns if column.name != key
        )
        sql = (
            f"MERGE `{self._table_id(table)}` AS target USING UNNEST(@rows) AS source"
            f" ON target.{key} = source.{key}"
            f" WHEN MATCHED THEN UPDATE SET {updates}"
            f" WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ArrayQueryParameter("rows", "STRUCT", struct_rows)],
            labels={"component": "run_history"},
            maximum_bytes_billed=self.max_bytes_billed,
        )
        with translated(f"Upsert into {table.dataset}.{table.name} failed"):
            job = self._client().query(sql, job_config=config, retry=self._api_retry(), job_retry=JOB_RESTARTS)
            job.result(timeout=JOB_TIMEOUT_S, retry=self._api_retry(), job_retry=JOB_RESTARTS)

    def ensure_union_view(self, dataset: str, view: str, table_prefix: str) -> None:
        """One INFORMATION_SCHEMA query for the tables and their columns, one CREATE OR REPLACE VIEW.

        DDL on a view is atomic: a reader sees the old union or the new one, never none.
        """
        from google.cloud import bigquery

        from shared.adapters.views import union_select

        dataset_ref = f"{self.project}.{dataset}"
        listing = (
            f"SELECT c.table_name, c.column_name FROM `{dataset_ref}.INFORMATION_SCHEMA.COLUMNS` AS c"
            f" JOIN `{dataset_ref}.INFORMATION_SCHEMA.TABLES` AS t USING (table_name)"
            " WHERE t.table_type = 'BASE TABLE' AND STARTS_WITH(c.table_name, @prefix)"
            " ORDER BY c.table_name, c.ordinal_position"
        )
        labels = {"component": "union_view"}
        with translated(f"View {dataset}.{view} could not be created"):
            job = self._client().query(
                listing,
                job_config=bigquery.QueryJobConfig(
                    query_parameters=[bigquery.ScalarQueryParameter("prefix", "STRING", table_prefix)],
                    labels=labels,
                    maximum_bytes_billed=self.max_bytes_billed,
                ),
                retry=self._api_retry(),
                job_retry=JOB_RESTARTS,
            )
            columns_by_table: dict[str, list[str]] = {}
            for table_name, column_name in job.result(timeout=JOB_TIMEOUT_S, retry=self._api_retry()):
                columns_by_table.setdefault(table_name, []).append(column_name)
            if not columns_by_table:
                return
            select = union_select(columns_by_table, lambda name: f"`{dataset_ref}.{name}`", lambda name: f"`{name}`")
            ddl = self._client().query(
                f"CREATE OR REPLACE VIEW `{dataset_ref}.{view}` AS {select}",
                job_config=bigquery.QueryJobConfig(labels=labels, maximum_bytes_billed=self.max_bytes_billed),
                retry=self._api_retry(),
                job_retry=JOB_RESTARTS,
            )
            ddl.result(timeout=JOB_TIMEOUT_S, retry=self._api_retry())

    def close(self) -> None:
        with self._lock:
            if self._client_instance is not None and self._http is None:
                # a session handed in belongs to whoever made it (the client's close assumes its own)
                self._client_instance.close()
            self._client_instance = None


def _upsert_value(column_type: str, value: Any) -> Any:
    """Values as the MERGE's parameters need them: TIMESTAMP strings parsed, JSON as text."""
    if value is None:
        return None
    if column_type == "TIMESTAMP" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if column_type == "DATE" and isinstance(value, str):
        return date.fromisoformat(value)
    if column_type == "JSON" and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    return value


class BigQueryWarehouses:
    """The WarehouseFactory: the platform's warehouse, and one per org service account."""

    def __init__(
        self, project: str, *, location: str = "US", max_bytes_billed: int, api_endpoint: str | None = None
    ) -> None:
        self._project = project
        self._location = location
        self._max_bytes_billed = max_bytes_billed
        self._api_endpoint = api_endpoint
        self._platform: BigQueryWarehouse | None = None
        self._per_credentials: OrderedDict[str, BigQueryWarehouse] = OrderedDict()
        self._lock = threading.Lock()

    def platform(self) -> BigQueryWarehouse:
        """The platform's own service account (the function's default credentials)."""
        if self._platform is None:
            with self._lock:
                if self._platform is None:
                    self._platform = BigQueryWarehouse(
                        self._project,
                        location=self._location,
                        max_bytes_billed=self._max_bytes_billed,
                        api_endpoint=self._api_endpoint,
                    )
        return self._platform

    def for_credentials(self, credentials: Mapping[str, Any]) -> BigQueryWarehouse:
        """Reads with the org's own service account, and runs its jobs in that account's project,
        so the org's export is read (and billed) under the org's own grants, never the platform's."""
        # a digest of the whole key, so a rotated key gets a new client and no key text is kept
        # as a dictionary key
        cache_key = hashlib.sha256(json.dumps(dict(credentials), sort_keys=True).encode()).hexdigest()
        with self._lock:
            cached = self._per_credentials.get(cache_key)
            if cached is not None:
                self._per_credentials.move_to_end(cache_key)
                return cached
        from shared.domain.integrations import is_local_placeholder

        if is_local_placeholder(dict(credentials)):
            raise TerminalError(
                "The org's GCP integration holds a local placeholder credential (made for the local stack), "
                "which BigQuery cannot use: set the integration again with a service-account key"
            )
        project = str(credentials.get("project_id") or "")
        if not project:
            raise TerminalError("The org's service-account key has no project_id")
        org_credentials = None
        if not self._api_endpoint:  # an emulator takes anonymous credentials instead
            from google.oauth2 import service_account

            try:
                org_credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    dict(credentials), scopes=[BIGQUERY_SCOPE]
                )
            except (ValueError, KeyError, TypeError):
                # the parser's message could quote the key: say only that it is unusable
                raise TerminalError("The org's service-account key is not usable") from None
        warehouse = BigQueryWarehouse(
            project,
            location=self._location,
            max_bytes_billed=self._max_bytes_billed,
            credentials=org_credentials,
            api_endpoint=self._api_endpoint,
        )
        with self._lock:
            self._per_credentials[cache_key] = warehouse
            while len(self._per_credentials) > MAX_CACHED_CLIENTS:
                # not closed here: another thread may still be reading through it; the garbage
                # collector closes its session once nobody does
                self._per_credentials.popitem(last=False)
        return warehouse

    def close(self) -> None:
        with self._lock:
            warehouses = [*self._per_credentials.values(), *([self._platform] if self._platform else [])]
            self._per_credentials.clear()
            self._platform = None
        for warehouse in warehouses:
            warehouse.close()
