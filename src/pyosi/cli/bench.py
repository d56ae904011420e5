"""``pyosi bench``: robustness benchmarks (a thin shell over :mod:`pyosi.bench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi._json import write_json
from pyosi.cli._common import stderr, stdout

app = typer.Typer(
    no_args_is_help=True, help="Benchmark watermark robustness against platform pipelines."
)


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else ()


@app.command("image")
def image(
    *,
    trials: Annotated[
        int, typer.Option(min=1, help="Random keys + payloads per image (fast methods).")
    ] = 4,
    slow_trials: Annotated[
        int, typer.Option(min=1, help="Trials per image for slow methods (rivaGan, ~1 s a call).")
    ] = 1,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods to compare.")
    ] = "pyosi,dwtDct,dwtDctSvd,rivaGan",
    attacks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated attacks (default: the standard suite). Parametrised names "
            "work too: jpeg42, resize0.6, crop40_topleft, rotate-5, noise8, resize0.6+jpeg60."
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="Also benchmark every image in DIR.",
        ),
    ] = None,
    samples: Annotated[
        bool, typer.Option("--samples/--no-samples", help="Include the bundled sample photos.")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Write bench-image.json and bench-image.png into DIR."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for keys, payloads and attack noise.")] = 0,
    markdown: Annotated[bool, typer.Option("--markdown", help="Also print Markdown tables.")] = (
        False
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Exit with status 1 if pyosi misses a required rate.")
    ] = False,
) -> None:
    """Mark photos, attack them like platforms do, detect; compare with invisible-watermark.

    Timing is single-core: the benchmark runs in a child process with one thread per library.
    """
    from pyosi.bench.attacks import get_attack
    from pyosi.bench.baselines import ALL_METHODS
    from pyosi.bench.image import BenchConfig, run_image_bench_isolated
    from pyosi.bench.report import print_report, to_markdown, write_outputs

    method_names = _names(methods)
    if not method_names or any(m not in ALL_METHODS for m in method_names):
        raise typer.BadParameter(
            f"choose from {', '.join(ALL_METHODS)} (got {methods!r})", param_hint="--methods"
        )
    attack_names = _names(attacks)
    try:
        for name in attack_names:
            get_attack(name)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--attacks") from None
    config = BenchConfig(
        methods=method_names,
        attacks=attack_names,
        trials=trials,
        slow_trials=slow_trials,
        seed=seed,
        images_dir=str(images) if images is not None else None,
        samples=samples,
    )
    err = stderr()
    err.print("[dim]running on one core; progress per image and method:[/]")
    result = run_image_bench_isolated(config)
    print_report(result, stdout())
    if markdown:
        typer.echo(to_markdown(result))
    if out is not None:
        for path in write_outputs(result, out):
            err.print(f"wrote {escape(str(path))}")
    if check and any(result.verdict(a) is False for a in result.attacks):
        raise typer.Exit(1)


@app.command("null")
def null(
    *,
    keys: Annotated[int, typer.Option(min=1, help="Random keys tried in each detect call.")] = 200,
    attacks: Annotated[
        str,
        typer.Option(help="Comma-separated attacks applied to the unmarked photos."),
    ] = "none,jpeg75,resize0.5,crop50,rotate10,social",
    seed: Annotated[int, typer.Option(help="Seed for keys and attack noise.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write bench-null.json into DIR.", metavar="DIR")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Calibration: detect on unmarked photos with many random keys; no detection may occur and
    the sync scores must follow the standard normal the false-alarm probability assumes."""
    import json

    from pyosi.bench.attacks import parse_attacks
    from pyosi.bench.calibration import run_null
    from pyosi.bench.samples import sample_images

    photos = [s.pixels for s in sample_images()]
    stats = run_null(photos, parse_attacks(attacks), keys_per_call=keys, seed=seed)
    result = stats.to_dict()
    out_console = stdout()
    text = json.dumps(result, indent=2)
    if out is not None:
        write_json(out / "bench-null.json", result)
    if json_out:
        stdout().print_json(text)
        return
    out_console.print(
        f"{result['calls']} detect calls × {keys} keys = {result['key_trials']:,} trials on "
        f"unmarked photos: [bold]{result['false_detections']} false detections[/]; "
        f"smallest false-alarm probability {result['smallest_false_alarm_probability']:.2e}"
    )
    out_console.print(
        f"sync z-scores ({result['z_values']:,} offsets): mean {result['z_mean']:+.4f}, "
        f"variance {result['z_variance']:.4f}, max CDF gap to N(0,1) {result['ks_distance']:.4f}"
    )
    for name, tail in result["tails"].items():
        out_console.print(f"  {name}: observed {tail['observed']:.2e}, normal {tail['normal']:.2e}")
    out_console.print(f"{result['seconds']} s")


