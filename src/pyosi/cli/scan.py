"""``pyosi scan``: every AI signal in files and folders, a verdict and the label to show."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pyosi.cli._common import emit_json, stderr, stdout
from pyosi.errors import MediaError
from pyosi.scan import ScanOptions, ScanResult, iter_files, scan_paths
from pyosi.signals.registry import signal_types

_VERDICT_STYLE = {
    "ai-generated": "bold red",
    "ai-edited": "bold yellow",
    "captured": "bold green",
    "no-signal": "dim",
}


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


def scan(
    paths: Annotated[
        list[Path] | None, typer.Argument(metavar="PATH…", help="Files or folders (recursive).")
    ] = None,
    key_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--key", "-k", metavar="FILE", help="Extra watermark key (besides the registered ones)."
        ),
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(metavar="PEM", help="Extra C2PA trust anchors (PEM bundle); repeatable."),
    ] = None,
    detectors: Annotated[
        list[str] | None,
        typer.Option("--detector", "-d", help="Run only this detector; repeatable."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes for folders. Default: all cores.")
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not look up credentials in the manifest store.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every signal.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file (JSON Lines, pyosi.scan/1).")
    ] = False,
    list_detectors: Annotated[
        bool, typer.Option("--list-detectors", help="List the detectors and exit.")
    ] = False,
) -> None:
    """Read every AI signal a file carries: C2PA, XMP/IPTC, generator traces, watermarks.

    Exit status: 0 when every file was scanned, 3 when any file could not be read at all
    (the scan still carries on and reports it).
    """
    if list_detectors:
        for t in signal_types():
            media = ",".join(sorted(m.value for m in t.media_types))
            stdout().print(f"[bold]{t.name:<16}[/] {escape(t.description)} [dim]({media})[/]")
        return
    if not paths:
        raise typer.BadParameter("give at least one file or folder", param_hint="PATH…")
    missing = [p for p in paths if not p.exists()]
    if missing and len(paths) == len(missing):
        raise MediaError(f"{missing[0]}: no such file or folder")
    options = ScanOptions.default(extra_keys=key_files or (), trust=trust or ())
    if no_store:
        options = ScanOptions(key_paths=options.key_paths, anchors=options.anchors, use_store=False)
    if detectors:
        options = ScanOptions(
            key_paths=options.key_paths,
            anchors=options.anchors,
            use_store=options.use_store,
            detectors=tuple(detectors),
        )
    options.signal_types()  # unknown detector names fail here, before any work
    total = sum(1 for _ in iter_files(paths))
    counts: Counter[str] = Counter()
    unreadable = 0
    show_progress = total > 1 and sys.stderr.isatty()
    progress = Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
        disable=not show_progress,
    )
    out = stdout()
    with progress:
        task = progress.add_task("scan", total=total)
        for result in scan_paths(paths, options, workers=workers or os.cpu_count()):
            status = "error" if result.error else "skipped" if result.skipped else None
            counts[status or result.verdict.value] += 1
            unreadable += result.error is not None
            if as_json:
                emit_json(result.to_json())
            else:
                out.print(_render(result, verbose))
            progress.advance(task)
    if total > 1 or not as_json:
        _summary(counts, total)
    if unreadable:
        raise typer.Exit(MediaError.exit_code)


def _render(r: ScanResult, verbose: bool) -> str:
    if r.error is not None:
        return f"[red]{'error':<12}[/] {escape(r.path)}: {escape(r.error)}"
    if r.skipped:
        return f"[dim]{'skipped':<12} {escape(r.path)} (not a media file)[/]"
    v = r.verdict.value
    lines = [f"[{_VERDICT_STYLE[v]}]{v:<12}[/] {escape(r.path)}"]
    label = r.decision.label
    if label is not None:
        rests = label.to_json()["rests_on_text"]
        lines.append(
            f"    label: [bold]{escape(label.ko)}[/] / [bold]{escape(label.en)}[/]"
            f"  [dim](근거 {escape(rests['ko'])} · rests on {escape(rests['en'])})[/]"
        )
    if r.decision.needs_review:
        lines.append("    [yellow]needs review[/]")
    if r.recovered is not None:
        lines.append(
            f"    [green]credentials recovered from watermark[/] (content id "
            f"{r.recovered['content_id']}, {escape(str(r.recovered.get('title')))})"
        )
    shown = (
        r.signals
        if verbose
        else [s for s in r.signals if s.verdict.value != "none" or s.detector == "c2pa"]
    )
    lines.extend(f"    • {escape(s.evidence)}" for s in shown)
    if verbose and not r.signals:
        lines.append("    no signal found by any detector")
    lines.extend(f"    [yellow]{escape(e.detector)}:[/] {escape(e.message)}" for e in r.errors)
    return "\n".join(lines)


def _summary(counts: Counter[str], total: int) -> None:
    order = ["ai-generated", "ai-edited", "captured", "no-signal", "skipped", "error"]
    parts = [f"{counts[k]} {k}" for k in order if counts[k]]
    stderr().print(f"[bold]{total} file{'s' if total != 1 else ''}[/]: " + ", ".join(parts))
