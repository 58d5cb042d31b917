"""Lanes: daemon threads that each own one ``QiskitRuntimeService`` and run its calls in order.

qiskit-ibm-runtime is not thread-safe: its HTTP session rewrites shared headers on every call and
the service swaps its active API client inside ``job()``, ``jobs()`` and ``backends()``. So each
lane builds its own service, on first use, in its own thread, and runs one call at a time. A lane
also keeps the client objects worth reusing: ``RuntimeJobV2`` objects (a job polled through the
object it came from costs one GET, and none once final) and ``IBMBackend`` objects (which cache
configuration, calibration and the ``Target``).

A ``LanePool`` routes calls by key (the same key reaches the same lane while it lives) and gives
each a deadline. A lane whose call misses it is retired: its thread finishes the call in hand,
drops its service and exits, never reused; its queued calls move to a fresh lane. Nothing here
imports qiskit-ibm-runtime at module level: the import costs about a second.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from qiskit_ibm_runtime import IBMBackend, QiskitRuntimeService, RuntimeJobV2

    Work = tuple[Callable[["Lane"], Any], Future[Any]]

T = TypeVar("T")

BACKEND_TTL = 900.0  # seconds a lane uses a backend's configuration before refetching it
JOBS_KEPT = 512  # RuntimeJobV2 objects cached per lane, least recently used dropped first
AFFINITIES_KEPT = 4096  # job id → lane routes remembered by a pool
HUNG_LANES_PER_SLOT = 3  # retired lanes still stuck in a call, per slot, before refusing


class LanesExhausted(Exception):
    """Too many lanes are stuck in calls IBM never answered to open another."""


class LaneTimeout(Exception):
    """A call missed its deadline; the lane it was on is retired.

    The call itself may still be running on that lane's thread: ``pending`` holds its
    outcome, for calls whose outcome matters even late (a send of a job).
    """

    def __init__(self, pending: Future[Any]) -> None:
        super().__init__("the call missed its deadline")
        self.pending = pending


class Lane:
    """One thread, one service, calls run in the order they were put."""

    def __init__(self, slot: int, name: str, connect: Callable[[], QiskitRuntimeService]) -> None:
        self.slot = slot
        self.name = name
        self._connect = connect
        self._service: QiskitRuntimeService | None = None
        # Touched only by the lane's thread, from inside the calls it runs.
        self.jobs: OrderedDict[str, RuntimeJobV2] = OrderedDict()
        self.backends: dict[str, tuple[IBMBackend, float]] = {}  # with when it was fetched
        self._pending: deque[Work] = deque()
        self._cond = threading.Condition()
        self._retired = False
        self._busy = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # -- the event loop's side ------------------------------------------------------------

    @property
    def retired(self) -> bool:
        return self._retired

    @property
    def idle_or_gone(self) -> bool:
        """True if the thread has ended or holds no call (so it ends soon once retired)."""
        return not self._thread.is_alive() or not self._busy

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def put(self, call: Callable[[Lane], Any]) -> Future[Any]:
        """Queues ``call(lane)``; the future holds its outcome."""
        future: Future[Any] = Future()
        self.adopt([(call, future)])
        return future

    def adopt(self, work: list[Work]) -> None:
        """Queues calls taken from a retired lane, in their order."""
        with self._cond:
            if self._retired:
                raise RuntimeError(f"lane {self.name} is retired")
            self._pending.extend(work)
            self._cond.notify()

    def retire(self) -> list[Work]:
        """Stops taking calls; returns those not started (the call in hand runs to its end)."""
        with self._cond:
            self._retired = True
            left = list(self._pending)
            self._pending.clear()
            self._cond.notify()
        return left

    # -- the lane's thread ----------------------------------------------------------------

    @property
    def service(self) -> QiskitRuntimeService:
        """The lane's service, built on first use (IAM token exchange, instance lookup)."""
        if self._service is None:
            self._service = self._connect()
        return self._service

    def job(self, job_id: str) -> RuntimeJobV2:
        """The job object this lane holds, or the one IBM describes (one GET), then held."""
        job = self.jobs.get(job_id)
        if job is None:
            job = self.service.job(job_id)
        self.keep(job)
        return job

    def keep(self, job: RuntimeJobV2) -> None:
        self.jobs[job.job_id()] = job
        self.jobs.move_to_end(job.job_id())
        while len(self.jobs) > JOBS_KEPT:
            self.jobs.popitem(last=False)

    def backend(self, name: str, refresh: bool = False) -> IBMBackend:
        """The lane's backend object; its configuration and target are refetched when asked
        or once older than ``BACKEND_TTL`` (the service caches configurations for good)."""
        held = self.backends.get(name)
        if held is None:
            from qiskit.providers.exceptions import QiskitBackendNotFoundError

            try:
                backend = self.service.backend(name)
            except QiskitBackendNotFoundError:
                # The client turns a failed GET /backends into "no such backend"; a request
                # that does raise tells an outage from a real unknown name.
                self.service.usage()
                raise
        else:
            backend, fetched = held
            if not (refresh or time.monotonic() - fetched > BACKEND_TTL):
                return backend
            backend.refresh()
        self.backends[name] = (backend, time.monotonic())
        return backend

    def all_backends(self) -> list[IBMBackend]:
        """Every backend of the instance, fresh: those held before are refetched."""
        listed = self.service.backends()
        if not listed:
            self.service.usage()  # the client hides a failed GET /backends as "no backends"
        fresh = [
            self.backend(backend.name, refresh=True) if backend.name in self.backends else backend
            for backend in listed
        ]
        now = time.monotonic()
        self.backends = {backend.name: (backend, now) for backend in fresh}
        return fresh

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._retired:
                    self._cond.wait()
                if self._retired:
                    break
                call, future = self._pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up before it started
            self._busy = True
            try:
                result = call(self)
            except BaseException as error:  # the caller decides what it means
                future.set_exception(error)
            else:
                future.set_result(result)
            finally:
                self._busy = False
        self._service = None
        self.jobs.clear()
        self.backends.clear()


