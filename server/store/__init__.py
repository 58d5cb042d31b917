"""Durable state behind one interface (``JobStore``); SQLite by default.

Owns: jobs, their event log, results, idempotency keys, users and the audit trail on disk.
May import: ``core`` only; every implementation passes the contract suite in tests/store.
"""

from ibmq_gateway.server.store.base import (
    Change,
    DuplicateRequestError,
    DuplicateUserError,
    JobStore,
    PageCursor,
    StaleJobError,
    StoreError,
)

__all__ = [
    "Change",
    "DuplicateRequestError",
    "DuplicateUserError",
    "JobStore",
    "PageCursor",
    "StaleJobError",
    "StoreError",
]
