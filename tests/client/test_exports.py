"""The public surface: exported names and the exception tree."""

from __future__ import annotations

import types

from qiskit.providers import JobError, JobTimeoutError

import ibmq_gateway.client as client
from ibmq_gateway.client import (
    IBMQBackendApiError,
    IBMQBackendError,
    IBMQBackendValueError,
    IBMQError,
    IBMQJobApiError,
    IBMQJobError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    IBMQJobTimeoutError,
)

REQUIRED = {
    "GatewayProvider",
    "GatewayBackend",
    "IBMQJob",
    "QueueInfo",
    "IBMQJobApiError",
    "IBMQJobFailureError",
    "IBMQJobInvalidStateError",
    "IBMQJobTimeoutError",
    "IBMQJobError",
    "IBMQBackendError",
    "IBMQBackendApiError",
    "IBMQBackendValueError",
}


def test_all_is_sorted_and_lists_exactly_the_public_names():
    public = {
        name
        for name, value in vars(client).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert client.__all__ == sorted(public)
    assert public >= REQUIRED


def test_job_errors_are_qiskit_job_errors():
    for error in (IBMQJobApiError, IBMQJobFailureError, IBMQJobInvalidStateError):
        assert issubclass(error, IBMQJobError)
    assert issubclass(IBMQJobError, JobError) and issubclass(IBMQJobError, IBMQError)
    assert issubclass(IBMQJobTimeoutError, JobTimeoutError)
    assert issubclass(IBMQJobTimeoutError, IBMQJobError)


def test_backend_errors():
    assert issubclass(IBMQBackendApiError, IBMQBackendError)
    assert issubclass(IBMQBackendValueError, IBMQBackendError)
    assert issubclass(IBMQBackendValueError, ValueError)
    assert not issubclass(IBMQBackendError, JobError)


def test_api_errors_carry_a_code_and_reason_even_when_raised_by_hand():
    error = IBMQJobApiError("boom")
    assert error.message == "boom" and error.code is None and error.reason == ""
