"""What can go wrong with a read query, as the API answers it.

QueryError (400: a field and a problem)
├── QueryTooLarge (400: reads more than the row/byte caps allow)
├── QueryForbidden (403: personal data asked with a stats key)
├── QueryTimeout (408: ran longer than QUERY_TIMEOUT_SECONDS)
└── QueryBusy (429: no query slot free in time; Retry-After)
StoreUnavailable (503: the store failed for a reason of its own)
"""

from __future__ import annotations


class QueryError(ValueError):
    status = 400

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class QueryTooLarge(QueryError):
    status = 400


class QueryForbidden(QueryError):
    """Not for this key: a stats key asking for personal data."""

    status = 403


class QueryTimeout(QueryError):
    status = 408


class QueryBusy(QueryError):
    status = 429


class StoreUnavailable(RuntimeError):
    status = 503
