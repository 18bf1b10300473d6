"""Reading a JSON request body with a size cap, before anything is parsed."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shared.event import EventError, loads_strict


class BodyTooLarge(Exception):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"body: larger than {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


async def read_capped(request: Request, limit_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise BodyTooLarge(limit_bytes)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit_bytes:  # chunked uploads carry no Content-Length
            raise BodyTooLarge(limit_bytes)
    return bytes(chunks)


def decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise EventError("body", "empty; expected a JSON object")
    try:
        return loads_strict(raw)
    except UnicodeDecodeError:
        raise EventError("body", "not valid UTF-8") from None
    except ValueError as exc:
        raise EventError("body", f"malformed JSON ({exc})") from None
