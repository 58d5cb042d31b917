"""When the run kills a gateway: right after a burst of submissions, on a state change, or
at a random moment, in turn.

The first two aim at commits: at the first answer of a burst the other SubmitJob calls
in flight are being written, and a job that just reached RUNNING or COMPLETED means the
next job's move is being written as the gateway frees the slot. Every wait is bounded: a
trigger that does not come in ``TRIGGER_WAIT_S`` kills anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from ibmq_gateway.v1 import job_pb2
from tests.chaos.clients import Submitter
from tests.chaos.fleet import Fleet

TRIGGERS = ("after a submission burst", "on a state change", "at a random moment")
TRIGGER_WAIT_S = 5.0
_COMMITTING = frozenset({job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_COMPLETED})


@dataclass
class KillLog:
    """What the kills hit."""

    kills: int = 0
    by_trigger: Counter[str] = field(default_factory=Counter)
    with_submissions_in_flight: int = 0


class Killer:
    """Kills gateways of ``fleet`` (a random one of several) and starts them again."""

    def __init__(self, fleet: Fleet, submitter: Submitter, rng: random.Random) -> None:
        self._fleet = fleet
        self._submitter = submitter
        self._rng = rng
        self._state_change = asyncio.Event()
        self.log = KillLog()

    def saw(self, event: job_pb2.JobEvent) -> None:
        """A watcher's event; a move to RUNNING or COMPLETED wakes a waiting trigger."""
        if event.job.state in _COMMITTING:
            self._state_change.set()

    async def strike(self) -> None:
        """Waits for the next trigger, kills a gateway, and waits until it answers again."""
        trigger = TRIGGERS[self.log.kills % len(TRIGGERS)]
        await self._wait_for(trigger)
        index = self._rng.randrange(self._fleet.size)
        in_flight = self._submitter.in_flight
        self._fleet.kill(index)
        self.log.kills += 1
        self.log.by_trigger[trigger] += 1
        self.log.with_submissions_in_flight += in_flight > 0
        await asyncio.sleep(self._rng.uniform(0, 0.5))  # clients see it down for a moment
        await asyncio.to_thread(self._fleet.start, index)

    async def _wait_for(self, trigger: str) -> None:
        if trigger == TRIGGERS[0]:
            self._submitter.answered.clear()
            await _bounded(self._submitter.answered.wait())
        elif trigger == TRIGGERS[1]:
            self._state_change.clear()
            await _bounded(self._state_change.wait())
        else:
            await asyncio.sleep(self._rng.uniform(0.2, 2.5))


async def _bounded(waiting: Coroutine[Any, Any, Any]) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiting, TRIGGER_WAIT_S)
