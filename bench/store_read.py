"""Per-phase figures from a chDB directory, read by a fresh process after the owner stopped.

chDB allows one engine per process and one process per data directory, so the harness
runs `python -m bench.store_read <chdb-url> <database> <prefix>...` only once the process
that wrote the directory has exited, and gets one JSON line: for each event_id prefix the
row count, distinct event_ids and lag quantiles (received_at → inserted_at).

Rows are counted without FINAL: a duplicate insert shows up as an extra row, at least
until a background merge of the ReplacingMergeTree collapses it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from bench.procs import PYTHON, ROOT

_QUERY = """
SELECT
    count(),
    uniqExact(event_id),
    quantilesExact(0.5, 0.99)(dateDiff('millisecond', received_at, inserted_at)),
    uniqExact(inserted_at)
FROM {database}.events
WHERE startsWith(event_id, {{prefix:String}})
"""


@dataclass(frozen=True)
class PhaseRows:
    rows: int
    distinct: int
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    inserts: int
    """Distinct inserted_at values: about the number of inserts (two in one ms count as one)."""


def read_phases(chdb_url: str, database: str, prefixes: list[str]) -> dict[str, PhaseRows]:
    out = subprocess.run(
        [PYTHON, "-m", "bench.store_read", chdb_url, database, *prefixes],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
    )
    if out.returncode != 0:
        raise RuntimeError(f"reading {chdb_url} failed:\n{out.stderr.decode(errors='replace')[-2000:]}")
    data = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return {prefix: PhaseRows(**fields) for prefix, fields in data.items()}


def _main(argv: list[str]) -> None:
    from shared.store.client import open_client

    chdb_url, database, *prefixes = argv
    client = open_client(chdb_url)
    result: dict[str, dict[str, object]] = {}
    for prefix in prefixes:
        count, distinct, lags, inserts = client.query(
            _QUERY.format(database=database), parameters={"prefix": f"{prefix}-"}
        ).result_rows[0]
        result[prefix] = {
            "rows": int(count),
            "distinct": int(distinct),
            "lag_p50_ms": float(lags[0]) if count else None,
            "lag_p99_ms": float(lags[1]) if count else None,
            "inserts": int(inserts),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
