"""Generated ids are RFC 4122 version-4 UUIDs, unique, from any thread."""

from __future__ import annotations

import threading
import uuid

from shared.ids import new_uuid


def test_ids_are_version_4_uuids() -> None:
    for _ in range(600):  # past one 4 KiB pool refill
        value = new_uuid()
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat_across_threads() -> None:
    seen: list[str] = []

    def draw() -> None:
        seen.extend(new_uuid() for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(seen) == 8000
