"""Exceptions raised by the gateway client.

They extend qiskit's own classes where they mean the same thing, so code that catches
qiskit's ``JobError`` or ``JobTimeoutError`` keeps working::

    QiskitError
    └── IBMQError
        ├── IBMQAccountError               the client's token could not be found or read
        ├── IBMQJobError (+ qiskit JobError)
        │   ├── IBMQJobApiError            the gateway could not be reached or refused a call
        │   ├── IBMQJobFailureError        the job ended in ERROR and has no usable result
        │   ├── IBMQJobInvalidStateError   not possible in the job's state, or bad input
        │   └── IBMQJobTimeoutError (+ qiskit JobTimeoutError)
        └── IBMQBackendError
            ├── IBMQBackendApiError        the gateway could not be reached or refused a call
            └── IBMQBackendValueError (+ ValueError)

The two ``...ApiError`` classes carry the gRPC status ``code`` and the gateway's stable
``reason`` (from ``google.rpc.ErrorInfo``) when the error came from a call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qiskit.exceptions import QiskitError
from qiskit.providers import JobError, JobTimeoutError

if TYPE_CHECKING:
    import grpc

__all__ = [
    "IBMQAccountError",
    "IBMQBackendApiError",
    "IBMQBackendError",
    "IBMQBackendValueError",
    "IBMQError",
    "IBMQJobApiError",
    "IBMQJobError",
    "IBMQJobFailureError",
    "IBMQJobInvalidStateError",
    "IBMQJobTimeoutError",
]


class IBMQError(QiskitError):  # type: ignore[misc]  # qiskit ships no types
    """Base class for every error the gateway client raises."""


class IBMQAccountError(IBMQError):
    """The client's credentials could not be used: a token file that cannot be read, or an
    admin token file readable by others."""


class _CallFailure(IBMQError):
    """An error that may come from a failed gRPC call, with its status code and reason."""

    def __init__(
        self, *message: str, code: grpc.StatusCode | None = None, reason: str = ""
    ) -> None:
        super().__init__(*message)
        self.code = code
        """The gRPC status code of the failed call, or None when no call failed."""
        self.reason = reason
        """The gateway's stable reason (``ErrorInfo.reason``), or ``""``."""


class IBMQJobError(JobError, IBMQError):  # type: ignore[misc]
    """Base class for errors about a job."""


class IBMQJobApiError(_CallFailure, IBMQJobError):
    """The gateway could not be reached, or it refused a call about a job."""


class IBMQJobFailureError(IBMQJobError):
    """The job ended in ERROR and no usable result exists."""


class IBMQJobInvalidStateError(IBMQJobError):
    """The operation is not possible in the job's state, or its input is invalid."""


class IBMQJobTimeoutError(JobTimeoutError, IBMQJobError):  # type: ignore[misc]
    """Waiting for a job took longer than the caller allowed."""


class IBMQBackendError(IBMQError):
    """Base class for errors about a backend."""


class IBMQBackendApiError(_CallFailure, IBMQBackendError):
    """The gateway could not be reached, or it refused a call about a backend."""


class IBMQBackendValueError(IBMQBackendError, ValueError):
    """A value given to a backend or to a job listing is invalid."""
