"""What a process remembers under one version (``core.catalogue_version``): answers read while the
version was V hold while it is V. A newer version starts afresh; a request that read an older version
(before a write another request has already seen) neither reads nor fills the memory, since what it
would read may be older than what is remembered.

Used by who a token is (``accounts.principals``), full slots and citizens' used keys
(``booking.rush``) and the door's scan answers (``server.fast_lane``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class VersionedMemo(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.version: int | None = None
        self.entries: dict[K, V] = {}

    def turn(self, version: int) -> bool:
        """Move to ``version`` if it is newer (forgetting the rest); False if it is older than the one
        remembered (then do not use the memory for this request)."""
        if version == self.version:
            return True
        if self.version is not None and version < self.version:
            return False
        self.version, self.entries = version, {}
        return True

    def get(self, version: int, key: K) -> V | None:
        """What was remembered for ``key`` under ``version`` (None under any other)."""
        return self.entries.get(key) if version == self.version else None

    def put(self, version: int, key: K, value: V) -> None:
        """Remember ``value`` read under ``version``: not if a newer version came while it was read. When
        full, the memory starts again."""
        if not self.turn(version):
            return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[key] = value

    def forget(self, key: K) -> None:
        self.entries.pop(key, None)
