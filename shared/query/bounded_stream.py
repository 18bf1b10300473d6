"""A streamed answer that cannot be held open: a deadline for the whole response, however fast
or slow the client reads, and an idle timeout on each write (a client that stops reading
blocks the write once the socket's buffers are full). Past either, the response stops where
it is and the connection is closed: the client sees a cut-off stream, never a short one
that looks complete, and whatever the stream held (a read slot, a store query) is released
by the stream's own `finally`."""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import StreamingResponse
from starlette.types import Message, Send

log = logging.getLogger(__name__)


class BoundedStreamingResponse(StreamingResponse):
    def bound(self, *, deadline: float, idle_seconds: float) -> BoundedStreamingResponse:
        """`deadline`: the event loop's clock (`loop.time()`) by which the last byte is sent."""
        self._deadline = deadline
        self._idle_seconds = idle_seconds
        return self

    async def stream_response(self, send: Send) -> None:
        loop = asyncio.get_running_loop()

        async def bounded(message: Message) -> None:
            left = min(self._idle_seconds, self._deadline - loop.time())
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                await send(message)

        try:
            async with asyncio.timeout_at(self._deadline):
                await super().stream_response(bounded)
        except TimeoutError:
            # Returning without the final chunk: the server closes the connection.
            log.warning("streamed answer cut off: past its deadline or its client stopped reading")
            await self._close_iterator()

    async def _close_iterator(self) -> None:
        close = getattr(self.body_iterator, "aclose", None)
        if close is not None:
            await close()
