"""IPTC/XMP metadata: ``Iptc4xmpExt:DigitalSourceType`` and other AI declarations in XMP.

Unsigned, so anyone can strip or write it; platforms still read it (Meta labels from it), and it is
rarely forged to *claim* AI. Also read: Google's ``photoshop:Credit`` ("Made with Google AI") and
China's TC260 ``AIGC`` label (GB 45438-2025 implicit label, ``Label`` "1" = AI-generated).
"""

from __future__ import annotations

import json
import re

from pyosi.provenance import sourcetype
from pyosi.provenance.xmp import parse_packet
from pyosi.signals.base import Basis, MediaType, ScanContext, Signal, SignalType, Subject, Verdict
from pyosi.signals.registry import register

_TC260 = re.compile(rb"AIGC\s*=\s*[\"']|<\w*:?AIGC>", re.IGNORECASE)
_CONFIDENCE = 0.85


@register
class XmpSignal(SignalType):
    name = "xmp"
    media_types = frozenset({MediaType.IMAGE})
    description = "IPTC digital source type and AI credits in XMP metadata"

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        packet = subject.metadata.xmp
        if not packet:
            return []
        try:
            facts = parse_packet(packet)
        except (ValueError, SyntaxError) as e:
            return [
                Signal(
                    self.name,
                    "xmp.unreadable",
                    Verdict.NONE,
                    0.0,
                    Basis.METADATA,
                    f"XMP packet could not be read: {e}",
                )
            ]
        out: list[Signal] = []
        for dst in facts.digital_source_types:
            meaning = Verdict(sourcetype.meaning(dst))
            term = sourcetype.term(dst) or dst
            out.append(
                Signal(
                    self.name,
                    "xmp.digital-source-type",
                    meaning,
                    _CONFIDENCE if meaning is not Verdict.NONE else 0.0,
                    Basis.METADATA,
                    f"XMP Iptc4xmpExt:DigitalSourceType is {term}",
                    {"digital_source_type": dst, "creator_tool": facts.creator_tool},
                    needs_review=term in sourcetype.NEEDS_REVIEW,
                )
            )
        credit = (facts.credit or "").strip()
        if credit.lower() in {"made with google ai", "edited with google ai"}:
            verdict = Verdict.GENERATED if credit.lower().startswith("made") else Verdict.EDITED
            out.append(
                Signal(
                    self.name,
                    "xmp.credit",
                    verdict,
                    _CONFIDENCE,
                    Basis.METADATA,
                    f"XMP photoshop:Credit says {credit!r}",
                    {"credit": credit},
                )
            )
        out.extend(_tc260(packet, self.name))
        return out


def _tc260(packet: bytes, name: str) -> list[Signal]:
    """China's TC260 implicit label: a JSON object whose Label "1" means AI-generated."""
    if b"tc260" not in packet.lower() or not _TC260.search(packet):
        return []
    m = re.search(rb"\{[^{}]*\"Label\"[^{}]*\}", packet.replace(b"&quot;", b'"'))
    if m is None:
        return []
    try:
        label = json.loads(m.group(0).decode("utf-8", "replace"))
    except ValueError:
        return []
    if str(label.get("Label")) not in {"1", "2", "3"}:
        return []
    # GB 45438: 1 = AI-generated, 2 = possibly, 3 = suspected.
    confident = str(label.get("Label")) == "1"
    return [
        Signal(
            name,
            "xmp.tc260-aigc",
            Verdict.GENERATED,
            _CONFIDENCE if confident else 0.5,
            Basis.METADATA,
            f"TC260 AIGC label {label.get('Label')} from "
            f"{label.get('ContentProducer') or 'unknown'}",
            {k: label.get(k) for k in ("Label", "ContentProducer", "ProduceID")},
            needs_review=not confident,
        )
    ]
