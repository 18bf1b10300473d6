"""The registry's records, as the admin API takes and answers them.

Ids are the strings events carry (`team_id`, `project_id`): 1-64 characters of
`A-Z a-z 0-9 . _ -`. Every input model forbids unknown fields, so a typo is a 400, not a
silently ignored setting."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.event.limits import SINGLE_LINE
from shared.query.errors import QueryError
from shared.query.ranges import parse_timezone

ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
RegistryId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=SINGLE_LINE)
]

KeyKind = Literal["write", "server", "read", "stats"]
PROJECT_KINDS: Final[tuple[KeyKind, ...]] = ("write", "server", "read", "stats")
TEAM_KINDS: Final[tuple[KeyKind, ...]] = ("read", "stats")
WRITE_KINDS: Final[frozenset[str]] = frozenset({"write", "server"})
READ_KINDS: Final[frozenset[str]] = frozenset({"read", "stats"})

MAX_DOMAINS: Final = 100
_LABEL: Final = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME: Final = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


def _domain(value: str) -> str:
    """A hostname as browsers send it in Origin (lower case, no port, no scheme); `*.` in
    front allows its subdomains (not the name itself: list both for both)."""
    host = value.strip().lower().rstrip(".")
    if len(host) > 253 or not _HOSTNAME.match(host):
        raise ValueError(
            f"{value[:80]!r} is not a hostname (example.com, or *.example.com for its subdomains)"
        )
    return host


def _timezone(value: str) -> str:
    try:
        parse_timezone(value)
    except QueryError as exc:
        raise ValueError(exc.problem) from None
    return value


Domain = Annotated[str, AfterValidator(_domain)]
Domains = Annotated[list[Domain], Field(max_length=MAX_DOMAINS)]
Timezone = Annotated[str, AfterValidator(_timezone)]
RetentionDays = Annotated[int, Field(ge=0, le=36_500)]
RatePerSecond = Annotated[float, Field(gt=0, le=1_000_000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class TeamIn(_Input):
    team_id: RegistryId
    name: Name


class ProjectIn(_Input):
    project_id: RegistryId
    team_id: RegistryId
    name: Name
    domains: Domains = []
    """Hostnames whose pages may send with the project's write keys (empty: any)."""
    timezone: Timezone = "UTC"
    """The dashboard's default timezone for this project."""
    retention_days: RetentionDays | None = None
    """Days of events kept, by event_time (0: forever; absent or null: TRACKHOUSE_RETENTION_DAYS)."""
    require_write_key: bool = False
    """Events naming this project without one of its write (or server) keys get 401."""


class ProjectPatch(_Input):
    """Every field but the ids; an absent field is left as it is."""

    name: Name | None = None
    domains: Domains | None = None
    timezone: Timezone | None = None
    retention_days: RetentionDays | None = None
    """null: back to TRACKHOUSE_RETENTION_DAYS."""
    require_write_key: bool | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        return {k: v for k, v in given.items() if v is not None or k == "retention_days"}


class KeyIn(_Input):
    kind: KeyKind
    name: Name
    rate_limit_per_second: RatePerSecond | None = None
    """Write and server keys: requests per second this key may send (429 past it)."""


class Team(BaseModel):
    team_id: str
    name: str
    created_at: str


class Project(BaseModel):
    project_id: str
    team_id: str
    name: str
    domains: list[str]
    timezone: str
    retention_days: int | None
    """None: the deployment's TRACKHOUSE_RETENTION_DAYS."""
    require_write_key: bool
    created_at: str


class Key(BaseModel):
    """A key's record as listed: never the key itself (only its hash is stored)."""

    id: str
    kind: KeyKind
    team_id: str
    project_id: str | None
    """None: a team key (read or stats), over every project of its team."""
    name: str
    created_at: str
    last_used_at: str | None = None
    rate_limit_per_second: float | None = None


class CreatedKey(Key):
    key: str
    """The secret, answered once, at creation."""


def host_allowed(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    """Whether `host` (lower case) is one of `domains` or a subdomain of a `*.` one."""
    for domain in domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]):  # ".example.com": a subdomain, never the name itself
                return True
        elif host == domain:
            return True
    return False
