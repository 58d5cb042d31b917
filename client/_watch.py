"""Following one job's WatchJob stream across disconnects, restarts and stream ends.

The gateway ends a stream with OK after the job's final event, but also, without a final
event, when the stream reaches its maximum age; it ends one with UNAVAILABLE when it
restarts and with RESOURCE_EXHAUSTED when the reader is too slow. ``JobFollower`` resumes
after each of these from the last resume token, with exponential back-off, and yields each
job snapshot once (by event ``sequence``), so callers see a plain sequence of snapshots.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import grpc

from ibmq_gateway.client._rpc import api_errors, status_code
from ibmq_gateway.client.exceptions import IBMQJobApiError, IBMQJobTimeoutError
from ibmq_gateway.v1 import job_service_pb2

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from ibmq_gateway.client._rpc import ApiClient
    from ibmq_gateway.v1 import job_pb2

# Ends after which the stream is opened again from the last token. CANCELLED is here
# because a gateway whose backlog is full refuses new streams with it.
_RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
MAX_OUTAGE = 300.0
"""Seconds of failed reconnects (no message in between) after which following gives up: a
gateway restart takes far less, and a caller without a timeout should not wait forever for a
gateway that is gone."""


class JobFollower:
    """Yields the snapshots of one job until it is final.

    Args:
        api: The transport.
        job_id: The job to follow.
        deadline: ``time.monotonic()`` value after which iteration raises ``TimeoutError``;
            None waits as long as the job runs.
    """

    def __init__(
        self,
        api: ApiClient,
        job_id: str,
        deadline: float | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._job_id = job_id
        self._deadline = deadline
        self._sleep = sleep
        self._token = ""
        self._sequence = 0
        self._delay = FIRST_DELAY
        self._failing_since: float | None = None
        self._context = f"Error checking status of job {job_id}"

    def __iter__(self) -> Iterator[job_pb2.Job]:
        """Snapshots in event order, each once; ends after the final one.

        Raises:
            TimeoutError: the deadline passed.
            IBMQJobApiError: the job does not exist, the gateway refused the watch, or it
                stayed unreachable for ``MAX_OUTAGE`` seconds.
        """
        while True:
            finished = yield from self._follow_once()
            if finished:
                return
            self._back_off()

    def _follow_once(self) -> Generator[job_pb2.Job, None, bool]:
        """Reads one stream; True once the final snapshot was yielded."""
        stream = self._api.job_watch(self._request(), timeout=self._remaining())
        snapshot = None
        try:
            for message in stream:
                self._on_message(message.resume_token)
                if message.HasField("event") and self._is_new(message.event.sequence):
                    yield message.event.job
                    if message.event.job.final:
                        return True
        except grpc.RpcError as err:
            snapshot = self._on_error(err)
        finally:
            # A no-op when the stream has ended; frees it when the caller stops early.
            stream.cancel()  # type: ignore[no-untyped-call]
        if snapshot is not None and self._is_new(snapshot.sequence):
            yield snapshot
            return snapshot.final
        return False

    def _is_new(self, sequence: int) -> bool:
        """Whether an event (or snapshot) is newer than the last one yielded; notes it."""
        if sequence <= self._sequence:
            return False
        self._sequence = sequence
        return True

    def _on_message(self, token: str) -> None:
        self._token = token
        self._delay = FIRST_DELAY
        self._failing_since = None

    def _on_error(self, err: grpc.RpcError) -> job_pb2.Job | None:
        """Decides what a failed stream means: resume, refetch, time out or give up.

        Returns:
            A fresh snapshot when the resume token had expired, else None.
        """
        code = status_code(err)
        if code is grpc.StatusCode.DEADLINE_EXCEEDED and self._expired():
            raise TimeoutError(f"Timeout while waiting for job {self._job_id}.") from err
        if code is grpc.StatusCode.OUT_OF_RANGE:
            # The token is older than the event log keeps: start over from the current
            # state. A watch without a token begins with it, and the snapshot fetched here
            # is yielded only when it is newer than the last event seen.
            self._token = ""
            with api_errors(IBMQJobApiError, self._context):
                return self._api.job_get(self._job_id).job
        if code in _RESUMABLE and not self._outage_too_long():
            return None
        with api_errors(IBMQJobApiError, self._context):
            raise err

    def _outage_too_long(self) -> bool:
        """Notes a failure; True once failures have lasted ``MAX_OUTAGE`` without a message."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        return now - self._failing_since >= MAX_OUTAGE

    def _request(self) -> job_service_pb2.WatchJobRequest:
        return job_service_pb2.WatchJobRequest(job_id=self._job_id, resume_token=self._token)

    def _back_off(self) -> None:
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(f"Timeout while waiting for job {self._job_id}.")
        self._sleep(self._delay if remaining is None else min(self._delay, remaining))
        self._delay = min(self._delay * 2, MAX_DELAY)

    def _remaining(self) -> float | None:
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline


def follow_until_final(api: ApiClient, job_id: str, timeout: float | None) -> Iterator[job_pb2.Job]:
    """Each snapshot of the job the stream brings, until it is final (see ``JobFollower``).

    Raises:
        IBMQJobTimeoutError: the job was not final within ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        yield from JobFollower(api, job_id, deadline)
    except TimeoutError as err:
        raise IBMQJobTimeoutError(f"Timeout while waiting for job {job_id}.") from err
