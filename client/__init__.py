"""The Python client: gateway jobs that look exactly like qiskit-ibmq-provider's ``IBMQJob``.

Example::

    from qiskit import QuantumCircuit, transpile
    from ibmq_gateway.client import GatewayProvider

    provider = GatewayProvider("127.0.0.1:50051")
    backend = provider.get_backend("aer_simulator")
    job = backend.run(transpile(circuit, backend), shots=2000, job_name="bell")
    job.wait_for_final_state(callback=lambda job_id, status, job, **kw: print(status))
    print(job.result().get_counts())
"""

from ibmq_gateway.client.backend import BackendStatus, GatewayBackend
from ibmq_gateway.client.exceptions import (
    IBMQAccountError,
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
from ibmq_gateway.client.job import IBMQJob
from ibmq_gateway.client.provider import BackendService, GatewayProvider
from ibmq_gateway.client.queueinfo import QueueInfo

__all__ = [
    "BackendService",
    "BackendStatus",
    "GatewayBackend",
    "GatewayProvider",
    "IBMQAccountError",
    "IBMQBackendApiError",
    "IBMQBackendError",
    "IBMQBackendValueError",
    "IBMQError",
    "IBMQJob",
    "IBMQJobApiError",
    "IBMQJobError",
    "IBMQJobFailureError",
    "IBMQJobInvalidStateError",
    "IBMQJobTimeoutError",
    "QueueInfo",
]
