"""The gateway's domain records: jobs, their events, circuits as submitted, and queries.

These are plain immutable values; a change to a job is a new ``Job`` made with
``dataclasses.replace`` and recorded by the store together with its event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from ibmq_gateway.server.core.states import JobState

CircuitFormat = Literal["qasm3", "qasm2", "qpy"]
QueueScope = Literal["gateway", "provider"]


@dataclass(frozen=True)
class CircuitSource:
    """One circuit exactly as submitted."""

    format: CircuitFormat
    payload: bytes
    """UTF-8 text for OpenQASM, QPY bytes otherwise."""


@dataclass(frozen=True)
class RunOptions:
    """Execution options; ``None`` means the backend's default."""

    shots: int | None = None
    memory: bool | None = None
    seed_simulator: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Any other run configuration, passed through to the backend."""


ESTIMATE_NEWS_S = 2.0
"""The least move of an estimated start that is worth an event (``QueueInfo.moved_since``)."""


@dataclass(frozen=True)
class QueueInfo:
    """Where a queued job stands; every field may be unknown."""

    position: int | None = None
    """1 = the next job to start."""
    estimated_start: datetime | None = None
    estimated_complete: datetime | None = None
    scope: QueueScope = "gateway"

    def moved_since(self, before: QueueInfo | None, now: datetime | None = None) -> bool:
        """Whether this estimate is worth an event after ``before``: a new position, or a
        start moved by ``ESTIMATE_NEWS_S`` or by a tenth of the wait to it, whichever is
        more. Below that an estimate's move is noise: while a run takes longer than
        expected, every waiting job's start slips with the clock, and publishing each slip
        of a long queue every second flooded the log with events no one needed."""
        if before is None or before.position != self.position:
            return True
        if before.estimated_start is None or self.estimated_start is None:
            return True
        wait = (self.estimated_start - (now or datetime.now(UTC))).total_seconds()
        moved = abs((self.estimated_start - before.estimated_start).total_seconds())
        return moved >= max(ESTIMATE_NEWS_S, wait / 10)


@dataclass(frozen=True)
class JobFailure:
    """Why a job ended in an ERROR state."""

    code: int
    reason: str
    message: str


@dataclass(frozen=True)
class Job:
    """A job as the gateway knows it at one point of its life."""

    id: str
    backend: str
    owner: str
    state: JobState
    created: datetime
    name: str = ""
    tags: tuple[str, ...] = ()
    share_level: str = "none"
    scheduling_mode: str = "fairshare"
    experiment_id: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    run_options: RunOptions = field(default_factory=RunOptions)
    client_info: dict[str, str] = field(default_factory=dict)
    circuit_count: int = 0
    steps: dict[str, datetime] = field(default_factory=dict)
    """Step name (a ``JobState`` value) -> when the job entered it."""
    queue: QueueInfo | None = None
    error: JobFailure | None = None
    request_id: str = ""
    owner_hub: str = ""
    owner_group: str = ""
    owner_project: str = ""
    """Where the owner sat when submitting: what share levels compare against."""
    sequence: int = 0
    """Number of the last event recorded for this job (assigned by the store)."""
    revision: int = 0
    """Global number of that event (assigned by the store)."""
    provider_job_id: str = ""
    """The job's id at IBM Quantum once sent there (empty for local backends)."""

    @property
    def final(self) -> bool:
        """True when the job can no longer change state."""
        return self.state.final


class EventType(StrEnum):
    """What kind of change an event records."""

    CREATED = "CREATED"
    STATE_CHANGED = "STATE_CHANGED"
    QUEUE_INFO_CHANGED = "QUEUE_INFO_CHANGED"
    METADATA_CHANGED = "METADATA_CHANGED"


@dataclass(frozen=True)
class JobEvent:
    """One entry of the durable event log: a change and the job right after it."""

    job: Job
    type: EventType
    time: datetime

    @property
    def job_id(self) -> str:
        """The id of the job that changed."""
        return self.job.id

    @property
    def sequence(self) -> int:
        """Per-job number, gapless from 1."""
        return self.job.sequence

    @property
    def revision(self) -> int:
        """Global number, strictly increasing across all jobs."""
        return self.job.revision


@dataclass(frozen=True)
class JobQuery:
    """Which jobs a listing or a feed covers; empty fields match everything."""

    backend: str = ""
    states: frozenset[JobState] = frozenset()
    name_pattern: str = ""
    """A regular expression searched for in the job's name."""
    tags: tuple[str, ...] = ()
    tags_all: bool = False
    """True: the job must carry every tag; False: at least one."""
    created_after: datetime | None = None
    created_before: datetime | None = None
    experiment_id: str = ""
    owner: str = ""
    viewer: User | None = None
    """Only jobs this user may see (None: every job)."""

    def matches(self, job: Job) -> bool:
        """Whether ``job`` belongs to this query (the definition every store follows)."""
        return (
            (self.viewer is None or self.viewer.can_see(job))
            and (not self.backend or job.backend == self.backend)
            and (not self.states or job.state in self.states)
            and (not self.name_pattern or re.search(self.name_pattern, job.name) is not None)
            and self._tags_match(job.tags)
            and (self.created_after is None or job.created >= self.created_after)
            and (self.created_before is None or job.created <= self.created_before)
            and (not self.experiment_id or job.experiment_id == self.experiment_id)
            and (not self.owner or job.owner == self.owner)
        )

    def _tags_match(self, tags: tuple[str, ...]) -> bool:
        if not self.tags:
            return True
        present = set(tags)
        if self.tags_all:
            return all(tag in present for tag in self.tags)
        return any(tag in present for tag in self.tags)


@dataclass(frozen=True)
class RequestKey:
    """An idempotency key: who submitted, their request id, and what they sent."""

    owner: str
    request_id: str
    fingerprint: str
    """A digest of the request's payload."""


@dataclass(frozen=True)
class User:
    """A person or program the gateway knows, and where it sits in the team's tree.

    Hub, group and project are IBM Quantum's levels; share levels compare them.
    """

    name: str
    hub: str
    group: str
    project: str
    created: datetime
    admin: bool = False
    revoked: datetime | None = None
    """When the user's token stopped working, if it did."""
    expires: datetime | None = None
    """When the user's token stops working by itself (None: never)."""
    last_used: datetime | None = None
    """When the token last authenticated a call (to the minute; None: never)."""

    @property
    def active(self) -> bool:
        """Whether the user is not revoked (their token may still have expired)."""
        return self.revoked is None

    def expired_at(self, now: datetime) -> bool:
        """Whether the user's token has expired by ``now``."""
        return self.expires is not None and now >= self.expires

    def can_see(self, job: Job) -> bool:
        """Whether the job's share level lets this user see it (admins see everything)."""
        if self.admin or job.owner == self.name or job.share_level == "global":
            return True
        same_hub = job.owner_hub == self.hub
        same_group = same_hub and job.owner_group == self.group
        return {
            "hub": same_hub,
            "group": same_group,
            "project": same_group and job.owner_project == self.project,
        }.get(job.share_level, False)

    def can_change(self, job: Job) -> bool:
        """Whether this user may cancel the job or change its name and tags."""
        return self.admin or job.owner == self.name


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action: who did what to which thing, when, and from where."""

    time: datetime
    actor: str
    action: str
    """E.g. ``job.submit``, ``job.cancel``, ``job.update``, ``user.add``, ``user.revoke``."""
    target: str
    """The job id or user name acted on."""
    peer: str
    """Where the request came from (the gRPC peer, or ``cli:<host>`` for local commands)."""
    detail: dict[str, Any] = field(default_factory=dict)
