"""Signing identities: the development CA, imported certificates, and bad input."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pyosi.errors import IdentityError, OutputError
from pyosi.provenance import identity as ident
from pyosi.provenance.identity import Identity, init_development, own_roots


def test_development_identity_shape(identity_dir: Path, identity: Identity) -> None:
    assert identity.development and identity.alg == "es256"
    assert ident.DEV_MARK in identity.subject  # clearly marked as development
    cert = identity.certificate
    years = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days / 365
    assert years > 25  # long-lived: without a timestamp, expiry would invalidate old files
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    chain = x509.load_pem_x509_certificates(identity.chain_pem)
    assert len(chain) == 2 and chain[1].subject == chain[0].issuer


def test_private_keys_are_0600(identity_dir: Path) -> None:
    for name in (ident.SIGNER_KEY, ident.ROOT_KEY):
        assert stat.S_IMODE((identity_dir / name).stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in (identity_dir / ident.SIGNER_KEY).read_bytes()  # PKCS#8


def test_init_refuses_to_replace(identity_dir: Path) -> None:
    with pytest.raises(OutputError, match="already holds an identity"):
        init_development(identity_dir)


def test_default_directory_and_own_roots(data_dir: Path) -> None:
    assert own_roots() == []
    with pytest.raises(IdentityError, match="pyosi identity init"):
        Identity.load()
    d = init_development()
    assert d == data_dir / "identity"
    assert len(own_roots()) == 1 and Identity.load().development


def test_from_files_accepts_traditional_keys(identity_dir: Path, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(
        (identity_dir / ident.SIGNER_KEY).read_bytes(), password=None
    )
    sec1 = tmp_path / "sec1.pem"
    sec1.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    loaded = Identity.from_files(identity_dir / ident.SIGNER_CHAIN, sec1)
    assert loaded.key_pem is not None and b"BEGIN PRIVATE KEY" in loaded.key_pem


def test_from_files_rejects_mismatched_and_bad_keys(identity_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    chain = identity_dir / ident.SIGNER_CHAIN
    with pytest.raises(IdentityError, match="is not the private key"):
        Identity.from_files(chain, other)
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(IdentityError, match="not a readable private key"):
        Identity.from_files(chain, junk)
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(IdentityError, match="not a PEM"):
        Identity.from_files(tmp_path / "empty.pem", other)
    with pytest.raises(IdentityError, match="cannot read"):
        Identity.from_files(tmp_path / "missing.pem", other)


def test_identity_needs_exactly_one_way_to_sign(identity: Identity) -> None:
    with pytest.raises(IdentityError):
        Identity(chain_pem=identity.chain_pem, alg="es256")
