"""Reading request bodies: size caps (before and after gzip), JSON, and batch shapes."""

from __future__ import annotations

import re
import zlib
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.json_items import TooManyItems, dense, walk_batch
from shared.event.errors import EventError
from shared.event.fields import loads_strict

_INFLATE_CHUNK = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class BodyTooLarge(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class UnsupportedEncoding(Exception):
    pass


async def _read_raw(request: Request, limit_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    # isdigit() alone lets "²" through (int() then raises), and int() refuses over 4300
    # digits: ASCII digits only, and 19 or more significant ones are larger than any limit.
    if declared is not None and declared.isascii() and declared.isdigit():
        digits = declared.lstrip("0")
        if len(digits) > 18 or int(digits or "0") > limit_bytes:
            raise BodyTooLarge(f"body: larger than {limit_bytes} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit_bytes:  # chunked uploads carry no Content-Length
            raise BodyTooLarge(f"body: larger than {limit_bytes} bytes")
    return bytes(chunks)


def _gunzip(data: bytes, limit_bytes: int) -> bytes:
    """Inflate every gzip member (RFC 1952 allows several, as `cat a.gz b.gz` makes) into at most
    `limit_bytes`: a zip bomb is refused before it fills memory, and a second member is never
    silently dropped."""
    out = bytearray()
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
            while not inflater.eof:
                chunk = inflater.decompress(pending, _INFLATE_CHUNK)
                out += chunk
                if len(out) > limit_bytes:
                    raise BodyTooLarge(f"body: larger than {limit_bytes} bytes once inflated")
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    raise EventError("body", "truncated gzip data")
            # gzip(1) tolerates zero padding after the last member; anything else is a member.
            pending = inflater.unused_data.lstrip(b"\x00")
    except zlib.error:
        raise EventError("body", "Content-Encoding says gzip but the body is not gzip data") from None
    return bytes(out)


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The request body, inflated if gzip-encoded, never more than `limit_bytes` in memory."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return await _read_raw(request, limit_bytes)
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(await _read_raw(request, limit_bytes), limit_bytes)
    raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")


def _validate(model: type[M], raw: bytes) -> M:
    if not raw.strip():
        raise EventError("body", "empty; expected a JSON object")
    return model.model_validate_json(raw)


async def read_model(request: Request, model: type[M], limit_bytes: int) -> M:
    """A JSON body as `model`: read within `limit_bytes` (declared and streamed), then parsed
    and validated in a worker thread, never on the event loop. Raises BodyTooLarge,
    UnsupportedEncoding, EventError or pydantic's ValidationError."""
    raw = await read_body(request, limit_bytes)
    return await run_in_threadpool(_validate, model, raw)


def decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise EventError("body", "empty; expected a JSON object")
    try:
        return loads_strict(raw)
    except ValueError as exc:
        if "UTF-8" in str(exc):
            raise EventError("body", "not valid UTF-8") from None
        if "surrogate" in str(exc):  # a "\\ud800" escape: valid UTF-8 bytes, invalid Unicode
            raise EventError("body", "lone surrogate escape (not valid Unicode)") from None
        raise EventError("body", f"malformed JSON ({exc})") from None


_NDJSON_MEDIA = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
# A non-blank line, from its first non-space byte to its end. Linear: `\S` fails at once on
# a blank byte, and a match never backtracks. Lines end at \n, \r\n or \r (as splitlines).
_NDJSON_LINE = re.compile(rb"\S[^\r\n]*")


def _ndjson_lines(raw: bytes, max_events: int) -> list[bytes]:
    """The non-blank lines, refused as soon as there are more than `max_events`: the count is
    checked before any line is decoded, so a body of a million bad lines costs one scan."""
    lines: list[bytes] = []
    for match in _NDJSON_LINE.finditer(raw):
        if len(lines) == max_events:
            raise BodyTooLarge(f"events: at most {max_events} per batch")
        lines.append(match[0])
    return lines


def _decode_line(line: bytes) -> Any:
    try:
        return decode_json(line)
    except EventError as exc:
        # A fresh, never-raised error: no traceback or JSON-decoder exception kept per line.
        return EventError(exc.field, exc.problem)


def _json_items(raw: bytes, max_events: int) -> list[Any] | None:
    """A JSON body's events: parsed whole (orjson, in C) unless it is dense enough to hold
    more values than `max_events` events would, which is walked item by item and counted as
    it goes (api.json_items)."""
    if dense(raw, max_events):
        if not raw.strip():
            raise EventError("body", "empty; expected a JSON object")
        try:
            return walk_batch(raw, max_events)
        except TooManyItems:
            raise BodyTooLarge(f"events: at most {max_events} per batch") from None
    body = decode_json(raw)
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return body["events"]  # type: ignore[no-any-return]
    return body if isinstance(body, list) else None


def split_batch(raw: bytes, content_type: str, max_events: int) -> list[Any]:
    """The events of a /batch body: a JSON array, `{"events": [...]}`, or NDJSON.
    A bad NDJSON line becomes an EventError in its place (the others still count)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _NDJSON_MEDIA:
        items: list[Any] = [_decode_line(line) for line in _ndjson_lines(raw, max_events)]
    else:
        found = _json_items(raw, max_events)
        if found is None:
            raise EventError("body", 'expected a JSON array of events, {"events": [...]}, or NDJSON')
        items = found
        if len(items) > max_events:
            raise BodyTooLarge(f"events: at most {max_events} per batch, got {len(items)}")
    if not items:
        raise EventError("body", "no events")
    return items
