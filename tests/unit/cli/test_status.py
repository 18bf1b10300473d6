"""`trackhouse status` rendering, and the small parsers behind the ops commands."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cli.failed import DeadLetter, parse_duration, render_list
from cli.main import _parser
from cli.status import Snapshot, StoreCheck, WorkerInfo, format_age, render
from shared.settings import Settings
from shared.urls import mask_url, resolve_redis_url


def snapshot(**overrides: object) -> Snapshot:
    fields: dict[str, object] = {
        "taken_at": datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC),
        "redis_url": "redis://:***@redis:6379/0",
        "redis_version": "7.0.15",
        "queue": "trackhouse-events",
        "queued_jobs": 17,
        "queued_events": 4321,
        "oldest_queued_age_seconds": 95.5,
        "scheduled_retries": 3,
        "started_jobs": 2,
        "failed_jobs": 5,
        "stored_per_second": 1234.56,
        "store": StoreCheck("http://default:***@clickhouse:8123", "ok"),
        "workers": (
            WorkerInfo("w-1", "host-a", 101, "busy", "abc-n12"),
            WorkerInfo("w-2", None, None, "idle", None),
        ),
    }
    fields.update(overrides)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_the_screen_shows_every_figure() -> None:
    text = render(snapshot())
    assert "trackhouse-events: 17 job(s), 4321 event(s)" in text
    assert "95.5 s" in text
    assert "retries scheduled 3" in text
    assert "started           2" in text
    assert "failed            5" in text
    assert "1234.6 events/s" in text
    assert "workers alive     2" in text
    assert "w-1  host-a:101  busy  abc-n12" in text
    assert "w-2  ?:?  idle  -" in text
    assert "ok  [http://default:***@clickhouse:8123]" in text
    assert "redis://:***@redis:6379/0  (redis-server 7.0.15)" in text
    assert len(text.splitlines()) <= 24  # one screen


def test_an_idle_pipeline_reads_plainly() -> None:
    text = render(snapshot(queued_jobs=0, queued_events=0, oldest_queued_age_seconds=None, failed_jobs=0))
    assert "0 job(s), 0 event(s)" in text
    assert "oldest queued     -" in text
    assert "failed list" not in text  # the hint shows only when there is something to look at


def test_many_workers_stay_on_one_screen() -> None:
    workers = tuple(WorkerInfo(f"w-{i}", "h", i, "idle", None) for i in range(40))
    text = render(snapshot(workers=workers))
    assert "workers alive     40" in text
    assert "and 28 more" in text
    assert len(text.splitlines()) <= 24


def test_json_snapshot_has_plain_types() -> None:
    data = orjson.loads(snapshot().to_json())
    assert data["queued_events"] == 4321
    assert data["taken_at"] == "2025-03-01T12:00:05Z"
    assert data["store"] == {"target": "http://default:***@clickhouse:8123", "state": "ok"}
    assert data["workers"][0] == {
        "name": "w-1",
        "hostname": "host-a",
        "pid": 101,
        "state": "busy",
        "current_job_id": "abc-n12",
    }


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (3, "3.0 s"), (600, "10.0 min"), (3 * 3600, "3.0 h"), (9 * 86_400, "9.0 d")],
)
def test_ages(seconds: float | None, shown: str) -> None:
    assert format_age(seconds) == shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7 days", "-1d", "1.5h", "7y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_purge_parses_its_age_and_rejects_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["failed", "purge", "--older-than", "7d"])
    assert args.older_than == timedelta(days=7)
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["failed", "purge", "--older-than", "soon"])
    assert exit_info.value.code == 2
    assert "not a duration: 'soon'" in capsys.readouterr().err


def test_passwords_are_masked() -> None:
    assert mask_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert mask_url("http://default:s3cret@ch:8123") == "http://default:***@ch:8123"
    assert mask_url("unix:///tmp/redis.sock") == "unix:///tmp/redis.sock"
    # Both clients also take the password as a query parameter: it was printed as given.
    assert mask_url("redis://redis:6379/0?password=s3cret&db=0") == "redis://redis:6379/0?password=***&db=0"
    assert mask_url("unix:///tmp/redis.sock?password=s3cret") == "unix:///tmp/redis.sock?password=***"
    assert mask_url("http://ch:8123/?user=u&password=s3cret") == "http://ch:8123/?user=u&password=***"


def test_redis_is_the_configured_one_else_the_embedded_socket(short_dir: Path) -> None:
    assert resolve_redis_url(Settings(redis_url="redis://r:6379/0", data_dir=short_dir)) == "redis://r:6379/0"
    assert resolve_redis_url(Settings(data_dir=short_dir)) is None  # no `trackhouse up` running
    (short_dir / "redis").mkdir()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(short_dir / "redis" / "redis.sock"))
        assert (
            resolve_redis_url(Settings(data_dir=short_dir))
            == f"unix://{short_dir.resolve()}/redis/redis.sock"
        )


def test_dead_letter_listing() -> None:
    letter = DeadLetter(
        id="0123abcd-n40",
        failed_at=datetime(2025, 3, 1, 11, 0, tzinfo=UTC),
        events=40,
        merged_ids=("m1-n5", "m2-n5"),
        merged_events=10,
        first_event_ids=("e1", "e2", "e3"),
        error="StoreDown: injected",
    )
    text = render_list([letter])
    assert "0123abcd-n40" in text
    assert "2025-03-01 11:00:00" in text
    assert "40 +10m" in text
    assert "e1, e2, e3, …" in text
    assert "StoreDown: injected" in text
    assert render_list([]) == "no failed jobs"
