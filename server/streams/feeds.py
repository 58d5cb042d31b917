"""Streams as tails of the durable event log, without gap or duplicate.

A feed subscribes to live events first, then replays the log from the client's resume
point, then switches to the live buffer, skipping what the replay already sent. Every item
carries a resume token; idle feeds send heartbeats; feeds end after a maximum age (the
client resumes) and when their reader falls behind (``SlowConsumerError``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ibmq_gateway.server.core.errors import SlowConsumerError, UnavailableError, job_not_found
from ibmq_gateway.server.core.model import JobEvent, JobQuery, User
from ibmq_gateway.server.core.states import ACTIVE_STATES
from ibmq_gateway.server.store import JobStore
from ibmq_gateway.server.streams import cursors
from ibmq_gateway.server.streams.events import EventBus, Subscription

_REPLAY_PAGE = 500
# A WatchJobs without a token starts with at most this many active jobs.
_INITIAL_LIMIT = 10_000


@dataclass(frozen=True)
class FeedItem:
    """One message of a stream: an event, or a heartbeat when ``event`` is None."""

    token: str
    event: JobEvent | None


@dataclass(frozen=True)
class FeedLimits:
    """How long feeds live and how often they speak when idle."""

    heartbeat: float
    max_age: float


class Feeds:
    """Builds the WatchJob and WatchJobs streams."""

    def __init__(self, store: JobStore, bus: EventBus, max_age: float) -> None:
        self._store = store
        self._bus = bus
        self._max_age = max_age

    def token(self, revision: int) -> str:
        """The resume token for a position in the log."""
        return cursors.encode(self._store.epoch, revision)

    async def current_token(self) -> str:
        """The resume token for the end of the log as it stands now."""
        return self.token(await self._store.latest_revision())

    async def job(
        self, job_id: str, token: str, heartbeat: float, viewer: User | None = None
    ) -> AsyncIterator[FeedItem]:
        """One job's events: its current state (or what followed ``token``), then changes.

        Ends after the job's final event.

        Raises:
            NotFoundError: no such job.
            ResumeTokenExpiredError / InvalidArgumentError: unusable token.
        """
        subscription = self._bus.subscribe(job_id=job_id)
        try:
            latest = await self._latest_visible(job_id, viewer)
            backlog, last = await self._job_backlog(latest, token)
            # A job final when the stream began has had its last event replayed (or the
            # token is past it): nothing more will come.
            ended = latest.job.final or bool(backlog and backlog[-1].job.final)
            for event in backlog:
                last = event.revision
                yield self._item(event)
                del event
            # This frame lives as long as the stream: it keeps no job snapshot meanwhile.
            del latest, backlog
            if ended:
                return
            limits = FeedLimits(heartbeat, self._max_age)
            async for item in self._live(subscription, last, limits, _is_final):
                yield item
        finally:
            subscription.close()

    async def jobs(self, query: JobQuery, token: str, heartbeat: float) -> AsyncIterator[FeedItem]:
        """Every event of the jobs ``query`` matches.

        Without a token it starts with the current state of each matching job that is not
        final; with one, with every matching event after it.
        """
        subscription = self._bus.subscribe(accepts=lambda event: query.matches(event.job))
        seen: dict[str, int] = {}
        try:
            last = await self._start_revision(token)
            replay = self._replay(last, query) if token else self._current(query)
            async for event in replay:
                seen[event.job_id] = event.sequence
                if token:
                    last = event.revision
                yield self._item(event)
            limits = FeedLimits(heartbeat, self._max_age)
            async for item in self._live(subscription, last, limits, lambda _: False, seen):
                yield item
        finally:
            subscription.close()

    async def _latest_visible(self, job_id: str, viewer: User | None) -> JobEvent:
        """The job's latest event (its current state); NOT_FOUND if ``viewer`` may not see it.

        Who may see a job never changes after it is submitted, so checking once, here,
        covers the whole stream.
        """
        latest = await self._store.latest_event(job_id)
        if latest is None or (viewer is not None and not viewer.can_see(latest.job)):
            raise job_not_found(job_id)
        return latest

    async def _job_backlog(self, latest: JobEvent, token: str) -> tuple[list[JobEvent], int]:
        """What to send before going live, and the revision the live part continues from."""
        if not token:
            return [latest], latest.revision
        revision = await self._start_revision(token)
        return [e async for e in self._replay(revision, None, latest.job_id)], revision

    async def _start_revision(self, token: str) -> int:
        if not token:
            return await self._store.latest_revision()
        return cursors.decode(
            token,
            epoch=self._store.epoch,
            oldest_retained=await self._store.oldest_retained_revision(),
        )

    async def _replay(
        self, after: int, query: JobQuery | None, job_id: str | None = None
    ) -> AsyncIterator[JobEvent]:
        while True:
            page = await self._store.events_after(after, job_id=job_id, limit=_REPLAY_PAGE)
            for event in page:
                if query is None or query.matches(event.job):
                    yield event
            if len(page) < _REPLAY_PAGE:
                return
            after = page[-1].revision

    async def _current(self, query: JobQuery) -> AsyncIterator[JobEvent]:
        states = (query.states or ACTIVE_STATES) & ACTIVE_STATES
        if not states:
            return
        active = dataclasses.replace(query, states=states)
        jobs = await self._store.list_jobs(active, limit=_INITIAL_LIMIT, ascending=True)
        events = [await self._store.latest_event(job.id) for job in jobs]
        for event in sorted((e for e in events if e), key=lambda e: e.revision):
            yield event

    async def _live(
        self,
        subscription: Subscription,
        last: int,
        limits: FeedLimits,
        ends: Callable[[JobEvent], bool],
        seen: dict[str, int] | None = None,
    ) -> AsyncIterator[FeedItem]:
        deadline = time.monotonic() + limits.max_age
        while (remaining := deadline - time.monotonic()) > 0:
            event = await subscription.next(min(limits.heartbeat, remaining))
            if subscription.closed:
                raise UnavailableError(
                    "the gateway is shutting down; resume with the last resume_token",
                    reason="SHUTTING_DOWN",
                    retry_after=1.0,
                )
            if subscription.overflowed:
                raise SlowConsumerError(
                    "this stream fell too far behind; resume with the last resume_token",
                    reason="SLOW_CONSUMER",
                    retry_after=1.0,
                )
            if event is None:
                last = max(last, self._bus.last_revision)
                yield self._heartbeat(last)
            elif event.revision > last and event.sequence > (seen or {}).get(event.job_id, 0):
                last = event.revision
                yield self._item(event)
                if ends(event):
                    return
        yield self._heartbeat(max(last, self._bus.last_revision))

    def _item(self, event: JobEvent) -> FeedItem:
        return FeedItem(self.token(event.revision), event)

    def _heartbeat(self, revision: int) -> FeedItem:
        return FeedItem(self.token(revision), None)


def _is_final(event: JobEvent) -> bool:
    return event.job.final
