"""Routes of the local stack alone (admin key): load a billing export file, or generate one, into the
warehouse the running ``serve`` owns.

DuckDB allows one writing process per file, so while ``serve`` runs the CLI's ``import-export`` and
``generate-export`` come here instead of opening the file themselves. The file named is read by the
server from this machine's disk: these routes exist on the local stack only, never in a deployment.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from shared import web
from shared.errors import InvalidRequest

URL_MAP = web.routes(
    ("POST", "/api/v1/local/import-export", "import_export"),
    ("POST", "/api/v1/local/generate-export", "generate_export"),
)


def _warehouse() -> Any:
    from shared import runtime

    return runtime.backend().warehouses.platform()


def _admin(request: Request) -> dict[str, Any]:
    from shared import runtime
    from shared.services.auth import authenticate_admin
    from shared.settings import get_settings

    settings = get_settings()
    authenticate_admin(runtime.admin_key(settings), request.headers.get("X-Admin-Key"))
    return web.read_json(request, settings.max_body_bytes)


def _int(body: dict[str, Any], name: str, default: int, lowest: int = 1) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise InvalidRequest(f"Invalid {name}: expected an integer >= {lowest}", field=name)
    return value


def import_export(request: Request) -> Response:
    from shared.local_stack import export_import

    body = _admin(request)
    file, table = body.get("file"), body.get("table")
    if not isinstance(file, str) or not Path(file).is_absolute():
        raise InvalidRequest("Invalid file: expected an absolute path on this machine", field="file")
    file_format = body.get("format")
    if file_format is not None and file_format not in {"ndjson", "parquet", "avro"}:
        raise InvalidRequest("Invalid format: expected ndjson, parquet or avro", field="format")
    result = export_import.import_file(
        _warehouse(), Path(file), str(table), append=bool(body.get("append")), file_format=file_format
    )
    return web.json_response(result.public())


def generate_export(request: Request) -> Response:
    from shared.domain import identifiers
    from shared.local_stack import billing_export

    body = _admin(request)
    table = identifiers.table_id(body.get("table", billing_export.DEFAULT_TABLE), "table")
    end = body.get("end_date")
    end_date = identifiers.iso_date(end, "end_date") if end is not None else date.today() - timedelta(days=1)
    spec = billing_export.ExportSpec(
        table_id=table, rows=_int(body, "rows", 300_000), days=_int(body, "days", 30), end_date=end_date
    )
    billing_export.generate(_warehouse(), spec)
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
    return web.dispatch(Request(environ), URL_MAP, HANDLERS)(environ, start_response)
