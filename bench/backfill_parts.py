"""What a historical backfill costs ClickHouse: parts per monthly partition, time-ordered
against shuffled. `python -m bench.backfill_parts [--events N]` prints one table.

Every insert makes one part in each month it touches; background merges fold them later
(stopped here, to count what the inserts leave). 1,000 events per insert, as one `/batch`."""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import datetime, timedelta

import clickhouse_connect

BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    client = clickhouse_connect.get_client(dsn=f"chdb://{tempfile.mkdtemp(prefix='backfill-')}")
    start = datetime(2016, 1, 1)
    step = timedelta(days=3650) / args.events  # ten years
    rows = [[start + step * i, i] for i in range(args.events)]
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    print(f"{args.events:,} events over 10 years, {BATCH:,} per insert")
    print("| order | inserts | partitions | parts | max parts in one partition |")
    print("|---|---|---|---|---|")
    for name, ordered in (("time order", rows), ("shuffled", shuffled)):
        table = name.replace(" ", "_")
        client.command(
            f"CREATE TABLE {table} (t DateTime64(3, 'UTC'), x UInt32) ENGINE = MergeTree "
            "PARTITION BY toYYYYMM(t) ORDER BY x"
        )
        client.command(f"SYSTEM STOP MERGES {table}")
        for i in range(0, len(ordered), BATCH):
            client.insert(
                table, ordered[i : i + BATCH], column_names=["t", "x"],
                settings={"max_partitions_per_insert_block": 0},
            )
        parts, partitions, worst = client.query(
            "SELECT sum(c), count(), max(c) FROM (SELECT partition, count() AS c FROM system.parts "
            "WHERE table = {t:String} AND active GROUP BY partition)",
            parameters={"t": table},
        ).result_rows[0]
        print(f"| {name} | {len(ordered) // BATCH} | {partitions} | {parts:,} | {worst} |")


if __name__ == "__main__":
    main()
