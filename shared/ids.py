"""Random (version 4) UUIDs as strings, cheaply.

`str(uuid.uuid4())` makes a syscall and two objects per id; at tens of thousands of events
per second that was a tenth of the API's CPU. Here the randomness comes from the same
source (os.urandom) drawn 4 KiB at a time, per thread.
"""

from __future__ import annotations

import os
import threading

_BATCH_BYTES = 4096
_local = threading.local()


def new_uuid() -> str:
    pool: bytes = getattr(_local, "pool", b"")
    offset: int = getattr(_local, "offset", _BATCH_BYTES)
    if offset >= len(pool):
        pool, offset = os.urandom(_BATCH_BYTES), 0
        _local.pool = pool
    _local.offset = offset + 16
    raw = bytearray(pool[offset : offset + 16])
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
