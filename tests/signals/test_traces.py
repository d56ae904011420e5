"""Generator traces: every format is written here exactly as the generator writes it.

Each builder below names the repository and file whose code it reproduces. piexif is not a
dependency, so its output (``piexif.dump`` / ``piexif.insert``) is rebuilt byte for byte with
struct, following hMatoba/Piexif piexif/_dump.py and piexif/_common.py (checked
byte-identical against piexif 1.1.3's own output when this file was written).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import struct
import tracemalloc
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image, features
from PIL.PngImagePlugin import PngInfo

from pyosi.media.metadata import MAX_TEXT_BYTES, PNG_SIGNATURE
from pyosi.signals.base import Basis, ScanContext, Signal, Subject, Verdict
from pyosi.signals.traces import GeneratorTraces

# -- helpers ---------------------------------------------------------------------------------


def _image(size: int = 64) -> Image.Image:
    """A small image with some structure (a gradient), so every encoder has work to do."""
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    rgb = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], ramp[::-1][None, :]), -1)
    return Image.fromarray(np.ascontiguousarray(rgb))


def _save(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _detect(data: bytes) -> list[Signal]:
    subject = Subject(data)
    detector = GeneratorTraces()
    assert detector.applies_to(subject)
    return detector.detect(subject, ScanContext())


def _assert_generated(signals: list[Signal], kinds: set[str], tool: str) -> dict[str, Signal]:
    """Exactly ``kinds`` were found, each a well-formed 'generated' signal naming ``tool``."""
    by_kind = {s.kind: s for s in signals}
    assert len(by_kind) == len(signals), "one signal per kind"
    assert set(by_kind) == kinds
    for s in signals:
        assert s.detector == "traces"
        assert s.verdict is Verdict.GENERATED
        assert s.basis is Basis.METADATA
        assert 0 < s.confidence <= 1
        assert tool in s.details["tool"]
        assert tool in s.evidence
        assert s.details["excerpt"]
        assert len(s.details["excerpt"]) <= 160
        assert "\n" not in s.details["excerpt"]
        json.dumps(s.to_json())  # reports are JSON
    return by_kind


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 over type and data (PNG spec 5.3)."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _png_insert(png: bytes, chunk: bytes, *, after_idat: bool) -> bytes:
    """``png`` with ``chunk`` added right before the first IDAT, or right before IEND.

    Either way it follows the text chunks Pillow writes (they go between IHDR and IDAT).
    """
    assert png.startswith(PNG_SIGNATURE) and png[-8:-4] == b"IEND"
    at = len(png) - 12 if after_idat else _chunk_offset(png, b"IDAT")
    return png[:at] + chunk + png[at:]


def _chunk_offset(png: bytes, ctype: bytes) -> int:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        length, found = struct.unpack(">I4s", png[pos : pos + 8])
        if found == ctype:
            return pos
        pos += 12 + length
    raise AssertionError(f"no {ctype!r} chunk")


# -- AUTOMATIC1111 / Forge -------------------------------------------------------------------

# Infotext as modules/processing.py create_infotext lays it out (AUTOMATIC1111/
# stable-diffusion-webui): prompt, "\nNegative prompt: ...", "\n" + "k: v, " settings line;
# the whole thing .strip()ped, so an empty prompt puts "Steps:" at the very start.
_A1111_SETTINGS = (
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
    "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)
A1111_INFOTEXT = f"a cat in a hat\nNegative prompt: blurry\n{_A1111_SETTINGS}"
A1111_INFOTEXT_KO = f"고양이 in a hat\nNegative prompt: blurry\n{_A1111_SETTINGS}"
A1111_INFOTEXT_NO_PROMPT = _A1111_SETTINGS
# lllyasviel/stable-diffusion-webui-forge: same create_infotext, Forge's version string and
# extra keys (Distilled CFG Scale, Module N) for a Flux checkpoint.
FORGE_INFOTEXT = (
    "a cat in a hat\n"
    "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, "
    "Seed: 1234567890, Size: 896x1152, Model hash: 275ef623d3, Model: flux1-dev-bnb-nf4-v2, "
    "Version: f2.0.1v1.10.1-previous-560-g7eb824a0, Module 1: ae, Module 2: clip_l"
)


def a1111_png(infotext: str) -> bytes:
    # AUTOMATIC1111/stable-diffusion-webui modules/images.py save_image_with_geninfo:
    #   pnginfo_data = PngImagePlugin.PngInfo(); pnginfo_data.add_text("parameters", geninfo)
    #   image.save(filename, format="PNG", quality=opts.jpeg_quality, pnginfo=pnginfo_data)
    # Pillow's add_text writes tEXt when the text encodes as latin-1, iTXt otherwise.
    info = PngInfo()
    info.add_text("parameters", infotext)
    return _save(_image(), "PNG", quality=80, pnginfo=info)


def piexif_dump_user_comment(comment: bytes) -> bytes:
    """``piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}})``, byte for byte.

    hMatoba/Piexif piexif/_dump.py: big-endian TIFF after "Exif\\0\\0"; IFD0 counts one entry
    (ExifTag, 0x8769, whose pointer entry is appended separately) and ends with a zero next-IFD
    pointer; the Exif IFD holds UserComment (0x9286) as UNDEFINED (type 7) and, as piexif does
    for non-0th IFDs, no next-IFD pointer: its value bytes follow the entries directly.
    """
    header = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8)
    zeroth_entries = struct.pack(">H", 1)  # tag count 1; the ExifTag entry itself is skipped
    zeroth_length = len(zeroth_entries) + 12 + 4  # + exif_pointer + first_ifd_pointer
    exif_pointer = struct.pack(">HHII", 0x8769, 4, 1, 8 + zeroth_length)  # LONG, 1 value
    first_ifd_pointer = b"\x00\x00\x00\x00"
    value_offset = 8 + (2 + 12) + zeroth_length  # TIFF header + Exif entries + 0th IFD
    exif_entries = struct.pack(">H", 1) + struct.pack(
        ">HHII", 0x9286, 7, len(comment), value_offset
    )
    return header + zeroth_entries + exif_pointer + first_ifd_pointer + exif_entries + comment


def piexif_user_comment_unicode(text: str) -> bytes:
    # hMatoba/Piexif piexif/helper.py UserComment.dump(data, encoding="unicode")
    return b"UNICODE\x00" + text.encode("utf_16_be", errors="replace")


def piexif_insert_jpeg(exif: bytes, jpeg: bytes) -> bytes:
    """``piexif.insert(exif, jpeg)`` for a Pillow JPEG (hMatoba/Piexif piexif/_insert.py).

    The APP1 segment is b"\\xff\\xe1" + length + exif; piexif/_common.py merge_segments puts it
    in place of the JFIF APP0 segment that follows SOI.
    """
    assert jpeg[:4] == b"\xff\xd8\xff\xe0"
    app0_end = 4 + struct.unpack(">H", jpeg[4:6])[0]
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return jpeg[:2] + app1 + jpeg[app0_end:]


def a1111_exif(fmt: str, infotext: str) -> bytes:
    # AUTOMATIC1111/stable-diffusion-webui modules/images.py save_image_with_geninfo, for
    # .jpg/.jpeg/.webp: image.save(filename, format=..., quality=opts.jpeg_quality,
    # lossless=opts.webp_lossless), then
    #   exif_bytes = piexif.dump({"Exif": {piexif.ExifIFD.UserComment:
    #       piexif.helper.UserComment.dump(geninfo or "", encoding="unicode")}})
    #   piexif.insert(exif_bytes, filename)
    exif = piexif_dump_user_comment(piexif_user_comment_unicode(infotext))
    if fmt == "JPEG":
        return piexif_insert_jpeg(exif, _save(_image(), "JPEG", quality=80))
    if fmt == "AVIF":
        # .avif/.jxl branch (v1.10): image.save(filename, format=image_format,
        #     quality=opts.jpeg_quality, exif=exif_bytes)  -- the same piexif.dump bytes
        return _save(_image(), "AVIF", quality=80, exif=exif)
    # WebP: piexif.insert strips "Exif\0\0" and stores the TIFF bytes as the EXIF chunk of a
    # VP8X file (piexif/_webp.py); Pillow's WebP writer strips the same header and writes the
    # same EXIF chunk payload through libwebp's muxer.
    return _save(_image(), "WEBP", quality=80, lossless=False, exif=exif)


@pytest.mark.parametrize(
    ("infotext", "chunk", "version", "model"),
    [
        (A1111_INFOTEXT, "tEXt", "v1.10.1", "v1-5-pruned-emaonly"),
        (A1111_INFOTEXT_KO, "iTXt", "v1.10.1", "v1-5-pruned-emaonly"),
        (A1111_INFOTEXT_NO_PROMPT, "tEXt", "v1.10.1", "v1-5-pruned-emaonly"),
        (FORGE_INFOTEXT, "tEXt", "f2.0.1v1.10.1-previous-560-g7eb824a0", "flux1-dev-bnb-nf4-v2"),
    ],
    ids=["a1111-ascii", "a1111-korean-itxt", "a1111-no-prompt", "forge"],
)
def test_a1111_png_parameters(infotext, chunk, version, model):
    data = a1111_png(infotext)
    assert data[_chunk_offset(data, chunk.encode()) + 8 :].startswith(b"parameters\x00")
    found = _assert_generated(_detect(data), {"png.a1111-parameters"}, "AUTOMATIC1111 / Forge")
    details = found["png.a1111-parameters"].details
    assert details["chunk"] == chunk
    assert details["key"] == "parameters"
    assert details["version"] == version
    assert details["model"] == model
    assert details["excerpt"].startswith(" ".join(infotext.split())[:40])
    assert "PNG" in found["png.a1111-parameters"].evidence


def test_piexif_dump_layout():
    """The hand-built piexif bytes parse back to exactly one UserComment in the Exif IFD."""
    comment = piexif_user_comment_unicode(A1111_INFOTEXT)
    exif = piexif_dump_user_comment(comment)
    assert exif[:14] == b"Exif\x00\x00MM\x00*\x00\x00\x00\x08"
    # IFD0: count 1, ExifTag LONG 1 -> offset 26, next IFD 0
    assert exif[14:32] == bytes.fromhex("0001 8769 0004 00000001 0000001a 00000000")
    # Exif IFD at 26: count 1, UserComment UNDEFINED len -> offset 40; then the value itself
    assert exif[32:46] == bytes.fromhex("0001 9286 0007") + struct.pack(">II", len(comment), 40)
    assert exif[46:] == comment
    parsed = Image.Exif()
    parsed.load(exif)
    assert dict(parsed) == {0x8769: 26}
    assert dict(parsed.get_ifd(0x8769)) == {0x9286: comment}


@pytest.mark.parametrize(
    "fmt",
    [
        "JPEG",
        "WEBP",
        pytest.param(
            "AVIF", marks=pytest.mark.skipif(not features.check("avif"), reason="no AVIF codec")
        ),
    ],
)
@pytest.mark.parametrize(
    "infotext",
    [A1111_INFOTEXT, A1111_INFOTEXT_KO, FORGE_INFOTEXT],
    ids=["ascii", "korean", "forge"],
)
def test_a1111_exif_user_comment(fmt, infotext):
    data = a1111_exif(fmt, infotext)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == fmt
    found = _assert_generated(_detect(data), {"exif.a1111-parameters"}, "AUTOMATIC1111 / Forge")
    details = found["exif.a1111-parameters"].details
    assert details["tag"] == "UserComment"
    assert details["version"] == _extract(infotext, "Version")
    assert details["model"] == _extract(infotext, "Model")
    # UTF-16-BE decoded correctly (not as little-endian mojibake), prompt included
    assert details["excerpt"].startswith(infotext.split("\n")[0])


def _extract(infotext: str, key: str) -> str:
    return infotext.split(f" {key}: ", 1)[1].split(",", maxsplit=1)[0]


# -- ComfyUI ---------------------------------------------------------------------------------

COMFY_PROMPT: dict[str, Any] = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
}
COMFY_WORKFLOW: dict[str, Any] = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [
        {
            "id": 4,
            "type": "CheckpointLoaderSimple",
            "pos": [26, 474],
            "size": [315, 98],
            "flags": {},
            "order": 0,
            "mode": 0,
            "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0}],
            "properties": {"Node name for S&R": "CheckpointLoaderSimple"},
            "widgets_values": ["v1-5-pruned-emaonly.safetensors"],
        },
        {
            "id": 3,
            "type": "KSampler",
            "pos": [863, 186],
            "size": [315, 262],
            "flags": {},
            "order": 4,
            "mode": 0,
            "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
            "properties": {"Node name for S&R": "KSampler"},
            "widgets_values": [156680208700286, "randomize", 20, 8, "euler", "normal", 1],
        },
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"]],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}


def comfyui_png() -> bytes:
    # comfyanonymous/ComfyUI nodes.py SaveImage.save_images (and comfy_api/latest/_ui.py
    # ImageSaveHelper._create_png_metadata):
    #   metadata = PngInfo(); metadata.add_text("prompt", json.dumps(prompt))
    #   for x in extra_pnginfo: metadata.add_text(x, json.dumps(extra_pnginfo[x]))
    #   img.save(file, pnginfo=metadata, compress_level=self.compress_level)  # 4
    # extra_pnginfo is {"workflow": <the UI graph>}, sent by the frontend.
    metadata = PngInfo()
    metadata.add_text("prompt", json.dumps(COMFY_PROMPT))
    extra_pnginfo = {"workflow": COMFY_WORKFLOW}
    for x, value in extra_pnginfo.items():
        metadata.add_text(x, json.dumps(value))
    return _save(_image(), "PNG", pnginfo=metadata, compress_level=4)


def comfyui_animated_webp() -> bytes:
    # comfyanonymous/ComfyUI comfy_extras/nodes_images.py SaveAnimatedWEBP.save_images:
    #   metadata = pil_images[0].getexif()
    #   metadata[0x0110] = "prompt:{}".format(json.dumps(prompt))
    #   inital_exif = 0x010f
    #   for x in extra_pnginfo:
    #       metadata[inital_exif] = "{}:{}".format(x, json.dumps(extra_pnginfo[x]))
    #       inital_exif -= 1
    #   pil_images[i].save(file, save_all=True, duration=int(1000.0/fps),
    #       append_images=pil_images[i + 1:i + num_frames], exif=metadata, lossless=lossless,
    #       quality=quality, method=method)  # defaults: fps 6, lossless False, 80, method 4
    pil_images = [_image(), _image().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    metadata = pil_images[0].getexif()
    metadata[0x0110] = f"prompt:{json.dumps(COMFY_PROMPT)}"
    extra_pnginfo = {"workflow": COMFY_WORKFLOW}
    inital_exif = 0x010F
    for x, value in extra_pnginfo.items():
        metadata[inital_exif] = f"{x}:{json.dumps(value)}"
        inital_exif -= 1
    buf = io.BytesIO()
    pil_images[0].save(
        buf,
        format="WEBP",
        save_all=True,
        duration=int(1000.0 / 6),
        append_images=pil_images[1:],
        exif=metadata,
        lossless=False,
        quality=80,
        method=4,
    )
    return buf.getvalue()


def comfyui_animated_png() -> bytes:
    # comfyanonymous/ComfyUI comfy_extras/nodes_images.py SaveAnimatedPNG.save_images: private
    # "comf" chunks after the image data instead of tEXt:
    #   metadata.add(b"comf", "prompt".encode("latin-1", "strict") + b"\0"
    #       + json.dumps(prompt).encode("latin-1", "strict"), after_idat=True)
    #   (the same for each extra_pnginfo key), then
    #   pil_images[0].save(file, pnginfo=metadata, compress_level=compress_level,
    #       save_all=True, duration=int(1000.0/fps), append_images=pil_images[1:])
    metadata = PngInfo()
    metadata.add(
        b"comf",
        "prompt".encode("latin-1", "strict")
        + b"\0"
        + json.dumps(COMFY_PROMPT).encode("latin-1", "strict"),
        after_idat=True,
    )
    extra_pnginfo = {"workflow": COMFY_WORKFLOW}
    for x, value in extra_pnginfo.items():
        metadata.add(
            b"comf",
            x.encode("latin-1", "strict") + b"\0" + json.dumps(value).encode("latin-1", "strict"),
            after_idat=True,
        )
    pil_images = [_image(), _image().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    pil_images[0].save(
        buf,
        format="PNG",
        pnginfo=metadata,
        compress_level=4,
        save_all=True,
        duration=int(1000.0 / 6),
        append_images=pil_images[1:],
    )
    return buf.getvalue()


def test_comfyui_png():
    found = _assert_generated(
        _detect(comfyui_png()), {"png.comfyui-prompt", "png.comfyui-workflow"}, "ComfyUI"
    )
    assert found["png.comfyui-prompt"].details["key"] == "prompt"
    assert found["png.comfyui-workflow"].details["key"] == "workflow"
    assert all(s.details["chunk"] == "tEXt" for s in found.values())
    assert found["png.comfyui-prompt"].details["excerpt"].startswith('{"3": {"inputs": {"seed"')
    assert found["png.comfyui-workflow"].details["excerpt"].startswith('{"last_node_id": 9')


def test_comfyui_animated_png():
    data = comfyui_animated_png()
    assert _chunk_offset(data, b"comf") > _chunk_offset(data, b"IDAT")
    found = _assert_generated(
        _detect(data), {"png.comfyui-prompt", "png.comfyui-workflow"}, "ComfyUI"
    )
    assert all(s.details["chunk"] == "comf" for s in found.values())
    assert "PNG comf chunk 'prompt'" in found["png.comfyui-prompt"].evidence


def test_comfyui_animated_webp():
    data = comfyui_animated_webp()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP"
        assert getattr(im, "n_frames", 1) == 2
    found = _assert_generated(
        _detect(data), {"exif.comfyui-prompt", "exif.comfyui-workflow"}, "ComfyUI"
    )
    assert found["exif.comfyui-prompt"].details["tag"] == hex(0x0110)
    assert found["exif.comfyui-workflow"].details["tag"] == hex(0x010F)
    assert found["exif.comfyui-prompt"].details["excerpt"].startswith('prompt:{"3"')
    assert found["exif.comfyui-workflow"].details["excerpt"].startswith("workflow:{")


# -- NovelAI ---------------------------------------------------------------------------------

NOVELAI_COMMENT: dict[str, Any] = {
    "prompt": "1girl, cat ears, masterpiece",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "seed": 1,
    "sampler": "k_euler_ancestral",
    "n_samples": 1,
    "uc": "lowres",
    "request_type": "PromptGenerateRequest",
}


def novelai_png() -> bytes:
    # NovelAI/novelai-image-metadata nai_meta_writer.py: a PngInfo of tEXt entries
    # (metadata.add_text(key, value)), the same entries minus Title gzipped into the alpha
    # channel's LSBs ("stealth_pngcomp", inject_data), then
    # image.save(output, "PNG", pnginfo=metadata). Keys and values as in NovelAI's images.
    metadata = PngInfo()
    metadata.add_text("Title", "NovelAI generated image")
    metadata.add_text("Description", NOVELAI_COMMENT["prompt"])
    metadata.add_text("Software", "NovelAI")
    metadata.add_text("Source", "NovelAI Diffusion V4.5 1229B44F")
    metadata.add_text("Generation time", "6.49")
    metadata.add_text("Comment", json.dumps(NOVELAI_COMMENT))
    image = _novelai_inject_data(_image(128), metadata)
    return _save(image, "PNG", pnginfo=metadata)


def _novelai_inject_data(image: Image.Image, data: PngInfo) -> Image.Image:
    # nai_meta_writer.py serialize_metadata + LSBInjector, for a square image.
    entries = dict(
        payload.decode("latin-1").split("\x00")
        for ctype, payload, *_ in data.chunks
        if ctype == b"tEXt"
    )
    entries.pop("Title", None)
    packed = gzip.compress(json.dumps(entries).encode("utf-8"))
    buffer = b"stealth_pngcomp" + (len(packed) * 8).to_bytes(4, byteorder="big") + packed
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8))
    pixels = np.array(image.convert("RGBA"))
    alpha = pixels[..., -1].T.copy()
    h, w = alpha.shape
    flat = alpha.reshape((-1,))
    assert bits.size <= flat.size
    flat[:] = 0xFF
    flat[: bits.size] = np.bitwise_or(0xFE, bits)
    pixels[..., -1] = flat.reshape((h, w)).T
    return Image.fromarray(pixels)


def test_novelai_png():
    data = novelai_png()
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGBA"
        assert np.asarray(im)[0, 0, 3] in (0xFE, 0xFF)  # alpha LSBs carry the stealth data
    found = _assert_generated(_detect(data), {"png.novelai"}, "NovelAI")
    details = found["png.novelai"].details
    assert details["key"] == "Software"
    assert details["chunk"] == "tEXt"
    assert details["source"] == "NovelAI Diffusion V4.5 1229B44F"
    assert details["title"] == "NovelAI generated image"


# -- InvokeAI --------------------------------------------------------------------------------


def invokeai_png(prompt: str, *, graph: bool) -> bytes:
    # invoke-ai/InvokeAI invokeai/app/services/image_files/image_files_disk.py
    # DiskImageFileStorage.save:
    #   pnginfo = PngImagePlugin.PngInfo()
    #   if metadata is not None: pnginfo.add_text("invokeai_metadata", metadata)
    #   if workflow is not None: pnginfo.add_text("invokeai_workflow", workflow)
    #   if graph is not None: pnginfo.add_text("invokeai_graph", graph)   # v4+
    #   image.save(image_path, "PNG", pnginfo=pnginfo, compress_level=pil_compress_level)
    # metadata/workflow/graph are pydantic model_dump_json() strings: compact, non-ASCII kept
    # as is (so a Korean prompt makes Pillow write iTXt).
    def dump(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    metadata = dump(
        {
            "generation_mode": "txt2img",
            "positive_prompt": prompt,
            "negative_prompt": "",
            "width": 512,
            "height": 512,
            "seed": 42,
            "rand_device": "cpu",
            "cfg_scale": 7.5,
            "steps": 30,
            "scheduler": "dpmpp_3m_k",
            "model": {"name": "stable-diffusion-v1-5", "base": "sd-1", "type": "main"},
            "app_version": "5.6.0",
        }
    )
    workflow = dump(
        {
            "name": "",
            "version": "3.0.0",
            "nodes": [],
            "edges": [],
            "meta": {"version": "3.0.0", "category": "user"},
        }
    )
    pnginfo = PngInfo()
    pnginfo.add_text("invokeai_metadata", metadata)
    pnginfo.add_text("invokeai_workflow", workflow)
    if graph:
        pnginfo.add_text("invokeai_graph", dump({"id": "g", "nodes": {}, "edges": []}))
    return _save(_image(), "PNG", pnginfo=pnginfo, compress_level=1)


@pytest.mark.parametrize("graph", [False, True], ids=["v3", "v5"])
@pytest.mark.parametrize(
    ("prompt", "chunk"),
    [("a cat in a hat", "tEXt"), ("모자 쓴 고양이", "iTXt")],
    ids=["ascii", "ko"],
)
def test_invokeai_png(graph, prompt, chunk):
    kinds = {"png.invokeai-metadata", "png.invokeai-workflow"}
    if graph:
        kinds.add("png.invokeai-graph")
    found = _assert_generated(_detect(invokeai_png(prompt, graph=graph)), kinds, "InvokeAI")
    assert found["png.invokeai-metadata"].details["chunk"] == chunk
    assert prompt in found["png.invokeai-metadata"].details["excerpt"]


def invokeai2_png() -> bytes:
    # invoke-ai/InvokeAI (2.x) ldm/invoke/pngwriter.py PngWriter.save_image_and_prompt_to_png:
    #   info = PngImagePlugin.PngInfo(); info.add_text('Dream', dream_prompt)
    #   if metadata: info.add_text('sd-metadata', json.dumps(metadata))
    #   image.save(path, 'PNG', pnginfo=info, compress_level=compress_level)  # 6
    # metadata from ldm/invoke/args.py metadata_dumps (app_id = ldm.invoke.__app_id__).
    dream_prompt = '"a cat [blurry]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'
    metadata = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.3.5",
        "image": {
            "prompt": [{"prompt": "a cat [blurry]", "weight": 1.0}],
            "steps": 50,
            "cfg_scale": 7.5,
            "seed": 42,
            "width": 512,
            "height": 512,
            "type": "txt2img",
            "sampler": "k_lms",
        },
    }
    info = PngInfo()
    info.add_text("Dream", dream_prompt)
    info.add_text("sd-metadata", json.dumps(metadata))
    return _save(_image(), "PNG", pnginfo=info, compress_level=6)


def test_invokeai2_png():
    found = _assert_generated(
        _detect(invokeai2_png()), {"png.invokeai-dream", "png.invokeai-sd-metadata"}, "InvokeAI 2"
    )
    assert found["png.invokeai-dream"].details["excerpt"].startswith('"a cat [blurry]" -s 50')
    sd_metadata = found["png.invokeai-sd-metadata"].details["excerpt"]
    assert sd_metadata.startswith('{"model": "stable diffusion"')


# -- Fooocus ---------------------------------------------------------------------------------

FOOOCUS_VERSION = "Fooocus v2.5.5"  # 'Fooocus v' + fooocus_version.version


def fooocus_parameters() -> str:
    # lllyasviel/Fooocus modules/meta_parser.py FooocusMetadataParser.to_string: the
    # (label, key, value) list from modules/async_worker.py as a dict, plus full_prompt,
    # steps, base_model etc., then json.dumps(dict(sorted(res.items()))).
    res: dict[str, Any] = {
        "prompt": "a cat in a hat",
        "negative_prompt": "",
        "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
        "performance": "Speed",
        "steps": 30,
        "resolution": "(1152, 896)",
        "guidance_scale": 4.0,
        "sharpness": 2.0,
        "adm_guidance": "(1.5, 0.8, 0.3)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "seed": "1234567890",
        "metadata_scheme": "fooocus",
        "version": FOOOCUS_VERSION,
        "full_prompt": ["a cat in a hat, highly detailed"],
        "full_negative_prompt": ["(worst quality, low quality)"],
        "base_model": "juggernautXL_v8Rundiffusion",
        "base_model_hash": "aeb7e9e689",
        "vae": "Default (model)",
        "loras": [],
    }
    return json.dumps(dict(sorted(res.items())))


def fooocus_get_exif(metadata: str, metadata_scheme: str) -> Image.Exif:
    # lllyasviel/Fooocus modules/meta_parser.py get_exif: everything in IFD0 of a fresh Exif.
    exif = Image.Exif()
    exif[0x9286] = metadata  # UserComment, the raw string (no charset prefix)
    exif[0x0131] = FOOOCUS_VERSION  # Software
    exif[0x927C] = metadata_scheme  # MakerNote
    return exif


def fooocus_file(fmt: str) -> bytes:
    # lllyasviel/Fooocus modules/private_logger.py log():
    #   PNG:  pnginfo.add_text('parameters', parsed_parameters)
    #         pnginfo.add_text('fooocus_scheme', metadata_parser.get_scheme().value)
    #         image.save(local_temp_filename, pnginfo=pnginfo)
    #   JPEG: image.save(..., quality=95, optimize=True, progressive=True, exif=get_exif(...))
    #   WEBP: image.save(..., quality=95, lossless=False, exif=get_exif(...))
    parameters = fooocus_parameters()
    if fmt == "PNG":
        pnginfo = PngInfo()
        pnginfo.add_text("parameters", parameters)
        pnginfo.add_text("fooocus_scheme", "fooocus")
        return _save(_image(), "PNG", pnginfo=pnginfo)
    exif = fooocus_get_exif(parameters, "fooocus")
    if fmt == "JPEG":
        return _save(_image(), "JPEG", quality=95, optimize=True, progressive=True, exif=exif)
    return _save(_image(), "WEBP", quality=95, lossless=False, exif=exif)


def test_fooocus_png():
    found = _assert_generated(
        _detect(fooocus_file("PNG")), {"png.fooocus-parameters", "png.fooocus-scheme"}, "Fooocus"
    )
    assert found["png.fooocus-parameters"].details["key"] == "parameters"
    assert found["png.fooocus-scheme"].details["excerpt"] == "fooocus"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_fooocus_exif(fmt):
    data = fooocus_file(fmt)
    found = _assert_generated(_detect(data), {"exif.fooocus", "exif.software"}, "Fooocus")
    assert found["exif.software"].details["software"] == FOOOCUS_VERSION
    assert found["exif.fooocus"].details["excerpt"].startswith('{"adm_guidance": "(1.5')
    assert found["exif.fooocus"].evidence == "EXIF UserComment written by Fooocus"


def fooocus_a1111_scheme_infotext() -> str:
    # lllyasviel/Fooocus modules/meta_parser.py A1111MetadataParser.to_string (metadata scheme
    # "a1111"): A1111-style infotext, values quote()d like A1111's, Version last.
    return (
        "a cat in a hat, highly detailed\nNegative prompt: (worst quality, low quality)\n"
        "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 1234567890, Size: 1152x896, "
        'CFG scale: 4.0, Sharpness: 2.0, ADM Guidance: "(1.5, 0.8, 0.3)", '
        "Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Performance: Speed, "
        "Scheduler: karras, VAE: Default (model), Raw prompt: a cat in a hat, "
        f"Version: {FOOOCUS_VERSION}"
    )


def test_fooocus_a1111_scheme():
    """Fooocus writing A1111-style parameters is still caught, and its version is reported."""
    pnginfo = PngInfo()
    pnginfo.add_text("parameters", fooocus_a1111_scheme_infotext())
    pnginfo.add_text("fooocus_scheme", "a1111")
    signals = _detect(_save(_image(), "PNG", pnginfo=pnginfo))
    by_kind = {s.kind: s for s in signals}
    assert set(by_kind) == {"png.a1111-parameters", "png.fooocus-scheme"}
    assert all(s.verdict is Verdict.GENERATED for s in signals)
    assert by_kind["png.a1111-parameters"].details["version"] == FOOOCUS_VERSION
    assert by_kind["png.a1111-parameters"].details["model"] == "juggernautXL_v8Rundiffusion"
    assert by_kind["png.fooocus-scheme"].details["tool"] == "Fooocus"


# -- no false positives ----------------------------------------------------------------------


def _png_with_text(**entries: str) -> bytes:
    info = PngInfo()
    for key, value in entries.items():
        info.add_text(key, value)
    return _save(_image(), "PNG", pnginfo=info)


def _exif_file(fmt: str, ifd0: dict[int, Any], exif_ifd: dict[int, Any] | None = None) -> bytes:
    exif = Image.Exif()
    for tag, value in ifd0.items():
        exif[tag] = value
    if exif_ifd:
        sub = exif.get_ifd(0x8769)
        sub.update(exif_ifd)
    return _save(_image(), fmt, exif=exif)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_png_with_text(parameters="brightness=3", prompt="hello"), id="plain-keys"),
        pytest.param(
            _png_with_text(
                parameters="Steps taken: 3, Sampler of cheeses",
                prompt=json.dumps({"text": "hello", "nodes": 3}),
                workflow=json.dumps({"nodes": "none", "steps": [1, 2]}),
            ),
            id="lookalike-json",
        ),
        pytest.param(_png_with_text(Software="GIMP 2.10"), id="gimp-png"),
        pytest.param(_png_with_text(Software="NovelAI fan art tool v2"), id="software-not-novelai"),
        pytest.param(_png_with_text(Title="NovelAI generated image"), id="title-only"),
        pytest.param(
            _exif_file("JPEG", {0x0131: "Adobe Photoshop 25.0 (Windows)"}), id="photoshop"
        ),
        pytest.param(
            _exif_file(
                "JPEG",
                {0x010F: "Canon", 0x0110: "Canon EOS R5", 0x0131: "Firmware Version 1.8.1"},
                {0x9286: b"ASCII\x00\x00\x00nice day", 0x9003: "2024:05:01 10:00:00"},
            ),
            id="camera-jpeg",
        ),
        pytest.param(
            _exif_file("WEBP", {0x0110: "prompt:hello", 0x010F: "workflow:{not json"}),
            id="comfy-lookalike-exif",
        ),
        pytest.param(
            _exif_file("JPEG", {}, {0x9286: b"UNICODE\x00" + "Steps: many".encode("utf-16-be")}),
            id="unicode-comment",
        ),
        pytest.param(_save(_image(), "PNG"), id="bare-png"),
        pytest.param(_save(_image(), "JPEG"), id="bare-jpeg"),
    ],
)
def test_no_false_positives(data):
    subject = Subject(data)
    assert subject.metadata.format in {"PNG", "JPEG", "WEBP"}
    assert GeneratorTraces().detect(subject, ScanContext()) == []


def test_camera_user_comment_is_read_but_ignored():
    """The negative above really carries the comment where the detector looks."""
    data = _exif_file("JPEG", {0x010F: "Canon"}, {0x9286: b"ASCII\x00\x00\x00nice day"})
    meta = Subject(data).metadata
    assert meta.exif[0x9286] == b"ASCII\x00\x00\x00nice day"
    assert meta.exif[0x010F] == "Canon"
    assert _detect(data) == []


# -- hostile and damaged files ---------------------------------------------------------------

BOMB_SIZE = 100 << 20  # inflates to 100 MB


@functools.cache
def _deflated_zeros() -> bytes:
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join([*(c.compress(block) for _ in range(BOMB_SIZE >> 20)), c.flush()])


def _bomb_chunk(ctype: bytes) -> bytes:
    if ctype == b"zTXt":  # keyword \0, compression method 0, deflate stream
        body = b"bomb\x00\x00" + _deflated_zeros()
    else:  # iTXt: keyword \0, compressed 1, method 0, language \0, translated keyword \0, text
        body = b"bomb\x00\x01\x00\x00\x00" + _deflated_zeros()
    return _png_chunk(ctype, body)


@pytest.mark.parametrize("after_idat", [False, True], ids=["before-idat", "after-idat"])
@pytest.mark.parametrize("ctype", [b"zTXt", b"iTXt"], ids=["ztxt", "itxt"])
def test_decompression_bomb_text_chunk(ctype, after_idat):
    png = _png_insert(a1111_png(A1111_INFOTEXT), _bomb_chunk(ctype), after_idat=after_idat)
    assert len(png) < 1 << 20  # small on disk...
    tracemalloc.start()
    try:
        subject = Subject(png)
        signals = GeneratorTraces().detect(subject, ScanContext())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_TEXT_BYTES  # ...and never inflated to 100 MB
    bomb = [c for c in subject.metadata.text if c.key == "bomb"]
    assert all(len(c.value) <= MAX_TEXT_BYTES for c in bomb)  # skipped or truncated
    assert sum(len(c.value) for c in subject.metadata.text) <= MAX_TEXT_BYTES
    # the genuine parameters chunk, written before the bomb, is still found
    assert [s.kind for s in signals] == ["png.a1111-parameters"]


def _truncate_in_text(png: bytes) -> bytes:
    return png[: _chunk_offset(png, b"tEXt") + 8 + 20]


def _truncate_in_idat(png: bytes) -> bytes:
    return png[: _chunk_offset(png, b"IDAT") + 8 + 10]


def _huge_length_first(png: bytes) -> bytes:
    # IHDR claims 0xFFFFFFF0 bytes of data
    return png[:8] + struct.pack(">I", 0xFFFFFFF0) + png[12:]


def _huge_length_after_text(png: bytes) -> bytes:
    return png[: _chunk_offset(png, b"IDAT")] + struct.pack(">I4s", 0x7FFFFFFF, b"tEXt") + b"x"


def _text_without_separator(png: bytes) -> bytes:
    return _png_insert(png, _png_chunk(b"tEXt", b"no-separator"), after_idat=False)


def _itxt_cut_short(png: bytes) -> bytes:
    return _png_insert(png, _png_chunk(b"iTXt", b"parameters\x00"), after_idat=False)


def _ztxt_corrupt_stream(png: bytes) -> bytes:
    return _png_insert(png, _png_chunk(b"zTXt", b"parameters\x00\x00not zlib"), after_idat=True)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_truncate_in_text, []),
        (_truncate_in_idat, ["png.a1111-parameters"]),
        (_huge_length_first, []),
        (_huge_length_after_text, ["png.a1111-parameters"]),
        (_text_without_separator, ["png.a1111-parameters"]),
        (_itxt_cut_short, ["png.a1111-parameters"]),
        (_ztxt_corrupt_stream, ["png.a1111-parameters"]),
    ],
    ids=lambda v: getattr(v, "__name__", "").strip("_") or None,
)
def test_damaged_png(damage, expected):
    data = damage(a1111_png(A1111_INFOTEXT))
    signals = GeneratorTraces().detect(Subject(data), ScanContext())
    assert [s.kind for s in signals] == expected
    assert all(s.details["version"] == "v1.10.1" for s in signals)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        PNG_SIGNATURE,
        b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*",
        b"RIFF\x00\x00\x00\x00WEBP",
    ],
    ids=["empty", "signature-only", "jpeg-stub", "webp-stub"],
)
def test_stub_files(data):
    assert GeneratorTraces().detect(Subject(data), ScanContext()) == []
