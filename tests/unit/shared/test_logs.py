"""Structured logs: one JSON object per line, with the fields a call passes in `extra`."""

from __future__ import annotations

import logging

import orjson
import pytest

from shared.logs import JsonFormatter, configure_logging


def test_json_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("worker.writer", logging.INFO, __file__, 1, "inserted %d rows", (5,), None)
    record.rows = 5
    record.job_id = "abc-n5"
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["message"] == "inserted 5 rows" and entry["level"] == "INFO"
    assert entry["rows"] == 5 and entry["job_id"] == "abc-n5" and entry["logger"] == "worker.writer"


def test_configure_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        configure_logging("INFO", "json")  # idempotent: no duplicate lines
        assert len(root.handlers) == 1
        logging.getLogger("t").info("hello", extra={"ms": 1.5})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert orjson.loads(line)["ms"] == 1.5
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
