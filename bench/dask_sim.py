"""A 200-circuit 16-qubit job in process and on a two-worker Dask cluster, in one run.

Runs the same job through the in-process executor (one worker process; Aer's own threads
use both cores) and through the cluster executor on a ``LocalCluster`` of two single-thread
worker processes, on a noisy 16-qubit fake device (``fake_guadalupe``, a Falcon like
``fake_manila``) and on Aer's ideal simulator. It checks that both give the same counts,
then prints each run's time, how the cluster's time splits into simulation and per-chunk
overhead (from Dask's task stream), and what a 16-thread cluster would take from those
measured costs. Both executors build their simulators in a warm-up job first, untimed.

    .venv/bin/python bench/dask_sim.py [--circuits 200] [--shots 100] [--method ...]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any

from distributed import LocalCluster, get_task_stream
from qiskit import QuantumCircuit, transpile
from shared import positive

from ibmq_gateway.server.core.model import Job, RunOptions
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.executors.base import Executor
from ibmq_gateway.server.executors.dask.chunks import CHUNKS_PER_THREAD, encode, split
from ibmq_gateway.server.executors.dask.cluster import Cluster
from ibmq_gateway.server.executors.dask.executor import DaskExecutor
from ibmq_gateway.server.executors.local.catalog import AER_SIMULATOR, load_fake_devices
from ibmq_gateway.server.executors.local.executor import LocalExecutor

DEVICE = "fake_guadalupe"
WIDTH = 16
PROJECTED_THREADS = 16


class Silent:
    """A ``RunReporter`` that nobody listens to."""

    async def running(self) -> None:
        pass

    async def queued(self, info: Any) -> None:
        pass

    async def sent(self, provider_job_id: str) -> None:
        pass


def circuits_for(backend: str, count: int) -> list[QuantumCircuit]:
    """``count`` 16-qubit circuits: entangling gates on the device's own couplings."""
    device = load_fake_devices([DEVICE])[DEVICE]
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for a, b in sorted({tuple(sorted(edge)) for edge in device.coupling_map.get_edges()}):
        if not {a, b} & used:
            pairs.append((a, b))
            used |= {a, b}
    circuits = []
    for index in range(count):
        circuit = QuantumCircuit(WIDTH, WIDTH, name=f"c{index}")
        circuit.h(range(WIDTH))
        for a, b in pairs:
            circuit.cx(a, b)
        circuit.rz(0.01 * (index + 1), range(WIDTH))
        circuit.measure(range(WIDTH), range(WIDTH))
        circuits.append(circuit)
    if backend == AER_SIMULATOR:
        return circuits
    return list(transpile(circuits, backend=device, seed_transpiler=1))


def job(backend: str, options: RunOptions, name: str) -> Job:
    return Job(
        id=name,
        backend=backend,
        owner="bench",
        state=JobState.QUEUED,
        created=datetime.now(UTC),
        run_options=options,
    )


async def timed(
    executor: Executor, backend: str, circuits: list[QuantumCircuit], options: RunOptions
) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await executor.run(
        job(backend, options, f"bench-{time.time_ns()}"), circuits, Silent()
    )
    return time.perf_counter() - started, result


async def on_cluster(
    executor: DaskExecutor, backend: str, circuits: list[QuantumCircuit], options: RunOptions
) -> tuple[float, Any, float]:
    """The run's seconds, its result, and the seconds its tasks spent simulating."""
    client = executor._cluster.client
    assert client is not None
    async with get_task_stream(client) as stream:
        seconds, result = await timed(executor, backend, circuits, options)
    computing = sum(
        part["stop"] - part["start"]
        for task in stream.data
        for part in task["startstops"]
        if part["action"] == "compute"
    )
    return seconds, result, computing


def same_counts(first: Any, second: Any) -> bool:
    return all(
        first.get_counts(index) == second.get_counts(index) for index in range(len(first.results))
    )


async def compare(
    backend: str, arguments: argparse.Namespace, local: LocalExecutor, remote: DaskExecutor
) -> None:
    circuits = circuits_for(backend, arguments.circuits)
    extra = {} if arguments.method == "automatic" else {"method": arguments.method}
    options = RunOptions(shots=arguments.shots, seed_simulator=7, extra=extra)
    for executor in (local, remote):  # warm-up: each builds its simulators once
        await executor.run(job(backend, options, f"warm-{id(executor)}"), circuits[:4], Silent())
    in_process, expected = await timed(local, backend, circuits, options)
    threads = remote.capacity(backend) or 1
    cluster, result, computing = await on_cluster(remote, backend, circuits, options)
    chunks = split(len(circuits), threads)
    started = time.perf_counter()
    encode(circuits, chunks)
    encoding = time.perf_counter() - started
    overhead = (cluster * threads - computing) / len(chunks)
    per_circuit = computing / len(circuits)
    print(f"\n{backend}: {len(circuits)} circuits of {WIDTH} qubits, {arguments.shots} shots, "
          f"method {arguments.method}")  # fmt: skip
    print(f"  same counts in process and on the cluster: {same_counts(expected, result)}")
    print(f"  in process (1 worker process, Aer threads on both cores): {in_process:7.2f} s")
    print(f"  cluster, {threads} single-thread workers, {len(chunks)} chunks:     {cluster:7.2f} s")
    print(
        f"    simulating: {computing:.2f} s of task time, {per_circuit * 1000:.1f} ms per circuit"
    )
    print(
        f"    overhead per chunk (wall x threads - simulating) / chunks: {overhead * 1000:.0f} ms"
    )
    print(f"    of which QPY encoding on the gateway, whole job: {encoding * 1000:.0f} ms")
    print(projection(len(circuits), per_circuit, overhead, in_process))


def projection(count: int, per_circuit: float, overhead: float, in_process: float) -> str:
    """What ``PROJECTED_THREADS`` threads would take, from the measured per-chunk costs."""
    chunks = split(count, PROJECTED_THREADS)
    size = chunks[0].stop - chunks[0].start
    waves = math.ceil(len(chunks) / PROJECTED_THREADS)
    seconds = waves * (size * per_circuit + overhead)
    return (
        f"  projected, {PROJECTED_THREADS} worker threads ({len(chunks)} chunks of {size}, "
        f"{waves} waves): about {seconds:.2f} s, {in_process / seconds:.1f}x this in-process run"
    )


async def main(arguments: argparse.Namespace) -> None:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        local = LocalExecutor(fake_devices=(DEVICE,), max_workers=1)
        remote = DaskExecutor(Cluster(cluster.scheduler_address), fake_devices=(DEVICE,))
        await remote.start(_nothing)
        try:
            print(f"chunks per worker thread: {CHUNKS_PER_THREAD}")
            for backend in (DEVICE, AER_SIMULATOR):
                await compare(backend, arguments, local, remote)
        finally:
            await remote.close()
            await local.close()


async def _nothing() -> None:
    pass


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=positive, default=200)
    parser.add_argument("--shots", type=positive, default=100)
    parser.add_argument(
        "--method",
        default="matrix_product_state",
        help="Aer's method: matrix_product_state (default: 16 noisy qubits in seconds "
        "here), statevector (about 25 ms a shot here), or automatic",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
