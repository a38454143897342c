"""Routes of the local stack alone (admin key): load a billing export file, or generate one, into the
warehouse the running ``serve`` owns.

DuckDB allows one writing process per file, so while ``serve`` runs the CLI's ``import-export`` and
``generate-export`` come here instead of opening the file themselves. The file named is read by the
server from this machine's disk: these routes exist on the local stack only, never in a deployment.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from shared import application, web
from shared.errors import InvalidRequest

if TYPE_CHECKING:
    from shared.application import Application

URL_MAP = web.routes(
    ("POST", "/api/v1/local/import-export", "import_export"),
    ("POST", "/api/v1/local/generate-export", "generate_export"),
)


def _warehouse(app: Application) -> Any:
    return app.backend.warehouses.platform()  # the DuckDB warehouse: these routes exist locally only


def _admin(app: Application, request: Request) -> dict[str, Any]:
    from shared.services.auth import authenticate_admin

    authenticate_admin(app.admin_key(), request.headers.get("X-Admin-Key"))
    return web.read_json(request, app.settings.max_body_bytes)


def _int(body: dict[str, Any], name: str, default: int, lowest: int = 1) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise InvalidRequest(f"Invalid {name}: expected an integer >= {lowest}", field=name)
    return value


def import_export(app: Application, request: Request) -> Response:
    from shared.local_stack import export_import

    body = _admin(app, request)
    file, table = body.get("file"), body.get("table")
    if not isinstance(file, str) or not Path(file).is_absolute():
        raise InvalidRequest("Invalid file: expected an absolute path on this machine", field="file")
    file_format = body.get("format")
    if file_format is not None and file_format not in {"ndjson", "parquet", "avro"}:
        raise InvalidRequest("Invalid format: expected ndjson, parquet or avro", field="format")
    result = export_import.import_file(
        _warehouse(app),
        Path(file),
        str(table),
        append=bool(body.get("append")),
        file_format=file_format,
    )
    return web.json_response(result.public())


def generate_export(app: Application, request: Request) -> Response:
    from shared.domain import identifiers
    from shared.local_stack import billing_export

    body = _admin(app, request)
    table = identifiers.table_id(body.get("table", billing_export.DEFAULT_TABLE), "table")
    end = body.get("end_date")
    end_date = identifiers.iso_date(end, "end_date") if end is not None else date.today() - timedelta(days=1)
    spec = billing_export.ExportSpec(
        table_id=table, rows=_int(body, "rows", 300_000), days=_int(body, "days", 30), end_date=end_date
    )
    billing_export.generate(_warehouse(app), spec)
    return web.json_response(export_summary(spec))


def export_summary(spec: Any) -> dict[str, Any]:
    return {
        "table": spec.table_id,
        "rows_loaded": spec.rows,
        "first_day": spec.start_date.isoformat(),
        "last_day": spec.end_date.isoformat(),
    }


HANDLERS = {"import_export": import_export, "generate_export": generate_export}


def app(environ: dict[str, Any], start_response: Any) -> Any:
    return web.dispatch(application.current(), Request(environ), URL_MAP, HANDLERS)(environ, start_response)
