"""The local executor: jobs run on this machine, on Aer, in worker processes.

Backends are Aer's ideal simulator and IBM fake devices (see ``catalog``). A fake device runs
on ``AerSimulator.from_backend``, with the noise of its calibration snapshot.

Simulations run in worker processes, not threads: Aer holds the GIL for a whole simulation
(measured with qiskit-aer 0.18.2: a 42 s simulation in a thread froze the event loop for 42 s),
so a thread would stall every RPC and stream of the gateway. Workers are forked from a fork
server that has imported qiskit and Aer but never simulated (``core.worker_processes``).
Each worker keeps the simulators it built: a fake device's costs up to 1.3 s (127 qubits).
Each simulation uses its share of the cores (``cores // max_workers``), not every core as Aer
would: Aer's threads wait for each other, and one of them preempted by the gateway's own
threads holds up the rest. Timed inside the worker while Bell jobs ran through the gateway on
two cores (with a test run beside it), a Bell run took 7.4 ms with Aer's default and 2.4 ms
with its share; alone, 0.7 ms.
As with any multiprocessing code, a script that embeds the gateway must guard its entry
point with ``if __name__ == "__main__":``: each worker imports the main module again.

A job waits on the event loop for one of the ``max_workers`` workers to be free, then the loop
writes its circuits to that worker's pipe and is woken by the answer (``worker_pipes``): no
thread stands between the two. A job waiting for a worker has not started and can be dropped,
while a job in a worker process runs to its end (its outcome is then dropped if it was
cancelled), and only then is the worker free for the next.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from qiskit_aer import AerSimulator

from ibmq_gateway.server.core.worker_processes import follow_gateway, worker_context
from ibmq_gateway.server.executors.base import BackendInfo, ExecutionError, Executor
from ibmq_gateway.server.executors.local.admission import Run, WorkerSlots, stop
from ibmq_gateway.server.executors.local.catalog import (
    AER_SIMULATOR,
    DEFAULT_FAKE_DEVICES,
    aer_backend_info,
    fake_backend_info,
    fake_properties,
    load_fake_devices,
)
from ibmq_gateway.server.executors.local.worker_pipes import WorkerDied, WorkerPipes

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from qiskit import QuantumCircuit
    from qiskit.result import Result

    from ibmq_gateway.server.core.model import Job, RunOptions
    from ibmq_gateway.server.executors.base import RunReporter

EXECUTION_FAILED = 2001
"""Aer could not run the job, or some of its circuits."""

_log = logging.getLogger(__name__)

# Options a job may not set through ``extra``: they belong to the gateway (threads, memory,
# devices, job splitting) or to the backend itself (its noise).
_RESERVED_OPTIONS = frozenset(
    {
        "executor",
        "noise_model",
        "device",
        "max_job_size",
        "max_shot_size",
        "max_parallel_threads",
        "max_parallel_experiments",
        "max_parallel_shots",
        "max_memory_mb",
    }
)


class LocalExecutor(Executor):
    """Runs jobs on Aer's ideal simulator and on IBM fake devices with their noise."""

    def __init__(
        self, fake_devices: Sequence[str] = DEFAULT_FAKE_DEVICES, max_workers: int = 2
    ) -> None:
        """Builds the backend catalogue (about 1 s with the default fake devices).

        Args:
            fake_devices: Names of the IBM fake devices to offer, e.g. ``"fake_manila"``.
            max_workers: Jobs run at once, each in a worker process.

        Raises:
            ValueError: a name is not a fake device of qiskit-ibm-runtime.
        """
        self._devices = load_fake_devices(fake_devices)
        infos = [aer_backend_info(), *map(fake_backend_info, self._devices.values())]
        self._backends = {info.name: info for info in infos}
        self._threads = simulation_threads(max_workers)
        self._workers = WorkerSlots(max_workers)
        preload = [__name__, *(["qiskit_ibm_runtime.fake_provider"] if self._devices else [])]
        self._processes = WorkerPipes(
            max_workers,
            worker_context(*preload),
            follow_gateway,
            (os.getpid(),),
            done=self._workers.give_back,
        )
        self._runs: dict[str, Run] = {}
        self._properties: dict[str, dict[str, Any]] = {}

    def backends(self) -> list[BackendInfo]:
        """Every backend this executor offers: ``aer_simulator`` first, then fake devices."""
        return list(self._backends.values())

    def properties(self, backend: str, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The fake device's calibration snapshot; None for the ideal simulator.

        Fake devices have a single calibration, so ``as_of`` makes no difference. The dict is
        shared between calls (it takes 27 ms to build for 127 qubits): do not change it.
        """
        device = self._devices.get(backend)
        if device is None:
            return None
        if backend not in self._properties:
            self._properties[backend] = fake_properties(device)
        return self._properties[backend]

    async def run(self, job: Job, circuits: list[QuantumCircuit], reporter: RunReporter) -> Result:
        """Simulates all of the job's circuits in one Aer run, in a worker process.

        Raises:
            ExecutionError: Aer failed; ``partial`` holds the result when some circuits ran.
            asyncio.CancelledError: the job was cancelled; its outcome is dropped.
        """
        info = self._backends.get(job.backend)
        if info is None:
            raise ExecutionError(
                EXECUTION_FAILED, "EXECUTION_FAILED", f"No local backend named {job.backend!r}."
            )
        run = self._runs[job.id] = Run()
        # The RUNNING state commits while the worker already runs the job: the commit no
        # longer delays its result (the final state still comes after it).
        simulation = asyncio.ensure_future(self._simulate(job, info, circuits, run))
        try:
            await reporter.running()
            return _checked(await simulation, circuits)
        except BaseException:
            stop(run)
            simulation.cancel()
            raise
        finally:
            if self._runs.get(job.id) is run:
                del self._runs[job.id]

    async def cancel(self, job: Job) -> None:
        """Drops a run that has not started; a running simulation finishes, unheard."""
        run = self._runs.get(job.id)
        if run is not None:
            stop(run)

    async def close(self) -> None:
        """Drops runs that have not started and waits for the running ones to end."""
        self._workers.stop_waiting()
        await self._processes.close()

    async def _simulate(
        self, job: Job, info: BackendInfo, circuits: list[QuantumCircuit], run: Run
    ) -> Result:
        await self._workers.take(run)
        if run.cancelled:
            self._workers.give_back()
            raise asyncio.CancelledError
        try:
            answer = run.future = self._processes.submit(
                simulate,
                info.name,
                circuits,
                job.run_options,
                info.default_shots,
                threads=self._threads,
            )
        except BaseException:
            self._workers.give_back()  # nothing reached a worker
            raise
        # From here the worker gives its slot back when it answers (``WorkerPipes``' done),
        # also for a run stopped meanwhile.
        return await self._answer(answer, run, info)

    async def _answer(self, answer: asyncio.Future[Result], run: Run, info: BackendInfo) -> Result:
        """The worker's result; a failure in the worker is an ``ExecutionError``."""
        try:
            result = await answer
        except Exception as error:
            if isinstance(error, WorkerDied):
                error = RuntimeError(
                    "the simulator process ended abruptly: out of memory, or a script that "
                    "embeds the gateway without an `if __name__ == '__main__':` guard"
                )
            message = f"Aer could not run the circuits on {info.name}: {error}"
            raise ExecutionError(EXECUTION_FAILED, "EXECUTION_FAILED", message) from error
        if run.cancelled:
            raise asyncio.CancelledError
        return result


def simulation_threads(workers: int) -> int:
    """Threads each of ``workers`` simultaneous simulations may use: its share of the cores."""
    return max(1, (os.cpu_count() or 1) // workers)


_simulators: dict[str, Any] = {}
"""A worker process's simulators by backend name, built on first use."""


def simulate(
    backend: str,
    circuits: list[QuantumCircuit],
    options: RunOptions,
    default_shots: int,
    *,
    threads: int = 0,
) -> Result:
    """Runs circuits on a local backend, in the calling process (a worker).

    Args:
        backend: ``aer_simulator`` or a fake device name.
        circuits: The circuits, all simulated in one Aer run.
        options: The job's run options.
        default_shots: Shots when the options give none.
        threads: The most threads Aer may use; 0 lets Aer take every core.

    Returns:
        Aer's result, failed experiments included.
    """
    simulator = _simulators.get(backend)
    if simulator is None:
        simulator = _simulators[backend] = _build_simulator(backend)
    aer_options = _aer_options(simulator, options, default_shots)
    if threads:
        aer_options["max_parallel_threads"] = threads
    result: Result = simulator.run(circuits, **aer_options).result()
    return result


def _build_simulator(backend: str) -> Any:
    if backend == AER_SIMULATOR:
        return AerSimulator()
    return AerSimulator.from_backend(load_fake_devices([backend])[backend])


def _aer_options(simulator: Any, options: RunOptions, default_shots: int) -> dict[str, Any]:
    """The job's run options that Aer takes, with the gateway's default shots."""
    accepted = {
        key: value
        for key, value in options.extra.items()
        if key not in _RESERVED_OPTIONS and hasattr(simulator.options, key)
    }
    ignored = sorted(set(options.extra) - set(accepted))
    if ignored:
        _log.debug("run options Aer does not take are ignored: %s", ", ".join(ignored))
    accepted["shots"] = default_shots if options.shots is None else options.shots
    if options.memory is not None:
        accepted["memory"] = options.memory
    if options.seed_simulator is not None:
        accepted["seed_simulator"] = options.seed_simulator
    return accepted


def _checked(result: Result, circuits: list[QuantumCircuit]) -> Result:
    """Returns ``result`` when every circuit ran; raises ``ExecutionError`` otherwise."""
    failed = [index for index, experiment in enumerate(result.results) if not experiment.success]
    if result.success and not failed:
        return result
    described = [
        f"circuit {index} ({circuits[index].name!r}): {result.results[index].status}"
        for index in failed[:5]
    ]
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    message = (
        f"Aer did not run {len(failed)} of {len(result.results)} circuit(s) "
        f"(status {result.status}): {'; '.join(described)}{more}"
    )
    partial = result if len(failed) < len(result.results) else None
    raise ExecutionError(EXECUTION_FAILED, "EXECUTION_FAILED", message, partial)
