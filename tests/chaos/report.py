"""What a chaos run found, from the ledger of answers and the rows counted per event_id, and the
CHAOS.md section it writes: each topology's run rewrites only its own section."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.load import Ledger
from tests.chaos.poison import BATCH

CHAOS_MD = Path(__file__).resolve().parents[2] / "CHAOS.md"
HEADER = (
    "# Chaos runs\n\n"
    "Events with known ids through a real stack while faults are injected, then every row "
    "counted per event_id: every acknowledged event must be stored exactly once. One section "
    "per topology, each rewritten by its own run (`python -m tests.chaos.run --report`, "
    "`--topology embedded`).\n"
)


@dataclass
class Report:
    sent: int
    acked: int
    not_acked: dict[str, int]
    stored_acked: int
    lost: list[str]
    duplicates: dict[str, int]
    """event_id -> rows beyond the first."""
    stored_unacked: int
    unknown_rows: int
    """Rows whose event_id was never sent (must be 0)."""
    poison_sent: int
    poison_stored: int
    poison_dead_letters: int
    redis_outages: int = 0
    """Faults that kept Redis away long enough that some answer must be a 5xx."""
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    drain_seconds: float = 0.0
    stop_failures: list[str] = field(default_factory=list)
    """A stack that did not stop cleanly when told to (SIGTERM): must be none."""

    @property
    def server_errors(self) -> int:
        """Events answered with a 5xx (not acknowledged: the client retries them)."""
        return sum(n for why, n in self.not_acked.items() if why[:1] == "5")

    @property
    def ok(self) -> bool:
        return (
            (self.server_errors > 0 or not self.redis_outages)  # the outage was seen by clients
            and not self.lost
            and not self.duplicates
            and self.unknown_rows == 0
            and self.poison_stored == 0
            and self.poison_dead_letters == self.poison_sent
            and not self.stop_failures
        )

    def table(self) -> str:
        rows = [
            ("events sent", f"{self.sent:,}"),
            ("acknowledged (201 / accepted)", f"{self.acked:,}"),
            *((f"not acknowledged: {why}", f"{n:,}") for why, n in sorted(self.not_acked.items())),
            ("of which 5xx answers", f"{self.server_errors:,}"),
            ("acknowledged and stored once", f"{self.stored_acked:,}"),
            ("**acknowledged but lost**", f"{len(self.lost):,}"),
            ("**duplicate rows**", f"{sum(self.duplicates.values()):,}"),
            ("not acknowledged but stored (answer lost)", f"{self.stored_unacked:,}"),
            ("rows never sent", f"{self.unknown_rows:,}"),
            (
                "poison events queued / stored / dead-lettered",
                f"{self.poison_sent} / {self.poison_stored} / {self.poison_dead_letters}",
            ),
            ("run / drain after the last fault", f"{self.seconds:.0f} s / {self.drain_seconds:.0f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {'':{width}} | {'count':>12} |", f"|{'-' * (width + 2)}|{'-' * 13}:|"]
        lines += [f"| {name:{width}} | {value:>12} |" for name, value in rows]
        return "\n".join(lines)


def tally(
    ledger: Ledger,
    counts: dict[str, int],
    poison_ids: list[str],
    *,
    dead_letters: int,
    redis_outages: int,
    faults: list[str],
    seconds: float,
    drain_seconds: float,
    stop_failures: list[str] | None = None,
) -> Report:
    """The report, from what the API answered (`ledger`) and the rows per event_id (`counts`)."""
    poison_set = set(poison_ids)
    poison_batch = set(BATCH) if poison_ids else set()
    acked = ledger.acked | (poison_batch - poison_set)  # Redis acknowledged the poison job
    sent = acked | ledger.unacked | poison_set
    return Report(
        sent=ledger.sent + len(poison_batch),
        acked=len(acked),
        not_acked={why: n for why, n in ledger.outcomes.items() if why != "201 acknowledged"},
        stored_acked=sum(1 for event_id in acked if counts.get(event_id) == 1),
        lost=sorted(event_id for event_id in acked if event_id not in counts),
        duplicates={event_id: n - 1 for event_id, n in counts.items() if n > 1},
        stored_unacked=sum(1 for event_id in ledger.unacked if event_id in counts),
        unknown_rows=sum(n for event_id, n in counts.items() if event_id not in sent),
        poison_sent=len(poison_set),
        poison_stored=sum(1 for event_id in poison_set if event_id in counts),
        poison_dead_letters=dead_letters,
        redis_outages=redis_outages,
        faults=faults,
        seconds=seconds,
        drain_seconds=drain_seconds,
        stop_failures=stop_failures or [],
    )


def write_section(name: str, text: str, path: Path = CHAOS_MD) -> None:
    """Replace the `name` section of CHAOS.md (between its markers) with `text`, or add it; a
    file from before the sections (one run, no markers) is replaced whole."""
    begin, end = f"<!-- chaos:{name} -->", f"<!-- /chaos:{name} -->"
    section = f"{begin}\n{text.strip()}\n{end}\n"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        new = old[: old.index(begin)] + section + old[old.index(end) + len(end) + 1 :]
    elif re.search(r"<!-- chaos:\w+ -->", old):
        new = old.rstrip() + "\n\n" + section
    else:
        new = HEADER + "\n" + section
    path.write_text(new)
