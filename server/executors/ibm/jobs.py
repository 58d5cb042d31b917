"""One job at IBM seen from the gateway: its IBM states become the gateway job's changes.

IBM no longer tells a job's place in its queue, and qiskit-ibm-runtime passes on no wait
estimate, so while a job waits at IBM its queue info holds the device's queue length at IBM
(as ``position``, scope ``provider``) and the gateway's own estimates: how long its recent
jobs on that device waited at IBM before running, and how long they then ran.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.model import QueueInfo
from ibmq_gateway.server.executors.base import ExecutionError

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import Job
    from ibmq_gateway.server.executors.base import RunReporter
    from ibmq_gateway.server.executors.ibm.devices import IbmDevices
    from ibmq_gateway.server.executors.ibm.records import IbmJobState

RAN_TOO_LONG = 1305
"""IBM's reason code for a job stopped at its maximum execution time."""
IBM_JOB_FAILED = 2100
CANCELLED_AT_IBM = 2102


class Follower:
    """Records what IBM says of one job as the gateway job's state and queue info."""

    def __init__(
        self, devices: IbmDevices, job: Job, reporter: RunReporter, answered: Callable[[], None]
    ) -> None:
        self._devices = devices
        self._job = job
        self._reporter = reporter
        self._answered = answered
        self._queue: QueueInfo | None = None
        self._sent: datetime | None = None
        """When this gateway sent the job (unknown for a job re-attached after a restart)."""

    async def at_ibm(self) -> None:
        """The job was just sent: it leaves the gateway's queue for IBM's."""
        self._sent = datetime.now(UTC)
        self._queue = self._queue_info()
        await self._reporter.queued(self._queue)

    async def observe(self, state: IbmJobState) -> None:
        """What a poll found (only changes are reported)."""
        self._answered()
        if state.status == "RUNNING":
            await self._reporter.running()
        elif state.status == "QUEUED":
            info = self._queue_info()
            if info.moved_since(self._queue):
                self._queue = info
                await self._reporter.queued(info)

    def _queue_info(self) -> QueueInfo:
        backend = self._job.backend
        status = self._devices.status(backend)
        wait, run = self._devices.typical_wait(backend), self._devices.typical_run(backend)
        start = None
        if wait is not None:
            since = self._sent or datetime.now(UTC)
            start = max(since + timedelta(seconds=wait), datetime.now(UTC))
        return QueueInfo(
            position=(status.queue_length or None) if status is not None else None,
            estimated_start=start,
            estimated_complete=start + timedelta(seconds=run) if start and run else None,
            scope="provider",
        )


def failure(ibm_id: str, state: IbmJobState) -> ExecutionError:
    """The job error for an IBM job that ended without a result."""
    if state.status == "CANCELLED":
        return ExecutionError(
            CANCELLED_AT_IBM,
            "CANCELLED_AT_IBM",
            f"IBM job {ibm_id} was cancelled at IBM Quantum, not through the gateway",
        )
    if state.reason_code == RAN_TOO_LONG:
        return ExecutionError(
            RAN_TOO_LONG,
            "RAN_TOO_LONG",
            f"IBM job {ibm_id} ran past its maximum execution time and was stopped "
            f"(IBM error code 1305): {state.reason}",
        )
    code = state.reason_code or IBM_JOB_FAILED
    return ExecutionError(
        code, "IBM_JOB_FAILED", f"IBM job {ibm_id} failed: {state.reason or 'no reason given'}"
    )
