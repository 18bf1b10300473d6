"""CHAOS.md holds one section per chaos topology: a run rewrites its own and keeps the other's."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.report import HEADER, write_section


def test_a_run_replaces_its_own_section_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "CHAOS.md"
    path.write_text("# Chaos run\n\nan old single-run report, from before the sections\n")
    write_section("split", "## Split\n\nfirst split run", path)
    write_section("embedded", "## Embedded\n\nfirst embedded run", path)
    write_section("split", "## Split\n\nsecond split run", path)

    text = path.read_text()
    assert text.startswith(HEADER)
    assert "old single-run report" not in text and "first split run" not in text
    assert text.index("second split run") < text.index("first embedded run")
    assert text.count("<!-- chaos:split -->") == text.count("<!-- /chaos:split -->") == 1
    assert text.count("<!-- chaos:embedded -->") == text.count("<!-- /chaos:embedded -->") == 1

