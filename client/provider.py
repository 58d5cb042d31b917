"""``GatewayProvider``: the entry point, with the backends and the job service of a gateway."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from qiskit.providers import QiskitBackendNotFoundError

from ibmq_gateway.client._filters import job_filter
from ibmq_gateway.client._rpc import ApiClient, api_errors, tls_credentials
from ibmq_gateway.client.backend import GatewayBackend, RetiredBackend
from ibmq_gateway.client.exceptions import (
    IBMQBackendApiError,
    IBMQBackendValueError,
    IBMQJobApiError,
)
from ibmq_gateway.client.job import IBMQJob
from ibmq_gateway.v1 import job_service_pb2

if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

    from ibmq_gateway.client._filters import StatusArgument
    from ibmq_gateway.v1 import job_pb2

MAX_PAGE_SIZE = 500
"""The most jobs the gateway returns in one ListJobs page."""


class GatewayProvider:
    """A connection to one gateway: its backends and its jobs.

    Example::

        provider = GatewayProvider("127.0.0.1:50051")
        backend = provider.get_backend("aer_simulator")
        job = backend.run(transpile(circuit, backend), shots=2000)
        print(job.result().get_counts())

    Args:
        target: ``host:port`` of the gateway.
        token: Bearer token; None: ``IBMQ_GATEWAY_TOKEN``, then ``IBMQ_GATEWAY_TOKEN_FILE``,
            then the local gateway's admin token file.
        root_certificates: PEM root certificates to trust; giving any certificate turns on
            TLS. None trusts the PEM file ``IBMQ_GATEWAY_CA_CERT`` names, when set (TLS on).
        private_key: PEM client key, for mutual TLS (with ``certificate_chain``). When both
            are None, the client presents the PEM files ``IBMQ_GATEWAY_CLIENT_KEY`` and
            ``IBMQ_GATEWAY_CLIENT_CERT`` name, when set (both or neither; TLS on).
        certificate_chain: PEM client certificate chain, for mutual TLS (with ``private_key``).

    Raises:
        ValueError: only one of ``private_key`` and ``certificate_chain`` is given, or only
            one of ``IBMQ_GATEWAY_CLIENT_CERT`` and ``IBMQ_GATEWAY_CLIENT_KEY`` is set.
        OSError: a file that ``IBMQ_GATEWAY_CA_CERT``, ``IBMQ_GATEWAY_CLIENT_CERT`` or
            ``IBMQ_GATEWAY_CLIENT_KEY`` names cannot be read (the message names the variable).
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
    ) -> None:
        credentials = tls_credentials(root_certificates, private_key, certificate_chain)
        self._api = ApiClient(target, token, credentials)
        self._backends: dict[str, GatewayBackend] | None = None
        self.backend = BackendService(self, self._api)
        """The job service: ``provider.backend.jobs()`` and ``retrieve_job()``."""

    def backends(self, name: str | None = None, **filters: Any) -> list[GatewayBackend]:
        """The backends the gateway offers.

        Args:
            name: Only the backend of this name.
            filters: Attribute values to match, e.g. ``simulator=True``, ``local=True``,
                ``operational=True`` or ``num_qubits=5``.

        Raises:
            IBMQBackendValueError: a filter names no backend attribute.
            IBMQBackendApiError: the gateway could not be reached.
        """
        found = list(self._known_backends().values())
        if name is not None:
            found = [backend for backend in found if backend.name == name]
        return [backend for backend in found if _matches(backend, filters)]

    def get_backend(self, name: str) -> GatewayBackend:
        """The backend called ``name``.

        Raises:
            QiskitBackendNotFoundError: the gateway offers no such backend.
        """
        found = self.backends(name)
        if not found:
            self._backends = None  # the gateway may offer it since we last asked
            found = self.backends(name)
        if not found:
            raise QiskitBackendNotFoundError(f"No backend matches the criteria: name={name}")
        return found[0]

    def close(self) -> None:
        """Closes the connection; the provider's jobs and backends stop working."""
        self._api.close()

    def __enter__(self) -> GatewayProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}('{self._api.target}')>"

    def _known_backends(self) -> dict[str, GatewayBackend]:
        if self._backends is None:
            with api_errors(IBMQBackendApiError, "Failed to list backends"):
                messages = self._api.backends_list()
            self._backends = {
                message.name: GatewayBackend(self, self._api, message) for message in messages
            }
        return self._backends

    def _backend_for(self, name: str) -> GatewayBackend:
        """The backend a job names; a placeholder when the gateway no longer offers it."""
        return self._known_backends().get(name) or RetiredBackend(self, self._api, name)


