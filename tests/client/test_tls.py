"""TLS: any certificate given to the provider turns it on."""

from __future__ import annotations

import datetime
import ipaddress

import grpc
import pytest

from ibmq_gateway.client import GatewayProvider, IBMQBackendApiError
from tests.client.fakes import FakeJobService, serve


def _self_signed() -> tuple[bytes, bytes]:
    """A key and a certificate for 127.0.0.1, valid for a day."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ibmq-gateway test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_address():
    key, certificate = _self_signed()
    credentials = grpc.ssl_server_credentials([(key, certificate)])
    with serve(FakeJobService(), credentials) as address:
        yield address, certificate


def test_a_root_certificate_turns_tls_on(tls_address):
    address, certificate = tls_address
    provider = GatewayProvider(address, "t", root_certificates=certificate)
    with provider, pytest.raises(IBMQBackendApiError) as caught:
        provider.backend.retrieve_job("job-1")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND  # the call got through


def test_without_certificates_the_channel_is_plaintext(tls_address):
    address, _ = tls_address
    provider = GatewayProvider(address, "t")
    with provider, pytest.raises(IBMQBackendApiError) as caught:
        provider.backend.retrieve_job("job-1")
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
