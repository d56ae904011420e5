"""``pyosi mark``: embed an invisible watermark."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout, warn
from pyosi.media import DEFAULT_QUALITY, check_output, load_image, output_format, save_image
from pyosi.media.quality import psnr as image_psnr
from pyosi.watermark import PAYLOAD_BYTES, WatermarkKey, embed_image

app = typer.Typer(no_args_is_help=True, help="Embed invisible watermarks.")


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
        Path, typer.Option("--key", "-k", metavar="FILE", help="Key file from `pyosi key new`.")
    ],
    payload: Annotated[
        bytes,
        typer.Option(
            "--payload",
            "-p",
            metavar="HEX",
            parser=parse_payload,
            help="8 bytes to embed, as 16 hex digits (e.g. 0123456789abcdef).",
        ),
    ],
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
    """Embed an invisible watermark carrying PAYLOAD into an image."""
    key = WatermarkKey.load(key_file)
    loaded = load_image(input_path)
    # Refuse a bad OUT before the slow part, not after it.
    fmt = output_format(output_path, None, loaded)
    check_output(
        output_path, input_path=input_path, overwrite=force, overwrite_input=overwrite_input
    )
    marked = embed_image(loaded.image, payload=payload, key=key, strength=strength)
    psnr = image_psnr(loaded.image, marked)
    save_image(
        marked,
        output_path,
        like=loaded,
        quality=quality,
        overwrite=force,
        overwrite_input=overwrite_input,
    )
    if loaded.n_frames > 1:
        warn(f"{input_path} has {loaded.n_frames} frames; only the first was marked and saved")
    if fmt == "GIF":
        warn("GIF's 256-colour palette is likely to erase the watermark; prefer .png")
    if as_json:
        emit_json(
            {
                "input": str(input_path),
                "output": str(output_path),
                "format": fmt,
                "width": marked.width,
                "height": marked.height,
                "frames": loaded.n_frames,
                "key_id": key.id,
                "payload": payload.hex(),
                "psnr_db": round(psnr, 2),
            }
        )
        return
    stdout().print(
        f"marked {escape(str(output_path))}  "
        f"[dim](payload {payload.hex()}, key {key.id}, PSNR {psnr:.1f} dB)[/]"
    )
