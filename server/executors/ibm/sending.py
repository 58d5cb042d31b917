"""Sending a gateway job to IBM Quantum exactly once.

Before a send, IBM is asked for a job carrying the gateway job's tag: after a send whose
answer was lost once IBM had the job, or a gateway killed between sending and recording
IBM's id, the job is found there instead of being sent again. A send whose answer was lost
is looked for over some seconds, then again a minute later, before anything is re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from ibmq_gateway.server.executors.base import ExecutionError, RetryLater
from ibmq_gateway.server.executors.ibm.errors import (
    IbmAuthError,
    IbmError,
    IbmRateLimitedError,
    IbmRejectedError,
    IbmTransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from qiskit import QuantumCircuit

    from ibmq_gateway.server.core.model import Job
    from ibmq_gateway.server.executors.ibm.client import IbmClient

log = logging.getLogger(__name__)

TAG_PREFIX = "ibmq-gateway:"
IBM_REFUSED_JOB = 2101
UNREACHABLE_RETRY_S = 60.0
"""How long a job that could not be sent waits before the next try."""
SEND_ATTEMPTS = 4
LOOK_AGAIN_S = (0.0, 1.0, 3.0, 10.0)
"""Pauses before each look for the job of a send whose answer was lost (IBM lists a job it
took within moments)."""


def gateway_tag(job_id: str) -> str:
    """The tag that names a gateway job at IBM."""
    return TAG_PREFIX + job_id


class Sender:
    """Finds or sends the IBM job of a gateway job; a refused key is reported to ``auth_failed``."""

    def __init__(self, client: IbmClient, auth_failed: Callable[[IbmAuthError], None]) -> None:
        self._client = client
        self._auth_failed = auth_failed

    async def find_or_send(
        self, job: Job, circuits: list[QuantumCircuit], shots: int, tag: str
    ) -> str:
        """IBM's id of the job tagged ``tag``: found at IBM, or sent now.

        Raises:
            RetryLater: IBM is busy or out of reach; the job goes back to the queue.
            ExecutionError: IBM refused the job.
        """
        last: IbmError | None = None
        for attempt in range(SEND_ATTEMPTS):
            try:
                found = await self._client.find_job(tag)
                return found or await self._submit(job, circuits, shots, tag)
            except IbmRateLimitedError as error:
                wait = error.retry_after
                raise RetryLater(
                    time.monotonic() + wait,
                    f"IBM Quantum answered too many requests; next try in {wait:.0f} s",
                ) from None
            except IbmRejectedError as error:
                raise ExecutionError(
                    IBM_REFUSED_JOB, "IBM_REFUSED_JOB", f"IBM Quantum refused the job: {error}"
                ) from None
            except IbmAuthError as error:
                self._auth_failed(error)
                last = error
                break
            except IbmError as error:
                last = error
                await asyncio.sleep(2.0**attempt)
        raise RetryLater(
            time.monotonic() + UNREACHABLE_RETRY_S,
            f"IBM Quantum did not take the job ({last}); next try in {UNREACHABLE_RETRY_S:.0f} s",
        )

    async def _submit(self, job: Job, circuits: list[QuantumCircuit], shots: int, tag: str) -> str:
        try:
            return await self._client.submit(job.backend, circuits, shots, [tag])
        except IbmTransientError as error:
            if error.answered:
                raise  # IBM answered: it created no job, sending again is safe
            log.warning("sending job %s: IBM's answer was lost (%s); looking for it", job.id, error)
        found = await self.look_for(tag)
        if found is not None:
            return found
        # IBM may list a new job late: look again much later rather than risk a second one.
        raise RetryLater(
            time.monotonic() + UNREACHABLE_RETRY_S,
            f"IBM's answer to sending job {job.id} was lost; it is looked for again, "
            f"and sent only if IBM does not have it, in {UNREACHABLE_RETRY_S:.0f} s",
        )

    async def look_for(self, tag: str) -> str | None:
        """Looks for the IBM job carrying ``tag`` a few times over some seconds."""
        for pause in LOOK_AGAIN_S:
            await asyncio.sleep(pause)
            with contextlib.suppress(IbmError):
                found = await self._client.find_job(tag)
                if found is not None:
                    return found
        return None
