"""TLS on the gateway's port: server credentials from the PEM files the settings name.

The files are read and checked once, at start, so that a wrong file fails the start with
its setting and path named; gRPC itself would only say that it failed to bind.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.server.core.settings import Settings


class TlsFileError(ValueError):
    """A TLS file named by the settings cannot be read or holds the wrong thing."""


def transport(settings: Settings) -> str:
    """How clients reach the port, for the start-up log line."""
    if settings.tls_client_ca is not None:
        return "mutual TLS"
    return "TLS" if settings.tls_cert is not None else "plaintext"


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The port's credentials; None when TLS is off (no ``tls_cert``).

    With ``tls_client_ca`` a client must present a certificate that one of its CAs signed.

    Raises:
        TlsFileError: a file cannot be read, is not PEM, or the key does not match.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    certificate = _read_certificates("tls_cert", settings.tls_cert)
    key = _read("tls_key", settings.tls_key)
    _check_key(settings.tls_cert, settings.tls_key)
    client_ca = None
    if settings.tls_client_ca is not None:
        client_ca = _read_certificates("tls_client_ca", settings.tls_client_ca)
    return grpc.ssl_server_credentials(
        [(key, certificate)], root_certificates=client_ca, require_client_auth=bool(client_ca)
    )


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TlsFileError(f"{setting} {path}: cannot read it: {err.strerror}") from err


def _read_certificates(setting: str, path: Path) -> bytes:
    pem = _read(setting, path)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("latin-1"))
    except (ssl.SSLError, ValueError) as err:
        raise TlsFileError(f"{setting} {path}: not a PEM certificate ({err})") from err
    return pem


def _check_key(certificate: Path, key: Path) -> None:
    """Checks that ``key`` is an unencrypted PEM key of ``certificate`` (checked already)."""
    # The standard library loads a key only from a path, so this reads both files again.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            certificate, key, password=_refuse_password
        )
    except (ssl.SSLError, ValueError) as err:
        raise TlsFileError(
            f"tls_key {key}: not the unencrypted PEM private key of tls_cert ({err})"
        ) from err


def _refuse_password() -> str:
    # Without this OpenSSL would prompt for a passphrase on the terminal.
    raise ValueError("the key is encrypted, and the gateway cannot ask for its passphrase")
