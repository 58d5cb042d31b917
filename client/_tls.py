"""The channel's TLS: PEM certificates given, or the files the environment names.

``tls_credentials`` turns PEM certificates (or the files named by ``IBMQ_GATEWAY_CA_CERT``,
``IBMQ_GATEWAY_CLIENT_CERT`` and ``IBMQ_GATEWAY_CLIENT_KEY``) into the channel's TLS
credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from ibmq_gateway.client.exceptions import IBMQError

CA_CERT_ENV = "IBMQ_GATEWAY_CA_CERT"
"""Names a PEM file of root certificates to trust when none are given; it turns TLS on."""
CLIENT_CERT_ENV = "IBMQ_GATEWAY_CLIENT_CERT"
"""Names a PEM file of the client's certificate chain for mutual TLS (with ``CLIENT_KEY_ENV``)."""
CLIENT_KEY_ENV = "IBMQ_GATEWAY_CLIENT_KEY"
"""Names the PEM file of the client's private key for mutual TLS (with ``CLIENT_CERT_ENV``)."""


class TlsSettingsError(IBMQError, ValueError):
    """The environment names only one of the client certificate and its key.

    A ``ValueError``; also an ``IBMQError``, so that the command line reports it in one line.
    """


def tls_credentials(
    root_certificates: bytes | None = None,
    private_key: bytes | None = None,
    certificate_chain: bytes | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials from PEM bytes; None (plaintext) when there is nothing to use.

    Arguments win over the environment. Without ``root_certificates`` the client trusts the
    file ``IBMQ_GATEWAY_CA_CERT`` names, if set, else the system's roots (when a client
    certificate asks for TLS). Without ``private_key`` and ``certificate_chain`` it presents
    the files ``IBMQ_GATEWAY_CLIENT_KEY`` and ``IBMQ_GATEWAY_CLIENT_CERT`` name, if both are
    set (mutual TLS; that too turns TLS on). An empty variable counts as unset.

    Raises:
        ValueError: only one of ``private_key`` and ``certificate_chain`` is given, or (when
            neither is) only one of ``IBMQ_GATEWAY_CLIENT_CERT`` and
            ``IBMQ_GATEWAY_CLIENT_KEY`` is set (then a ``TlsSettingsError``).
        OSError: a file one of these variables names cannot be read; the message names the
            variable.
    """
    if (private_key is None) != (certificate_chain is None):
        raise ValueError("private_key and certificate_chain go together (mutual TLS needs both)")
    if root_certificates is None:
        root_certificates = _pem_from_environment(CA_CERT_ENV)
    if private_key is None:
        private_key, certificate_chain = _client_pair_from_environment()
    if root_certificates is None and private_key is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)


def _client_pair_from_environment() -> tuple[bytes | None, bytes | None]:
    """The client's key and certificate chain from the files the environment names."""
    named = [name for name in (CLIENT_CERT_ENV, CLIENT_KEY_ENV) if os.environ.get(name)]
    if not named:
        return None, None
    if len(named) == 1:
        raise TlsSettingsError(
            f"{CLIENT_CERT_ENV} and {CLIENT_KEY_ENV} go together (mutual TLS needs both); "
            f"only {named[0]} is set"
        )
    return _pem_from_environment(CLIENT_KEY_ENV), _pem_from_environment(CLIENT_CERT_ENV)


def _pem_from_environment(variable: str) -> bytes | None:
    """The contents of the file ``variable`` names; None when it is unset or empty."""
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as err:
        # Kept an OSError with its file name; the message says where the name came from.
        raise OSError(err.errno, f"{err.strerror} (from {variable})", err.filename) from err
