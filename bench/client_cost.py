"""What the Python client costs its user: import, provider, and ``IBMQJob.result()``.

Import: ``import ibmq_gateway.client`` in a fresh interpreter, beside ``import qiskit`` alone
(the client needs qiskit; the difference is the client's own share). Provider: a fresh
interpreter's ``GatewayProvider(address)`` and ``get_backend("aer_simulator")`` against a
running gateway. Result: a job of ``--circuits`` Bell circuits; ``job.result(refresh=True)``
against the bare ``GetJobResult`` call it makes, so the difference is the client's work of
turning the gateway's answer into a qiskit ``Result``. Medians of ``--runs``.

    .venv/bin/python bench/client_cost.py [--runs 5] [--circuits 100] [--results 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import grpc
from qiskit import QuantumCircuit
from shared import BENCH_TOKEN, embedded_gateway, loopback_credentials, positive

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.client.job import IBMQJob
from ibmq_gateway.v1 import job_service_pb2, job_service_pb2_grpc

# Run in a fresh interpreter; each prints the seconds its timed part took.
_TIMED_IMPORT = (
    "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
)
_TIMED_PROVIDER = """import time
from ibmq_gateway.client import GatewayProvider
t = time.perf_counter()
GatewayProvider({address!r}).get_backend("aer_simulator")
print(time.perf_counter() - t)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=positive, default=5, help="fresh interpreters per figure")
    parser.add_argument("--circuits", type=positive, default=100, help="circuits in the job")
    parser.add_argument("--results", type=positive, default=20, help="result() calls timed")
    return parser.parse_args()


def fresh_interpreter_seconds(code: str, runs: int) -> list[float]:
    """The figure ``code`` prints, from ``runs`` new interpreters."""
    environment = {**os.environ, "IBMQ_GATEWAY_TOKEN": BENCH_TOKEN}
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env=environment,
                timeout=120,
            ).stdout.split()[-1]
        )
        for _ in range(runs)
    ]


def bell(index: int) -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name=f"bell-{index}")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def done_job(provider: GatewayProvider, circuits: int) -> IBMQJob:
    job = provider.get_backend("aer_simulator").run([bell(i) for i in range(circuits)], shots=1024)
    job.result(timeout=300)
    return job


def result_seconds(job: IBMQJob, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        job.result(refresh=True)
        times.append(time.perf_counter() - start)
    return times


def rpc_seconds(address: str, job_id: str, count: int) -> list[float]:
    with grpc.secure_channel(address, loopback_credentials()) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        request = job_service_pb2.GetJobResultRequest(job_id=job_id)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            stub.GetJobResult(request, timeout=30)
            times.append(time.perf_counter() - start)
        return times


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms"


def main() -> None:
    args = parse_args()
    qiskit_import = fresh_interpreter_seconds(_TIMED_IMPORT.format(module="qiskit"), args.runs)
    client_import = fresh_interpreter_seconds(
        _TIMED_IMPORT.format(module="ibmq_gateway.client"), args.runs
    )
    print(f"fresh interpreter, N={args.runs}:")
    print(f"  import qiskit                      {ms(qiskit_import)}")
    print(f"  import ibmq_gateway.client         {ms(client_import)}")
    share = statistics.median(client_import) - statistics.median(qiskit_import)
    print(f"    the client's own share            about {share * 1000:.0f} ms")
    with embedded_gateway() as gateway:
        code = _TIMED_PROVIDER.format(address=gateway.address)
        provider_build = fresh_interpreter_seconds(code, args.runs)
        print(f"  GatewayProvider + get_backend      {ms(provider_build)}")
        with GatewayProvider(gateway.address, BENCH_TOKEN) as provider:
            job = done_job(provider, args.circuits)
            through_client = result_seconds(job, args.results)
        bare = rpc_seconds(gateway.address, job.job_id(), args.results)
    overhead = statistics.median(through_client) - statistics.median(bare)
    print(f"result of a {args.circuits}-circuit job, N={args.results}:")
    print(f"  GetJobResult call alone            {ms(bare)}")
    print(f"  IBMQJob.result(refresh=True)       {ms(through_client)}")
    per_circuit = overhead / args.circuits * 1e6
    work = f"{overhead * 1000:.1f} ms, {per_circuit:.0f} us per circuit"
    print(f"    the client's work                 {work}")


if __name__ == "__main__":
    main()
