"""``pyosi demo``: mark sample photos, push them through platform-like pipelines, detect.

Everything lands in one folder a person can browse:

    demo-key.json              the watermark key (0600; keep it secret in real use)
    original/<image>.png       the photos as shipped with scikit-image
    marked/<image>.png         the same photos, watermarked
    attacked/<image>-<attack>.<jpg|png>   what a platform would serve: the exact files detected
    credentials/               mark → strip → scan: a labelled, watermarked, signed image
                               (generated.jpg), a metadata-stripped copy (stripped.jpg) and a
                               screenshot-like copy (screenshot.jpg)
    data/                      the demo's own identity, key and manifest store (a private data
                               directory; the user's real one is never touched)
    report.json, report.md     every row of the tables below

Pipelines that end in a JPEG or WebP encode write those exact bytes; the others are saved as PNG.
Detection reads each attacked file back from disk with :func:`pyosi.media.load_image`, as
``pyosi detect`` does.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.table import Table

from pyosi.bench.attacks import Attack, ImageArray, encode, get_attack
from pyosi.bench.samples import sample_images
from pyosi.errors import OutputError
from pyosi.media import load_image
from pyosi.media.quality import psnr_arrays as psnr
from pyosi.watermark import PAYLOAD_BYTES, WatermarkKey, detect_image, embed_image

DEFAULT_OUT = Path("pyosi-demo")
KEY_FILE = "demo-key.json"
#: A quick, varied subset of the bundled photos (all of them take longer than a demo should).
DEMO_IMAGES: tuple[str, ...] = ("astronaut", "coffee", "rocket", "motorcycle_left")
DEMO_ATTACKS: tuple[str, ...] = (
    "social",
    "screenshot",
    "jpeg50",
    "crop50",
    "rotate10",
    "hflip",
    "greyscale",
)
_FORMATS: dict[str, tuple[Literal["JPEG", "WEBP"], str]] = {
    "jpeg": ("JPEG", "jpg"),
    "webp": ("WEBP", "webp"),
}


@dataclass(frozen=True)
class DemoRow:
    image: str
    attack: str
    pipeline: str
    file: str
    detected: bool
    payload_ok: bool
    false_alarm_probability: float
    psnr_db: float
    payload: str
    found_payload: str | None


@dataclass(frozen=True)
class CredentialsRow:
    file: str
    step: str
    verdict: str
    label_ko: str | None
    label_en: str | None
    rests_on: str
    own_credentials: str | None  # validation state of the file's own manifest
    recovered: bool


@dataclass
class DemoReport:
    out_dir: Path
    key_id: str
    rows: list[DemoRow] = field(default_factory=list)
    credentials: list[CredentialsRow] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "key_id": self.key_id,
            "key_file": KEY_FILE,
            "seconds": round(self.seconds, 2),
            "recovered": sum(r.payload_ok for r in self.rows),
            "total": len(self.rows),
            "rows": [asdict(r) for r in self.rows],
            "credentials": [asdict(r) for r in self.credentials],
        }

    def to_markdown(self) -> str:
        head = [
            "# pyosi demo",
            "",
            f"Key `{self.key_id}` (`{KEY_FILE}`) marked each photo with a random 8-byte payload; "
            "each marked photo then went through a platform-like pipeline, and the file it "
            "produced was checked.",
            f"Payload recovered in **{sum(r.payload_ok for r in self.rows)} of {len(self.rows)}** "
            "cases.",
            "",
            "| image | attack | pipeline | file | detected | payload ok | false-alarm p | PSNR |",
            "|---|---|---|---|---|---|---|---|",
        ]
        body = [
            f"| {r.image} | {r.attack} | {r.pipeline} | `{r.file}` | {_yes(r.detected)} "
            f"| {_yes(r.payload_ok)} | {r.false_alarm_probability:.1e} | {r.psnr_db:.1f} dB |"
            for r in self.rows
        ]
        tail = ["", f"Check any file yourself: `pyosi detect {_first_file(self)} --key {KEY_FILE}`"]
        creds = [
            "",
            "## Durable credentials: mark → strip → scan",
            "",
            "| file | step | verdict | label | rests on | own C2PA | recovered from watermark |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| `{c.file}` | {c.step} | {c.verdict} | {c.label_ko or ''} / {c.label_en or ''} "
                f"| {c.rests_on} | {c.own_credentials or 'none'} | {_yes(c.recovered)} |"
                for c in self.credentials
            ),
        ]
        return "\n".join(head + body + tail + (creds if self.credentials else [])) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _first_file(report: DemoReport) -> str:
    return report.rows[0].file if report.rows else "attacked/<file>"


def render_table(report: DemoReport) -> Table:
    table = Table(title=f"pyosi demo — key {report.key_id}, files in {report.out_dir}")
    table.add_column("image", overflow="fold")
    table.add_column("attack")
    for name in ("detected", "payload ok", "false-alarm p", "PSNR"):
        table.add_column(name, justify="right")
    for r in report.rows:
        table.add_row(
            r.image,
            r.attack,
            "[green]yes[/]" if r.detected else "[red]no[/]",
            "[green]yes[/]" if r.payload_ok else "[red]no[/]",
            f"{r.false_alarm_probability:.1e}",
            f"{r.psnr_db:.1f} dB",
        )
    return table


def render_credentials(report: DemoReport) -> Table:
    table = Table(
        title="durable credentials: mark (label, watermark, XMP, signed C2PA) → strip → scan",
        caption="stripped = re-saved without metadata; screenshot = crop 80%, ×0.7, JPEG 70",
    )
    for name in ("file", "verdict", "label", "own C2PA", "recovered from watermark"):
        table.add_column(name, overflow="fold")
    for c in report.credentials:
        table.add_row(
            c.file,
            c.verdict,
            f"{c.label_ko} / {c.label_en}" if c.label_ko else "",
            c.own_credentials or "none",
            "[green]yes[/]" if c.recovered else "no",
        )
    return table


def _credentials_demo(out: Path, photo_name: str, pixels: ImageArray) -> list[CredentialsRow]:
    """Mark one photo end to end, strip it two ways, and scan all three files."""
    from PIL import Image

    from pyosi.mark import mark_image_file
    from pyosi.provenance.credentials import Generation
    from pyosi.provenance.identity import Identity, init_development
    from pyosi.provenance.store import ManifestStore
    from pyosi.scan import scan_file
    from pyosi.signals.base import ScanContext

    data = out / "data"
    if not (data / "identity" / "signer-chain.pem").exists():
        init_development(data / "identity", organisation="pyosi demo")
    identity = Identity.load(data / "identity")
    key_path = data / "keys" / "default.json"
    if key_path.exists():
        key = WatermarkKey.load(key_path)
    else:
        (data / "keys").mkdir(parents=True, exist_ok=True)
        key = WatermarkKey.generate()
        key.save(key_path)
    store = ManifestStore(f"sqlite:///{data / 'pyosi.db'}")
    folder = out / "credentials"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{photo_name}-source.png"
    _write(source, encode(pixels, "PNG"))
    generated = folder / "generated.jpg"
    mark_image_file(
        source,
        generated,
        key=key,
        generation=Generation(model="pyosi-demo-diffusion", model_version="1.0"),
        identity=identity,
        store=store,
        label="both",
        overwrite=True,
    )
    source.unlink()
    with Image.open(generated) as im:
        rgb = np.asarray(im.convert("RGB"))
    # Re-saved without metadata (what most upload pipelines do), and a screenshot-like copy.
    _write(folder / "stripped.jpg", encode(rgb, "JPEG", 85))
    _write(folder / "screenshot.jpg", encode(get_attack("screenshot")(rgb), "JPEG", 70))
    anchors = (data / "identity" / "dev-root-ca.pem").read_text()
    context = ScanContext(keys=[key], anchors=anchors, store=store)
    rows = []
    for name, step in (
        ("generated.jpg", "marked"),
        ("stripped.jpg", "stripped"),
        ("screenshot.jpg", "screenshot"),
    ):
        r = scan_file(folder / name, context)
        label = r.decision.label
        rows.append(
            CredentialsRow(
                file=f"credentials/{name}",
                step=step,
                verdict=r.verdict.value,
                label_ko=label.ko if label else None,
                label_en=label.en if label else None,
                rests_on=", ".join(label.rests_on) if label else "",
                own_credentials=(r.credentials or {}).get("state"),
                recovered=r.recovered is not None,
            )
        )
    store.close()
    return rows


def _deliver(attack: Attack, marked: ImageArray) -> tuple[bytes, str]:
    """The file a platform would serve: the pipeline's own JPEG/WebP bytes, else a PNG."""
    last = attack.steps[-1] if attack.steps else None
    if last is not None and last.kind in _FORMATS:
        fmt, ext = _FORMATS[last.kind]
        before = Attack(attack.name, attack.steps[:-1])
        return encode(before(marked), fmt, int(last.params["quality"])), ext
    return encode(attack(marked), "PNG"), "png"


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror}") from None


