"""``provider.backend``: the jobs of every backend, listed and retrieved."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Protocol

from ibmq_gateway.client._filters import job_filter
from ibmq_gateway.client._rpc import api_errors
from ibmq_gateway.client.exceptions import (
    IBMQBackendApiError,
    IBMQBackendValueError,
    IBMQJobApiError,
)
from ibmq_gateway.client.job import IBMQJob
from ibmq_gateway.v1 import job_service_pb2

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from qiskit.providers import BackendV2

    from ibmq_gateway.client._filters import StatusArgument
    from ibmq_gateway.client._rpc import ApiClient
    from ibmq_gateway.v1 import job_pb2

MAX_PAGE_SIZE = 500
"""The most jobs the gateway returns in one ListJobs page."""


class HasBackendService(Protocol):
    """What a backend needs of its provider: the job service (``GatewayProvider``)."""

    backend: BackendService


class BackendService:
    """Jobs across backends, reached as ``provider.backend``."""

    def __init__(self, api_client: ApiClient, backend_for: Callable[[str], BackendV2]) -> None:
        self._api = api_client
        self._backend_for = backend_for

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
        backend = self._backend_for(message.backend)
        return IBMQJob.from_proto(backend, self._api, message)

    def _job_or_none(self, message: job_pb2.Job) -> IBMQJob | None:
        try:
            return self._job(message)
        except IBMQJobApiError as err:
            warnings.warn(f"Discarding job {message.id} with invalid data: {err}", stacklevel=3)
            return None
