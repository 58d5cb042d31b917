"""Other RPCs' latency, timed from a client process of its own: sequential GetJob calls.

The gateway and the watcher process are busy with their streams; a call timed in either
would measure their event loops, not what another client of the gateway waits for.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import TYPE_CHECKING, Any

import grpc
from shared import loopback_credentials

from ibmq_gateway.v1 import job_service_pb2, job_service_pb2_grpc

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Calls made, unmeasured, when the probe starts: the channel connects and warms.
_WARMUP = 50
# Seconds the parent waits for the probe's answer beyond what its calls should take.
_ANSWER_TIMEOUT = 300.0


def probe_process(address: str, job_id: str, pipe: Connection) -> None:
    """Answers each ("time", calls) with the milliseconds of that many GetJob calls."""
    with grpc.secure_channel(address, loopback_credentials()) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        request = job_service_pb2.GetJobRequest(job_id=job_id)
        time_calls(stub, request, _WARMUP)
        pipe.send("ready")
        while (command := pipe.recv()) != "stop":
            _, calls = command
            pipe.send(time_calls(stub, request, calls))


def time_calls(
    stub: job_service_pb2_grpc.JobServiceStub, request: job_service_pb2.GetJobRequest, calls: int
) -> list[float]:
    delays = []
    for _ in range(calls):
        began = time.perf_counter()
        stub.GetJob(request, timeout=30)
        delays.append((time.perf_counter() - began) * 1000)
    return delays


class Probe:
    """A probe process for the gateway at ``address``, asking for ``job_id`` each call."""

    def __init__(self, address: str, job_id: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork: gRPC's threads would not survive
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=probe_process, args=(address, job_id, theirs))

    def __enter__(self) -> Probe:
        self._process.start()
        self._answer()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():
            self._pipe.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    def time_calls(self, calls: int) -> list[float]:
        """The milliseconds of each of ``calls`` sequential GetJob calls, made now."""
        self._pipe.send(("time", calls))
        delays: list[float] = self._answer()
        return delays

    def _answer(self) -> Any:
        if not self._pipe.poll(_ANSWER_TIMEOUT):
            raise TimeoutError(f"the probe process did not answer within {_ANSWER_TIMEOUT:.0f} s")
        return self._pipe.recv()
