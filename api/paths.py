"""The paths of the two ingestion endpoints, named once: the routes register them, the fast
path answers them, CORS and the ingest guard apply to them and nothing else."""

from __future__ import annotations

from typing import Final

TRACK_PATH: Final = "/api/events/track"
"""POST one event (api/routes/track.py)."""
BATCH_PATH: Final = "/api/events/batch"
"""POST many events in one request (api/routes/batch.py)."""
INGEST_PATHS: Final = frozenset({TRACK_PATH, BATCH_PATH})
