"""The local executor on real Aer and real IBM fake devices."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from qiskit import QuantumCircuit, transpile

from ibmq_gateway.server.core.model import RunOptions
from ibmq_gateway.server.executors.base import BackendInfo, ExecutionError
from ibmq_gateway.server.executors.local.executor import EXECUTION_FAILED, LocalExecutor
from ibmq_gateway.server.executors.local.worker_pipes import WORKER_NAME

from .conftest import RecordingReporter, bell, make_job

if TYPE_CHECKING:
    from qiskit.result import Result

SEED = 11


def slow_circuit(name: str = "slow") -> QuantumCircuit:
    """About 0.25 ms per shot: a mid-circuit measurement stops Aer from sampling."""
    circuit = QuantumCircuit(10, 10, name=name)
    circuit.h(range(10))
    circuit.measure(0, 0)
    circuit.t(range(10))
    circuit.measure(range(10), range(10))
    return circuit


async def run(
    executor: LocalExecutor,
    backend: str,
    circuits: list[QuantumCircuit],
    options: RunOptions | None = None,
) -> tuple[Result, RecordingReporter]:
    reporter = RecordingReporter()
    result = await executor.run(make_job(backend, options=options), circuits, reporter)
    return result, reporter


def test_backends_include_aer_and_fake_devices(backends: dict[str, BackendInfo]) -> None:
    aer, manila = backends["aer_simulator"], backends["fake_manila"]

    assert next(iter(backends)) == "aer_simulator"
    assert (aer.simulator, aer.local, aer.has_properties) == (True, True, False)
    assert manila.num_qubits == 5
    assert manila.has_properties
    assert 127 in {info.num_qubits for info in backends.values()}


def test_unknown_fake_device_is_refused() -> None:
    with pytest.raises(ValueError, match="fake_nowhere"):
        LocalExecutor(fake_devices=("fake_manila", "fake_nowhere"))


def test_runtime_is_imported_only_for_fake_devices() -> None:
    script = (
        "import sys\n"
        "from ibmq_gateway.server.executors.local.executor import LocalExecutor\n"
        "LocalExecutor(fake_devices=())\n"
        "print('qiskit_ibm_runtime' in sys.modules)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert output.stdout.strip() == "False"


async def test_bell_on_aer_gives_only_correlated_outcomes(executor: LocalExecutor) -> None:
    result, _ = await run(executor, "aer_simulator", [bell()], RunOptions(shots=1000))

    counts = result.get_counts()
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == 1000


async def test_shots_default_to_4000(executor: LocalExecutor) -> None:
    result, _ = await run(executor, "aer_simulator", [bell()])

    assert sum(result.get_counts().values()) == 4000


async def test_memory_holds_one_outcome_per_shot(executor: LocalExecutor) -> None:
    result, _ = await run(executor, "aer_simulator", [bell()], RunOptions(shots=50, memory=True))

    memory = result.get_memory()
    assert len(memory) == 50
    assert set(memory) <= {"00", "11"}


async def test_a_seed_makes_counts_reproducible(executor: LocalExecutor) -> None:
    options = RunOptions(shots=500, seed_simulator=SEED)

    first, _ = await run(executor, "aer_simulator", [bell()], options)
    second, _ = await run(executor, "aer_simulator", [bell()], options)

    assert first.get_counts() == second.get_counts()


async def test_extra_options_reach_aer_and_unknown_ones_are_ignored(
    executor: LocalExecutor,
) -> None:
    options = RunOptions(shots=10, extra={"method": "matrix_product_state", "rep_delay": 1e-4})

    result, _ = await run(executor, "aer_simulator", [bell()], options)

    assert result.results[0].metadata["method"] == "matrix_product_state"


async def test_bell_on_fake_manila_is_noisy(
    executor: LocalExecutor, backends: dict[str, BackendInfo]
) -> None:
    circuit = transpile(bell(), target=backends["fake_manila"].target, seed_transpiler=SEED)

    result, _ = await run(executor, "fake_manila", [circuit], RunOptions(seed_simulator=SEED))

    counts = result.get_counts()
    assert sum(counts.values()) == 4000
    assert counts.get("01", 0) + counts.get("10", 0) > 0
    assert counts["00"] + counts["11"] > 3600


def test_fake_device_properties_are_its_calibration(executor: LocalExecutor) -> None:
    properties = executor.properties("fake_manila")

    assert properties is not None
    # The snapshot keeps the name of the device it was taken from.
    assert properties["backend_name"] == "ibmq_manila"
    assert len(properties["qubits"]) == 5
    assert {gate["gate"] for gate in properties["gates"]} >= {"cx", "sx", "x"}
    assert isinstance(properties["last_update_date"], str)
    json.dumps(properties)


def test_the_ideal_simulator_has_no_properties(executor: LocalExecutor) -> None:
    assert executor.properties("aer_simulator") is None


async def test_all_circuits_of_a_job_run_together(executor: LocalExecutor) -> None:
    ghz = QuantumCircuit(3, 3, name="ghz")
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    ghz.measure(range(3), range(3))

    result, _ = await run(executor, "aer_simulator", [bell("one"), ghz, bell("three")])

    assert [experiment.header["name"] for experiment in result.results] == [
        "one",
        "ghz",
        "three",
    ]
    assert set(result.get_counts(1)) <= {"000", "111"}


async def test_running_is_reported_once_before_the_result(executor: LocalExecutor) -> None:
    _, reporter = await run(executor, "aer_simulator", [bell()])

    assert reporter.events == ["running"]


async def test_the_event_loop_keeps_running_during_a_simulation(executor: LocalExecutor) -> None:
    job = make_job("aer_simulator", "long", RunOptions(shots=3000))
    running = asyncio.create_task(executor.run(job, [slow_circuit()], RecordingReporter()))
    ticks = 0

    while not running.done():
        await asyncio.sleep(0.01)
        ticks += 1

    assert (await running).success
    # Aer holds the GIL while it simulates: in a thread of this process it would allow ~1 tick.
    assert ticks >= 5


def too_big_for_memory() -> QuantumCircuit:
    """40 qubits in superposition: their statevector does not fit in this machine's memory."""
    huge = QuantumCircuit(40, 40, name="huge")
    huge.h(range(40))
    huge.t(range(40))
    huge.measure(range(40), range(40))
    return huge


