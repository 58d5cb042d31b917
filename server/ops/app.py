"""The gateway process: store, executors, manager and the gRPC server around them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ibmq_gateway.server.api.audit import Audit
from ibmq_gateway.server.api.auth import AuthInterceptor, ensure_admin
from ibmq_gateway.server.api.interceptors import ErrorInterceptor, ObservingInterceptor
from ibmq_gateway.server.api.limits import OpenStreamsInterceptor
from ibmq_gateway.server.api.servicers import BackendService, JobService
from ibmq_gateway.server.core.model import JobEvent
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.core.states import ACTIVE_STATES
from ibmq_gateway.server.executors.base import Executor
from ibmq_gateway.server.jobs.manager import JobManager
from ibmq_gateway.server.ops import heap, tls
from ibmq_gateway.server.ops.database_watch import watch_database
from ibmq_gateway.server.ops.leadership import follow_leadership
from ibmq_gateway.server.ops.logs import RpcLog
from ibmq_gateway.server.ops.metrics import GatewayMetrics
from ibmq_gateway.server.store.choice import store_for, where
from ibmq_gateway.server.streams.events import EventBus
from ibmq_gateway.server.streams.feeds import Feeds
from ibmq_gateway.server.streams.follower import LogFollower
from ibmq_gateway.v1 import (
    backend_service_pb2,
    backend_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
)

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    backend_service_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
)
_MB = 1024 * 1024
# gRPC's defaults (1000 pending, 3000 hard limit) refused about a third of a burst of 5,000
# new streams here; a team dashboard reconnecting after a restart makes such bursts.
_SERVER_OPTIONS = (
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 60_000),
    ("grpc.max_send_message_length", 64 * _MB),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Two pings too early and the client is told to back off (GOAWAY too_many_pings).
    ("grpc.http2.max_ping_strikes", 2),
    # gRPC reuses ports by default on Linux: a second gateway on a busy address would start
    # and silently share its traffic. Refuse instead.
    ("grpc.so_reuseport", 0),
)


def server_options(settings: Settings) -> tuple[tuple[str, int], ...]:
    """grpc's channel arguments for the gateway's port: the fixed ones and the settings'."""
    ping_ms = int(settings.keepalive_min_ping_interval * 1000)
    return (
        *_SERVER_OPTIONS,
        ("grpc.max_receive_message_length", settings.receive_limit),
        ("grpc.max_concurrent_streams", settings.max_streams_per_connection),
        ("grpc.max_connection_age_ms", int(settings.max_connection_age * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.max_connection_age_grace * 1000)),
        ("grpc.http2.min_ping_interval_without_data_ms", ping_ms),
    )


def default_executors(settings: Settings) -> list[Executor]:
    """Local simulators (in-process or on the simulator cluster), and IBM Quantum's devices
    when an API key is configured."""
    from ibmq_gateway.server.executors.local.catalog import DEFAULT_FAKE_DEVICES
    from ibmq_gateway.server.executors.local.executor import LocalExecutor

    devices = DEFAULT_FAKE_DEVICES if settings.fake_devices is None else settings.fake_devices
    simulators: Executor
    if settings.simulator_cluster:
        # Imported only with the option: Dask is an extra.
        from ibmq_gateway.server.executors.dask.executor import DaskExecutor

        simulators = DaskExecutor.connecting_to(settings.simulator_cluster, devices)
    else:
        simulators = LocalExecutor(fake_devices=devices, max_workers=settings.workers)
    executors: list[Executor] = [simulators]
    if settings.ibm_configured:
        # Imported only with an API key: IBM's client costs about a second to import.
        from ibmq_gateway.server.executors.ibm.executor import IbmExecutor

        executors.append(IbmExecutor.from_settings(settings))
    return executors


