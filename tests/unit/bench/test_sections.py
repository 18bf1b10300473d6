"""BENCHMARKS.md has several writers: each keeps what the others wrote."""

from __future__ import annotations

from bench.sections import replace_section, rewrite_keeping_sections

QUERY = "<!-- bench-query:start -->\n## Query API\n\n| q | p50 |\n<!-- bench-query:end -->"
PROFILE = "<!-- profile:start -->\n## Where /track's p99 comes from\n<!-- profile:end -->"
OLD = f"# Benchmarks\n\nold table\n\n{QUERY}\n\nstray text\n\n{PROFILE}\n"


def test_bench_run_rewrite_keeps_every_other_section_in_order() -> None:
    new = "# Benchmarks\n\nnew table\n\n## Notes\n\n- a note\n"

    text = rewrite_keeping_sections(OLD, new)

    assert text == f"{new}\n{QUERY}\n\n{PROFILE}\n"
    assert "old table" not in text and "stray text" not in text  # bench.run owns the rest


def test_bench_run_rewrite_of_a_new_file_is_its_own_text() -> None:
    assert rewrite_keeping_sections("", "# Benchmarks\n\nt\n") == "# Benchmarks\n\nt\n"


def test_a_section_the_new_text_has_is_not_kept_twice() -> None:
    new = f"# Benchmarks\n\n{PROFILE.replace('p99', 'tail')}\n"

    text = rewrite_keeping_sections(OLD, new)

    assert text.count("<!-- profile:start -->") == 1 and "tail" in text
    assert QUERY in text


def test_bench_query_replaces_only_its_section() -> None:
    text = replace_section(OLD, "bench-query", "## Query API\n\nnew figures\n")

    assert text == OLD.replace(
        QUERY, "<!-- bench-query:start -->\n## Query API\n\nnew figures\n<!-- bench-query:end -->"
    )


def test_bench_query_appends_its_section_when_missing() -> None:
    text = replace_section("# Benchmarks\n\ntable\n", "bench-query", "figures\n")

    assert text == "# Benchmarks\n\ntable\n\n<!-- bench-query:start -->\nfigures\n<!-- bench-query:end -->\n"
