"""The job lifecycle: submit, admit, queue, run, cancel, update, and resume after a restart.

The manager is the only writer of jobs. Every change goes through ``_change`` under one
write lock, checks the lifecycle's allowed moves, and is stored with its event in one
transaction. Jobs that are not final are also held in memory (``_active``); after a
restart ``start`` reloads them and resumes each as ``recovery`` plans it. Replicas on a
shared store write the same way (a write that lost a race with another replica's is read
again and re-applied); there the leading one schedules and every one runs the jobs it
holds leases on (``leased_runs``).

Size: one class, the only writer of jobs; its steps share the write lock, the in-memory
active jobs and the scheduler, which it would otherwise have to hand around.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ibmq_gateway.server.core.errors import (
    DatabaseUnavailableError,
    FailedPreconditionError,
    InvalidArgumentError,
    RequestIdReusedError,
    job_not_found,
)
from ibmq_gateway.server.core.model import (
    AuditEntry,
    EventType,
    Job,
    JobEvent,
    JobFailure,
    JobQuery,
    QueueInfo,
    User,
)
from ibmq_gateway.server.core.states import ACTIVE_STATES, JobState
from ibmq_gateway.server.executors.base import BackendInfo, Changed, Executor
from ibmq_gateway.server.jobs import transitions
from ibmq_gateway.server.jobs.active import ActiveJobs
from ibmq_gateway.server.jobs.circuit_formats import InvalidCircuitsError
from ibmq_gateway.server.jobs.circuit_limits import CircuitLimits
from ibmq_gateway.server.jobs.circuit_parser import CircuitParser
from ibmq_gateway.server.jobs.leased_runs import LeasedRuns, holder_name
from ibmq_gateway.server.jobs.quotas import Quotas
from ibmq_gateway.server.jobs.recovery import RESTARTED_FIRST, plan_recovery
from ibmq_gateway.server.jobs.routing import BackendView, Routes
from ibmq_gateway.server.jobs.runs import Move, Outcome, Reporter, execute
from ibmq_gateway.server.jobs.scheduler import Scheduler
from ibmq_gateway.server.jobs.submission import (
    Submission,
    check_submission,
    name_violations,
    summary,
    tag_violations,
)
from ibmq_gateway.server.jobs.transitions import to_state
from ibmq_gateway.server.jobs.validation import check_fits
from ibmq_gateway.server.store import (
    ActiveLimitError,
    Change,
    DuplicateRequestError,
    JobStore,
    PageCursor,
    StaleJobError,
)

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from ibmq_gateway.server.core.settings import Settings

log = logging.getLogger(__name__)

_PRUNE_EVERY = timedelta(hours=1)
_WAKE_FLOOR_S = 0.05
# A position update writes one event per waiting job. Up to this many it goes out on every
# move; beyond, moves are folded into one update per interval, or a queue of n jobs
# draining one by one would write n^2/2 events.
_POSITIONS_AT_ONCE_UP_TO = 50
_POSITIONS_EVERY_S = 0.25
# Each update goes to every stream that follows its job, too. Past this many messages (one
# slice of the event bus) a move's updates are folded as well, spaced so that they leave
# at about _POSITION_MESSAGES_PER_S: 10,000 watchers of 20 waiting jobs, updated every
# 0.25 s, were sent more than grpc could send on this machine (about 4,000 messages a
# second to 10,000 streams) and fell a minute behind. Every watcher still gets its latest
# position within _POSITIONS_AT_MOST_EVERY_S.
_POSITION_MESSAGES_AT_ONCE_UP_TO = 500
_POSITION_MESSAGES_PER_S = 2_000
# The rows are spaced too, at about _POSITION_ROWS_PER_S: with 3,000 jobs queued at once,
# rewriting the whole queue every 0.25 s kept the store busy with positions. Spaced, the
# same 3,000 jobs drained in 10-12 s instead of 18 s, at 2.3-2.7 ms of gateway CPU per job
# instead of 4.8 (SQLite, 64 submissions in flight).
_POSITION_ROWS_PER_S = 1_000
_POSITIONS_AT_MOST_EVERY_S = 5.0
# And by what writing them takes: an update may keep the gateway writing positions at most
# this share of the time. On PostgreSQL a row cost the event loop about 1 ms, so 1,000 rows
# a second left it nothing else: 3,000 queued jobs took 98 s to drain after their
# acceptance, at 24 ms of gateway CPU per job.
_POSITIONS_BUSY_SHARE = 0.25
_ADMISSION_STEPS = (JobState.VALIDATING, JobState.VALIDATED)
_ADMITTED_FROM = frozenset({JobState.CREATING, *_ADMISSION_STEPS})
_RETRY_FIRST_S = 0.1
_RETRY_LAST_S = 2.0
_RPC_STALE_TRIES = 5
_IN_BACKGROUND = contextvars.ContextVar("in_background", default=False)
"""True in the manager's own tasks, whose writes wait out a database outage."""
_T = TypeVar("_T")


