"""The one storage interface: jobs, their event log, results and idempotency keys.

Every implementation passes the same contract tests (``tests/store/``). Writes that change
a job append its event in the same transaction, so the log and the jobs never disagree.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ibmq_gateway.server.core.model import (
    AuditEntry,
    CircuitSource,
    EventType,
    Job,
    JobEvent,
    JobQuery,
    RequestKey,
    User,
)
from ibmq_gateway.server.core.states import JobState


class StoreError(Exception):
    """Base of the store's own errors."""


class StaleJobError(StoreError):
    """The job changed since the caller read it (its sequence moved on)."""


class DuplicateRequestError(StoreError):
    """An idempotency key with this owner and request id exists already."""

    def __init__(self, existing: RequestKey, job_id: str) -> None:
        super().__init__(f"request {existing.request_id!r} already made job {job_id}")
        self.existing = existing
        self.job_id = job_id


class ActiveLimitError(StoreError):
    """The owner has as many jobs queued or running as a new job's ``active_limit`` allows."""

    def __init__(self, owner: str, active: int) -> None:
        super().__init__(f"{owner} has {active} jobs queued or running")
        self.active = active


class DuplicateUserError(StoreError):
    """A user with this name exists already."""


@dataclass(frozen=True)
class Change:
    """One job write: the new snapshot, what kind of change it is, and an optional result.

    ``job.sequence`` must be the sequence the caller read; the store checks it (optimistic
    concurrency), then assigns the next sequence and revision.
    """

    job: Job
    type: EventType
    result: dict[str, Any] | None = None
    """A result document to store with this change (a job's final result, or partial)."""


@dataclass(frozen=True)
class PageCursor:
    """Where the previous page of a listing ended."""

    created: datetime
    job_id: str


class RunLeases(Protocol):
    """The leases on runs of one replica, ``holder``, in a shared store.

    The scheduling replica offers each job that gets a slot; any replica claims an offer
    (oldest first, none twice) and holds its lease while it renews it. A lease not renewed
    within its time is free again, so a replica that died has its runs taken over. Times
    are the database's: replicas' clocks may differ.
    """

    async def offer(self, job_id: str, backend: str) -> None:
        """Offers the job's run (nothing happens if it is offered or held already)."""

    async def claim(self, backends: Sequence[str]) -> str | None:
        """Takes the oldest free run of one of ``backends``: offered and due, or its lease
        expired. Returns its job id, or None if there is none."""

    async def renew(self) -> set[str]:
        """Extends every lease this replica holds; returns their job ids (a lease another
        replica took meanwhile is not among them)."""

    async def postpone(self, job_id: str, seconds: float) -> None:
        """Gives the run back, to be claimed again ``seconds`` from now (it was refused)."""

    async def release(self, job_id: str) -> None:
        """Ends this replica's lease and the offer with it (the run ended)."""

    async def offered(self) -> set[str]:
        """Ids of every job offered or held, by any replica."""

    def offers(self) -> AsyncGenerator[None, None]:
        """Yields whenever some replica may have offered (or given back) a run, and after
        each reconnect of its own (an offer made while it was deaf is claimed then)."""