class Gateway:
    """One gateway: start it, serve until stopped, stop it gracefully."""

    def __init__(self, settings: Settings, executors: Sequence[Executor] | None = None) -> None:
        self.settings = settings
        self.bus = EventBus(settings.stream_buffer)
        self._executors = list(executors) if executors is not None else None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.metrics = GatewayMetrics()
        self.port = 0
        self._watches: list[asyncio.Task[None]] = []
        """The database probe, and on a shared store the log follower and leadership."""
        self._follower: LogFollower | None = None
        self.metrics_port: int | None = None
        """Port of the /metrics endpoint, once started (None: no endpoint)."""

    async def start(self) -> int:
        """Opens the store, recovers jobs and starts serving; returns the bound port.

        Raises:
            TlsFileError: a TLS file in the settings cannot be read or is wrong.
        """
        # Wrong TLS files fail the start before anything is opened or recovered.
        credentials = tls.server_credentials(self.settings)
        loop = asyncio.get_running_loop()
        self.bus.bind(loop)
        await self._open_store()
        executors = self._executors or default_executors(self.settings)
        self.manager = JobManager(self.store, executors, self.settings, self.bus.audience)
        self.manager.on_change(self._report_upstreams)
        await self.manager.start(leading=await self.store.lead())
        if self._follower is not None:
            self._watches.append(loop.create_task(self._follower.run()))
            self._watches.append(loop.create_task(follow_leadership(self.store, self.manager)))
        self.metrics.follow(loop, self.manager, self.bus)
        self._server = self._build_server()
        try:
            self.port = self._bind(self._server, credentials)
        except OSError:
            await self.manager.stop()
            await self.store.close()
            self._server = None
            raise
        # Metrics first: whoever finds the gateway serving finds its metrics too.
        self._serve_metrics()
        await self._server.start()
        await self._set_serving(health_pb2.HealthCheckResponse.SERVING)
        await self._report_upstreams()
        self._watches.append(loop.create_task(watch_database(self.store, self._report_database)))
        heap.freeze()
        log.info("gateway listening on %s (%s)", self.address, tls.transport(self.settings))
        return self.port

    @property
    def address(self) -> str:
        """host:port clients connect to."""
        host = self.settings.address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def wait(self) -> None:
        """Returns when the server has stopped."""
        assert self._server is not None
        await self._server.wait_for_termination()

    async def stop(self) -> None:
        """Refuses new work, lets in-flight RPCs finish, then releases everything."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        # Streams never finish by themselves; end them now so that their clients resume
        # elsewhere at once instead of waiting out the grace period.
        self.bus.close()
        await self._server.stop(self.settings.shutdown_grace)
        for watch in self._watches:
            watch.cancel()
        await asyncio.gather(*self._watches, return_exceptions=True)
        await self.manager.stop()
        await self.store.close()
        await self.metrics.close()
        self._server = None
        heap.thaw()
        log.info("gateway stopped")

    async def _open_store(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = store_for(self.settings, on_commit=self._committed)
        await self.store.open()
        log.info("state in %s", where(self.settings))
        if self.store.shared:
            start = await self.store.latest_revision()
            self._follower = LogFollower(self.store, self._followed, start)
        await ensure_admin(self.store, self.settings.state_dir, self.settings.bootstrap_token)
        # Before the manager starts, this gateway changes no job: alone on its store, the
        # tally starts exact. Replicas may commit between the revision and this read;
        # the tally of a shared store can be off by what they commit in that instant.
        self.metrics.jobs.seed(await self.store.jobs_in_states(ACTIVE_STATES))

    def _committed(self, events: list[JobEvent]) -> None:
        """The store's commit hook (on its writer thread): streams and metrics follow.

        On a shared store they follow the log instead, which holds every replica's commits
        in one order; this commit only wakes its reader.
        """
        if self._follower is not None:
            self._follower.wake()
            return
        self.bus.publish_threadsafe(events)
        self.metrics.jobs.observe(events)

    def _followed(self, events: list[JobEvent]) -> None:
        """Every replica's commits, in revision order (shared stores)."""
        self.bus.publish(events)
        self.metrics.jobs.observe(events)
        self.manager.observe(events)

    def _serve_metrics(self) -> None:
        if self.settings.metrics_port is None:
            return
        address, port = self.settings.metrics_address, self.settings.metrics_port
        self.metrics_port = self.metrics.serve(address, port)
        log.info("metrics on http://%s:%d/metrics", address, self.metrics_port)

    def _bind(self, server: grpc.aio.Server, credentials: grpc.ServerCredentials | None) -> int:
        address = self.settings.address
        try:
            if credentials is None:
                return server.add_insecure_port(address)
            return server.add_secure_port(address, credentials)
        except RuntimeError:
            # grpc says only "failed to bind"; the usual reason is another process.
            raise OSError(f"cannot listen on {address}: in use, or not an address here") from None

    def _build_server(self) -> grpc.aio.Server:
        # The observer goes first, so it sees the status ErrorInterceptor mapped.
        observing = ObservingInterceptor([self.metrics.rpcs, RpcLog()])
        self.open_streams = OpenStreamsInterceptor(self.settings.quota_open_streams)
        server = grpc.aio.server(
            # Outermost first: errors from authentication reach ErrorInterceptor as well.
            interceptors=[
                observing,
                ErrorInterceptor(),
                AuthInterceptor(self.store),
                self.open_streams,
            ],
            options=server_options(self.settings),
        )
        feeds = _feeds(self)
        job_service_pb2_grpc.add_JobServiceServicer_to_server(  # type: ignore[no-untyped-call]
            JobService(self.manager, feeds, self.settings.heartbeat_interval, Audit(self.store)),
            server,
        )
        backend_service_pb2_grpc.add_BackendServiceServicer_to_server(  # type: ignore[no-untyped-call]
            BackendService(self.manager), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        return server

    async def _set_serving(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, status)

    async def _report_database(self, problem: str | None) -> None:
        """Health says NOT_SERVING while the database is away: clients go elsewhere."""
        serving = health_pb2.HealthCheckResponse.SERVING
        await self._set_serving(
            serving if problem is None else health_pb2.HealthCheckResponse.NOT_SERVING
        )

    async def _report_upstreams(self) -> None:
        """Health names each upstream (``ibm``): SERVING while it can be used."""
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        for name, problem in self.manager.upstream_problems().items():
            await self._health.set(name, serving if problem is None else not_serving)


def _feeds(gateway: Gateway) -> Feeds:
    return Feeds(gateway.store, gateway.bus, gateway.settings.max_stream_age)
