"""TLS and mutual TLS on the gateway's port, with real gateways and throwaway CAs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from qiskit.providers import JobStatus
from typer.testing import CliRunner, Result

from ibmq_gateway.client import GatewayProvider, IBMQBackendApiError
from ibmq_gateway.client._tls import (
    CA_CERT_ENV,
    CLIENT_CERT_ENV,
    CLIENT_KEY_ENV,
    TlsSettingsError,
    tls_credentials,
)
from ibmq_gateway.server.cli import app
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.server.ops.tls import TlsFileError, server_credentials
from ibmq_gateway.v1 import backend_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import bell_circuit, connect

pytest.importorskip("cryptography")  # tests.certs makes certificates with it
from tests.certs import Authority, Issued


@dataclass(frozen=True)
class Pki:
    """The team's CA with a server and a client certificate, and a stranger's CA and client."""

    ca: Authority
    server: Issued
    client: Issued
    other_ca: Authority
    stranger: Issued


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca, other_ca = Authority("team-ca", tmp_path), Authority("other-ca", tmp_path)
    return Pki(ca, ca.server("gateway"), ca.client("alice"), other_ca, other_ca.client("mallory"))


@pytest.fixture(autouse=True)
def _no_tls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (CA_CERT_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV):
        monkeypatch.delenv(variable, raising=False)


def _present_from_environment(monkeypatch: pytest.MonkeyPatch, issued: Issued) -> None:
    """Names ``issued``'s certificate and key in the client's environment variables."""
    monkeypatch.setenv(CLIENT_CERT_ENV, str(issued.certificate_file))
    monkeypatch.setenv(CLIENT_KEY_ENV, str(issued.key_file))


def _tls_settings(tmp_path: Path, pki: Pki, *, mutual: bool = False) -> Settings:
    client_ca = pki.ca.certificate_file if mutual else None
    return gateway_settings(
        tmp_path / "state",
        tls_cert=pki.server.certificate_file,
        tls_key=pki.server.key_file,
        tls_client_ca=client_ca,
    )


@pytest.fixture
def tls_gateway(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedGateway]:
    with EmbeddedGateway(_tls_settings(tmp_path, pki)) as running:
        yield running


@pytest.fixture
def mtls_gateway(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedGateway]:
    with EmbeddedGateway(_tls_settings(tmp_path, pki, mutual=True)) as running:
        yield running


def _refused(provider: GatewayProvider) -> grpc.StatusCode | None:
    """The status code with which the gateway refuses the provider's first call."""
    with provider, pytest.raises(IBMQBackendApiError) as caught:
        provider.backends()
    return caught.value.code


# TLS: the server proves who it is.


def test_a_client_trusting_the_ca_runs_a_bell_job(tls_gateway, pki):
    with GatewayProvider(tls_gateway.address, root_certificates=pki.ca.certificate) as provider:
        assert "aer_simulator" in [backend.name for backend in provider.backends()]
        job = provider.get_backend("aer_simulator").run(bell_circuit(), shots=200)
        assert job.result(timeout=60).get_counts().keys() <= {"00", "11"}
        assert job.status() is JobStatus.DONE


def test_the_ca_can_come_from_the_environment(tls_gateway, pki, monkeypatch):
    monkeypatch.setenv(CA_CERT_ENV, str(pki.ca.certificate_file))
    with GatewayProvider(tls_gateway.address) as provider:
        assert provider.backends()


def test_a_plaintext_channel_cannot_talk_to_a_tls_gateway(tls_gateway):
    stubs = connect(tls_gateway.address)
    with pytest.raises(grpc.RpcError) as caught:
        stubs.backends.ListBackends(backend_service_pb2.ListBackendsRequest(), timeout=10)
    stubs.close()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert _refused(GatewayProvider(tls_gateway.address)) is grpc.StatusCode.UNAVAILABLE


def test_a_client_not_trusting_the_ca_is_refused(tls_gateway, pki):
    provider = GatewayProvider(tls_gateway.address, root_certificates=pki.other_ca.certificate)
    assert _refused(provider) is grpc.StatusCode.UNAVAILABLE


# Mutual TLS: the client proves who it is too.


