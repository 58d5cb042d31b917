"""The executor interface: what the gateway needs from anything that runs circuits.

An executor offers backends, runs one job's circuits on one of them, and can cancel a run.
The manager owns the job's lifecycle; the executor only reports progress through a
``RunReporter`` and returns a result (or raises ``ExecutionError``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.result import Result
    from qiskit.transpiler import Target

    from ibmq_gateway.server.core.model import Job, QueueInfo


@dataclass(frozen=True)
class BackendInfo:
    """What the gateway knows of a backend that does not change while it runs."""

    name: str
    description: str
    version: str
    simulator: bool
    local: bool
    target: Target
    """The qiskit Target circuits are checked against (and clients transpile for)."""
    max_shots: int
    max_circuits: int
    has_properties: bool
    default_shots: int = 4000

    @property
    def num_qubits(self) -> int:
        """Number of qubits of the backend."""
        return int(self.target.num_qubits or 0)


@dataclass(frozen=True)
class BackendStatus:
    """What an upstream provider says of a backend right now."""

    operational: bool
    message: str
    queue_length: int = 0
    """Jobs waiting in the provider's own queue (from every user of the device)."""
    wait_seconds: float | None = None
    """The provider's estimate of a new job's wait, if it gives one."""


class RetryLater(Exception):
    """The backend refused the job for now (too many requests); it goes back in the queue.

    The gateway keeps the job QUEUED in its place and sends nothing to any backend sharing
    the submission limit before ``until``.
    """

    def __init__(self, until: float, message: str) -> None:
        super().__init__(message)
        self.until = until
        """``time.monotonic()`` value before which nothing is sent."""
        self.message = message


class ExecutionError(Exception):
    """A run failed. It carries what the job's error record needs."""

    def __init__(self, code: int, reason: str, message: str, partial: Result | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.partial = partial
        """The experiments that did finish, if any."""


class RunReporter(Protocol):
    """How an executor tells the manager that a run moved on."""

    async def running(self) -> None:
        """The circuits started executing."""

    async def queued(self, info: QueueInfo) -> None:
        """The job waits in an upstream queue (provider scope)."""

    async def sent(self, provider_job_id: str) -> None:
        """The job now exists at the provider under this id (recorded before anything else)."""


Changed = Callable[[], Awaitable[None]]
"""Called by an executor when its backends or its upstream's health changed."""


class Executor(ABC):
    """Runs circuits on the backends it offers."""

    resumes_runs: ClassVar[bool] = False
    """True when a run outlives the gateway process (IBM keeps running a job it was sent):
    after a restart such a job is resumed by calling ``run`` again, which re-attaches to it
    instead of running it a second time."""
    upstream: ClassVar[str | None] = None
    """The name of the remote service this executor depends on (health reports it), if any."""
    waits_out_problems: ClassVar[bool] = False
    """True when its backends still take jobs while ``problem()`` is set: they wait QUEUED
    until it clears (a simulator cluster coming back) instead of being refused."""

    async def start(self, changed: Changed) -> None:  # noqa: B027 - optional hook
        """Connects to what the executor needs; calls ``changed`` whenever ``backends()``
        or ``problem()`` change later."""

    def problem(self) -> str | None:
        """Why the upstream cannot be used now (None: it can, or there is none)."""
        return None

    def status(self, backend: str) -> BackendStatus | None:
        """The provider's live view of a backend (None: the gateway's own view is all)."""
        return None

    def capacity(self, backend: str) -> int | None:
        """Jobs of the backend this executor can run at once now (None: settings decide).

        A cluster answers with its worker threads, and 0 while it cannot be used, so that
        the gateway starts nothing there meanwhile.
        """
        return None

    @abstractmethod
    def backends(self) -> list[BackendInfo]:
        """Every backend this executor offers."""

    @abstractmethod
    def properties(self, backend: str, as_of: datetime | None = None) -> dict[str, Any] | None:
        """Calibration data as a qiskit ``BackendProperties`` dict, or None (ideal backends).

        ``as_of`` asks for the calibration in force at that time, where history exists.
        """

    @abstractmethod
    async def run(self, job: Job, circuits: list[QuantumCircuit], reporter: RunReporter) -> Result:
        """Runs ``circuits`` for ``job`` on ``job.backend`` and returns the qiskit Result.

        Calls ``reporter.running()`` when execution starts. CPU-bound work happens off the
        event loop.

        Raises:
            ExecutionError: the run failed (with a partial result when some circuits ran).
        """

    @abstractmethod
    async def cancel(self, job: Job) -> None:
        """Stops the job's run if it can; a run that cannot be stopped has its outcome dropped.

        ``job`` is the job as it stood before the cancel (with IBM's id, if it was sent).
        """

    async def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Releases threads and connections."""
