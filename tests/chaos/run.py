"""One chaos run: start the gateways, play the traffic while killing them, check the store.

The jobs go in bursts, one per kill: each burst is released, then the killer waits for
its trigger, kills a gateway and starts it again on the same state and port; the last
burst follows the last restart. Watchers start as their jobs are answered, most from the
SubmitJob resume token, every fourth a little later without one. Then the run waits
(bounded) for every job to be final, kills what still runs, and reads the store.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ibmq_gateway.v1 import job_service_pb2_grpc
from tests.chaos import ledger
from tests.chaos.clients import Submission, Submitter, Watch, channel, follow
from tests.chaos.fleet import Fleet
from tests.chaos.killer import Killer, KillLog
from tests.chaos.verdict import Tally, judge
from tests.chaos.workload import plan

SUBMITTERS = 8
"""SubmitJob calls in flight at most."""


@dataclass(frozen=True)
class Config:
    """The size of a run and where it keeps its state."""

    jobs: int = 200
    watchers: int = 100
    kills: int = 10
    replicas: int = 1
    database: str | None = None
    """A PostgreSQL URL (None: SQLite in the first gateway's state directory)."""
    seed: int = 0
    """Fixes the jobs and the killer's choices (not the timing of what they hit)."""
    deadline_s: float = 600.0
    """The whole run's bound: what is not final by then counts as stuck."""


@dataclass
class Report:
    """The run's figures and verdict."""

    config: Config
    tally: Tally
    kills: KillLog
    restarts: int
    submission_retries: int
    deduplicated: int
    watcher_reconnects: int
    integrity: str
    wall_s: float

    @property
    def ok(self) -> bool:
        return (
            not self.tally.problems
            and self.integrity in ("ok", "n/a (PostgreSQL)")
            and self.kills.kills >= self.config.kills
        )


def run(config: Config, root: Path) -> Report:
    """Runs the chaos in ``root`` (state directories and gateway logs stay there)."""
    return asyncio.run(_run(config, root))


async def _run(config: Config, root: Path) -> Report:
    started = time.monotonic()
    fleet = Fleet(root, config.replicas, config.database)
    store = ledger.Store(fleet.sqlite_path, config.database)
    try:
        for index in range(fleet.size):
            await asyncio.to_thread(fleet.start, index)
        traffic = Traffic(config, fleet, started + config.deadline_s)
        await traffic.play(store)
    finally:
        fleet.close()
    stored = await asyncio.to_thread(ledger.read, store)
    path = fleet.sqlite_path
    return Report(
        config=config,
        tally=judge(traffic.submissions, traffic.watches, stored),
        kills=traffic.killer.log,
        restarts=fleet.restarts,
        submission_retries=sum(s.attempts - 1 for s in traffic.submissions),
        deduplicated=sum(s.deduplicated for s in traffic.submissions),
        watcher_reconnects=sum(w.breaks for w in traffic.watches),
        integrity=ledger.integrity_check(path) if path else "n/a (PostgreSQL)",
        wall_s=time.monotonic() - started,
    )


class Traffic:
    """The clients of one run: submissions, the watchers they start, and the kills."""

    def __init__(self, config: Config, fleet: Fleet, stop_at: float) -> None:
        self._config = config
        self._fleet = fleet
        self._stop_at = stop_at
        self._rng = random.Random(config.seed + 1)
        self._channels = [channel(fleet.addresses())]
        self._channels += [channel([address]) for address in fleet.addresses()]
        self._watch_stubs = [job_service_pb2_grpc.JobServiceStub(c) for c in self._channels[1:]]
        self.submitter = Submitter(job_service_pb2_grpc.JobServiceStub(self._channels[0]), stop_at)
        self.killer = Killer(fleet, self.submitter, self._rng)
        self.submissions = [Submission(p) for p in plan(config.jobs, random.Random(config.seed))]
        self.watches: list[Watch] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(SUBMITTERS)
        self._watchers_of: dict[int, list[int]] = {}
        for number in range(config.watchers):  # spread over the jobs, in order
            self._watchers_of.setdefault(number * config.jobs // config.watchers, []).append(number)

    async def play(self, store: ledger.Store) -> None:
        """Submits in bursts between kills, then waits until every job is final."""
        *between_kills, last = _bursts(len(self.submissions), self._config.kills + 1)
        try:
            for burst in between_kills:
                self._release(burst)
                await self.killer.strike()
            self._release(last)
            await self._settle(store)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for open_channel in self._channels:
                await open_channel.close(None)

    def _release(self, indices: range) -> None:
        self._tasks += [asyncio.create_task(self._submit_and_watch(i)) for i in indices]

    async def _submit_and_watch(self, index: int) -> None:
        submission = self.submissions[index]
        async with self._slots:
            await self.submitter.submit(submission)
        if submission.job_id:
            numbers = self._watchers_of.get(index, [])
            await asyncio.gather(*(self._watch(submission, number) for number in numbers))

    async def _watch(self, submission: Submission, number: int) -> None:
        home = number % self._fleet.size
        if number % 4 == 3:  # joins later, at the job's current state
            await asyncio.sleep(self._rng.uniform(0, 3))
            watch = Watch(submission.job_id, "", None, home)
        else:
            watch = Watch(submission.job_id, submission.token, submission.sequence, home)
        self.watches.append(watch)
        await follow(watch, self._watch_stubs, self._stop_at, self.killer.saw)

    async def _settle(self, store: ledger.Store) -> None:
        """Waits (until the deadline) for the clients to finish and every job to be final."""
        await asyncio.wait(self._tasks, timeout=max(self._stop_at - time.monotonic(), 0))
        while time.monotonic() < self._stop_at:
            states = await asyncio.to_thread(ledger.states, store)
            if all(state in ledger.FINAL_STATES for state in states.values()):
                return
            await asyncio.sleep(0.5)


def _bursts(count: int, parts: int) -> list[range]:
    """``count`` submissions in ``parts`` consecutive bursts of about the same size."""
    edges = [count * part // parts for part in range(parts + 1)]
    return [range(edges[i], edges[i + 1]) for i in range(parts)]
