"""The jobs a replica holds in memory while they are not final, counted per owner.

The count answers the active-jobs quota of every submission; counting the owner's jobs
among all held ones instead made each submission cost as much as the queue is long.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import ItemsView, Iterable, ValuesView

    from ibmq_gateway.server.core.model import Job


class ActiveJobs:
    """Job snapshots by id, with how many each owner has."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._per_owner: Counter[str] = Counter()

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __getitem__(self, job_id: str) -> Job:
        return self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def items(self) -> ItemsView[str, Job]:
        return self._jobs.items()

    def values(self) -> ValuesView[Job]:
        return self._jobs.values()

    def hold(self, job: Job) -> None:
        """Keeps ``job``'s snapshot, in place of any earlier one."""
        self.forget(job.id)
        self._jobs[job.id] = job
        self._per_owner[job.owner] += 1

    def forget(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            self._per_owner[job.owner] -= 1

    def hold_only(self, jobs: Iterable[Job]) -> None:
        """Holds exactly ``jobs``, forgetting every other."""
        self._jobs.clear()
        self._per_owner.clear()
        for job in jobs:
            self.hold(job)

    def count_of(self, owner: str) -> int:
        """How many of the held jobs ``owner`` has."""
        return self._per_owner[owner]
