"""`python -m tests.chaos.faulty_worker`: `trackhouse worker` with faults injected at the
writer seam, switched by the chaos harness through a control file.

The control file (TRACKHOUSE_CHAOS_CONTROL) holds one mode, read before every write:
- absent or empty: writes go through to the real store;
- `fail`: every write raises OperationalError, as when ClickHouse is unreachable;
- `hang`: every write waits until the mode changes, then goes through (a stalled store);
- `die-after-insert`: the write goes through, then the process SIGKILLs itself before RQ
  learns of it (the moment that would duplicate rows if retries were not idempotent).
The store stays real (chDB): only its availability is faked. Its merges are frozen
(tests.support.audit), so the rows counted at the end are the inserts that landed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from clickhouse_connect.driver.exceptions import OperationalError

from shared.logs import configure_logging
from shared.queue.connect import connect
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
from tests.support.audit import WRITE_SETTINGS, freeze_merges
from worker.runner import run_worker_process
from worker.writer import Columns, EventWriter, Writer

CONTROL_ENV = "TRACKHOUSE_CHAOS_CONTROL"


class FaultyWriter:
    def __init__(self, inner: Writer, control: Path) -> None:
        self._inner = inner
        self._control = control

    def _mode(self) -> str:
        try:
            return self._control.read_text().strip()
        except FileNotFoundError:
            return ""

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        mode = self._mode()
        if mode == "fail":
            raise OperationalError("chaos: store unreachable (injected)")
        while mode == "hang":
            time.sleep(0.2)
            mode = self._mode()
        rows = self._inner.write(columns, data, token=token)
        if mode == "die-after-insert":
            self._control.unlink(missing_ok=True)  # once: the next worker must not die too
            os.kill(os.getpid(), signal.SIGKILL)
        return rows


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    # Merges off and no collapsing on insert: the final count sees every insert that landed.
    client = open_client(settings.store_url, **WRITE_SETTINGS)
    migrate(client, settings.clickhouse_database)
    freeze_merges(client, settings.clickhouse_database)
    writer = FaultyWriter(EventWriter(client, settings.clickhouse_database), Path(os.environ[CONTROL_ENV]))
    run_worker_process(connect(settings, patient=True), settings, writer=writer)  # as `trackhouse worker`


if __name__ == "__main__":
    main()
