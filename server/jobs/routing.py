"""Which executor runs each backend, how many of its jobs run at once, and its live view.

Backends can appear after start: IBM's devices are known once the gateway has reached IBM,
which may take several tries. Every backend that leaves the machine (IBM's devices) shares
one submission rate limit, because IBM counts submissions per API key, not per device.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.errors import backend_not_found, upstream_unavailable
from ibmq_gateway.server.jobs.ratelimit import RateLimit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibmq_gateway.server.core.settings import Settings
    from ibmq_gateway.server.executors.base import BackendInfo, Executor
    from ibmq_gateway.server.jobs.scheduler import Scheduler

SUBMISSION_WINDOW_S = 60.0


@dataclasses.dataclass(frozen=True)
class BackendView:
    """A backend with what the gateway knows about its load right now."""

    info: BackendInfo
    pending_jobs: int
    concurrency: int
    estimated_wait: float
    average_run: float
    operational: bool = True
    status_msg: str = "active"


class Routes:
    """The backends on offer, each with the executor that runs it."""

    def __init__(
        self, executors: Sequence[Executor], settings: Settings, scheduler: Scheduler
    ) -> None:
        self._executors = list(executors)
        self._settings = settings
        self._scheduler = scheduler
        self._table: dict[str, tuple[BackendInfo, Executor]] = {}
        self._remote_submissions = RateLimit(
            settings.ibm_submissions_per_minute, SUBMISSION_WINDOW_S
        )
        self.refresh()

    def refresh(self) -> list[str]:
        """Takes in backends the executors offer now; returns the names that are new."""
        added = []
        for executor in self._executors:
            for info in executor.backends():
                if info.name not in self._table:
                    added.append(info.name)
                self._table[info.name] = (info, executor)
                limit = None if info.local else self._remote_submissions
                self._scheduler.add_backend(info.name, self.concurrency_of(info.name), limit)
        return added

    def count_submission(self, seconds_ago: float) -> None:
        """Counts a job sent upstream without a turn of this replica's scheduler (another
        replica's, or sent here under a lease) against the team's submission limit."""
        limit = self._remote_submissions
        limit.record(limit.now() - max(seconds_ago, 0.0))

    def __contains__(self, name: str) -> bool:
        return name in self._table

    @property
    def names(self) -> list[str]:
        """Every backend on offer, in the executors' order."""
        return list(self._table)

    @property
    def executors(self) -> list[Executor]:
        """Every executor, whether it offers backends yet or not."""
        return list(self._executors)

    def info(self, name: str) -> BackendInfo:
        """The static description of a backend.

        Raises:
            UnavailableError: the backend is unknown while an upstream is out of reach, so
                it may be one of that upstream's.
            NotFoundError: the backend is not offered.
        """
        route = self._table.get(name)
        if route is not None:
            return route[0]
        problem = self.problem()
        if problem is not None:
            raise upstream_unavailable(
                f"backend {name!r} is not offered now: {problem}; "
                f"available: {', '.join(sorted(self._table))}"
            )
        raise backend_not_found(name, list(self._table))

    def executor(self, name: str) -> Executor:
        """The executor that runs ``name`` (which must be on offer)."""
        self.info(name)
        return self._table[name][1]

    def check_reachable(self, name: str) -> None:
        """Refuses new jobs for a backend whose upstream cannot be used now.

        Raises:
            UnavailableError: the backend's upstream has a problem (the message says which).
        """
        executor = self.executor(name)
        problem = executor.problem()
        if problem is not None and not executor.waits_out_problems:
            raise upstream_unavailable(f"backend {name!r} cannot take jobs now: {problem}")

    def problem(self) -> str | None:
        """Why some backends may be missing or refused now (an upstream's problem), if so."""
        problems = [problem for ex in self._executors if (problem := ex.problem()) is not None]
        return "; ".join(problems) if problems else None

    def concurrency_of(self, name: str) -> int:
        """How many of the backend's jobs run (or wait upstream) at once.

        An executor that knows its capacity (a cluster's worker threads) sets it; a
        setting for the backend may only lower it.
        """
        info, executor = self._table[name]
        override = self._settings.backend_concurrency.get(name)
        capacity = executor.capacity(name)
        if capacity is not None:
            return capacity if override is None else min(override, capacity)
        if override is not None:
            return override
        return self._settings.concurrency if info.local else self._settings.ibm_in_flight

    def view(self, name: str) -> BackendView:
        """One backend with its load: the gateway's queue, plus the provider's if remote."""
        info = self.info(name)
        executor = self._table[name][1]
        upstream = executor.status(name)
        view = BackendView(
            info=info,
            pending_jobs=self._scheduler.pending(name),
            concurrency=self.concurrency_of(name),
            estimated_wait=self._scheduler.estimated_wait(name),
            average_run=self._scheduler.average_run(name),
        )
        if upstream is None:
            return view
        return dataclasses.replace(
            view,
            # The gateway's jobs at IBM are in IBM's queue length already.
            pending_jobs=self._scheduler.waiting(name) + upstream.queue_length,
            estimated_wait=view.estimated_wait + (upstream.wait_seconds or 0.0),
            operational=upstream.operational,
            status_msg=upstream.message,
        )
