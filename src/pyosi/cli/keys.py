"""``pyosi key``: create and inspect watermark key files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout, warn
from pyosi.keyring import key_files, keys_dir, register_key
from pyosi.watermark import WatermarkKey

app = typer.Typer(no_args_is_help=True, help="Create and inspect watermark keys.")

_JSON = typer.Option("--json", help="Print a JSON object instead of text.")


@app.command("new")
def new(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Key file to write (mode 0600). Default: ./pyosi-key-<id>.json",
            dir_okay=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key file.")] = False,
    to_stdout: Annotated[
        bool,
        typer.Option("--stdout", help="Print the key file to stdout instead of writing a file."),
    ] = False,
    register: Annotated[
        bool,
        typer.Option(
            "--register", help="Write it into the data directory's keys/, which `pyosi scan` tries."
        ),
    ] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Generate a new random watermark key and save it.

    Keep the key file secret: it can detect, remove and forge marks. Share only the key id.
    """
    if sum((to_stdout, out is not None, register)) > 1:
        raise typer.BadParameter(
            "give only one of --out, --stdout and --register", param_hint="'--stdout'"
        )
    key = WatermarkKey.generate()
    if register:
        out = keys_dir(create=True) / f"{key.id}.json"
    if to_stdout:
        typer.echo(key.to_json(), nl=False)
        return
    path = key.save(out or Path(f"pyosi-key-{key.id}.json"), overwrite=force)
    if as_json:
        emit_json({"key_id": key.id, "path": str(path)})
        return
    stdout().print(f"key [bold]{key.id}[/] written to {escape(str(path))}")
    warn(f"keep {path} secret: anyone with it can detect, remove or forge your watermarks")


@app.command("show")
def show(
    key_file: Annotated[Path, typer.Argument(help="A pyosi key file.", metavar="FILE")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Check a key file and print its public key id (never the secret)."""
    key = WatermarkKey.load(key_file)
    if as_json:
        emit_json({"key_id": key.id, "path": str(key_file)})
    else:
        typer.echo(key.id)


@app.command("add")
def add(
    key_file: Annotated[Path, typer.Argument(help="A pyosi key file (e.g. a partner's).")],
    force: Annotated[bool, typer.Option("--force", help="Replace a key with the same id.")] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Register a key (checked first) so `pyosi scan` tries it."""
    key = WatermarkKey.load(key_file)
    path = register_key(key, overwrite=force)
    if as_json:
        emit_json({"key_id": key.id, "path": str(path)})
    else:
        stdout().print(f"key [bold]{key.id}[/] registered in {escape(str(path))}")


@app.command("list")
def list_(as_json: Annotated[bool, _JSON] = False) -> None:
    """The keys `pyosi scan` tries (the data directory's keys/)."""
    for path in key_files():
        key = WatermarkKey.load(path)
        if as_json:
            emit_json({"key_id": key.id, "path": str(path)})
        else:
            stdout().print(f"{key.id}  {escape(str(path))}")
