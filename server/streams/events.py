"""Live fan-out of committed events to the streams that follow them.

The store calls ``EventBus.publish_threadsafe`` right after each commit, from its writer
thread; ``call_soon_threadsafe`` keeps commit order. Each subscription has a bounded
buffer: a reader that falls behind is marked overflowed and its stream is ended so that it
resumes from the durable log instead of holding memory.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable

from ibmq_gateway.server.core.model import JobEvent


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
        """Delivers events (in commit order) to every interested subscription."""
        for event in events:
            for subscription in (*self._by_job.get(event.job_id, ()), *self._feeds):
                subscription.offer(event)
            self.last_revision = max(self.last_revision, event.revision)

    def publish_threadsafe(self, events: list[JobEvent]) -> None:
        """``publish`` from another thread (the store's writer), keeping commit order."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish, events)

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions (for metrics and tests)."""
        return len(self._feeds) + sum(len(s) for s in self._by_job.values())
