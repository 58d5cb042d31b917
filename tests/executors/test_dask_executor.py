"""The cluster executor on a real two-worker LocalCluster, against the in-process executor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from distributed import Client, get_task_stream
from qiskit import QuantumCircuit, transpile
from qiskit.result import Result

from ibmq_gateway.server.core.model import RunOptions
from ibmq_gateway.server.executors.base import ExecutionError
from ibmq_gateway.server.executors.dask.chunks import Chunk, split
from ibmq_gateway.server.executors.dask.executor import DaskExecutor
from ibmq_gateway.server.executors.local.catalog import load_fake_devices
from ibmq_gateway.server.executors.local.executor import EXECUTION_FAILED, LocalExecutor
from tests.backends.conftest import RecordingReporter, make_job
from tests.helpers import bell_circuit

SEED = 1234


@pytest.fixture(scope="module")
def in_process() -> Iterator[LocalExecutor]:
    local = LocalExecutor(fake_devices=("fake_manila",), max_workers=1)
    yield local
    asyncio.run(local.close())


def varied_circuits(count: int, backend: str) -> list[QuantumCircuit]:
    """``count`` different 5-qubit circuits, transpiled for a fake device if one is named."""
    circuits = []
    for index in range(count):
        circuit = QuantumCircuit(5, 5, name=f"c{index}")
        circuit.h(0)
        for qubit in range(4):
            circuit.cx(qubit, qubit + 1)
            circuit.rx(0.2 * (index + 1) * (qubit + 1), qubit)
        circuit.measure(range(5), range(5))
        circuits.append(circuit)
    if backend == "aer_simulator":
        return circuits
    device = load_fake_devices([backend])[backend]
    return list(transpile(circuits, backend=device, seed_transpiler=1))


def outcomes(result: Result) -> list[tuple[dict[str, int], list[str], int]]:
    """Each experiment's counts, memory and seed: what must match bit for bit."""
    return [
        (result.get_counts(i), result.get_memory(i), result.results[i].seed_simulator)
        for i in range(len(result.results))
    ]


@pytest.mark.parametrize(
    ("backend", "seed"),
    [
        ("aer_simulator", SEED),
        ("fake_manila", SEED),
        ("fake_manila", -5),
        ("aer_simulator", 2**63 - 3),
    ],
)
async def test_results_equal_the_in_process_executors_bit_for_bit(
    on_cluster: DaskExecutor, in_process: LocalExecutor, backend: str, seed: int
) -> None:
    circuits = varied_circuits(9, backend)
    options = RunOptions(shots=300, memory=True, seed_simulator=seed)

    local = await in_process.run(make_job(backend, options=options), circuits, RecordingReporter())
    remote = await on_cluster.run(make_job(backend, options=options), circuits, RecordingReporter())

    assert len(split(len(circuits), on_cluster.capacity(backend) or 0)) > 1
    assert outcomes(remote) == outcomes(local)
    assert [r.header for r in remote.results] == [r.header for r in local.results]
    assert [r.header["name"] for r in remote.results] == [c.name for c in circuits]


def test_chunks_cover_every_circuit_once_with_their_one_run_seeds() -> None:
    chunks = split(301, threads=16)

    assert [c.start for c in chunks] == list(range(0, 301, 10))
    assert chunks[-1].stop == 301
    assert Chunk(20, 30).seed(7) == 7 + 20 * 2113
    assert Chunk(0, 1).seed(None) is None
    # Aer works modulo 2**64 but takes a signed seed.
    assert Chunk(1, 2).seed(2**63 - 1) == 2**63 - 1 + 2113 - 2**64


