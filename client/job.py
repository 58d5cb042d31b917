"""``IBMQJob``: a gateway job with the interface of qiskit-ibmq-provider's job.

The object is a client-side cache of the gateway's job record. Once its status is final it
never asks the gateway for the status again; reaching a final state refreshes the whole
record once. Waits follow the job's WatchJob stream (``_watch.follow_until_final``) rather
than polling; results are fetched and kept by ``_results.JobResults``.

Size: the public surface of qiskit-ibmq-provider's ``IBMQJob`` (some thirty members, each with
the docstring users know); what is behind them lives in the private modules.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import grpc
from qiskit.providers import JobStatus, JobV1
from qiskit.result import Result

from ibmq_gateway.client import _messages
from ibmq_gateway.client._callback import StatusReporter
from ibmq_gateway.client._qobj import qobj_dict
from ibmq_gateway.client._record import JobRecord
from ibmq_gateway.client._results import JobResults
from ibmq_gateway.client._rpc import api_errors
from ibmq_gateway.client._tags import updated_tags
from ibmq_gateway.client._watch import follow_until_final
from ibmq_gateway.client.exceptions import (
    IBMQJobApiError,
    IBMQJobInvalidStateError,
)
from ibmq_gateway.v1 import job_service_pb2

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2

    from ibmq_gateway.client._rpc import ApiClient
    from ibmq_gateway.client.queueinfo import QueueInfo
    from ibmq_gateway.v1 import job_pb2


class IBMQJob(JobV1):  # type: ignore[misc]  # qiskit ships no types
    """A job submitted through the gateway.

    Jobs come from ``GatewayBackend.run()``, ``jobs()`` and ``retrieve_job()``; the
    constructor is not meant for users. Every method of qiskit-ibmq-provider's ``IBMQJob``
    is here. Fields the gateway sends that have no parameter here are readable as
    attributes with a trailing underscore (``job.owner_``).

    Args:
        backend: The backend the job runs on.
        api_client: The transport.
        job_id: The gateway's job id.
        creation_date: When the job was created (ISO string or datetime; naive means UTC).
        status: The gateway state name, e.g. ``"QUEUED"``.
        kind: Kept for compatibility; the gateway has a single kind of job.
        name: The job's name.
        time_per_step: Step name -> when the job entered it.
        result: A result already known, as a qiskit ``Result`` dict.
        qobj: The job's Qobj dict, when known.
        error: ``{"code", "reason", "message"}`` of a failed job.
        tags: The job's tags.
        run_mode: ``"fairshare"`` or ``"dedicated"``.
        share_level: ``"none"``, ``"project"``, ``"group"``, ``"hub"`` or ``"global"``.
        client_info: Package name -> version of the client that submitted the job.
        experiment_id: The experiment the job belongs to.
        kwargs: ``info_queue`` (QueueInfo or its fields), ``final``, ``header``,
            ``run_options``, ``circuits`` (the submitted ones); anything else becomes an
            attribute with a trailing underscore.
    """

    def __init__(
        self,
        backend: BackendV2 | None,
        api_client: ApiClient,
        job_id: str,
        creation_date: str | datetime,
        status: str,
        kind: str | None = None,
        name: str | None = None,
        time_per_step: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        qobj: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        run_mode: str | None = None,
        share_level: str | None = None,
        client_info: dict[str, str] | None = None,
        experiment_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(backend, job_id)
        self._api = api_client
        self._kind = kind
        self._qobj = qobj
        self._circuits: list[QuantumCircuit] | None = kwargs.pop("circuits", None)
        self._cancelled = False
        self._job_error_msg: str | None = None
        self._refreshed = False
        self._record = JobRecord.from_fields(
            creation_date=creation_date, status=status, name=name, tags=tags,
            time_per_step=time_per_step, error=error, run_mode=run_mode,
            share_level=share_level, client_info=client_info, experiment_id=experiment_id,
            **kwargs,
        )  # fmt: skip
        self._results = JobResults(api_client, job_id, self._record, result)

    @classmethod
    def from_proto(
        cls,
        backend: BackendV2 | None,
        api_client: ApiClient,
        message: job_pb2.Job,
        circuits: list[QuantumCircuit] | None = None,
    ) -> IBMQJob:
        """A job from the gateway's record of it (and the circuits, when just submitted)."""
        return cls(backend, api_client, circuits=circuits, **_messages.job_fields(message))

    # --- identity and cached fields -------------------------------------------------------

    def creation_date(self) -> datetime:
        """When the job was created, in local time."""
        return self._record.creation_date.astimezone()

    def name(self) -> str | None:
        """The job's name, or None."""
        return self._record.name

    def tags(self) -> list[str]:
        """A copy of the job's tags."""
        return list(self._record.tags)

    def share_level(self) -> str:
        """Who besides its owner may see the job: none, project, group, hub or global."""
        return self._record.share_level

    @property
    def client_version(self) -> dict[str, str]:
        """Package name -> version of the client that submitted the job."""
        if not self._record.client_info and not self._refreshed:
            self.refresh()
        return dict(self._record.client_info)

    @client_version.setter
    def client_version(self, value: dict[str, str]) -> None:
        warnings.warn(
            "Setting client_version is deprecated; it comes from the gateway.",
            DeprecationWarning,
            stacklevel=2,
        )
        self._record.client_info = dict(value)

    @property
    def experiment_id(self) -> str:
        """The experiment the job belongs to (``""`` when none)."""
        if not self._record.experiment_id and not self._refreshed:
            self.refresh()
        return self._record.experiment_id or ""

    def submit(self) -> None:
        """Not supported: jobs are submitted by ``GatewayBackend.run()``.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "job.submit() is not supported. Please use GatewayBackend.run() to submit a job."
        )

    # --- status ---------------------------------------------------------------------------

    def status(self) -> JobStatus:
        """The job's status; asks the gateway only while the job is not final.

        Prefer ``wait_for_final_state()`` to calling this in a loop.

        Raises:
            IBMQJobApiError: the gateway could not be reached or sent an unknown state.
        """
        if not self._record.final:
            self.refresh()
        return self._record.status

    def refresh(self) -> None:
        """Reads the whole job record from the gateway.

        Raises:
            IBMQJobApiError: the gateway could not be reached or refused the call.
        """
        with api_errors(IBMQJobApiError, f"Unable to retrieve job {self.job_id()}"):
            message = self._api.job_get(self.job_id()).job
        self._apply(message)
        self._refreshed = True

    def queue_position(self, refresh: bool = False) -> int | None:
        """The job's position in the gateway's queue (1 = next), or None.

        Args:
            refresh: Ask the gateway first instead of using the cached value.
        """
        if refresh:
            self.status()
        return self._record.queue_info.position if self._record.queue_info else None

    def queue_info(self) -> QueueInfo | None:
        """The job's queue information, when a position or an estimate is known."""
        self.status()
        info = self._record.queue_info
        return info if info is not None and info.known() else None

    def time_per_step(self) -> dict[str, datetime] | None:
        """Step name (``"QUEUED"``, ...) -> when the job entered it (local time), in order."""
        if not self._record.time_per_step or not self._record.final:
            self.refresh()
        if not self._record.time_per_step:
            return None
        in_order = sorted(self._record.time_per_step.items(), key=lambda item: item[1])
        return {step: moment.astimezone() for step, moment in in_order}

    def scheduling_mode(self) -> str | None:
        """``"fairshare"`` or ``"dedicated"``; None while unknown."""
        if self._record.run_mode is None:
            self.refresh()
            started = self._record.status in (JobStatus.RUNNING, JobStatus.DONE)
            if self._record.run_mode is None and started:
                self._record.run_mode = "fairshare"
        return self._record.run_mode

    # --- waiting --------------------------------------------------------------------------

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Waits until the job is final, following the gateway's status stream.

        Args:
            timeout: Seconds to wait; None waits as long as the job takes.
            wait: Seconds between callback calls; None calls on each change of status.
            callback: Called from a background thread as
                ``callback(job_id, status, job, queue_info=QueueInfo | None)``, never with
                a final status.

        Raises:
            IBMQJobTimeoutError: the job was not final within ``timeout``.
            IBMQJobApiError: the gateway could not be reached.
            Exception: whatever the callback raised.
        """
        if callback is None:
            self._wait_final(timeout)
            return
        with StatusReporter(self, callback, wait) as reporter:
            self._wait_final(timeout, reporter)

    def _wait_final(self, timeout: float | None, reporter: StatusReporter | None = None) -> None:
        if self._record.final:
            return
        for message in follow_until_final(self._api, self.job_id(), timeout):
            self._apply(message)
            if reporter is not None:
                reporter.push(self._record.status, self._record.queue_info)
        self.refresh()

    # --- results and errors ---------------------------------------------------------------

    def result(
        self,
        timeout: float | None = None,
        wait: float = 5,
        partial: bool = False,
        refresh: bool = False,
    ) -> Result:
        """Waits for the job to finish and returns its result.

        Args:
            timeout: Seconds to wait; None waits as long as the job takes.
            wait: Unused: the status arrives by stream. Kept for compatibility.
            partial: For a failed job, return the experiments that did finish.
            refresh: Read the result again instead of returning the cached one.

        Raises:
            IBMQJobTimeoutError: the job was not final within ``timeout``.
            IBMQJobInvalidStateError: the job was cancelled.
            IBMQJobFailureError: the job failed (and ``partial`` found nothing).
            IBMQJobApiError: the gateway could not be reached.
        """
        del wait
        self._wait_final(timeout)
        if self._record.status is JobStatus.CANCELLED:
            raise IBMQJobInvalidStateError(
                f"Unable to retrieve result for job {self.job_id()}. Job was cancelled."
            )
        if self._record.status is JobStatus.ERROR:
            return self._results.of_failed_job(partial, refresh, self.error_message() or "")
        return self._results.of_done_job(refresh)

    def error_message(self, timeout: float | None = None) -> str | None:
        """Why the job failed, as ``'<message>. Error code: <code>.'``; None unless it failed.

        Args:
            timeout: Seconds to wait for the job to be final; None waits as long as it takes.

        Raises:
            IBMQJobTimeoutError: the job was not final within ``timeout``.
        """
        self._wait_final(timeout)
        if self._record.status is not JobStatus.ERROR:
            return None
        if self._job_error_msg is None:
            self._job_error_msg = self._format_error()
        return self._job_error_msg

    def _format_error(self) -> str:
        if self._record.error is None and not self._refreshed:
            self.refresh()
        return self._record.error_message()

    # --- commands -------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Asks the gateway to cancel the job; False when it is already final.

        The cached status does not change: ``status()`` reads CANCELLED afterwards.

        Raises:
            IBMQJobApiError: the gateway could not be reached or refused for another reason.
        """
        context = f"Unexpected error when cancelling job {self.job_id()}"
        try:
            with api_errors(IBMQJobApiError, context):
                self._api.job_cancel(self.job_id())
        except IBMQJobApiError as err:
            self._cancelled = False
            if err.code is grpc.StatusCode.FAILED_PRECONDITION:
                return False
            raise
        self._cancelled = True
        return True

    def update_name(self, name: str) -> str:
        """Renames the job and returns the new name.

        Raises:
            IBMQJobInvalidStateError: ``name`` is not a string.
            IBMQJobApiError: the gateway refused, or did not store the name.
        """
        if not isinstance(name, str):
            raise IBMQJobInvalidStateError(
                f'"{name}" of type "{type(name)}" is not a valid job name. '
                "The job name needs to be a string."
            )
        request = job_service_pb2.UpdateJobRequest(job_id=self.job_id(), name=name)
        message = self._update(request, "name")
        if message.name != name:
            raise IBMQJobApiError(self._update_failed("name", "The name was not updated"))
        self._record.name = name
        return name

    def update_tags(
        self,
        replacement_tags: list[str] | None = None,
        additional_tags: list[str] | None = None,
        removal_tags: list[str] | None = None,
    ) -> list[str]:
        """Changes the job's tags: replace, then add, then remove; returns the new tags.

        Tags starting with ``ibmq_jobset_`` belong to job managers and are kept.

        Raises:
            IBMQJobInvalidStateError: no argument given, or one is not a list of strings.
            IBMQJobApiError: the gateway refused, or did not store the tags.
        """
        tags = updated_tags(self._record.tags, replacement_tags, additional_tags, removal_tags)
        request = job_service_pb2.UpdateJobRequest(
            job_id=self.job_id(), replace_tags=True, tags=sorted(tags)
        )
        message = self._update(request, "tags")
        if set(message.tags) != tags:
            raise IBMQJobApiError(self._update_failed("tags", "The tags were not updated"))
        self._record.tags = list(message.tags)
        return self.tags()

    def _update(self, request: job_service_pb2.UpdateJobRequest, what: str) -> job_pb2.Job:
        with api_errors(IBMQJobApiError, f"Unable to update the {what} of job {self.job_id()}"):
            return self._api.job_update(request)

    def _update_failed(self, what: str, detail: str) -> str:
        return (
            f"An unexpected error occurred when updating the {what} of job "
            f"{self.job_id()}: {detail} for the job."
        )

    # --- what was submitted ---------------------------------------------------------------

    def properties(self) -> Any:
        """The backend's calibration when the job ran (or the latest); None when it has none.

        Returns:
            A ``qiskit_ibm_runtime.models.BackendProperties``, or None.
        """
        steps = self._record.time_per_step or {}
        as_of = _messages.to_timestamp(steps["RUNNING"]) if "RUNNING" in steps else None
        with api_errors(IBMQJobApiError, f"Unable to retrieve properties for job {self.job_id()}"):
            response = self._api.backend_properties(self._backend_name(), as_of)
        if not response.HasField("properties"):
            return None
        return _messages.properties_from_proto(response.properties)

    def circuits(self) -> list[QuantumCircuit]:
        """The circuits the job ran, as submitted (read from the gateway once)."""
        if self._circuits is None:
            with api_errors(IBMQJobApiError, f"Unable to retrieve circuits of {self.job_id()}"):
                message = self._api.job_get(self.job_id(), full=True).job
            self._circuits = [_messages.circuit_from_proto(item) for item in message.circuits]
        return list(self._circuits)

    def backend_options(self) -> dict[str, Any]:
        """The run configuration the job was submitted with (shots, memory, ...)."""
        if self._record.run_options is None:
            self.refresh()
        return dict(self._record.run_options or {})

    def header(self) -> dict[str, Any]:
        """The header the job was submitted with."""
        if self._record.header is None:
            self.refresh()
        return dict(self._record.header or {})

    def qobj(self) -> dict[str, Any]:
        """The job as a QASM Qobj dict.

        Deprecated: use ``circuits()``, ``backend_options()`` and ``header()``.
        """
        warnings.warn(
            "The qobj() method is deprecated; use circuits(), backend_options() and header().",
            DeprecationWarning,
            stacklevel=2,
        )
        if self._qobj is None:
            self._qobj = qobj_dict(
                self.job_id(), self.circuits(), self.backend_options(), self.header()
            )
        return self._qobj

    # --- the cache ------------------------------------------------------------------------

    def _apply(self, message: job_pb2.Job) -> None:
        """Takes a newer record of the job from the gateway."""
        fields = _messages.job_fields(message)
        del fields["job_id"]
        self._record = JobRecord.from_fields(**fields)

    def _backend_name(self) -> str:
        name = getattr(self._backend, "name", None) or self._record.extra.get("backend_name_")
        return str(name or "unknown")

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not regular attributes: the gateway's extra fields.
        record = self.__dict__.get("_record")
        if record is not None and name in record.extra:
            return record.extra[name]
        raise AttributeError(f"Attribute {name} is not defined.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}('{self.job_id()}', status={self._record.status.name})>"
