"""Traces that image generators write into files: PNG text chunks and EXIF fields.

Key names are matched exactly (case-sensitive) and, where a name is generic (``parameters``,
``prompt``, ``workflow``), the content must look like the tool's own format too. Each format, with
its source in the tool's code, is listed in docs/signals.md and reproduced byte for byte in
tests/signals/test_traces.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pyosi.media.metadata import FileMetadata
from pyosi.signals.base import Basis, MediaType, ScanContext, Signal, SignalType, Subject, Verdict
from pyosi.signals.registry import register

_CONFIDENCE = 0.9
# A1111 / Forge infotext: the settings line always starts with "Steps: N" and names a sampler.
_A1111 = re.compile(r"(?:^|\n)Steps: \d+, (?:Sampler|Schedule type): ")
_A1111_VERSION = re.compile(r"\bVersion: ([^,\n]+)")
_EXIF_SOFTWARE = 0x0131
_EXIF_MAKE = 0x010F
_EXIF_MODEL = 0x0110
_EXIF_DESCRIPTION = 0x010E
_EXIF_USER_COMMENT = 0x9286
_MAX_EXCERPT = 160
# EXIF Software values of AI generators (exact tool names, compared case-insensitively as prefixes).
_AI_SOFTWARE = ("novelai", "fooocus", "draw things", "invokeai", "comfyui", "stable diffusion")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _is_comfy_prompt(text: str) -> bool:
    doc = _json(text)
    return isinstance(doc, dict) and any(
        isinstance(n, dict) and "class_type" in n for n in doc.values()
    )


def _is_comfy_workflow(text: str) -> bool:
    doc = _json(text)
    return isinstance(doc, dict) and isinstance(doc.get("nodes"), list) and "links" in doc


def _fooocus_json(text: str) -> bool:
    doc = _json(text)
    return isinstance(doc, dict) and str(doc.get("version", "")).lower().startswith("fooocus")


def _swarm_json(text: str) -> bool:
    doc = _json(text)
    return isinstance(doc, dict) and "sui_image_params" in doc


# (chunk key, content check, tool, kind); content check None = the key alone is specific.
_PNG_RULES: tuple[tuple[str, Callable[[str], bool] | None, str, str], ...] = (
    ("parameters", lambda t: bool(_A1111.search(t)), "AUTOMATIC1111 / Forge", "a1111-parameters"),
    ("parameters", _fooocus_json, "Fooocus", "fooocus-parameters"),
    ("parameters", _swarm_json, "SwarmUI", "swarmui-parameters"),
    ("fooocus_scheme", None, "Fooocus", "fooocus-scheme"),
    ("prompt", _is_comfy_prompt, "ComfyUI", "comfyui-prompt"),
    ("workflow", _is_comfy_workflow, "ComfyUI", "comfyui-workflow"),
    ("invokeai_metadata", None, "InvokeAI", "invokeai-metadata"),
    ("invokeai_graph", None, "InvokeAI", "invokeai-graph"),
    ("invokeai_workflow", None, "InvokeAI", "invokeai-workflow"),
    ("sd-metadata", lambda t: "invoke" in t.lower(), "InvokeAI 2", "invokeai-sd-metadata"),
    ("Dream", None, "InvokeAI 2", "invokeai-dream"),
    ("Software", lambda t: t.strip() == "NovelAI", "NovelAI", "novelai"),
)


@register
class GeneratorTraces(SignalType):
    name = "traces"
    media_types = frozenset({MediaType.IMAGE})
    description = "Generator traces: A1111/Forge, ComfyUI, NovelAI, InvokeAI, Fooocus metadata"

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        meta = subject.metadata
        return [*self._png(meta), *self._exif(meta)]

    def _png(self, meta: FileMetadata) -> list[Signal]:
        out: list[Signal] = []
        seen: set[str] = set()
        for chunk in meta.text:
            for key, check, tool, kind in _PNG_RULES:
                if chunk.key != key or kind in seen or (check and not check(chunk.value)):
                    continue
                seen.add(kind)
                out.append(
                    _signal(
                        self.name,
                        f"png.{kind}",
                        _a1111_tool(chunk.value) if kind == "a1111-parameters" else tool,
                        f"PNG {chunk.type} chunk {key!r}",
                        chunk.value,
                        {"chunk": chunk.type, "key": key, **_tool_details(kind, chunk.value, meta)},
                    )
                )
        return out

    def _exif(self, meta: FileMetadata) -> list[Signal]:
        exif = meta.exif
        out: list[Signal] = []
        comment = user_comment(exif.get(_EXIF_USER_COMMENT))
        if comment and _A1111.search(comment):
            out.append(
                _signal(
                    self.name,
                    "exif.a1111-parameters",
                    _a1111_tool(comment),
                    "EXIF UserComment",
                    comment,
                    {"tag": "UserComment", **_a1111_details(comment)},
                )
            )
        elif comment and _fooocus_json(comment):
            out.append(
                _signal(self.name, "exif.fooocus", "Fooocus", "EXIF UserComment", comment, {})
            )
        for tag, prefix in ((_EXIF_MODEL, "prompt:"), (_EXIF_MAKE, "workflow:")):
            value = _text(exif.get(tag))
            check = _is_comfy_prompt if prefix == "prompt:" else _is_comfy_workflow
            if value.startswith(prefix) and check(value[len(prefix) :]):
                out.append(
                    _signal(
                        self.name,
                        f"exif.comfyui-{prefix[:-1]}",
                        "ComfyUI",
                        f"EXIF {'Model' if tag == _EXIF_MODEL else 'Make'} ({prefix}…)",
                        value,
                        {"tag": hex(tag)},
                    )
                )
        software = _text(exif.get(_EXIF_SOFTWARE)).strip()
        if software and software.lower().startswith(_AI_SOFTWARE):
            out.append(
                _signal(
                    self.name,
                    "exif.software",
                    software,
                    "EXIF Software",
                    software,
                    {"tag": "Software", "software": software},
                )
            )
        return out


def _signal(
    detector: str, kind: str, tool: str, where: str, value: str, details: Mapping[str, Any]
) -> Signal:
    return Signal(
        detector=detector,
        kind=kind,
        verdict=Verdict.GENERATED,
        confidence=_CONFIDENCE,
        basis=Basis.METADATA,
        evidence=f"{where} written by {tool}",
        details={"tool": tool, "excerpt": _excerpt(value), **details},
    )


def _a1111_tool(value: str) -> str:
    """A1111-format infotext is also written by Fooocus's "a1111" scheme: name the real tool."""
    version = _a1111_details(value)["version"] or ""
    return "Fooocus" if version.lower().startswith("fooocus") else "AUTOMATIC1111 / Forge"


