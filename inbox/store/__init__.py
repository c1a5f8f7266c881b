"""The conversation store: the only package that speaks SQL.

:mod:`inbox.store.core` holds the :class:`Store` (connection, transactions,
threads, messages, outbox, sync state); sibling modules add verbs for one area
each as mixins of that class; :mod:`inbox.store.schema` holds the migrations.
"""

from inbox.store.core import (
    IN_MEMORY,
    SCHEMA_VERSION,
    AccountState,
    NotFound,
    Store,
    Stored,
    StoreDamaged,
    StoreError,
    iso,
    missing_store,
    now_utc,
    parse_time,
)

__all__ = ["IN_MEMORY", "SCHEMA_VERSION", "AccountState", "NotFound", "Store", "StoreDamaged",
           "StoreError", "Stored", "iso", "missing_store", "now_utc", "parse_time"]
