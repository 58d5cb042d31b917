"""The gateway's own queue in front of each backend: order, slots, positions, estimates.

Pure bookkeeping with no I/O: the manager asks it which job starts next and where each
waiting job stands. Positions start at 1 (the next job to start). Estimates assume every
job takes the backend's running average and that slots free up in waves.

The order is fair share between users: a job's rank is how many jobs of its owner run on
the backend plus how many of the owner's jobs wait ahead of it, and the queue is sorted by
(rank, submission order). A user with 100 queued jobs therefore takes turns with a user
who has one, instead of holding them behind all 100.

A backend may also have a submission rate limit, shared with other backends (IBM Quantum
allows a team a few submissions per minute across all its devices). Fair share still picks
the next job; the limit only decides when it may start, and estimates wait for it too.

Size: the per-backend queue and the scheduler over the queues; the estimates read the
queues' internals, which would otherwise have to be exposed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ibmq_gateway.server.core.model import QueueInfo
from ibmq_gateway.server.jobs.ratelimit import RateLimit

# Before any job has run on a backend, assume this many seconds per job.
_INITIAL_RUN_SECONDS = 1.0
# Weight of the newest run time in the running average.
_SMOOTHING = 0.2


@dataclass
class _BackendQueue:
    slots: int
    limit: RateLimit | None = None
    waiting: dict[str, _Waiting] = field(default_factory=dict)
    running: dict[str, _Running] = field(default_factory=dict)
    average_run: float = _INITIAL_RUN_SECONDS
    by_owner: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    """Each owner's waiting jobs as (order, id), sorted: an owner's i-th has rank busy + i,
    so one job's place, and the next to start, are found without sorting the queue."""

    def wait(self, job_id: str, owner: str, order: float) -> None:
        self.unwait(job_id)
        self.waiting[job_id] = _Waiting(owner, order)
        insort(self.by_owner.setdefault(owner, []), (order, job_id))

    def unwait(self, job_id: str) -> _Waiting | None:
        job = self.waiting.pop(job_id, None)
        if job is not None:
            mine = self.by_owner[job.owner]
            # Found by halving, not by a scan: an owner may have thousands waiting.
            del mine[bisect_left(mine, (job.order, job_id))]
            if not mine:
                del self.by_owner[job.owner]
        return job

    def in_turn(self) -> list[str]:
        """Waiting job ids in the order they will start (fair share, then submission)."""
        busy = self._busy()
        ranked = [
            (busy[owner] + index, order, job_id)
            for owner, mine in self.by_owner.items()
            for index, (order, job_id) in enumerate(mine)
        ]
        return [job_id for _, _, job_id in sorted(ranked)]

    def next_in_turn(self) -> str:
        """``in_turn()[0]``: the best of each owner's first job. Something must wait."""
        busy = self._busy()
        return min((busy[owner], *mine[0]) for owner, mine in self.by_owner.items())[2]

    def place(self, job_id: str) -> int:
        """Where a waiting job is in ``in_turn()``, from 1: per owner, its jobs of a lower
        rank, and its job of the same rank if that one came first."""
        job, busy = self.waiting[job_id], self._busy()
        rank = busy[job.owner] + bisect_left(self.by_owner[job.owner], (job.order, job_id))
        ahead = 0
        for owner, mine in self.by_owner.items():
            same_rank = rank - busy[owner]
            ahead += min(len(mine), max(same_rank, 0))
            if 0 <= same_rank < len(mine) and mine[same_rank] < (job.order, job_id):
                ahead += 1
        return ahead + 1

    def has_free_slot(self) -> bool:
        return len(self.running) < self.slots

    def _busy(self) -> Counter[str]:
        return Counter(run.owner for run in self.running.values())


@dataclass(frozen=True)
class _Waiting:
    owner: str
    order: float


@dataclass(frozen=True)
class _Running:
    owner: str
    # None for a job re-attached after a restart: its real start is unknown, so its run
    # time must not pull the average down.
    started: datetime | None


