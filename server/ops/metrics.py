"""Prometheus metrics of one gateway, in a registry of its own, served on ``/metrics``.

Three sources: ``RpcMetrics`` is told about every call by the observing interceptor;
``JobTally`` follows every committed job change (the store's commit hook); and
``StateCollector`` reads the backends' queues and the open streams at scrape time. The
endpoint runs on prometheus_client's WSGI server, on its own threads; whatever belongs to
the event loop is read on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ibmq_gateway.server.core.states import ACTIVE_STATES, FINAL_STATES, JobState

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    import grpc

    from ibmq_gateway.server.api.interceptors import Call
    from ibmq_gateway.server.core.model import Job, JobEvent
    from ibmq_gateway.server.jobs.manager import JobManager
    from ibmq_gateway.server.jobs.routing import BackendView
    from ibmq_gateway.server.streams.events import EventBus

PREFIX = "ibmq_gateway_"
# A scrape waits this long for the event loop; a loop that stays busy longer is itself
# the news, and the scrape fails rather than hanging.
_SCRAPE_TIMEOUT = 5.0

_Key = tuple[str, JobState]  # (backend, state)


class RpcMetrics:
    """Counts and times RPCs; a ``CallObserver`` of the observing interceptor.

    Unary calls are timed whole (``rpc_duration_seconds``). A server stream lives as long
    as the job it follows, so its whole length says nothing about the gateway; streams are
    timed to their first message instead (``stream_first_message_seconds``).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            PREFIX + "rpc_requests",
            "RPCs that ended, by method and status code (streams count when they end).",
            ["service", "method", "code"],
            registry=registry,
        )
        self._duration = Histogram(
            PREFIX + "rpc_duration_seconds",
            "Time to answer a unary RPC.",
            ["service", "method"],
            registry=registry,
        )
        self._first_message = Histogram(
            PREFIX + "stream_first_message_seconds",
            "Time from the start of a server stream to its first message.",
            ["service", "method"],
            registry=registry,
        )

    def first_message(self, call: Call, seconds: float) -> None:
        """Records a stream's time to its first message."""
        self._first_message.labels(call.service, call.method).observe(seconds)

    def finished(self, call: Call, code: grpc.StatusCode, seconds: float) -> None:
        """Counts the call and, if unary, records its duration."""
        self._requests.labels(call.service, call.method, code.name).inc()
        if not call.streaming:
            self._duration.labels(call.service, call.method).observe(seconds)


class JobTally:
    """Unfinished jobs by backend and state, and jobs finished since start.

    Fed from the store's writer thread with every committed change, read from scrapes: one
    lock, no database query per scrape.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, _Key] = {}
        self._finished: Tally[_Key] = Tally()

    def seed(self, jobs: Iterable[Job]) -> None:
        """Starts from the unfinished jobs found in the store."""
        with self._lock:
            self._active.update({job.id: (job.backend, job.state) for job in jobs})

    def observe(self, events: Iterable[JobEvent]) -> None:
        """Follows committed changes (the store's commit hook)."""
        with self._lock:
            for event in events:
                job = event.job
                if not job.final:
                    self._active[job.id] = (job.backend, job.state)
                # A final job still changes (name, tags); it finished only once.
                elif self._active.pop(job.id, None) is not None:
                    self._finished[(job.backend, job.state)] += 1

    def counts(self) -> tuple[Tally[_Key], Tally[_Key]]:
        """(unfinished jobs, jobs finished since start), by backend and state."""
        with self._lock:
            return Tally(self._active.values()), Tally(self._finished)


@dataclass(frozen=True)
class _Snapshot:
    backends: list[BackendView]
    open_streams: int
    active: Tally[_Key]
    finished: Tally[_Key]


class StateCollector:
    """Reads the gateway's state at scrape time and turns it into metric families."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, manager: JobManager, bus: EventBus, jobs: JobTally
    ) -> None:
        self._loop = loop
        self._manager = manager
        self._bus = bus
        self._jobs = jobs

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        snapshot = self._read()
        names = sorted(
            {view.info.name for view in snapshot.backends}
            | {backend for backend, _ in snapshot.active | snapshot.finished}
        )
        yield _by_backend_and_state(
            GaugeMetricFamily(
                PREFIX + "jobs", "Unfinished jobs, by backend and state.", labels=_JOB_LABELS
            ),
            names,
            ACTIVE_STATES,
            snapshot.active,
        )
        yield _by_backend_and_state(
            CounterMetricFamily(
                PREFIX + "jobs_finished",
                "Jobs that reached a final state since the gateway started.",
                labels=_JOB_LABELS,
            ),
            names,
            FINAL_STATES,
            snapshot.finished,
        )
        yield from _backend_families(snapshot.backends)
        yield GaugeMetricFamily(
            PREFIX + "open_streams",
            "Streams following live job events (WatchJob and WatchJobs).",
            value=snapshot.open_streams,
        )

    def _read(self) -> _Snapshot:
        """Takes the snapshot on the event loop, which owns the manager and the bus."""
        if _running_loop() is self._loop:
            return self._take()
        future = asyncio.run_coroutine_threadsafe(self._take_on_loop(), self._loop)
        try:
            return future.result(_SCRAPE_TIMEOUT)
        finally:
            future.cancel()

    async def _take_on_loop(self) -> _Snapshot:
        return self._take()

    def _take(self) -> _Snapshot:
        active, finished = self._jobs.counts()
        return _Snapshot(self._manager.backends(), self._bus.subscriber_count, active, finished)


_JOB_LABELS = ["backend", "state"]


def _by_backend_and_state(
    family: GaugeMetricFamily | CounterMetricFamily,
    backends: list[str],
    states: Iterable[JobState],
    counts: Tally[_Key],
) -> Metric:
    # Every pair is exported, zeros too, so that a series exists before its first job.
    for backend in backends:
        for state in sorted(states):
            family.add_metric([backend, state.value], counts[(backend, state)])
    return family


def _backend_families(views: list[BackendView]) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        PREFIX + "backend_pending_jobs",
        "Jobs waiting or running in the gateway's queue of a backend.",
        labels=["backend"],
    )
    wait = GaugeMetricFamily(
        PREFIX + "backend_estimated_wait_seconds",
        "How long a job submitted now would wait before it starts.",
        labels=["backend"],
    )
    for view in views:
        pending.add_metric([view.info.name], view.pending_jobs)
        wait.add_metric([view.info.name], view.estimated_wait)
    yield pending
    yield wait


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class GatewayMetrics:
    """Every metric of one gateway, and the HTTP endpoint that serves them."""

    def __init__(self) -> None:
        # A registry per gateway: several gateways in one process (the tests) stay apart.
        self.registry = CollectorRegistry()
        self.rpcs = RpcMetrics(self.registry)
        self.jobs = JobTally()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def follow(self, loop: asyncio.AbstractEventLoop, manager: JobManager, bus: EventBus) -> None:
        """Adds the metrics read from the running gateway at scrape time."""
        self.registry.register(StateCollector(loop, manager, bus, self.jobs))

    def serve(self, address: str, port: int) -> int:
        """Serves ``/metrics`` on ``address:port`` from a thread; returns the bound port."""
        self._server, self._thread = start_http_server(port, address, registry=self.registry)
        return self._server.server_port

    async def close(self) -> None:
        """Stops the endpoint (if it runs)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        # shutdown() waits for the serving thread's next poll; keep the loop free meanwhile.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        await asyncio.to_thread(thread.join)