class BackendService:
    """Jobs across backends, reached as ``provider.backend``."""

    def __init__(self, provider: GatewayProvider, api_client: ApiClient) -> None:
        self._provider = provider
        self._api = api_client

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        status: StatusArgument | None = None,
        job_name: str | None = None,
        start_datetime: datetime | None = None,
        end_datetime: datetime | None = None,
        job_tags: list[str] | None = None,
        job_tags_operator: str | None = "OR",
        experiment_id: str | None = None,
        descending: bool = True,
    ) -> list[IBMQJob]:
        """Jobs matching every given criterion, newest first unless ``descending=False``.

        Args:
            limit: At most this many jobs; None or 0 for all of them.
            skip: Leave out this many matching jobs first.
            backend_name: Only jobs of this backend.
            status: Only jobs in this status (a ``JobStatus``, its name, or a list).
            job_name: A regular expression searched in job names (``^...$`` to match all).
            start_datetime: Only jobs created at or after this time (naive: local time).
            end_datetime: Only jobs created at or before this time (naive: local time).
            job_tags: Only jobs with these tags.
            job_tags_operator: ``"OR"``: any of the tags; ``"AND"``: all of them.
            experiment_id: Only jobs of this experiment.
            descending: Newest first (True) or oldest first.

        Raises:
            IBMQBackendValueError: a status, the tags or the tag operator is invalid.
            IBMQBackendApiError: the gateway could not be reached.
        """
        criteria = job_filter(
            backend_name=backend_name, status=status, job_name=job_name,
            start_datetime=start_datetime, end_datetime=end_datetime, job_tags=job_tags,
            job_tags_operator=job_tags_operator, experiment_id=experiment_id,
        )  # fmt: skip
        if limit is not None and limit < 0:
            raise IBMQBackendValueError(f"limit must not be negative: {limit}")
        messages = self._list(criteria, limit or None, skip, descending)
        return [job for job in map(self._job_or_none, messages) if job is not None]

    def retrieve_job(self, job_id: str) -> IBMQJob:
        """One job, by id.

        Raises:
            IBMQBackendApiError: the job does not exist or the gateway could not be reached.
        """
        with api_errors(IBMQBackendApiError, f"Failed to get job {job_id}"):
            message = self._api.job_get(job_id).job
        try:
            return self._job(message)
        except IBMQJobApiError as err:
            raise IBMQBackendApiError(f"Failed to get job {job_id}: {err.message}") from err

    def _list(
        self, criteria: job_pb2.JobFilter, limit: int | None, skip: int, descending: bool
    ) -> list[job_pb2.Job]:
        found: list[job_pb2.Job] = []
        token = ""
        while True:
            wanted = MAX_PAGE_SIZE if limit is None else min(limit - len(found), MAX_PAGE_SIZE)
            request = job_service_pb2.ListJobsRequest(
                filter=criteria,
                page_size=wanted,
                page_token=token,
                ascending=not descending,
                skip=0 if token else skip,
            )
            with api_errors(IBMQBackendApiError, "Failed to list jobs"):
                page = self._api.jobs_list(request)
            found.extend(page.jobs)
            token = page.next_page_token
            if not token or not page.jobs or (limit is not None and len(found) >= limit):
                return found[:limit]

    def _job(self, message: job_pb2.Job) -> IBMQJob:
        backend = self._provider._backend_for(message.backend)
        return IBMQJob.from_proto(backend, self._api, message)

    def _job_or_none(self, message: job_pb2.Job) -> IBMQJob | None:
        try:
            return self._job(message)
        except IBMQJobApiError as err:
            warnings.warn(f"Discarding job {message.id} with invalid data: {err}", stacklevel=3)
            return None


def _matches(backend: GatewayBackend, filters: dict[str, Any]) -> bool:
    status = None
    for key, wanted in filters.items():
        if key in ("operational", "pending_jobs", "status_msg"):
            status = status or backend.status()
            actual = getattr(status, key)
        elif hasattr(backend, key):
            actual = getattr(backend, key)
        else:
            raise IBMQBackendValueError(f'"{key}" is not an attribute backends can be filtered by.')
        if actual != wanted:
            return False
    return True
