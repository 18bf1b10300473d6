"""Static files shipped in the package (`api/static/`), served from memory.

Each file is read and gzipped once, on first use; answers carry a strong ETag (a hash of the
bytes), so a browser revalidates with `If-None-Match` and gets a body-less 304.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import Request, Response

STATIC_PACKAGE = "api.static"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str

    @classmethod
    def from_bytes(cls, body: bytes, media_type: str) -> Asset:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(body, gzip.compress(body, compresslevel=9, mtime=0), f'"{digest}"', media_type)

    def response(self, request: Request, headers: dict[str, str]) -> Response:
        headers = {**headers, "ETag": self.etag, "Vary": "Accept-Encoding"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                self.gzipped, media_type=self.media_type, headers={**headers, "Content-Encoding": "gzip"}
            )
        return Response(self.body, media_type=self.media_type, headers=headers)


@functools.cache
def asset(name: str, media_type: str) -> Asset:
    return Asset.from_bytes(resources.files(STATIC_PACKAGE).joinpath(name).read_bytes(), media_type)