class JobManager:
    """Owns every job's lifecycle, from submission to a final state."""

    def __init__(
        self,
        store: JobStore,
        executors: Sequence[Executor],
        settings: Settings,
        audience: Callable[[Collection[str]], int] = len,
    ) -> None:
        """``audience`` says how many stream messages one event of each given job sends."""
        self._store = store
        self._audience = audience
        self._settings = settings
        self._parser = CircuitParser(
            CircuitLimits(settings.max_circuit_qubits, settings.max_circuit_operations),
            max_wait=settings.max_parse_wait,
        )
        self._scheduler = Scheduler({})
        self._routes = Routes(executors, settings, self._scheduler)
        self._listeners: list[Changed] = []
        self._unrouted: set[str] = set()
        """Jobs of backends an unreachable upstream may offer once it is back."""
        self._wakeups: dict[str, asyncio.Task[None]] = {}
        self._position_updates: dict[str, asyncio.Task[None]] = {}
        self._positions_took: dict[str, float] = {}
        """Seconds each backend's last position update took to write."""
        self._active = ActiveJobs()
        self._parsed: dict[str, list[QuantumCircuit]] = {}
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._write = asyncio.Lock()
        self._quotas = Quotas.from_settings(settings)
        self._leading = True
        """Whether this gateway runs jobs (admits, queues, runs); replicas that do not only
        store submissions, cancels and updates, which the leading one then acts on."""
        self._creating: set[str] = set()
        """Ids of jobs this gateway is storing right now (their event may come back first)."""
        self._admitting: set[str] = set()
        """Ids of jobs being admitted: a job heard of twice (its event and a takeover's
        read) is admitted once."""
        leases = store.leases(holder_name(), settings.lease_time)
        self._leased = (
            None
            if leases is None
            else LeasedRuns(
                leases, settings.lease_time, self._run_leased, self._spawn, self._backend_names
            )
        )
        """On a shared store: the runs this replica claimed. The leading replica then only
        offers each job that gets a slot (``_runs`` holds its offers), and any replica runs
        it under a lease; else the manager runs its jobs itself (``_runs`` holds the runs)."""
        self._finals_heard: set[str] | None = None
        """While a takeover reads the store: ids of the jobs heard to end meanwhile."""

    # -- start and stop ---------------------------------------------------------------

    async def start(self, *, leading: bool = True) -> None:
        """Starts the executors and reloads unfinished jobs; if ``leading``, resumes each
        where it stood (else another replica runs them)."""
        offered = await self._offered()
        for job in await self._store.jobs_in_states(ACTIVE_STATES):
            self._active.hold(job)
        for executor in self._routes.executors:
            await executor.start(self._executors_changed)
        self._routes.refresh()
        self._leading = leading
        if leading:
            await self._recover(list(self._active.values()), offered)
        if self._leased is not None:
            self._spawn(self._leased.keep())
            self._spawn(self._free_unleased_slots_periodically())
        self._spawn(self._prune_periodically())

    @property
    def leading(self) -> bool:
        """Whether this gateway schedules the jobs now (and on its own, also runs them)."""
        return self._leading

    async def lead(self) -> None:
        """Takes over running every job, as after a restart (the replica that ran them died
        or lost the database)."""
        if self._leading:
            return
        self._leading = True
        # Offers first: a run that ends between the two reads is then seen final, never as
        # a queued job nobody offered. A job heard to end during the reads is not resumed.
        self._finals_heard = set()
        try:
            offered = await self._offered()
            stored = {job.id: job for job in await self._store.jobs_in_states(ACTIVE_STATES)}
        finally:
            ended, self._finals_heard = self._finals_heard, None
        for job_id in ended:
            stored.pop(job_id, None)
        # A job stored while the read ran (a submission here, an event heard) is newer
        # than the read and already being admitted, as this replica leads: it stays.
        # Others the read misses went final meanwhile.
        arrived = {
            job_id: job
            for job_id, job in self._active.items()
            if job_id not in stored and job.state == JobState.CREATING
        }
        self._active.hold_only([*stored.values(), *arrived.values()])
        await self._recover(list(stored.values()), offered)

    def stand_by(self) -> None:
        """Stops scheduling at once, writing nothing: another replica may schedule now.

        Alone on its store it stops its runs too; runs held under a lease go on, as the
        lease, not the lead, decides who runs them.
        """
        if not self._leading:
            return
        self._leading = False
        for task in (
            *self._runs.values(),
            *self._wakeups.values(),
            *self._position_updates.values(),
        ):
            task.cancel()
        self._runs.clear()
        self._wakeups.clear()
        self._position_updates.clear()
        self._parsed.clear()
        self._scheduler.clear()

    def observe(self, events: Sequence[JobEvent]) -> None:
        """Learns of commits of every replica (shared stores), in revision order.

        Its own come back too and are skipped. The leading replica admits jobs others
        stored and stops the runs of jobs others cancelled.
        """
        for event in events:
            job, known = event.job, self._active.get(event.job_id)
            if event.job_id in self._creating or (known and job.sequence <= known.sequence):
                continue
            if known is None and job.state != JobState.CREATING:
                continue  # a final job this gateway already forgot, or one it never held
            self._hold(job, sent_ago=(datetime.now(UTC) - event.time).total_seconds())
            if job.state == JobState.CANCELLED and known and self._stops_here(job.id):
                self._spawn(self._stop_cancelled(known))
            elif self._leading and known is None:
                self._spawn(self._admit(job.id))

    def on_change(self, listener: Changed) -> None:
        """Calls ``listener`` whenever backends appear or an upstream's health changes."""
        self._listeners.append(listener)

    def upstream_problems(self) -> dict[str, str | None]:
        """Each upstream service's name → why it cannot be used now (None: it can)."""
        return {
            executor.upstream: executor.problem()
            for executor in self._routes.executors
            if executor.upstream is not None
        }

    async def stop(self) -> None:
        """Stops background work; unfinished jobs stay stored and resume on next start."""
        # Runs are spawned like every other background task, so this covers them too.
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for executor in self._routes.executors:
            await executor.close()
        self._parser.close()

    # -- commands ------------------------------------------------------------------------

    async def submit(
        self,
        submission: Submission,
        owner: User,
        request_bytes: int = 0,
        audit: Callable[[Job], AuditEntry] | None = None,
    ) -> tuple[Job, bool]:
        """Stores a new job and starts admitting it; returns (job, deduplicated).

        ``audit`` makes the record of the submission, stored with the new job (none is
        stored for a request answered by an earlier job).
        """
        info = self.backend_info(submission.backend)
        self._routes.check_reachable(submission.backend)
        check_submission(submission, info)
        self._quotas.check_request(owner, request_bytes)
        earlier = await self._earlier_submission(submission, owner.name)
        if earlier is not None:
            return earlier, True
        try:
            circuits = await self._parser.parse(submission.circuits, refuse_when_busy=True)
        except InvalidCircuitsError as error:
            raise transitions.circuits_refused(error) from None
        # What this gateway holds answers most submissions past the quota at once; the
        # store's count, in the creating transaction, holds it across replicas and races.
        self._quotas.check_submission(owner, submission, self._active.count_of(owner.name))
        job = transitions.new_job(submission, owner)
        admission = self._admission_on_creation(job, circuits)
        self._creating.add(job.id)
        try:
            events = await self._store.create_job(
                job,
                submission.circuits,
                transitions.request_key(submission, owner.name),
                active_limit=self._quotas.active_limit(owner),
                audit=audit(job) if audit else None,
                then=admission,
            )
        except DuplicateRequestError:
            # Another call with the same request id won the race; answer like a retry.
            return await self.submit(submission, owner, request_bytes, audit)
        except ActiveLimitError as error:
            raise self._quotas.past_active_limit(owner, error.active) from None
        finally:
            self._creating.discard(job.id)
        self._remember(events)
        self._go_on_after_creation(events[-1].job, circuits)
        # The job as created, with the token of its creation: a stream from there shows
        # every move, the ones committed with it included.
        return events[0].job, False

    def _admission_on_creation(self, job: Job, circuits: list[QuantumCircuit]) -> list[Change]:
        """The new job's moves through validation, for its creating transaction to write
        too; none where it is admitted afterwards.

        A job that would start at once saves a commit before it can run. A job that would
        wait gains nothing from it, and in a burst its submission would wait for its
        admission too: about 450 jobs/s accepted instead of 750 here (3,000 at once).
        Only a gateway alone on its store admits at once: on a shared store the leading
        replica admits what any replica stored, and it may have lost the lead meanwhile.
        The job is queued after the commit, never before: it must not start unstored.
        """
        if self._leased is not None or not self._leading:
            return []
        if not self._scheduler.has_room(job.backend):
            return []
        failure = check_fits(self.backend_info(job.backend), circuits)
        place = self._scheduler.position_on_arrival(
            job.backend, job.id, job.owner, job.created.timestamp()
        )
        return _chained(dataclasses.replace(job, sequence=1), _admission_moves(failure, place))

    def _go_on_after_creation(self, job: Job, circuits: list[QuantumCircuit]) -> None:
        """Queues a job stored admitted, or admits one stored as created; on a replica that
        does not lead, the leading one admits it when it hears of it."""
        if not self._leading or job.final:
            return
        self._parsed[job.id] = circuits
        if job.state == JobState.QUEUED:
            self._scheduler.enqueue(job.backend, job.id, job.owner, job.created.timestamp())
            self._spawn(self._dispatch(job.backend))
        else:
            self._spawn(self._admit(job.id))

    async def cancel(self, job_id: str, user: User) -> Job:
        """Cancels a job that is not final yet."""
        job = transitions.changeable(await self.get(job_id, user), user, "cancel")
        cancelled = await self._change(job_id, to_state(JobState.CANCELLED))
        if cancelled is None:
            raise transitions.already_final(await self.get(job_id))
        if self._stops_here(job_id):
            await self._stop_cancelled(job)
        return cancelled

    def _stops_here(self, job_id: str) -> bool:
        """Whether this replica acts on the job's cancel: it leads, or runs the job."""
        return self._leading or (self._leased is not None and self._leased.holds(job_id))

    async def _stop_cancelled(self, job: Job) -> None:
        """Takes a cancelled job off its queue or stops its run, wherever it is."""
        job_id = job.id
        if job.backend not in self._routes:  # parked until its upstream is back
            self._unrouted.discard(job_id)
            for executor in self._routes.executors:
                if executor.resumes_runs and self._leading:  # one may hold it: each checks
                    await executor.cancel(job)
            return
        self._scheduler.remove(job.backend, job_id)
        if self._stop_run(job_id):
            await self._routes.executor(job.backend).cancel(job)
        await self._dispatch(job.backend)

    def _stop_run(self, job_id: str) -> bool:
        """Stops the job's run (or its offer) here; True if this replica was running it."""
        handed = self._runs.pop(job_id, None)
        if handed is not None:
            handed.cancel()
        if self._leased is not None:
            return self._leased.stop(job_id)
        return handed is not None

    async def update(
        self, job_id: str, name: str | None, tags: tuple[str, ...] | None, user: User
    ) -> Job:
        """Changes a job's name and/or tags."""
        violations = tag_violations(tags) if tags is not None else []
        violations += name_violations(name) if name is not None else []
        if violations:
            raise InvalidArgumentError(summary(violations), violations)
        transitions.changeable(await self.get(job_id, user), user, "update")

        def rename(job: Job) -> Job:
            return dataclasses.replace(
                job,
                name=job.name if name is None else name,
                tags=job.tags if tags is None else tags,
            )

        updated = await self._change(job_id, rename, EventType.METADATA_CHANGED)
        assert updated is not None  # metadata changes are allowed in every state
        return updated

    # -- reads ---------------------------------------------------------------------------

    async def get(self, job_id: str, viewer: User | None = None) -> Job:
        """The job's latest committed snapshot; NOT_FOUND if ``viewer`` may not see it.

        Read from the store, not from memory: streams see a change at commit, and a reader
        reacting to it must find the same state here.
        """
        job = await self._store.get_job(job_id)
        if job is None or (viewer is not None and not viewer.can_see(job)):
            # A job the caller may not see is not found, exactly like one that is not there.
            raise job_not_found(job_id)
        return job

    async def list_jobs(
        self, query: JobQuery, *, limit: int, ascending: bool, after: PageCursor | None, skip: int
    ) -> list[Job]:
        """Jobs matching ``query``, one page."""
        return await self._store.list_jobs(
            query, limit=limit, ascending=ascending, after=after, skip=skip
        )

    async def result(self, job_id: str, allow_partial: bool, viewer: User) -> dict[str, Any]:
        """The stored result document of a final job."""
        job = await self.get(job_id, viewer)
        transitions.check_result_readable(job, allow_partial)
        document = await self._store.get_result(job_id)
        if document is None:
            raise FailedPreconditionError(
                f"job {job_id} ended in {job.state} before any circuit finished; "
                "there is no result",
                reason="NO_RESULT",
            )
        return document

    async def circuits_of(self, job: Job) -> list[Any]:
        """The circuits of a job the caller has read (``CircuitSource`` values)."""
        return list(await self._store.get_circuits(job.id))

    def backend_info(self, name: str) -> BackendInfo:
        """The static description of a backend."""
        return self._routes.info(name)

    def backends(self) -> list[BackendView]:
        """Every backend with its current load."""
        return [self._routes.view(name) for name in self._routes.names]

    def backend(self, name: str) -> BackendView:
        """One backend with its current load."""
        return self._routes.view(name)

    async def properties(self, name: str, as_of: datetime | None) -> dict[str, Any] | None:
        """A backend's calibration data, or None for ideal backends."""
        executor = self._routes.executor(name)
        return await asyncio.to_thread(executor.properties, name, as_of)

    # -- the lifecycle -------------------------------------------------------------------

    async def _admit(self, job_id: str) -> None:
        """CREATING -> VALIDATING -> VALIDATED -> QUEUED, or ERROR_VALIDATING_JOB.

        The moves are written in one commit once the circuits are checked: a watcher sees
        each of them, in order, one commit sooner than if each had its own.
        """
        if job_id in self._admitting:
            return
        self._admitting.add(job_id)
        try:
            await self._admit_once(job_id)
        finally:
            self._admitting.discard(job_id)

    async def _admit_once(self, job_id: str) -> None:
        job = self._active.get(job_id)
        if job is None or job.state not in _ADMITTED_FROM:
            return  # gone, or admitted already: queueing it again would run it twice
        if job.state in (JobState.CREATING, JobState.VALIDATING):
            failure = check_fits(self.backend_info(job.backend), await self._circuits(job_id))
            if failure is not None:
                await self._changes(job_id, _admission_moves(failure, None))
                return
        self._scheduler.enqueue(job.backend, job_id, job.owner, job.created.timestamp())
        place = self._scheduler.position(job.backend, job_id)
        if await self._changes(job_id, _admission_moves(None, place)) is None:
            self._scheduler.remove(job.backend, job_id)
            return
        await self._dispatch(job.backend)

    async def _dispatch(self, backend: str) -> None:
        """Starts jobs in free slots, then tells waiting jobs where they stand."""
        if not self._leading:
            return  # an admission under way when this replica stood by ends here
        for job_id in self._scheduler.start_next(backend):
            self._start_run(job_id, backend)
        self._wake_when_allowed(backend)
        await self._publish_positions(backend)

    def _wake_when_allowed(self, backend: str) -> None:
        """Dispatches again once the submission limit lets a waiting job go."""
        until = self._scheduler.throttled_until(backend)
        if until is None or backend in self._wakeups:
            return

        async def wake() -> None:
            # A floor: a window freed a moment ago must not spin the loop.
            await asyncio.sleep(max(until - time.monotonic(), _WAKE_FLOOR_S))
            del self._wakeups[backend]
            await self._dispatch(backend)

        self._wakeups[backend] = self._spawn(wake())

    def _start_run(self, job_id: str, backend: str) -> None:
        """Runs a job that got its slot, or on a shared store offers it to every replica."""
        if self._leased is None:
            self._runs[job_id] = self._spawn(self._run(job_id))
        else:
            self._runs[job_id] = self._spawn(self._offer(job_id, backend))

    async def _offer(self, job_id: str, backend: str) -> None:
        assert self._leased is not None
        try:
            await self._patiently(functools.partial(self._leased.offer, job_id, backend))
        finally:
            self._runs.pop(job_id, None)

    async def _offered(self) -> set[str] | None:
        """Ids of the jobs whose runs are offered or held (None: runs are not leased)."""
        if self._leased is None:
            return None
        return await self._patiently(self._leased.offered)

    async def _run_leased(self, job_id: str) -> float | None:
        """Runs a job whose lease this replica claimed: from the start, or where its last
        holder left it (following it at its provider, or again from the queue).

        Returns the seconds before it may be sent again if its backend refused it for now.
        """
        job = await self._patiently(functools.partial(self._store.get_job, job_id), job_id)
        if job is None or job.final:
            return None
        if job.backend not in self._routes:  # gone here since the claim: for another
            return self._settings.lease_time
        self._hold(job)
        if job.state == JobState.RUNNING and not self._routes.executor(job.backend).resumes_runs:
            # Its run was lost with the replica that held it: from the queue again.
            job = await self._change(job_id, to_state(JobState.QUEUED)) or job
        try:
            outcome = await self._execute(job)
        finally:
            self._parsed.pop(job_id, None)
        if outcome.retry_at is not None:
            return max(outcome.retry_at - time.monotonic(), 0.0)
        await self._changes(job_id, outcome.moves, outcome.result)
        return None

    async def _free_unleased_slots_periodically(self) -> None:
        """Leading on a shared store: frees the slots of runs that no lease holds any more.

        A run's slot is freed when its final state is heard; this catches what hearing
        cannot order (a run ending while a takeover read the store), so that no slot is
        lost for good, and no job whose run was dropped waits forever.
        """
        assert self._leased is not None
        while True:
            await asyncio.sleep(self._settings.lease_time / 3)
            if not self._leading:
                continue
            offering = set(self._runs)  # offers under way may not be written yet
            try:
                offered = await self._leased.offered()
            except DatabaseUnavailableError:
                continue
            for backend in self._routes.names:
                await self._free_unleased_slots(backend, offered | offering | set(self._runs))

    async def _free_unleased_slots(self, backend: str, held: set[str]) -> None:
        unleased = [job_id for job_id in self._scheduler.running(backend) if job_id not in held]
        for job_id in unleased:
            self._scheduler.finish(backend, job_id)
            job = self._active.get(job_id)
            if job is not None:  # not heard to end: it waits for a slot again
                log.info("job %s: no replica holds its run; it waits again", job_id)
                self._scheduler.enqueue(backend, job_id, job.owner, RESTARTED_FIRST)
        if unleased:
            await self._dispatch(backend)

    async def _execute(self, job: Job) -> Outcome:
        """One run of the job on its executor, its progress recorded as it comes."""
        reporter = Reporter(functools.partial(self._change, job.id), self._spawn)
        circuits = functools.partial(self._circuits, job.id)
        return await execute(self._routes.executor(job.backend), job, circuits, reporter)

    def _backend_names(self) -> list[str]:
        return self._routes.names

    async def _run(self, job_id: str) -> None:
        job = self._active.get(job_id)
        if job is None:  # cancelled (and taken off the scheduler) before it started
            return
        try:
            outcome = await self._execute(job)
        finally:
            self._runs.pop(job_id, None)
        if outcome.retry_at is not None:
            # Refused for now, not failed: back to its place in the queue, and nothing goes
            # to the backend (or any sharing its limit) before the provider allows it.
            self._scheduler.requeue(job.backend, job_id, job.owner, job.created.timestamp())
            self._scheduler.hold(job.backend, outcome.retry_at)
        else:
            self._parsed.pop(job_id, None)
            # The slot is free before the final state is committed, so whoever sees that
            # state also sees the backend's load without this job.
            self._scheduler.finish(job.backend, job_id)
            await self._changes(job_id, outcome.moves, outcome.result)
        await self._dispatch(job.backend)

    async def _publish_positions(self, backend: str) -> None:
        """Records each waiting job's new queue position, in one transaction: at once in a
        short queue few streams follow, after a delay in a long or much followed one."""
        waiting = self._scheduler.waiting_ids(backend)
        if len(waiting) > _POSITIONS_AT_ONCE_UP_TO and backend in self._position_updates:
            # The update on its way carries this move too. Every admission comes here:
            # counting a long queue's audience each time would cost n^2/2 over a burst.
            return
        messages = self._audience(waiting)
        if (
            len(waiting) <= _POSITIONS_AT_ONCE_UP_TO
            and messages <= _POSITION_MESSAGES_AT_ONCE_UP_TO
        ):
            await self._patiently(functools.partial(self._publish_positions_once, backend))
        elif backend not in self._position_updates:
            spacing = max(
                _POSITIONS_EVERY_S,
                messages / _POSITION_MESSAGES_PER_S,
                len(waiting) / _POSITION_ROWS_PER_S,
                self._positions_took.get(backend, 0.0) / _POSITIONS_BUSY_SHARE,
            )
            delay = min(_POSITIONS_AT_MOST_EVERY_S, spacing)
            soon = self._publish_positions_soon(backend, delay)
            self._position_updates[backend] = self._spawn(soon)

    async def _publish_positions_soon(self, backend: str, delay: float) -> None:
        await asyncio.sleep(delay)
        # Off the list before writing: a move during the write gets an update of its own.
        del self._position_updates[backend]
        await self._patiently(functools.partial(self._publish_positions_once, backend))

    async def _publish_positions_once(self, backend: str) -> None:
        started = time.monotonic()
        try:
            await self._write_positions(backend)
        finally:
            self._positions_took[backend] = time.monotonic() - started

    async def _write_positions(self, backend: str) -> None:
        async with self._write:
            changes = [
                Change(dataclasses.replace(job, queue=info), EventType.QUEUE_INFO_CHANGED)
                for job_id, info in self._scheduler.positions(backend).items()
                if (job := self._active.get(job_id)) is not None
                and job.state == JobState.QUEUED
                and info.moved_since(job.queue)
            ]
            if changes:
                self._remember(await self._store.apply(changes))

    async def _change(
        self,
        job_id: str,
        mutate: Callable[[Job], Job | None],
        event_type: EventType = EventType.STATE_CHANGED,
        result: dict[str, Any] | None = None,
    ) -> Job | None:
        """Applies ``mutate`` to the job's latest snapshot and stores it with its event.

        ``mutate`` returns None when the change no longer applies (the job moved on);
        then nothing is written and None is returned.
        """
        return await self._patiently(
            functools.partial(self._change_once, job_id, mutate, event_type, result), job_id
        )

    async def _change_once(
        self,
        job_id: str,
        mutate: Callable[[Job], Job | None],
        event_type: EventType,
        result: dict[str, Any] | None,
    ) -> Job | None:
        async with self._write:
            current = self._active.get(job_id) or await self._store.get_job(job_id)
            changed = mutate(current) if current is not None else None
            if changed is None:
                return None
            events = await self._store.apply([Change(changed, event_type, result)])
            self._remember(events)
            return events[0].job

    async def _changes(
        self, job_id: str, moves: Sequence[Move], result: dict[str, Any] | None = None
    ) -> Job | None:
        """Applies each of ``moves`` that still applies, in order, as STATE_CHANGED events
        of one commit, ``result`` stored with the last; returns the job after the last
        (None if none applied)."""
        write = functools.partial(self._changes_once, job_id, moves, result)
        return await self._patiently(write, job_id)

    async def _changes_once(
        self, job_id: str, moves: Sequence[Move], result: dict[str, Any] | None
    ) -> Job | None:
        async with self._write:
            job = self._active.get(job_id) or await self._store.get_job(job_id)
            changes = _chained(job, moves, result) if job is not None else []
            if not changes:
                return None
            events = await self._store.apply(changes)
            self._remember(events)
            return events[-1].job

    async def _patiently(self, write: Callable[[], Awaitable[_T]], job_id: str = "") -> _T:
        """Runs ``write``; in background work, again and again while the database is away.

        An RPC's write fails at once (UNAVAILABLE: its caller retries). Background work
        (admission, runs, positions) has no caller to retry it, and a job must not stay
        stuck where an outage found it. A write whose commit was lost with its connection
        finds the job moved on (StaleJobError): the job is read again and the change
        re-applied, or dropped if it no longer applies.
        """
        delay = _RETRY_FIRST_S
        for attempt in itertools.count(1):
            try:
                return await write()
            except (DatabaseUnavailableError, StaleJobError) as error:
                # Another replica's write can also make this one stale; an RPC re-reads
                # and tries again a few times, as background work always does.
                stale_again = isinstance(error, StaleJobError) and attempt < _RPC_STALE_TRIES
                if not (_IN_BACKGROUND.get() or stale_again):
                    raise
                log.warning("a job write failed, retrying in %.1f s: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_LAST_S)
                if job_id:
                    with contextlib.suppress(DatabaseUnavailableError):
                        self._hold(await self._store.get_job(job_id))
        raise AssertionError("unreachable")

    def _remember(self, events: Sequence[JobEvent]) -> None:
        for event in events:
            self._hold(event.job)

    def _hold(self, job: Job | None, sent_ago: float = 0.0) -> None:
        """Keeps ``job``'s latest snapshot while it is active, and forgets it once final.

        ``sent_ago``: how old the snapshot is, should it be the first to show the job sent.
        """
        if job is None:
            return
        self._count_send(job, sent_ago)
        if job.final:
            self._active.forget(job.id)
            self._free_leased_slot(job)
            if self._finals_heard is not None:
                self._finals_heard.add(job.id)
        else:
            self._active.hold(job)

    def _count_send(self, job: Job, seconds_ago: float) -> None:
        """Counts a job seen sent upstream against the team's submission limit, unless
        this replica's scheduler took its turn for it: so a replica that takes over does
        not send past the limit within the same minute, whoever sent before."""
        known = self._active.get(job.id)
        if not job.provider_job_id or (known is not None and known.provider_job_id):
            return
        if not (self._leading and self._scheduler.took_turn(job.backend, job.id)):
            self._routes.count_submission(seconds_ago)

    def _free_leased_slot(self, job: Job) -> None:
        """On a shared store the leading replica hears that a run ended from its final
        state, wherever it ran: its slot goes to the next job."""
        leads_leases = self._leading and self._leased is not None
        if leads_leases and self._scheduler.finish(job.backend, job.id):
            self._spawn(self._dispatch(job.backend))

    async def _circuits(self, job_id: str) -> list[QuantumCircuit]:
        if job_id not in self._parsed:
            sources = await self._store.get_circuits(job_id)
            self._parsed[job_id] = await self._parser.parse(sources)
        return self._parsed[job_id]

    async def _earlier_submission(self, submission: Submission, owner: str) -> Job | None:
        if not submission.request_id:
            return None
        found = await self._store.find_request(owner, submission.request_id)
        if found is None:
            return None
        key, job_id = found
        if key.fingerprint != submission.fingerprint():
            raise RequestIdReusedError(submission.request_id, job_id)
        return await self.get(job_id)

    # -- recovery ------------------------------------------------------------------------

    async def _recover(self, jobs: list[Job], offered: set[str] | None = None) -> None:
        """Resumes unfinished jobs after a restart, as ``recovery`` plans it; ``offered``:
        the jobs whose runs are offered or held, when runs are leased."""
        plan = plan_recovery(
            jobs,
            self._routes.__contains__,
            lambda name: self._routes.executor(name).resumes_runs,
            offered,
        )
        for job in plan.unrouted:
            await self._park_or_fail(job)
        for job in plan.leased:
            self._unrouted.discard(job.id)
            self._scheduler.resume(job.backend, job.id, job.owner)
            self._start_run(job.id, job.backend)  # an offer made already stands unchanged
        for job in plan.followed:
            self._unrouted.discard(job.id)
            self._scheduler.resume(job.backend, job.id, job.owner)
            self._runs[job.id] = self._spawn(self._run(job.id))
        for job in plan.queued:
            self._unrouted.discard(job.id)
            self._scheduler.enqueue(job.backend, job.id, job.owner, job.created.timestamp())
        for job in plan.unadmitted:
            self._unrouted.discard(job.id)
            self._spawn(self._admit(job.id))
        for rank, job in enumerate(plan.interrupted):
            self._unrouted.discard(job.id)
            self._scheduler.enqueue(job.backend, job.id, job.owner, RESTARTED_FIRST + rank)
            await self._change(job.id, to_state(JobState.QUEUED))
        for backend in self._routes.names:
            await self._dispatch(backend)

    async def _park_or_fail(self, job: Job) -> None:
        if self._routes.problem() is None:
            self._unrouted.discard(job.id)
            await self._change(job.id, transitions.backend_gone(job))
        else:
            self._unrouted.add(job.id)

    async def _executors_changed(self) -> None:
        """New backends take their waiting jobs; listeners (health) hear of the change."""
        self._routes.refresh()
        # Slots may have changed (a cluster's workers came or went): fill or hold them.
        for backend in self._routes.names:
            await self._dispatch(backend)
        # Each job leaves _unrouted as it is recovered (or parks again).
        parked = [self._active[job_id] for job_id in self._unrouted if job_id in self._active]
        if parked:
            await self._recover(parked, await self._offered())
        for listener in self._listeners:
            await listener()

    async def _prune_periodically(self) -> None:
        while True:
            cutoff = datetime.now(UTC) - timedelta(seconds=self._settings.event_retention)
            with contextlib.suppress(Exception):
                await self._store.prune_events(cutoff)
            await asyncio.sleep(_PRUNE_EVERY.total_seconds())

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        context = contextvars.copy_context()
        context.run(_IN_BACKGROUND.set, True)
        task = asyncio.get_running_loop().create_task(coroutine, context=context)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_crash)
        return task


def _admission_moves(failure: JobFailure | None, place: QueueInfo | None) -> tuple[Move, ...]:
    """A created job's moves: to QUEUED at ``place``, or to ERROR_VALIDATING_JOB for
    ``failure`` (its circuits do not fit the backend)."""
    if failure is not None:
        return to_state(JobState.VALIDATING), to_state(JobState.ERROR_VALIDATING_JOB, failure)
    return (*(to_state(step) for step in _ADMISSION_STEPS), to_state(JobState.QUEUED, queue=place))


def _chained(job: Job, moves: Sequence[Move], result: dict[str, Any] | None = None) -> list[Change]:
    """A change for each of ``moves`` that applies, in order, each made from the job as the
    one before leaves it (the store numbers each change from the one before it); the last
    move's carries ``result``."""
    changes = []
    for index, move in enumerate(moves, start=1):
        changed = move(job)
        if changed is not None:
            last = index == len(moves)
            changes.append(Change(changed, EventType.STATE_CHANGED, result if last else None))
            job = dataclasses.replace(changed, sequence=changed.sequence + 1)
    return changes


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
