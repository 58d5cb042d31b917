"""TLS: any certificate given to the provider turns it on (against a real TLS gateway)."""

from __future__ import annotations

import grpc
import pytest

from ibmq_gateway.client import GatewayProvider, IBMQBackendApiError
from ibmq_gateway.client._tls import CA_CERT_ENV

pytest.importorskip("cryptography")  # tests.certs makes certificates with it
from tests.certs import Authority


@pytest.fixture
def tls_gateway(start_gateway, tmp_path, monkeypatch):
    """A gateway serving TLS only, with a certificate of a throwaway CA; and that CA."""
    monkeypatch.delenv(CA_CERT_ENV, raising=False)
    ca = Authority("team-ca", tmp_path)
    issued = ca.server("gateway")
    gateway = start_gateway(tls_cert=issued.certificate_file, tls_key=issued.key_file)
    return gateway.address, ca.certificate


def test_a_root_certificate_turns_tls_on(tls_gateway):
    address, certificate = tls_gateway
    provider = GatewayProvider(address, root_certificates=certificate)
    with provider, pytest.raises(IBMQBackendApiError) as caught:
        provider.backend.retrieve_job("no-such-job")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND  # the call got through


def test_without_certificates_the_channel_is_plaintext(tls_gateway):
    address, _ = tls_gateway
    provider = GatewayProvider(address)
    with provider, pytest.raises(IBMQBackendApiError) as caught:
        provider.backend.retrieve_job("no-such-job")
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
