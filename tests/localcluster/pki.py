"""Certificates and keys for the local control plane.

One CA signs the API server's serving certificate and one client certificate per component; the
API server maps a client certificate's CN to a user and its O to groups, exactly as on a kubeadm
cluster. A separate RSA key pair signs service-account tokens.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate to issue: file stem, user (CN) and groups (O)."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


# Who talks to the API server. The admin identity is the one people and tests use.
CLIENTS = (
    ClientIdentity("admin", "kubernetes-admin", ("system:masters",)),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
    ClientIdentity("kwok", "system:kwok", ("system:masters",)),
)

SERVING_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def generate(directory: Path, service_ip: str, extra_ips: tuple[str, ...] = ()) -> None:
    """Write ca.crt, apiserver.crt (also valid for ``extra_ips``, e.g. the real node's address),
    kwok-serving.crt (kwok's server on 127.0.0.1), one <stem>.crt/.key per client, and
    sa.key/sa.pub."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("omvee-local-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(ca_key, directory / "ca.key")
    _write_cert(ca_cert, directory / "ca.crt")

    def issue(
        stem: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
    ) -> None:
        key = _key()
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_key(key, directory / f"{stem}.key")
        _write_cert(builder.sign(ca_key, hashes.SHA256()), directory / f"{stem}.crt")

    serving_sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVING_NAMES]
    serving_sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(service_ip)),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in extra_ips),
    ]
    issue("apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, serving_sans)
    # kwok's server stands in for the fake nodes' kubelets (logs, exec) on 127.0.0.1; the
    # apiserver checks kubelets' certificates against this CA (--kubelet-certificate-authority)
    issue(
        "kwok-serving",
        _name("kwok"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    for client in CLIENTS:
        issue(client.stem, _name(client.user, client.groups), ExtendedKeyUsageOID.CLIENT_AUTH)

    sa_key = _key()
    _write_key(sa_key, directory / "sa.key")
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def node_clients(node_name: str) -> tuple[ClientIdentity, ...]:
    """The real node's client identities: the kubelet (Node authorizer: CN system:node:<name>,
    O system:nodes), kube-proxy (bound to system:node-proxier by default), and the apiserver's
    certificate towards the kubelet API (system:masters, so the kubelet's webhook allows it)."""
    return (
        ClientIdentity("kubelet", f"system:node:{node_name}", ("system:nodes",)),
        ClientIdentity("kube-proxy", "system:kube-proxy"),
        ClientIdentity(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
        ),
    )


def generate_node(directory: Path, node_name: str, node_ip: str) -> None:
    """With the CA ``generate`` wrote: the node's client certificates (``node_clients``) and the
    kubelet's serving certificate (kubelet-serving.crt, for ``node_ip`` and ``node_name``)."""
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    ca_name = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes()).subject

    def issue(
        stem: str, subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> None:
        key = _key()
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_key(key, directory / f"{stem}.key")
        _write_cert(builder.sign(ca_key, hashes.SHA256()), directory / f"{stem}.crt")

    for client in node_clients(node_name):
        issue(client.stem, _name(client.user, client.groups), ExtendedKeyUsageOID.CLIENT_AUTH, [])
    issue(
        "kubelet-serving",
        _name(f"system:node:{node_name}", ("system:nodes",)),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))],
    )
