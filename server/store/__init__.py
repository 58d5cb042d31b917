"""Durable state behind one interface (``JobStore``); SQLite by default, or PostgreSQL.

Owns: jobs, their event log, results, idempotency keys, users, the audit trail, and the
schema history both stores share (``schema``, ``migrations/``). May import: ``core`` only;
every implementation passes the contract suite in tests/store.
"""

from ibmq_gateway.server.store.base import (
    ActiveLimitError,
    Change,
    DuplicateRequestError,
    DuplicateUserError,
    JobStore,
    PageCursor,
    RunLeases,
    StaleJobError,
    StoreError,
)

__all__ = [
    "ActiveLimitError",
    "Change",
    "DuplicateRequestError",
    "DuplicateUserError",
    "JobStore",
    "PageCursor",
    "RunLeases",
    "StaleJobError",
    "StoreError",
]
