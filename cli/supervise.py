"""Child processes of `trackhouse up`: the supervision now lives in `shared.lifetime` (shared
with `trackhouse worker --concurrency`); these names stay importable from here."""

from __future__ import annotations

from shared.lifetime import RESTARTS_PER_MINUTE, Child, CrashLoop, Supervisor, wait_until

__all__ = ["RESTARTS_PER_MINUTE", "Child", "CrashLoop", "Supervisor", "wait_until"]
