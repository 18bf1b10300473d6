"""The markers a test must carry for the real servers it uses, enforced where they start.

`make test-fast` deselects by marker (`integration`, `browser`, `fuzz`), so a test that starts a
real redis-server, opens chDB, runs `trackhouse up` or drives Chromium without its marker would
slip into the fast run. Instead it fails, naming the marker to add:

- a fixture that starts one is declared with `@server_fixture("integration", ...)`; the root
  conftest's setup hook fails, before any fixture runs, every test whose fixture closure holds it
  (whatever the fixture's scope: a session-scoped fixture runs once, the check for each test);
- a helper that starts one outside a fixture (`tests.support.up.running_up`) calls `require`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

SERVER_FIXTURES: dict[Callable[..., Any], tuple[str, ...]] = {}
"""Fixture function -> the markers a test using it (directly or through another fixture) needs.
By function, not name: a parameter or another directory's fixture may share the name."""

_current: pytest.Item | None = None
"""The test being run (set by the root conftest), for `require` in helpers that get no request."""


def server_fixture(*markers: str, **fixture_kwargs: Any) -> Callable[[F], F]:
    """`@pytest.fixture(**fixture_kwargs)` for a fixture that starts a real server: every test
    using it must carry `markers`."""

    def declare(function: F) -> F:
        SERVER_FIXTURES[function] = markers
        return pytest.fixture(**fixture_kwargs)(function)  # type: ignore[no-any-return]

    return declare


def check(item: pytest.Item, what: str, markers: tuple[str, ...]) -> None:
    missing = [marker for marker in markers if item.get_closest_marker(marker) is None]
    if missing:
        marks = ", ".join(f"pytest.mark.{marker}" for marker in markers)
        pytest.fail(
            f"{item.nodeid} uses {what} but is not marked {' and '.join(missing)}: "
            f"add `pytestmark = [{marks}]` to its module (`make test-fast` deselects by marker)",
            pytrace=False,
        )


def check_fixtures(item: pytest.Item) -> None:
    """Every fixture in `item`'s closure (the definition that applies to it) that starts a server."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the test's fixtures
    closure = info.name2fixturedefs if info is not None else {}
    for name, definitions in closure.items():
        if definitions and (markers := SERVER_FIXTURES.get(definitions[-1].func)) is not None:
            check(item, f"the `{name}` fixture", markers)


def require(what: str, *markers: str) -> None:
    """Fail the running test unless it carries `markers` (outside pytest, e.g. `make chaos`: no-op)."""
    if _current is not None:
        check(_current, what, markers)


def set_current(item: pytest.Item | None) -> None:
    global _current
    _current = item
