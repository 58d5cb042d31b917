"""Restart recovery: what becomes of each unfinished job the store holds at start.

A job whose backend is not offered waits while an upstream may still bring it, else ends in
ERROR; one already at its provider is followed, never sent again; one that was running here
goes back to the front of the queue, in the order the interrupted jobs started; a queued job
keeps its place; the rest go through admission again. The README's "Restarts" tells users.

Replicas on a shared store run jobs under leases: there a job that has started, or whose
run is offered, is left to the lease; whichever replica claims it follows or reruns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.states import JobState

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from ibmq_gateway.server.core.model import Job

RESTARTED_FIRST = -1e18
"""Queue order of jobs interrupted by a restart: before any submission time."""


@dataclass
class RecoveryPlan:
    """Unfinished jobs sorted by what recovery does with them, each list oldest first."""

    unrouted: list[Job] = field(default_factory=list)
    """Their backend is not offered (now): they wait or end in ERROR."""
    followed: list[Job] = field(default_factory=list)
    """At their provider: followed until final."""
    interrupted: list[Job] = field(default_factory=list)
    """Were running on this machine: queued again, ahead of every other job."""
    queued: list[Job] = field(default_factory=list)
    """Were queued: queued again at their place."""
    unadmitted: list[Job] = field(default_factory=list)
    """Were still being admitted: admitted again."""
    leased: list[Job] = field(default_factory=list)
    """Started or offered under a lease: they keep their slot, and run where claimed."""


def plan_recovery(
    jobs: Iterable[Job],
    offered: Callable[[str], bool],
    resumes_runs: Callable[[str], bool],
    leased: Collection[str] | None = None,
) -> RecoveryPlan:
    """Sorts ``jobs``; ``offered`` and ``resumes_runs`` tell of each backend (by name).

    ``leased``: ids of the jobs whose runs are offered or held, when runs are leased.
    """
    plan = RecoveryPlan()
    for job in sorted(jobs, key=lambda j: j.created):
        if not offered(job.backend):
            plan.unrouted.append(job)
        elif leased is not None and (job.id in leased or was_sent(job)):
            plan.leased.append(job)
        elif resumes_runs(job.backend) and was_sent(job):
            plan.followed.append(job)
        elif job.state == JobState.RUNNING:
            plan.interrupted.append(job)
        elif job.state == JobState.QUEUED:
            plan.queued.append(job)
        else:
            plan.unadmitted.append(job)
    return plan


def was_sent(job: Job) -> bool:
    """Whether the job reached its provider (a job that was not is sent from the queue)."""
    return bool(job.provider_job_id) or job.state == JobState.RUNNING