def _tool_details(kind: str, value: str, meta: FileMetadata) -> dict[str, Any]:
    if kind == "a1111-parameters":
        return _a1111_details(value)
    if kind == "novelai":
        return {"source": meta.text_value("Source"), "title": meta.text_value("Title")}
    return {}


def _a1111_details(value: str) -> dict[str, Any]:
    m = _A1111_VERSION.search(value)
    model = re.search(r"\bModel: ([^,\n]+)", value)
    return {
        "version": m.group(1).strip() if m else None,
        "model": model.group(1).strip() if model else None,
    }


def _excerpt(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= _MAX_EXCERPT else flat[: _MAX_EXCERPT - 1] + "…"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return value if isinstance(value, str) else ""


def user_comment(value: Any) -> str | None:
    """Decode EXIF UserComment: an 8-byte charset prefix (UNICODE = UTF-16, ASCII, JIS) or none."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes) or not value:
        return None
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\x00":
        # piexif writes UTF-16-BE (A1111); some writers use little-endian: pick what decodes
        # to more ASCII, as the settings line is ASCII either way.
        candidates = [body.decode(enc, "replace") for enc in ("utf-16-be", "utf-16-le")]
        return max(candidates, key=lambda t: sum(c.isascii() for c in t)).rstrip("\x00")
    if prefix in {b"ASCII\x00\x00\x00", b"\x00" * 8}:
        return body.decode("utf-8", "replace").rstrip("\x00")
    return value.decode("utf-8", "replace").rstrip("\x00")
