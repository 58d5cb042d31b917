"""Live fan-out of committed events to the streams that follow them.

The store calls ``EventBus.publish_threadsafe`` right after each commit, from its writer
thread; ``call_soon_threadsafe`` keeps commit order. Each subscription has a bounded
buffer: a reader that falls behind is marked overflowed and its stream is ended so that it
resumes from the durable log instead of holding memory.

Events reach their subscriptions in slices of ``OFFERS_PER_TURN``, in commit order: a
change of a job that 10,000 streams follow woke all of them in one turn of the event loop,
and every other call on the gateway waited for their sends.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from ibmq_gateway.server.core.model import JobEvent

OFFERS_PER_TURN = 500
"""Subscriptions offered an event in one turn of the event loop, before other work."""


class Subscription:
    """One stream's view of live events."""

    def __init__(
        self, bus: EventBus, job_id: str | None, accepts: Callable[[JobEvent], bool], size: int
    ):
        self.job_id = job_id
        self.overflowed = False
        self.closed = False
        self._bus = bus
        self._accepts = accepts
        # A deque and a future made only while the reader waits, not an asyncio.Queue: a
        # queue's four deques cost 3 KiB, and a gateway holds one subscription per stream.
        self._buffer: deque[JobEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._size = size

    def offer(self, event: JobEvent) -> None:
        """Buffers ``event`` if this subscription wants it."""
        if self.overflowed or not self._accepts(event):
            return
        if len(self._buffer) >= self._size:
            self.overflowed = True
        else:
            self._buffer.append(event)
        self._wake()

    def end(self) -> None:
        """Marks the subscription closed and wakes its reader."""
        self.closed = True
        self._wake()

    async def next(self, timeout: float) -> JobEvent | None:
        """The next buffered event, or None after ``timeout`` seconds with none buffered."""
        if self.closed:
            return None
        if not self._buffer:
            await self._wait(timeout)
        # The wait can run out just as an event comes in: that event is returned, since
        # silence now would let a heartbeat's token claim the stream is past it.
        return self._buffer.popleft() if self._buffer else None

    def close(self) -> None:
        """Stops receiving events."""
        self._bus.unsubscribe(self)

    async def _wait(self, timeout: float) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            pass
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass
class _Delivery:
    """An event on its way to the subscriptions that wanted it when it was published."""

    event: JobEvent
    targets: list[Subscription]
    offered: int = 0

    def offer(self, budget: int) -> int:
        """Offers the event to up to ``budget`` more targets; returns how many it offered."""
        end = min(len(self.targets), self.offered + budget)
        for subscription in self.targets[self.offered : end]:
            subscription.offer(self.event)
        count, self.offered = end - self.offered, end
        return count

    @property
    def done(self) -> bool:
        return self.offered == len(self.targets)


class EventBus:
    """Routes each event to the subscriptions of its job and to the feed subscriptions."""

    def __init__(self, buffer_size: int) -> None:
        self.last_revision = 0
        """The highest revision published so far."""
        self._buffer_size = buffer_size
        self._by_job: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._feeds: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pending: deque[_Delivery] = deque()
        self._delivering = False

    def close(self) -> None:
        """Ends every subscription, now and later (the gateway is shutting down)."""
        self._closed = True
        for subscription in (*self._feeds, *(s for group in self._by_job.values() for s in group)):
            subscription.end()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sets the loop that ``publish_threadsafe`` delivers to."""
        self._loop = loop

    def subscribe(
        self, job_id: str | None = None, accepts: Callable[[JobEvent], bool] = lambda _: True
    ) -> Subscription:
        """A subscription to one job's events, or to every event ``accepts`` takes."""
        subscription = Subscription(self, job_id, accepts, self._buffer_size)
        if self._closed:
            subscription.end()
        if job_id is None:
            self._feeds.add(subscription)
        else:
            self._by_job[job_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forgets a subscription (idempotent)."""
        if subscription.job_id is None:
            self._feeds.discard(subscription)
            return
        followers = self._by_job.get(subscription.job_id)
        if followers is not None:
            followers.discard(subscription)
            if not followers:
                del self._by_job[subscription.job_id]

    def publish(self, events: list[JobEvent]) -> None:
        """Delivers events (in commit order) to every interested subscription.

        Up to ``OFFERS_PER_TURN`` offers are made at once; the rest follow in later turns
        of the event loop, after the events published before them.
        """
        for event in events:
            targets = [*self._by_job.get(event.job_id, ()), *self._feeds]
            self._pending.append(_Delivery(event, targets))
        if not self._delivering:
            self._deliver()

    def audience(self, job_ids: Collection[str]) -> int:
        """How many messages one event of each of these jobs would send, at most."""
        followers = sum(len(self._by_job.get(job_id, ())) for job_id in job_ids)
        return followers + len(self._feeds) * len(job_ids)

    def _deliver(self) -> None:
        budget = OFFERS_PER_TURN
        while self._pending and budget > 0:
            delivery = self._pending[0]
            budget -= delivery.offer(budget)
            if not delivery.done:
                break
            self._pending.popleft()
            # Only now: a heartbeat's token says its stream has every event up to here.
            self.last_revision = max(self.last_revision, delivery.event.revision)
        self._delivering = bool(self._pending)
        if self._delivering:
            asyncio.get_running_loop().call_soon(self._deliver)

    def publish_threadsafe(self, events: list[JobEvent]) -> None:
        """``publish`` from another thread (the store's writer), keeping commit order."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish, events)

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions (for metrics and tests)."""
        return len(self._feeds) + sum(len(s) for s in self._by_job.values())