@app.command("scan")
def scan(
    *,
    files: Annotated[int, typer.Option(min=10, help="Files in the corpus.")] = 1000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes. Default: all cores.")
    ] = None,
    corpus: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Where the corpus is built (and reused next time)."),
    ] = Path("bench-results/scan-corpus"),
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Write bench-scan.json into DIR.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the corpus.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Scan a corpus of ≈1-MP JPEGs (marked, stripped, C2PA, generator traces, plain) and time it.

    The corpus is built first (not timed) from the bundled photos; then every file is scanned
    with every detector over all cores, and each verdict is checked against what the file holds.
    """
    import json

    from pyosi.bench.scan import run_scan_bench

    err = stderr()
    err.print(f"[dim]building or reusing the {files}-file corpus in {escape(str(corpus))}…[/]")
    report = run_scan_bench(corpus, files, workers=workers, seed=seed)
    result = report.to_dict()
    text = json.dumps(result, indent=2)
    if out is not None:
        write_json(out / "bench-scan.json", result)
    if json_out:
        stdout().print_json(text)
        return
    console = stdout()
    console.print(
        f"[bold]{report.files} files in {report.seconds:.1f} s[/] on {report.workers} workers "
        f"({report.files_per_second:.1f} files/s); wrong verdicts: {len(report.wrong)}, "
        f"files with errors: {report.errors}"
    )
    for kind, verdicts in report.per_kind.items():
        console.print(f"  {kind:<12} {verdicts}")
    console.print("CPU time per file by detector (ms):")
    for name, ms in result["detector_cpu_ms_per_file"].items():
        console.print(f"  {name:<16} {ms:8.2f}")


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(n) for n in _names(value))
    except ValueError:
        levels = ()
    if not levels or any(c < 1 for c in levels):
        raise typer.BadParameter(
            f"give whole numbers >= 1 separated by commas, e.g. 1,2,4,8 (got {value!r})",
            param_hint="--concurrency",
        )
    return levels


@app.command("service")
def service(
    *,
    files: Annotated[int, typer.Option(min=10, help="Files in the corpus.")] = 200,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Scan processes, in the service and the library. Default: cores."),
    ] = None,
    concurrency: Annotated[
        str, typer.Option(help="Closed-loop client counts to try, comma-separated.")
    ] = "1,2,4,8",
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Open-loop arrivals per second. Default: 80% of the library's measured rate.",
        ),
    ] = None,
    seconds: Annotated[float, typer.Option(min=1, help="Length of each load phase.")] = 20.0,
    database_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Run on this PostgreSQL server (a scratch database is created and dropped). "
            "Default: SQLite in a temporary data directory.",
        ),
    ] = None,
    corpus: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Where the corpus is built (and reused next time)."),
    ] = Path("bench-results/service-corpus"),
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Write bench-service.json into DIR.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the corpus.")] = 0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the service's temporary data directory and log.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit with status 1 if the service misses a target.")
    ] = False,
) -> None:
    """Scans per second and latency of `pyosi serve` over HTTP, against the library's own rate.

    Measures the library on the corpus first, then starts the service (a fresh data directory,
    rate limit off) and loads it from this process: closed loop at each --concurrency level
    (sustained rate), then open loop at --rate (latency). Targets: sustained >= 80% of the
    library's rate, and p95 <= 1 s at 80% of it, every upload 201 with the right verdict.
    """
    import json
    import os

    from pyosi._json import finite
    from pyosi.bench.service import JSON_NAME, ServiceBenchConfig, print_report, run_service_bench

    levels = _levels(concurrency)
    config = ServiceBenchConfig(
        corpus=corpus,
        files=files,
        workers=workers or os.cpu_count() or 1,
        concurrency=levels,
        rate=rate,
        seconds=seconds,
        database_url=database_url,
        seed=seed,
        keep=keep,
    )
    err = stderr()
    report = run_service_bench(config, progress=lambda msg: err.print(f"[dim]{escape(msg)}[/]"))
    doc = report.to_dict()
    if out is not None:
        err.print(f"wrote {escape(str(write_json(out / JSON_NAME, doc)))}")
    if json_out:
        stdout().print_json(json.dumps(finite(doc)))
    else:
        print_report(report, stdout())
    if check and not report.passed:
        raise typer.Exit(1)
