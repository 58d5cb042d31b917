"""``GatewayProvider``: the entry point, with the backends and the job service of a gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.providers import QiskitBackendNotFoundError

from ibmq_gateway.client._rpc import ApiClient, api_errors
from ibmq_gateway.client._tls import tls_credentials
from ibmq_gateway.client.backend import GatewayBackend, RetiredBackend
from ibmq_gateway.client.backend_service import BackendService
from ibmq_gateway.client.exceptions import IBMQBackendApiError, IBMQBackendValueError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["BackendService", "GatewayProvider"]


class GatewayProvider:
    """A connection to one gateway: its backends and its jobs.

    Example::

        provider = GatewayProvider("127.0.0.1:50051")
        backend = provider.get_backend("aer_simulator")
        job = backend.run(transpile(circuit, backend), shots=2000)
        print(job.result().get_counts())

    Args:
        target: ``host:port`` of the gateway, or of its replicas: a DNS name with an
            address per replica, or several ``ip:port`` (a list, or one string joined by
            commas); calls go round robin over them.
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
            one of ``IBMQ_GATEWAY_CLIENT_CERT`` and ``IBMQ_GATEWAY_CLIENT_KEY`` is set, or
            ``target`` lists several addresses that are not all ``ip:port`` of one family.
        OSError: a file that ``IBMQ_GATEWAY_CA_CERT``, ``IBMQ_GATEWAY_CLIENT_CERT`` or
            ``IBMQ_GATEWAY_CLIENT_KEY`` names cannot be read (the message names the variable).
    """

    def __init__(
        self,
        target: str | Sequence[str],
        token: str | None = None,
        *,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
    ) -> None:
        credentials = tls_credentials(root_certificates, private_key, certificate_chain)
        self._api = ApiClient(target, token, credentials)
        self._backends: dict[str, GatewayBackend] | None = None
        self.backend = BackendService(self._api, self._backend_for)
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
            offered = ", ".join(sorted(self._known_backends()))
            raise QiskitBackendNotFoundError(f"backend {name!r} not found; available: {offered}")
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
