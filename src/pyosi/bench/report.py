"""Rendering an image-benchmark result: JSON, a Rich table, a Markdown table and a chart."""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pyosi._json import finite, write_json
from pyosi.bench.image import SCHEMA, Cell, ImageBenchResult
from pyosi.errors import OutputError

JSON_NAME = "bench-image.json"
CHART_NAME = "bench-image.png"
_DISTRIBUTIONS = (
    "pyosi",
    "numpy",
    "scipy",
    "pillow",
    "opencv-python-headless",
    "opencv-python",
    "scikit-image",
    "PyWavelets",
    "invisible-watermark",
    "torch",
    "onnxruntime",
    "matplotlib",
)
_QUALITY_ROWS = (
    ("PSNR (dB)", "psnr_db", "{:.1f}"),
    ("SSIM", "ssim", "{:.4f}"),
    ("embed ms/MP", "embed_ms_per_mp", "{:.0f}"),
    ("detect ms/MP", "detect_ms_per_mp", "{:.0f}"),
)


# -- JSON ----------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:  # platform.processor() is often empty on Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "timing": "one core (BLAS/OpenMP/OpenCV/torch/ONNX Runtime pinned to one thread)",
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for dist in _DISTRIBUTIONS:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def _cell_dict(cell: Cell) -> dict[str, Any]:
    return {**asdict(cell), "rate": cell.rate}


def result_to_dict(result: ImageBenchResult) -> dict[str, Any]:
    groups = {"main": False, "small": True}
    doc = {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "seconds": round(result.seconds, 2),
        "config": asdict(result.config),
        "machine": machine_info(),
        "versions": versions(),
        "images": [asdict(i) for i in result.images],
        "attacks": [asdict(a) for a in result.attacks],
        "methods": {m.name: {**asdict(m), **result.quality(m.name)} for m in result.methods},
        "skipped_methods": result.skipped_methods,
        "skipped_files": result.skipped_files,
        "results": {
            group: {
                m.name: {
                    a.name: _cell_dict(result.cell(m.name, a.name, small=small))
                    for a in result.attacks
                }
                for m in result.methods
            }
            for group, small in groups.items()
        },
        "verdicts": {a.name: _verdict_word(result.verdict(a)) for a in result.attacks},
        "embeds": [asdict(e) for e in result.embeds],
        "trials": [asdict(t) for t in result.trials],
    }
    return dict(finite(doc))


def _verdict_word(verdict: bool | None) -> str | None:
    return None if verdict is None else ("PASS" if verdict else "FAIL")


# -- tables --------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else spec.format(value)


def _cell_text(cell: Cell) -> str:
    if cell.trials == 0 or cell.rate is None or cell.bit_accuracy is None:
        return "n/a"
    mark = "*" if cell.refused or cell.errors else ""
    return f"{cell.bit_accuracy:.2f} / {cell.rate:.2f}{mark}"


def _rows(result: ImageBenchResult, small: bool, quality: bool) -> list[list[str]]:
    """Attack rows then quality rows; columns: attack, required, [verdict,] methods."""
    has_pyosi = any(m.name == "pyosi" for m in result.methods)
    rows = []
    for a in result.attacks:
        row = [a.name, _fmt(a.required_rate, "{:.2f}")]
        if has_pyosi and not small:
            row.append(_verdict_word(result.verdict(a)) or "n/a")
        row += [_cell_text(result.cell(m.name, a.name, small=small)) for m in result.methods]
        rows.append(row)
    pad = 2 if has_pyosi and not small else 1
    for label, key, spec in _QUALITY_ROWS if quality else ():
        values = [_fmt(result.quality(m.name)[key], spec) for m in result.methods]
        rows.append([label, *[""] * pad, *values])
    return rows


def _headers(result: ImageBenchResult, small: bool) -> list[str]:
    has_pyosi = any(m.name == "pyosi" for m in result.methods)
    verdict = ["pyosi vs required"] if has_pyosi and not small else []
    names = [f"{m.name} ({m.payload_bits} b)" for m in result.methods]
    return ["attack", "required", *verdict, *names]


def _image_list(result: ImageBenchResult, small: bool) -> str:
    return ", ".join(f"{i.name} ({i.megapixels:.2f} MP)" for i in result.images if i.small == small)


