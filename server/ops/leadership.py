"""Which replica schedules the jobs, asked of the database every second.

The leading replica runs admission and the queues and offers each job that gets a slot;
every replica, the leading one too, serves the API and streams and runs the jobs whose
leases it claims (``jobs.leased_runs``). When the leading one dies (its lock's connection
closes with it) another takes over within about a second and schedules from what the
database holds; a replica that lost its hold on the database stops scheduling first.
"""

from __future__ import annotations

import asyncio
import logging

from ibmq_gateway.server.core.errors import DatabaseUnavailableError
from ibmq_gateway.server.jobs.manager import JobManager
from ibmq_gateway.server.store import JobStore

log = logging.getLogger(__name__)

ASK_EVERY_S = 1.0


async def follow_leadership(store: JobStore, manager: JobManager) -> None:
    """Keeps ``manager`` leading exactly while ``store`` says this replica leads."""
    while True:
        await asyncio.sleep(ASK_EVERY_S)
        try:
            leading = await store.lead()
        except DatabaseUnavailableError:
            leading = False  # the lock may be gone with its connection: schedule nothing
        if leading and not manager.leading:
            log.info("this replica schedules the jobs now")
            await manager.lead()
        elif not leading and manager.leading:
            log.warning("this replica stopped scheduling jobs: another may schedule them now")
            manager.stand_by()
