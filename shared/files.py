"""Data directories are private: the AOF holds queued events, chDB's parts hold e-mails and IPs."""

from __future__ import annotations

from pathlib import Path

PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) and make it 0700 whatever the umask: whatever is
    written inside is unreachable for other local users, even files created 0644."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR_MODE)
    return path
