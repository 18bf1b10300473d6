"""The job serializer: JSON, through orjson.

JSON and never pickle: pickle lets anyone who can write to Redis run code in the
workers. orjson rather than the standard library because workers decode every queued
event (about three times faster), and its output is plain JSON, so rq-dashboard's
`--json` mode (stdlib json) reads these jobs unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson


class OrjsonSerializer:
    @staticmethod
    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    @staticmethod
    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)
