"""The suite's own guards: a missing tool skips, but fails under CI=true (tests.support.tools);
a test using a server without its marker fails (tests.support.markers)."""

from __future__ import annotations

import pytest

from tests.support.markers import check
from tests.support.tools import require_module, require_tool

ABSENT = "trackhouse-no-such-tool"


def test_a_present_tool_is_its_path() -> None:
    assert require_tool("sh", "it is POSIX").endswith("/sh")


def test_a_missing_tool_is_skipped_on_a_developers_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=ABSENT):
        require_tool(ABSENT, "nowhere")


@pytest.mark.parametrize("need", [lambda: require_tool(ABSENT, "nowhere"), lambda: require_module("no_such_mod", "x")])
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, need: object) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        need()  # type: ignore[operator]


def test_a_server_without_its_marker_fails_the_test(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.fail.Exception, match="not marked integration"):
        check(request.node, "a real redis-server", ("integration",))


def test_a_test_with_its_marker_passes(request: pytest.FixtureRequest) -> None:
    request.node.add_marker(pytest.mark.browser)  # marked at run time: `make test-fast` still runs it
    check(request.node, "Chromium", ("browser",))