class LanePool:
    """``size`` lane slots; a key picks a slot (or the lane it was pinned to with ``pin``)."""

    def __init__(self, size: int, connect: Callable[[], QiskitRuntimeService]) -> None:
        if size < 1:
            raise ValueError("a lane pool needs at least one lane")
        self._connect = connect
        self._slots: list[Lane | None] = [None] * size
        self._pinned: OrderedDict[str, Lane] = OrderedDict()
        self._started: list[Lane] = []
        self._serial = itertools.count(1)
        self.closed = False

    async def call(self, key: str, call: Callable[[Lane], T], timeout: float) -> T:
        """``call(lane)`` on the lane for ``key``; raises its exception, or ``LaneTimeout``."""
        lane, pending = self.put(key, call)
        return await self.wait(lane, pending, timeout)

    def put(self, key: str, call: Callable[[Lane], T]) -> tuple[Lane, Future[T]]:
        """Queues ``call(lane)`` on the lane for ``key``; returns the lane and its outcome."""
        if self.closed:
            raise RuntimeError("the lane pool is closed")
        lane = self._lane_for(key)
        return lane, lane.put(call)

    async def wait(self, lane: Lane, pending: Future[T], timeout: float) -> T:
        """The outcome of a call ``put`` queued on ``lane``; ``LaneTimeout`` after ``timeout``."""
        waiting = asyncio.wrap_future(pending)
        try:
            done, _ = await asyncio.wait({waiting}, timeout=timeout)
        except asyncio.CancelledError:
            waiting.cancel()  # not started yet: it never will be
            raise
        if not done:
            pending.cancel()  # not started yet: it never will be; else it runs on
            waiting.cancel()
            self._retire(lane)
            raise LaneTimeout(pending)
        result: T = waiting.result()
        return result

    def pin(self, key: str, lane: Lane) -> None:
        """Routes ``key`` (a job id) to ``lane`` while it lives: it holds the job's object."""
        self._pinned[key] = lane
        self._pinned.move_to_end(key)
        while len(self._pinned) > AFFINITIES_KEPT:
            self._pinned.popitem(last=False)

    async def close(self, reason: Exception, wait: float = 1.0) -> None:
        """Retires every lane, fails queued calls with ``reason``, waits for idle threads."""
        self.closed = True
        for lane in self._started:
            for _, future in lane.retire():
                if future.set_running_or_notify_cancel():
                    future.set_exception(reason)
        self._slots = [None] * len(self._slots)
        self._pinned.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while any(lane.alive and lane.idle_or_gone for lane in self._started):
            if loop.time() > deadline:
                break  # a thread still in a hung call ends on its own
            await asyncio.sleep(0.01)
        self._started = []

    def _lane_for(self, key: str) -> Lane:
        lane = self._pinned.get(key)
        if lane is not None and not lane.retired:
            return lane
        slot = zlib.crc32(key.encode()) % len(self._slots)
        lane = self._slots[slot]
        if lane is None or lane.retired:
            lane = self._slots[slot] = self._new_lane(slot)
        return lane

    def _new_lane(self, slot: int) -> Lane:
        self._started = [lane for lane in self._started if lane.alive]
        # A call IBM never answers holds its thread (the client sets no read timeout): each
        # retired lane may hold one. Beyond a bound, refuse rather than pile up threads.
        hung = sum(1 for lane in self._started if lane.retired)
        if hung >= HUNG_LANES_PER_SLOT * len(self._slots):
            raise LanesExhausted(f"{hung} calls to IBM Quantum hang unanswered")
        lane = Lane(slot, f"ibm-lane-{slot}.{next(self._serial)}", self._connect)
        self._started.append(lane)
        return lane

    def _retire(self, lane: Lane) -> None:
        left = lane.retire()
        if self._slots[lane.slot] is lane:
            self._slots[lane.slot] = None
        if left:  # calls queued behind the stuck one go to a fresh lane, in order
            replacement = self._slots[lane.slot] = self._new_lane(lane.slot)
            replacement.adopt(left)
