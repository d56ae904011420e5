"""``pyosi identity``: the C2PA signing identity in the data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout, warn
from pyosi.errors import OutputError
from pyosi.paths import subdir
from pyosi.provenance import identity as ident
from pyosi.provenance.identity import Identity

app = typer.Typer(no_args_is_help=True, help="Create, import and show the C2PA signing identity.")

_JSON = typer.Option("--json", help="Print a JSON object.")


@app.command("init")
def init(
    organisation: Annotated[
        str, typer.Option("--org", help="Organisation name in the certificates.")
    ] = "pyosi local",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity.")] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Create a DEVELOPMENT root CA and signing certificate (only this installation trusts it).

    For production, get a certificate from a CA on the C2PA trust list and use
    `pyosi identity import --cert CHAIN.pem --key KEY.pem`.
    """
    d = ident.init_development(organisation=organisation, overwrite=force)
    loaded = Identity.load(d)
    if as_json:
        emit_json(_describe(loaded, d))
        return
    stdout().print(f"development identity written to {escape(str(d))}")
    stdout().print(f"  signer: {escape(loaded.subject)}")
    warn("development certificates are trusted only by this installation, not by other verifiers")


@app.command("import")
def import_(
    cert: Annotated[Path, typer.Option("--cert", help="PEM chain, signing certificate first.")],
    key: Annotated[Path, typer.Option("--key", help="The signing certificate's private key.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity.")] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Use a real certificate and key for signing (checked, then copied with the key 0600)."""
    loaded = Identity.from_files(cert, key)  # validates before anything is replaced
    d = subdir("identity", create=True)
    if (d / ident.SIGNER_CHAIN).exists() and not force:
        raise OutputError(f"{d} already holds an identity; refusing to replace it (use --force)")
    from pyosi.media._write import atomic_write_bytes

    assert loaded.key_pem is not None
    atomic_write_bytes(d / ident.SIGNER_KEY, loaded.key_pem, replace=True, mode=0o600)
    atomic_write_bytes(d / ident.SIGNER_CHAIN, loaded.chain_pem, replace=True)
    for stale in (ident.ROOT_CERT, ident.ROOT_KEY, ident.INFO):
        (d / stale).unlink(missing_ok=True)  # the development root no longer applies
    if as_json:
        emit_json(_describe(Identity.load(d), d))
        return
    stdout().print(f"identity imported into {escape(str(d))}: {escape(loaded.subject)}")


@app.command("show")
def show(as_json: Annotated[bool, _JSON] = False) -> None:
    """Show the signing identity (never the private key)."""
    d = subdir("identity")
    loaded = Identity.load(d)
    info = _describe(loaded, d)
    if as_json:
        emit_json(info)
        return
    for k, v in info.items():
        stdout().print(f"{k:>12}: {escape(str(v))}")


def _describe(loaded: Identity, d: Path) -> dict[str, object]:
    cert = loaded.certificate
    return {
        "directory": str(d),
        "subject": loaded.subject,
        "issuer": cert.issuer.rfc4514_string(),
        "algorithm": loaded.alg,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "development": loaded.development,
    }
