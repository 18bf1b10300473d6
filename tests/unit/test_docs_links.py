"""The documentation holds together: every relative link in README.md, SECURITY.md and docs/*.md
names a file of this repository (and, with an anchor, a heading of that file), no link leaves
the repository, and the README stays an entry point (at most 200 lines)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200


def _docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


DOCS = _docs()

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text outside code blocks and code spans, where a bracket is no link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _targets(doc: Path) -> list[str]:
    text = _prose(doc.read_text(encoding="utf-8"))
    found = [m.group(1) for m in _INLINE_LINK.finditer(text)]
    found += [m.group(1) for m in _REFERENCE_LINK.finditer(text)]
    return [target.strip("<>") for target in found]


def _relative(doc: Path) -> list[tuple[str, Path, str]]:
    """(link as written, the file it names, its anchor) for every link to a file, not a URL."""
    links = []
    for target in _targets(doc):
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # http(s), mailto: not a file of the repository
        path, _, anchor = target.partition("#")
        file = (doc.parent / unquote(path)).resolve() if path else doc
        links.append((target, file, anchor))
    return links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    text = _FENCE.sub("", doc.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    for heading in _HEADING.findall(text):
        slug = _slug(heading)
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def test_the_documents_exist() -> None:
    for doc in DOCS:
        assert doc.is_file(), _name(doc)
    assert len(DOCS) > 2, "docs/*.md holds the documentation the README links to"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_relative_link_names_a_file_of_the_repository(doc: Path) -> None:
    broken = [target for target, file, _ in _relative(doc) if file.is_relative_to(ROOT) and not file.exists()]
    assert broken == [], f"{_name(doc)} links to files that do not exist: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_no_link_leaves_the_repository(doc: Path) -> None:
    outside = [target for target, file, _ in _relative(doc) if not file.is_relative_to(ROOT)]
    assert outside == [], f"{_name(doc)} links outside the repository (broken in every clone): {outside}"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_anchor_names_a_heading(doc: Path) -> None:
    missing = [
        target
        for target, file, anchor in _relative(doc)
        if anchor and file.suffix == ".md" and file.is_file() and anchor.lower() not in _anchors(file)
    ]
    assert missing == [], f"{_name(doc)} links to headings that do not exist: {missing}"


def test_the_readme_is_an_entry_point() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, over {README_MAX_LINES}: move detail into docs/"
    )


def test_the_link_finder_finds_links() -> None:
    # The checks above pass vacuously if no link is found: hold the finder to known cases.
    text = (
        "[a](docs/a.md) ![b](b.png) [c](https://x.org) [d](#top) [e](<f g.md>) `[h](no.md)`\n"
        "```\n[i](no.md)\n```\n[j]: docs/j.md\n"
    )
    prose = _prose(text)
    found = [m.group(1).strip("<>") for m in _INLINE_LINK.finditer(prose)]
    found += [m.group(1) for m in _REFERENCE_LINK.finditer(prose)]
    assert found == ["docs/a.md", "b.png", "https://x.org", "#top", "f g.md", "docs/j.md"]
    assert _slug("Reading an event back") == "reading-an-event-back"
    assert _slug("The tracker: `GET /t.js`") == "the-tracker-get-tjs"
    assert _slug("Scaling out: Sentinel and the cluster file") == "scaling-out-sentinel-and-the-cluster-file"
    assert _relative(ROOT / "README.md"), "the README links to the docs"


_CODE_PATH = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.(?:py|js|sql|yml|yaml|md|toml|html|css|lua|xml|conf))(?:::[^`]*)?`")


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_file_named_in_code_quotes_exists(doc: Path) -> None:
    # Prose names modules and tests in backticks (`api/body.py`): a move must take its docs along.
    named = {match[1] for match in _CODE_PATH.finditer(doc.read_text(encoding="utf-8"))}
    assert not [path for path in sorted(named) if not (ROOT / path).exists()]
