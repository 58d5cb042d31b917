"""Authenticated users' latency while a flood of bad tokens hits the gateway.

The gateway runs as ``ibmq-gateway serve`` (own process, fresh state, no fake devices). This
process times sequential authenticated ``GetJob`` calls: first with the gateway idle, then
while a flood process (grpc.aio) sends ``GetJob`` with a new random bad token each call,
either over a few connections with many calls in flight, or on a new connection per call.
Prints p50, p99 and max of each phase and the ratio of each flood's p99 to the idle p99.

    .venv/bin/python bench/auth_flood.py [--calls 1000] [--connections 20] [--in-flight 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol

import grpc
from server_start import SERVE, base_environ, free_port, wait_serving
from shared import BELL_QASM3, loopback_credentials, positive

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

GET_JOB = "/ibmq_gateway.v1.JobService/GetJob"
FLOOD_WARMUP_S = 2.0
IN_FLIGHT = "many calls in flight"
NEW_CONNECTIONS = "new connection per call"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--calls", type=positive, default=1000, help="timed calls per phase")
    parser.add_argument("--connections", type=positive, default=20, help="flood connections")
    parser.add_argument("--in-flight", type=positive, default=20, help="flood calls per conn.")
    return parser.parse_args()


async def _bad_call(channel: grpc.aio.Channel, job_id: str) -> None:
    call = channel.unary_unary(
        GET_JOB,
        job_service_pb2.GetJobRequest.SerializeToString,
        job_service_pb2.GetJobResponse.FromString,
    )
    token = (("authorization", f"Bearer igw_{secrets.token_urlsafe(32)}"),)
    with contextlib.suppress(grpc.RpcError):
        await call(job_service_pb2.GetJobRequest(job_id=job_id), metadata=token, timeout=10)


class Counter(Protocol):
    value: int


async def _flood_calls(channel: grpc.aio.Channel, job_id: str, sent: Counter) -> None:
    while True:
        await _bad_call(channel, job_id)
        sent.value += 1


async def _one_connection_each(address: str, job_id: str, sent: Counter) -> None:
    while True:
        options = (("grpc.use_local_subchannel_pool", 1),)
        async with grpc.aio.insecure_channel(address, options) as channel:
            await _bad_call(channel, job_id)
        sent.value += 1


async def _flood(
    address: str, job_id: str, mode: str, shape: tuple[int, int], sent: Counter
) -> None:
    connections, in_flight = shape
    if mode == NEW_CONNECTIONS:
        await asyncio.gather(
            *(_one_connection_each(address, job_id, sent) for _ in range(connections))
        )
        return
    channels = [
        grpc.aio.insecure_channel(address, (("grpc.use_local_subchannel_pool", 1),))
        for _ in range(connections)
    ]
    await asyncio.gather(
        *(_flood_calls(c, job_id, sent) for c in channels for _ in range(in_flight))
    )


def flood_process(
    address: str, job_id: str, mode: str, shape: tuple[int, int], sent: Counter
) -> None:
    """The flood, in a process of its own so that it does not share this one's GIL; it runs
    until it is terminated, counting its calls in ``sent``."""
    asyncio.run(_flood(address, job_id, mode, shape, sent))


def timed_calls(stub: job_service_pb2_grpc.JobServiceStub, job_id: str, calls: int) -> list[float]:
    request = job_service_pb2.GetJobRequest(job_id=job_id)
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        stub.GetJob(request, timeout=30)
        times.append(time.perf_counter() - began)
    return times


def describe(name: str, times: list[float], idle_p99: float | None) -> float:
    ordered = sorted(times)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    ratio = f", p99 {p99 / idle_p99:.2f}x idle" if idle_p99 else ""
    print(
        f"  {name:<36} p50 {statistics.median(ordered) * 1e3:6.2f} ms, "
        f"p99 {p99 * 1e3:6.2f} ms, max {ordered[-1] * 1e3:6.2f} ms{ratio}"
    )
    return p99


def run(args: argparse.Namespace, address: str) -> None:
    with grpc.secure_channel(address, loopback_credentials()) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        circuit = job_pb2.Circuit(qasm3=BELL_QASM3)
        submitted = stub.SubmitJob(
            job_service_pb2.SubmitJobRequest(backend="aer_simulator", circuits=[circuit]),
            timeout=30,
        )
        job_id = submitted.job.id
        timed_calls(stub, job_id, 200)  # warm-up, discarded
        print(f"authenticated GetJob, N={args.calls} sequential calls per phase:")
        idle_p99 = describe("idle", timed_calls(stub, job_id, args.calls), None)
        for mode in (IN_FLIGHT, NEW_CONNECTIONS):
            flood_phase(args, address, stub, job_id, mode, idle_p99)


def flood_phase(
    args: argparse.Namespace,
    address: str,
    stub: job_service_pb2_grpc.JobServiceStub,
    job_id: str,
    mode: str,
    idle_p99: float,
) -> None:
    context = multiprocessing.get_context("spawn")
    sent = context.Value("q", 0, lock=False)
    shape = (args.connections, args.in_flight if mode == IN_FLIGHT else 1)
    flood = context.Process(target=flood_process, args=(address, job_id, mode, shape, sent))
    flood.start()
    try:
        time.sleep(FLOOD_WARMUP_S)
        before, began = sent.value, time.monotonic()
        times = timed_calls(stub, job_id, args.calls)
        rate = (sent.value - before) / (time.monotonic() - began)
    finally:
        flood.terminate()
        flood.join(10)
    describe(f"flood: {mode} ({shape[0]}x{shape[1]})", times, idle_p99)
    print(f"    (the flood got {rate:,.0f} answers/s to bad tokens meanwhile)")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="auth-flood-") as tmp:
        address = f"127.0.0.1:{free_port()}"
        command = [*SERVE, "serve", "--address", address, "--state-dir", f"{tmp}/state"]
        env = base_environ(IBMQ_GATEWAY_FAKE_DEVICES="")
        with (Path(tmp) / "serve.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            try:
                wait_serving(address, process, time.perf_counter())
                run(args, address)
            finally:
                process.terminate()
                process.wait(30)


if __name__ == "__main__":
    main()
