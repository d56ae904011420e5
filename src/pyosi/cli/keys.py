"""``pyosi key``: create and inspect watermark key files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout, warn
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
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Generate a new random watermark key and save it.

    Keep the key file secret: it can detect, remove and forge marks. Share only the key id.
    """
    if to_stdout and out is not None:
        raise typer.BadParameter("give either --out or --stdout, not both", param_hint="'--stdout'")
    key = WatermarkKey.generate()
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
