"""rq-dashboard's setting and flag under their names (TRACKHOUSE_RQ_DASHBOARD, `--rq-dashboard`),
and their former ones (TRACKHOUSE_DASHBOARD, `--dashboard`) still working, with a warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cli import main as cli
from shared.settings import Settings


@pytest.fixture(autouse=True)
def no_dashboard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKHOUSE_DASHBOARD", raising=False)
    monkeypatch.delenv("TRACKHOUSE_RQ_DASHBOARD", raising=False)


def test_the_new_variable_sets_it_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().rq_dashboard is False
    monkeypatch.setenv("TRACKHOUSE_RQ_DASHBOARD", "true")
    assert Settings().rq_dashboard is True  # (the suite turns any warning into an error)


def test_the_former_variable_still_sets_it_with_a_deprecation_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKHOUSE_DASHBOARD", "true")
    with pytest.warns(DeprecationWarning, match="TRACKHOUSE_DASHBOARD is deprecated: use TRACKHOUSE_RQ_DASHBOARD"):
        assert Settings().rq_dashboard is True


def test_the_new_name_wins_over_the_former(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKHOUSE_DASHBOARD", "true")
    monkeypatch.setenv("TRACKHOUSE_RQ_DASHBOARD", "false")
    with pytest.warns(DeprecationWarning):
        assert Settings().rq_dashboard is False
    with pytest.warns(DeprecationWarning):
        assert Settings(rq_dashboard=True).rq_dashboard is True  # a keyword over both variables


def test_the_former_keyword_still_sets_it() -> None:
    with pytest.warns(DeprecationWarning, match="'dashboard' is deprecated"):
        assert Settings(dashboard=True).rq_dashboard is True  # type: ignore[call-arg]
    assert "dashboard" not in Settings.model_fields


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """`trackhouse api`'s settings, as main hands them over (nothing is started)."""
    handed: list[Settings] = []

    def run_api(settings: Settings, **_: Any) -> None:
        handed.append(settings)

    monkeypatch.setattr("api.server.run_api", run_api)
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)  # keep pytest's log capture
    return handed


@pytest.mark.parametrize("command", ["up", "api"])
@pytest.mark.parametrize("flag", ["--rq-dashboard", "--dashboard"])
def test_both_flags_mount_it(
    command: str, flag: str, started: list[Settings], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.up.run_embedded", started.append)
    with caplog.at_level(logging.WARNING, logger="cli.main"):
        assert cli.main([command, flag]) == 0
    assert started[0].rq_dashboard is True
    deprecated = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert deprecated == ([] if flag == "--rq-dashboard" else ["--dashboard is deprecated: use --rq-dashboard"])


@pytest.mark.parametrize("command", ["up", "api"])
def test_only_the_new_flag_is_listed(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli._parser().parse_args([command, "--help"])
    listed = capsys.readouterr().out
    assert "--rq-dashboard" in listed and "--dashboard" not in listed.replace("--rq-dashboard", "")


def test_main_logs_the_former_variable(
    monkeypatch: pytest.MonkeyPatch, started: list[Settings], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TRACKHOUSE_DASHBOARD", "true")
    with caplog.at_level(logging.WARNING, logger="cli.main"):
        assert cli.main(["api"]) == 0  # the warning logged, not raised
    assert started[0].rq_dashboard is True
    assert any("TRACKHOUSE_DASHBOARD is deprecated" in r.getMessage() for r in caplog.records)
