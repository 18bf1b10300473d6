"""The read side end to end on the embedded topology (`trackhouse up`, as `make run` starts it):
the README's tracking and query examples, then `trackhouse query`, which reads through the
running API (the process that owns chDB), as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import ROOT, http, wait_for
from tests.support.up import running_up

pytestmark = pytest.mark.integration
TOKEN = "readme-admin-token-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
COUNTRIES = ["DE", "DE", "FR"]  # the README's loop: three clicks, visitors v-DE and v-FR


def test_readme_examples_and_trackhouse_query_on_the_embedded_topology(short_dir: Path) -> None:
    with running_up(short_dir, {"TRACKHOUSE_ADMIN_TOKEN": TOKEN}) as up:
        base, env = up.base, up.env
        for country in COUNTRIES:
            event = {
                "event_type": "click",
                "link_slug": "promo-summer",
                "country": country,
                "visitor_id": f"v-{country}",
            }
            # The README's curl sends a browser's user agent: curl's own is a bot's, left out of queries.
            assert http("POST", f"{base}/api/events/track", event, {"User-Agent": BROWSER})[0] == 201
        body = {"metrics": ["events", "visitors"], "dimensions": ["country"], "date_range": "today"}

        def answered() -> dict[str, object] | None:
            status, answer = http("POST", f"{base}/api/query", body, AUTH)
            assert status == 200, answer
            return (
                answer
                if answer["meta"]["total_rows"] == 2 and answer["results"][0]["metrics"][0] == 2
                else None
            )

        answer = wait_for(answered, timeout_seconds=20, what="the three events to be stored")
        assert answer["results"] == [
            {"dimensions": ["DE"], "metrics": [2, 1]},
            {"dimensions": ["FR"], "metrics": [1, 1]},
        ]
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "query",
                "--metrics",
                "events,visitors",
                "--by",
                "country",
                "--range",
                "today",
                "--totals",
            ],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("TRACKHOUSE_")},
                **env,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stdout + cli.stderr
        lines = [line.split() for line in cli.stdout.splitlines()]
        assert lines[0] == ["country", "events", "visitors"]
        assert ["DE", "2", "1"] in lines and ["FR", "1", "1"] in lines and ["total", "3", "2"] in lines
        request = urllib.request.Request(
            f"{base}/api/export",
            data=b'{"format": "csv", "date_range": "today"}',
            method="POST",
            headers={**AUTH, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            csv_lines = response.read().decode().splitlines()
        assert csv_lines[0].startswith("event_id,event_type,event_time") and len(csv_lines) == 1 + len(
            COUNTRIES
        )
        assert up.stop(60) == 0, up.log_tail()
