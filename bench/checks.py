"""The exactly-once check: every accepted event stored once, nothing else stored.

Inputs are exact counts: the Lua scripts count answers per status, and ids are unique
per phase (`<prefix>-…`), so the rows of a phase are those whose event_id has its prefix.
Requests whose answer never arrived (`unanswered`) may or may not have been stored; they
widen the accepted range instead of being guessed. A 207 (batch, partly accepted) counts
the events its body says were accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.load import LoadResult
from bench.store_read import PhaseRows


@dataclass(frozen=True)
class Verdict:
    ok: bool
    verified: bool
    message: str


def exactly_once(phase: LoadResult, rows: PhaseRows, jobs_left: int) -> Verdict:
    low = phase.accepted_events
    high = low + phase.unanswered * phase.events_per_request
    expected = f"{low:,}" if low == high else f"{low:,}..{high:,}"
    seen = f"stored {rows.rows:,} rows, {rows.distinct:,} distinct event_ids; accepted {expected}"
    if jobs_left:
        return Verdict(
            True, False, f"{phase.prefix}: not verified, not drained ({jobs_left:,} jobs left); {seen}"
        )
    if rows.rows != rows.distinct:
        return Verdict(False, True, f"{phase.prefix}: DUPLICATES: {seen}")
    if rows.distinct < low:
        return Verdict(False, True, f"{phase.prefix}: LOST {low - rows.distinct:,} accepted events: {seen}")
    if rows.distinct > high:
        return Verdict(
            False, True, f"{phase.prefix}: {rows.distinct - high:,} events stored but never accepted: {seen}"
        )
    return Verdict(True, True, f"{phase.prefix}: exactly once ({seen})")
