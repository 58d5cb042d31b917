"""The gateway's own queue in front of each backend: order, slots, positions, estimates.

Pure bookkeeping with no I/O: the manager asks it which job starts next and where each
waiting job stands. Positions start at 1 (the next job to start). Estimates assume every
job takes the backend's running average and that slots free up in waves.

The order is fair share between users: a job's rank is how many jobs of its owner run on
the backend plus how many of the owner's jobs wait ahead of it, and the queue is sorted by
(rank, submission order). A user with 100 queued jobs therefore takes turns with a user
who has one, instead of holding them behind all 100.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ibmq_gateway.server.model import QueueInfo

# Before any job has run on a backend, assume this many seconds per job.
_INITIAL_RUN_SECONDS = 1.0
# Weight of the newest run time in the running average.
_SMOOTHING = 0.2


@dataclass
class _BackendQueue:
    slots: int
    waiting: dict[str, _Waiting] = field(default_factory=dict)
    running: dict[str, _Running] = field(default_factory=dict)
    average_run: float = _INITIAL_RUN_SECONDS

    def in_turn(self) -> list[str]:
        """Waiting job ids in the order they will start (fair share, then submission)."""
        busy = Counter(run.owner for run in self.running.values())
        ahead: Counter[str] = Counter()
        ranked = []
        for job_id, job in sorted(self.waiting.items(), key=lambda item: item[1].order):
            ranked.append((busy[job.owner] + ahead[job.owner], job.order, job_id))
            ahead[job.owner] += 1
        return [job_id for _, _, job_id in sorted(ranked)]


@dataclass(frozen=True)
class _Waiting:
    owner: str
    order: float


@dataclass(frozen=True)
class _Running:
    owner: str
    started: datetime


class Scheduler:
    """Per-backend fair-share queues with a fixed number of slots each."""

    def __init__(self, slots: dict[str, int]) -> None:
        self._queues = {name: _BackendQueue(count) for name, count in slots.items()}

    def enqueue(self, backend: str, job_id: str, owner: str, order: float) -> None:
        """Puts ``owner``'s job in the backend's queue; ``order`` breaks ties (smaller: sooner).

        The manager passes the submission time; jobs interrupted by a restart get an order
        before every waiting job.
        """
        self._queues[backend].waiting[job_id] = _Waiting(owner, order)

    def remove(self, backend: str, job_id: str) -> bool:
        """Takes a job out of the queue or its slot; True if it was there."""
        queue = self._queues[backend]
        waited = queue.waiting.pop(job_id, None) is not None
        return queue.running.pop(job_id, None) is not None or waited

    def start_next(self, backend: str) -> list[str]:
        """Moves waiting jobs into free slots and returns their ids, in start order."""
        queue = self._queues[backend]
        started = []
        while queue.waiting and len(queue.running) < queue.slots:
            job_id = queue.in_turn()[0]
            owner = queue.waiting.pop(job_id).owner
            queue.running[job_id] = _Running(owner, datetime.now(UTC))
            started.append(job_id)
        return started

    def finish(self, backend: str, job_id: str) -> None:
        """Frees the job's slot and folds its run time into the backend's average."""
        queue = self._queues[backend]
        run = queue.running.pop(job_id, None)
        if run is not None:
            seconds = (datetime.now(UTC) - run.started).total_seconds()
            queue.average_run += _SMOOTHING * (seconds - queue.average_run)

    def positions(self, backend: str) -> dict[str, QueueInfo]:
        """Where every waiting job of the backend stands now."""
        queue = self._queues[backend]
        now = datetime.now(UTC)
        return {
            job_id: self._estimate(queue, position, now)
            for position, job_id in enumerate(queue.in_turn(), start=1)
        }

    def pending(self, backend: str) -> int:
        """Jobs waiting or running on the backend."""
        queue = self._queues[backend]
        return len(queue.waiting) + len(queue.running)

    def average_run(self, backend: str) -> float:
        """The running average of a job's run time on the backend, in seconds."""
        return self._queues[backend].average_run

    def estimated_wait(self, backend: str) -> float:
        """Seconds a job submitted now would wait before it starts."""
        queue = self._queues[backend]
        if len(queue.running) < queue.slots and not queue.waiting:
            return 0.0
        return self._waves_before(queue, len(queue.waiting) + 1) * queue.average_run

    def _estimate(self, queue: _BackendQueue, position: int, now: datetime) -> QueueInfo:
        start = now + timedelta(seconds=self._waves_before(queue, position) * queue.average_run)
        return QueueInfo(
            position=position,
            estimated_start=start,
            estimated_complete=start + timedelta(seconds=queue.average_run),
            scope="gateway",
        )

    @staticmethod
    def _waves_before(queue: _BackendQueue, position: int) -> int:
        # Each wave frees every slot once; position p starts in wave (p - 1) // slots + 1.
        return (position - 1) // max(queue.slots, 1) + 1
