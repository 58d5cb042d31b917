"""Whether parsing OpenQASM 3 holds up the gateway's other work.

Sequential ``GetJob`` calls, answered on the event loop that also feeds every stream, idle and while
``--in-flight`` threads keep submitting OpenQASM 3 circuits of ``--gates`` gates each (about
30 ms of parsing apiece with the default). The parser is pure Python: on a thread it would
hold the interpreter lock the event loop needs, so the gateway parses OpenQASM past 1 KiB
in a worker process (``server/jobs/circuit_parser.py``). The ratio to idle says what a burst
still costs everything else; the same burst of the same circuit as QPY, with nothing to
parse, shows how much of that is the jobs' own storing, running and streaming. The gateway runs
embedded, on a thread of this process.

    .venv/bin/python bench/parse_burst.py [--calls 2000] [--gates 120] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from qiskit import qasm3, qpy
from shared import BELL_QASM3, BENCH_TOKEN, loopback_credentials, positive

from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc


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


def get_job_seconds(
    stub: job_service_pb2_grpc.JobServiceStub, job_id: str, calls: int
) -> list[float]:
    request = job_service_pb2.GetJobRequest(job_id=job_id)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        stub.GetJob(request, timeout=30)
        times.append(time.perf_counter() - start)
    return times


def submit_until(
    stub: job_service_pb2_grpc.JobServiceStub,
    circuit: job_pb2.Circuit,
    stop: threading.Event,
    count: list[int],
    interval: float,
) -> None:
    """Submits ``circuit`` until ``stop``, starting one at most every ``interval`` seconds."""
    request = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator", circuits=[circuit], run_options=job_pb2.RunOptions(shots=16)
    )
    while not stop.is_set():
        started = time.perf_counter()
        stub.SubmitJob(request, timeout=60)
        count.append(1)
        stop.wait(interval - (time.perf_counter() - started))


@dataclass
class Burst:
    get_job_seconds: list[float]
    submitted: int
    seconds: float


def during_burst(
    stub: job_service_pb2_grpc.JobServiceStub,
    job_id: str,
    circuit: job_pb2.Circuit,
    args,
    per_second: float | None = None,
) -> Burst:
    """GetJob's times while ``args.in_flight`` threads keep submitting ``circuit``, as fast as
    they are answered or at ``per_second`` submissions between them."""
    stop, submitted = threading.Event(), list[int]()
    interval = args.in_flight / per_second if per_second else 0.0
    threads = [
        threading.Thread(target=submit_until, args=(stub, circuit, stop, submitted, interval))
        for _ in range(args.in_flight)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    calls = get_job_seconds(stub, job_id, args.calls)
    stop.set()
    for thread in threads:
        thread.join(60)
    return Burst(calls, len(submitted), time.perf_counter() - started)


def as_qpy(qasm: str) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(qasm3.loads(qasm), buffer)
    return buffer.getvalue()


def p(values: list[float], quantile: float) -> float:
    return statistics.quantiles(values, n=100)[int(quantile) - 1] * 1000


def line(name: str, values: list[float], idle: list[float] | None) -> str:
    text = f"  {name:32} p50 {p(values, 50):7.2f} p99 {p(values, 99):7.2f} ms"
    if idle is not None:
        text += f", p99 {p(values, 99) / p(idle, 99):.2f}x idle"
    return text


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as state_dir:
        settings = Settings(
            address="127.0.0.1:0",
            state_dir=Path(state_dir),
            fake_devices=(),
            bootstrap_token=BENCH_TOKEN,
        )
        with (
            EmbeddedGateway(settings) as gateway,
            grpc.secure_channel(gateway.address, loopback_credentials()) as channel,
        ):
            run(job_service_pb2_grpc.JobServiceStub(channel), args)


def run(stub: job_service_pb2_grpc.JobServiceStub, args: argparse.Namespace) -> None:
    submit = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator", circuits=[job_pb2.Circuit(qasm3=BELL_QASM3)]
    )
    job_id = stub.SubmitJob(submit, timeout=30).job.id
    idle_calls = get_job_seconds(stub, job_id, args.calls)
    qasm = large_qasm3(args.gates)
    parsed = during_burst(stub, job_id, job_pb2.Circuit(qasm3=qasm), args)
    # At the same rate: the same jobs to store, run and stream, without the parse.
    rate = parsed.submitted / parsed.seconds
    qpy_circuit = job_pb2.Circuit(qpy=as_qpy(qasm))
    bursts = {
        "OpenQASM 3": parsed,
        "QPY at that rate, no parse": during_burst(stub, job_id, qpy_circuit, args, rate),
    }
    print(f"GetJob, N={args.calls} sequential calls per phase:")
    print(line("idle GetJob", idle_calls, None))
    print(f"while {args.in_flight} threads submit the same {args.gates}-gate circuit, as")
    for name, burst in bursts.items():
        print(line(name, burst.get_job_seconds, idle_calls))
        print(f"    ({burst.submitted} submissions in {burst.seconds:.1f} s)")


if __name__ == "__main__":
    main()
