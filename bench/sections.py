"""BENCHMARKS.md is written by several commands: `bench.run` owns the file, and others own a
section each, between `<!-- NAME:start -->` and `<!-- NAME:end -->` (`bench.query`: bench-query).
Each rewrites only its part and keeps the others' as they are."""

from __future__ import annotations

import re

_SECTION = re.compile(r"<!-- (?P<name>[\w.-]+):start -->\n?.*?<!-- (?P=name):end -->\n?", re.DOTALL)


def sections(text: str) -> dict[str, str]:
    """Every marked section of `text`, markers included, by name, in order."""
    return {match["name"]: match[0].rstrip("\n") for match in _SECTION.finditer(text)}


def block(name: str, body: str) -> str:
    return f"<!-- {name}:start -->\n{body.rstrip(chr(10))}\n<!-- {name}:end -->"


def rewrite_keeping_sections(old: str, new: str) -> str:
    """`new` (the owner's whole text), then every section of `old` that `new` does not have, in
    their old order: a rewrite of the file never erases another command's section."""
    kept = [text for name, text in sections(old).items() if name not in sections(new)]
    return "\n\n".join([new.rstrip("\n"), *kept]) + "\n"


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with section `name` set to `body`, in place if it was there, else appended;
    everything outside it unchanged."""
    new = block(name, body)
    found = next((m for m in _SECTION.finditer(text) if m["name"] == name), None)
    if found is None:
        return text.rstrip("\n") + "\n\n" + new + "\n"
    return text[: found.start()] + new + "\n" + text[found.end() :]
