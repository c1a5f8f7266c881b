"""A channel's SyncState kept in a dict, for connector tests; the daemon's is the store's."""

from __future__ import annotations


class MemoryState(dict):
    """Pass the same one to a second channel to play the same account after a restart."""

    def set(self, key: str, value: str) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)
