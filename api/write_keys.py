"""The environment's write keys (TRACKHOUSE_WRITE_KEYS): per-project credentials for ingestion,
fixed at start (the registry's keys, `shared.registry`, change at run time).

With TRACKHOUSE_WRITE_KEYS empty (the default) tracking is open. With keys configured, every
POST to /track or /batch must carry one (`Authorization: Bearer <key>` or `X-Write-Key: <key>`)
or gets 401 before its body is read, and each event belongs to the key's project: one that
names another project is refused, one that names none gets the key's.

Comparison: the presented key is hashed (keyed BLAKE2b, a random key per process) and the
digest looked up in a dict. The lookup's timing depends only on the digest, which an attacker
can neither choose nor compute without the process's secret, so it reveals nothing about the
configured keys; and it costs one hash whatever the number of keys, where `hmac.compare_digest`
against each key costs O(keys) per request. The raw keys are not kept.

`api.write_access` consults these beside the registry's keys.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Grant:
    project: str
    label: str
    """A stable, non-secret name of the key (the rate limiter's bucket): a truncated unkeyed
    hash, the same in every process, never the key itself."""


def key_label(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8, person=b"th-write-key").hexdigest()


class WriteKeys:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._secret = secrets.token_bytes(32)
        self._grants = {
            self._digest(key.encode()): Grant(project, key_label(key)) for key, project in keys.items()
        }

    @property
    def enabled(self) -> bool:
        return bool(self._grants)

    def _digest(self, key: bytes) -> bytes:
        return hashlib.blake2b(key, key=self._secret, digest_size=32).digest()

    def lookup(self, key: str) -> Grant | None:
        # Starlette decodes header bytes as latin-1: re-encoding gives the bytes the client sent,
        # which match the UTF-8 of a configured key.
        return self._grants.get(self._digest(key.encode("latin-1", "replace")))
