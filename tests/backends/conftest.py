"""Shared, costly fixtures: one local executor (real Aer, real fake devices) per session."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from qiskit import QuantumCircuit

from ibmq_gateway.server.core.model import Job, RunOptions
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.executors.local.executor import LocalExecutor
from tests.helpers import bell_circuit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ibmq_gateway.server.core.model import QueueInfo
    from ibmq_gateway.server.executors.base import BackendInfo


class RecordingReporter:
    """A ``RunReporter`` that remembers what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def running(self) -> None:
        self.events.append("running")

    async def queued(self, info: QueueInfo) -> None:
        self.events.append("queued")

    async def sent(self, provider_job_id: str) -> None:
        self.events.append(f"sent {provider_job_id}")


def make_job(backend: str, job_id: str = "job-1", options: RunOptions | None = None) -> Job:
    """A job in the state the manager hands to an executor."""
    return Job(
        id=job_id,
        backend=backend,
        owner="alice",
        state=JobState.QUEUED,
        created=datetime.now(UTC),
        run_options=options or RunOptions(),
    )


def bell(name: str = "bell") -> QuantumCircuit:
    """A measured Bell pair on qubits 0 and 1."""
    circuit = bell_circuit()
    circuit.name = name
    return circuit


@pytest.fixture(scope="session")
def executor() -> Iterator[LocalExecutor]:
    local = LocalExecutor(fake_devices=("fake_manila", "fake_brisbane"))
    yield local
    asyncio.run(local.close())


@pytest.fixture(scope="session")
def backends(executor: LocalExecutor) -> dict[str, BackendInfo]:
    return {info.name: info for info in executor.backends()}
