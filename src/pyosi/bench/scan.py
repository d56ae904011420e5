"""``pyosi bench scan``: a folder of ≈1-MP JPEGs of every kind, scanned over all cores.

The corpus is built from the bundled sample photos (random crops, flips and tints resized to about
1 MP, so no two files are alike) in a private data directory, and mixes what a platform sees:

    marked       pyosi mark: watermark + XMP + signed C2PA (generated)
    stripped     a marked file re-saved without metadata (credentials only via the watermark)
    c2pa-ai      C2PA-signed AI output, no watermark
    c2pa-camera  C2PA-signed with digitalSourceType digitalCapture
    a1111        Stable Diffusion WebUI's EXIF UserComment "parameters", as it writes JPEGs
    xmp          XMP DigitalSourceType trainedAlgorithmicMedia only
    plain        nothing at all

Building the corpus is not timed; the scan is, end to end (files read, every detector, verdicts),
with each detector's share from the per-file timings. Every file's verdict is checked against what
was put into it, so speed never comes at the cost of silently missed signals.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pyosi.bench.samples import sample_images
from pyosi.errors import OutputError
from pyosi.provenance.identity import Identity
from pyosi.provenance.store import ManifestStore
from pyosi.watermark import WatermarkKey

#: (kind, share of the corpus, expected verdict)
MIX: tuple[tuple[str, float, str], ...] = (
    ("marked", 0.15, "ai-generated"),
    ("stripped", 0.10, "ai-generated"),
    ("c2pa-ai", 0.10, "ai-generated"),
    ("c2pa-camera", 0.05, "captured"),
    ("a1111", 0.10, "ai-generated"),
    ("xmp", 0.05, "ai-generated"),
    ("plain", 0.45, "no-signal"),
)
#: The verdict the scan must give each kind of file.
EXPECTED_VERDICTS = {kind: verdict for kind, _, verdict in MIX}
TARGET_SIDE = (1152, 864)  # ≈ 1.0 MP
A1111_INFOTEXT = (
    "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, "
    "Schedule type: Karras, CFG scale: 7, Seed: {seed}, Size: 1152x864, Model hash: 6ce0161689, "
    "Model: v1-5-pruned-emaonly, Version: v1.10.1"
)


@dataclass
class ScanBenchReport:
    files: int
    workers: int
    seconds: float
    per_kind: dict[str, dict[str, int]]
    detector_ms: dict[str, float]
    wrong: list[dict[str, str]] = field(default_factory=list)
    errors: int = 0

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "files_per_second": round(self.files_per_second, 1),
            "per_kind": self.per_kind,
            "detector_cpu_ms_total": {k: round(v, 1) for k, v in self.detector_ms.items()},
            "detector_cpu_ms_per_file": {
                k: round(v / max(1, self.files), 2) for k, v in self.detector_ms.items()
            },
            "wrong_verdicts": self.wrong,
            "errors": self.errors,
        }


def build_corpus(folder: Path, n_files: int, *, seed: int = 0) -> dict[str, str]:
    """Write the corpus into ``folder``; returns {file name: kind}. Reused when complete."""
    manifest_path = folder / "corpus.json"
    if manifest_path.exists():
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
        if len(manifest) == n_files and all((folder / "files" / f).exists() for f in manifest):
            return manifest
    from pyosi.provenance.identity import init_development

    data = folder / "data"
    files = folder / "files"
    try:
        files.mkdir(parents=True, exist_ok=True)
        (data / "keys").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {folder}: {e.strerror}") from None
    if not (data / "identity" / "signer-chain.pem").exists():
        init_development(data / "identity", organisation="pyosi bench")
    identity = Identity.load(data / "identity")
    key_path = data / "keys" / "bench.json"
    key = WatermarkKey.load(key_path) if key_path.exists() else WatermarkKey.generate()
    if not key_path.exists():
        key.save(key_path)
    (data / "pyosi.db").unlink(missing_ok=True)
    store = ManifestStore(f"sqlite:///{data / 'pyosi.db'}")
    rng = np.random.default_rng(seed)
    photos = sample_images(extra="bench")
    counts = [round(share * n_files) for _, share, _ in MIX]
    counts[-1] += n_files - sum(counts)
    kinds = [kind for (kind, _, _), c in zip(MIX, counts, strict=True) for _ in range(c)]
    rng.shuffle(kinds)
    manifest = {}
    for i, kind in enumerate(kinds):
        name = f"{i:05d}-{kind}.jpg"
        pixels = sample_variant(photos[i % len(photos)].pixels, rng)
        data_bytes = make_sample(
            kind, Image.fromarray(pixels), name, key=key, identity=identity, store=store, rng=rng
        )
        (files / name).write_bytes(data_bytes)
        manifest[name] = kind
    store.close()
    manifest_path.write_text(json.dumps(manifest, indent=0))
    return manifest


def make_sample(
    kind: str,
    im: Image.Image,
    name: str,
    *,
    key: WatermarkKey,
    identity: Identity,
    store: ManifestStore | None,
    rng: np.random.Generator,
) -> bytes:
    """One JPEG of a corpus ``kind`` (see the module docstring), as the real tools write it.

    Marked files' manifests go into ``store`` (so stripped copies recover their credentials).
    The service's demo data uses the same samples.
    """
    from pyosi.mark import mark_image
    from pyosi.media import encode_image
    from pyosi.provenance.credentials import Generation, ai_manifest, sign
    from pyosi.provenance.xmp import build_packet

    if kind in {"marked", "stripped"}:
        marked = mark_image(
            encode_image(im, "PNG"),
            title=name,
            format="JPEG",
            key=key,
            generation=Generation(model="bench-diffusion"),
            identity=identity,
            store=store,
        )
        if store is not None:
            store.put(marked.record)
        if kind == "marked":
            return marked.data
        with Image.open(io.BytesIO(marked.data)) as m:  # re-saved: metadata gone
            return encode_image(m.convert("RGB"), "JPEG", quality=85)
    if kind in {"c2pa-ai", "c2pa-camera"}:
        gen = Generation(model="bench-diffusion")
        manifest_def = ai_manifest(gen, title=name, mime="image/jpeg", content_id=None)
        if kind == "c2pa-camera":
            action = manifest_def["assertions"][0]["data"]["actions"][0]
            action["digitalSourceType"] = (
                "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
            )
            action["softwareAgent"] = {"name": "BenchCam firmware", "version": "1.0"}
            manifest_def["assertions"] = manifest_def["assertions"][:1]
        return sign(encode_image(im, "JPEG", quality=90), manifest_def, identity)
    if kind == "a1111":
        # As the WebUI writes JPEGs: piexif's big-endian EXIF with UserComment (UNICODE).
        info = A1111_INFOTEXT.format(seed=int(rng.integers(1 << 31)))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90, exif=_a1111_exif(info))
        return buf.getvalue()
    if kind == "xmp":
        xmp = build_packet(
            digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/"
            "trainedAlgorithmicMedia",
            creator_tool="bench",
        )
        return encode_image(im, "JPEG", quality=90, xmp=xmp)
    if kind == "plain":
        return encode_image(im, "JPEG", quality=90)
    raise ValueError(f"unknown sample kind {kind!r}")


def sample_variant(pixels: np.ndarray[Any, Any], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A distinct ≈1-MP image from a sample photo: random crop, flip, tint, resize."""
    h, w = pixels.shape[:2]
    ch, cw = int(h * rng.uniform(0.7, 1.0)), int(w * rng.uniform(0.7, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = pixels[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    tint = rng.uniform(0.9, 1.1, size=3)
    crop = np.clip(crop.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    size = TARGET_SIDE if cw >= ch else TARGET_SIDE[::-1]
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC))


def _a1111_exif(info: str) -> bytes:
    """EXIF bytes laid out as piexif.dump writes them: IFD0 → Exif IFD → UserComment."""
    comment = b"UNICODE\x00" + info.encode("utf-16-be")
    ifd0_offset = 8
    exif_ifd_offset = ifd0_offset + 2 + 12 + 4
    value_offset = exif_ifd_offset + 2 + 12 + 4
    tiff = b"MM\x00*" + struct.pack(">I", ifd0_offset)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, exif_ifd_offset)
    tiff += struct.pack(">I", 0)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), value_offset)
    tiff += struct.pack(">I", 0) + comment
    return b"Exif\x00\x00" + tiff


