"""Key secrets: random, recognisable, stored only as a hash.

A key is a prefix naming its kind and 32 base62 characters (190 bits) drawn from the OS's
CSPRNG. The prefixes (`thw_` write, `ths_` server, `thr_` read, `thv_` stats, "view") let
secret scanners find a leaked key and let a reader see what a key may do. Keys carry that much
entropy, so one unsalted SHA-256 is the right hash: nothing to brute-force, and one hash per
request is cheap enough for the ingestion path (a slow password hash is not)."""

from __future__ import annotations

import hashlib
import secrets
import string
from typing import Final

from shared.registry.model import KeyKind

PREFIXES: Final[dict[KeyKind, str]] = {"write": "thw_", "server": "ths_", "read": "thr_", "stats": "thv_"}
_ALPHABET: Final = string.ascii_letters + string.digits
_LENGTH: Final = 32


def new_key(kind: KeyKind) -> str:
    return PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def new_key_id() -> str:
    """A key's public id (listing, revoking, logs): no secret in it."""
    return "key_" + secrets.token_hex(8)


def digest(key: str | bytes) -> str:
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()