class JobStore(Protocol):
    """Durable state of the gateway."""

    @property
    def epoch(self) -> str:
        """A random id made when the store was first created.

        Resume tokens carry it, so a token from another store (or one rebuilt from
        scratch) is recognised as foreign rather than silently misread.
        """

    async def open(self) -> None:
        """Creates the schema if needed and makes the store ready."""

    async def close(self) -> None:
        """Releases connections; later calls fail."""

    async def create_job(
        self,
        job: Job,
        circuits: Sequence[CircuitSource],
        key: RequestKey | None,
        *,
        active_limit: int | None = None,
        audit: AuditEntry | None = None,
        then: Sequence[Change] = (),
    ) -> list[JobEvent]:
        """Stores a new job, its circuits, its CREATED event and its idempotency key at once;
        returns the CREATED event, then one event for each of ``then``.

        ``job.sequence`` and ``job.revision`` are ignored; the CREATED event's job carries
        sequence 1 and the assigned revision. With ``active_limit``, the job is stored only
        if its owner has fewer active jobs than that, counted in the same transaction, so
        that the limit holds across every gateway writing to the store. ``audit``, the
        record of the submission, is written in the same transaction: a job is never
        stored without it, nor it without the job, and the submission waits for one commit.
        ``then`` are changes of the new job (the first read at sequence 1), written after
        it in the same transaction, as ``apply`` writes them: its first moves, which no
        one can tell apart from moves committed a moment later, cost no commit of their own.

        Raises:
            DuplicateRequestError: ``key`` (owner, request id) exists already; nothing is
                written.
            ActiveLimitError: the owner has ``active_limit`` active jobs; nothing is written.
        """

    async def find_request(self, owner: str, request_id: str) -> tuple[RequestKey, str] | None:
        """The stored key and job id for an earlier request, or None."""

    async def apply(self, changes: Sequence[Change]) -> list[JobEvent]:
        """Writes the changes and one event each, in one transaction, in the given order.

        Returns the events (with each job's new sequence and revision) in the same order.

        Raises:
            StaleJobError: a job's stored sequence differs from ``change.job.sequence``;
                nothing is written.
            KeyError: a job does not exist.
        """

    async def get_job(self, job_id: str) -> Job | None:
        """The job's latest snapshot, or None."""

    async def get_circuits(self, job_id: str) -> list[CircuitSource]:
        """The job's circuits in submission order (empty for an unknown job)."""

    async def get_result(self, job_id: str) -> dict[str, Any] | None:
        """The stored result document, or None."""

    async def list_jobs(
        self,
        query: JobQuery,
        *,
        limit: int,
        ascending: bool = False,
        after: PageCursor | None = None,
        skip: int = 0,
    ) -> list[Job]:
        """Jobs for which ``query.matches(job)``, ordered by (created, id).

        Newest first unless ``ascending``. ``after`` continues past the given job (keyset
        pagination); ``skip`` drops that many matching jobs first.
        """

    async def jobs_in_states(self, states: frozenset[JobState]) -> list[Job]:
        """Every job in one of ``states``, oldest first (for recovery after a restart)."""

    async def events_after(
        self, revision: int, *, job_id: str | None = None, limit: int = 500
    ) -> list[JobEvent]:
        """Events with a revision above ``revision`` (of one job if given), oldest first."""

    async def latest_event(self, job_id: str) -> JobEvent | None:
        """The job's most recent event (its current state), or None."""

    async def ping(self) -> None:
        """Returns once the database answers.

        Raises:
            DatabaseUnavailableError: it cannot be reached now.
        """

    @property
    def shared(self) -> bool:
        """Whether other gateways (replicas) write to this store too."""

    async def lead(self) -> bool:
        """Whether this gateway schedules the jobs now, taking the part if no replica has it.

        Asked again and again: the answer changes when a replica dies or loses the database.

        Raises:
            DatabaseUnavailableError: the database cannot be reached now.
        """

    def commits(self) -> AsyncGenerator[None, None]:
        """Yields whenever another replica may have committed (``shared`` stores only)."""

    def leases(self, holder: str, seconds: float) -> RunLeases | None:
        """The run leases of replica ``holder``, each ``seconds`` long (None: the store is
        not shared, and this gateway runs every job itself)."""

    async def latest_revision(self) -> int:
        """The highest revision ever assigned (0 for an empty log)."""

    async def oldest_retained_revision(self) -> int:
        """Events at or above this revision are still in the log (1 if nothing was pruned)."""

    async def prune_events(self, before: datetime) -> int:
        """Deletes events older than ``before``, keeping every job's latest event.

        Returns how many were deleted.
        """

    async def add_user(self, user: User, token_hash: str) -> None:
        """Stores a user with the digest of their token.

        Raises:
            DuplicateUserError: the name is taken (revoked users keep theirs); nothing is
                written.
        """

    async def user_by_token(self, token_hash: str) -> User | None:
        """The user whose token has this digest (revoked ones too), or None."""

    async def list_users(self) -> list[User]:
        """Every user, by name."""

    async def revoke_user(self, name: str, at: datetime) -> bool:
        """Stops a user's token from working; False if no such active user."""

    async def rotate_token(self, name: str, token_hash: str, expires: datetime | None) -> bool:
        """Gives an active user a new token digest (the old token stops working) and expiry.

        Returns False if there is no such active user; nothing is written then.
        """

    async def record_use(self, name: str, at: datetime) -> None:
        """Notes when the user's token last authenticated a call (``User.last_used``)."""

    async def add_audit(self, entry: AuditEntry) -> None:
        """Records an action."""

    async def list_audit(self, *, limit: int, actor: str = "") -> list[AuditEntry]:
        """The most recent actions (of ``actor`` if given), newest first."""
