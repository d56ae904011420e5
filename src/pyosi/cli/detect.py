"""``pyosi detect``: look for a watermark in images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pyosi.cli._common import EXIT_NOT_DETECTED, emit_json, error, exit_code_for, stdout
from pyosi.errors import MediaError
from pyosi.media import load_image
from pyosi.watermark import Detection, WatermarkKey, detect_image


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)


def detect(
    inputs: Annotated[list[Path], typer.Argument(metavar="IN", help="Images to check.")],
    key_files: Annotated[
        list[Path],
        typer.Option("--key", "-k", metavar="FILE", help="Key file; repeat to try several keys."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per input (JSON Lines).")
    ] = False,
) -> None:
    """Look for a watermark made with any of the keys.

    Exit status: 0 if every input is marked, 1 if any is not, 3 if any could not be read.
    """
    keys = [WatermarkKey.load(k) for k in key_files]
    table = _table()
    failed = missing = 0
    for path in inputs:
        try:
            d = detect_image(load_image(path).image, keys=keys)
        except MediaError as e:
            failed = exit_code_for(e)
            if as_json:
                emit_json(
                    {
                        "path": str(path),
                        "detected": None,
                        "error": str(e),
                        "error_type": type(e).__name__,
                    }
                )
            else:
                error(str(e))
                table.add_row(escape(str(path)), "[red]error[/]", "", "", "")
            continue
        missing += not d.detected
        if as_json:
            emit_json({"path": str(path), **d.to_dict()})
        else:
            table.add_row(*_row(path, d))
    if not as_json:
        stdout().print(table)
    if failed or missing:
        raise typer.Exit(failed or EXIT_NOT_DETECTED)


def _table() -> Table:
    table = Table(box=None, pad_edge=False)
    for name in ("file", "watermark", "payload", "key", "false-alarm p"):
        table.add_column(name, overflow="fold")
    return table


def _row(path: Path, d: Detection) -> tuple[str, str, str, str, str]:
    return (
        escape(str(path)),
        "[green]yes[/]" if d.detected else "no",
        d.payload.hex() if d.payload is not None else "",
        d.key_id or "",
        f"{d.false_alarm_probability:.1e}",
    )
