"""The run's clients: submissions retried across kills, and watchers resumed across them.

Both speak grpc.aio over channels that reconnect within a second of a gateway coming
back (gRPC's own back-off grows to minutes), and every call waits for a ready channel
while its gateway is down, up to the run's deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.chaos.fleet import TOKEN
from tests.chaos.workload import Planned

CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
"""A submission that failed so may or may not have been committed: sent again, same id."""
CALL_TIMEOUT_S = 10.0
HEARTBEAT = duration_pb2.Duration(seconds=1)


def channel(addresses: list[str]) -> grpc.aio.Channel:
    """One channel over ``addresses`` (round robin), with the run's token on every call."""
    credentials = grpc.composite_channel_credentials(
        grpc.local_channel_credentials(), grpc.access_token_call_credentials(TOKEN)
    )
    options = [*CHANNEL_OPTIONS, ("grpc.lb_policy_name", "round_robin")]
    return grpc.aio.secure_channel("ipv4:" + ",".join(addresses), credentials, options)


@dataclass
class Submission:
    """One planned job and what became of it."""

    planned: Planned
    job_id: str = ""
    sequence: int = 0
    """The job's sequence in the SubmitJob answer; its resume token continues after it."""
    token: str = ""
    attempts: int = 0
    deduplicated: bool = False
    """The answer came from an earlier attempt's commit (the retry made no new job)."""
    error: str = ""


class Submitter:
    """Submits jobs, sending a request again with its request id while gateways die."""

    def __init__(self, stub: job_service_pb2_grpc.JobServiceStub, stop_at: float) -> None:
        self._stub = stub
        self._stop_at = stop_at
        self.in_flight = 0
        """SubmitJob calls sent and not answered yet (a kill now may cut a commit)."""
        self.answered = asyncio.Event()
        """Set at each answer: the calls still in flight are being committed."""

    async def submit(self, submission: Submission) -> None:
        """Sends the request until it is answered, refused for good, or time is up."""
        while not submission.job_id:
            submission.attempts += 1
            self.in_flight += 1
            try:
                response = await self._stub.SubmitJob(
                    submission.planned.request, timeout=self._timeout(), wait_for_ready=True
                )
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRIED or self._timeout() <= 0.1:
                    submission.error = f"{error.code().name}: {error.details()}"
                    return
                await asyncio.sleep(0.1)
                continue
            finally:
                self.in_flight -= 1
            submission.job_id = response.job.id
            submission.sequence = response.job.sequence
            submission.token = response.resume_token
            submission.deduplicated = response.deduplicated
            self.answered.set()

    def _timeout(self) -> float:
        return max(min(CALL_TIMEOUT_S, self._stop_at - time.monotonic()), 0.1)


@dataclass
class Watch:
    """One watcher of one job: what it saw, across its reconnects."""

    job_id: str
    token: str
    after: int | None
    """It expects every event after this sequence (None: from the first one it receives,
    as it started without a token, at the job's current state)."""
    home: int
    """The gateway it starts on; it moves to the next one when a stream breaks."""
    seen: list[int] = field(default_factory=list)
    breaks: int = 0
    finished: bool = False


async def follow(
    watch: Watch,
    stubs: list[job_service_pb2_grpc.JobServiceStub],
    stop_at: float,
    on_event: Callable[[job_pb2.JobEvent], None],
) -> None:
    """Reads the job's stream to its final event, resuming with the last token it got
    whenever the stream breaks, until ``stop_at``."""
    gateway = watch.home
    while not watch.finished and time.monotonic() < stop_at:
        request = job_service_pb2.WatchJobRequest(
            job_id=watch.job_id, resume_token=watch.token, heartbeat_interval=HEARTBEAT
        )
        stream = stubs[gateway].WatchJob(
            request, timeout=stop_at - time.monotonic(), wait_for_ready=True
        )
        try:
            async for message in stream:
                watch.token = message.resume_token
                if message.HasField("event"):
                    watch.seen.append(message.event.sequence)
                    watch.finished = message.event.job.final
                    on_event(message.event)
        except grpc.aio.AioRpcError:
            watch.breaks += 1
            gateway = (gateway + 1) % len(stubs)
            await asyncio.sleep(0.1)
        # A stream that ends OK before the final event reached its maximum age: resume.
