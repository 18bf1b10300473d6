"""The generated documentation matches the code: docs/settings.md lists every setting once with
its docstring, and docs/query-api.md's metric table is METRICS' definitions (`make docs`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import docs
from shared.query.metrics import METRICS
from shared.settings import Settings


def test_the_generated_docs_are_current() -> None:
    stale = [str(path) for path, text in docs.generated(docs.ROOT).items() if (docs.ROOT / path).read_text() != text]
    assert not stale, f"stale: {stale}: run `make docs`"
    assert docs.main(["--check"]) == 0


def test_every_setting_is_documented_once() -> None:
    page = (docs.ROOT / docs.SETTINGS_DOC).read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no docstring"
        assert page.count(f"| `TRACKHOUSE_{name.upper()}` |") == 1, name


def test_every_metric_is_in_the_query_docs() -> None:
    page = (docs.ROOT / docs.QUERY_DOC).read_text()
    table = page[page.index(docs.METRICS_START) : page.index(docs.METRICS_END)]
    for metric in METRICS.values():
        assert f"| `{metric.name}` | " in table and metric.definition.split()[0] in table


def test_check_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (docs.SETTINGS_DOC, docs.QUERY_DOC):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((docs.ROOT / path).read_text())
    (tmp_path / docs.SETTINGS_DOC).write_text("# Settings\n\nhand-written\n")
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    assert docs.main(["--check"]) == 1
    assert (tmp_path / docs.SETTINGS_DOC).read_text() == "# Settings\n\nhand-written\n"  # --check writes nothing
    assert docs.main([]) == 0 and docs.main(["--check"]) == 0  # rewritten, then current
