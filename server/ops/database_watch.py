"""Whether the gateway's database answers, asked every second, for health to report.

While PostgreSQL is away every RPC that needs it answers UNAVAILABLE at once (the store
says so), and health says NOT_SERVING so that a load balancer sends clients elsewhere; the
store's pool reconnects by itself and health returns to SERVING with the first answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ibmq_gateway.server.core.errors import DatabaseUnavailableError
from ibmq_gateway.server.store import JobStore, StoreError

log = logging.getLogger(__name__)

PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 8.0
"""Past the store's own wait for a connection: a probe never outlives its answer."""

Reported = Callable[[str | None], Awaitable[None]]
"""Told the problem (a sentence) when the database stops answering, None when it is back."""


async def watch_database(store: JobStore, report: Reported) -> None:
    """Probes ``store`` until cancelled, reporting each change of its reachability."""
    reachable = True
    while True:
        await asyncio.sleep(PROBE_EVERY_S)
        problem = await _problem(store)
        if (problem is None) == reachable:
            continue
        reachable = problem is None
        if reachable:
            log.info("the database answers again")
        else:
            log.warning("%s", problem)
        await report(problem)


async def _problem(store: JobStore) -> str | None:
    try:
        await asyncio.wait_for(store.ping(), PROBE_TIMEOUT_S)
    except (DatabaseUnavailableError, StoreError) as error:
        return str(error)
    except TimeoutError:
        return f"the database gave no answer within {PROBE_TIMEOUT_S:.0f} s"
    return None
