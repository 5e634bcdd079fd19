"""Development certificates and keys, and loading the real ones for signing.

`create_dev_certificates` plays Apple and Google locally: a CA that stands in for Apple's
WWDR intermediate, a Pass Type ID certificate it signs (subject laid out as Apple's are), and a
Google service-account key file with its public certificate.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from loyalty.errors import LoyaltyError
from wallet.config import WalletSettings


class WalletNotConfigured(LoyaltyError):
    """Certificates or keys are missing or unreadable."""


@dataclass(frozen=True)
class PassSigner:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    wwdr: x509.Certificate


@dataclass(frozen=True)
class DevFiles:
    directory: Path
    ca_certificate: Path
    ca_key: Path
    pass_certificate: Path
    pass_key: Path
    google_service_account: Path
    google_certificate: Path


def _name(**parts: str) -> x509.Name:
    oids = {
        "uid": NameOID.USER_ID,
        "cn": NameOID.COMMON_NAME,
        "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "o": NameOID.ORGANIZATION_NAME,
        "c": NameOID.COUNTRY_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts.items()])


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: PrivateKeyTypes) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def make_ca(common_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = new_key()
    name = _name(cn=common_name, ou="Development", o="Loyalty Platform (local)", c="LU")
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate, key


def issue(
    ca: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    subject: x509.Name,
    *,
    usages: list[x509.ObjectIdentifier],
    hosts: list[str] = (),  # type: ignore[assignment]
    days: int = 825,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A leaf certificate signed by `ca` (a pass certificate, or a TLS server for a fake)."""
    key = new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def pass_certificate_subject(pass_type_id: str, team_id: str) -> x509.Name:
    # As in Apple's Pass Type ID certificates: UID is the pass type, OU the team.
    return _name(
        uid=pass_type_id, cn=f"Pass Type ID: {pass_type_id}", ou=team_id,
        o="Loyalty Platform (local)", c="LU",
    )  # fmt: skip


def dev_files(directory: Path) -> DevFiles:
    return DevFiles(
        directory=directory,
        ca_certificate=directory / "ca.pem",
        ca_key=directory / "ca.key",
        pass_certificate=directory / "pass.pem",
        pass_key=directory / "pass.key",
        google_service_account=directory / "google-service-account.json",
        google_certificate=directory / "google-service-account.pem",
    )


def create_dev_certificates(
    directory: Path, *, pass_type_id: str, team_id: str, force: bool = False
) -> tuple[DevFiles, bool]:
    """Write the local CA, pass certificate and Google key; keep existing ones unless `force`."""
    files = dev_files(directory)
    if files.pass_certificate.exists() and files.google_service_account.exists() and not force:
        return files, False
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = make_ca("Loyalty Dev WWDR CA")
    certificate, key = issue(
        ca, ca_key, pass_certificate_subject(pass_type_id, team_id),
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.CODE_SIGNING],
    )  # fmt: skip
    _write_cert(files.ca_certificate, ca)
    _write_key(files.ca_key, ca_key)
    _write_cert(files.pass_certificate, certificate)
    _write_key(files.pass_key, key)

    google_key = new_key()
    email = "wallet-dev@loyalty-dev.iam.gserviceaccount.com"
    # Google publishes a service account's public certificates; ours is issued by the dev CA
    # over the same key, which is all that verifying a save JWT needs.
    google_certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(cn=email))
        .issuer_name(ca.subject)
        .public_key(google_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=3650))
        .sign(ca_key, hashes.SHA256())
    )
    key_id = google_certificate.fingerprint(hashes.SHA1()).hex()
    private_pem = google_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    files.google_service_account.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "loyalty-dev",
                "private_key_id": key_id,
                "private_key": private_pem,
                "client_email": email,
                "client_id": "100000000000000000000",
                "token_uri": "https://oauth2.googleapis.com/token",
            },
            indent=2,
        )
    )
    files.google_service_account.chmod(0o600)
    _write_cert(files.google_certificate, google_certificate)
    load_signer.cache_clear()
    return files, True


@functools.lru_cache(maxsize=8)
def _load(
    certificate: Path, key: Path, wwdr: Path, password: bytes | None, _stamp: tuple[float, ...]
) -> PassSigner:
    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=password)
        intermediate = x509.load_pem_x509_certificate(wwdr.read_bytes())
    except FileNotFoundError as exc:
        raise WalletNotConfigured(
            f"Wallet certificate file {exc.filename} is missing. Run `flask --app web wallet "
            "dev-certs` for local use, or set WALLET_CERTIFICATE, WALLET_KEY and "
            "WALLET_WWDR_CERTIFICATE (docs/operations.md, Wallet certificates)."
        ) from exc
    except (ValueError, TypeError) as exc:
        raise WalletNotConfigured(
            f"Could not read the wallet certificate or key ({exc}). Check WALLET_KEY_PASSWORD."
        ) from exc
    if not isinstance(private, rsa.RSAPrivateKey):
        raise WalletNotConfigured("The Pass Type ID key must be an RSA key.")
    return PassSigner(cert, private, intermediate)


def _stamp(*paths: Path) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime if p.exists() else 0.0 for p in paths)


def load_signer(settings: WalletSettings) -> PassSigner:
    """The pass certificate, key and WWDR certificate; re-read when a file changes."""
    paths = (settings.certificate, settings.key, settings.wwdr)
    return _load(*paths, settings.key_password, _stamp(*paths))


load_signer.cache_clear = _load.cache_clear  # type: ignore[attr-defined]
