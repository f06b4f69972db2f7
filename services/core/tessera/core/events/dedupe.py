"""Durable record of the events a consumer group has fully handled, so a replay is skipped.

After a handler returns, :class:`ProcessedEvents` writes a small marker object
``events/processed/<group>/<ce_id>`` to the artifact store, *before* the offset is committed.
A consumer that dies between the two replays the event on restart, finds the marker and
skips the handler: the effect is applied once. Markers are per group, so two groups reading
one topic each handle every event.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.errors import InvalidArgument

MARKER_PREFIX = "events/processed"
MARKER_MEDIA_TYPE = "application/json"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")


def _segment(value: str) -> str:
    """``value`` itself when it is a safe key segment, else ``sha256-<hex>`` of it (ids are free-form)."""
    if _SAFE_SEGMENT.match(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()


class ProcessedEvents:
    """The set of ``ce_id`` values group ``group_id`` has handled, kept in ``store``.

    Thread-safe. A bounded in-memory cache of recent ids saves a store lookup per replayed event.
    """

    def __init__(self, store: ArtifactStore, group_id: str, *, cache_size: int = 10_000):
        if not group_id:
            raise InvalidArgument.field("group_id", "must be a non-empty string")
        self.store = store
        self.group_id = group_id
        self._prefix = f"{MARKER_PREFIX}/{_segment(group_id)}"
        self._cache: OrderedDict[str, None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def marker_key(self, event_id: str) -> str:
        """``events/processed/<group>/<ce_id>`` (unsafe characters: the segment is a SHA-256)."""
        if not event_id:
            raise InvalidArgument.field("event_id", "must be a non-empty string")
        return f"{self._prefix}/{_segment(event_id)}"

    def is_processed(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._cache:
                return True
        found = self.store.exists(self.marker_key(event_id))
        if found:
            self._remember(event_id)
        return found

    def mark(self, event_id: str, *, topic: str, partition: int, offset: int) -> None:
        """Durably record that ``event_id`` (read at topic/partition/offset) was handled."""
        marker = {
            "event_id": event_id,
            "group": self.group_id,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "processed_at": time.time(),  # seconds since the epoch
        }
        self.store.put_bytes(self.marker_key(event_id), json.dumps(marker).encode(), media_type=MARKER_MEDIA_TYPE)
        self._remember(event_id)

    def _remember(self, event_id: str) -> None:
        with self._lock:
            self._cache[event_id] = None
            self._cache.move_to_end(event_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
