from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from tests.localcluster import pki


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_identify_each_component(tmp_path: Path) -> None:
    pki.generate(tmp_path, "10.96.0.1")
    ca = load(tmp_path / "ca.crt")
    for client in pki.CLIENTS:
        cert = load(tmp_path / f"{client.stem}.crt")
        subject = cert.subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == client.user
        groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert groups == list(client.groups)
        cert.verify_directly_issued_by(ca)
    assert (
        load(tmp_path / "admin.crt")
        .subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0]
        .value
        == "system:masters"
    )


def test_serving_certificate_covers_loopback_and_the_service_ip(tmp_path: Path) -> None:
    pki.generate(tmp_path, "10.96.0.1")
    serving = load(tmp_path / "apiserver.crt")
    serving.verify_directly_issued_by(load(tmp_path / "ca.crt"))
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("10.96.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)


def test_kwoks_serving_certificate_is_signed_by_the_ca_for_loopback(tmp_path: Path) -> None:
    """The apiserver verifies kubelet certificates (--kubelet-certificate-authority), kwok's
    server for the fake nodes included."""
    pki.generate(tmp_path, "10.96.0.1")
    serving = load(tmp_path / "kwok-serving.crt")
    serving.verify_directly_issued_by(load(tmp_path / "ca.crt"))
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_service_account_key_pair_matches(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pki.generate(tmp_path, "10.96.0.1")
    private = serialization.load_pem_private_key((tmp_path / "sa.key").read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "sa.pub").read_bytes())
    assert isinstance(private, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    signature = private.sign(b"token", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"token", padding.PKCS1v15(), hashes.SHA256())
    assert (tmp_path / "sa.key").stat().st_mode & 0o077 == 0
