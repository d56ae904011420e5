"""``pyosi mark``: embed an invisible watermark."""

from __future__ import annotations

import string
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout, warn
from pyosi.errors import IdentityError
from pyosi.keyring import default_key
from pyosi.mark import mark_image_file
from pyosi.media import DEFAULT_QUALITY
from pyosi.provenance.credentials import Generation
from pyosi.provenance.identity import Identity
from pyosi.provenance.store import ManifestStore
from pyosi.watermark import PAYLOAD_BYTES, WatermarkKey

app = typer.Typer(no_args_is_help=True, help="Mark AI outputs: label, watermark, credentials.")


class LabelChoice(StrEnum):
    KO = "ko"
    EN = "en"
    BOTH = "both"


class CornerChoice(StrEnum):
    TOP_LEFT = "top-left"
    TOP_RIGHT = "top-right"
    BOTTOM_LEFT = "bottom-left"
    BOTTOM_RIGHT = "bottom-right"


def parse_payload(text: str) -> bytes:
    """``--payload``: 16 hex digits (8 bytes), optionally prefixed with 0x."""
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if len(digits) != 2 * PAYLOAD_BYTES or not set(digits) <= set(string.hexdigits):
        raise typer.BadParameter(
            f"expected {2 * PAYLOAD_BYTES} hex digits ({PAYLOAD_BYTES} bytes), "
            f"e.g. 0123456789abcdef; got {text!r}"
        )
    return bytes.fromhex(digits)


@app.command("image")
def image(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="Image to mark.")],
    output_path: Annotated[
        Path,
        typer.Argument(
            metavar="OUT", help="Marked image to write; format from its extension, else IN's."
        ),
    ],
    *,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key",
            "-k",
            metavar="FILE",
            help="Watermark key file. Default: the data directory's own key (made on first use).",
        ),
    ] = None,
    payload: Annotated[
        bytes | None,
        typer.Option(
            "--payload",
            "-p",
            metavar="HEX",
            parser=parse_payload,
            help="Content id to embed, 16 hex digits. Default: a fresh random id.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Generator model named in the credentials (softwareAgent).")
    ] = "unspecified",
    model_version: Annotated[str | None, typer.Option(help="Generator model version.")] = None,
    edited: Annotated[
        bool,
        typer.Option(
            "--edited",
            help="AI-edited rather than generated (compositeWithTrainedAlgorithmicMedia).",
        ),
    ] = False,
    prompt: Annotated[
        str | None, typer.Option(help="Prompt; only its SHA-256 is recorded unless asked.")
    ] = None,
    include_prompt: Annotated[
        bool, typer.Option("--include-prompt", help="Record the prompt itself, not just its hash.")
    ] = False,
    label: Annotated[
        LabelChoice | None,
        typer.Option(help="Draw a visible label (AI 생성 / AI-generated) in a corner."),
    ] = None,
    label_corner: Annotated[
        CornerChoice, typer.Option(help="Corner for the label.")
    ] = CornerChoice.TOP_RIGHT,
    identity_dir: Annotated[
        Path | None,
        typer.Option(
            "--identity",
            metavar="DIR",
            help="Signing identity directory. Default: the data directory's (pyosi identity init).",
        ),
    ] = None,
    no_sign: Annotated[
        bool, typer.Option("--no-sign", help="Skip the C2PA signature (watermark and XMP only).")
    ] = False,
    no_store: Annotated[
        bool,
        typer.Option("--no-store", help="Do not record the manifest for durable credentials."),
    ] = False,
    quality: Annotated[
        int, typer.Option(min=1, max=100, help="JPEG and lossy WebP quality.")
    ] = DEFAULT_QUALITY,
    strength: Annotated[
        float,
        typer.Option(
            min=0.25,
            max=4.0,
            help="Mark amplitude; 1.0 keeps PSNR at or above 40 dB. Raise it (e.g. 1.3, about "
            "38 dB) for dense texture or hostile pipelines.",
        ),
    ] = 1.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    overwrite_input: Annotated[
        bool, typer.Option("--overwrite-input", help="Allow OUT to be IN itself.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Mark an AI output: visible label, invisible watermark, XMP and signed C2PA credentials.

    The manifest is also stored under the watermark's content id, so `pyosi scan` can recover
    the credentials from copies that lost their metadata.
    """
    created = False
    if key_file is not None:
        key = WatermarkKey.load(key_file)
    else:
        key, created = default_key()
    identity, no_identity = (None, None) if no_sign else _identity(identity_dir)
    store = None if no_store else ManifestStore()
    generation = Generation(
        model=model,
        model_version=model_version,
        kind="edited" if edited else "generated",
        prompt=prompt,
        include_prompt=include_prompt,
    )
    try:
        result = mark_image_file(
            input_path,
            output_path,
            key=key,
            generation=generation,
            identity=identity,
            store=store,
            content_id=payload,
            label=label.value if label is not None else None,
            label_corner=label_corner.value,
            quality=quality,
            strength=strength,
            overwrite=force,
            overwrite_input=overwrite_input,
        )
    finally:
        if store is not None:
            store.close()
    if created:
        warn(f"created this installation's watermark key {key.id} in the data directory")
    if result.frames > 1:
        warn(f"{input_path} has {result.frames} frames; only the first was marked and saved")
    if not result.embeds_metadata:
        warn(
            f"{result.format} cannot carry XMP or Content Credentials: the file has the "
            "watermark only (its credentials are in the manifest store)"
        )
        if result.format == "GIF":
            warn("GIF's 256-colour palette is likely to erase the watermark; prefer .png")
    elif no_identity is not None:
        warn(f"{no_identity}; the file is watermarked but carries no signed credentials")
    if as_json:
        emit_json(
            {"input": str(input_path), **result.to_json(), "payload": result.content_id.hex()}
        )
        return
    parts = [
        f"content id {result.content_id.hex()}",
        f"key {key.id}",
        f"PSNR {result.psnr_db:.1f} dB",
    ]
    parts.append("signed" if result.signed else "unsigned")
    if result.label:
        parts.append(f"label {result.label!r}")
    stdout().print(f"marked {escape(str(output_path))}  [dim]({escape(', '.join(parts))})[/]")


def _identity(directory: Path | None) -> tuple[Identity | None, str | None]:
    """The signing identity, or None and why (only when none was asked for explicitly)."""
    try:
        return Identity.load(directory), None
    except IdentityError as e:
        if directory is not None:
            raise
        return None, str(e)