def run_scan_bench(
    folder: Path, n_files: int = 1000, *, workers: int | None = None, seed: int = 0
) -> ScanBenchReport:
    """Build (or reuse) the corpus in ``folder`` and time a full scan of it."""
    from pyosi.provenance.credentials import trust_anchors
    from pyosi.scan import ScanOptions, scan_paths

    manifest = build_corpus(folder, n_files, seed=seed)
    data = folder / "data"
    options = ScanOptions(
        key_paths=(str(data / "keys" / "bench.json"),),
        anchors=(data / "identity" / "dev-root-ca.pem").read_text() + trust_anchors(),
        store_url=f"sqlite:///{data / 'pyosi.db'}",
    )
    n_workers = workers or os.cpu_count() or 1
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    detector_ms: Counter[str] = Counter()
    wrong: list[dict[str, str]] = []
    errors = 0
    started = time.perf_counter()
    for r in scan_paths([folder / "files"], options, workers=n_workers):
        kind = manifest.get(Path(r.path).name, "unknown")
        per_kind[kind][r.verdict.value] += 1
        detector_ms.update(r.timings_ms)
        errors += bool(r.error or r.errors)
        if r.verdict.value != EXPECTED_VERDICTS.get(kind):
            wrong.append({"file": Path(r.path).name, "kind": kind, "verdict": r.verdict.value})
    seconds = time.perf_counter() - started
    return ScanBenchReport(
        files=sum(sum(c.values()) for c in per_kind.values()),
        workers=n_workers,
        seconds=seconds,
        per_kind={k: dict(v) for k, v in sorted(per_kind.items())},
        detector_ms=dict(detector_ms.most_common()),
        wrong=wrong,
        errors=errors,
    )
