"""The report as JSON and as a table."""

from __future__ import annotations

import os
from typing import Any

from pyosi.bench.service.model import ServiceBenchReport

# -- output --------------------------------------------------------------------------------------


def print_report(report: ServiceBenchReport, console: Any) -> None:
    """The phases as a Rich table, then the targets, each with ✓ or ✗."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    lib_rate = report.library_rate
    table = Table(
        title=f"pyosi serve --scan-processes {report.config.workers} on {report.database}",
        box=box.SIMPLE_HEAD,
    )
    for name in ["phase", "/s", "×lib", "p50 s", "p95 s", "p99 s", "n", "fail", "CPU ms"]:
        table.add_column(name, justify="left" if name == "phase" else "right", no_wrap=True)
    for i, run in enumerate(report.library_runs):
        table.add_row(
            "library after" if i else "library before",
            f"{run.rate:.2f}", f"{run.rate / lib_rate:.2f}",
            "", "", "", str(run.files), str(run.wrong_verdicts + run.errors),
            num(run.cpu_ms_per_file, ".0f"),
        )  # fmt: skip
    for p in [*report.closed, report.open]:
        label = f"closed c={p.concurrency}" if p.mode == "closed" else f"open {p.target_rate:.2f}/s"
        failed = p.requests - p.ok
        table.add_row(
            label, f"{p.throughput:.2f}", f"{p.throughput / lib_rate:.2f}" if lib_rate else "",
            f"{p.p50_s:.3f}", f"{p.p95_s:.3f}", f"{p.p99_s:.3f}", str(p.requests),
            f"[red]{failed}[/]" if failed else "0", num(p.cpu_ms_per_upload, ".0f"),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"sustained {report.sustained_rate:.2f} uploads/s = {report.ratio:.0%} of the library's "
        f"{lib_rate:.2f} files/s (mean of before and after); at {report.open.target_rate:.2f} "
        f"uploads/s: p50 "
        f"{report.open.p50_s:.3f} s, p95 {report.open.p95_s:.3f} s, p99 {report.open.p99_s:.3f} s"
    )
    if report.cpu_ratio is not None and report.sustained is not None:
        console.print(
            f"CPU per scan: library {num(report.library_cpu_ms, '.0f')} ms, service "
            f"{num(report.sustained.cpu_ms_per_upload, '.0f')} ms → with the machine to itself "
            f"the service would reach about {report.cpu_ratio:.0%} of the library's rate"
        )
    if report.load_before is not None and report.load_after is not None:
        console.print(
            f"[dim]measured under a load average (1 min) of {report.load_before[0]:.2f} before "
            f"and {report.load_after[0]:.2f} after, on {os.cpu_count()} cores[/]"
        )
    for name, ok in report.checks().items():
        console.print(f"  {'[green]✓[/]' if ok else '[red]✗[/]'} {escape(name)}")
    for p in [report.warmup, *report.closed, report.open]:
        for failure in p.failures[:3]:
            console.print(f"  [red]failure[/] ({p.mode}): {escape(failure)}")
    for line in report.server_log_alarms[:5]:
        console.print(f"  [yellow]server log:[/] {escape(line)}")
    console.print("[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]")
