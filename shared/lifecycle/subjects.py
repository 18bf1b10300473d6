"""Whose events an erasure or a suppression names, and how they match a row.

Subjects travel and are kept as keyed hashes: BLAKE2b of (kind, value) under the
deployment's erasure key (TRACKHOUSE_ERASURE_HASH_KEY, else 32 random bytes made once and
kept in Redis). The erasure log, the writers' tombstones and the API's suppressions hold
only these hashes, so none of them is itself personal data, and a value cannot be found
from its hash without the key. Values match exactly as stored (an e-mail's case included).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from redis import Redis

from shared.settings import Settings

SubjectKind = Literal["user_id", "visitor_id", "user_email", "ip_address", "event_id"]
SUBJECT_KINDS: Final[tuple[SubjectKind, ...]] = ("user_id", "visitor_id", "user_email", "ip_address", "event_id")
PROJECT_KIND: Final = "project_id"
"""A whole project's events (`DELETE /api/admin/projects/{id}?erase=true`), never sent by clients."""
MATCH_KINDS: Final = (*SUBJECT_KINDS, PROJECT_KIND)

HASH_KEY: Final = "trackhouse:lifecycle:hash-key"


def hash_key(redis: Redis, settings: Settings) -> bytes:
    """The key subjects are hashed under: the setting, else the one kept in Redis (made once)."""
    if settings.erasure_hash_key is not None:
        return hashlib.blake2b(settings.erasure_hash_key.get_secret_value().encode(), digest_size=32).digest()
    redis.set(HASH_KEY, secrets.token_hex(32), nx=True)
    stored = redis.get(HASH_KEY)
    if stored is None:  # only if someone deletes it between the two calls
        raise RuntimeError(f"{HASH_KEY} vanished from Redis")
    return bytes.fromhex(stored.decode() if isinstance(stored, bytes) else str(stored))


def subject_hash(key: bytes, kind: str, value: str) -> str:
    return hashlib.blake2b(f"{kind}\0{value}".encode(), key=key, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Rule:
    """One erasure's or suppression's reach: its id, scope and (for erasures) its time bound."""

    id: str
    team_id: str | None = None
    project_id: str | None = None
    received_before_ms: int | None = None
    """Erasures: events received up to the request (ms); suppressions: None (every later event)."""

    def covers(self, team_id: str, project_id: str, received_ms: Callable[[], int]) -> bool:
        if self.team_id is not None and self.team_id != team_id:
            return False
        if self.project_id is not None and self.project_id != project_id:
            return False
        return self.received_before_ms is None or received_ms() <= self.received_before_ms


@dataclass(slots=True)
class Matcher:
    """kind -> subject hash -> the rules naming it: what a row is checked against."""

    key: bytes
    rules: dict[str, dict[str, list[Rule]]] = field(default_factory=dict)

    def add(self, kind: str, hashes: Iterable[str], rule: Rule) -> None:
        by_hash = self.rules.setdefault(kind, {})
        for digest in hashes:
            by_hash.setdefault(digest, []).append(rule)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, row: dict[str, Any], received_ms: Callable[[], int], *, ip: str | None = None) -> str | None:
        """The id of the first rule covering `row`, else None. `ip`: the address the client
        sent from, when the row's is already cut for storage (the API's check)."""
        for kind, by_hash in self.rules.items():
            value = ip if kind == "ip_address" and ip is not None else row.get(kind)
            if not value or not isinstance(value, str):
                continue
            for rule in by_hash.get(subject_hash(self.key, kind, value), ()):
                if rule.covers(row.get("team_id", ""), row.get("project_id", ""), received_ms):
                    return rule.id
        return None

    def mask(
        self,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        received_ms: Callable[[str], int],
        *,
        count: int | None = None,
    ) -> list[bool]:
        """For column-oriented rows (the queue's format): True for each row a rule covers.
        Hashes each distinct value once (a job's rows share visitors, users, projects).
        `count`: the rows, when some columns of `data` were left empty (not needed)."""
        if count is None:
            count = len(data[0]) if data else 0
        covered = [False] * count
        index = {name: i for i, name in enumerate(columns)}
        teams = data[index["team_id"]] if "team_id" in index else [""] * count
        projects = data[index["project_id"]] if "project_id" in index else [""] * count
        received = data[index["received_at"]] if "received_at" in index else None
        for kind, by_hash in self.rules.items():
            if kind not in index:
                continue
            memo: dict[str, list[Rule]] = {}
            for row, value in enumerate(data[index[kind]]):
                if covered[row] or not value or not isinstance(value, str):
                    continue
                rules = memo.get(value)
                if rules is None:
                    rules = memo[value] = by_hash.get(subject_hash(self.key, kind, value), [])
                if not rules:
                    continue
                when = functools.partial(_received, received, row, received_ms)
                if any(rule.covers(teams[row], projects[row], when) for rule in rules):
                    covered[row] = True
        return covered


def _received(received: Sequence[Any] | None, row: int, received_ms: Callable[[str], int]) -> int:
    """A row's receive time in ms (0, before every erasure, when the job carries none)."""
    at = received[row] if received is not None else None
    return received_ms(at) if isinstance(at, str) else 0
