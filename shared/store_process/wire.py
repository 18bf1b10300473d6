"""What crosses the store process's socket (remote.py ↔ socket_server.py):
statements, rows and errors as JSON. Datetimes and dates are tagged so they come back as the
types clickhouse-connect gave the store process; nothing else in a row needs it (JSON columns
are strings). JSON, not pickle: the socket must never be a way to run code."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from shared.query.errors import QueryBusy, QueryError, QueryTimeout, QueryTooLarge, StoreUnavailable
from shared.query.sql import AnswerTooLarge, Statement

_DATETIME, _DATE = "$datetime", "$date"
_QUERY_ERRORS: dict[str, type[QueryError]] = {
    cls.__name__: cls for cls in (QueryError, QueryTooLarge, QueryTimeout, QueryBusy, AnswerTooLarge)
}


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    raise TypeError(f"{type(value).__name__} does not cross the store socket")


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            if _DATETIME in value:
                return datetime.fromisoformat(value[_DATETIME])
            if _DATE in value:
                return date.fromisoformat(value[_DATE])
        return {key: _untag(item) for key, item in value.items()}
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_tag, option=orjson.OPT_PASSTHROUGH_DATETIME)


def loads(data: bytes) -> Any:
    return _untag(orjson.loads(data))


def statement_to_wire(statement: Statement, fmt: str | None = None) -> bytes:
    return dumps(
        {
            "sql": statement.sql,
            "parameters": statement.parameters,
            "columns": statement.columns,
            "tenant": statement.tenant,
            "fmt": fmt,
        }
    )


def statement_from_wire(data: bytes) -> tuple[Statement, str | None]:
    body = loads(data)
    statement = Statement(body["sql"], body["parameters"], tuple(body["columns"]), body.get("tenant"))
    return statement, body["fmt"]


def error_to_wire(exc: QueryError | StoreUnavailable) -> bytes:
    if isinstance(exc, QueryError):
        return dumps({"kind": type(exc).__name__, "field": exc.field, "problem": exc.problem})
    return dumps({"kind": "StoreUnavailable", "message": str(exc)})


def error_from_wire(data: bytes) -> QueryError | StoreUnavailable:
    """The error the store process raised, as the same class on this side; anything
    unreadable is the store being unavailable."""
    try:
        body = loads(data)
        kind = body["kind"]
        if kind in _QUERY_ERRORS:
            return _QUERY_ERRORS[kind](body["field"], body["problem"])
        return StoreUnavailable(str(body["message"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return StoreUnavailable("store unavailable (unreadable answer from the store process)")
