"""The servicers: convert the request, call the manager, convert the answer. Nothing else."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from google.protobuf import duration_pb2

from ibmq_gateway.server.api import audit, job_messages
from ibmq_gateway.server.api.auth import principal
from ibmq_gateway.server.api.backend_messages import backend_to_proto
from ibmq_gateway.server.core.errors import FieldViolation, InvalidArgumentError
from ibmq_gateway.server.jobs.result_encoding import document_to_proto
from ibmq_gateway.server.store import PageCursor
from ibmq_gateway.server.streams import cursors
from ibmq_gateway.v1 import (
    backend_service_pb2,
    backend_service_pb2_grpc,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
)

if TYPE_CHECKING:
    import grpc

    from ibmq_gateway.server.api.audit import Audit
    from ibmq_gateway.server.core.model import AuditEntry, Job, JobQuery
    from ibmq_gateway.server.jobs.manager import JobManager
    from ibmq_gateway.server.jobs.routing import BackendView
    from ibmq_gateway.server.streams.feeds import FeedItem, Feeds

    Context = grpc.aio.ServicerContext[Any, Any]

_Response = TypeVar(
    "_Response", job_service_pb2.WatchJobResponse, job_service_pb2.WatchJobsResponse
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MIN_HEARTBEAT, MAX_HEARTBEAT = 1.0, 60.0


class JobService(job_service_pb2_grpc.JobServiceServicer):
    """ibmq_gateway.v1.JobService."""

    def __init__(self, manager: JobManager, feeds: Feeds, heartbeat: float, audit: Audit) -> None:
        self._manager = manager
        self._audit = audit
        self._feeds = feeds
        self._heartbeat = heartbeat
        self._responses = _ResponseCache()

    async def SubmitJob(
        self, request: job_service_pb2.SubmitJobRequest, context: Context
    ) -> job_service_pb2.SubmitJobResponse:
        peer = context.peer()

        def submitted(job: Job) -> AuditEntry:
            return audit.entry("job.submit", job.id, peer, {"backend": job.backend})

        job, deduplicated = await self._manager.submit(
            job_messages.submission(request), principal(), request.ByteSize(), submitted
        )
        return job_service_pb2.SubmitJobResponse(
            job=job_messages.job_message(job),
            deduplicated=deduplicated,
            resume_token=self._feeds.token(job.revision),
        )

    async def GetJob(
        self, request: job_service_pb2.GetJobRequest, context: Context
    ) -> job_service_pb2.GetJobResponse:
        job = await self._manager.get(request.job_id, principal())
        full = request.view == job_service_pb2.JOB_VIEW_FULL
        circuits = await self._manager.circuits_of(job) if full else None
        return job_service_pb2.GetJobResponse(
            job=job_messages.job_message(job, circuits),
            resume_token=self._feeds.token(job.revision),
        )

    async def ListJobs(
        self, request: job_service_pb2.ListJobsRequest, context: Context
    ) -> job_service_pb2.ListJobsResponse:
        limit = _page_size(request.page_size)
        resume_token = await self._feeds.current_token()
        jobs = await self._manager.list_jobs(
            _visible(job_messages.query(request.filter)),
            limit=limit + 1,
            ascending=request.ascending,
            after=_cursor(request.page_token),
            skip=_skip(request),
        )
        page, more = jobs[:limit], len(jobs) > limit
        return job_service_pb2.ListJobsResponse(
            jobs=[job_messages.job_message(job) for job in page],
            next_page_token=cursors.encode_page(page[-1].created, page[-1].id) if more else "",
            resume_token=resume_token,
        )

    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: Context
    ) -> job_service_pb2.CancelJobResponse:
        job = await self._manager.cancel(request.job_id, principal())
        await self._audit.record("job.cancel", job.id, context.peer())
        return job_service_pb2.CancelJobResponse(job=job_messages.job_message(job))

    async def UpdateJob(
        self, request: job_service_pb2.UpdateJobRequest, context: Context
    ) -> job_service_pb2.UpdateJobResponse:
        if not request.HasField("name") and not request.replace_tags:
            raise InvalidArgumentError(
                "nothing to update: set name, or replace_tags with the new tags",
                [FieldViolation("name", "set it, or set replace_tags")],
            )
        name = request.name if request.HasField("name") else None
        tags = tuple(request.tags) if request.replace_tags else None
        job = await self._manager.update(request.job_id, name, tags, principal())
        changed = {"name": name} if name is not None else {}
        await self._audit.record("job.update", job.id, context.peer(), {**changed, "tags": tags})
        return job_service_pb2.UpdateJobResponse(job=job_messages.job_message(job))

    async def GetJobResult(
        self, request: job_service_pb2.GetJobResultRequest, context: Context
    ) -> job_service_pb2.GetJobResultResponse:
        document = await self._manager.result(request.job_id, request.allow_partial, principal())
        return job_service_pb2.GetJobResultResponse(result=document_to_proto(document))

    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, context: Context
    ) -> AsyncIterator[job_service_pb2.WatchJobResponse]:
        heartbeat = _heartbeat(request.heartbeat_interval, self._heartbeat)
        feed = self._feeds.job(request.job_id, request.resume_token, heartbeat, principal())
        async for item in feed:
            response = self._responses.get(job_service_pb2.WatchJobResponse, item)
            # The stream may wait long for its next event: its frame keeps no job snapshot.
            del item
            yield response

    async def WatchJobs(
        self, request: job_service_pb2.WatchJobsRequest, context: Context
    ) -> AsyncIterator[job_service_pb2.WatchJobsResponse]:
        heartbeat = _heartbeat(request.heartbeat_interval, self._heartbeat)
        query = _visible(job_messages.query(request.filter))
        async for item in self._feeds.jobs(query, request.resume_token, heartbeat):
            yield self._responses.get(job_service_pb2.WatchJobsResponse, item)


class BackendService(backend_service_pb2_grpc.BackendServiceServicer):
    """ibmq_gateway.v1.BackendService."""

    def __init__(self, manager: JobManager) -> None:
        self._manager = manager

    async def ListBackends(
        self, request: backend_service_pb2.ListBackendsRequest, context: Context
    ) -> backend_service_pb2.ListBackendsResponse:
        views = self._manager.backends()
        return backend_service_pb2.ListBackendsResponse(
            backends=[_backend(view, include_target=not request.omit_targets) for view in views]
        )

    async def GetBackend(
        self, request: backend_service_pb2.GetBackendRequest, context: Context
    ) -> backend_service_pb2.GetBackendResponse:
        view = self._manager.backend(request.name)
        return backend_service_pb2.GetBackendResponse(backend=_backend(view))

    async def GetBackendProperties(
        self, request: backend_service_pb2.GetBackendPropertiesRequest, context: Context
    ) -> backend_service_pb2.GetBackendPropertiesResponse:
        as_of = (
            job_messages.moment(request.as_of_time, "as_of_time")
            if request.HasField("as_of_time")
            else None
        )
        properties = await self._manager.properties(request.name, as_of)
        response = backend_service_pb2.GetBackendPropertiesResponse()
        if properties is not None:
            response.properties.CopyFrom(job_messages.struct(properties))
        return response


def _backend(view: BackendView, *, include_target: bool = True) -> Any:
    return backend_to_proto(
        view.info,
        pending_jobs=view.pending_jobs,
        operational=view.operational,
        status_msg=view.status_msg,
        concurrency=view.concurrency,
        estimated_wait_s=view.estimated_wait,
        average_run_s=view.average_run,
        include_target=include_target,
    )


class _ResponseCache:
    """Builds each event's stream response once for all the streams that send it.

    Every watcher of a job receives the same event; converting it per stream cost most of
    the fan-out time with a thousand watchers. Heartbeats are cheap and not cached.
    """

    _SIZE = 4096

    def __init__(self) -> None:
        self._built: OrderedDict[tuple[type, int], Any] = OrderedDict()

    def get(self, kind: type[_Response], item: FeedItem) -> _Response:
        if item.event is None:
            return kind(**_feed_fields(item))
        key = (kind, item.event.revision)
        response = self._built.get(key)
        if response is None:
            response = self._built[key] = kind(**_feed_fields(item))
            if len(self._built) > self._SIZE:
                self._built.popitem(last=False)
        return cast("_Response", response)


def _visible(query: JobQuery) -> JobQuery:
    """The query narrowed to the jobs the caller may see."""
    return dataclasses.replace(query, viewer=principal())


def _feed_fields(item: FeedItem) -> dict[str, Any]:
    if item.event is None:
        heartbeat = job_pb2.Heartbeat()
        heartbeat.server_time.GetCurrentTime()
        return {"resume_token": item.token, "heartbeat": heartbeat}
    return {"resume_token": item.token, "event": job_messages.event_message(item.event)}


def _heartbeat(requested: duration_pb2.Duration, default: float) -> float:
    # Not ToTimedelta: a Duration may carry seconds no timedelta holds (OverflowError).
    seconds = requested.seconds + requested.nanos / 1e9
    if seconds <= 0:
        return default
    return min(max(seconds, MIN_HEARTBEAT), MAX_HEARTBEAT)


def _page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgumentError(
            "page_size must not be negative", [FieldViolation("page_size", "0 to 500")]
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _skip(request: job_service_pb2.ListJobsRequest) -> int:
    if request.skip < 0:
        raise InvalidArgumentError("skip must not be negative", [FieldViolation("skip", ">= 0")])
    return 0 if request.page_token else request.skip


def _cursor(page_token: str) -> PageCursor | None:
    if not page_token:
        return None
    created, job_id = cursors.decode_page(page_token)
    return PageCursor(created, job_id)