def _presenting(address, pki, holder) -> GatewayProvider:
    """A client trusting the gateway's CA that presents ``holder``'s certificate."""
    return GatewayProvider(
        address,
        root_certificates=pki.ca.certificate,
        private_key=holder.key,
        certificate_chain=holder.certificate,
    )


def test_a_client_with_a_certificate_of_the_ca_gets_in(mtls_gateway, pki):
    provider = _presenting(mtls_gateway.address, pki, pki.client)
    with provider:
        assert provider.backends()


def test_a_client_without_a_certificate_is_refused(mtls_gateway, pki):
    provider = GatewayProvider(mtls_gateway.address, root_certificates=pki.ca.certificate)
    assert _refused(provider) is grpc.StatusCode.UNAVAILABLE


def test_a_client_with_a_certificate_of_another_ca_is_refused(mtls_gateway, pki):
    provider = _presenting(mtls_gateway.address, pki, pki.stranger)
    assert _refused(provider) is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_can_come_from_the_environment(mtls_gateway, pki, monkeypatch):
    monkeypatch.setenv(CA_CERT_ENV, str(pki.ca.certificate_file))
    assert _refused(GatewayProvider(mtls_gateway.address)) is grpc.StatusCode.UNAVAILABLE
    _present_from_environment(monkeypatch, pki.client)
    with GatewayProvider(mtls_gateway.address) as provider:
        assert "aer_simulator" in [backend.name for backend in provider.backends()]


def test_certificate_arguments_win_over_the_environment(mtls_gateway, pki, monkeypatch):
    monkeypatch.setenv(CA_CERT_ENV, str(pki.other_ca.certificate_file))
    _present_from_environment(monkeypatch, pki.stranger)
    assert _refused(GatewayProvider(mtls_gateway.address)) is grpc.StatusCode.UNAVAILABLE
    provider = _presenting(mtls_gateway.address, pki, pki.client)
    with provider:
        assert provider.backends()


def test_the_command_line_does_mutual_tls_from_the_environment(mtls_gateway, pki, monkeypatch):
    monkeypatch.setenv(CA_CERT_ENV, str(pki.ca.certificate_file))
    refused = _cli_error(_cli("backends", "--gateway", mtls_gateway.address), 1)
    assert "UNAVAILABLE" in refused
    _present_from_environment(monkeypatch, pki.client)
    outcome = _cli("backends", "--gateway", mtls_gateway.address)
    assert outcome.exit_code == 0, outcome.output
    names = {line.split()[0] for line in outcome.stdout.splitlines()[2:] if line.strip()}
    assert names == {"aer_simulator", "fake_manila", "fake_brisbane"}


@pytest.mark.parametrize("alone", [CLIENT_CERT_ENV, CLIENT_KEY_ENV])
def test_one_client_variable_alone_is_refused_naming_both(pki, monkeypatch, alone):
    monkeypatch.setenv(alone, str(pki.client.certificate_file))
    with pytest.raises(ValueError, match=f"{CLIENT_CERT_ENV} and {CLIENT_KEY_ENV}") as caught:
        GatewayProvider("127.0.0.1:1")
    assert f"only {alone} is set" in str(caught.value)
    monkeypatch.setenv(alone, "")  # empty: unset, so plaintext as before
    assert tls_credentials() is None
    monkeypatch.setenv(alone, str(pki.client.certificate_file))
    line = _cli_error(_cli("backends", "--gateway", "127.0.0.1:1"), 1)
    assert CLIENT_CERT_ENV in line and CLIENT_KEY_ENV in line


def test_one_client_variable_is_not_needed_when_arguments_give_the_pair(pki, monkeypatch):
    monkeypatch.setenv(CLIENT_KEY_ENV, str(pki.client.key_file))
    assert tls_credentials(None, pki.client.key, pki.client.certificate) is not None
    with pytest.raises(TlsSettingsError):
        tls_credentials(pki.ca.certificate)


@pytest.mark.parametrize("variable", [CA_CERT_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV])
def test_an_unreadable_file_is_named_with_its_variable(tmp_path, pki, monkeypatch, variable):
    _present_from_environment(monkeypatch, pki.client)
    missing = tmp_path / "nowhere.pem"
    monkeypatch.setenv(variable, str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape(f"(from {variable})")) as caught:
        tls_credentials()
    assert caught.value.filename == str(missing)
    line = _cli_error(_cli("backends", "--gateway", "127.0.0.1:1"), 2)
    assert str(missing) in line and variable in line