async def test_a_job_is_split_across_both_workers(on_cluster: DaskExecutor) -> None:
    circuits = [bell_circuit() for _ in range(20)]
    reporter = RecordingReporter()
    client = on_cluster._cluster.client
    assert client is not None

    async with get_task_stream(client) as stream:
        result = await on_cluster.run(make_job("aer_simulator"), circuits, reporter)

    tasks = [task for task in stream.data if str(task["key"]).startswith("simulate-job-1-")]
    assert len(tasks) == len(split(20, threads=2)) == 4
    assert len({task["worker"] for task in tasks}) == 2
    assert len(result.results) == 20
    assert reporter.events == ["running"]


def unreadable(name: str) -> QuantumCircuit:
    inner = QuantumCircuit(1, name="mygate")
    inner.h(0)
    circuit = QuantumCircuit(1, 1, name=name)
    circuit.append(inner.to_gate(), [0])
    circuit.measure(0, 0)
    return circuit


def too_big_for_memory() -> QuantumCircuit:
    huge = QuantumCircuit(40, 40, name="huge")
    huge.h(range(40))
    huge.t(range(40))  # not Clifford: Aer's statevector, 16 EiB of it
    huge.measure(range(40), range(40))
    return huge


async def test_a_failed_chunk_keeps_the_other_chunks_results(on_cluster: DaskExecutor) -> None:
    circuits = [bell_circuit() for _ in range(6)] + [unreadable("custom")]
    job = make_job("aer_simulator", options=RunOptions(shots=50))

    with pytest.raises(ExecutionError) as caught:
        await on_cluster.run(job, circuits, RecordingReporter())

    error = caught.value
    assert (error.code, error.reason) == (EXECUTION_FAILED, "EXECUTION_FAILED")
    assert "circuits 6-6" in error.message
    assert "mygate" in error.message
    assert error.partial is not None
    assert [e.success for e in error.partial.results] == [True] * 6 + [False]
    assert sum(error.partial.get_counts(0).values()) == 50


async def test_a_circuit_aer_refuses_fails_alone(on_cluster: DaskExecutor) -> None:
    circuits = [bell_circuit(), too_big_for_memory(), bell_circuit()]

    with pytest.raises(ExecutionError) as caught:
        await on_cluster.run(make_job("aer_simulator"), circuits, RecordingReporter())

    assert "circuit 1 ('huge')" in caught.value.message
    assert caught.value.partial is not None
    assert [e.success for e in caught.value.partial.results] == [True, False, True]


async def test_every_chunk_failing_leaves_no_partial_result(on_cluster: DaskExecutor) -> None:
    circuits = [unreadable("a"), unreadable("b")]

    with pytest.raises(ExecutionError) as caught:
        await on_cluster.run(make_job("aer_simulator"), circuits, RecordingReporter())

    assert caught.value.partial is None


def slow(index: int) -> QuantumCircuit:
    """A mid-circuit measurement stops Aer from sampling: about 0.25 ms per shot here."""
    circuit = QuantumCircuit(10, 10, name=f"slow{index}")
    circuit.h(range(10))
    circuit.measure(0, 0)
    circuit.rx(0.1 * (index + 1), range(10))
    circuit.measure(range(10), range(10))
    return circuit


async def test_cancel_releases_the_jobs_tasks_at_once(on_cluster: DaskExecutor) -> None:
    circuits = [slow(i) for i in range(8)]
    job = make_job("aer_simulator", "doomed", RunOptions(shots=4000))
    reporter = RecordingReporter()
    running = asyncio.create_task(on_cluster.run(job, circuits, reporter))
    client = on_cluster._cluster.client
    assert client is not None
    while not reporter.events:
        await asyncio.sleep(0.01)

    await on_cluster.cancel(job)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 5)
    # The scheduler forgets the job's tasks (the cancel reaches it a moment later): those
    # waiting never start.
    assert await asyncio.wait_for(tasks_gone(client, "doomed"), 10)


async def tasks_gone(client: Client, job_id: str) -> bool:
    while True:
        keys = await client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        if not [key for key in keys if job_id in str(key)]:
            return True
        await asyncio.sleep(0.05)
