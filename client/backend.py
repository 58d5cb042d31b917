"""``GatewayBackend``: a qiskit ``BackendV2`` whose circuits run through the gateway."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, Options

from ibmq_gateway.client import _messages
from ibmq_gateway.client._rpc import api_errors
from ibmq_gateway.client._submission import circuit_list, name_files, submit_request
from ibmq_gateway.client.circuit_files import read_circuit_files
from ibmq_gateway.client.exceptions import (
    IBMQBackendApiError,
    IBMQBackendError,
    IBMQBackendValueError,
)
from ibmq_gateway.client.job import IBMQJob
from ibmq_gateway.v1 import backend_pb2, job_pb2

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from os import PathLike

    from qiskit.transpiler import Target

    from ibmq_gateway.client._filters import StatusArgument
    from ibmq_gateway.client._rpc import ApiClient
    from ibmq_gateway.client.backend_service import HasBackendService
    from ibmq_gateway.client.circuit_files import CircuitFile


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend takes jobs now, and how busy it is."""

    backend_name: str
    backend_version: str
    operational: bool
    pending_jobs: int
    """Jobs queued or running on the backend through the gateway."""
    status_msg: str
    """Why the backend is not operational, or ``"active"``."""


class GatewayBackend(BackendV2):  # type: ignore[misc]  # qiskit ships no types
    """A backend the gateway offers; ``transpile(circuit, backend)`` works against it.

    Obtained from ``GatewayProvider.backends()`` or ``get_backend()``.

    Args:
        provider: The provider that lists the backend.
        api_client: The transport.
        message: The gateway's description of the backend.
    """

    def __init__(
        self, provider: HasBackendService, api_client: ApiClient, message: backend_pb2.Backend
    ) -> None:
        super().__init__(
            provider=provider,
            name=message.name,
            description=message.description,
            backend_version=message.backend_version,
        )
        self._api = api_client
        self._message = message
        self._target: Target | None = None
        if message.HasField("target"):
            self._target = _messages.target_from_proto(message.target)

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=4000, memory=False, seed_simulator=None)

    @property
    def target(self) -> Target:
        """The qiskit ``Target`` the gateway checks circuits against."""
        if self._target is None:  # the backend came from a listing without targets
            with api_errors(IBMQBackendApiError, f"Failed to get backend {self.name}"):
                self._message = self._api.backend_get(self.name)
            self._target = _messages.target_from_proto(self._message.target)
        return self._target

    @property
    def max_circuits(self) -> int | None:
        """How many circuits one job may hold (None: no limit)."""
        return self._message.max_circuits or None

    @property
    def simulator(self) -> bool:
        """Whether the backend is a simulator."""
        return self._message.simulator

    @property
    def local(self) -> bool:
        """Whether the backend runs on the gateway's machine rather than at IBM Quantum."""
        return self._message.local

    def run(
        self,
        circuits: QuantumCircuit | Sequence[QuantumCircuit],
        job_name: str | None = None,
        job_share_level: str | None = None,
        job_tags: list[str] | None = None,
        experiment_id: str | None = None,
        header: dict[str, Any] | None = None,
        shots: int | None = None,
        memory: bool | None = None,
        **run_config: Any,
    ) -> IBMQJob:
        """Submits circuits as one job; they are not transpiled.

        Args:
            circuits: A circuit or a list of circuits.
            job_name: A name for the job (need not be unique).
            job_share_level: Who may see the job: none, project, group, hub or global.
            job_tags: Tags for the job, to find it with ``jobs(job_tags=...)``.
            experiment_id: An experiment the job belongs to.
            header: A free-form header kept with the job and its result.
            shots: Repetitions of each circuit (default from ``options``).
            memory: Return each shot's outcome as well as the counts.
            run_config: Other run options (e.g. ``seed_simulator``, ``method``), passed on.

        Returns:
            The job, in state INITIALIZING.

        Raises:
            IBMQBackendValueError: an argument is invalid.
            IBMQBackendApiError: the gateway refused or could not be reached.
        """
        batch = circuit_list(circuits)
        request = submit_request(
            self.name, [_messages.circuit_to_proto(circuit) for circuit in batch], job_name,
            job_share_level, job_tags, experiment_id, header,
            self._run_options(shots=shots, memory=memory, **run_config),
        )  # fmt: skip
        with api_errors(IBMQBackendApiError, "Error submitting job"):
            message = self._api.job_submit(request)
        return IBMQJob.from_proto(self, self._api, message, circuits=batch)

    def run_files(
        self,
        files: Sequence[str | PathLike[str] | CircuitFile],
        job_name: str | None = None,
        job_share_level: str | None = None,
        job_tags: list[str] | None = None,
        experiment_id: str | None = None,
        header: dict[str, Any] | None = None,
        shots: int | None = None,
        memory: bool | None = None,
        **run_config: Any,
    ) -> IBMQJob:
        """Submits the circuits of OpenQASM (``.qasm``) and QPY (``.qpy``) files as one job.

        OpenQASM text goes to the gateway as it is (version 2 when its header says so, else
        3), so the gateway's parser judges it; a QPY file may hold several circuits. ``files``
        are paths, or circuits ``circuit_files.read_circuit_files`` read already. The
        arguments after ``files`` are those of ``run``.

        Returns:
            The job, in state INITIALIZING.

        Raises:
            IBMQBackendValueError: a file cannot be read as circuits (``CircuitFileError``),
                or an argument is invalid.
            IBMQBackendApiError: the gateway refused (a refused circuit is named by its
                file) or could not be reached.
        """
        circuits = read_circuit_files(files)
        request = submit_request(
            self.name, [circuit.message for circuit in circuits], job_name, job_share_level,
            job_tags, experiment_id, header,
            self._run_options(shots=shots, memory=memory, **run_config),
        )  # fmt: skip
        try:
            with api_errors(IBMQBackendApiError, "Error submitting job"):
                message = self._api.job_submit(request)
        except IBMQBackendApiError as err:
            named = name_files(err.message, [circuit.label for circuit in circuits])
            raise IBMQBackendApiError(named, code=err.code, reason=err.reason) from err
        return IBMQJob.from_proto(self, self._api, message)

    def _run_options(self, **given: Any) -> job_pb2.RunOptions:
        options = dict(self.options.items())
        options.update({key: value for key, value in given.items() if value is not None})
        try:
            return _messages.run_options_to_proto(options)
        except (TypeError, ValueError) as err:
            raise IBMQBackendValueError(f"Invalid run options: {err}") from err

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        status: StatusArgument | None = None,
        job_name: str | None = None,
        start_datetime: datetime | None = None,
        end_datetime: datetime | None = None,
        job_tags: list[str] | None = None,
        job_tags_operator: str | None = "OR",
        experiment_id: str | None = None,
        descending: bool = True,
    ) -> list[IBMQJob]:
        """This backend's jobs, newest first; see ``provider.backend.jobs`` for the arguments."""
        return self._provider_object().backend.jobs(
            limit=limit, skip=skip, backend_name=self.name, status=status,
            job_name=job_name, start_datetime=start_datetime, end_datetime=end_datetime,
            job_tags=job_tags, job_tags_operator=job_tags_operator,
            experiment_id=experiment_id, descending=descending,
        )  # fmt: skip

    def retrieve_job(self, job_id: str) -> IBMQJob:
        """One of this backend's jobs.

        Raises:
            IBMQBackendApiError: the job does not exist or the gateway could not be reached.
            IBMQBackendError: the job belongs to another backend.
        """
        job = self._provider_object().backend.retrieve_job(job_id)
        owner = job.backend().name
        if owner != self.name:
            warnings.warn(
                f"Job {job_id} belongs to another backend ({owner}) than the one queried "
                f"({self.name}).",
                stacklevel=2,
            )
            raise IBMQBackendError(
                f"Failed to get job {job_id}: job does not belong to backend {self.name}."
            )
        return job

    def properties(self) -> Any:
        """The backend's latest calibration, or None (ideal simulators have none).

        Returns:
            A ``qiskit_ibm_runtime.models.BackendProperties``, or None.
        """
        with api_errors(IBMQBackendApiError, f"Failed to get properties of {self.name}"):
            response = self._api.backend_properties(self.name)
        if not response.HasField("properties"):
            return None
        return _messages.properties_from_proto(response.properties)

    def status(self) -> BackendStatus:
        """Whether the backend takes jobs now, and how many are pending."""
        with api_errors(IBMQBackendApiError, f"Failed to get status of {self.name}"):
            message = self._api.backend_get(self.name)
        return BackendStatus(
            backend_name=self.name,
            backend_version=message.backend_version,
            operational=message.status.operational,
            pending_jobs=message.status.pending_jobs,
            status_msg=message.status.status_msg,
        )

    def _provider_object(self) -> HasBackendService:
        provider: HasBackendService = self._provider
        return provider

    def __repr__(self) -> str:
        return f"<{type(self).__name__}('{self.name}')>"


class RetiredBackend(GatewayBackend):
    """A backend named by old jobs that the gateway no longer offers."""

    def __init__(self, provider: HasBackendService, api_client: ApiClient, name: str) -> None:
        super().__init__(provider, api_client, backend_pb2.Backend(name=name or "unknown"))
        self._target = _messages.target_from_proto(backend_pb2.Target())

    def run(self, *args: Any, **kwargs: Any) -> IBMQJob:
        """Always fails: the backend is gone.

        Raises:
            IBMQBackendError: always.
        """
        raise IBMQBackendError(f"This backend ({self.name}) is no longer available.")

    def status(self) -> BackendStatus:
        """Not operational, without asking the gateway."""
        return BackendStatus(self.name, self.backend_version or "", False, 0, "retired")