async def test_failed_circuits_give_an_error_with_the_partial_result(
    executor: LocalExecutor,
) -> None:
    huge = too_big_for_memory()

    with pytest.raises(ExecutionError) as caught:
        await run(executor, "aer_simulator", [bell(), huge], RunOptions(shots=10))

    error = caught.value
    assert (error.code, error.reason) == (EXECUTION_FAILED, "EXECUTION_FAILED")
    assert "circuit 1 ('huge')" in error.message
    assert "Insufficient memory" in error.message
    assert error.partial is not None
    assert error.partial.get_counts(0)


async def test_when_every_circuit_fails_there_is_no_partial_result(
    executor: LocalExecutor,
) -> None:
    huge = too_big_for_memory()

    with pytest.raises(ExecutionError) as caught:
        await run(executor, "aer_simulator", [huge], RunOptions(shots=10))

    assert caught.value.partial is None


async def test_a_circuit_aer_cannot_read_fails_the_run(executor: LocalExecutor) -> None:
    inner = QuantumCircuit(1, name="mygate")
    inner.h(0)
    circuit = QuantumCircuit(1, 1, name="custom")
    circuit.append(inner.to_gate(), [0])
    circuit.measure(0, 0)

    with pytest.raises(ExecutionError, match="mygate") as caught:
        await run(executor, "aer_simulator", [circuit])

    assert caught.value.partial is None


def start(
    local: LocalExecutor, job_id: str, circuit: QuantumCircuit, shots: int
) -> tuple[asyncio.Task[Result], RecordingReporter]:
    reporter = RecordingReporter()
    job = make_job("aer_simulator", job_id, RunOptions(shots=shots))
    return asyncio.create_task(local.run(job, [circuit], reporter)), reporter


async def until_running(*reporters: RecordingReporter) -> None:
    # A run is in the pool as soon as it has reported running: nothing awaits in between.
    while not all(reporter.events for reporter in reporters):
        await asyncio.sleep(0.001)


async def test_cancel_before_start_never_runs_the_job() -> None:
    local = LocalExecutor(fake_devices=(), max_workers=1)
    busy, busy_reporter = start(local, "busy", slow_circuit(), shots=3000)
    waiting, waiting_reporter = start(local, "waiting", bell(), shots=10)
    await until_running(busy_reporter, waiting_reporter)

    await local.cancel(make_job("aer_simulator", "waiting"))

    with pytest.raises(asyncio.CancelledError):
        await waiting
    # It ended while the only worker was still busy: it never ran.
    assert not busy.done()
    assert (await busy).success
    await local.close()


async def test_a_cancelled_running_job_has_its_outcome_dropped() -> None:
    local = LocalExecutor(fake_devices=(), max_workers=1)
    running, reporter = start(local, "running", slow_circuit(), shots=1000)
    await until_running(reporter)
    await asyncio.sleep(0.05)

    await local.cancel(make_job("aer_simulator", "running"))
    await local.cancel(make_job("aer_simulator", "unknown-job"))

    with pytest.raises(asyncio.CancelledError):
        await running
    await local.close()


async def test_each_simulation_uses_its_share_of_the_cores() -> None:
    # As many workers as cores: Aer's default would give each run every core.
    workers = os.cpu_count() or 1
    local = LocalExecutor(fake_devices=(), max_workers=workers)
    try:
        result, _ = await run(local, "aer_simulator", [bell()], RunOptions(shots=100))
    finally:
        await local.close()

    assert result.results[0].metadata["parallel_state_update"] == 1


async def test_a_killed_simulator_fails_its_job_and_the_next_job_runs() -> None:
    before = set(multiprocessing.active_children())
    local = LocalExecutor(fake_devices=(), max_workers=1)
    try:
        running, reporter = start(local, "killed", slow_circuit(), shots=20_000)
        await until_running(reporter)
        await asyncio.sleep(0.3)
        started = set(multiprocessing.active_children()) - before
        (worker,) = [child for child in started if child.name == WORKER_NAME]
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)

        with pytest.raises(ExecutionError, match="ended abruptly") as failed:
            await asyncio.wait_for(running, 60)
        assert failed.value.code == EXECUTION_FAILED
        result, _ = await run(local, "aer_simulator", [bell()], RunOptions(shots=10))
        assert result.success
    finally:
        await local.close()
