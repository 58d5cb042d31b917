"""The audit trail: who submitted, cancelled or changed what, when, and from where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.api.auth import principal
from ibmq_gateway.server.core.model import AuditEntry

if TYPE_CHECKING:
    from ibmq_gateway.server.store import JobStore


class Audit:
    """Records the actions of the current RPC's caller."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def record(
        self, action: str, target: str, peer: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Records that the caller did ``action`` to ``target`` from ``peer``."""
        await self._store.add_audit(entry(action, target, peer, detail))


def entry(action: str, target: str, peer: str, detail: dict[str, Any] | None = None) -> AuditEntry:
    """The record of the caller doing ``action`` to ``target`` from ``peer``, now."""
    return AuditEntry(
        time=datetime.now(UTC),
        actor=principal().name,
        action=action,
        target=target,
        peer=peer,
        detail=detail or {},
    )