def run_demo(
    out_dir: str | Path = DEFAULT_OUT,
    *,
    images: Sequence[str] | None = None,
    attacks: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoReport:
    """Run the demo into ``out_dir`` (created if needed; earlier demo files are replaced).

    ``images`` are sample names (default :data:`DEMO_IMAGES`), ``attacks`` attack names
    (default :data:`DEMO_ATTACKS`; any name :func:`pyosi.bench.attacks.get_attack` accepts).
    """
    started = time.perf_counter()
    out = Path(out_dir)
    photos = sample_images(DEMO_IMAGES if images is None else images, extra="demo")
    pipelines = [get_attack(a) for a in (DEMO_ATTACKS if attacks is None else attacks)]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out}: {e.strerror}") from None
    key = WatermarkKey.generate()
    key.save(out / KEY_FILE, overwrite=True)
    report = DemoReport(out, key.id)
    for photo in photos:
        payload = secrets.token_bytes(PAYLOAD_BYTES)
        marked = embed_image(photo.pixels, payload=payload, key=key)
        quality = psnr(photo.pixels, marked)
        _write(out / "original" / f"{photo.name}.png", encode(photo.pixels, "PNG"))
        _write(out / "marked" / f"{photo.name}.png", encode(marked, "PNG"))
        for attack in pipelines:
            data, ext = _deliver(attack, marked)
            rel = f"attacked/{photo.name}-{attack.name}.{ext}"
            _write(out / rel, data)
            d = detect_image(load_image(out / rel).image, keys=[key])
            report.rows.append(
                DemoRow(
                    image=photo.name,
                    attack=attack.name,
                    pipeline=attack.description,
                    file=rel,
                    detected=d.detected,
                    payload_ok=d.detected and d.payload == payload,
                    false_alarm_probability=d.false_alarm_probability,
                    psnr_db=quality,
                    payload=payload.hex(),
                    found_payload=d.payload.hex() if d.payload is not None else None,
                )
            )
        if progress is not None:
            progress(f"{photo.name}: marked and checked after {len(pipelines)} pipelines")
    if photos:
        report.credentials = _credentials_demo(out, photos[0].name, photos[0].pixels)
        if progress is not None:
            progress("credentials: marked, stripped, screenshotted and scanned")
    report.seconds = time.perf_counter() - started
    _write(out / "report.json", (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    _write(out / "report.md", report.to_markdown().encode())
    return report
