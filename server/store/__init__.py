"""Durable state behind one interface (``JobStore``); SQLite by default."""

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