class Scheduler:
    """Per-backend fair-share queues with a number of slots and an optional rate limit."""

    def __init__(self, slots: dict[str, int], limits: dict[str, RateLimit] | None = None) -> None:
        self._queues: dict[str, _BackendQueue] = {}
        for name, count in slots.items():
            self.add_backend(name, count, (limits or {}).get(name))

    def add_backend(self, name: str, slots: int, limit: RateLimit | None = None) -> None:
        """Adds a backend found after start, or changes an existing one's slots and limit.

        An existing backend keeps its waiting and running jobs and its average.
        """
        queue = self._queues.get(name)
        if queue is None:
            self._queues[name] = _BackendQueue(slots, limit)
        else:
            queue.slots, queue.limit = slots, limit

    def has_backend(self, name: str) -> bool:
        """Whether the backend has a queue here."""
        return name in self._queues

    def enqueue(self, backend: str, job_id: str, owner: str, order: float) -> None:
        """Puts ``owner``'s job in the backend's queue; ``order`` breaks ties (smaller: sooner).

        The manager passes the submission time; jobs interrupted by a restart get an order
        before every waiting job.
        """
        self._queues[backend].wait(job_id, owner, order)

    def remove(self, backend: str, job_id: str) -> bool:
        """Takes a job out of the queue or its slot; True if it was there."""
        queue = self._queues[backend]
        waited = queue.unwait(job_id) is not None
        return queue.running.pop(job_id, None) is not None or waited

    def clear(self) -> None:
        """Forgets every waiting and running job (another replica runs them now).

        Backends keep their slots, limits and averages.
        """
        for queue in self._queues.values():
            queue.waiting.clear()
            queue.by_owner.clear()
            queue.running.clear()

    def start_next(self, backend: str) -> list[str]:
        """Moves waiting jobs into free slots and returns their ids, in start order.

        Stops early when the backend's rate limit refuses; a take is spent only on a job
        that starts.
        """
        queue = self._queues[backend]
        started = []
        while queue.waiting and queue.has_free_slot():
            if queue.limit is not None and not queue.limit.try_take():
                break
            job_id = queue.next_in_turn()
            owner = queue.waiting[job_id].owner
            queue.unwait(job_id)
            queue.running[job_id] = _Running(owner, datetime.now(UTC))
            started.append(job_id)
        return started

    def resume(self, backend: str, job_id: str, owner: str) -> None:
        """Puts a job already sent before a restart straight into a slot, without a take.

        It was submitted already, so it must run even if that exceeds the slots for a while.
        """
        queue = self._queues[backend]
        queue.unwait(job_id)
        queue.running[job_id] = _Running(owner, None)

    def requeue(self, backend: str, job_id: str, owner: str, order: float) -> None:
        """Sends a started job back to waiting (the backend refused it for now).

        Given its original ``order`` it keeps its place. Its slot is freed without folding
        its time into the average, since it never ran.
        """
        queue = self._queues[backend]
        queue.running.pop(job_id, None)
        queue.wait(job_id, owner, order)

    def hold(self, backend: str, until: float) -> None:
        """Starts nothing through the backend's rate limit before ``until`` (its clock).

        For a 429 with Retry-After; every backend sharing the limit waits too. A backend
        without a limit has nothing to hold.
        """
        limit = self._queues[backend].limit
        if limit is not None:
            limit.block_until(until)

    def throttled_until(self, backend: str) -> float | None:
        """When a waiting job with a free slot may start under the rate limit.

        The time is on the limit's clock, for the manager to dispatch again then; it may be
        now already (the window freed since ``start_next`` looked: dispatch again at once).
        None when the backend has no limit, nothing waits, or no slot is free.
        """
        queue = self._queues[backend]
        if queue.limit is None or not queue.waiting or not queue.has_free_slot():
            return None
        return queue.limit.next_free()

    def took_turn(self, backend: str, job_id: str) -> bool:
        """Whether the job holds a slot it got from ``start_next`` (which took its turn
        from the rate limit), not one ``resume`` gave it."""
        queue = self._queues.get(backend)
        run = queue.running.get(job_id) if queue is not None else None
        return run is not None and run.started is not None

    def running(self, backend: str) -> list[str]:
        """Ids of the backend's jobs that hold a slot."""
        return list(self._queues[backend].running)

    def finish(self, backend: str, job_id: str) -> bool:
        """Frees the job's slot and folds its run time into the backend's average; True if
        the job had a slot."""
        queue = self._queues[backend]
        run = queue.running.pop(job_id, None)
        if run is not None and run.started is not None:
            seconds = (datetime.now(UTC) - run.started).total_seconds()
            queue.average_run += _SMOOTHING * (seconds - queue.average_run)
        return run is not None

    def positions(self, backend: str) -> dict[str, QueueInfo]:
        """Where every waiting job of the backend stands now."""
        queue = self._queues[backend]
        in_turn = queue.in_turn()
        starts = self._starts(queue, len(in_turn), datetime.now(UTC))
        return {
            job_id: self._estimate(queue, position, start)
            for position, (job_id, start) in enumerate(zip(in_turn, starts, strict=True), start=1)
        }

    def position(self, backend: str, job_id: str) -> QueueInfo | None:
        """Where one waiting job of the backend stands now; None if it does not wait.

        What ``positions`` says of it, without estimating every other waiting job (an
        admission asks this of the job it queues; in a queue of thousands that was most
        of the gateway's time).
        """
        queue = self._queues[backend]
        if job_id not in queue.waiting:
            return None
        position = queue.place(job_id)
        now = datetime.now(UTC)
        paced = self._paced_starts(queue, position, now)[-1]
        return self._estimate(queue, position, self._start(queue, position, now, paced))

    def has_room(self, backend: str) -> bool:
        """Whether a job arriving now would find a free slot: fewer jobs wait and run on
        the backend than it has slots (its rate limit aside)."""
        return self.pending(backend) < self._queues[backend].slots

    def position_on_arrival(
        self, backend: str, job_id: str, owner: str, order: float
    ) -> QueueInfo | None:
        """Where a job not queued yet would stand, were it ``enqueue``d now; it stays out."""
        queue = self._queues[backend]
        queue.wait(job_id, owner, order)
        try:
            return self.position(backend, job_id)
        finally:
            queue.unwait(job_id)

    def pending(self, backend: str) -> int:
        """Jobs waiting or running on the backend."""
        queue = self._queues[backend]
        return len(queue.waiting) + len(queue.running)

    def waiting(self, backend: str) -> int:
        """Jobs waiting for a slot on the backend."""
        return len(self._queues[backend].waiting)

    def waiting_ids(self, backend: str) -> Collection[str]:
        """The ids of the jobs waiting for a slot on the backend."""
        return self._queues[backend].waiting.keys()

    def average_run(self, backend: str) -> float:
        """The running average of a job's run time on the backend, in seconds."""
        return self._queues[backend].average_run

    def estimated_wait(self, backend: str) -> float:
        """Seconds a job submitted now would wait before it starts."""
        queue = self._queues[backend]
        position = len(queue.waiting) + 1
        idle = queue.has_free_slot() and not queue.waiting
        waves = 0 if idle else self._waves_before(queue, position)
        return max(waves * queue.average_run, self._paced_wait(queue, position))

    def _starts(self, queue: _BackendQueue, count: int, now: datetime) -> list[datetime]:
        """Estimated starts of the next ``count`` jobs: slots free in waves, the limit paces."""
        paced = self._paced_starts(queue, count, now)
        return [
            self._start(queue, position, now, paced[position - 1])
            for position in range(1, count + 1)
        ]

    @classmethod
    def _start(
        cls, queue: _BackendQueue, position: int, now: datetime, paced: datetime
    ) -> datetime:
        """The later of the job's wave and the earliest start the rate limit allows it."""
        return max(cls._wave_start(queue, position, now), paced)

    @staticmethod
    def _estimate(queue: _BackendQueue, position: int, start: datetime) -> QueueInfo:
        return QueueInfo(
            position=position,
            estimated_start=start,
            estimated_complete=start + timedelta(seconds=queue.average_run),
            scope="gateway",
        )

    @classmethod
    def _wave_start(cls, queue: _BackendQueue, position: int, now: datetime) -> datetime:
        return now + timedelta(seconds=cls._waves_before(queue, position) * queue.average_run)

    @staticmethod
    def _waves_before(queue: _BackendQueue, position: int) -> int:
        # Each wave frees every slot once; position p starts in wave (p - 1) // slots + 1.
        return (position - 1) // max(queue.slots, 1) + 1

    @staticmethod
    def _paced_starts(queue: _BackendQueue, count: int, now: datetime) -> list[datetime]:
        """The earliest wall-clock starts the rate limit allows the next ``count`` jobs."""
        if queue.limit is None:
            return [now] * count
        # The limit's clock only counts seconds; now on both clocks anchors it to the wall.
        anchor = queue.limit.now()
        return [now + timedelta(seconds=t - anchor) for t in queue.limit.free_times(count)]

    @staticmethod
    def _paced_wait(queue: _BackendQueue, position: int) -> float:
        """Seconds until the rate limit would let the job at ``position`` start."""
        if queue.limit is None:
            return 0.0
        anchor = queue.limit.now()
        return queue.limit.free_times(position)[-1] - anchor
