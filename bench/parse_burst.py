"""Whether parsing OpenQASM 3 holds up the gateway's other work.

Sequential ``GetJob`` calls, answered on the event loop that also feeds every stream, idle and while
``--in-flight`` threads keep submitting OpenQASM 3 circuits of ``--gates`` gates each (about
30 ms of parsing apiece with the default). The parser is pure Python: on a thread it would
hold the interpreter lock the event loop needs, so the gateway parses OpenQASM past 1 KiB
in a worker process (``server/jobs/circuit_parser.py``). The ratio to idle says what a burst
still costs everything else; the same burst of the same circuit as QPY, with nothing to
parse, shows how much of that is the jobs' own storing, running and streaming. The gateway runs
embedded, on a thread of this process, which does nothing else meanwhile: the calls come
from a probe process of their own (``rpc_probe.py``) and the submissions from another, as
any other client's would (sent from this process, they would share the interpreter lock of
the gateway they measure).

    .venv/bin/python bench/parse_burst.py [--calls 2000] [--gates 120] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from qiskit import qasm3, qpy
from rpc_probe import Probe
from shared import BELL_QASM3, embedded_gateway, loopback_credentials, positive

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Seconds to wait for the submitting process to start or to stop.
_BURST_PROCESS_TIMEOUT = 120.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--calls", type=positive, default=2000, help="GetJob calls per phase")
    parser.add_argument("--gates", type=positive, default=120, help="gates per circuit")
    parser.add_argument("--in-flight", type=positive, default=4, help="submitting threads")
    return parser.parse_args()


def large_qasm3(gates: int) -> str:
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "qubit[5] q;", "bit[5] c;"]
    for index in range(gates // 2):
        lines.append(f"rz({0.001 * index}) q[{index % 5}];")
        lines.append(f"cx q[{index % 5}], q[{(index + 1) % 5}];")
    lines.append("c = measure q;")
    return "\n".join(lines)


def submit_until(
    stub: job_service_pb2_grpc.JobServiceStub,
    request: job_service_pb2.SubmitJobRequest,
    stop: threading.Event,
    count: list[int],
    interval: float,
) -> None:
    """Submits ``request`` until ``stop``, starting one at most every ``interval`` seconds."""
    while not stop.is_set():
        started = time.perf_counter()
        stub.SubmitJob(request, timeout=60)
        count.append(1)
        stop.wait(interval - (time.perf_counter() - started))


def burst_process(
    address: str, request: bytes, in_flight: int, interval: float, pipe: Connection
) -> None:
    """Submits from ``in_flight`` threads until told to stop; answers with how many it sent."""
    submit = job_service_pb2.SubmitJobRequest.FromString(request)
    stop, submitted = threading.Event(), list[int]()
    with grpc.secure_channel(address, loopback_credentials()) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        threads = [
            threading.Thread(target=submit_until, args=(stub, submit, stop, submitted, interval))
            for _ in range(in_flight)
        ]
        for thread in threads:
            thread.start()
        pipe.send("started")
        pipe.recv()
        stop.set()
        for thread in threads:
            thread.join(60)
        pipe.send(len(submitted))


@dataclass
class Burst:
    get_job_ms: list[float]
    submitted: int
    seconds: float


def during_burst(
    address: str,
    probe: Probe,
    circuit: job_pb2.Circuit,
    args: argparse.Namespace,
    per_second: float | None = None,
) -> Burst:
    """GetJob's times while ``args.in_flight`` threads of another process keep submitting
    ``circuit``, as fast as they are answered or at ``per_second`` submissions between them."""
    request = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator", circuits=[circuit], run_options=job_pb2.RunOptions(shots=16)
    )
    interval = args.in_flight / per_second if per_second else 0.0
    context = multiprocessing.get_context("spawn")  # no fork: gRPC's threads would not survive
    pipe, theirs = context.Pipe()
    burst_args = (address, request.SerializeToString(), args.in_flight, interval, theirs)
    process = context.Process(target=burst_process, args=burst_args)
    process.start()
    try:
        answer(pipe)
        started = time.perf_counter()
        calls = probe.time_calls(args.calls)
        pipe.send("stop")
        submitted = int(answer(pipe))  # type: ignore[call-overload]
        return Burst(calls, submitted, time.perf_counter() - started)
    finally:
        process.join(_BURST_PROCESS_TIMEOUT)
        if process.is_alive():
            process.kill()


def answer(pipe: Connection) -> object:
    if not pipe.poll(_BURST_PROCESS_TIMEOUT):
        raise TimeoutError(f"the submitting process did not answer in {_BURST_PROCESS_TIMEOUT} s")
    return pipe.recv()


def as_qpy(qasm: str) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(qasm3.loads(qasm), buffer)
    return buffer.getvalue()


def p(values: list[float], quantile: int) -> float:
    return statistics.quantiles(values, n=100)[quantile - 1]


def line(name: str, values: list[float], idle: list[float] | None) -> str:
    text = f"  {name:32} p50 {p(values, 50):7.2f} p99 {p(values, 99):7.2f} ms"
    if idle is not None:
        text += f", p99 {p(values, 99) / p(idle, 99):.2f}x idle"
    return text


def main() -> None:
    args = parse_args()
    with (
        embedded_gateway() as gateway,
        grpc.secure_channel(gateway.address, loopback_credentials()) as channel,
    ):
        submit = job_service_pb2.SubmitJobRequest(
            backend="aer_simulator", circuits=[job_pb2.Circuit(qasm3=BELL_QASM3)]
        )
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        job_id = stub.SubmitJob(submit, timeout=30).job.id
        with Probe(gateway.address, job_id) as probe:
            run(gateway.address, probe, args)


def run(address: str, probe: Probe, args: argparse.Namespace) -> None:
    idle_calls = probe.time_calls(args.calls)
    qasm = large_qasm3(args.gates)
    parsed = during_burst(address, probe, job_pb2.Circuit(qasm3=qasm), args)
    # At the same rate: the same jobs to store, run and stream, without the parse.
    rate = parsed.submitted / parsed.seconds
    qpy_circuit = job_pb2.Circuit(qpy=as_qpy(qasm))
    bursts = {
        "OpenQASM 3": parsed,
        "QPY at that rate, no parse": during_burst(address, probe, qpy_circuit, args, rate),
    }
    print(f"GetJob, N={args.calls} sequential calls per phase, from a process of their own:")
    print(line("idle GetJob", idle_calls, None))
    threads = f"{args.in_flight} threads of another process"
    print(f"while {threads} submit the same {args.gates}-gate circuit, as")
    for name, burst in bursts.items():
        print(line(name, burst.get_job_ms, idle_calls))
        print(f"    ({burst.submitted} submissions in {burst.seconds:.1f} s)")


if __name__ == "__main__":
    main()
