"""``pyosi demo``: see the watermark survive platform pipelines (a thin shell over pyosi.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import stderr, stdout


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for the demo's files.")
    ] = Path("pyosi-demo"),
) -> None:
    """Mark sample photos, pass them through social-media-like pipelines, detect, and scan.

    Writes the key, the marked and attacked images and report.json / report.md into DIR.
    Needs scikit-image for the photos: pip install 'pyosi[demo]'.
    """
    from pyosi.demo import render_credentials, render_table, run_demo

    err = stderr()
    report = run_demo(out, progress=lambda message: err.print(f"[dim]{escape(message)}[/]"))
    console = stdout()
    console.print(render_table(report))
    if report.credentials:
        console.print(render_credentials(report))
    ok = sum(r.payload_ok for r in report.rows)
    console.print(
        f"payload recovered in {ok} of {len(report.rows)} cases in {report.seconds:.1f} s; "
        f"files, key and report in {escape(str(out))}/ "
        f"(try: pyosi detect {escape(str(out / report.rows[0].file))} "
        f"--key {escape(str(out / 'demo-key.json'))})"
        if report.rows
        else f"nothing to show; see {escape(str(out))}/"
    )
