"""A job's result as ``IBMQJob.result`` assembles it: read once, kept, partial on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.result import Result

from ibmq_gateway.client import _messages
from ibmq_gateway.client._rpc import api_errors
from ibmq_gateway.client.exceptions import IBMQJobApiError, IBMQJobFailureError

if TYPE_CHECKING:
    from ibmq_gateway.client._record import JobRecord
    from ibmq_gateway.client._rpc import ApiClient


class JobResults:
    """The result of one job, fetched from the gateway on first need and kept.

    Args:
        api: The transport.
        job_id: The job's id.
        record: The job's record (its status, error and client info as last seen).
        document: A result given with the job, as ``Result.to_dict()`` left it.
    """

    def __init__(
        self, api: ApiClient, job_id: str, record: JobRecord, document: dict[str, Any] | None
    ) -> None:
        self._api = api
        self._job_id = job_id
        self._record = record
        self._result: Result | None = None
        if document is not None:
            version = dict(record.client_info or {})
            self._result = Result.from_dict({**document, "client_version": version})

    def of_done_job(self, refresh: bool) -> Result:
        """The whole result of a job that is DONE."""
        if self._result is None or refresh:
            self._result = self._fetch(allow_partial=False)
        return self._result

    def of_failed_job(self, partial: bool, refresh: bool, error_message: str) -> Result:
        """What finished of a failed job, when ``partial`` and any did.

        Raises:
            IBMQJobFailureError: not ``partial``, or no experiment finished.
        """
        if partial and self._record.api_status not in _messages.NEVER_RAN:
            if self._result is None or refresh:
                try:
                    self._result = self._fetch(allow_partial=True)
                except IBMQJobApiError:  # the job failed; having no result is normal
                    self._result = None
            if self._result is not None and self._result.results:
                return self._result
        reason = (
            ". Use the error_message() method to get more details"
            if "\n" in error_message
            else f": {error_message}"
        )
        raise IBMQJobFailureError(
            f"Unable to retrieve result for job {self._job_id}. Job has failed{reason}"
        )

    def _fetch(self, allow_partial: bool) -> Result:
        with api_errors(IBMQJobApiError, f"Unable to retrieve result for job {self._job_id}"):
            message = self._api.job_result(self._job_id, allow_partial=allow_partial)
        return _messages.result_from_proto(message, self._record.client_info)
