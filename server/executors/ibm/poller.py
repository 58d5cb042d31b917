"""One poller for every job the gateway has at IBM Quantum.

However many clients watch a job, only this loop asks IBM about it; watchers read the
gateway's event log. Each job has its own pause between polls: one second after a change,
growing by half at every poll that finds nothing new, up to a ceiling (``QUEUED`` jobs can wait
hours at IBM; polling them every second would spend the team's API budget for nothing). A
failed poll (IBM unreachable, 5xx, timeout) doubles the pause, also up to the ceiling, and the
job stays watched: a job at IBM is never given up on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibmq_gateway.server.executors.ibm.errors import IbmAuthError, IbmError, IbmRejectedError
from ibmq_gateway.server.executors.ibm.records import IbmJobState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ibmq_gateway.server.executors.ibm.client import IbmClient

log = logging.getLogger(__name__)

POLL_FLOOR_S = 1.0
"""The shortest pause between two polls of one job."""
RUNNING_CEILING_S = 5.0
"""The longest pause while a job runs: its result is usually seconds away."""
_GROWTH = 1.5
_FINAL = frozenset({"DONE", "CANCELLED", "ERROR"})


@dataclass
class _Watch:
    ibm_id: str
    observe: Callable[[IbmJobState], Awaitable[None]]
    done: asyncio.Future[IbmJobState]
    due: float
    pause: float = POLL_FLOOR_S
    last: str = ""
    failures: int = 0


class IbmPoller:
    """Polls IBM for each watched job on its own schedule, from one task."""

    def __init__(
        self,
        client: IbmClient,
        ceiling: float,
        on_auth_failure: Callable[[IbmAuthError], None],
        parallel: int = 4,
    ) -> None:
        self._client = client
        self._ceiling = max(ceiling, POLL_FLOOR_S)
        self._on_auth_failure = on_auth_failure
        self._parallel = parallel
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[None]] = set()

    async def until_final(
        self, ibm_id: str, observe: Callable[[IbmJobState], Awaitable[None]]
    ) -> IbmJobState:
        """Follows one IBM job; ``observe`` hears every state it moves to; returns the final one.

        Cancelling the caller stops following the job (it is not cancelled at IBM).
        """
        loop = asyncio.get_running_loop()
        watch = _Watch(ibm_id, observe, loop.create_future(), due=time.monotonic())
        self._watches[ibm_id] = watch
        self._ensure_running()
        self._wake.set()
        try:
            return await watch.done
        finally:
            if self._watches.get(ibm_id) is watch:
                del self._watches[ibm_id]

    @property
    def watching(self) -> int:
        """How many IBM jobs are followed now."""
        return len(self._watches)

    async def close(self) -> None:
        """Stops polling."""
        tasks = [*self._polls, *([self._task] if self._task is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="ibm-poller")

    async def _loop(self) -> None:
        # Each poll runs as its own task: one that hangs (until the call's timeout) must not
        # hold back the polls of every other job.
        limit = asyncio.Semaphore(self._parallel)
        while True:
            await self._sleep_until_due()
            now = time.monotonic()
            for watch in [watch for watch in self._watches.values() if watch.due <= now]:
                watch.due = math.inf  # being polled
                task = asyncio.get_running_loop().create_task(self._poll_limited(limit, watch))
                self._polls.add(task)
                task.add_done_callback(self._polls.discard)

    async def _sleep_until_due(self) -> None:
        self._wake.clear()
        next_due = min((watch.due for watch in self._watches.values()), default=math.inf)
        if next_due == math.inf:
            await self._wake.wait()
            return
        pause = next_due - time.monotonic()
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _poll_limited(self, limit: asyncio.Semaphore, watch: _Watch) -> None:
        try:
            async with limit:
                await self._poll(watch)
        finally:
            if watch.due == math.inf and not watch.done.done():
                watch.due = time.monotonic() + watch.pause  # whatever happened, poll again
            self._wake.set()

    async def _poll(self, watch: _Watch) -> None:
        try:
            state = await self._client.status(watch.ibm_id)
        except IbmRejectedError as error:
            # IBM does not know the job (deleted there, or another instance): asking again
            # will not change that, and the job must not hold its slot forever.
            state = IbmJobState("ERROR", f"IBM no longer knows this job: {error}")
        except IbmError as error:
            self._failed(watch, error)
            return
        watch.failures = 0
        if state.status != watch.last:
            watch.last = state.status
            watch.pause = POLL_FLOOR_S
            await self._tell(watch, state)
        else:
            ceiling = RUNNING_CEILING_S if state.status == "RUNNING" else self._ceiling
            watch.pause = min(watch.pause * _GROWTH, max(ceiling, POLL_FLOOR_S))
        if state.status in _FINAL:
            if not watch.done.done():
                watch.done.set_result(state)
            return
        watch.due = time.monotonic() + watch.pause

    async def _tell(self, watch: _Watch, state: IbmJobState) -> None:
        try:
            await watch.observe(state)
        except Exception:
            log.exception("recording IBM job %s's state %s failed", watch.ibm_id, state.status)

    def _failed(self, watch: _Watch, error: IbmError) -> None:
        if isinstance(error, IbmAuthError):
            self._on_auth_failure(error)
        watch.failures += 1
        watch.pause = min(watch.pause * 2, self._ceiling)
        watch.due = time.monotonic() + watch.pause
        log.warning(
            "polling IBM job %s failed (%d in a row, next in %.0f s): %s",
            watch.ibm_id,
            watch.failures,
            watch.pause,
            error,
        )
