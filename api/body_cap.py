"""ASGI middleware: every request body but ingestion's is at most `limit_bytes`.

The ingestion routes cap their own bodies (MAX_BODY_BYTES, BATCH_MAX_BYTES) and are answered
ahead of this (api.fast_path). Everything else (the read routes, rq-dashboard, whatever is
added later) takes a few KB at most: a declared `Content-Length` over the cap is refused before
a byte is read, and a chunked body is counted as it arrives and refused once it passes the cap.
The app then sees a disconnect and whatever it answers is dropped: the client has its 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import error


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's Content-Length, or None when absent or not a plain number. Over 18 digits
    is larger than any cap (and int() refuses thousands of digits)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            digits = value.strip()
            if not digits.isdigit():
                return None
            digits = digits.lstrip(b"0") or b"0"
            return 10**19 if len(digits) > 18 else int(digits)
    return None


class BodyCap:
    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self._limit = limit_bytes

    def _refusal(self) -> str:
        return f"body: larger than {self._limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope["headers"])
        if declared is not None and declared > self._limit:
            await error(413, self._refusal())(scope, receive, send)
            return
        received = 0
        refused = started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._limit:
                    refused = True
                    if not started:
                        await error(413, self._refusal())(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; the app's own answer to the disconnect is dropped
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
