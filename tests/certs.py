"""Throwaway certificate authorities for TLS tests, made with ``cryptography``."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A PEM private key and its PEM certificate, also written to files."""

    key: bytes
    certificate: bytes
    key_file: Path
    certificate_file: Path


class Authority:
    """A self-signed CA that issues server and client certificates into ``directory``."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self._directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        ca = x509.BasicConstraints(ca=True, path_length=None)
        builder = _builder(subject, subject, self._key).add_extension(ca, critical=True)
        self._certificate = builder.sign(self._key, hashes.SHA256())
        self.certificate = self._certificate.public_bytes(serialization.Encoding.PEM)
        self.certificate_file = directory / f"{name}.pem"
        self.certificate_file.write_bytes(self.certificate)

    def server(self, name: str) -> Issued:
        """A certificate for 127.0.0.1 and localhost, as the tests' gateways listen there."""
        hosts = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        return self._issue(name, (x509.SubjectAlternativeName(hosts), usage))

    def client(self, name: str) -> Issued:
        """A certificate a client presents for mutual TLS."""
        return self._issue(name, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),))

    def _issue(self, name: str, extensions: tuple[x509.ExtensionType, ...]) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(_name(name), self._certificate.subject, key)
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        issued = Issued(
            key=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            certificate=certificate.public_bytes(serialization.Encoding.PEM),
            key_file=self._directory / f"{name}.key",
            certificate_file=self._directory / f"{name}.crt",
        )
        issued.key_file.write_bytes(issued.key)
        issued.certificate_file.write_bytes(issued.certificate)
        return issued


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + _VALIDITY)
    )
