"""Domain errors and the one table that turns them into gRPC statuses.

Hierarchy::

    GatewayError
    ├── InvalidArgumentError       INVALID_ARGUMENT   (BadRequest field violations)
    │   ├── RequestIdReusedError   INVALID_ARGUMENT   reason REQUEST_ID_REUSED
    │   └── MalformedRequestError  INVALID_ARGUMENT   reason MALFORMED_REQUEST
    ├── UnauthenticatedError       UNAUTHENTICATED
    ├── PermissionDeniedError      PERMISSION_DENIED
    ├── NotFoundError              NOT_FOUND
    ├── FailedPreconditionError    FAILED_PRECONDITION
    ├── ResumeTokenExpiredError    OUT_OF_RANGE
    ├── QuotaExceededError         RESOURCE_EXHAUSTED (QuotaFailure)
    ├── SlowConsumerError          RESOURCE_EXHAUSTED (RetryInfo)
    ├── ParserBusyError            RESOURCE_EXHAUSTED (RetryInfo) reason PARSER_BUSY
    └── UnavailableError           UNAVAILABLE        (RetryInfo)
        └── DatabaseUnavailableError UNAVAILABLE      reason DATABASE_UNAVAILABLE

Servicers raise these; ``status_for`` maps them in one place, and ``grpc_errors`` applies it
to every RPC. A job's own failure is data on the job, never one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "ibmq-gateway"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request."""

    field: str
    description: str


class GatewayError(Exception):
    """Base of every error an RPC reports."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, reason: str, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}

    def details(self) -> list[any_pb2.Any]:
        """The google.rpc detail messages beyond ErrorInfo."""
        return []


class InvalidArgumentError(GatewayError):
    """The request is malformed; nothing was changed."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        violations: Sequence[FieldViolation] = (),
        *,
        reason: str = "INVALID_ARGUMENT",
    ) -> None:
        super().__init__(message, reason=reason)
        self.violations = list(violations)

    def details(self) -> list[any_pb2.Any]:
        if not self.violations:
            return []
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in self.violations
            ]
        )
        return [_pack(bad_request)]


class RequestIdReusedError(InvalidArgumentError):
    """A request id came back with a different payload."""

    def __init__(self, request_id: str, job_id: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used for job {job_id} with a different "
            "payload; use a new request_id for a new job",
            [FieldViolation("request_id", "reused with a different payload")],
            reason="REQUEST_ID_REUSED",
        )


class MalformedRequestError(InvalidArgumentError):
    """The request's bytes are not a message of the method's request type."""

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(
            f"the request to {method} is not a valid protobuf message ({problem}); "
            "send it serialized with the method's request type",
            reason="MALFORMED_REQUEST",
        )


class UnauthenticatedError(GatewayError):
    """The call carries no valid bearer token."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(GatewayError):
    """The caller may see the resource but not do this to it."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFoundError(GatewayError):
    """The named job or backend does not exist (or the caller may not see it)."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPreconditionError(GatewayError):
    """The request is valid but the resource is not in a state that allows it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResumeTokenExpiredError(GatewayError):
    """A resume token points before the retained event log, or at another log."""

    code = grpc.StatusCode.OUT_OF_RANGE


class _RetryableError(GatewayError):
    def __init__(self, message: str, *, reason: str, retry_after: float) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after

    def details(self) -> list[any_pb2.Any]:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(self.retry_after * 1e9))
        return [_pack(error_details_pb2.RetryInfo(retry_delay=delay))]


class QuotaExceededError(GatewayError):
    """A request would take its user past one of their limits; nothing was created."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, user: str, limit: str, value: int, asked: int) -> None:
        super().__init__(
            f"{limit} is limited to {value} for user {user!r}; this request needs {asked}",
            reason="QUOTA_EXCEEDED",
            metadata={"limit": limit, "value": str(value)},
        )
        self.user = user
        self.limit = limit
        self.value = value

    def details(self) -> list[any_pb2.Any]:
        violation = error_details_pb2.QuotaFailure.Violation(
            subject=f"user:{self.user}", description=f"{self.limit} limit is {self.value}"
        )
        return [_pack(error_details_pb2.QuotaFailure(violations=[violation]))]


class SlowConsumerError(_RetryableError):
    """A stream's reader fell too far behind; it should resume from its token."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ParserBusyError(_RetryableError):
    """So much OpenQASM is waiting to be parsed that a submission would wait past what
    callers allow; nothing was created, and the same request may be sent again later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, waiting_s: float) -> None:
        super().__init__(
            f"the gateway is busy parsing about {waiting_s:.0f} s of OpenQASM submitted"
            " before this job; send it again later (same request id), or send its circuits"
            " as QPY, which needs no parsing",
            reason="PARSER_BUSY",
            retry_after=waiting_s,
        )


class UnavailableError(_RetryableError):
    """The gateway cannot serve this now (shutting down); retry later."""

    code = grpc.StatusCode.UNAVAILABLE


class DatabaseUnavailableError(UnavailableError):
    """The gateway's database cannot be reached now; retrying is safe (a submission with a
    request id is made once however often it is sent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="DATABASE_UNAVAILABLE", retry_after=DATABASE_RETRY_S)


DATABASE_RETRY_S = 1.0
"""What callers are told to wait while the database is away: it usually returns in seconds."""
UPSTREAM_RETRY_S = 30.0
"""What callers are told to wait before asking again for a backend of an unreachable upstream."""


def upstream_unavailable(message: str) -> UnavailableError:
    """The error for a backend whose upstream (IBM) cannot be used now."""
    return UnavailableError(message, reason="UPSTREAM_UNAVAILABLE", retry_after=UPSTREAM_RETRY_S)


def job_not_found(job_id: str) -> NotFoundError:
    """The error for a job that does not exist."""
    return NotFoundError(
        f"job {job_id!r} not found", reason="JOB_NOT_FOUND", metadata={"job_id": job_id}
    )


def backend_not_found(name: str, known: Sequence[str]) -> NotFoundError:
    """The error for a backend the gateway does not offer."""
    return NotFoundError(
        f"backend {name!r} not found; available: {', '.join(sorted(known))}",
        reason="BACKEND_NOT_FOUND",
        metadata={"backend": name},
    )


def status_for(error: GatewayError) -> status_pb2.Status:
    """The google.rpc.Status that reports ``error``: its code, message and details."""
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    return status_pb2.Status(
        code=error.code.value[0],
        message=error.message,
        details=[_pack(info), *error.details()],
    )


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed
