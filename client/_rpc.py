"""The transport: one channel to the gateway, its stubs, and the translation of RPC errors.

``ApiClient`` names each call noun first (``job_get``, ``jobs_list``) and returns the
generated response messages; it adds the bearer token and a deadline to every call and
lets ``grpc.RpcError`` through. ``api_errors`` is the one place where such an error becomes
one of the client's exceptions. The channel's TLS credentials come from ``_tls``.
"""

from __future__ import annotations

import ipaddress
import random
import time
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ibmq_gateway.client._credentials import resolve_token
from ibmq_gateway.client._tls import tls_credentials
from ibmq_gateway.client.exceptions import IBMQBackendApiError, IBMQJobApiError
from ibmq_gateway.v1 import (
    backend_service_pb2,
    backend_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from google.protobuf import any_pb2
    from google.protobuf.timestamp_pb2 import Timestamp

    from ibmq_gateway.v1 import backend_pb2, job_pb2, result_pb2

UNARY_TIMEOUT = 60.0
"""Deadline of every unary call, in seconds, so that a stuck gateway cannot hang a caller."""

_CHANNEL_OPTIONS = [
    # Results with per-shot memory can be far larger than gRPC's 4 MiB default.
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    # Calls spread over every address the target names (replicas behind one DNS name,
    # or a list), not all on the first that answers.
    ("grpc.lb_policy_name", "round_robin"),
    # A restarted replica is reached within a second, not after gRPC's default backoff
    # of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
# Codes after which a request that is safe to repeat is sent again.
_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

_Response = TypeVar("_Response")


def client_version() -> str:
    """The installed version of this distribution (``"unknown"`` when not installed)."""
    try:
        return metadata.version("ibmq-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


def channel_target(target: str | Sequence[str]) -> str:
    """gRPC's name for one address or several: ``ip:port`` addresses become one ``ipv4:``
    (or ``ipv6:``) target the channel balances over.

    Raises:
        ValueError: several addresses of which one is not ``ip:port``; gRPC balances over
            a list of IP addresses only, so replicas with host names go behind one DNS name.
    """
    addresses = [a.strip() for a in (target.split(",") if isinstance(target, str) else target)]
    if len(addresses) == 1:
        return addresses[0]
    families = {_ip_version(address) for address in addresses}
    if families not in ({4}, {6}):
        raise ValueError(
            f"cannot balance over {','.join(addresses)}: give several addresses as ip:port,"
            " all IPv4 or all IPv6, or one DNS name that resolves to every replica"
        )
    return f"ipv{families.pop()}:{','.join(addresses)}"


def _ip_version(address: str) -> int | None:
    """4 or 6 for an ``ip:port`` (IPv6 in brackets), None for anything else."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).version
    except ValueError:
        return None


class ApiClient:
    """The gateway's RPCs over one channel.

    Args:
        target: ``host:port`` of the gateway.
        token: Bearer token; ``None`` looks for one (see ``resolve_token``); empty sends none.
        credentials: TLS credentials; ``None`` takes them from the environment (see
            ``tls_credentials``), else opens a plaintext channel.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target = channel_target(target)
        if credentials is None:
            credentials = tls_credentials()
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
        token = resolve_token(token)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        # The generated stubs are untyped; each method below types its response.
        self._jobs = job_service_pb2_grpc.JobServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._backends = backend_service_pb2_grpc.BackendServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Closes the channel; calls in flight end with CANCELLED."""
        self._channel.close()

    def job_submit(self, request: job_service_pb2.SubmitJobRequest) -> job_pb2.Job:
        """Submits a job, repeating the same request (same ``request_id``) on transient errors."""
        response: job_service_pb2.SubmitJobResponse = retry_transient(
            lambda: self._jobs.SubmitJob(request, timeout=UNARY_TIMEOUT, metadata=self._metadata)
        )
        return response.job

    def job_get(self, job_id: str, *, full: bool = False) -> job_service_pb2.GetJobResponse:
        """One job; with ``full`` it includes the submitted circuits."""
        view = job_service_pb2.JOB_VIEW_FULL if full else job_service_pb2.JOB_VIEW_BASIC
        request = job_service_pb2.GetJobRequest(job_id=job_id, view=view)
        response: job_service_pb2.GetJobResponse = self._jobs.GetJob(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response

    def jobs_list(
        self, request: job_service_pb2.ListJobsRequest
    ) -> job_service_pb2.ListJobsResponse:
        """One page of jobs."""
        response: job_service_pb2.ListJobsResponse = self._jobs.ListJobs(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response

    def job_cancel(self, job_id: str) -> job_pb2.Job:
        """Cancels a job; FAILED_PRECONDITION when it is already final."""
        request = job_service_pb2.CancelJobRequest(job_id=job_id)
        response: job_service_pb2.CancelJobResponse = self._jobs.CancelJob(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response.job

    def job_update(self, request: job_service_pb2.UpdateJobRequest) -> job_pb2.Job:
        """Changes a job's name and/or tags."""
        response: job_service_pb2.UpdateJobResponse = self._jobs.UpdateJob(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response.job

    def job_result(self, job_id: str, *, allow_partial: bool = False) -> result_pb2.JobResult:
        """The result of a final job."""
        request = job_service_pb2.GetJobResultRequest(job_id=job_id, allow_partial=allow_partial)
        response: job_service_pb2.GetJobResultResponse = self._jobs.GetJobResult(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response.result

    def job_watch(
        self, request: job_service_pb2.WatchJobRequest, timeout: float | None
    ) -> grpc.CallIterator[job_service_pb2.WatchJobResponse]:
        """Opens a WatchJob stream; ``timeout`` bounds the whole stream."""
        stream: grpc.CallIterator[job_service_pb2.WatchJobResponse] = self._jobs.WatchJob(
            request, timeout=timeout, metadata=self._metadata
        )
        return stream

    def backends_list(self) -> list[backend_pb2.Backend]:
        """Every backend, with its target."""
        request = backend_service_pb2.ListBackendsRequest(omit_targets=False)
        response: backend_service_pb2.ListBackendsResponse = self._backends.ListBackends(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return list(response.backends)

    def backend_get(self, name: str) -> backend_pb2.Backend:
        """One backend; NOT_FOUND when the gateway does not offer it."""
        request = backend_service_pb2.GetBackendRequest(name=name)
        response: backend_service_pb2.GetBackendResponse = self._backends.GetBackend(
            request, timeout=UNARY_TIMEOUT, metadata=self._metadata
        )
        return response.backend

    def backend_properties(
        self, name: str, as_of_time: Timestamp | None = None
    ) -> backend_service_pb2.GetBackendPropertiesResponse:
        """A backend's calibration data, optionally as it stood at ``as_of_time``."""
        request = backend_service_pb2.GetBackendPropertiesRequest(name=name, as_of_time=as_of_time)
        response: backend_service_pb2.GetBackendPropertiesResponse = (
            self._backends.GetBackendProperties(
                request, timeout=UNARY_TIMEOUT, metadata=self._metadata
            )
        )
        return response


def retry_transient(
    call: Callable[[], _Response], attempts: int = 4, first_delay: float = 0.2
) -> _Response:
    """Runs ``call``, repeating it with jittered exponential back-off on transient errors:
    UNAVAILABLE, DEADLINE_EXCEEDED, and any error whose ``RetryInfo`` says when to come
    back (a busy parser); that pause is waited at least.

    Only for requests that are safe to repeat, such as a submit with a fixed request id.
    """
    delay = first_delay
    for _ in range(attempts - 1):
        try:
            return call()
        except grpc.RpcError as err:
            asked = retry_delay(err)
            if err.code() not in _TRANSIENT and asked is None:
                raise
        time.sleep(max(delay * random.uniform(0.5, 1.5), asked or 0.0))
        delay *= 2
    return call()


def retry_delay(err: grpc.RpcError) -> float | None:
    """The seconds a failed call's ``RetryInfo`` asks to wait before it is sent again."""
    for detail in _status_details(err):
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToNanoseconds()) / 1e9
    return None


def status_code(err: grpc.RpcError) -> grpc.StatusCode | None:
    """The status code of a failed call (None when the error carries none)."""
    try:
        return err.code()
    except AttributeError:
        return None


def describe(err: grpc.RpcError) -> tuple[str, str]:
    """The reason (``ErrorInfo.reason`` or ``""``) and a readable text of a failed call."""
    code = status_code(err)
    text = f"{code.name if code else 'UNKNOWN'}: {err.details() or 'no details'}"
    reason = ""
    for detail in _status_details(err):
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            text += "".join(f"; {v.field}: {v.description}" for v in bad.field_violations)
    return reason, f"{text} ({reason})" if reason else text


def _status_details(err: grpc.RpcError) -> list[any_pb2.Any]:
    if not isinstance(err, grpc.Call):
        return []
    try:
        status = rpc_status.from_call(err)
    except ValueError:  # the details disagree with the status line; trust the status line
        return []
    return list(status.details) if status is not None else []


@contextmanager
def api_errors(
    kind: type[IBMQJobApiError | IBMQBackendApiError] = IBMQJobApiError, context: str = ""
) -> Iterator[None]:
    """Turns a ``grpc.RpcError`` raised inside the block into ``kind``.

    Args:
        kind: The exception to raise.
        context: What was being done, put in front of the gateway's message.
    """
    try:
        yield
    except grpc.RpcError as err:
        reason, text = describe(err)
        message = f"{context}: {text}" if context else text
        raise kind(message, code=status_code(err), reason=reason) from err
