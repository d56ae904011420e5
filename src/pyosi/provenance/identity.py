"""Signing identities for Content Credentials: a development CA, real certificates, or a KMS/HSM.

c2pa-rs only accepts signing certificates shaped a certain way (``../shared/notes/c2pa.md``):
X.509 v3, KeyUsage digitalSignature, ExtendedKeyUsage emailProtection, an Authority Key Identifier,
a PKCS#8 key, and a chain that does not end in the signing certificate itself. ``init_development``
issues exactly that. Without a timestamp authority, validity is checked against the time of reading,
so development certificates are long-lived: an expired certificate would turn every file it ever
signed "Invalid".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pyosi.errors import IdentityError, OutputError
from pyosi.media._write import atomic_write_bytes
from pyosi.paths import subdir

ROOT_CERT = "dev-root-ca.pem"
ROOT_KEY = "dev-root-ca.key"
SIGNER_CHAIN = "signer-chain.pem"
SIGNER_KEY = "signer.key"
INFO = "identity.json"
DEV_MARK = "DEVELOPMENT - NOT TRUSTED BY OTHERS"
_ROOT_YEARS = 50
_SIGNER_YEARS = 30
_MAX_PEM = 1 << 20

SignCallback = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Identity:
    """Who signs: a certificate chain (end-entity first) and either a private key or a callback."""

    chain_pem: bytes
    alg: str  # c2pa algorithm name: "es256", "es384", "ps256", "ed25519"
    key_pem: bytes | None = field(default=None, repr=False)
    #: Signs the bytes c2pa hands it (for a KMS/HSM: the private key never enters this process).
    sign_callback: SignCallback | None = field(default=None, repr=False)
    development: bool = False

    def __post_init__(self) -> None:
        if (self.key_pem is None) == (self.sign_callback is None):
            raise IdentityError("an identity needs exactly one of a private key or a callback")

    @property
    def certificate(self) -> x509.Certificate:
        return _load_chain(self.chain_pem, "certificate chain")[0]

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @classmethod
    def from_files(cls, cert: Path, key: Path) -> Identity:
        """A real identity: a PEM chain (end-entity first) and its PKCS#8 or traditional key."""
        chain_pem = _read_pem(cert, "certificate")
        key_pem = _pkcs8(_read_pem(key, "private key"), key)
        chain = _load_chain(chain_pem, str(cert))
        private = serialization.load_pem_private_key(key_pem, password=None)
        if _public_der(private.public_key()) != _public_der(chain[0].public_key()):
            raise IdentityError(f"{key} is not the private key of the first certificate in {cert}")
        return cls(chain_pem=chain_pem, alg=_alg_for(private), key_pem=key_pem)

    @classmethod
    def from_callback(cls, chain_pem: bytes, alg: str, sign: SignCallback) -> Identity:
        """An identity whose key lives elsewhere (KMS/HSM): ``sign(data) -> signature``."""
        _load_chain(chain_pem, "certificate chain")
        return cls(chain_pem=chain_pem, alg=alg.lower(), sign_callback=sign)

    @classmethod
    def load(cls, directory: Path | None = None) -> Identity:
        """The identity in the data directory (``pyosi identity init``)."""
        d = directory or subdir("identity")
        chain, key = d / SIGNER_CHAIN, d / SIGNER_KEY
        if not chain.exists() or not key.exists():
            raise IdentityError(
                f"no signing identity in {d}; run `pyosi identity init` for a development one, "
                "or pass --cert and --key"
            )
        ident = cls.from_files(chain, key)
        info = _read_info(d)
        return cls(
            chain_pem=ident.chain_pem,
            alg=ident.alg,
            key_pem=ident.key_pem,
            development=bool(info.get("development", False)),
        )


def init_development(
    directory: Path | None = None, *, organisation: str = "pyosi local", overwrite: bool = False
) -> Path:
    """Create a development root CA and a signing certificate it issued; returns the directory."""
    d = directory or subdir("identity", create=True)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (d / SIGNER_CHAIN).exists() and not overwrite:
        raise OutputError(f"{d} already holds an identity; refusing to replace it (use --force)")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organisation} root CA ({DEV_MARK})", organisation)
    root = (
        _builder(root_name, root_name, root_key.public_key(), now, _ROOT_YEARS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        _builder(
            _name(f"{organisation} signer ({DEV_MARK})", organisation),
            root_name,
            signer_key.public_key(),
            now,
            _SIGNER_YEARS,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    info = {
        "development": True,
        "warning": "Development identity: only this installation trusts its root.",
        "organisation": organisation,
        "created": now.isoformat(),
        "alg": "es256",
    }
    # Secrets first, each 0600 from creation; the chain last, as it marks the identity complete.
    atomic_write_bytes(d / ROOT_KEY, _key_pem(root_key), replace=overwrite, mode=0o600)
    atomic_write_bytes(d / SIGNER_KEY, _key_pem(signer_key), replace=overwrite, mode=0o600)
    atomic_write_bytes(d / ROOT_CERT, root.public_bytes(pem), replace=overwrite)
    atomic_write_bytes(d / INFO, json.dumps(info, indent=2).encode(), replace=overwrite)
    chain = signer.public_bytes(pem) + root.public_bytes(pem)
    atomic_write_bytes(d / SIGNER_CHAIN, chain, replace=overwrite)
    return d


def own_roots(directory: Path | None = None) -> list[bytes]:
    """The root certificates of this installation's identities (trusted by its own verifier)."""
    d = directory or subdir("identity")
    path = d / ROOT_CERT
    return [path.read_bytes()] if path.exists() else []


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    years: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # tolerate clock skew between machines
        .not_valid_after(now + dt.timedelta(days=365 * years))
    )


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEV_MARK),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _read_pem(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_PEM + 1)
    except OSError as e:
        raise IdentityError(f"cannot read {what} {path}: {e.strerror}") from None
    if len(data) > _MAX_PEM or b"-----BEGIN" not in data:
        raise IdentityError(f"{path} is not a PEM {what}")
    return data


def _load_chain(pem: bytes, name: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise IdentityError(f"{name} holds no readable PEM certificate") from None
    return chain


def _pkcs8(pem: bytes, path: Path) -> bytes:
    """c2pa-rs reads PKCS#8 only; convert a traditional (SEC1/PKCS#1) key rather than fail."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise IdentityError(f"{path} is encrypted; give an unencrypted key or a callback") from None
    except (ValueError, UnsupportedAlgorithm):
        raise IdentityError(f"{path} is not a readable private key") from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise IdentityError(f"{path}: unsupported key type {type(key).__name__}")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _alg_for(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
    raise IdentityError(f"unsupported signing key {type(key).__name__}")


def _read_info(d: Path) -> dict[str, Any]:
    try:
        info = json.loads((d / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