def test_the_log_says_tls_is_on_and_shows_no_key(tmp_path, pki, caplog):
    caplog.set_level(logging.INFO, logger="ibmq_gateway.server.ops.app")
    with EmbeddedGateway(_tls_settings(tmp_path, pki, mutual=True)):
        pass
    assert "(mutual TLS)" in caplog.text
    assert "PRIVATE KEY" not in caplog.text


# Settings and files: half a configuration or a wrong file never starts a gateway.


def test_a_certificate_without_a_key_is_refused(pki):
    environ = {"IBMQ_GATEWAY_TLS_CERT": str(pki.server.certificate_file)}
    with pytest.raises(ValueError, match="tls_key"):
        Settings.load(environ=environ)
    with pytest.raises(ValueError, match="tls_cert"):
        Settings(tls_key=pki.server.key_file)


def test_a_client_ca_without_a_certificate_is_refused(pki):
    with pytest.raises(ValueError, match="tls_client_ca"):
        Settings.load(environ={"IBMQ_GATEWAY_TLS_CLIENT_CA": str(pki.ca.certificate_file)})


def test_tls_settings_come_from_the_environment_as_paths(pki):
    environ = {
        "IBMQ_GATEWAY_TLS_CERT": str(pki.server.certificate_file),
        "IBMQ_GATEWAY_TLS_KEY": str(pki.server.key_file),
        "IBMQ_GATEWAY_TLS_CLIENT_CA": "",  # empty: unset
    }
    settings = Settings.load(environ=environ)
    assert (settings.tls_cert, settings.tls_key) == (
        pki.server.certificate_file,
        pki.server.key_file,
    )
    assert settings.tls_client_ca is None


def test_a_missing_file_fails_the_start_naming_it(tmp_path, pki):
    missing = tmp_path / "nowhere.crt"
    settings = gateway_settings(tmp_path / "state", tls_cert=missing, tls_key=pki.server.key_file)
    embedded = EmbeddedGateway(settings)
    try:
        with pytest.raises(TlsFileError, match=re.escape(f"tls_cert {missing}: cannot read")):
            embedded.start()
    finally:
        embedded.close()


def test_a_file_of_the_wrong_kind_is_named(tmp_path, pki):
    key_as_certificate = gateway_settings(
        tmp_path, tls_cert=pki.server.key_file, tls_key=pki.server.key_file
    )
    with pytest.raises(TlsFileError, match=r"tls_cert .*not a PEM certificate"):
        server_credentials(key_as_certificate)
    someone_elses_key = gateway_settings(
        tmp_path, tls_cert=pki.server.certificate_file, tls_key=pki.client.key_file
    )
    with pytest.raises(TlsFileError, match=r"tls_key .*not the unencrypted PEM private key"):
        server_credentials(someone_elses_key)
    encrypted_key = gateway_settings(
        tmp_path, tls_cert=pki.server.certificate_file, tls_key=_encrypted(pki.server, tmp_path)
    )
    with pytest.raises(TlsFileError, match=r"tls_key .*encrypted"):
        server_credentials(encrypted_key)
    bad_client_ca = gateway_settings(
        tmp_path,
        tls_cert=pki.server.certificate_file,
        tls_key=pki.server.key_file,
        tls_client_ca=pki.client.key_file,
    )
    with pytest.raises(TlsFileError, match="tls_client_ca"):
        server_credentials(bad_client_ca)


def _cli(*args: str) -> Result:
    """Runs the ``ibmq-gateway`` command in process, with the environment the test set."""
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def _cli_error(outcome: Result, exit_code: int) -> str:
    """The single stderr line of a failed command (no traceback)."""
    assert outcome.exit_code == exit_code, outcome.output
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ibmq-gateway: "), outcome.stderr
    return lines[0]


def _encrypted(issued: Issued, directory: Path) -> Path:
    """``issued``'s key behind a passphrase, which a gateway cannot type in."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(issued.key, password=None)
    path = directory / "encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path
