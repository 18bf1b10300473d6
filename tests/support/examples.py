"""How many examples a property test draws: its own count, scaled by PROPERTY_EXAMPLES_SCALE.

`make test` runs every count as written; `make test-fast` sets the scale to 0.2 (a fifth, at
least 10 each) to stay a quick loop. Hypothesis' profiles cannot do this: a test's own
`@settings(max_examples=...)` overrides the loaded profile."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("PROPERTY_EXAMPLES_SCALE", "1"))


def examples(count: int) -> int:
    return max(10, round(count * SCALE))
