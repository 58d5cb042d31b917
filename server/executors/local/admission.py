"""Admission to the local executor's worker processes: which runs have one, which wait.

A run waits on the event loop for one of the executor's workers, in the order runs came; a
run stopped while it waits never starts. Once it has a worker, its ``future`` is the worker's
answer; a run stopped then still runs to its end, and its outcome is dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qiskit.result import Result


@dataclass
class Run:
    """One job's run, as far as cancelling it goes."""

    future: asyncio.Future[Result] | None = None
    """The worker's answer, once the run has a worker (cancelling it drops the answer)."""
    waiting: asyncio.Future[None] | None = None
    """Set while the run waits for a free worker; cancelling it ends the wait."""
    cancelled: bool = False
    """The job was cancelled: the run does not start, or its outcome is dropped."""


class WorkerSlots:
    """The worker processes free for a run: runs wait for one in the order they came.

    Used on the event loop only, from whichever loop runs the executor (no loop is bound).
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def take(self, run: Run) -> None:
        """Returns once a worker is the run's; raises CancelledError if it is stopped first."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        run.waiting = asyncio.get_running_loop().create_future()
        self._waiting.append(run.waiting)
        try:
            await run.waiting
        except asyncio.CancelledError:
            if run.waiting.done() and not run.waiting.cancelled():
                self.give_back()  # handed a worker just as its task was cancelled
            raise

    def give_back(self) -> None:
        """A run is done with its worker: the longest waiting run has it next."""
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.done():  # a stopped run's wait is cancelled, and skipped
                waiting.set_result(None)
                return
        self._free += 1

    def stop_waiting(self) -> None:
        """Every run still waiting ends now, with CancelledError."""
        for waiting in self._waiting:
            waiting.cancel()


def stop(run: Run) -> None:
    """Ends the run's wait for a worker, or drops the answer of the worker it has."""
    run.cancelled = True
    if run.waiting is not None:
        run.waiting.cancel()
    if run.future is not None:
        run.future.cancel()