def notes(result: ImageBenchResult) -> list[str]:
    cfg = result.config
    out = [
        "cells: bit accuracy / detection rate at false-alarm probability ≤ 1e-6 "
        "(pyosi: right payload; a non-detection counts 0.5 per bit)",
        *(
            f"{m.name}: {m.trials_per_image} trial(s) per image; detected = {m.rule}"
            for m in result.methods
        ),
        f"seed {cfg.seed}; PSNR/SSIM (RGB) and ms/MP (median, one core) over all images",
    ]
    if any(t.error is not None for t in result.trials):
        out.append(
            "* counted as not detected: trials where the method refused to embed in or decode "
            "an image that small (invisible-watermark: under 256×256 pixels; pyosi: "
            "ImageTooSmallError)"
        )
    wrong = [t for t in result.trials if t.wrong_payload]
    if wrong:
        where = sorted({f"{t.method}/{t.attack}" for t in wrong})
        out.append(f"wrong payload reported in {len(wrong)} trial(s): {', '.join(where)}")
    out += [f"skipped {name}: {why}" for name, why in result.skipped_methods.items()]
    if result.skipped_files:
        out.append(f"unreadable files skipped: {', '.join(result.skipped_files)}")
    return out


def _groups(result: ImageBenchResult) -> list[tuple[bool, bool]]:
    """(small, with quality rows) for each table to show: main images first, then small ones.

    PSNR, SSIM and speed cover every image, so they are shown once, under the first table.
    """
    present = [small for small in (False, True) if any(i.small == small for i in result.images)]
    return [(small, k == 0) for k, small in enumerate(present)]


def _rich_table(result: ImageBenchResult, small: bool, quality: bool) -> Table:
    # Compact (two-line headers, no vertical rules, "b/d" cells) so four methods fit 80 columns.
    what = f"images under {result.config.min_megapixels} MP" if small else "main images"
    table = Table(
        title=f"pyosi bench image — {what}: {_image_list(result, small)}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    headers = _headers(result, small)
    headers[1] = "req.\nrate"
    if len(headers) > 2 + len(result.methods):
        headers[2] = "pyosi\nvs req."
    for m in range(len(result.methods)):
        headers[-1 - m] = headers[-1 - m].replace(" (", "\n(")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    n_attacks = len(result.attacks)
    marks = {"PASS": "[green]PASS[/]", "FAIL": "[bold red]FAIL[/]"}
    for i, row in enumerate(_rows(result, small, quality)):
        styled = [marks.get(text, text.replace(" / ", "/")) for text in row]
        table.add_row(*styled, end_section=i == n_attacks - 1)
    return table


def print_report(result: ImageBenchResult, console: Console) -> None:
    for small, quality in _groups(result):
        console.print(_rich_table(result, small, quality))
        console.print()
    for line in notes(result):
        console.print(f"[dim]{line}[/]", highlight=False)


def to_markdown(result: ImageBenchResult) -> str:
    """The result as Markdown tables (main images, then small ones) for the README."""
    parts = []
    for small, quality in _groups(result):
        what = f"Images under {result.config.min_megapixels} MP" if small else "Images"
        headers = _headers(result, small)
        lines = [
            f"{what}: {_image_list(result, small)}.",
            "",
            "| " + " | ".join(headers) + " |",
            "|" + "---|" * len(headers),
            *("| " + " | ".join(row) + " |" for row in _rows(result, small, quality)),
        ]
        parts.append("\n".join(lines))
    parts.append("\n".join(f"- {line}" for line in notes(result)))
    return "\n\n".join(parts) + "\n"


# -- files ---------------------------------------------------------------------------------------
def write_chart(result: ImageBenchResult, path: Path) -> Path | None:
    """Bars of detection rate per attack and method (main images); None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    names = [a.name for a in result.attacks]
    width = 0.8 / max(1, len(result.methods))
    fig = Figure(figsize=(max(8.0, 0.55 * len(names)), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k, m in enumerate(result.methods):
        rates = [result.cell(m.name, a).rate or 0.0 for a in names]
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(names))]
        ax.bar(xs, rates, width, label=f"{m.name} ({m.payload_bits} b)")
    required = [(i, a.required_rate) for i, a in enumerate(result.attacks) if a.required_rate]
    if required:
        ax.hlines(
            [r for _, r in required],
            [i - 0.42 for i, _ in required],
            [i + 0.42 for i, _ in required],
            colors="crimson",
            linewidth=2,
            label="required rate",
        )
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("detection rate (FAP ≤ 1e-6)")
    ax.set_title(f"Detection rate per attack (images ≥ {result.config.min_megapixels:g} MP)")
    fig.legend(loc="outside right upper", fontsize="small")
    fig.savefig(path, dpi=120)
    return path


def write_outputs(result: ImageBenchResult, out_dir: Path) -> list[Path]:
    """Write ``bench-image.json`` and ``bench-image.png`` under ``out_dir``; return the paths."""
    json_path = write_json(out_dir / JSON_NAME, result_to_dict(result), indent=1)
    try:
        chart = write_chart(result, out_dir / CHART_NAME)
    except OSError as e:
        raise OutputError(
            f"cannot write the benchmark results to {out_dir}: {e.strerror}"
        ) from None
    written = [json_path]
    if chart is not None:
        written.append(chart)
    return written
