"""The gateway's own queue in front of each backend: order, slots, positions, estimates.

Pure bookkeeping with no I/O: the manager asks it which job starts next and where each
waiting job stands. Positions start at 1 (the next job to start). Estimates assume every
job takes the backend's running average and that slots free up in waves.
"""

from __future__ import annotations

import bisect
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
    # Sorted by (order key, job id); admission runs concurrently, so jobs can reach the
    # queue out of submission order and are put in their place.
    waiting: list[tuple[float, str]] = field(default_factory=list)
    running: dict[str, datetime] = field(default_factory=dict)
    average_run: float = _INITIAL_RUN_SECONDS


class Scheduler:
    """Per-backend FIFO queues with a fixed number of slots each."""

    def __init__(self, slots: dict[str, int]) -> None:
        self._queues = {name: _BackendQueue(count) for name, count in slots.items()}

    def enqueue(self, backend: str, job_id: str, order: float) -> None:
        """Puts a job in the backend's queue at its place by ``order`` (smaller: sooner).

        The manager passes the submission time, so the queue is first come, first served;
        jobs interrupted by a restart get an order before every waiting job.
        """
        bisect.insort(self._queues[backend].waiting, (order, job_id))

    def remove(self, backend: str, job_id: str) -> bool:
        """Takes a job out of the queue or its slot; True if it was there."""
        queue = self._queues[backend]
        before = len(queue.waiting)
        queue.waiting = [entry for entry in queue.waiting if entry[1] != job_id]
        found = len(queue.waiting) < before
        return queue.running.pop(job_id, None) is not None or found

    def start_next(self, backend: str) -> list[str]:
        """Moves waiting jobs into free slots and returns their ids, in start order."""
        queue = self._queues[backend]
        started = []
        while queue.waiting and len(queue.running) < queue.slots:
            _, job_id = queue.waiting.pop(0)
            queue.running[job_id] = datetime.now(UTC)
            started.append(job_id)
        return started

    def finish(self, backend: str, job_id: str) -> None:
        """Frees the job's slot and folds its run time into the backend's average."""
        queue = self._queues[backend]
        started = queue.running.pop(job_id, None)
        if started is not None:
            seconds = (datetime.now(UTC) - started).total_seconds()
            queue.average_run += _SMOOTHING * (seconds - queue.average_run)

    def positions(self, backend: str) -> dict[str, QueueInfo]:
        """Where every waiting job of the backend stands now."""
        queue = self._queues[backend]
        now = datetime.now(UTC)
        return {
            job_id: self._estimate(queue, position, now)
            for position, (_, job_id) in enumerate(queue.waiting, start=1)
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
