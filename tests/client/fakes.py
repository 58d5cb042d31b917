"""A scripted JobService on a real gRPC server, for the client's transport and stream logic.

Each ``WatchJob`` call plays the next ``Session`` of the script: its messages, then its
ending (OK or an error code). Requests and metadata are recorded for the tests to inspect.
"""

from __future__ import annotations

import threading
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def snapshot(sequence: int, state: Any, job_id: str = "job-1") -> job_pb2.Job:
    """A job snapshot as events carry it."""
    final = state in (job_pb2.JOB_STATE_COMPLETED, job_pb2.JOB_STATE_CANCELLED)
    job = job_pb2.Job(id=job_id, backend="aer_simulator", state=state, final=final)
    job.sequence = sequence
    job.create_time.GetCurrentTime()
    return job


def event(sequence: int, state: Any, job_id: str = "job-1") -> job_service_pb2.WatchJobResponse:
    """A WatchJob message carrying one event, with token ``t<sequence>``."""
    job = snapshot(sequence, state, job_id)
    return job_service_pb2.WatchJobResponse(
        resume_token=f"t{sequence}",
        event=job_pb2.JobEvent(job_id=job_id, sequence=sequence, job=job),
    )


def heartbeat(token: str) -> job_service_pb2.WatchJobResponse:
    """A heartbeat that moves the cursor to ``token``."""
    message = job_service_pb2.WatchJobResponse(resume_token=token)
    message.heartbeat.server_time.GetCurrentTime()
    return message


@dataclass
class Session:
    """What one WatchJob call sends, and how it ends (None: OK)."""

    messages: list[job_service_pb2.WatchJobResponse]
    ending: grpc.StatusCode | None = None
    hang: bool = False
    """Keep the stream open after the messages until the client gives up."""


@dataclass
class FakeJobService(job_service_pb2_grpc.JobServiceServicer):
    """Plays scripted sessions and records what the client sent."""

    sessions: list[Session] = field(default_factory=list)
    current: job_pb2.Job | None = None
    """What GetJob returns (NOT_FOUND when None)."""
    submit_failures: list[grpc.StatusCode] = field(default_factory=list)
    watch_requests: list[job_service_pb2.WatchJobRequest] = field(default_factory=list)
    submit_requests: list[job_service_pb2.SubmitJobRequest] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def WatchJob(self, request, context):
        self._record(context)
        self.watch_requests.append(request)
        if not self.sessions:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found")
        session = self.sessions.pop(0)
        yield from session.messages
        if session.hang:
            while context.is_active() and not self.stop.wait(0.05):
                pass
            return
        if session.ending is not None:
            context.abort(session.ending, f"scripted {session.ending.name}")

    def GetJob(self, request, context):
        self._record(context)
        if self.current is None:
            abort_with_details(context, grpc.StatusCode.NOT_FOUND, "no such job", "JOB_NOT_FOUND")
        return job_service_pb2.GetJobResponse(job=self.current, resume_token="fresh")

    def SubmitJob(self, request, context):
        self._record(context)
        self.submit_requests.append(request)
        if self.submit_failures:
            context.abort(self.submit_failures.pop(0), "try again")
        job = snapshot(1, job_pb2.JOB_STATE_CREATING, "submitted")
        return job_service_pb2.SubmitJobResponse(job=job)

    def UpdateJob(self, request, context):
        abort_with_details(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid update",
            "INVALID_ARGUMENT",
            violations=[("tags", "too many tags")],
        )

    def _record(self, context: Any) -> None:
        self.metadata.append(dict(context.invocation_metadata()))


def abort_with_details(
    context: Any,
    code: grpc.StatusCode,
    message: str,
    reason: str,
    violations: Sequence[tuple[str, str]] = (),
) -> None:
    """Aborts the call with ErrorInfo (and BadRequest) details, as the gateway does."""
    details = [any_pb2.Any(), any_pb2.Any()]
    details[0].Pack(error_details_pb2.ErrorInfo(reason=reason, domain="ibmq-gateway.dev"))
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=name, description=text)
            for name, text in violations
        ]
    )
    details[1].Pack(bad)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    context.abort_with_status(rpc_status.to_status(status))


@contextmanager
def serve(
    servicer: FakeJobService, credentials: grpc.ServerCredentials | None = None
) -> Iterator[str]:
    """Runs ``servicer`` on 127.0.0.1 and a free port (TLS with ``credentials``)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    job_service_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        servicer.stop.set()
        server.stop(grace=None)
