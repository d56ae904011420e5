"""XMP packets: write IPTC's DigitalSourceType, read it (and other AI hints) back.

Tools that ignore C2PA (older DAM systems, some platforms) read ``Iptc4xmpExt:DigitalSourceType``
from XMP, so pyosi writes it beside the signed manifest. Reading parses the packet namespace-aware
(a prefix is only a local alias) with entity declarations refused outright, so a hostile packet
cannot expand or fetch anything.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
PHOTOSHOP_NS = "http://ns.adobe.com/photoshop/1.0/"
MAX_XMP_BYTES = 4 << 20


@dataclass(frozen=True)
class XmpFacts:
    """What pyosi reads from an XMP packet."""

    digital_source_types: tuple[str, ...]
    creator_tool: str | None
    credit: str | None  # photoshop:Credit, e.g. "Made with Google AI"


def build_packet(*, digital_source_type: str, creator_tool: str) -> bytes:
    """A minimal XMP packet carrying the digital source type and the creating tool."""
    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        '  <rdf:Description rdf:about=""\n'
        f"    xmlns:Iptc4xmpExt={quoteattr(IPTC_EXT_NS)}\n"
        f"    xmlns:xmp={quoteattr(XMP_NS)}>\n"
        f"   <Iptc4xmpExt:DigitalSourceType>{escape(digital_source_type)}"
        "</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return body.encode("utf-8")


def parse_packet(packet: bytes | str) -> XmpFacts:
    """Read the facts pyosi uses; raises ``ValueError`` on a packet that is not usable XML."""
    raw = packet.encode("utf-8", "replace") if isinstance(packet, str) else packet
    if len(raw) > MAX_XMP_BYTES:
        raise ValueError(f"XMP packet of {len(raw)} bytes exceeds {MAX_XMP_BYTES}")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ValueError("XMP packet declares a DTD or entities; refused")
    start = raw.find(b"<x:xmpmeta")
    if start < 0:
        start = raw.find(b"<rdf:RDF")
    end_tag = raw.rfind(b"</x:xmpmeta>")
    text = raw[start : end_tag + len(b"</x:xmpmeta>")] if start >= 0 and end_tag > 0 else raw
    root = ET.fromstring(text.strip(b"\x00 \r\n\t"))
    return XmpFacts(
        digital_source_types=tuple(_values(root, IPTC_EXT_NS, "DigitalSourceType")),
        creator_tool=next(iter(_values(root, XMP_NS, "CreatorTool")), None),
        credit=next(iter(_values(root, PHOTOSHOP_NS, "Credit")), None),
    )


def _values(root: ET.Element, ns: str, name: str) -> list[str]:
    """A property's values whether written as an element, an rdf:li list or an attribute."""
    qname = f"{{{ns}}}{name}"
    out: list[str] = []
    for el in root.iter():
        if el.tag == qname:
            items = [li.text or "" for li in el.iter(f"{{{RDF_NS}}}li")]
            resource = el.get(f"{{{RDF_NS}}}resource")
            out.extend(v.strip() for v in (items or [resource or el.text or ""]) if v.strip())
        if qname in el.attrib:
            out.append(el.attrib[qname].strip())
    return out
