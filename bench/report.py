"""The one results table (Markdown), each figure with its ratio to bare (the ceiling) and to plain.

A ratio is this contender's figure divided by the reference's, whatever the direction:
`0.5× plain` on a latency is half plain's latency, on events/s half plain's throughput.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.phase import Result


@dataclass(frozen=True)
class Column:
    title: str
    key: str
    """The `Result` field it shows."""
    fmt: Callable[[float], str]

    def value(self, result: Result) -> float | None:
        value = getattr(result, self.key)
        return None if value is None else float(value)


def _ms(v: float) -> str:
    return f"{v:.1f} ms" if v < 10 else f"{v:,.0f} ms"


def _per_s(v: float) -> str:
    return f"{v:,.0f}/s"


COLUMNS = [
    Column("accepted events/s", "accepted_per_s", _per_s),
    Column("p50", "p50_ms", _ms),
    Column("p99", "p99_ms", _ms),
    Column("worker drain rows/s", "drain_rows_per_s", _per_s),
    Column("lag p50", "lag_p50_ms", _ms),
    Column("lag p99", "lag_p99_ms", _ms),
    Column("lag p99 @ half load", "lag_p99_half_ms", _ms),
    Column("Redis bytes/queued event", "redis_bytes_per_event", lambda v: f"{v:,.0f} B"),
    Column("API RSS peak", "rss_bytes", lambda v: f"{v / 2**20:,.0f} MiB"),
    Column("CPU ms / 1k events", "cpu_ms_per_1k", lambda v: f"{v:.1f} ms" if v < 10 else f"{v:,.0f} ms"),
]
REFERENCES = ("bare", "plain")


def _ratio(x: float) -> str:
    if x >= 10:
        return f"{x:,.0f}×"
    if x >= 1:
        return f"{x:.1f}×"
    if x >= 0.1:
        return f"{x:.2f}×"
    return f"{x:.2g}×" if x >= 0.0001 else "<0.0001×"  # two significant digits, never "0.00×"


def _cell(column: Column, result: Result, by_name: dict[str, Result]) -> str:
    if result.status != "ok":
        return result.status
    if column.key in result.cells:
        return result.cells[column.key]
    value = column.value(result)
    if value is None:
        return "–"
    ratios = []
    for ref_name in REFERENCES:
        ref = by_name.get(ref_name)
        ref_value = column.value(ref) if ref is not None and ref.status == "ok" else None
        if ref_name != result.name and ref_value:
            ratios.append(f"{_ratio(value / ref_value)} {ref_name}")
    return column.fmt(value) + (f" ({', '.join(ratios)})" if ratios else "")


def table(results: list[Result]) -> str:
    by_name = {r.name: r for r in results}
    header = ["contender", *(c.title for c in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for result in results:
        cells = [result.name, *(_cell(c, result, by_name) for c in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_PHASES = ("fill", "drain", "main", "half")


def _phase_order(note: str) -> int:
    phase = note.split(":", 1)[0]
    return _PHASES.index(phase) if phase in _PHASES else len(_PHASES)


def notes(results: list[Result]) -> str:
    lines = []
    for result in results:
        for note in sorted(result.notes, key=_phase_order):  # stable: same phase keeps its order
            lines.append(f"- **{result.name}**: {note}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One of the performance targets: `contender`'s figure ÷ bare's, in the same run, against a bound."""

    contender: str
    what: str
    key: str
    ref_key: str
    """Bare's figure to divide by: /batch's events/s are compared with bare's requests/s."""
    bound: float
    at_least: bool
    """True: the ratio must be ≥ bound (throughput); False: ≤ bound (latency)."""


TARGETS = (
    Target("embedded", "/track events/s ≥ {bound}× bare's", "accepted_per_s", "accepted_per_s", 0.75, True),
    Target("embedded", "/track p99 ≤ {bound}× bare's p99", "p99_ms", "p99_ms", 1.5, False),
    Target(
        "batch", "/batch events/s ≥ {bound}× bare's requests/s (split, 1 API process)", "accepted_per_s",
        "requests_per_s", 8, True,
    ),
    Target(
        "embedded-batch", "/batch events/s ≥ {bound}× bare's requests/s", "accepted_per_s", "requests_per_s",
        6, True,
    ),
)  # fmt: skip


def targets(results: list[Result]) -> str:
    """One line per target whose contender and bare both ran (and finished) in this run."""
    by_name = {r.name: r for r in results if r.status == "ok"}
    bare = by_name.get("bare")
    lines = []
    for target in TARGETS:
        result = by_name.get(target.contender)
        mine = getattr(result, target.key) if result else None
        ref = getattr(bare, target.ref_key) if bare else None
        if mine is None or not ref:
            continue
        ratio = mine / ref
        held = ratio >= target.bound if target.at_least else ratio <= target.bound
        what = target.what.format(bound=f"{target.bound:g}")
        lines.append(f"- {'✓' if held else '✗'} **{target.contender}** {what}: {ratio:.2f}×")
    if not lines:
        return ""
    return "Targets (ratios to bare in this run):\n\n" + "\n".join(lines)
